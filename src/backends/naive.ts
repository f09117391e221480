// The naive backend, deliberately wrong: start is a plain read and commit a plain store, so an
// A or D bit the MMU sets between the two is overwritten. This is the race the 2008 API exists
// to close; ptesim keeps it for teaching and to prove the checker finds it.

import type { BackendContext, BackendModule } from "../kernel/pvops.js";
import type { Vma } from "../kernel/vma.js";
import type { ptep_t } from "../machine/physmem.js";
import type { pte_t } from "../machine/pte.js";
import { NativeMmuOps } from "./native.js";

export class NaiveMmuOps extends NativeMmuOps {
  override readonly name = "naive";
  constructor(ctx: BackendContext) {
    super(ctx);
  }
  override ptep_modify_prot_start(_vma: Vma, _addr: number, ptep: ptep_t): pte_t {
    return this.ctx.read(ptep);
  }
}

export const naiveBackend: BackendModule = {
  name: "naive",
  description: "BROKEN on purpose: start = plain read, commit = plain store (loses concurrent A/D)",
  correct: false,
  stateless: true,
  create: (ctx) => new NaiveMmuOps(ctx),
};
