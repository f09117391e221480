// The native model beside the real kernel: for each size, mprotect(PROT_READ) and back on one CPU
// (as probes.c does it, at the same offset in the page table), cycles per PTE under a cost table,
// against the kernel's measured time turned into cycles by the measured clock. Pure.
import type { CounterName } from "../machine/ledger.js";
import { type ClockInfo, clockOf, kernelNs, type ProbeResults } from "./calibrate.js";
import { predict } from "./fit.js";
import { mprotectPairCounts } from "./sim-probes.js";

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
      rows.push({
        pages: s.pages,
        direction: dir,
        modelCyclesPerPte: model,
        kernelCyclesPerPte: kCy,
        kernelNsPerPte: kNs,
        ratio: kCy === null || kCy <= 0 ? null : model / kCy,
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
