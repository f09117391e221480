// x86-64 behind the arch interface: the definitions of ./pte.ts and ./pgprot.ts as one
// ArchPteFormat, so that arch-neutral code and tests treat both architectures alike.

import type { ArchPteFormat, pte_t } from "../types.js";
import { vm_get_page_prot } from "./pgprot.js";
import * as x86 from "./pte.js";

export const X86_PTE_FORMAT: ArchPteFormat = {
  arch: "x86-64",
  pte_none: x86.pte_none,
  pte_present: x86.pte_present,
  pte_protnone: x86.pte_protnone,
  pte_valid: x86.pte_hw_present,
  pte_pfn: x86.pte_pfn,
  pfn_pte: x86.pfn_pte,
  pte_dirty: x86.pte_dirty,
  pte_young: x86.pte_young,
  pte_write: x86.pte_write,
  pte_user_exec: (v) => x86.pte_exec(v) && x86.pte_user(v),
  pte_special: x86.pte_special,
  pte_mkwrite: x86.pte_mkwrite,
  pte_wrprotect: x86.pte_wrprotect,
  pte_mkdirty: x86.pte_mkdirty,
  pte_mkclean: x86.pte_mkclean,
  pte_mkyoung: x86.pte_mkyoung,
  pte_mkold: x86.pte_mkold,
  pte_mkspecial: x86.pte_mkspecial,
  pte_modify: x86.pte_modify,
  // The PFN sits in bits 12..31 of the packed value, so advancing it is an exact addition.
  pte_advance_pfn: (v, nr) => (v + nr * 4096) as pte_t,
  pte_needs_flush: x86.pte_needs_flush,
  vm_get_page_prot,
  pteToHex: x86.pteToHex,
  pteFromHex: x86.pteFromHex,
  pteDescribe: x86.pteDescribe,
};
