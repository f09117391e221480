// The arm64 kernel's page-table helpers, as arch/arm64 writes them: the private __ptep_*
// primitives of asm/pgtable.h, the contpte layer of arch/arm64/mm/contpte.c, the public API that
// core mm calls (with or without CONFIG_ARM64_CONTPTE), ptep_set_access_flags from mm/fault.c,
// the transaction of mm/mmu.c (ptep_modify_prot_start/commit and the Linux 6.17 batched
// modify_prot_start_ptes/commit_ptes, with the Cortex-A715 erratum 2645198 workaround) and the
// generic ptep_clear_flush of mm/pgtable-generic.c.
//
// Every access to a PTE goes through the context's step primitives (read/write/xchg/cmpxchg),
// so each is one schedulable step and the checker can run hardware updates between any two;
// TLB maintenance goes through the context's TLBI/DSB instructions.
import { PAGE_SIZE, type PteStepOps, type pte_t, type ptep_t } from "../types.js";
import {
  CONT_PTE_SIZE,
  CONT_PTES,
  clear_pte_bit,
  PTE_AF,
  PTE_DIRTY,
  PTE_RDONLY,
  PTE_WRITE,
  pfn_pte,
  pte_accessible,
  pte_advance_pfn,
  pte_cont,
  pte_dirty,
  pte_keep_bits,
  pte_mkclean,
  pte_mkcont,
  pte_mkdirty,
  pte_mknoncont,
  pte_mkold,
  pte_mkyoung,
  pte_pfn,
  pte_pgprot,
  pte_same,
  pte_special,
  pte_user_exec,
  pte_valid,
  pte_valid_cont,
  pte_write,
  pte_wrprotect,
  pte_young,
  pteHas,
  set_pte_bit,
} from "./pte.js";
import { __flush_tlb_range, __flush_tlb_range_nosync, type Arm64TlbOps, flush_tlb_page } from "./tlbflush.js";

/** What the helpers need from the machine and the generic kernel. */
export interface Arm64KernelContext extends PteStepOps, Arm64TlbOps {
  /** mm_tlb_flush_pending(mm): a deferred TLB flush of this mm is outstanding (mmu_gather). */
  mm_tlb_flush_pending(): boolean;
  /**
   * Whether the CONT_PTES pages from `addr` (64 KiB aligned) map one folio starting at `pfn`
   * (__contpte_try_fold folds only a block covered by a single folio).
   */
  folio_covers_block(addr: number, pfn: number): boolean;
}

/** Deliberate bugs in the helpers (the backends' own mutants live in backends.ts). */
export const ARM64_HELPER_MUTANTS = [
  /** contpte_convert rewrites the block in place: no invalid entries, no TLBI before the new ones. */
  "unfold-without-bbm",
  /** __ptep_set_access_flags as before commit 6d332747fa5f (2018): PTE_RDONLY from `entry`. */
  "set-access-flags-pre-2018",
] as const;
export type Arm64HelperMutant = (typeof ARM64_HELPER_MUTANTS)[number];

export interface Arm64PgtableOptions {
  /** CONFIG_ARM64_CONTPTE: the public API manages PTE_CONT transparently. */
  contpte: boolean;
  /** ARM64_WORKAROUND_2645198 (Cortex-A715): break-before-make when exec permission is removed. */
  erratum2645198: boolean;
  mutants?: readonly Arm64HelperMutant[];
}

const PAGE = PAGE_SIZE;

function contpte_align_down(ptep: ptep_t): ptep_t {
  return ptep - (ptep % CONT_PTES);
}
function alignDownAddr(addr: number): number {
  return addr - (addr % CONT_PTE_SIZE);
}
/** pte_cont_addr_end(addr, end). */
function pte_cont_addr_end(addr: number, end: number): number {
  return Math.min(alignDownAddr(addr) + CONT_PTE_SIZE, end);
}

/**
 * contpte_ptep_get's gathering over any reader: kernel code reads through its step primitives;
 * the oracle and timelines read side-effect free (see `ptep_get_peek`).
 */
