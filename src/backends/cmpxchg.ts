// A correct backend without clearing the entry: start is a plain read; commit installs the new
// value with a compare-exchange loop that re-ORs any A/D bits the MMU set since the read. This
// is what Xen's MMU_PT_UPDATE_PRESERVE_AD does inside the hypervisor, done natively; the entry
// stays valid throughout, so other CPUs never fault on it.
import type { BackendContext, BackendModule } from "../kernel/pvops.js";
import type { Vma } from "../kernel/vma.js";
import { CTR } from "../machine/ledger.js";
import type { ptep_t } from "../machine/physmem.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, type pte_t, pteSetLow } from "../machine/pte.js";
import { NativeMmuOps } from "./native.js";

const AD = _PAGE_ACCESSED | _PAGE_DIRTY;

export class CmpxchgMmuOps extends NativeMmuOps {
  override readonly name = "cmpxchg";
  constructor(ctx: BackendContext) {
    super(ctx);
  }
  override ptep_modify_prot_start(_vma: Vma, _addr: number, ptep: ptep_t): pte_t {
    return this.ctx.read(ptep);
  }
  override ptep_modify_prot_commit(_vma: Vma, _addr: number, ptep: ptep_t, old: pte_t, pte: pte_t): void {
    let cur = old;
    for (;;) {
      const want = pteSetLow(pte, cur & AD);
      const seen = this.ctx.cmpxchg(ptep, cur, want);
      if (seen === cur) return;
      this.ctx.count(CTR.cmpxchg_retry);
      cur = seen;
    }
  }
}

export const cmpxchgBackend: BackendModule = {
  name: "cmpxchg",
  description: "start = plain read, commit = cmpxchg loop keeping A/D set since (PRESERVE_AD done natively)",
  correct: true,
  stateless: true,
  create: (ctx) => new CmpxchgMmuOps(ctx),
};
