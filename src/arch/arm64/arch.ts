// arm64 behind the arch interface generic mm code uses (ArchMm): the descriptor format of
// ./pte.ts with the fault decoding of ./fault.ts and the TLB entry flags of ./mmu.ts.
import type { ArchMm, PteBitName, pte_t } from "../types.js";
import { ACCESS_EXEC, ACCESS_WRITE } from "../types.js";
import {
  ARM64_ERR_FAULT_MASK,
  ARM64_ERR_INSTR,
  ARM64_ERR_WNR,
  arm64_access_error,
  arm64_fault_handler,
} from "./fault.js";
import { FAULT_TRANSLATION, TLBP_DBM, TLBP_RDONLY, TLBP_USER, TLBP_UXN } from "./mmu.js";
import {
  ARM64_PTE_FORMAT,
  clear_pte_bit,
  PTE_AF,
  PTE_CONT,
  PTE_DBM,
  PTE_DIRTY,
  PTE_RDONLY,
  PTE_TABLE_BIT,
  PTE_VALID,
  pte_dirty,
  pte_needs_flush,
  pte_needs_flush_broken_ignores_write,
  pte_needs_flush_c320dbb7c80d,
  pte_present_invalid,
  pte_user,
  pte_user_exec,
  pte_valid,
  pteHas,
} from "./pte.js";

/** arm64 stage-1 page descriptor bits by position (pgtable-hwdef.h / pgtable-prot.h names). */
export const ARM64_PTE_BITS: readonly PteBitName[] = [
  { bit: 0, name: "VALID", title: "valid" },
  { bit: 1, name: "TYPE", title: "page (1 at level 3)" },
  { bit: 6, name: "USER", title: "AP[1]: EL0 access" },
  { bit: 7, name: "RDONLY", title: "AP[2]: read-only" },
  { bit: 10, name: "AF", title: "access flag" },
  { bit: 11, name: "nG", title: "not global (PRESENT_INVALID when not valid)" },
  { bit: 51, name: "DBM", title: "dirty bit modifier (PTE_WRITE)" },
  { bit: 52, name: "CONT", title: "contiguous hint (contpte block)" },
  { bit: 53, name: "PXN", title: "privileged execute never" },
  { bit: 54, name: "UXN", title: "user execute never" },
  { bit: 55, name: "DIRTY", title: "software dirty" },
  { bit: 56, name: "SPECIAL", title: "software: special (no struct page)" },
  { bit: 58, name: "UFFD", title: "software: userfaultfd write-protect" },
];

// What may change in an entry without software asking: AF (set by hardware, cleared by aging),
// RDONLY where DBM is set (hardware dirty), PTE_DIRTY and PTE_CONT (a contpte unfold or fold of
// the block gathers young/dirty into every entry and rewrites CONT).
const HW_AF_CONT_DIRTY = PTE_AF + PTE_CONT + PTE_DIRTY + PTE_RDONLY;

function pte_hw_update_only(before: pte_t, after: pte_t): boolean {
  if (pte_dirty(before) && !pte_dirty(after)) return false;
  const ignoreRdonly = pteHas(before, PTE_DBM) && pteHas(after, PTE_DBM);
  const mask = ignoreRdonly ? HW_AF_CONT_DIRTY : clear_pte_bit(HW_AF_CONT_DIRTY, PTE_RDONLY);
  return clear_pte_bit(before, mask) === clear_pte_bit(after, mask);
}

/** arm64 as generic mm code sees it. */
export const ARM64_ARCH: ArchMm = {
  ...ARM64_PTE_FORMAT,
  tableFlags: PTE_VALID + PTE_TABLE_BIT,
  pteBits: ARM64_PTE_BITS,
  fault_is_write: (err) => (err & ARM64_ERR_WNR) !== 0,
  access_error: arm64_access_error,
  // fault_info[]: a TLB conflict abort goes to do_bad (SIGKILL), not do_page_fault.
  fault_fatal: (err) =>
    arm64_fault_handler(err & ARM64_ERR_FAULT_MASK) === "do_bad" ? "TLB conflict abort" : null,
  fault_error: (kind) =>
    FAULT_TRANSLATION | (kind === ACCESS_WRITE ? ARM64_ERR_WNR : kind === ACCESS_EXEC ? ARM64_ERR_INSTR : 0),
  pte_hw_update_only,
  pte_same_access: (a, b) =>
    pte_valid(a) === pte_valid(b) &&
    pte_present_invalid(a) === pte_present_invalid(b) &&
    pte_user(a) === pte_user(b) &&
    pte_user_exec(a) === pte_user_exec(b),
  tlb_flags_describe: (p) =>
    `${p & TLBP_RDONLY ? (p & TLBP_DBM ? "RO+DBM" : "RO") : "RW"}${p & TLBP_USER ? " U" : ""}${p & TLBP_UXN ? " UXN" : ""}`,
  tlb_writable: (p) => (p & TLBP_RDONLY) === 0,
};

/**
 * The pte_needs_flush a scenario may choose on arm64 (kernel.pteNeedsFlush): asm-generic's
 * (Linux 6.17, the default: always flush), arm64's own (commit c320dbb7c80d, after 6.17), and a
 * deliberately broken variant.
 */
export const ARM64_PTE_NEEDS_FLUSH = {
  "asm-generic": pte_needs_flush,
  arm64: pte_needs_flush_c320dbb7c80d,
  "arm64-broken-ignores-write": pte_needs_flush_broken_ignores_write,
} as const;
