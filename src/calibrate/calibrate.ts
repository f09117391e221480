// From the real kernel's measured times (probes.c, parsed) to a calibrated cost table. Pure: the
// probes are compiled and run by probe-run.ts; this module only does arithmetic and simulation.
//
// Order (each step uses the weights decided before it):
//   1. clock:     cycles per ns from rdtsc against CLOCK_MONOTONIC (or /proc/cpuinfo's MHz).
//   2. syscall:   a bare system call (getppid) measured alone.
//   3. mmap_lock: mprotect that changes nothing (lock, VMA lookup, mmu_gather) minus what the
//                 model already charges for it.
//   4. the size sweep: vma_walk, folio_lookup, can_change_pte_writable, tlb_invlpg and
//      tlb_flush_all fitted together by non-negative least squares on the relative error (fit.ts)
//      over mprotect(PROT_READ) and mprotect(PROT_READ|PROT_WRITE) at every size, each set beside
//      the simulation of the same call (same size, same offset in its page table).
//   5. page_fault: a first read of an untouched page (maps the zero page), less the rest of what
//      the model charges; folio_alloc: a first write (allocates and zeroes a folio), less the
//      rest. The write-protect fault (copy of the zero page) is predicted, not fitted.
//   6. vma_unmap and folio_free: fitted over munmap at the munmap probe's sizes, the rest known.
//   7. ipi: what a second CPU running the mm adds to a one-page mprotect(PROT_READ), minus the
//      remote invalidation the model also charges.
// Everything else (the PTE accesses themselves, TLB misses, A/D updates, tlb_gather, pte_lock, Xen)
// stays at its default, named as an assumption in the table's sources.
import { z } from "zod";
import { COUNTERS, type CounterName } from "../machine/ledger.js";
import { DEFAULT_COSTS } from "../sim/costs.js";
import { type FitResult, fitWeights, type Observation, predict } from "./fit.js";
import {
  type Counts,
  faultCounts,
  mprotectPairCounts,
  munmapCounts,
  nochangeCounts,
  shootdownExtraCounts,
} from "./sim-probes.js";

const num = z.number().finite();
const nonneg = num.min(0);
/** A figure newer probes print (absent from older probe output). */
const later = nonneg.optional();

/** One line of probes.c's output, by kind. */
export const ProbeLineSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("clock"),
    tsc_hz: nonneg,
    interval_ns: nonneg,
    cpuinfo_mhz: nonneg,
    clock_overhead_ns: nonneg,
  }),
  z.object({ kind: z.literal("syscall"), getppid_ns: nonneg, mprotect_len0_ns: nonneg, nochange_ns: nonneg }),
  z.object({
    kind: z.literal("mprotect"),
    pages: z.number().int().min(1),
    offset: z.number().int().min(0),
    reps: z.number().int().min(1),
    /** Rounds the repetitions were spread over (absent from older probe output: one). */
    rounds: z.number().int().min(1).optional(),
    ro_median_ns: nonneg,
    ro_min_ns: nonneg,
    rw_median_ns: nonneg,
    rw_min_ns: nonneg,
    // The thread's CPU time (absent from older probe output).
    ro_cpu_median_ns: nonneg.optional(),
    ro_cpu_min_ns: nonneg.optional(),
    rw_cpu_median_ns: nonneg.optional(),
    rw_cpu_min_ns: nonneg.optional(),
    // The quartiles of the calls, wall clock and CPU time (absent from older probe output).
    ro_q1_ns: later,
    ro_q3_ns: later,
    rw_q1_ns: later,
    rw_q3_ns: later,
    ro_cpu_q1_ns: later,
    ro_cpu_q3_ns: later,
    rw_cpu_q1_ns: later,
    rw_cpu_q3_ns: later,
  }),
  z.object({
    kind: z.literal("munmap"),
    pages: z.number().int().min(1),
    reps: z.number().int().min(1).optional(),
    median_ns: nonneg,
    min_ns: nonneg,
    cpu_median_ns: later,
    q1_ns: later,
    q3_ns: later,
  }),
  z.object({
    kind: z.literal("sched"),
    policy: z.enum(["fifo", "other"]),
    cpu: z.number().int(),
    pinned: z.boolean(),
    why: z.string(),
  }),
  z.object({
    kind: z.literal("fault"),
    pages: z.number().int().min(1),
    write_ns: nonneg,
    read_ns: nonneg,
    wp_ns: nonneg,
  }),
  z.object({
    kind: z.literal("shootdown"),
    cpus: z.number().int(),
    remote_cpu: z.number().int(),
    pinned: z.boolean(),
    alone_ro_ns: nonneg,
    alone_rw_ns: nonneg,
    remote_ro_ns: nonneg,
    remote_rw_ns: nonneg,
    kept: z.number().int().min(0),
    reps: z.number().int().min(1),
  }),
  z.object({
    kind: z.literal("cold"),
    pages: z.number().int().min(1),
    evict_bytes: nonneg,
    reps: z.number().int().min(1),
    warm_ro_median_ns: nonneg,
    warm_ro_min_ns: nonneg,
    warm_rw_median_ns: nonneg,
    warm_rw_min_ns: nonneg,
    cold_ro_median_ns: nonneg,
    cold_ro_min_ns: nonneg,
    cold_rw_median_ns: nonneg,
    cold_rw_min_ns: nonneg,
  }),
]);
export type ProbeLine = z.output<typeof ProbeLineSchema>;
type Of<K extends ProbeLine["kind"]> = Extract<ProbeLine, { kind: K }>;

