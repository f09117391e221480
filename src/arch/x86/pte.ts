// x86-64 page-table entries as plain JS numbers.
//
// A pte_t is a 64-bit x86 entry packed into a double without loss, so the hot paths need no
// BigInt and no allocation:
//   packed bits  0..31  = hardware bits  0..31  (P R/W U/S PWT PCD A D PAT G SW1-3, PFN bits 0..19)
//   packed bits 32..43  = hardware bits 52..63  (SW 52-58, protection key 59-62, NX 63)
// Hardware bits 32..51 (PFN bits 20..39) must be zero: the simulated machine has MAXPHYADDR = 32
// (4 GiB of frames), which every scenario fits. `pteToHex` shows the real 64-bit layout.
//
// Low flags are tested with ordinary 32-bit operators: `v & MASK` applies ToInt32, which keeps
// exactly bits 0..31 of an integer-valued double.

import type { pte_t } from "../types.js";

/** A packed x86-64 PTE (see the file comment): the arch layer's branded `pte_t`. */
export type { pte_t };

export const _PAGE_PRESENT = 1 << 0;
export const _PAGE_RW = 1 << 1;
export const _PAGE_USER = 1 << 2;
export const _PAGE_PWT = 1 << 3;
export const _PAGE_PCD = 1 << 4;
export const _PAGE_ACCESSED = 1 << 5;
export const _PAGE_DIRTY = 1 << 6;
export const _PAGE_PAT = 1 << 7;
export const _PAGE_GLOBAL = 1 << 8;
export const _PAGE_SOFTW1 = 1 << 9;
export const _PAGE_SOFTW2 = 1 << 10;
export const _PAGE_SOFTW3 = 1 << 11;
/** Linux x86: SOFTW1 is _PAGE_SPECIAL (zero page, pfnmap). */
export const _PAGE_SPECIAL = _PAGE_SOFTW1;
/** Linux x86: SOFTW2 is _PAGE_UFFD_WP. */
export const _PAGE_UFFD_WP = _PAGE_SOFTW2;
/** Linux x86: SOFTW3 is _PAGE_SOFT_DIRTY. */
export const _PAGE_SOFT_DIRTY = _PAGE_SOFTW3;
/** Linux x86 reuses the G bit as _PAGE_PROTNONE when P is clear (PROT_NONE entries). */
export const _PAGE_PROTNONE = _PAGE_GLOBAL;

const HI = 4294967296; // 2^32: weight of packed bit 32
// Multiplying by 2^-32 is exact and, unlike division, cheap: V8 turns `x * INV_HI >>> 0` into
// a multiply and a truncation.
const INV_HI = 1 / HI;
/** Weight in the packed value of hardware bit b (52 <= b <= 63). */
const hiBit = (b: number): number => 2 ** (b - 52 + 32);
/** Hardware bit 57, SOFTW4 (devmap in older kernels). */
export const _PAGE_SOFTW4 = hiBit(57);
/** Hardware bit 58, SOFTW5: _PAGE_SAVED_DIRTY (shadow-stack era). */
export const _PAGE_SAVED_DIRTY = hiBit(58);
/** Hardware bits 59..62: protection key. Packed value of key k is k * _PAGE_PKEY0. */
export const _PAGE_PKEY0 = hiBit(59);
export const _PAGE_NX = hiBit(63);

export const PAGE_SHIFT = 12;
export const PTRS_PER_TABLE = 512;
/** Largest PFN the packed layout holds (MAXPHYADDR = 32). */
export const MAX_PFN = (1 << 20) - 1;
const PFN_MASK_LO = 0xfffff000 | 0; // bits 12..31

// The helpers that run for every PTE of an mprotect use private copies of the flags: V8
// compiles each use of an exported module binding (a constant or a function, here or in an
// importing module) to a load and check of its cell, but folds a private constant into its code.
const PRESENT = _PAGE_PRESENT;
const RW = _PAGE_RW;
const PROTNONE_OR_PRESENT = _PAGE_PROTNONE | _PAGE_PRESENT;
const SHIFT = PAGE_SHIFT;

