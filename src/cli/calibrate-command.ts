// `ptesim calibrate` (measure the real kernel, fit the native weights, write a cost table) and
// `ptesim bench costs` (the cost model per backend, and the native model beside the real kernel),
// with `--costs FILE` (a cost table file) for both. Typed stages and their printers; main.ts only
// parses the command line.

import { hostname, loadavg, cpus as osCpus, release } from "node:os";
import { type Calibration, calibrate, type Statistic, SWEEP_BASE } from "../calibrate/calibrate.js";
import { compareNative, type NativeComparison } from "../calibrate/compare.js";
import { DEFAULT_SWEEP_PAGES, measureKernel, measureKernelSweep } from "../calibrate/probe-run.js";
import { formatCostTable, loadCostTableText } from "../calibrate/table-file.js";
import { CompileError } from "../fidelity/compile.js";
import { COUNTERS, type CounterName } from "../machine/ledger.js";
import { formatLocated } from "../scenario/load.js";
import { type CostOverrides, costTable, DEFAULT_COSTS } from "../sim/costs.js";
import { readInputFile } from "./commands.js";
import { benchCosts, type CostsTable, formatCostsTable } from "./costs.js";
import { PtesimError } from "./errors.js";
import type { Out } from "./report.js";

export const JSON_SCHEMA_CALIBRATE = "ptesim.calibrate/1";
export const JSON_SCHEMA_BENCH_COSTS = "ptesim.bench-costs/1";

/** A cost table file's weights, or a PtesimError (exit 2) with every problem located. */
export function readCostTable(file: string): {
  costs: CostOverrides;
  sources: Partial<Record<CounterName, string>>;
} {
  const text = readInputFile(file, "costs");
  const r = loadCostTableText(text, file);
  if (!r.ok)
    throw new PtesimError(
      "costs",
      `${file}: invalid cost table (${r.errors.length} error${r.errors.length > 1 ? "s" : ""})`,
      r.errors.map(formatLocated),
    );
  return { costs: r.costs, sources: r.sources };
}

/** "1,33,512" -> [1, 33, 512]; each in 1..262144. */
export function parsePagesList(s: string, option = "pages"): number[] {
  const parts = s.split(",").map((p) => p.trim());
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 262144)
      throw new PtesimError(
        "usage",
        `--${option} takes page counts in 1..262144 separated by commas, got "${s}"`,
      );
    out.push(Number(p));
  }
  if (out.length > 64) throw new PtesimError("usage", `--${option} takes at most 64 sizes`);
  return [...new Set(out)].sort((a, b) => a - b);
}

function probeError(e: unknown): never {
  if (e instanceof PtesimError) throw e;
  if (e instanceof CompileError) throw new PtesimError("probe", e.message);
  throw new PtesimError("probe", `measuring the real kernel failed: ${(e as Error).message}`);
}

function hostInfo(loadBefore: number): Record<string, string | number> {
  const c = osCpus();
  return {
    hostname: hostname(),
    kernel: release(),
    cpu: c[0]?.model ?? "unknown",
    cpus: c.length,
    // How busy the machine was: on a shared machine, the large sizes' figures depend on it.
    loadAverage: `${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (1 min)`,
  };
}

// ---------------------------------------------------------------- calibrate

export interface CalibrateOptions {
  /** Write the cost table here (through `write`, which must not leave a half-written file). */
  out?: string;
  write?: (path: string, text: string) => void;
  pages?: readonly number[];
  quick?: boolean;
  statistic?: Statistic;
  onProgress?: (what: string) => void;
}

export interface CalibrateOutcome {
  calibration: Calibration;
  host: Record<string, string | number>;
  date: string;
  /** The cost table file's text. */
  text: string;
  out: string | null;
}

export function calibrateCommand(opts: CalibrateOptions = {}): CalibrateOutcome {
  if (opts.out !== undefined && !/\.ya?ml$/.test(opts.out))
    throw new PtesimError("usage", `--out names a .yaml file, got "${opts.out}"`);
  const pages = opts.pages ?? DEFAULT_SWEEP_PAGES;
  // Two directions per size; the sweep fits 5 weights whatever its sizes (SWEEP_BASE), and a
  // cache tier only when some size's footprint exceeds it.
  if (2 * pages.length < SWEEP_BASE.length)
    throw new PtesimError(
      "usage",
      `--pages needs at least ${Math.ceil(SWEEP_BASE.length / 2)} sizes to fit ${SWEEP_BASE.length} weights, got ${pages.length}`,
    );
  const loadBefore = loadavg()[0];
  opts.onProgress?.("measuring the real kernel (probes.c)");
  let results: ReturnType<typeof measureKernel>;
  try {
    results = measureKernel({ pages, quick: opts.quick === true });
  } catch (e) {
    probeError(e);
  }
  opts.onProgress?.("simulating the same calls and fitting");
  let calibration: Calibration;
  try {
    calibration = calibrate(results, { statistic: opts.statistic ?? "best" });
  } catch (e) {
    // A measurement the fit cannot use (e.g. a call timed at 0 ns): the kernel's side, not a bug.
    if (e instanceof RangeError)
      throw new PtesimError("probe", `the measurements cannot be fitted: ${e.message}`);
    throw e;
  }
  const host = hostInfo(loadBefore);
  const date = new Date().toISOString();
  const text = formatCostTable(calibration, host, date);
  if (opts.out !== undefined) {
    if (opts.write === undefined) throw new Error("calibrateCommand: out without write");
    opts.write(opts.out, text);
  }
  return { calibration, host, date, text, out: opts.out ?? null };
}

