// Runs maxmap.c (compiled with `cc`): a process that reaches vm.max_map_count and prints its
// calls as strace would record them, for the replay's map-count test. I/O edge.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface MaxmapRun {
  /** VMAs the process had before its first printed call ([vsyscall] is not one). */
  preexisting: number;
  /** The calls, in strace's format. */
  log: string;
}

function source(): string {
  const candidates = [
    fileURLToPath(new URL("./maxmap.c", import.meta.url)),
    fileURLToPath(new URL("../../src/fidelity/maxmap.c", import.meta.url)),
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`maxmap: maxmap.c not found (looked at ${candidates.join(", ")})`);
}

export function runMaxmap(): MaxmapRun {
  const dir = mkdtempSync(join(tmpdir(), "ptesim-maxmap-"));
  try {
    const bin = join(dir, "maxmap");
    const c = spawnSync("cc", ["-O2", "-o", bin, source()], { encoding: "utf8" });
    if (c.error !== undefined || c.status !== 0)
      throw new Error(`maxmap: cannot compile maxmap.c: ${c.error?.message ?? c.stderr}`);
    const r = spawnSync(bin, [], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`maxmap: exited with ${r.status}: ${r.stderr}`);
    const nl = r.stdout.indexOf("\n");
    const m = /^# vmas (\d+)$/.exec(r.stdout.slice(0, nl));
    if (m === null) throw new Error(`maxmap: unexpected first line "${r.stdout.slice(0, nl)}"`);
    return { preexisting: Number(m[1]), log: r.stdout.slice(nl + 1) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