/** Flags of the low word (bits 0..11). */
export function pteLowFlags(v: pte_t | number): number {
  return v & 0xfff;
}
/** The high part of the packed value (hardware bits 52..63 as packed bits 32..43), as a number. */
export function pteHigh(v: pte_t | number): number {
  return ((v * INV_HI) >>> 0) * HI;
}
/** The 12 high bits (hardware 52..63) as a small integer. */
export function pteHigh12(v: pte_t | number): number {
  return (v * INV_HI) >>> 0;
}
/** Build a packed value from its low 32 bits and the 12 high bits (hardware 52..63). */
export function pteFromParts(lo32: number, hi12: number): pte_t {
  return ((lo32 >>> 0) + (hi12 & 0xfff) * HI) as pte_t;
}
export function pte_pfn(v: pte_t | number): number {
  return (v & PFN_MASK_LO) >>> SHIFT;
}
/** pfn_pte: an entry mapping `pfn` with protection `prot` (a packed pgprot: flags, NX, pkey). */
export function pfn_pte(pfn: number, prot: number): pte_t {
  return (pteHigh(prot) + ((((pfn << PAGE_SHIFT) & PFN_MASK_LO) | (prot & 0xfff)) >>> 0)) as pte_t;
}
/** Set low-word flag bits: add those not yet set (exact, as they are disjoint from the rest). */
export function pteSetLow(v: pte_t, bits: number): pte_t {
  return (v + ((bits & ~v) >>> 0)) as pte_t;
}
/** Clear low-word flag bits: subtract those set. */
export function pteClearLow(v: pte_t, bits: number): pte_t {
  return (v - ((v & bits) >>> 0)) as pte_t;
}

export const __pte = (v: number): pte_t => v as pte_t;
export const pte_val = (v: pte_t): number => v;
export const NULL_PTE = 0 as pte_t;

export function pte_none(v: pte_t): boolean {
  return v === 0;
}
/** Linux x86 pte_present: present to hardware, or PROT_NONE (present to software only). */
export function pte_present(v: pte_t): boolean {
  return (v & PROTNONE_OR_PRESENT) !== 0;
}
export function pte_protnone(v: pte_t): boolean {
  return (v & (_PAGE_PROTNONE | _PAGE_PRESENT)) === _PAGE_PROTNONE;
}
export function pte_hw_present(v: pte_t): boolean {
  return (v & _PAGE_PRESENT) !== 0;
}
/** Also right for an entry's low word (see pteModifyLo). */
export function pte_write(v: pte_t | number): boolean {
  return (v & RW) !== 0;
}
export function pte_dirty(v: pte_t): boolean {
  return (v & _PAGE_DIRTY) !== 0;
}
export function pte_young(v: pte_t): boolean {
  return (v & _PAGE_ACCESSED) !== 0;
}
export function pte_special(v: pte_t): boolean {
  return (v & _PAGE_SPECIAL) !== 0;
}
export function pte_exec(v: pte_t): boolean {
  return v < _PAGE_NX;
}
export function pte_user(v: pte_t): boolean {
  return (v & _PAGE_USER) !== 0;
}
export function pte_mkwrite(v: pte_t): pte_t {
  return pteSetLow(v, _PAGE_RW);
}
/** pte_mkwrite on an entry's low word (see pteModifyLo). */
export function pte_mkwrite_lo(lo: number): number {
  return lo | RW;
}
export function pte_wrprotect(v: pte_t): pte_t {
  return pteClearLow(v, _PAGE_RW);
}
export function pte_mkdirty(v: pte_t): pte_t {
  return pteSetLow(v, _PAGE_DIRTY | _PAGE_SOFT_DIRTY);
}
export function pte_mkclean(v: pte_t): pte_t {
  return pteClearLow(v, _PAGE_DIRTY);
}
export function pte_mkyoung(v: pte_t): pte_t {
  return pteSetLow(v, _PAGE_ACCESSED);
}
export function pte_mkold(v: pte_t): pte_t {
  return pteClearLow(v, _PAGE_ACCESSED);
}
export function pte_mkspecial(v: pte_t): pte_t {
  return pteSetLow(v, _PAGE_SPECIAL);
}

/**
 * _PAGE_CHG_MASK: the bits pte_modify keeps from the old entry (x86: PFN, PCD, PWT, special,
 * accessed, dirty, soft-dirty, uffd-wp, saved-dirty, devmap/SOFTW4). Everything else comes
 * from the new protection. Low part and high part are kept separately.
 */