const pct = (r: number) => `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(0)}%`;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

export function printCalibrate(o: CalibrateOutcome, io: Out, json: boolean): void {
  const c = o.calibration;
  if (json) {
    io.out(
      JSON.stringify(
        {
          schema: JSON_SCHEMA_CALIBRATE,
          date: o.date,
          host: o.host,
          clock: c.clock,
          statistic: c.statistic,
          costs: c.costs,
          sources: c.sources,
          calibrated: c.calibrated,
          fit: c.fit,
          sweep: c.sweep,
          probes: c.extra,
          notes: c.notes,
          out: o.out,
        },
        null,
        2,
      ),
    );
    return;
  }
  io.out(
    `calibrate: ${o.host.cpu}, ${o.host.cpus} CPUs, Linux ${o.host.kernel}, load average ${o.host.loadAverage}`,
  );
  io.out(`clock: ${(c.clock.hz / 1e9).toFixed(3)} GHz, ${c.clock.method}`);
  io.out("");
  io.out("weights (cycles per event):");
  for (const k of c.calibrated)
    io.out(`  ${k.padEnd(24)} ${String(c.costs[k]).padStart(7)}  ${c.sources[k]}`);
  io.out(
    `  (every other weight keeps its default, an assumption: ${COUNTERS.filter((k) => !c.calibrated.includes(k)).join(", ")})`,
  );
  io.out("");
  io.out(
    `mprotect, cycles per PTE: the calibrated native model beside the real kernel (${c.statistic} of each size)`,
  );
  io.out(
    `${"pages".padStart(8)}${"model ro".padStart(11)}${"kernel ro".padStart(11)}${"".padStart(7)}${"model rw".padStart(11)}${"kernel rw".padStart(11)}`,
  );
  c.sweep.forEach((r, i) => {
    const ro = c.fit.rows[2 * i];
    const rw = c.fit.rows[2 * i + 1];
    io.out(
      `${String(r.pages).padStart(8)}${fmt(ro.model / r.pages).padStart(11)}${fmt(ro.measured / r.pages).padStart(11)}${pct(ro.ratio).padStart(7)}${fmt(rw.model / r.pages).padStart(11)}${fmt(rw.measured / r.pages).padStart(11)}${pct(rw.ratio).padStart(7)}`,
    );
  });
  io.out(
    `fit: rms relative error ${(c.fit.rmsRelativeError * 100).toFixed(1)}%, worst ${(c.fit.maxRelativeError * 100).toFixed(1)}%`,
  );
  io.out("");
  const e = c.extra;
  io.out(
    `syscall probes (median ns): getppid ${fmt(e.getppidNs)}, mprotect of length 0 ${fmt(e.mprotectLen0Ns)}, mprotect changing nothing ${fmt(e.nochangeNs)}`,
  );
  io.out(
    `faults (ns per page): first write ${fmt(e.fault.writeNs)}, first read ${fmt(e.fault.readNs)}, write after read (write-protect fault) ${fmt(e.fault.wpNs)}`,
  );
  const sd = e.shootdown;
  io.out(
    `shootdown: one-page mprotect ro / rw ${fmt(sd.alone_ro_ns)} / ${fmt(sd.alone_rw_ns)} ns alone, ${fmt(sd.remote_ro_ns)} / ${fmt(sd.remote_rw_ns)} ns while a reader runs on CPU ${sd.remote_cpu}${sd.pinned ? " (pinned)" : " (not pinned)"} (${sd.kept} of ${sd.reps} calls with the reader running throughout)`,
  );
  if (e.munmap.length > 0)
    io.out(
      `munmap of populated pages (median ns): ${e.munmap.map((m) => `${m.pages}: ${fmt(m.medianNs)}`).join(", ")}`,
    );
  if (e.cold.length > 0)
    io.out(
      `cold probe (mprotect after reading ${(e.cold[0].evictBytes / 2 ** 20).toFixed(0)} MiB, less warm, ${c.statistic} of each): ${e.cold.map((r) => `${r.pages} pages +${fmt(r.extraRoNs / r.pages)} / +${fmt(r.extraRwNs / r.pages)} ns per PTE (ro / rw)`).join(", ")}; a metadata line from memory: ${e.coldCyclesPerLine === null ? "undecided" : `${e.coldCyclesPerLine.toFixed(0)} cycles`}`,
    );
  for (const n of c.notes) io.out(`note: ${n}`);
  if (o.out !== null) io.out(`cost table written to ${o.out} (use it with --costs ${o.out})`);
}

