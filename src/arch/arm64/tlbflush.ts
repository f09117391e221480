// arm64 TLB maintenance as arch/arm64/include/asm/tlbflush.h issues it: broadcast TLBI
// instructions to the inner-shareable domain, completed by DSB ISH; no IPIs.
import { PAGE_SHIFT, PAGE_SIZE } from "../types.js";

/** The instructions kernel code can issue (the machine executes them; each is one step). */
export interface Arm64TlbOps {
  /** TLBI VALE1IS (lastLevel) or VAE1IS for one page of the mm's ASID. */
  tlbi_va(vaddr: number, lastLevel: boolean): void;
  /** TLBI ASIDE1IS: every entry of the mm's ASID. */
  tlbi_asid(): void;
  dsb(kind: "ish" | "ishst"): void;
}

/**
 * MAX_DVM_OPS = PTRS_PER_PTE: a range of this many pages or more is flushed by ASID instead of
 * page by page (__flush_tlb_range_limit_excess, without FEAT_TLBIRANGE).
 */
export const MAX_DVM_OPS = 512;

/** flush_tlb_mm: DSB ISHST; TLBI ASIDE1IS; DSB ISH. */
export function flush_tlb_mm(t: Arm64TlbOps): void {
  t.dsb("ishst");
  t.tlbi_asid();
  t.dsb("ish");
}

/**
 * __flush_tlb_range_nosync: DSB ISHST, then one TLBI per page, or the whole ASID when the range
 * has MAX_DVM_OPS pages or more. Range TLBIs (FEAT_TLBIRANGE) are not modelled: they would turn
 * the per-page loop into a few instructions (an assumption to revisit with cost data).
 */
export function __flush_tlb_range_nosync(
  t: Arm64TlbOps,
  start: number,
  end: number,
  lastLevel: boolean,
): void {
  const first = Math.floor(start / PAGE_SIZE);
  const pages = Math.ceil(end / PAGE_SIZE) - first;
  if (pages <= 0) return;
  if (pages >= MAX_DVM_OPS) {
    flush_tlb_mm(t); // as Linux does, including its DSB ISH
    return;
  }
  t.dsb("ishst");
  for (let i = 0; i < pages; i++) t.tlbi_va((first + i) * 2 ** PAGE_SHIFT, lastLevel);
}

/** __flush_tlb_range: the same, then DSB ISH so every CPU has finished before returning. */
export function __flush_tlb_range(t: Arm64TlbOps, start: number, end: number, lastLevel: boolean): void {
  if (Math.ceil(end / PAGE_SIZE) <= Math.floor(start / PAGE_SIZE)) return;
  __flush_tlb_range_nosync(t, start, end, lastLevel);
  t.dsb("ish");
}

/** flush_tlb_range(vma, start, end): not last-level only (it may cover freed tables). */
export function flush_tlb_range(t: Arm64TlbOps, start: number, end: number): void {
  __flush_tlb_range(t, start, end, false);
}

/** __flush_tlb_page_nosync: DSB ISHST; TLBI VALE1IS. */
export function flush_tlb_page_nosync(t: Arm64TlbOps, addr: number): void {
  t.dsb("ishst");
  t.tlbi_va(addr, true);
}

/** flush_tlb_page: the same, then DSB ISH. */
export function flush_tlb_page(t: Arm64TlbOps, addr: number): void {
  flush_tlb_page_nosync(t, addr);
  t.dsb("ish");
}

/**
 * tlb_flush (asm/tlb.h) for a non-fullmm mmu_gather of [start, end): last-level invalidations
 * unless page tables were freed.
 */
export function tlb_flush(t: Arm64TlbOps, start: number, end: number, freedTables: boolean): void {
  __flush_tlb_range(t, start, end, !freedTables);
}