/** Everything probes.c printed, grouped. */
export interface ProbeResults {
  clock: Of<"clock">;
  syscall: Of<"syscall">;
  mprotect: Of<"mprotect">[];
  munmap: Of<"munmap">[];
  fault: Of<"fault">;
  shootdown: Of<"shootdown">;
  /** Warm against cold mprotect (none from older probe output: the beyond-32m tier then keeps its default). */
  cold: Of<"cold">[];
  /** How the probes ran (null from older probe output: normal class, not pinned). */
  sched: Of<"sched"> | null;
}

/** Groups parsed probe lines; throws naming what is missing. */
export function groupProbeLines(lines: readonly ProbeLine[]): ProbeResults {
  const one = <K extends ProbeLine["kind"]>(k: K): Of<K> => {
    const l = lines.find((x) => x.kind === k);
    if (l === undefined) throw new Error(`the probes printed no "${k}" line`);
    return l as Of<K>;
  };
  const mprotect = lines.filter((l): l is Of<"mprotect"> => l.kind === "mprotect");
  if (mprotect.length === 0) throw new Error('the probes printed no "mprotect" line');
  return {
    clock: one("clock"),
    syscall: one("syscall"),
    mprotect,
    munmap: lines.filter((l): l is Of<"munmap"> => l.kind === "munmap"),
    fault: one("fault"),
    shootdown: one("shootdown"),
    cold: lines.filter((l): l is Of<"cold"> => l.kind === "cold"),
    sched: (lines.find((l) => l.kind === "sched") as Of<"sched"> | undefined) ?? null,
  };
}

export interface ClockInfo {
  /** Cycles per nanosecond used to turn times into cycles. */
  cyclesPerNs: number;
  hz: number;
  method: string;
}

/** Cycles per ns: the measured TSC rate when there is one, else /proc/cpuinfo's MHz. */
export function clockOf(c: Of<"clock">): ClockInfo {
  if (c.tsc_hz > 0)
    return {
      cyclesPerNs: c.tsc_hz / 1e9,
      hz: c.tsc_hz,
      method: `rdtsc against CLOCK_MONOTONIC over ${(c.interval_ns / 1e6).toFixed(0)} ms (TSC cycles; /proc/cpuinfo says ${c.cpuinfo_mhz.toFixed(0)} MHz)`,
    };
  if (c.cpuinfo_mhz > 0)
    return {
      cyclesPerNs: c.cpuinfo_mhz / 1000,
      hz: c.cpuinfo_mhz * 1e6,
      method: "/proc/cpuinfo cpu MHz (no TSC)",
    };
  throw new Error("no clock rate: no TSC and no cpu MHz in /proc/cpuinfo");
}

/** Which measurement of the sweep is fitted: the best (least disturbed) or the median call. */
export type Statistic = "best" | "median";