export const _PAGE_CHG_MASK_LO =
  PFN_MASK_LO |
  _PAGE_PCD |
  _PAGE_PWT |
  _PAGE_SPECIAL |
  _PAGE_ACCESSED |
  _PAGE_DIRTY |
  _PAGE_SOFT_DIRTY |
  _PAGE_UFFD_WP;
const CHG_LO = _PAGE_CHG_MASK_LO;
const CHG_HI12 = 0x060; // SOFTW4 (57) and SAVED_DIRTY (58) as high-12 bits
const NOT_CHG_LO = ~_PAGE_CHG_MASK_LO;
const NOT_CHG_HI12 = ~CHG_HI12 & 0xfff;

// ---- pte_modify and pte_needs_flush on an entry's parts ----
// A loop that changes many entries to one protection (change_pte_range) works on each entry's
// parts, as small integers: `lo`, bits 0..31 as an int32 (`v | 0`), and `hi`, the 12 high bits
// (pteHigh12). It splits newprot once (pgprotLo/pgprotHi) and builds each new entry once
// (pteFromParts), instead of converting between the double and integers in every helper (each
// conversion is several instructions in V8's code). pte_modify and pte_needs_flush are defined
// from these, so there is one definition of each rule.

/** newprot's part of the low word that pte_modify produces (the bits outside _PAGE_CHG_MASK). */
export function pgprotLo(newprot: number): number {
  return newprot & NOT_CHG_LO;
}
/** newprot's part of the high 12 bits that pte_modify produces. */
export function pgprotHi(newprot: number): number {
  return (newprot * INV_HI) & NOT_CHG_HI12;
}
/** pte_modify on parts: the new low word (an int32) from the old one and pgprotLo(newprot). */
export function pteModifyLo(lo: number, protLo: number): number {
  return (lo & CHG_LO) | protLo;
}
/** pte_modify on parts: the new high 12 bits from the old ones and pgprotHi(newprot). */
export function pteModifyHi(hi: number, protHi: number): number {
  return (hi & CHG_HI12) | protHi;
}

/**
 * pte_modify(pte, newprot): keep the _PAGE_CHG_MASK bits of `v`, take the rest from `newprot`.
 * (Linux also inverts the PFN of non-present entries for L1TF; not modelled: see README.)
 * The SavedDirty rules' pte_modify (x86PteRules) is this mask step followed by the shift.
 */
export function pte_modify(v: pte_t, newprot: number): pte_t {
  return pteModifyMasked(v, newprot, CHG_HI12);
}

/**
 * pte_modify's mask step with the high part of _PAGE_CHG_MASK given (`chgHi12`, as high-12
 * bits): the one definition, which pte_modify (the real mask) and the zoo's mask variant
 * (x86PteRules.chgMaskSavedDirty false) share.
 */
function pteModifyMasked(v: pte_t, newprot: number, chgHi12: number): pte_t {
  const oldLo = v | 0;
  const oldHi = (v * INV_HI) >>> 0;
  const lo = (oldLo & CHG_LO) | (newprot & NOT_CHG_LO);
  const hi = (oldHi & chgHi12) | ((newprot * INV_HI) & NOT_CHG_HI12);
  // Same high part (the common case): adjust the old value by the low word's difference,
  // which is exact (integers below 2^53) and avoids rebuilding a double from two halves.
  return (hi === oldHi ? v + ((lo >>> 0) - (oldLo >>> 0)) : (lo >>> 0) + hi * HI) as pte_t;
}

// ---- The shadow-stack era's SavedDirty rules (Linux 6.6+) ----
// Hardware with user shadow stacks reads Write=0,Dirty=1 as shadow-stack memory, so since commit
// 0b02a82082c5 ("x86/mm: Introduce _PAGE_SAVED_DIRTY", merged for 6.6) the kernel never leaves
// such an entry behind: whatever write-protects a dirty entry moves D into the software bit
// _PAGE_SAVED_DIRTY (bit 58), whatever makes it writable moves it back, and pte_dirty reads
// both. The shifting is done on every x86-64 CPU; only pte_mkdirty asks whether the CPU has
// user shadow stacks (X86_FEATURE_USER_SHSTK). Without these rules (the default, as before
// 6.6) the helpers above apply unchanged.

