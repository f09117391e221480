// Compiles and runs probes.c (the real kernel's side of calibration) and parses what it prints.
// I/O edge: uses node: modules.
import { spawnSync } from "node:child_process";
import { compileC, cSource } from "../fidelity/compile.js";
import { groupProbeLines, type ProbeLine, ProbeLineSchema, type ProbeResults } from "./calibrate.js";

/** mprotect sizes of the sweep: 1..262,144 pages, dense around the 33-page flush ceiling. */
export const DEFAULT_SWEEP_PAGES: readonly number[] = [
  1, 2, 4, 8, 16, 24, 32, 33, 34, 48, 64, 128, 256, 512, 1024, 4096, 8192, 16384, 32768, 65536, 131072,
  262144,
];

export interface ProbeOptions {
  pages?: readonly number[];
  /** Fewer repetitions (seconds instead of ~10 s). */
  quick?: boolean;
  /** The clock and the mprotect sweep only (what `bench costs` needs). */
  sweepOnly?: boolean;
  /** Give up after this long (default 10 minutes). */
  timeoutMs?: number;
}

/** Compiles probes.c (`cc -O2 -pthread`) once per process; returns the binary. */
export function compileProbes(): string {
  return compileC(cSource(import.meta.url, "calibrate", "probes.c"), "calibrate", { flags: ["-pthread"] });
}

/** Parses probes.c's output: one JSON object per line. */
export function parseProbeOutput(stdout: string): ProbeLine[] {
  const out: ProbeLine[] = [];
  stdout.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new Error(`probes: output line ${i + 1} is not JSON: ${line.slice(0, 120)}`);
    }
    const r = ProbeLineSchema.safeParse(json);
    if (!r.success)
      throw new Error(
        `probes: output line ${i + 1} is not a probe result (${r.error.issues[0]?.message}): ${line.slice(0, 120)}`,
      );
    out.push(r.data);
  });
  return out;
}

function runProbes(opts: ProbeOptions): ProbeLine[] {
  const bin = compileProbes();
  const pages = [...(opts.pages ?? DEFAULT_SWEEP_PAGES)];
  const args = [
    ...(opts.quick ? ["--quick"] : []),
    ...(opts.sweepOnly ? ["--sweep-only"] : []),
    ...pages.map(String),
  ];
  const r = spawnSync(bin, args, {
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 1 << 22,
  });
  if (r.error !== undefined) throw new Error(`probes: cannot run ${bin}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(
      `probes: ${bin} ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.status}`}${r.stderr ? `: ${r.stderr.trim()}` : ""}`,
    );
  return parseProbeOutput(r.stdout);
}

/** Every probe (for `ptesim calibrate`). */
export function measureKernel(opts: ProbeOptions = {}): ProbeResults {
  return groupProbeLines(runProbes({ ...opts, sweepOnly: false }));
}

/** The clock and the mprotect sweep only (for `bench costs`). */
export function measureKernelSweep(opts: ProbeOptions = {}): {
  clock: ProbeResults["clock"];
  mprotect: ProbeResults["mprotect"];
} {
  const lines = runProbes({ ...opts, sweepOnly: true });
  const clock = lines.find((l) => l.kind === "clock");
  const mprotect = lines.filter((l) => l.kind === "mprotect");
  if (clock === undefined || clock.kind !== "clock" || mprotect.length === 0)
    throw new Error("probes: no clock or mprotect results");
  return { clock, mprotect: mprotect as ProbeResults["mprotect"] };
}