export function contpte_gather(read: (ptep: ptep_t) => pte_t, ptep: ptep_t, orig: pte_t): pte_t {
  const start = contpte_align_down(ptep);
  for (let i = 0; i < CONT_PTES; i++) {
    const pte = read(start + i);
    if (pte_dirty(pte)) orig = pte_mkdirty(orig);
    if (pte_young(pte)) orig = pte_mkyoung(orig);
  }
  return orig;
}

/**
 * The entry as core mm sees it through ptep_get (A/D gathered over a contpte block when
 * CONFIG_ARM64_CONTPTE), read without side effects: what properties such as lost-dirty judge.
 */
export function ptep_get_peek(peek: (ptep: ptep_t) => pte_t, ptep: ptep_t, contpte: boolean): pte_t {
  const pte = peek(ptep);
  return contpte && pte_valid_cont(pte) ? contpte_gather(peek, ptep, pte) : pte;
}

export class Arm64Pgtable {
  readonly contpte: boolean;
  readonly erratum2645198: boolean;
  private readonly noBbm: boolean;
  private readonly preFixAccessFlags: boolean;

  constructor(
    readonly ctx: Arm64KernelContext,
    opts: Arm64PgtableOptions,
  ) {
    this.contpte = opts.contpte;
    this.erratum2645198 = opts.erratum2645198;
    const m = opts.mutants ?? [];
    this.noBbm = m.includes("unfold-without-bbm");
    this.preFixAccessFlags = m.includes("set-access-flags-pre-2018");
  }

  // ================================================================ private primitives

  __ptep_get(ptep: ptep_t): pte_t {
    return this.ctx.read(ptep);
  }
  /** __set_pte (the DSB/ISB for valid kernel entries does not apply to user entries). */
  __set_pte(ptep: ptep_t, pte: pte_t): void {
    this.ctx.write(ptep, pte);
  }
  __set_ptes(_addr: number, ptep: ptep_t, pte: pte_t, nr: number): void {
    for (;;) {
      this.__set_pte(ptep, pte);
      if (--nr === 0) break;
      ptep++;
      pte = pte_advance_pfn(pte, 1);
    }
  }
  __ptep_get_and_clear(_addr: number, ptep: ptep_t): pte_t {
    return this.ctx.xchg(ptep, 0 as pte_t);
  }
  __clear_full_ptes(addr: number, ptep: ptep_t, nr: number): void {
    for (;;) {
      this.__ptep_get_and_clear(addr, ptep);
      if (--nr === 0) break;
      ptep++;
      addr += PAGE;
    }
  }
  /** Clear `nr` entries, returning the first with the dirty and young of all of them. */
  __get_and_clear_full_ptes(addr: number, ptep: ptep_t, nr: number): pte_t {
    let pte = this.__ptep_get_and_clear(addr, ptep);
    while (--nr) {
      ptep++;
      addr += PAGE;
      const tmp = this.__ptep_get_and_clear(addr, ptep);
      if (pte_dirty(tmp)) pte = pte_mkdirty(pte);
      if (pte_young(tmp)) pte = pte_mkyoung(pte);
    }
    return pte;
  }
  /** A cmpxchg loop clearing PTE_AF; returns whether it was set. */
  __ptep_test_and_clear_young(_addr: number, ptep: ptep_t): boolean {
    let pte = this.__ptep_get(ptep);
    let old: pte_t;
    do {
      old = pte;
      pte = this.ctx.cmpxchg(ptep, old, pte_mkold(old));
    } while (pte !== old);
    return pte_young(pte);
  }
  /** The TLBI without its trailing DSB: a CPU may use the young entry until its next DSB. */
  __ptep_clear_flush_young(addr: number, ptep: ptep_t): boolean {
    const young = this.__ptep_test_and_clear_young(addr, ptep);
    if (young) {
      this.ctx.dsb("ishst");
      this.ctx.tlbi_va(addr, true);
    }
    return young;
  }
  /** The cmpxchg loop of ___ptep_set_wrprotect: pte_wrprotect moves hardware dirty into PTE_DIRTY. */
  ___ptep_set_wrprotect(_addr: number, ptep: ptep_t, pte: pte_t): void {
    let old: pte_t;
    do {
      old = pte;
      pte = this.ctx.cmpxchg(ptep, old, pte_wrprotect(old));
    } while (pte !== old);
  }
  __ptep_set_wrprotect(addr: number, ptep: ptep_t): void {
    this.___ptep_set_wrprotect(addr, ptep, this.__ptep_get(ptep));
  }
  __wrprotect_ptes(addr: number, ptep: ptep_t, nr: number): void {
    for (let i = 0; i < nr; i++, addr += PAGE, ptep++) this.__ptep_set_wrprotect(addr, ptep);
  }

