// Helpers shared by the replay tests (not a test file itself). Pure.
import { nativeBackend } from "../backends/native.js";
import { parseStrace } from "./parse.js";
import { type ReplayOptions, type ReplayResult, replay } from "./replay.js";

/** Replay log text on the native backend. */
export function run(text: string, opts: Partial<ReplayOptions> = {}): ReplayResult {
  return replay(parseStrace(text), { backends: [nativeBackend], ...opts });
}

export interface MapsVma {
  start: number;
  end: number;
  perms: string;
  offset: number;
  name: string;
  line: string;
}

/** /proc/PID/maps lines, read. */
export function mapsOf(text: string): MapsVma[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \S+\s*(.*)$/.exec(l)!;
      return {
        start: Number.parseInt(m[1], 16),
        end: Number.parseInt(m[2], 16),
        perms: m[3],
        offset: Number.parseInt(m[4], 16),
        name: m[5].trim(),
        line: l,
      };
    });
}