/** SavedDirty (hardware bit 58) as a high-12 bit. */
const SAVED_DIRTY_HI12 = 0x040;
/** _PAGE_CHG_MASK's high part without _PAGE_SAVED_DIRTY: SOFTW4 (57) only. */
const CHG_HI12_WITHOUT_SAVED_DIRTY = CHG_HI12 & ~SAVED_DIRTY_HI12;

/** The x86-64 PTE rules that differ between kernels, CPUs and the zoo's helper variants. */
export interface X86PteRules {
  /** The SavedDirty rules of Linux 6.6+ (see above); false: the rules before them. */
  savedDirty: boolean;
  /** X86_FEATURE_USER_SHSTK: pte_mkdirty of a read-only entry sets SavedDirty instead of D. */
  userShstk: boolean;
  /**
   * _PAGE_CHG_MASK includes _PAGE_SAVED_DIRTY (it does in every kernel with the rules); false is
   * the zoo's variant x86-chg-mask-without-saved-dirty, where pte_modify drops it.
   */
  chgMaskSavedDirty: boolean;
}

export const X86_DEFAULT_RULES: Readonly<X86PteRules> = {
  savedDirty: false,
  userShstk: false,
  chgMaskSavedDirty: true,
};

/** _PAGE_SAVED_DIRTY is set. */
export function pte_saved_dirty(v: pte_t): boolean {
  return (pteHigh12(v) & SAVED_DIRTY_HI12) !== 0;
}
/** mksaveddirty_shift: a read-only entry's D moves to SavedDirty. */
export function pte_mksaveddirty(v: pte_t): pte_t {
  if ((v & (_PAGE_RW | _PAGE_DIRTY)) !== _PAGE_DIRTY) return v;
  return pteFromParts((v | 0) & ~_PAGE_DIRTY, pteHigh12(v) | SAVED_DIRTY_HI12);
}
/** clear_saveddirty_shift: a writable entry's SavedDirty moves back to D. */
export function pte_clear_saveddirty(v: pte_t): pte_t {
  if ((v & _PAGE_RW) === 0 || !pte_saved_dirty(v)) return v;
  return pteFromParts(v | 0 | _PAGE_DIRTY, pteHigh12(v) & ~SAVED_DIRTY_HI12);
}

/** The helpers the rules change, for an architecture object (format.ts: x86Arch). */
export interface X86RuleHelpers {
  pte_dirty(v: pte_t): boolean;
  pte_mkwrite(v: pte_t): pte_t;
  pte_wrprotect(v: pte_t): pte_t;
  pte_mkdirty(v: pte_t): pte_t;
  pte_mkclean(v: pte_t): pte_t;
  pte_modify(v: pte_t, newprot: number): pte_t;
}

/**
 * The helpers under `rules`: without the SavedDirty rules the plain ones above; with them,
 * each is the plain helper followed (or preceded) by the shift, as arch/x86's pgtable.h
 * composes them.
 */
export function x86RuleHelpers(rules: X86PteRules): X86RuleHelpers {
  if (!rules.savedDirty)
    return { pte_dirty, pte_mkwrite, pte_wrprotect, pte_mkdirty, pte_mkclean, pte_modify };
  const chgHi12 = rules.chgMaskSavedDirty ? CHG_HI12 : CHG_HI12_WITHOUT_SAVED_DIRTY;
  const shstk = rules.userShstk;
  return {
    // _PAGE_DIRTY_BITS
    pte_dirty: (v) => pte_dirty(v) || pte_saved_dirty(v),
    pte_mkwrite: (v) => pte_clear_saveddirty(pte_mkwrite(v)),
    pte_wrprotect: (v) => pte_mksaveddirty(pte_wrprotect(v)),
    // Avoid creating Write=0,Dirty=1 where the CPU would take it for shadow stack.
    pte_mkdirty: (v) =>
      shstk && !pte_write(v)
        ? pteFromParts(v | 0 | _PAGE_SOFT_DIRTY, pteHigh12(v) | SAVED_DIRTY_HI12)
        : pte_mkdirty(v),
    pte_mkclean: (v) => {
      const c = pte_mkclean(v);
      return pte_saved_dirty(c) ? pteFromParts(c | 0, pteHigh12(c) & ~SAVED_DIRTY_HI12) : c;
    },
    // A Write=1 entry losing write permission moves D to SavedDirty; a Write=0 one (with the
    // bit kept by the mask) gets it back as D if newprot makes it writable.
    pte_modify: (v, newprot) => {
      const r = pteModifyMasked(v, newprot, chgHi12);
      return (v & _PAGE_RW) !== 0 ? pte_mksaveddirty(r) : pte_clear_saveddirty(r);
    },
  };
}

