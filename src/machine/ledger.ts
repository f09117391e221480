// Per-CPU event counters. Every count is an event the simulated machine, kernel or hypervisor
// actually performed; cycles are derived from them by a cost table (see costs.ts) at report time.

export const COUNTERS = [
  "pte_read", // plain loads of a PTE by software
  "pte_write", // plain stores
  "pte_xchg", // locked exchanges
  "pte_cmpxchg", // locked compare-exchanges (incl. atomic bit clears)
  "tlb_miss", // hardware page walks
  "hw_ad_update", // locked A/D updates by the MMU
  "page_fault", // #PF taken by a user access
  "tlb_invlpg", // single-page invalidations executed on some CPU
  "tlb_flush_all", // full flushes executed on some CPU
  "ipi", // shootdown interrupts sent
  // arm64's broadcast TLB maintenance (no IPIs), issued by kernel code on the counted CPU:
  "tlbi_va", // TLBI VALE1IS/VAE1IS, one page, every CPU of the inner-shareable domain
  "tlbi_asid", // TLBI ASIDE1IS, the whole address space
  "dsb_ish", // DSB ISH: waits for the TLBIs issued before it to complete everywhere
  "dsb_ishst", // DSB ISHST: orders the page-table stores before the TLBIs
  "trap_pt_write", // guest store to a read-only page table, trapped and emulated (Xen PV)
  "trap_pt_xchg", // guest locked op on a read-only page table, trapped and emulated (Xen PV)
  "hypercall", // hypervisor entries by hypercall (a multicall counts once)
  "multicall", // HYPERVISOR_multicall batches issued
  "mmu_update", // mmu_update requests applied
  "mmu_update_fast", // ... confined to NX/A/D/G/U/S/software bits
  "mmu_update_slow", // ... changing R/W or P (full validation)
  "cmpxchg_retry", // PRESERVE_AD loop retries
  "mmuext_op", // Xen MMUEXT operations (TLB flushes)
  "lazy_enter", // arch_enter_lazy_mmu_mode reaching the backend
  "lazy_flush", // queued updates issued on leave/flush
  // The kernel's own work around the PTE operations (counted where the kernel passes):
  "syscall", // system call entry and exit
  "mmap_lock", // mmap_write_lock/unlock taken by a syscall
  "vma_walk", // VMAs changed by mprotect (mprotect_fixup and change_protection's walk to the PMDs)
  "tlb_gather", // mmu_gather set-up and finish of an mprotect (tlb_gather_mmu, tlb_finish_mmu)
  "pte_lock", // page-table locks taken (pte_offset_map_lock ... pte_unmap_unlock)
  "folio_lookup", // vm_normal_folio of a present PTE by change_pte_range (one per folio batch)
  "can_change_pte_writable", // can_change_pte_writable checks by mprotect
  // Kernel metadata lines (PTE lines, struct pages) mprotect's walk touched with more than N MiB
  // of such lines touched since their previous touch (linecache.ts; consecutive, in tier order):
  "cache_beyond_1m",
  "cache_beyond_2m",
  "cache_beyond_4m",
  "cache_beyond_8m",
  "cache_beyond_16m",
  "cache_beyond_32m",
  // Folios made and unmade by the kernel (mm/memory.c):
  "folio_alloc", // a fault allocated a data folio (zeroed, or copied by wp_page_copy), charged, on the LRU, in the rmap
  "vma_unmap", // munmap removed a VMA (detached from the tree, page tables checked for freeing, vm_area_struct freed)
  "folio_free", // zap took a present page's mapping away (folio_remove_rmap_pte) and freed the folio after the flush
] as const;
export type CounterName = (typeof COUNTERS)[number];
export const NCOUNTERS = COUNTERS.length;
export const CTR = Object.fromEntries(COUNTERS.map((n, i) => [n, i])) as {
  readonly [K in CounterName]: number;
};

export class CostLedger {
  private readonly store: Float64Array;
  /**
   * `sync`, if given, is called before counts are read or reset: the machine keeps its most
   * frequent counts in plain fields on the hot path and folds them in then (Machine.foldCounts).
   */
  constructor(
    readonly ncpus: number,
    private readonly sync: (() => void) | null = null,
  ) {
    this.store = new Float64Array(ncpus * NCOUNTERS);
  }
  /** All counts, `counts[cpu * NCOUNTERS + counter]`, up to date as of this read. */
  get counts(): Float64Array {
    if (this.sync !== null) this.sync();
    return this.store;
  }
  add(cpu: number, counter: number, n = 1): void {
    this.store[cpu * NCOUNTERS + counter] += n;
  }
  get(cpu: number, counter: number): number {
    return this.counts[cpu * NCOUNTERS + counter];
  }
  total(counter: number): number {
    const counts = this.counts;
    let s = 0;
    for (let c = 0; c < this.ncpus; c++) s += counts[c * NCOUNTERS + counter];
    return s;
  }
  reset(): void {
    this.counts.fill(0);
  }
  /** A copy of the counts, and a return to one. */
  save(): Float64Array {
    return this.counts.slice();
  }
  restore(s: Float64Array): void {
    if (this.sync !== null) this.sync();
    this.store.set(s);
  }
  /** Totals by counter name, omitting zeros unless `all`. */
  totals(all = false): Partial<Record<CounterName, number>> {
    const out: Partial<Record<CounterName, number>> = {};
    for (let i = 0; i < NCOUNTERS; i++) {
      const t = this.total(i);
      if (all || t !== 0) out[COUNTERS[i]] = t;
    }
    return out;
  }
  perCpu(cpu: number): Partial<Record<CounterName, number>> {
    const out: Partial<Record<CounterName, number>> = {};
    for (let i = 0; i < NCOUNTERS; i++) {
      const t = this.get(cpu, i);
      if (t !== 0) out[COUNTERS[i]] = t;
    }
    return out;
  }
}