  /**
   * __ptep_set_access_flags (arch/arm64/mm/fault.c): make the entry at most as permissive as
   * `entry` in AF, PTE_WRITE, PTE_DIRTY and PTE_RDONLY, with a cmpxchg loop so that a concurrent
   * hardware AF/DBM update is not lost; PTE_RDONLY ends up the most permissive (lowest) of the
   * current value and `entry`. Flushes a stale read-only TLB entry when `dirty`.
   */
  __ptep_set_access_flags(addr: number, ptep: ptep_t, entry: pte_t, dirty: boolean): boolean {
    const pte = this.__ptep_get(ptep);
    if (pte_same(pte, entry)) return false;
    // Only the access flags and the write permission are taken from `entry`.
    const flags = pte_keep_bits(entry, PTE_RDONLY + PTE_AF + PTE_WRITE + PTE_DIRTY);
    let pteval = pte;
    let old: pte_t;
    if (this.preFixAccessFlags) {
      // Before 6d332747fa5f (reconstructed from its description): PTE_RDONLY is cleared and then
      // set back from `entry` alone when entry is read-only or clean, so an AP[2] the hardware
      // cleared meanwhile (a DBM dirty update) is set again and the dirty state is lost.
      let e = clear_pte_bit(flags, PTE_RDONLY);
      if (!pte_write(e) || !pteHas(e, PTE_DIRTY)) e = set_pte_bit(e, PTE_RDONLY);
      do {
        old = pteval;
        pteval = this.ctx.cmpxchg(ptep, old, set_pte_bit(clear_pte_bit(old, PTE_RDONLY), e));
      } while (pteval !== old);
    } else {
      // Linux: entry ^= RDONLY; loop { v ^= RDONLY; v |= entry; v ^= RDONLY }, i.e. the other
      // flags are ORed in and PTE_RDONLY becomes RDONLY(v) & RDONLY(entry): the most permissive.
      const entryRdonly = pteHas(flags, PTE_RDONLY);
      const others = clear_pte_bit(flags, PTE_RDONLY);
      do {
        old = pteval;
        let nv = set_pte_bit(old, others);
        if (!entryRdonly) nv = clear_pte_bit(nv, PTE_RDONLY);
        pteval = this.ctx.cmpxchg(ptep, old, nv);
      } while (pteval !== old);
    }
    if (dirty) flush_tlb_page(this.ctx, addr); // invalidate a stale read-only entry
    return true;
  }

  // ================================================================ contpte layer

  /** Unfold the blocks that the range [ptep, ptep + nr) covers only partly. */
  contpte_try_unfold_partial(addr: number, ptep: ptep_t, nr: number): void {
    if (ptep !== contpte_align_down(ptep) || nr < CONT_PTES)
      this.contpte_try_unfold(addr, ptep, this.__ptep_get(ptep));
    if (ptep + nr !== contpte_align_down(ptep + nr)) {
      const lastAddr = addr + PAGE * (nr - 1);
      const lastPtep = ptep + nr - 1;
      this.contpte_try_unfold(lastAddr, lastPtep, this.__ptep_get(lastPtep));
    }
  }

