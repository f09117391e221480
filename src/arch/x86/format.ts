// x86-64 behind the arch interface, for now as an adapter over the existing definitions in
// src/machine/pte.ts and src/kernel/pgprot.ts (one source each; nothing is copied). The move of
// those definitions into src/arch/x86/ happens with the integration (docs/ARCH.md); until then
// this adapter lets arch-neutral code and tests treat both architectures alike.
import { vm_get_page_prot } from "../../kernel/pgprot.js";
import * as x86 from "../../machine/pte.js";
import type { ArchPteFormat, pte_t } from "../types.js";

type X = x86.pte_t;
const X = (v: pte_t): X => v as unknown as X;
const A = (v: X): pte_t => v as unknown as pte_t;

export const X86_PTE_FORMAT: ArchPteFormat = {
  arch: "x86-64",
  pte_none: (v) => x86.pte_none(X(v)),
  pte_present: (v) => x86.pte_present(X(v)),
  pte_protnone: (v) => x86.pte_protnone(X(v)),
  pte_valid: (v) => x86.pte_hw_present(X(v)),
  pte_pfn: (v) => x86.pte_pfn(X(v)),
  pfn_pte: (pfn, prot) => A(x86.pfn_pte(pfn, prot)),
  pte_dirty: (v) => x86.pte_dirty(X(v)),
  pte_young: (v) => x86.pte_young(X(v)),
  pte_write: (v) => x86.pte_write(X(v)),
  pte_user_exec: (v) => x86.pte_exec(X(v)) && x86.pte_user(X(v)),
  pte_special: (v) => x86.pte_special(X(v)),
  pte_mkwrite: (v) => A(x86.pte_mkwrite(X(v))),
  pte_wrprotect: (v) => A(x86.pte_wrprotect(X(v))),
  pte_mkdirty: (v) => A(x86.pte_mkdirty(X(v))),
  pte_mkclean: (v) => A(x86.pte_mkclean(X(v))),
  pte_mkyoung: (v) => A(x86.pte_mkyoung(X(v))),
  pte_mkold: (v) => A(x86.pte_mkold(X(v))),
  pte_mkspecial: (v) => A(x86.pte_mkspecial(X(v))),
  pte_modify: (v, prot) => A(x86.pte_modify(X(v), prot)),
  // The PFN sits in bits 12..31 of the packed value, so advancing it is an exact addition.
  pte_advance_pfn: (v, nr) => (v + nr * 4096) as pte_t,
  pte_needs_flush: (o, n) => x86.pte_needs_flush(X(o), X(n)),
  vm_get_page_prot,
  pteToHex: (v) => x86.pteToHex(X(v)),
  pteFromHex: (s) => {
    const v = x86.pteFromHex(s);
    return v === undefined ? undefined : A(v);
  },
  pteDescribe: (v) => x86.pteDescribe(X(v)),
};