// ---------------------------------------------------------------- bench costs

export interface BenchCostsCommandOptions {
  /** A cost table file (--costs). */
  costsFile?: string;
  /** Measure the real kernel for the native comparison (default true). */
  kernel?: boolean;
  /** Sizes (default: the bench's own for the backends, the sweep's for the comparison). */
  pages?: readonly number[];
  onProgress?: (what: string) => void;
}

export interface BenchCostsOutcome {
  table: CostsTable;
  costsFile: string | null;
  /** Where each weight used comes from. */
  sources: Record<CounterName, string>;
  comparison: NativeComparison;
  /** Why the kernel was not measured, if it was not. */
  kernelNote: string | null;
}

export function benchCostsCommand(opts: BenchCostsCommandOptions = {}): BenchCostsOutcome {
  const file = opts.costsFile === undefined ? null : readCostTable(opts.costsFile);
  const overrides = file?.costs ?? {};
  const table = benchCosts({
    costs: overrides,
    ...(opts.pages === undefined ? {} : { pages: opts.pages }),
    ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
  });
  const sources = {} as Record<CounterName, string>;
  for (const c of COUNTERS)
    sources[c] =
      overrides[c] === undefined
        ? `default: ${DEFAULT_COSTS[c].source}`
        : `${opts.costsFile}: ${file?.sources[c] ?? "given"}`;
  let kernel: ReturnType<typeof measureKernelSweep> | null = null;
  let kernelNote: string | null = null;
  if (opts.kernel === false) kernelNote = "not measured (--no-kernel)";
  else {
    opts.onProgress?.("measuring the real kernel");
    try {
      kernel = measureKernelSweep({ pages: opts.pages ?? DEFAULT_SWEEP_PAGES });
    } catch (e) {
      kernelNote = `not measured: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  const comparison = compareNative(
    costTable(overrides),
    kernel,
    opts.pages ?? DEFAULT_SWEEP_PAGES,
    "best",
    opts.onProgress,
  );
  return { table, costsFile: opts.costsFile ?? null, sources, comparison, kernelNote };
}

export function formatComparison(c: NativeComparison, kernelNote: string | null): string[] {
  const out: string[] = [];
  out.push(
    `native model vs real kernel: mprotect cycles per PTE, one CPU, the kernel's ${c.statistic} call of each size`,
  );
  if (c.clock !== null)
    out.push(`  kernel ns -> cycles: ${(c.clock.hz / 1e9).toFixed(3)} GHz, ${c.clock.method}`);
  if (kernelNote !== null) out.push(`  real kernel ${kernelNote}`);
  out.push(
    `${"pages".padStart(8)}${"model ro".padStart(11)}${"kernel ro".padStart(11)}${"ratio".padStart(8)}${"model rw".padStart(11)}${"kernel rw".padStart(11)}${"ratio".padStart(8)}`,
  );
  const sizes = [...new Set(c.rows.map((r) => r.pages))];
  const cell = (v: number | null, w: number, f: (x: number) => string) =>
    (v === null ? "-" : f(v)).padStart(w);
  for (const n of sizes) {
    const ro = c.rows.find((r) => r.pages === n && r.direction === "ro");
    const rw = c.rows.find((r) => r.pages === n && r.direction === "rw");
    if (ro === undefined || rw === undefined) continue;
    out.push(
      `${String(n).padStart(8)}${cell(ro.modelCyclesPerPte, 11, fmt)}${cell(ro.kernelCyclesPerPte, 11, fmt)}${cell(ro.ratio, 8, (x) => `${x.toFixed(2)}x`)}${cell(rw.modelCyclesPerPte, 11, fmt)}${cell(rw.kernelCyclesPerPte, 11, fmt)}${cell(rw.ratio, 8, (x) => `${x.toFixed(2)}x`)}`,
    );
  }
  if (c.worst !== null)
    out.push(
      `worst |model/kernel - 1|: ${(c.worst * 100).toFixed(0)}% (goal for a calibrated table on its machine: <= 25%)`,
    );
  return out;
}

export function printBenchCosts(o: BenchCostsOutcome, io: Out, json: boolean): void {
  if (json) {
    io.out(
      JSON.stringify(
        {
          schema: JSON_SCHEMA_BENCH_COSTS,
          costsFile: o.costsFile,
          ...o.table,
          sources: o.sources,
          native: {
            clock: o.comparison.clock,
            statistic: o.comparison.statistic,
            kernelNote: o.kernelNote,
            rows: o.comparison.rows,
            worst: o.comparison.worst,
          },
        },
        null,
        2,
      ),
    );
    return;
  }
  io.out(
    `weights: ${o.costsFile === null ? "the defaults (src/sim/costs.ts)" : `${o.costsFile}, defaults for the rest`}`,
  );
  for (const l of formatCostsTable(o.table)) io.out(l);
  io.out("");
  for (const l of formatComparison(o.comparison, o.kernelNote)) io.out(l);
}