/**
 * x86 pte_needs_flush(oldpte, newpte): does changing an entry from `old` to `nw` require a TLB
 * invalidation? Flush when a present entry changes frame, clears D, P or A (A ignored here, as
 * mprotect passes ignore_access) or changes RW, USER, PWT, PCD, PAT, G, pkey or NX; software
 * bits never need one.
 */
export function pte_needs_flush(old: pte_t, nw: pte_t): boolean {
  const oldLo = old | 0;
  if ((oldLo & PRESENT) === 0) return false;
  const d = oldLo ^ (nw | 0);
  if ((d & FLUSH_LO_CHANGE) !== 0 || (d & oldLo & FLUSH_LO_CLEAR) !== 0) return true;
  // High part only when it differs at all (rare: NX or pkey changes).
  return old - oldLo !== nw - (nw | 0) && ((((old * INV_HI) >>> 0) ^ ((nw * INV_HI) >>> 0)) & 0xf80) !== 0;
}

// PFN bits 12..31 plus RW, USER, PWT, PCD, PAT, G (a literal, so it stays a small integer).
const FLUSH_LO_CHANGE = 0xfffff000 | 0x19e;
const FLUSH_LO_CLEAR = _PAGE_DIRTY | _PAGE_PRESENT;

/** pte_needs_flush on parts (old low word and high bits, new low word and high bits). */
export function pteNeedsFlushParts(oldLo: number, oldHi: number, lo: number, hi: number): boolean {
  // Low word: PFN bits and flush_on_change flags (RW U PWT PCD PAT G) differ, or D/P cleared.
  // High part: pkey (59..62) and NX (63) need a flush on any change; SOFTW4/5 do not.
  const d = oldLo ^ lo;
  return (
    (oldLo & PRESENT) !== 0 &&
    ((d & FLUSH_LO_CHANGE) !== 0 || (d & oldLo & FLUSH_LO_CLEAR) !== 0 || ((oldHi ^ hi) & 0xf80) !== 0)
  );
}
/** The real 64-bit hardware layout as 16 hex digits. */
export function pteToHex(v: pte_t | number): string {
  const lo = v >>> 0;
  const hi = ((pteHigh12(v) << 20) >>> 0).toString(16).padStart(8, "0");
  return `${hi}${lo.toString(16).padStart(8, "0")}`;
}

/** Parse 16 hex digits of a real 64-bit entry (reserved PFN bits 32..51 must be 0). */
export function pteFromHex(s: string): pte_t | undefined {
  if (!/^(0x)?[0-9a-fA-F]{1,16}$/.test(s)) return undefined;
  const h = s.replace(/^0x/, "").padStart(16, "0");
  const hi = Number.parseInt(h.slice(0, 8), 16);
  const lo = Number.parseInt(h.slice(8), 16);
  if ((hi & 0xfffff) !== 0) return undefined;
  return pteFromParts(lo, hi >>> 20);
}

/** A short human-readable form: "pfn 0x1234 P RW U A D NX" or "none" / "protnone". */
export function pteDescribe(v: pte_t): string {
  if (v === 0) return "none";
  const parts: string[] = [`pfn 0x${pte_pfn(v).toString(16)}`];
  if (pte_protnone(v)) parts.push("PROTNONE");
  else if (v & _PAGE_PRESENT) parts.push("P");
  else parts.push("!P");
  parts.push(v & _PAGE_RW ? "RW" : "RO");
  if (v & _PAGE_USER) parts.push("U");
  if (v & _PAGE_ACCESSED) parts.push("A");
  if (v & _PAGE_DIRTY) parts.push("D");
  if (v & _PAGE_SPECIAL) parts.push("SPECIAL");
  if (v & _PAGE_SOFT_DIRTY) parts.push("SD");
  if (pte_saved_dirty(v)) parts.push("SAVED-D");
  if (!pte_exec(v)) parts.push("NX");
  return parts.join(" ");
}
