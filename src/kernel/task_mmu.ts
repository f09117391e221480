// @kernel-paths: /proc/PID/clear_refs (fs/proc/task_mmu.c), CLEAR_REFS_SOFT_DIRTY: the second
// user of ptep_modify_prot_start/commit in Linux. Soft-dirty tracking needs the write fault that
// follows (x86 keeps _PAGE_SOFT_DIRTY in software: pte_mkdirty sets it, the MMU's D update does
// not), so clearing the bit also write-protects the entry; the transaction keeps the MMU's D bit.
import type { ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
import { path_enter, path_exit, pmd_addr_end } from "./pgtable.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_PFNMAP, type Vma } from "./vma.js";

/** "echo 4 > /proc/PID/clear_refs". */
export const CLEAR_REFS_SOFT_DIRTY = 4;

/**
 * clear_refs_write(CLEAR_REFS_SOFT_DIRTY) on `cpu`: mmap_lock for write (Linux since 2021 takes
 * it for write throughout), VM_SOFTDIRTY cleared on every VMA (vma_set_page_prot then makes
 * shared writable VMAs write-notify), inc_tlb_flush_pending, the page walk clearing each
 * present entry, then flush_tlb_mm. Returns 0. On an architecture without soft-dirty it does
 * nothing (as Linux without CONFIG_MEM_SOFT_DIRTY).
 */
export function* clear_refs_soft_dirty(k: Kernel, cpu: number): KStep<number> {
  yield* path_enter(k, cpu, "clear_refs", "write", true);
  let done = false;
  try {
    if (k.arch.pte_soft_dirty !== undefined) {
      k.as.clearSoftDirty();
      k.tlbFlushPending++;
      for (const vma of k.as.vmas()) {
        if ((vma.flags & VM_PFNMAP) !== 0) continue; // clear_refs_test_walk
        for (let addr = vma.start; addr < vma.end; ) {
          const ptep0 = k.walk(addr, false);
          if (ptep0 < 0) {
            addr = Math.min(vma.end, k.absentExtentEnd(addr));
            continue;
          }
          const next = pmd_addr_end(addr, vma.end);
          yield* clear_refs_pte_range(k, cpu, vma, ptep0, addr, next);
          addr = next;
        }
      }
      // flush_tlb_mm: every CPU of the mm drops its translations (the write-protection takes effect).
      yield at(STEP.PV, -1);
      k.pv.flush_tlb_multi(k.mmCpumask(), { start: 0, end: 0, full: true });
      k.tlbFlushPending--;
    }
    done = true;
  } finally {
    k.mmapWriteUnlock(done);
  }
  return yield* path_exit(k, cpu, "clear_refs", 0);
}

/** clear_refs_pte_range: the PTE lock, then clear_soft_dirty on each entry of the table. */
function* clear_refs_pte_range(
  k: Kernel,
  cpu: number,
  vma: Vma,
  ptep0: ptep_t,
  start: number,
  end: number,
): KStep {
  yield at(STEP.LOCK, ptep0);
  k.ptl_acquire(cpu, ptep0);
  try {
    for (let a = start, p = ptep0; a < end; a += 4096, p++) yield* clear_soft_dirty(k, cpu, vma, a, p);
  } finally {
    k.ptl_release(cpu, ptep0);
  }
}

/**
 * clear_soft_dirty for one entry, under its PTE lock: ptep_modify_prot_start, pte_wrprotect,
 * pte_clear_soft_dirty, ptep_modify_prot_commit. The variant clear-soft-dirty-plain-rmw is the
 * form of the first soft-dirty code (a plain read, then set_pte_at), which loses a D bit the
 * MMU sets in between.
 */
export function* clear_soft_dirty(k: Kernel, cpu: number, vma: Vma, addr: number, ptep: ptep_t): KStep {
  const arch = k.arch;
  const clear = arch.pte_clear_soft_dirty!;
  yield at(STEP.PTE_READ, ptep);
  const ptent = k.machine.pteRead(cpu, ptep); // ptep_get
  if (!arch.pte_present(ptent)) return; // (swap entries are not modelled)
  if (k.mutant === "clear-soft-dirty-plain-rmw") {
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, clear(arch.pte_wrprotect(ptent)));
    return;
  }
  yield at(STEP.PV, ptep);
  const old = k.ptep_modify_prot_start(vma, addr, ptep);
  yield at(STEP.PV, ptep);
  k.ptep_modify_prot_commit(vma, addr, ptep, old, clear(arch.pte_wrprotect(old)));
}
