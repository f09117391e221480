// @kernel-paths: NUMA balancing (mm/mprotect.c change_prot_numa, mm/memory.c do_numa_page):
// task_numa_work turns a range's entries into PROT_NONE hinting entries through the one
// change_protection loop (MM_CP_PROT_NUMA is a variation point of change_pte_range, see
// ./numa-flags.ts), and the next access faults into do_numa_page (./fault.ts), which migrates
// the page (the model has no node topology: every hinting fault on a private anonymous page
// finds it misplaced) or restores the entry.
import type { pte_t } from "../arch/types.js";
import { CTR } from "../machine/ledger.js";
import { FRAME_DATA, type ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
import { change_protection } from "./mprotect.js";
import { MM_CP_PROT_NUMA } from "./numa-flags.js";
import { path_enter, path_exit, ptep_clear_flush } from "./pgtable.js";
import { vma_page_prot } from "./softdirty.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_READ, VM_SHARED, VM_WRITE, type Vma } from "./vma.js";

/**
 * change_prot_numa over [start, end) on `cpu`, as task_numa_work runs it (mmap_lock for read,
 * so faults run meanwhile): one mmu_gather per VMA, whose tlb_flush_pending is what
 * pte_accessible consults until the deferred flush is done. Returns the entries changed.
 */
export function* change_prot_numa(k: Kernel, cpu: number, start: number, end: number): KStep<number> {
  yield* path_enter(k, cpu, "change_prot_numa", "read", false);
  let changed = 0;
  try {
    for (const vma of k.as.vmasIn(start, end)) {
      // task_numa_work skips VMAs nobody can access (and, in Linux, hugetlb and mixed maps).
      if ((vma.flags & (VM_READ | VM_WRITE)) === 0) continue;
      const s = Math.max(start, vma.start);
      const e = Math.min(end, vma.end);
      k.observer?.pathEvent?.(cpu, { kind: "numa-hinting", start: s, end: e });
      const gather = { start: Number.POSITIVE_INFINITY, end: 0 };
      k.tlbFlushPending++; // tlb_gather_mmu: inc_tlb_flush_pending
      k.machine.ledger.add(cpu, CTR.tlb_gather);
      changed += yield* change_protection(k, cpu, vma, s, e, MM_CP_PROT_NUMA, gather);
      if (gather.end > 0) {
        yield at(STEP.PV, -1);
        k.flush_tlb_mm_range(gather.start, gather.end); // tlb_finish_mmu
      }
      k.tlbFlushPending--;
    }
  } finally {
    k.mmapReadUnlock(cpu);
  }
  return yield* path_exit(k, cpu, "change_prot_numa", changed);
}

/**
 * do_numa_page's work on the hinting entry `pte`, with its PTE lock held and the entry
 * re-checked. A private anonymous page migrates: try_to_migrate_one's ptep_clear_flush (which
 * flushes only if pte_accessible), a copy to a new frame, and remove_migration_ptes's new entry
 * (read-only, as the hinting entry was: a write faults and reuses the page). Anything else gets
 * the VMA's protection back through the transaction, writable where mprotect would make it so.
 */
export function* migrate_or_restore(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  pte: pte_t,
): KStep {
  const a = k.arch;
  const mem = k.machine.mem;
  const prot = vma_page_prot(a, vma.flags, k.writenotifyIgnoresSoftDirty);
  const pfn = a.pte_pfn(pte);
  if (
    (vma.flags & VM_SHARED) === 0 &&
    !a.pte_special(pte) &&
    mem.kind[pfn] === FRAME_DATA &&
    k.mapcount(pfn) <= 1
  ) {
    const old = yield* ptep_clear_flush(k, cpu, addr, ptep);
    const npfn = mem.allocFrame(FRAME_DATA);
    mem.data[npfn] = mem.data[pfn]; // migrate_folio: copy the contents
    // The new entry keeps A, D and soft-dirty.
    const entry = a.pte_mkyoung(a.pte_modify(a.pte_advance_pfn(old, npfn - pfn), prot));
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, entry);
    if (k.folioDirty.delete(pfn)) k.folioDirty.add(npfn);
    mem.freeFrame(pfn); // the old folio goes back to the allocator
    return;
  }
  yield at(STEP.PV, ptep);
  const old = k.ptep_modify_prot_start(vma, addr, ptep);
  let entry = a.pte_mkyoung(a.pte_modify(old, prot));
  if (!a.pte_write(entry) && (vma.flags & VM_WRITE) !== 0 && k.can_change_pte_writable(vma, entry))
    entry = a.pte_mkwrite(entry);
  yield at(STEP.PV, ptep);
  k.ptep_modify_prot_commit(vma, addr, ptep, old, entry);
}
