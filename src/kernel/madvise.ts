// @kernel-paths: madvise(2) (mm/madvise.c): MADV_DONTNEED zaps the range, MADV_FREE makes
// private anonymous pages lazily freeable: their entries become clean and old but stay
// writable, so the MMU can dirty them again, and reclaim (rmap.ts) may discard a page only if
// nobody did.
import type { ptep_t } from "../machine/physmem.js";
import { EINVAL, ENOMEM } from "./errno.js";
import type { Kernel } from "./kernel.js";
import { zap_ranges } from "./mprotect.js";
import { MADV_DONTNEED, MADV_FREE } from "./paths-api.js";
import { path_enter, path_exit, pmd_addr_end } from "./pgtable.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_LOCKED, VM_MAYSHARE, VM_PFNMAP, VM_SHARED } from "./vma.js";

/**
 * madvise(addr, len, advice) on `cpu` for MADV_DONTNEED and MADV_FREE, under mmap_lock for read
 * (faults on other CPUs run meanwhile). Returns 0 or -errno (EINVAL for an unaligned start,
 * another advice, MADV_FREE on memory that is not private anonymous, or a locked/PFN-mapped
 * VMA; ENOMEM when part of the range is unmapped, after advising the mapped parts).
 */
export function* sys_madvise(
  k: Kernel,
  cpu: number,
  start: number,
  len: number,
  advice: number,
): KStep<number> {
  yield* path_enter(k, cpu, "madvise", "read", true);
  let ret: number;
  try {
    ret = yield* madvise(k, cpu, start, len, advice);
  } finally {
    k.mmapReadUnlock(cpu);
  }
  return yield* path_exit(k, cpu, "madvise", ret);
}

function* madvise(k: Kernel, cpu: number, start: number, len: number, advice: number): KStep<number> {
  if (start % 4096 !== 0 || (advice !== MADV_DONTNEED && advice !== MADV_FREE)) return -EINVAL;
  const end = start + Math.ceil(len / 4096) * 4096;
  if (end === start) return 0;
  const vmas = k.as.vmasIn(start, end);
  for (const v of vmas) {
    if ((v.flags & (VM_LOCKED | VM_PFNMAP)) !== 0) return -EINVAL; // can_madv_lru_vma
    if (advice === MADV_FREE && (v.flags & VM_SHARED) !== 0) return -EINVAL; // !vma_is_anonymous
  }
  let covered = 0;
  for (const v of vmas) {
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    covered += e - s;
    if (advice === MADV_DONTNEED) {
      // zap_page_range_single: the zap loop of munmap, keeping shared pages in their object.
      yield* zap_ranges(k, cpu, [{ start: s, end: e, shared: (v.flags & VM_MAYSHARE) !== 0 }], true);
    } else yield* madvise_free_single_vma(k, cpu, s, e);
  }
  return covered === end - start ? 0 : -ENOMEM; // a hole in the range
}

/**
 * madvise_free_single_vma -> madvise_free_pte_range: under each PTE lock in lazy MMU mode, every
 * present entry of a normal folio has its folio cleaned (folio_clear_dirty), and, if young or
 * dirty, its entry made old and clean (clear_young_dirty_ptes) and queued for the TLB flush
 * (tlb_remove_tlb_entry); the folio is marked lazyfree. The flush (tlb_finish_mmu) comes before
 * the call returns; without it (madv-free-no-flush) a CPU keeps a dirty writable translation and
 * its later writes leave the entry clean.
 */
export function* madvise_free_single_vma(k: Kernel, cpu: number, start: number, end: number): KStep {
  k.observer?.pathEvent?.(cpu, { kind: "madvise-free", start, end });
  const gather = { start: Number.POSITIVE_INFINITY, end: 0 };
  for (let addr = start; addr < end; ) {
    const ptep0 = k.walk(addr, false);
    if (ptep0 < 0) {
      addr = Math.min(end, k.absentExtentEnd(addr));
      continue;
    }
    const next = pmd_addr_end(addr, end);
    yield* madvise_free_pte_range(k, cpu, ptep0, addr, next, gather);
    addr = next;
  }
  if (gather.end > 0) {
    yield at(STEP.PV, -1);
    k.flush_tlb_mm_range(gather.start, gather.end);
  }
}

function* madvise_free_pte_range(
  k: Kernel,
  cpu: number,
  ptep0: ptep_t,
  start: number,
  end: number,
  gather: { start: number; end: number },
): KStep {
  const arch = k.arch;
  yield at(STEP.LOCK, ptep0);
  k.ptl_acquire(cpu, ptep0);
  k.lazy_mmu_mode_enable();
  try {
    for (let a = start, p = ptep0; a < end; a += 4096, p++) {
      yield at(STEP.PTE_READ, p);
      const ptent = k.machine.pteRead(cpu, p);
      if (arch.pte_none(ptent) || !arch.pte_present(ptent) || arch.pte_special(ptent)) continue;
      const pfn = arch.pte_pfn(ptent);
      k.folioDirty.delete(pfn); // folio_clear_dirty
      if (arch.pte_young(ptent) || arch.pte_dirty(ptent)) {
        yield* clear_young_dirty_ptes(k, cpu, a, p);
        if (k.mutant !== "madv-free-no-flush") {
          if (a < gather.start) gather.start = a;
          if (a + 4096 > gather.end) gather.end = a + 4096;
        }
      }
      k.lazyfree.add(pfn); // folio_mark_lazyfree
    }
  } finally {
    k.lazy_mmu_mode_disable();
    k.ptl_release(cpu, ptep0);
  }
}

/**
 * clear_young_dirty_ptes(CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY), the generic version: an atomic
 * get-and-clear (the MMU cannot set D in between: a write faults and waits for the PTE lock),
 * then the old, clean entry is installed, still writable.
 */
export function* clear_young_dirty_ptes(k: Kernel, _cpu: number, addr: number, ptep: ptep_t): KStep {
  yield at(STEP.PV, ptep);
  const old = k.pv.ptep_get_and_clear(addr, ptep);
  yield at(STEP.PV, ptep);
  k.pv.set_pte_at(addr, ptep, k.arch.pte_mkclean(k.arch.pte_mkold(old)));
}