  /**
   * contpte_convert: repaint a whole block with `pte`'s attributes by break-before-make: clear
   * all CONT_PTES entries (gathering dirty and young), invalidate the block's translations,
   * then write the new entries.
   */
  contpte_convert(addr: number, ptep: ptep_t, pte: pte_t): void {
    const startPtep = contpte_align_down(ptep);
    const startAddr = alignDownAddr(addr);
    pte = pfn_pte(pte_pfn(pte) - (pte_pfn(pte) % CONT_PTES), pte_pgprot(pte));
    if (this.noBbm) {
      // Mutant: read every entry, then rewrite each in place; never invalid, no TLBI.
      for (let i = 0; i < CONT_PTES; i++) {
        const ptent = this.__ptep_get(startPtep + i);
        if (pte_dirty(ptent)) pte = pte_mkdirty(pte);
        if (pte_young(ptent)) pte = pte_mkyoung(pte);
      }
      this.__set_ptes(startAddr, startPtep, pte, CONT_PTES);
      return;
    }
    let a = startAddr;
    for (let i = 0; i < CONT_PTES; i++, a += PAGE) {
      const ptent = this.__ptep_get_and_clear(a, startPtep + i);
      if (pte_dirty(ptent)) pte = pte_mkdirty(pte);
      if (pte_young(ptent)) pte = pte_mkyoung(pte);
    }
    __flush_tlb_range(this.ctx, startAddr, a, true);
    this.__set_ptes(startAddr, startPtep, pte, CONT_PTES);
  }

  /**
   * __contpte_try_fold: the block is foldable when one folio covers it and all entries are valid
   * with consecutive PFNs and equal attributes ignoring access and dirty.
   */
  __contpte_try_fold(addr: number, ptep: ptep_t, pte: pte_t): void {
    const blockAddr = alignDownAddr(addr);
    const pfn = pte_pfn(pte) - (pte_pfn(pte) % CONT_PTES);
    if (!this.ctx.folio_covers_block(blockAddr, pfn)) return;
    let expected = pfn_pte(pfn, pte_pgprot(pte_mkold(pte_mkclean(pte))));
    const start = contpte_align_down(ptep);
    for (let i = 0; i < CONT_PTES; i++) {
      const sub = pte_mkold(pte_mkclean(this.__ptep_get(start + i)));
      if (!pte_same(sub, expected)) return;
      expected = pte_advance_pfn(expected, 1);
    }
    this.contpte_convert(addr, ptep, pte_mkcont(pte));
  }
  __contpte_try_unfold(addr: number, ptep: ptep_t, pte: pte_t): void {
    this.contpte_convert(addr, ptep, pte_mknoncont(pte));
  }
  /** Try only at the last entry of an aligned block (the core mostly maps low to high). */
  contpte_try_fold(addr: number, ptep: ptep_t, pte: pte_t): void {
    const mask = CONT_PTES - 1;
    if ((Math.floor(addr / PAGE) & mask) !== mask) return;
    if ((pte_pfn(pte) & mask) === mask && pte_valid(pte) && !pte_cont(pte) && !pte_special(pte))
      this.__contpte_try_fold(addr, ptep, pte);
  }
  contpte_try_unfold(addr: number, ptep: ptep_t, pte: pte_t): void {
    if (pte_valid_cont(pte)) this.__contpte_try_unfold(addr, ptep, pte);
  }

  /** Gather access and dirty from every entry of the block into `orig` (the PTL is held). */
  contpte_ptep_get(ptep: ptep_t, orig: pte_t): pte_t {
    return contpte_gather((p) => this.__ptep_get(p), ptep, orig);
  }

