// The kernel paths beyond mmap/munmap/mprotect and the fault handler: names shared by the kernel,
// the scenarios and the oracle (no code that touches PTEs lives here; see paths.ts for dispatch).

/**
 * Deliberately broken variants of the paths (scenario `kernel.mutant`), each the wrong version
 * of one step that the checker must catch:
 * - clear-soft-dirty-plain-rmw: clear_soft_dirty as a plain read and set_pte_at (no
 *   ptep_modify_prot_start/commit transaction): a D bit set in between is lost;
 * - softdirty-check-inverted: can_change_pte_writable tests VM_SOFTDIRTY the wrong way round
 *   (before Linux 76aefad628aa): mprotect makes a soft-clean entry writable;
 * - no-writenotify-after-softdirty-clear: vma_wants_writenotify ignores soft-dirty (before
 *   64e455079e1b): a shared read fault after clear_refs installs a writable, soft-clean entry;
 * - page-mkclean-no-flush: page_mkclean_one clears and write-protects but does not flush the TLB;
 * - page-mkclean-plain-rmw: page_mkclean_one as a plain read and set_pte_at (then the flush);
 * - madv-free-no-flush: madvise(MADV_FREE) cleans entries without tlb_remove_tlb_entry's flush;
 * - lazyfree-discard-plain-rmw: reclaim tests a lazyfree entry's D bit on a plain read and then
 *   clears it with a plain store;
 * - pte-accessible-ignores-flush-pending: x86 pte_accessible before 20841405940e (a PROT_NONE
 *   entry never counts as cached, even while change_protection's flush is pending);
 * - zap-flush-after-unlock: zap_pte_range leaves a dirty shared page's TLB flush to the end of
 *   the gather, after the PTE unlock (before 1cf35d47712d, 2014);
 * - zap-rmap-before-flush: the flush under the PTE lock, but the page's rmap removed before it
 *   (2014 to 5df397dec7c4, 2022): folio_mkclean finds it unmapped and does not wait;
 * - mremap-flush-after-unlock: move_ptes flushes a clean entry's old range after dropping the
 *   PTE locks (before eb66ae030829, 2018);
 * - mremap-no-force-flush: every entry's flush after the unlock (before 5d1904204c99, 2016);
 * - mremap-dirty-check-before-clear: the dirty test that forces the flush made on the entry read
 *   before ptep_get_and_clear (5d1904204c99 as first merged, 2016).
 */
export const PATH_MUTANTS = [
  "clear-soft-dirty-plain-rmw",
  "softdirty-check-inverted",
  "no-writenotify-after-softdirty-clear",
  "page-mkclean-no-flush",
  "page-mkclean-plain-rmw",
  "madv-free-no-flush",
  "lazyfree-discard-plain-rmw",
  "pte-accessible-ignores-flush-pending",
  "zap-flush-after-unlock",
  "zap-rmap-before-flush",
  "mremap-flush-after-unlock",
  "mremap-no-force-flush",
  "mremap-dirty-check-before-clear",
] as const;
export type PathMutant = (typeof PATH_MUTANTS)[number];

/** What the paths tell the oracle (KernelObserver.pathEvent). */
export type PathEvent =
  /** folio_referenced cleared the page's Accessed bit. */
  | { kind: "aged"; addr: number }
  /** Writeback stored the page's contents `value` in its backing store (the page is clean). */
  | { kind: "written-back"; addr: number; value: number }
  /** Reclaim dropped a clean shared page: a later fault reads `stored` back from the backing store. */
  | { kind: "evicted"; addr: number; stored: number }
  /** madvise(MADV_FREE) starts on [start, end): its pages become lazyfree. */
  | { kind: "madvise-free"; start: number; end: number }
  /** Reclaim discarded a clean lazyfree page: a later fault maps a zero-filled page. */
  | { kind: "discarded"; addr: number }
  /** An rmap path (reclaim, writeback: no mmap_lock) took the PTE lock of the entry `ptep` mapping `addr`. */
  | { kind: "rmap-walk"; addr: number; ptep: number }
  /** change_prot_numa starts on [start, end): PROT_NONE hinting entries there are legitimate. */
  | { kind: "numa-hinting"; start: number; end: number }
  /** mremap's move_ptes moved the entry mapping `from` to `to`: the page's contents go with it. */
  | { kind: "moved"; from: number; to: number };

/** Kernel work a CPU can run besides mprotect, munmap and fork (`syscalls:` on CPU 0, or program steps). */
export const PATH_CALLS = ["clear_refs", "madvise", "writeback", "reclaim", "change_prot_numa"] as const;
export type PathCall = (typeof PATH_CALLS)[number];

/** madvise advice values the model implements. */
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADVICE = { dontneed: MADV_DONTNEED, free: MADV_FREE } as const;
export type AdviceName = keyof typeof MADVICE;
