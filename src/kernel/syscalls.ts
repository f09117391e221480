// @kernel-paths: the syscalls a CPU's program makes, as kernel paths (src/kernel/step.ts).
//
// fork is written at fine grain here: dup_mmap -> copy_page_range -> copy_pte_range ->
// copy_present_ptes, with the parent's entries write-protected by ptep_set_wrprotect (an
// atomic clear of R/W: the MMU may set D on another CPU at any moment) and the child's copies
// by pte_wrprotect, then flush_tlb_mm of the parent before mmap_lock is released; both mms then
// share the pages until a write fault copies them (do_wp_page in ./fault.ts).
//
// mprotect, munmap and mmap are in ./mprotect.ts; fork shares their prologue and epilogue.

import type { pte_t } from "../arch/types.js";
import { FRAME_DATA, type ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
import { syscall_enter, syscall_exit } from "./mprotect.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_MAYWRITE, VM_SHARED, type Vma } from "./vma.js";

/** is_cow_mapping: private and may become writable. */
function is_cow_mapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/**
 * fork() on `cpu` (kernel/fork.c, dup_mmap): the child's mm (VMAs copied, page tables filled by
 * copy_page_range for every private VMA; shared ones fault in from their object), then
 * flush_tlb_mm of the parent. Returns the child's mm; its CPUs join it with Kernel.attach.
 */
export function* sys_fork(k: Kernel, cpu: number): KStep<Kernel> {
  yield* syscall_enter(k, cpu, "fork");
  const child = k.dup_mm();
  for (const vma of k.as.vmas())
    if ((vma.flags & VM_SHARED) === 0) yield* copy_page_range(k, child, cpu, vma);
  // dup_mmap: flush_tlb_mm(oldmm) before the parent's mmap_lock is released.
  if (k.mutant !== "fork-skip-flush") {
    yield at(STEP.PV, -1);
    k.pv.flush_tlb_multi(k.mmCpumask(), { start: 0, end: 0, full: true });
  }
  yield* syscall_exit(k, cpu, "fork", 0);
  return child;
}

/** copy_page_range over one VMA: one PTE table (2 MiB) at a time. */
function* copy_page_range(k: Kernel, child: Kernel, cpu: number, vma: Vma): KStep {
  for (let addr = vma.start; addr < vma.end; ) {
    const src = k.walk(addr, false);
    if (src < 0) {
      addr = Math.min(vma.end, k.absentExtentEnd(addr));
      continue;
    }
    const next = Math.min(vma.end, (Math.floor(addr / 0x200000) + 1) * 0x200000);
    yield* copy_pte_range(k, child, cpu, vma, src, addr, next);
    addr = next;
  }
}

/**
 * copy_pte_range: the child's PTE lock, then the parent's (spin_lock_nested), lazy MMU mode,
 * and copy_present_ptes for each present entry.
 */
function* copy_pte_range(
  k: Kernel,
  child: Kernel,
  cpu: number,
  vma: Vma,
  src0: ptep_t,
  start: number,
  end: number,
): KStep {
  const dst0 = child.walk(start, true);
  yield at(STEP.LOCK, dst0);
  child.ptl_acquire(cpu, dst0);
  yield at(STEP.LOCK, src0);
  k.ptl_acquire(cpu, src0);
  for (let addr = start, i = 0; addr < end; addr += 4096, i++) {
    yield at(STEP.PTE_READ, src0 + i);
    const pte = k.machine.pteRead(cpu, src0 + i); // ptep_get
    if (k.arch.pte_none(pte) || !k.arch.pte_present(pte)) continue;
    yield* copy_present_pte(k, child, cpu, vma, addr, src0 + i, dst0 + i, pte);
  }
  k.ptl_release(cpu, src0);
  child.ptl_release(cpu, dst0);
}

/**
 * copy_present_pte: for a COW mapping, write-protect the parent's entry (ptep_set_wrprotect)
 * and the child's copy (pte_wrprotect); the page is now mapped by both (its mapcount counts
 * it), and the child's copy starts old.
 */
function* copy_present_pte(
  k: Kernel,
  child: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  src: ptep_t,
  dst: ptep_t,
  orig: pte_t,
): KStep {
  let pte = orig;
  if (is_cow_mapping(vma.flags) && k.arch.pte_write(pte)) {
    yield* ptep_set_wrprotect(k, cpu, src);
    pte = k.arch.pte_wrprotect(pte);
  }
  const pfn = k.arch.pte_pfn(pte);
  if (!k.arch.pte_special(pte) && k.machine.mem.kind[pfn] === FRAME_DATA)
    k.sharedFrames.set(pfn, k.mapcount(pfn) + 1); // folio_dup_file_rmap / folio_try_dup_anon_rmap
  pte = k.arch.pte_mkold(pte);
  yield at(STEP.PV, dst);
  child.pv.set_pte_at(addr, dst, pte);
}

/**
 * ptep_set_wrprotect (x86: clear_bit(_PAGE_BIT_RW), a locked read-modify-write): modelled as a
 * compare-exchange loop, each attempt one step, so an A or D bit the MMU sets meanwhile is kept.
 * The fork-wrprotect-rmw mutant does it as a plain load and store, which loses such a bit.
 */
export function* ptep_set_wrprotect(k: Kernel, cpu: number, ptep: ptep_t): KStep {
  const m = k.machine;
  yield at(STEP.PTE_READ, ptep);
  let old = m.pteRead(cpu, ptep);
  if (k.mutant === "fork-wrprotect-rmw") {
    yield at(STEP.PTE_WRITE, ptep);
    m.pteWrite(cpu, ptep, k.arch.pte_wrprotect(old));
    return;
  }
  for (;;) {
    yield at(STEP.PTE_CMPXCHG, ptep);
    const seen = m.pteCmpxchg(cpu, ptep, old, k.arch.pte_wrprotect(old));
    if (seen === old) return;
    old = seen;
  }
}