  /** contpte_set_ptes: nr > 1 entries, all initially not present; PTE_CONT on whole aligned blocks. */
  contpte_set_ptes(addr: number, ptep: ptep_t, pte: pte_t, nr: number): void {
    const end = addr + nr * PAGE;
    let pfn = pte_pfn(pte);
    const prot = pte_pgprot(pte);
    do {
      const next = pte_cont_addr_end(addr, end);
      const n = (next - addr) / PAGE;
      let p = pfn_pte(pfn, prot);
      const aligned =
        addr % CONT_PTE_SIZE === 0 && next % CONT_PTE_SIZE === 0 && (pfn * PAGE) % CONT_PTE_SIZE === 0;
      p = aligned ? pte_mkcont(p) : pte_mknoncont(p);
      this.__set_ptes(addr, ptep, p, n);
      addr = next;
      ptep += n;
      pfn += n;
    } while (addr !== end);
  }
  contpte_get_and_clear_full_ptes(addr: number, ptep: ptep_t, nr: number): pte_t {
    this.contpte_try_unfold_partial(addr, ptep, nr);
    return this.__get_and_clear_full_ptes(addr, ptep, nr);
  }
  /** Clears young for the whole block (core mm tracks access per folio), avoiding an unfold. */
  contpte_ptep_test_and_clear_young(addr: number, ptep: ptep_t): boolean {
    const start = contpte_align_down(ptep);
    let a = alignDownAddr(addr);
    let young = false;
    for (let i = 0; i < CONT_PTES; i++, a += PAGE)
      if (this.__ptep_test_and_clear_young(a, start + i)) young = true;
    return young;
  }
  contpte_ptep_clear_flush_young(addr: number, ptep: ptep_t): boolean {
    const young = this.contpte_ptep_test_and_clear_young(addr, ptep);
    if (young) {
      const a = alignDownAddr(addr);
      __flush_tlb_range_nosync(this.ctx, a, a + CONT_PTE_SIZE, true);
    }
    return young;
  }
  contpte_wrprotect_ptes(addr: number, ptep: ptep_t, nr: number): void {
    this.contpte_try_unfold_partial(addr, ptep, nr);
    this.__wrprotect_ptes(addr, ptep, nr);
  }
  contpte_ptep_set_access_flags(addr: number, ptep: ptep_t, entry: pte_t, dirty: boolean): boolean {
    const orig = pte_mknoncont(this.ptep_get(ptep));
    if (orig === entry) return false;
    if (pte_write(orig) === pte_write(entry)) {
      // Fix up access/dirty on every entry without unfolding; one flush for the block.
      const start = contpte_align_down(ptep);
      const startAddr = alignDownAddr(addr);
      let a = startAddr;
      for (let i = 0; i < CONT_PTES; i++, a += PAGE) this.__ptep_set_access_flags(a, start + i, entry, false);
      if (dirty) __flush_tlb_range(this.ctx, startAddr, a, true);
    } else {
      this.__contpte_try_unfold(addr, ptep, orig);
      this.__ptep_set_access_flags(addr, ptep, entry, dirty);
    }
    return true;
  }

  // ================================================================ the public API

