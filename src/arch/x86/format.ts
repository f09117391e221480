// x86-64 behind the arch interface: the definitions of ./pte.ts, ./pgprot.ts, ./fault.ts and
// ./tlb.ts as one ArchMm, so that generic mm code and tests treat both architectures alike.

import type { ArchMm, ArchPteFormat, PteBitName, pte_t } from "../types.js";
import { access_error, fault_error, PF_WRITE } from "./fault.js";
import { _PAGE_TABLE, vm_get_page_prot } from "./pgprot.js";
import * as x86 from "./pte.js";
import { TLB_RW, tlbFlagsToString } from "./tlb.js";

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
  // _PAGE_SOFT_DIRTY is software bit 11 (the low word: plain bit operations are exact).
  pte_soft_dirty: (v) => (v & x86._PAGE_SOFT_DIRTY) !== 0,
  pte_clear_soft_dirty: (v) => x86.pteClearLow(v, x86._PAGE_SOFT_DIRTY),
  pte_modify: x86.pte_modify,
  // The PFN sits in bits 12..31 of the packed value, so advancing it is an exact addition.
  pte_advance_pfn: (v, nr) => (v + nr * 4096) as pte_t,
  pte_needs_flush: x86.pte_needs_flush,
  vm_get_page_prot,
  pteToHex: x86.pteToHex,
  pteFromHex: x86.pteFromHex,
  pteDescribe: x86.pteDescribe,
};

/** x86-64 PTE bits by position, as the viewer draws them (Linux's _PAGE_BIT_* names). */
export const X86_PTE_BITS: readonly PteBitName[] = [
  { bit: 0, name: "P", title: "present" },
  { bit: 1, name: "RW", title: "writable" },
  { bit: 2, name: "US", title: "user" },
  { bit: 3, name: "PWT", title: "write-through" },
  { bit: 4, name: "PCD", title: "cache disable" },
  { bit: 5, name: "A", title: "accessed" },
  { bit: 6, name: "D", title: "dirty" },
  { bit: 7, name: "PAT", title: "page attribute table" },
  { bit: 8, name: "G", title: "global (PROTNONE when P is clear)" },
  { bit: 9, name: "SPECIAL", title: "software bit 1: special (no struct page)" },
  { bit: 10, name: "UFFD", title: "software bit 2: userfaultfd write-protect" },
  { bit: 11, name: "SOFT-D", title: "software bit 3: soft-dirty" },
  { bit: 58, name: "SAVED-D", title: "saved dirty (shadow-stack encoding)" },
  { bit: 63, name: "NX", title: "no execute" },
];

const AD = x86._PAGE_ACCESSED | x86._PAGE_DIRTY;
const ACCESS_KEY = x86._PAGE_PRESENT | x86._PAGE_PROTNONE | x86._PAGE_USER;

/** x86-64 as generic mm code sees it (the rules before SavedDirty: X86_DEFAULT_RULES). */
export const X86_ARCH: ArchMm = {
  ...X86_PTE_FORMAT,
  tableFlags: _PAGE_TABLE,
  pteBits: X86_PTE_BITS,
  fault_is_write: (err) => (err & PF_WRITE) !== 0,
  access_error,
  fault_error,
  fault_fatal: () => null,
  // The MMU sets A and D, aging clears A: nothing else, and never D cleared.
  pte_hw_update_only: (before, after) =>
    x86.pteClearLow(before, AD) === x86.pteClearLow(after, AD) && (before & ~after & x86._PAGE_DIRTY) === 0,
  pte_same_access: (a, b) => (a & ACCESS_KEY) === (b & ACCESS_KEY) && x86.pte_exec(a) === x86.pte_exec(b),
  tlb_flags_describe: tlbFlagsToString,
  tlb_writable: (flags) => (flags & TLB_RW) !== 0,
};

/**
 * x86-64 under other PTE rules (the SavedDirty rules, X86_FEATURE_USER_SHSTK, the zoo's mask
 * variant): X86_ARCH with the helpers the rules change replaced by x86RuleHelpers'. The
 * default rules give X86_ARCH itself, so the common case keeps one set of helpers.
 */
export function x86Arch(rules: Readonly<x86.X86PteRules>): ArchMm {
  const d = x86.X86_DEFAULT_RULES;
  if (rules.savedDirty === d.savedDirty && rules.userShstk === d.userShstk && rules.chgMaskSavedDirty)
    return X86_ARCH;
  return { ...X86_ARCH, ...x86.x86RuleHelpers(rules) };
}