/**
 * The kernel's time for one call of a sweep size, ns. "best": the fastest call by the wall clock,
 * unless the thread's median CPU time is lower: on a busy machine every call of several ms is
 * preempted, and its wall time then includes the wait while its CPU time does not. (Not the
 * fastest CPU time: in a KVM guest the thread's CPU time subtracts steal time in coarse steps,
 * and its minimum can fall below any undisturbed call.) "median": the lower of the two medians.
 */
export function kernelNs(m: Of<"mprotect">, dir: "ro" | "rw", statistic: Statistic): number {
  const wall =
    statistic === "best"
      ? dir === "ro"
        ? m.ro_min_ns
        : m.rw_min_ns
      : dir === "ro"
        ? m.ro_median_ns
        : m.rw_median_ns;
  const cpu = dir === "ro" ? m.ro_cpu_median_ns : m.rw_cpu_median_ns;
  return cpu === undefined || cpu <= 0 ? wall : Math.min(wall, cpu);
}

/**
 * How spread the kernel's calls of a sweep size were: the interquartile range over the figure
 * kernelNs takes (CPU time's quartiles when it took the CPU median, else the wall clock's).
 * Null from older probe output.
 */
export function kernelSpread(m: Of<"mprotect">, dir: "ro" | "rw", statistic: Statistic): number | null {
  const k = kernelNs(m, dir, statistic);
  const cpuMed = dir === "ro" ? m.ro_cpu_median_ns : m.rw_cpu_median_ns;
  const useCpu = cpuMed !== undefined && cpuMed > 0 && cpuMed === k;
  const q1 = useCpu
    ? dir === "ro"
      ? m.ro_cpu_q1_ns
      : m.rw_cpu_q1_ns
    : dir === "ro"
      ? m.ro_q1_ns
      : m.rw_q1_ns;
  const q3 = useCpu
    ? dir === "ro"
      ? m.ro_cpu_q3_ns
      : m.rw_cpu_q3_ns
    : dir === "ro"
      ? m.ro_q3_ns
      : m.rw_q3_ns;
  return q1 === undefined || q3 === undefined || k <= 0 ? null : (q3 - q1) / k;
}

/** The kernel's time for one munmap of a probe size, ns: as kernelNs, for munmap's one direction. */
export function munmapNs(m: Of<"munmap">, statistic: Statistic): number {
  const wall = statistic === "best" ? m.min_ns : m.median_ns;
  return m.cpu_median_ns === undefined || m.cpu_median_ns <= 0 ? wall : Math.min(wall, m.cpu_median_ns);
}

export interface SweepRow {
  pages: number;
  offset: number;
  reps: number;
  /** The real kernel, ns per call (the chosen statistic). */
  kernelRoNs: number;
  kernelRwNs: number;
  /** The model's events for the same two calls. */
  roCounts: Counts;
  rwCounts: Counts;
}

export interface Calibration {
  clock: ClockInfo;
  statistic: Statistic;
  /** The full cost table: every counter, cycles per event. */
  costs: Record<CounterName, number>;
  /** Where each weight comes from. */
  sources: Record<CounterName, string>;
  /** Counters whose weight this calibration measured or fitted (the rest are defaults). */
  calibrated: CounterName[];
  fit: FitResult;
  sweep: SweepRow[];
  /** The other probes, as measured (ns). */
  extra: {
    getppidNs: number;
    mprotectLen0Ns: number;
    nochangeNs: number;
    fault: { writeNs: number; readNs: number; wpNs: number };
    shootdown: Of<"shootdown">;
    /** How the probes ran (null: older probe output). */
    sched: { policy: string; cpu: number; pinned: boolean; why: string } | null;
    /** kernelNs: the figure compared (munmapNs). */
    munmap: { pages: number; medianNs: number; minNs: number; kernelNs: number }[];
    cold: ColdRow[];
    /** What one metadata line costs from memory by the cold probe, cycles (null: undecided). */
    coldCyclesPerLine: number | null;
  };
  /** Weights clamped at 0 or left at their default because a probe could not decide them. */
  notes: string[];
}