  ptep_get(ptep: ptep_t): pte_t {
    const pte = this.__ptep_get(ptep);
    if (!this.contpte || !pte_valid_cont(pte)) return pte;
    return this.contpte_ptep_get(ptep, pte);
  }
  set_ptes(addr: number, ptep: ptep_t, pte: pte_t, nr: number): void {
    if (!this.contpte) this.__set_ptes(addr, ptep, pte, nr);
    else if (nr === 1) {
      pte = pte_mknoncont(pte);
      this.contpte_try_unfold(addr, ptep, this.__ptep_get(ptep));
      this.__set_ptes(addr, ptep, pte, 1);
      this.contpte_try_fold(addr, ptep, pte);
    } else this.contpte_set_ptes(addr, ptep, pte_mknoncont(pte), nr);
  }
  set_pte_at(addr: number, ptep: ptep_t, pte: pte_t): void {
    this.set_ptes(addr, ptep, pte, 1);
  }
  pte_clear(addr: number, ptep: ptep_t): void {
    if (this.contpte) this.contpte_try_unfold(addr, ptep, this.__ptep_get(ptep));
    this.__set_pte(ptep, 0 as pte_t);
  }
  get_and_clear_full_ptes(addr: number, ptep: ptep_t, nr: number): pte_t {
    if (!this.contpte) return this.__get_and_clear_full_ptes(addr, ptep, nr);
    if (nr === 1) {
      this.contpte_try_unfold(addr, ptep, this.__ptep_get(ptep));
      return this.__get_and_clear_full_ptes(addr, ptep, 1);
    }
    return this.contpte_get_and_clear_full_ptes(addr, ptep, nr);
  }
  ptep_get_and_clear(addr: number, ptep: ptep_t): pte_t {
    if (this.contpte) this.contpte_try_unfold(addr, ptep, this.__ptep_get(ptep));
    return this.__ptep_get_and_clear(addr, ptep);
  }
  ptep_test_and_clear_young(addr: number, ptep: ptep_t): boolean {
    if (this.contpte && pte_valid_cont(this.__ptep_get(ptep)))
      return this.contpte_ptep_test_and_clear_young(addr, ptep);
    return this.__ptep_test_and_clear_young(addr, ptep);
  }
  ptep_clear_flush_young(addr: number, ptep: ptep_t): boolean {
    if (this.contpte && pte_valid_cont(this.__ptep_get(ptep)))
      return this.contpte_ptep_clear_flush_young(addr, ptep);
    return this.__ptep_clear_flush_young(addr, ptep);
  }
  wrprotect_ptes(addr: number, ptep: ptep_t, nr: number): void {
    if (!this.contpte) this.__wrprotect_ptes(addr, ptep, nr);
    else if (nr === 1) {
      let orig = this.__ptep_get(ptep);
      if (pte_cont(orig)) {
        this.__contpte_try_unfold(addr, ptep, orig);
        orig = pte_mknoncont(orig);
      }
      this.___ptep_set_wrprotect(addr, ptep, orig);
    } else this.contpte_wrprotect_ptes(addr, ptep, nr);
  }
  ptep_set_wrprotect(addr: number, ptep: ptep_t): void {
    this.wrprotect_ptes(addr, ptep, 1);
  }
  ptep_set_access_flags(addr: number, ptep: ptep_t, entry: pte_t, dirty: boolean): boolean {
    if (!this.contpte) return this.__ptep_set_access_flags(addr, ptep, entry, dirty);
    const orig = this.__ptep_get(ptep);
    entry = pte_mknoncont(entry);
    if (!pte_valid_cont(orig)) return this.__ptep_set_access_flags(addr, ptep, entry, dirty);
    return this.contpte_ptep_set_access_flags(addr, ptep, entry, dirty);
  }
  /** mm/pgtable-generic.c ptep_clear_flush: clear, then flush if the entry could be in a TLB. */
  ptep_clear_flush(addr: number, ptep: ptep_t): pte_t {
    const pte = this.ptep_get_and_clear(addr, ptep);
    if (pte_accessible(pte, this.ctx.mm_tlb_flush_pending())) flush_tlb_page(this.ctx, addr);
    return pte;
  }

  // ================================================================ the transaction (mm/mmu.c)

  /**
   * modify_prot_start_ptes (Linux 6.17): get_and_clear_ptes over `nr` entries (one folio),
   * gathering dirty and young; under the erratum 2645198 workaround, an accessible executable
   * entry is invalidated in the TLB before the new one is made (break-before-make).
   */
  modify_prot_start_ptes(addr: number, ptep: ptep_t, nr: number): pte_t {
    const pte = this.get_and_clear_full_ptes(addr, ptep, nr);
    if (this.erratum2645198 && pte_accessible(pte, this.ctx.mm_tlb_flush_pending()) && pte_user_exec(pte))
      __flush_tlb_range(this.ctx, addr, addr + nr * PAGE, true);
    return pte;
  }
  ptep_modify_prot_start(addr: number, ptep: ptep_t): pte_t {
    return this.modify_prot_start_ptes(addr, ptep, 1);
  }
  /** modify_prot_commit_ptes: set_ptes (which may fold a whole block back into PTE_CONT). */
  modify_prot_commit_ptes(addr: number, ptep: ptep_t, _old: pte_t, pte: pte_t, nr: number): void {
    this.set_ptes(addr, ptep, pte, nr);
  }
  ptep_modify_prot_commit(addr: number, ptep: ptep_t, old: pte_t, pte: pte_t): void {
    this.modify_prot_commit_ptes(addr, ptep, old, pte, 1);
  }
}
