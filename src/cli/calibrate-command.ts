// `ptesim calibrate` (measure the real kernel, fit the native weights, write a cost table) and
// `ptesim bench costs` (the cost model per backend, and the native model beside the real kernel),
// with `--costs FILE` (a cost table file) for both. The typed stages; their printers are in
// report-costs.ts.

import { readFileSync } from "node:fs";
import { hostname, loadavg, cpus as osCpus, release } from "node:os";
import { type Calibration, calibrate, type Statistic, SWEEP_BASE } from "../calibrate/calibrate.js";
import { compareNative, compareOps, type NativeComparison, type OpRow } from "../calibrate/compare.js";
import { DEFAULT_SWEEP_PAGES, measureKernel } from "../calibrate/probe-run.js";
import {
  type CostTableFile,
  checkHost,
  formatCostTable,
  type HostCheck,
  type HostRecord,
  loadCostTableText,
  tableHost,
} from "../calibrate/table-file.js";
import { CompileError } from "../fidelity/compile.js";
import { COUNTERS, type CounterName } from "../machine/ledger.js";
import { formatLocated } from "../scenario/load.js";
import { type CostOverrides, costTable, DEFAULT_COSTS } from "../sim/costs.js";
import { readInputFile } from "./commands.js";
import { benchCosts, type CostsTable } from "./costs.js";
import { PtesimError } from "./errors.js";

/** A cost table file's weights, or a PtesimError (exit 2) with every problem located. */
export function readCostTable(file: string): {
  costs: CostOverrides;
  sources: Partial<Record<CounterName, string>>;
  file: CostTableFile;
} {
  const text = readInputFile(file, "costs");
  const r = loadCostTableText(text, file);
  if (!r.ok)
    throw new PtesimError(
      "costs",
      `${file}: invalid cost table (${r.errors.length} error${r.errors.length > 1 ? "s" : ""})`,
      r.errors.map(formatLocated),
    );
  return { costs: r.costs, sources: r.sources, file: r.file };
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

/** This boot's id (the same id: the same machine, not rebooted since), if the kernel gives one. */
function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** CPU 0's "cpu MHz" (Node's os.cpus() says 0 in some guests), rounded; undefined if unknown. */
function cpuMHz(speed: number | undefined): number | undefined {
  if (speed !== undefined && speed > 0) return speed;
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m === null ? undefined : Math.round(Number(m[1]));
  } catch {
    return undefined;
  }
}

/** The machine measuring now: what a cost table records of the host it was calibrated on. */
function hostHere(): HostRecord {
  const c = osCpus();
  const id = bootId();
  const mhz = cpuMHz(c[0]?.speed);
  return {
    hostname: hostname(),
    kernel: release(),
    cpu: c[0]?.model ?? "unknown",
    cpus: c.length,
    ...(mhz === undefined ? {} : { cpuMHz: mhz }),
    ...(id === undefined ? {} : { bootId: id }),
  };
}

/** The 1-minute load average before and after (how busy the machine was while measuring). */
function loadText(before: number): string {
  return `${before.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (1 min)`;
}

function hostInfo(loadBefore: number): Record<string, string | number> {
  return {
    ...(hostHere() as Record<string, string | number>),
    // How busy the machine was: on a shared machine, the large sizes' figures depend on it.
    loadAverage: loadText(loadBefore),
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
  /** Ctrl-C was pressed (polled between the stages; the probes themselves get the SIGINT). */
  shouldStop?: () => boolean;
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
  const stopped = () => {
    if (opts.shouldStop?.() === true)
      throw new PtesimError(
        "interrupted",
        `calibrate interrupted (Ctrl-C) before it finished${opts.out === undefined ? "" : `; ${opts.out} not written`}`,
      );
  };
  try {
    results = measureKernel({ pages, quick: opts.quick === true });
  } catch (e) {
    stopped(); // a probe ended by the same Ctrl-C is not a failure of the kernel's
    probeError(e);
  }
  stopped();
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
  stopped();
  const host = hostInfo(loadBefore);
  const date = new Date().toISOString();
  const text = formatCostTable(calibration, host, date);
  if (opts.out !== undefined) {
    if (opts.write === undefined) throw new Error("calibrateCommand: out without write");
    opts.write(opts.out, text);
  }
  return { calibration, host, date, text, out: opts.out ?? null };
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
  /** Ctrl-C was pressed: stop measuring and return the table so far. */
  shouldStop?: () => boolean;
}

export interface BenchCostsOutcome {
  table: CostsTable;
  costsFile: string | null;
  /** Where each weight used comes from. */
  sources: Record<CounterName, string>;
  comparison: NativeComparison;
  /** munmap per PTE and the faults per fault, model beside kernel (empty when not measured). */
  ops: OpRow[];
  /** How the probes ran: "fifo" (SCHED_FIFO, pinned) or "other"; null when not measured. */
  sched: { policy: string; cpu: number; pinned: boolean; why: string } | null;
  /** The 1-minute load average before and after measuring the kernel (null when not measured). */
  loadAverage: string | null;
  /** The table's host against this one (null without --costs). */
  host: HostCheck | null;
  /** Why the kernel was not measured, if it was not. */
  kernelNote: string | null;
  /** Stopped by Ctrl-C: the table holds the measurements made before. */
  interrupted: boolean;
}

export function benchCostsCommand(opts: BenchCostsCommandOptions = {}): BenchCostsOutcome {
  const file = opts.costsFile === undefined ? null : readCostTable(opts.costsFile);
  const overrides = file?.costs ?? {};
  const table = benchCosts({
    costs: overrides,
    ...(opts.pages === undefined ? {} : { pages: opts.pages }),
    ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
    ...(opts.shouldStop === undefined ? {} : { shouldStop: opts.shouldStop }),
  });
  const stop = () => opts.shouldStop?.() === true;
  const sources = {} as Record<CounterName, string>;
  for (const c of COUNTERS)
    sources[c] =
      overrides[c] === undefined
        ? `default: ${DEFAULT_COSTS[c].source}`
        : `${opts.costsFile}: ${file?.sources[c] ?? "given"}`;
  let kernel: ReturnType<typeof measureKernel> | null = null;
  let kernelNote: string | null = null;
  let loadAverage: string | null = null;
  if (opts.kernel === false) kernelNote = "not measured (--no-kernel)";
  else if (stop()) kernelNote = "not measured (interrupted)";
  else {
    opts.onProgress?.("measuring the real kernel");
    const before = loadavg()[0];
    try {
      kernel = measureKernel({ pages: opts.pages ?? DEFAULT_SWEEP_PAGES });
      loadAverage = loadText(before);
    } catch (e) {
      kernelNote = stop()
        ? "not measured (interrupted)"
        : `not measured: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  const weights = costTable(overrides);
  const comparison = compareNative(
    weights,
    kernel,
    stop() ? [] : (opts.pages ?? DEFAULT_SWEEP_PAGES),
    "best",
    opts.onProgress,
  );
  const ops = kernel === null || stop() ? [] : compareOps(weights, kernel, "best");
  let host: HostCheck | null = null;
  if (file !== null)
    host = checkHost(tableHost(file.file), {
      ...hostHere(),
      ...(kernel === null || kernel.clock.tsc_hz <= 0 ? {} : { clockHz: kernel.clock.tsc_hz }),
    });
  return {
    table,
    costsFile: opts.costsFile ?? null,
    sources,
    comparison,
    ops,
    sched: kernel?.sched ?? null,
    loadAverage,
    host,
    kernelNote,
    interrupted: stop(),
  };
}