/** The cold probe at one size: what evicting the caches adds to the call, measured and counted. */
export interface ColdRow {
  pages: number;
  evictBytes: number;
  /** cold - warm, ns per call (the chosen statistic of each), per direction. */
  extraRoNs: number;
  extraRwNs: number;
  /** The metadata lines the call touches (the model's cold twin: every one beyond every tier). */
  lines: number;
  probe: Of<"cold">;
}

/** The reuse-distance tiers (machine/linecache.ts), one weight each. */
export const CACHE_TIERS: readonly CounterName[] = COUNTERS.filter((c) => c.startsWith("cache_beyond_"));

/** The weights the size sweep decides whatever its sizes (at least 3 are needed). */
// pte_lock is not among them: it occurs once per 512 PTEs and once in every small call, where
// vma_walk also occurs once, so the sweep cannot tell the two apart; it keeps its default.
export const SWEEP_BASE: readonly CounterName[] = [
  "vma_walk",
  "folio_lookup",
  "can_change_pte_writable",
  "tlb_invlpg",
  "tlb_flush_all",
];

/**
 * The weights the size sweep decides: the base ones, and what one metadata line costs by how far
 * it was last touched, each tier decided by the sizes whose footprint exceeds it (16,384 pages
 * touch 1.1 MiB of lines, 262,144 pages 18 MiB). Beyond 32 MiB the cold probe decides.
 */
export const SWEEP_FITTED: readonly CounterName[] = [
  ...SWEEP_BASE,
  ...CACHE_TIERS.filter((t) => t !== "cache_beyond_32m"),
];

function defaults(): Record<CounterName, number> {
  const t = {} as Record<CounterName, number>;
  for (const c of COUNTERS) t[c] = DEFAULT_COSTS[c].cycles;
  return t;
}

/** The simulated events of the sweep's calls, one simulation per size (and offset). */
export function sweepRows(results: ProbeResults, statistic: Statistic): SweepRow[] {
  return results.mprotect.map((m) => {
    const { ro, rw } = mprotectPairCounts(m.pages, m.offset % 0x200000);
    return {
      pages: m.pages,
      offset: m.offset,
      reps: m.reps,
      kernelRoNs: kernelNs(m, "ro", statistic),
      kernelRwNs: kernelNs(m, "rw", statistic),
      roCounts: ro,
      rwCounts: rw,
    };
  });
}

/** Weight of `counter` so that `counts` cost `cycles` given the other weights; null if it is not counted. */
function solveOne(
  counter: CounterName,
  counts: Counts,
  cycles: number,
  w: Record<CounterName, number>,
): number | null {
  const n = counts[counter] ?? 0;
  if (n <= 0) return null;
  const rest = predict({ ...counts, [counter]: 0 }, w);
  return (cycles - rest) / n;
}

