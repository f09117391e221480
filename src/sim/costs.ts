// The cost model: cycles charged per counted event. Counts come from the CostLedger (what the
// simulation actually did); these weights turn them into cycles. Defaults are modelling
// assumptions anchored on published figures, or weights `ptesim calibrate` measured on the
// project machine (see the `source` of each entry); every one can be overridden in a scenario's
// `costs:` section or by a cost table file (--costs).
import { z } from "zod";
import { arm64Cycles } from "../arch/arm64/costs.js";
import type { ArchName } from "../arch/types.js";
import { COUNTERS, type CostLedger, type CounterName } from "../machine/ledger.js";

export interface CostEntry {
  cycles: number;
  source: string;
}

export const DEFAULT_COSTS: Readonly<Record<CounterName, CostEntry>> = {
  pte_read: { cycles: 1, source: "L1-resident load" },
  pte_write: { cycles: 1, source: "L1-resident store" },
  pte_xchg: { cycles: 20, source: "locked xchg on x86 (~18-25 cycles, Agner Fog's instruction tables)" },
  pte_cmpxchg: {
    cycles: 20,
    source: "locked cmpxchg on x86 (~18-25 cycles, Agner Fog's instruction tables)",
  },
  tlb_miss: { cycles: 30, source: "4-level page walk hitting the paging-structure caches (assumption)" },
  hw_ad_update: { cycles: 20, source: "locked A/D update by the page walker (assumption: as a locked RMW)" },
  page_fault: { cycles: 1000, source: "#PF entry/exit and handler (assumption)" },
  tlb_invlpg: { cycles: 200, source: "INVLPG (~100-250 cycles on recent cores; assumption)" },
  tlb_flush_all: { cycles: 500, source: "CR3 write without PCID plus refill (assumption)" },
  ipi: { cycles: 2000, source: "shootdown IPI round trip (assumption)" },
  // arm64 only: an arm64 run is costed by ARM64_COSTS (src/arch/arm64/costs.ts), never by this table.
  tlbi_va: { cycles: 0, source: "arm64 only (never counted on x86-64): see ARM64_COSTS" },
  tlbi_asid: { cycles: 0, source: "arm64 only (never counted on x86-64): see ARM64_COSTS" },
  dsb_ish: { cycles: 0, source: "arm64 only (never counted on x86-64): see ARM64_COSTS" },
  dsb_ishst: { cycles: 0, source: "arm64 only (never counted on x86-64): see ARM64_COSTS" },
  trap_pt_write: {
    cycles: 6000,
    source:
      "trap-and-emulate of a page-table store: VM exit round trip ~1,500-2,000 cycles plus decode/validate (DOMAIN.md; assumption x3)",
  },
  trap_pt_xchg: { cycles: 6000, source: "as trap_pt_write, for a locked op (assumption)" },
  hypercall: {
    cycles: 1500,
    source: "hypervisor entry/exit round trip (VM exit ~1,500-2,000 cycles, DOMAIN.md)",
  },
  multicall: { cycles: 200, source: "multicall dispatch overhead per batch (assumption)" },
  mmu_update: { cycles: 100, source: "per-request decode and lookup of mmu_update (assumption)" },
  mmu_update_fast: { cycles: 100, source: "mod_l1_entry fast path: flags-only change (assumption)" },
  mmu_update_slow: {
    cycles: 800,
    source: "mod_l1_entry slow path: validation and reference counting (assumption)",
  },
  cmpxchg_retry: { cycles: 40, source: "one more PRESERVE_AD cmpxchg round (assumption)" },
  mmuext_op: { cycles: 300, source: "MMUEXT TLB operation dispatch (assumption)" },
  lazy_enter: { cycles: 5, source: "per-CPU flag update (assumption)" },
  lazy_flush: { cycles: 5, source: "checking and issuing the queued batch (assumption)" },
  syscall: {
    cycles: 467,
    source:
      "system call entry and exit: getppid() measured, 180 ns (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  mmap_lock: {
    cycles: 316,
    source:
      "mmap_write_lock/unlock and the VMA lookup: mprotect changing nothing, less syscall and tlb_gather (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  vma_walk: {
    cycles: 1377,
    source:
      "mprotect_fixup and the walk to the PMDs, per VMA: fitted over the mprotect size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  tlb_gather: {
    cycles: 50,
    source:
      "tlb_gather_mmu + tlb_finish_mmu bookkeeping without a flush (assumption: not separable from vma_walk by any probe)",
  },
  pte_lock: {
    cycles: 60,
    source:
      "uncontended spin_lock/unlock pair plus pte_offset_map (assumption: ~2 locked ops; not separable from vma_walk in the sweep)",
  },
  folio_lookup: {
    cycles: 125,
    source:
      "vm_normal_folio and the rest of change_pte_range per present PTE (struct page access, pte_modify, batching checks), and zap's vm_normal_folio: fitted over the mprotect size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  can_change_pte_writable: {
    cycles: 25,
    source:
      "can_change_pte_writable (PageAnonExclusive test): fitted over the size sweep, the read-write direction (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  cache_beyond_1m: {
    cycles: 3,
    source:
      "what a metadata line (PTE line, struct page) touched again past 1 MiB of other such lines adds: fitted over the size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  cache_beyond_2m: {
    cycles: 3,
    source:
      "a metadata line touched again past 2 MiB of other such lines, on top of the tiers below: fitted over the size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  cache_beyond_4m: {
    cycles: 3,
    source:
      "a metadata line touched again past 4 MiB of other such lines, on top of the tiers below: fitted over the size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  cache_beyond_8m: {
    cycles: 8,
    source:
      "a metadata line touched again past 8 MiB of other such lines, on top of the tiers below: fitted over the size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  cache_beyond_16m: {
    cycles: 9,
    source:
      "a metadata line touched again past 16 MiB of other such lines, on top of the tiers below: fitted over the size sweep (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  cache_beyond_32m: {
    cycles: 0,
    source:
      "a metadata line touched again past 32 MiB of other such lines (this machine's last-level cache) or never touched: a line from memory by calibrate's cold probe less the tiers below; that run's cold probe was noise (22 cycles a line; 164-283 in other runs), so 0 (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  folio_alloc: {
    cycles: 1919,
    source:
      "a data folio allocated by a fault (zeroing or copying 4 KiB, memcg charge, LRU, rmap): first write minus the rest of a first read's events, 1,382 ns a fault (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  vma_unmap: {
    cycles: 3010,
    source:
      "a VMA removed by munmap (maple tree, free_pgtables, vm_area_free): fitted over munmap at 11 sizes, 1..32,768 pages (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
  folio_free: {
    cycles: 294,
    source:
      "a folio unmapped and freed by zap (rmap removal, LRU and memcg release, back to the allocator): fitted over munmap at 11 sizes, 1..32,768 pages (`ptesim calibrate` on the project machine, AMD EPYC 2.6 GHz KVM guest, Linux 6.18, 2026-11-30, probes SCHED_FIFO pinned, load average ~19: examples/costs/epyc-kvm-linux-6.18.yaml)",
  },
};

/** The `costs:` section of a scenario: cycles per event, by counter name. */
export const CostsSchema = z.strictObject(
  Object.fromEntries(COUNTERS.map((c) => [c, z.number().min(0).max(1e9).optional()])) as Record<
    CounterName,
    z.ZodOptional<z.ZodNumber>
  >,
);
export type CostOverrides = z.output<typeof CostsSchema>;

export function costTable(overrides: CostOverrides = {}): Record<CounterName, number> {
  const t = {} as Record<CounterName, number>;
  for (const c of COUNTERS) t[c] = overrides[c] ?? DEFAULT_COSTS[c].cycles;
  return t;
}

/**
 * Total cycles of a ledger under its architecture's cost model: this table (with overrides) on
 * x86-64, ARM64_COSTS on arm64 (the same overrides apply to the events it charges).
 */
export function ledgerCycles(
  ledger: CostLedger,
  arch: ArchName,
  overrides: CostOverrides = NO_OVERRIDES,
): number {
  if (arch === "arm64") return arm64Cycles(ledger.totals(), overrides);
  // (Every run's result costs its ledger: the checker's runs share their scenario's table.)
  let table = tables.get(overrides);
  if (table === undefined) {
    table = costTable(overrides);
    tables.set(overrides, table);
  }
  return cycles(ledger, table);
}

const NO_OVERRIDES: CostOverrides = {};
/** Cost tables by their overrides object (scenarios' override objects are not changed). */
const tables = new WeakMap<CostOverrides, Record<CounterName, number>>();

/** Total cycles of a ledger (all CPUs, or one) under a cost table. */
export function cycles(ledger: CostLedger, table: Record<CounterName, number>, cpu?: number): number {
  let s = 0;
  COUNTERS.forEach((c, i) => {
    s += (cpu === undefined ? ledger.total(i) : ledger.get(cpu, i)) * table[c];
  });
  return s;
}
