// @kernel-paths: generic page-table helpers the paths share (mm/pgtable-generic.c, x86's
// pte_accessible), as kernel paths (src/kernel/step.ts).
import type { pte_t } from "../arch/types.js";
import { CTR } from "../machine/ledger.js";
import type { ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
import { at, type KStep, STEP } from "./step.js";

/**
 * pte_accessible: may a TLB still cache this entry? One valid to the hardware, or a PROT_NONE
 * one while a change_protection flush is pending for the mm (the TLBs may still hold the entry
 * it replaced). The variant pte-accessible-ignores-flush-pending is x86's before 20841405940e.
 */
export function pte_accessible(k: Kernel, pte: pte_t): boolean {
  if (k.arch.pte_valid(pte)) return true;
  if (k.mutant === "pte-accessible-ignores-flush-pending") return false;
  return k.arch.pte_protnone(pte) && k.tlbFlushPending > 0;
}

/** pmd_addr_end: the end of the page table (2 MiB extent) holding `addr`, capped at `end`. */
export function pmd_addr_end(addr: number, end: number): number {
  return Math.min(end, (Math.floor(addr / 0x200000) + 1) * 0x200000);
}

/** ptep_clear_flush: atomically clear the entry, then flush its page if a TLB may cache it. */
export function* ptep_clear_flush(k: Kernel, _cpu: number, addr: number, ptep: ptep_t): KStep<pte_t> {
  yield at(STEP.PV, ptep);
  const old = k.pv.ptep_get_and_clear(addr, ptep);
  if (pte_accessible(k, old)) {
    yield at(STEP.PV, -1);
    k.flush_tlb_mm_range(addr, addr + 4096);
  }
  return old;
}

/** flush_tlb_page / flush_tlb_mm_range from a path. */
export function* flush_tlb_range(k: Kernel, _cpu: number, start: number, end: number): KStep {
  yield at(STEP.PV, -1);
  k.flush_tlb_mm_range(start, end);
}

/**
 * The paths' prologue on `cpu`: wait for mmap_lock (for read or write, or none for kernel work
 * that reaches pages through the rmap), then enter as `name` (counted as a syscall if it is one).
 */
export function* path_enter(
  k: Kernel,
  cpu: number,
  name: string,
  lock: "read" | "write" | "none",
  syscall: boolean,
): KStep {
  yield at(
    lock === "read" ? STEP.MMAP_LOCK_READ : lock === "write" ? STEP.MMAP_LOCK_WRITE : STEP.SYSCALL_ENTER,
    -1,
  );
  k.current = cpu;
  if (syscall) k.machine.ledger.add(cpu, CTR.syscall);
  k.observer?.syscallEnter?.(cpu, name);
  if (lock === "read") k.mmapReadLock(cpu);
  else if (lock === "write") k.mmapWriteLock(cpu);
}

/** The epilogue: the exit point, then the observer hears the result. */
export function* path_exit(k: Kernel, cpu: number, name: string, ret: number): KStep<number> {
  yield at(STEP.SYSCALL_EXIT, -1);
  k.observer?.syscallReturn?.(cpu, name, ret);
  return ret;
}