export function calibrate(results: ProbeResults, opts: { statistic?: Statistic } = {}): Calibration {
  const statistic = opts.statistic ?? "best";
  const clock = clockOf(results.clock);
  const cy = (ns: number) => ns * clock.cyclesPerNs;
  const w = defaults();
  const sources = {} as Record<CounterName, string>;
  for (const c of COUNTERS) sources[c] = `default: ${DEFAULT_COSTS[c].source}`;
  const calibrated: CounterName[] = [];
  const notes: string[] = [];
  const set = (c: CounterName, v: number | null, source: string) => {
    if (v === null || !Number.isFinite(v)) {
      notes.push(`${c}: not decided by its probe; default kept`);
      return;
    }
    if (v < 0) notes.push(`${c}: the probe gives ${v.toFixed(0)} cycles, clamped to 0`);
    w[c] = Math.max(0, Math.round(v));
    sources[c] = source;
    calibrated.push(c);
  };
  const s = results.syscall;

  set("syscall", cy(s.getppid_ns), `measured: getppid() ${s.getppid_ns.toFixed(0)} ns (median)`);

  set(
    "mmap_lock",
    solveOne("mmap_lock", nochangeCounts(), cy(s.nochange_ns), w),
    `measured: mprotect to the same protection ${s.nochange_ns.toFixed(0)} ns (median), less syscall and tlb_gather`,
  );

  const sweep = sweepRows(results, statistic);
  const obs: Observation[] = sweep.flatMap((r) => [
    { label: `mprotect ro ${r.pages}`, counts: r.roCounts, cycles: cy(r.kernelRoNs) },
    { label: `mprotect rw ${r.pages}`, counts: r.rwCounts, cycles: cy(r.kernelRwNs) },
  ]);
  const cold = coldRows(results, statistic);
  const coldPerLine = coldCyclesPerLine(cold, cy);
  const decidable = SWEEP_FITTED.filter((c) => obs.some((o) => (o.counts[c] ?? 0) > 0));
  for (const c of SWEEP_FITTED)
    if (!decidable.includes(c) && c !== "cache_beyond_32m")
      notes.push(`${c}: no size of the sweep exercises it; default kept`);
  const known: Partial<Record<CounterName, number>> = {};
  for (const c of COUNTERS) if (!decidable.includes(c)) known[c] = w[c];
  const fit = fitWeights(obs, decidable, known);
  const sizes = sweep.map((r) => r.pages);
  for (const c of decidable)
    set(
      c,
      fit.weights[c] ?? 0,
      `fitted: least squares over mprotect at ${sizes.length} sizes (${Math.min(...sizes)}..${Math.max(...sizes)} pages), ${statistic} of each`,
    );

  // Beyond 32 MiB (farther than this machine's last-level cache): no size of the sweep reaches
  // it (262,144 pages touch 18 MiB of lines), so the cold probe decides it: what a line costs
  // when it comes from memory, less the tiers below.
  if (coldPerLine === null) {
    notes.push(
      results.cold.length < 2
        ? "cache_beyond_32m: no cold probe at two sizes; default kept"
        : "cache_beyond_32m: eviction added no more per line at the larger cold size than at the smaller (noise); default kept",
    );
  } else {
    const below = CACHE_TIERS.filter((t) => t !== "cache_beyond_32m").reduce((a, t) => a + w[t], 0);
    set(
      "cache_beyond_32m",
      coldPerLine - below,
      `measured: a line from memory costs ${coldPerLine.toFixed(0)} cycles (cold probe: mprotect after evicting ${(cold[0].evictBytes / 2 ** 20).toFixed(0)} MiB, less warm, per extra line from ${Math.min(...cold.map((r) => r.pages))} to ${Math.max(...cold.map((r) => r.pages))} pages, ${statistic} of each), less the ${below} of the tiers below`,
    );
  }

  // The fault path: a first read maps the shared zero page (no folio), a first write allocates
  // and zeroes one; the write-protect fault (copy of the zero page) is left out of the fit, a check.
  const f = faultCounts(Math.min(results.fault.pages, 4096));
  set(
    "page_fault",
    solveOne("page_fault", f.read, cy(results.fault.read_ns), w),
    `measured: first read of an untouched page (maps the zero page) ${results.fault.read_ns.toFixed(0)} ns, less the walk and PTE work the model counts`,
  );
  set(
    "folio_alloc",
    solveOne("folio_alloc", f.write, cy(results.fault.write_ns), w),
    `measured: first write to an untouched page ${results.fault.write_ns.toFixed(0)} ns, less the fault and the rest the model counts`,
  );

  // munmap: what removing a VMA costs and what zap adds per page it frees, fitted together over
  // the munmap probe's sizes (everything else in its twin's counts has its weight from above).
  const unmaps = results.munmap.map((m) => ({ m, counts: munmapCounts(m.pages) }));
  const unmapObs: Observation[] = unmaps
    .filter((u) => munmapNs(u.m, statistic) > 0)
    .map((u) => ({ label: `munmap ${u.m.pages}`, counts: u.counts, cycles: cy(munmapNs(u.m, statistic)) }));
  if (unmapObs.length < 2) notes.push("vma_unmap, folio_free: fewer than 2 munmap sizes; defaults kept");
  else {
    const unmapFitted: CounterName[] = ["vma_unmap", "folio_free"];
    const held: Partial<Record<CounterName, number>> = { ...w };
    for (const c of unmapFitted) delete held[c];
    const uf = fitWeights(unmapObs, unmapFitted, held);
    const ps = unmapObs.map((o) => Number(o.label.split(" ")[1]));
    for (const c of unmapFitted)
      set(
        c,
        uf.weights[c] ?? 0,
        `fitted: least squares over munmap at ${ps.length} sizes (${Math.min(...ps)}..${Math.max(...ps)} pages), ${statistic} of each`,
      );
  }

  const sd = results.shootdown;
  if (sd.cpus < 2) notes.push("ipi: one CPU online, no shootdown to measure; default kept");
  else {
    // Both directions change R/W, so both flush (x86's pte_flags_need_flush); the read-only
    // call is the one whose simulated twin the model counts (shootdownExtraCounts).
    const delta = sd.remote_ro_ns - sd.alone_ro_ns;
    set(
      "ipi",
      solveOne("ipi", shootdownExtraCounts(), cy(delta), w),
      `measured: a running reader on CPU ${sd.remote_cpu}${sd.pinned ? " (pinned)" : " (not pinned)"} adds ${delta.toFixed(0)} ns to a one-page mprotect(PROT_READ), less the remote invlpg`,
    );
  }

  // Recompute the sweep's rows with the final table (page_fault and ipi do not occur there); the
  // cold rows stay in fit.rows after the sweep's.
  const final: FitResult = {
    ...fit,
    rows: fit.rows.map((r, i) => ({
      ...r,
      model: predict(obs[i].counts, w),
      ratio: predict(obs[i].counts, w) / r.measured,
    })),
  };
  return {
    clock,
    statistic,
    costs: w,
    sources,
    calibrated,
    fit: final,
    sweep,
    extra: {
      getppidNs: s.getppid_ns,
      mprotectLen0Ns: s.mprotect_len0_ns,
      nochangeNs: s.nochange_ns,
      fault: { writeNs: results.fault.write_ns, readNs: results.fault.read_ns, wpNs: results.fault.wp_ns },
      shootdown: sd,
      sched:
        results.sched === null
          ? null
          : {
              policy: results.sched.policy,
              cpu: results.sched.cpu,
              pinned: results.sched.pinned,
              why: results.sched.why,
            },
      munmap: results.munmap.map((m) => ({
        pages: m.pages,
        medianNs: m.median_ns,
        minNs: m.min_ns,
        kernelNs: munmapNs(m, statistic),
      })),
      cold,
      coldCyclesPerLine: coldPerLine,
    },
    notes,
  };
}

