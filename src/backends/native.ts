// The native backend: Linux's generic implementation. start = ptep_get_and_clear (an atomic
// exchange with 0: the entry is non-present, so the MMU cannot set A or D behind our back);
// commit = set_pte_at (a plain store of the new value). Lazy MMU mode is a no-op natively.

import type { BackendContext, BackendModule, FlushRange, PvMmuOps } from "../kernel/pvops.js";
import type { Vma } from "../kernel/vma.js";
import type { ptep_t } from "../machine/physmem.js";
import { _PAGE_ACCESSED, NULL_PTE, type pte_t, pteClearLow } from "../machine/pte.js";

export class NativeMmuOps implements PvMmuOps {
  readonly name: string = "native";
  constructor(protected readonly ctx: BackendContext) {}
  ptep_modify_prot_start(_vma: Vma, _addr: number, ptep: ptep_t): pte_t {
    return this.ctx.xchg(ptep, 0 as pte_t); // NULL_PTE, as a literal: fewer bytecodes
  }
  ptep_modify_prot_commit(_vma: Vma, _addr: number, ptep: ptep_t, _old: pte_t, pte: pte_t): void {
    this.ctx.write(ptep, pte);
  }
  set_pte_at(_addr: number, ptep: ptep_t, pte: pte_t): void {
    this.ctx.write(ptep, pte);
  }
  ptep_get_and_clear(_addr: number, ptep: ptep_t): pte_t {
    return this.ctx.xchg(ptep, NULL_PTE);
  }
  ptep_test_and_clear_young(_addr: number, ptep: ptep_t): boolean {
    // lock btr: retry the compare-exchange until it sticks.
    for (;;) {
      const v = this.ctx.read(ptep);
      if ((v & _PAGE_ACCESSED) === 0) return false;
      if (this.ctx.cmpxchg(ptep, v, pteClearLow(v, _PAGE_ACCESSED)) === v) return true;
    }
  }
  arch_enter_lazy_mmu_mode(): void {}
  arch_leave_lazy_mmu_mode(): void {}
  arch_flush_lazy_mmu_mode(): void {}
  flush_tlb_multi(cpus: readonly number[], range: FlushRange): void {
    this.ctx.nativeFlushTlbMulti(cpus, range);
  }
}

export const nativeBackend: BackendModule = {
  name: "native",
  description: "Linux generic: start = ptep_get_and_clear (xchg), commit = set_pte_at (store)",
  correct: true,
  stateless: true,
  create: (ctx) => new NativeMmuOps(ctx),
};
