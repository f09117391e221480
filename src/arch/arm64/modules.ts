// The arm64 transaction backends (./backends.ts) as BackendModules the kernel drives: the
// pv_mmu_ops a generic kernel calls, implemented by arm64's asm/pgtable.h helpers
// (Arm64Pgtable) over the backend context's step primitives and broadcast TLB instructions.
// Every PTE access and every TLBI is one scheduling step of the kernel's CPU.
import type { Arm64BackendOps, BackendContext, BackendModule, PvMmuOps } from "../../kernel/pvops.js";
import { ARM64_BACKENDS, type Arm64TransactionBackend, arm64Pgtable } from "./backends.js";
import type { Arm64KernelContext } from "./pgtable.js";
import { CONT_PTES } from "./pte.js";
import { tlb_flush } from "./tlbflush.js";

/** The helpers' context from a backend context (which must be an arm64 machine's). */
export function arm64HelperContext(ctx: BackendContext, name: string): Arm64KernelContext {
  const a: Arm64BackendOps | undefined = ctx.arm64;
  if (a === undefined) throw new Error(`backend ${name} runs on arm64 only; this machine is x86-64`);
  return {
    read: (p) => ctx.read(p),
    write: (p, v) => ctx.write(p, v),
    xchg: (p, v) => ctx.xchg(p, v),
    cmpxchg: (p, e, v) => ctx.cmpxchg(p, e, v),
    tlbi_va: (va, last) => a.tlbi_va(va, last),
    tlbi_asid: () => a.tlbi_asid(),
    dsb: (kind) => a.dsb(kind),
    mm_tlb_flush_pending: () => a.mm_tlb_flush_pending(),
    // __contpte_try_fold's check: the folio of the block's first frame spans the whole block
    // (only anonymous mTHP folios of 64 KiB or more do: kernel.mthp in a scenario).
    folio_covers_block: (_addr, pfn) => {
      const head = a.folio_pfn(pfn);
      return head <= pfn && head + a.folio_nr_pages(pfn) >= pfn + CONT_PTES;
    },
  };
}

/** A BackendModule running `b`'s transaction and the arm64 helpers for everything else. */
export function arm64BackendModule(b: Arm64TransactionBackend): BackendModule {
  return {
    name: b.name,
    arch: "arm64",
    description: b.description,
    correct: b.correct,
    create(ctx: BackendContext): PvMmuOps {
      const hc = arm64HelperContext(ctx, b.name);
      const a = ctx.arm64 as Arm64BackendOps;
      const pg = arm64Pgtable(b, hc, a.erratum2645198);
      const ops: PvMmuOps = {
        name: b.name,
        ptep_modify_prot_start: (_vma, addr, ptep) => b.start(pg, addr, ptep, 1),
        ptep_modify_prot_commit: (_vma, addr, ptep, old, pte) => b.commit(pg, addr, ptep, old, pte, 1),
        set_pte_at: (addr, ptep, pte) => pg.set_pte_at(addr, ptep, pte),
        set_ptes: (addr, ptep, pte, nr) => pg.set_ptes(addr, ptep, pte, nr),
        ptep_get_and_clear: (addr, ptep) => pg.ptep_get_and_clear(addr, ptep),
        ptep_test_and_clear_young: (addr, ptep) => pg.ptep_test_and_clear_young(addr, ptep),
        ptep_set_access_flags: (_vma, addr, ptep, entry, dirty) =>
          pg.ptep_set_access_flags(addr, ptep, entry, dirty),
        // arm64's lazy MMU mode only defers barriers; every update here is in memory at once.
        arch_enter_lazy_mmu_mode() {},
        arch_leave_lazy_mmu_mode() {},
        arch_flush_lazy_mmu_mode() {},
        // tlb_flush of the mmu_gather: broadcast TLBI reaches every CPU of the inner-shareable
        // domain, so the CPU list and x86's full-flush ceiling play no part (no IPIs); the
        // range is flushed page by page below MAX_DVM_OPS pages, else by ASID. Page tables are
        // never freed here, so the invalidations are last-level ones.
        flush_tlb_multi: (_cpus, range) => tlb_flush(a, range.start, range.end, false),
      };
      if (b.batched) {
        ops.modify_prot_start_ptes = (_vma, addr, ptep, nr) => b.start(pg, addr, ptep, nr);
        ops.modify_prot_commit_ptes = (_vma, addr, ptep, old, pte, nr) =>
          b.commit(pg, addr, ptep, old, pte, nr);
      }
      return ops;
    },
  };
}

export const ARM64_BACKEND_MODULES: readonly BackendModule[] = ARM64_BACKENDS.map(arm64BackendModule);