/** The cold probe's sizes with what eviction added and the lines the model's cold twin touches. */
export function coldRows(results: ProbeResults, statistic: Statistic): ColdRow[] {
  return results.cold.map((p) => {
    const { ro } = mprotectPairCounts(p.pages, 0, undefined, true);
    const best = statistic === "best";
    return {
      pages: p.pages,
      evictBytes: p.evict_bytes,
      extraRoNs:
        (best ? p.cold_ro_min_ns : p.cold_ro_median_ns) - (best ? p.warm_ro_min_ns : p.warm_ro_median_ns),
      extraRwNs:
        (best ? p.cold_rw_min_ns : p.cold_rw_median_ns) - (best ? p.warm_rw_min_ns : p.warm_rw_median_ns),
      lines: ro.cache_beyond_32m ?? 0,
      probe: p,
    };
  });
}

/**
 * The cold probe's cost of one metadata line from memory, cycles: between its smallest and
 * largest size, what eviction added per extra line touched, both directions averaged (the
 * difference of two sizes cancels what eviction adds once per call: kernel text, the VMA, upper
 * page tables, TLB entries). Null with fewer than two sizes or when it does not grow with lines.
 */
export function coldCyclesPerLine(
  rows: readonly Pick<ColdRow, "lines" | "extraRoNs" | "extraRwNs">[],
  cy: (ns: number) => number,
): number | null {
  if (rows.length < 2) return null;
  const lo = rows.reduce((a, b) => (b.lines < a.lines ? b : a));
  const hi = rows.reduce((a, b) => (b.lines > a.lines ? b : a));
  const dl = hi.lines - lo.lines;
  if (dl <= 0) return null;
  const per = cy((hi.extraRoNs - lo.extraRoNs + hi.extraRwNs - lo.extraRwNs) / 2) / dl;
  return per > 0 ? per : null;
}
