// The native model beside the real kernel: for each size, mprotect(PROT_READ) and back on one CPU
// (as probes.c does it, at the same offset in the page table), cycles per PTE under a cost table,
// against the kernel's measured time turned into cycles by the measured clock; and the same for
// munmap (per PTE) and the three faults (per fault), from the same counted events. Pure.
import type { CounterName } from "../machine/ledger.js";
import { type ClockInfo, clockOf, kernelNs, kernelSpread, munmapNs, type ProbeResults } from "./calibrate.js";
import { predict } from "./fit.js";
import { faultCounts, mprotectPairCounts, munmapCounts } from "./sim-probes.js";

export interface ComparisonRow {
  pages: number;
  /** "ro": mprotect(PROT_READ) of the populated RW range; "rw": back to PROT_READ|PROT_WRITE. */
  direction: "ro" | "rw";
  modelCyclesPerPte: number;
  /** null when the kernel was not measured. */
  kernelCyclesPerPte: number | null;
  kernelNsPerPte: number | null;
  /** model / kernel (null without a kernel figure). */
  ratio: number | null;
  /** The kernel's calls' interquartile range over its figure (null: not measured, or older probes). */
  spread: number | null;
}

/** munmap or a fault: the model beside the kernel, per PTE unmapped or per fault. */
export interface OpRow {
  op: "munmap" | "fault-read" | "fault-write" | "fault-wp";
  /** Pages unmapped (munmap) or faulted in, one fault each (faults). */
  pages: number;
  modelCycles: number;
  kernelCycles: number | null;
  kernelNs: number | null;
  ratio: number | null;
  spread: number | null;
}

export interface NativeComparison {
  clock: ClockInfo | null;
  statistic: "best" | "median";
  rows: ComparisonRow[];
  /** Largest |ratio - 1| over the rows with a kernel figure. */
  worst: number | null;
}

/**
 * Compares at `pages` (without kernel figures) or at the sizes the kernel was measured at.
 * Each size is simulated once (both directions).
 */
export function compareNative(
  table: Record<CounterName, number>,
  kernel: { clock: ProbeResults["clock"]; mprotect: ProbeResults["mprotect"] } | null,
  pages: readonly number[],
  statistic: "best" | "median" = "best",
  onProgress?: (what: string) => void,
): NativeComparison {
  const clock = kernel === null ? null : clockOf(kernel.clock);
  const sizes =
    kernel === null
      ? pages.map((p) => ({ pages: p, offset: 0, k: null }))
      : kernel.mprotect.map((m) => ({ pages: m.pages, offset: m.offset % 0x200000, k: m }));
  const rows: ComparisonRow[] = [];
  for (const s of sizes) {
    const c = mprotectPairCounts(s.pages, s.offset);
    for (const dir of ["ro", "rw"] as const) {
      const model = predict(dir === "ro" ? c.ro : c.rw, table) / s.pages;
      let kNs: number | null = null;
      if (s.k !== null) {
        kNs = kernelNs(s.k, dir, statistic) / s.pages;
      }
      const kCy = kNs === null || clock === null ? null : kNs * clock.cyclesPerNs;
      const spread = s.k === null ? null : kernelSpread(s.k, dir, statistic);
      rows.push({
        pages: s.pages,
        direction: dir,
        modelCyclesPerPte: model,
        kernelCyclesPerPte: kCy,
        kernelNsPerPte: kNs,
        ratio: kCy === null || kCy <= 0 ? null : model / kCy,
        spread,
      });
    }
    onProgress?.(`native model ${s.pages} pages`);
  }
  const ratios = rows.map((r) => r.ratio).filter((r): r is number => r !== null);
  return {
    clock,
    statistic,
    rows,
    worst: ratios.length === 0 ? null : Math.max(...ratios.map((r) => Math.abs(r - 1))),
  };
}

/**
 * munmap per PTE at the munmap probe's sizes, and each fault kind per fault, under `table`,
 * beside the kernel's figures (the same statistic as the mprotect comparison).
 */
export function compareOps(
  table: Record<CounterName, number>,
  kernel: Pick<ProbeResults, "clock" | "munmap" | "fault">,
  statistic: "best" | "median" = "best",
): OpRow[] {
  const cpn = clockOf(kernel.clock).cyclesPerNs;
  const row = (op: OpRow["op"], pages: number, model: number, ns: number, spread: number | null): OpRow => ({
    op,
    pages,
    modelCycles: model,
    kernelCycles: ns * cpn,
    kernelNs: ns,
    ratio: ns > 0 ? model / (ns * cpn) : null,
    spread,
  });
  const rows: OpRow[] = kernel.munmap.map((m) => {
    const ns = munmapNs(m, statistic) / m.pages;
    const spread =
      m.q1_ns === undefined || m.q3_ns === undefined || ns <= 0 ? null : (m.q3_ns - m.q1_ns) / (ns * m.pages);
    return row("munmap", m.pages, predict(munmapCounts(m.pages), table) / m.pages, ns, spread);
  });
  const f = faultCounts(Math.min(kernel.fault.pages, 4096));
  rows.push(
    row("fault-read", kernel.fault.pages, predict(f.read, table), kernel.fault.read_ns, null),
    row("fault-write", kernel.fault.pages, predict(f.write, table), kernel.fault.write_ns, null),
    row("fault-wp", kernel.fault.pages, predict(f.wp, table), kernel.fault.wp_ns, null),
  );
  return rows;
}
