// arm64 stage-1 level-3 page descriptors (4 KiB granule) and the pure asm/pgtable.h helpers,
// as today's arch/arm64 defines them (pgtable-hwdef.h, pgtable-prot.h, pgtable.h).
//
// Packing: a descriptor is 64 bits; a pte_t holds it in a double without loss as
//   packed bits  0..31  = descriptor bits  0..31  (VALID, TYPE, AttrIndx, AP, SH, AF, nG, OA 12..31)
//   packed bits 32..47  = descriptor bits 48..63  (GP, DBM, CONT, PXN, UXN, software 55..58, POIndex)
// Descriptor bits 32..47 (output address bits 32..47) must be zero: the simulated machine has
// 32-bit physical addresses (as the x86 packing does). pteToHex shows the real layout.
import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from "../../kernel/vma.js";
import type { ArchPteFormat, pte_t } from "../types.js";

const HI = 4294967296; // 2^32
const INV_HI = 1 / HI;

/** The packed value of descriptor bit `b`. */
function bit(b: number): number {
  if (b < 32) return b === 31 ? 2 ** 31 : 1 << b;
  if (b < 48) throw new RangeError(`descriptor bit ${b} is an output-address bit above the packing`);
  return 2 ** (b - 16);
}

// ---- hardware bits (pgtable-hwdef.h, "Level 3 descriptor (PTE)") ----
export const PTE_VALID = bit(0);
/** PTE_TYPE_PAGE: bits 1:0 = 0b11 at level 3 (bit 1 is PTE_TABLE_BIT). */
export const PTE_TYPE_PAGE = 3;
export const PTE_TABLE_BIT = bit(1);
/** AttrIndx[2:0], bits 4:2 (MAIR index). */
export const PTE_ATTRINDX_MASK = 7 << 2;
export const PTE_ATTRINDX = (t: number): number => (t & 7) << 2;
/** AP[1]: EL0 access. */
export const PTE_USER = bit(6);
/** AP[2]: read-only. */
export const PTE_RDONLY = bit(7);
/** SH[1:0] = 0b11, inner shareable. */
export const PTE_SHARED = 3 << 8;
export const PTE_AF = bit(10);
export const PTE_NG = bit(11);
/** BTI guarded page. */
export const PTE_GP = bit(50);
/** Dirty Bit Modifier: with TCR_EL1.HD, a write through AP[2]=1 clears AP[2] instead of faulting. */
export const PTE_DBM = bit(51);
export const PTE_CONT = bit(52);
export const PTE_PXN = bit(53);
export const PTE_UXN = bit(54);
/** Permission overlay index, bits 62:60 (FEAT_S1POE). */
export const PTE_PO_IDX_MASK = bit(60) + bit(61) + bit(62);

// ---- software bits (pgtable-prot.h) ----
/** Linux uses DBM as its write-permission bit. */
export const PTE_WRITE = PTE_DBM;
export const PTE_DIRTY = bit(55);
export const PTE_SPECIAL = bit(56);
export const PTE_DEVMAP = bit(57);
export const PTE_UFFD_WP = bit(58);
/** Only when !PTE_VALID: present to software, invalid to hardware (PROT_NONE). */
export const PTE_PRESENT_INVALID = PTE_NG;

// ---- memory types (memory.h): MT_NORMAL must be MAIR index 0 ----
export const MT_NORMAL = 0;
export const MT_NORMAL_TAGGED = 1;

// ---- protections (pgtable-prot.h) ----
const _PROT_DEFAULT = PTE_TYPE_PAGE | PTE_AF | PTE_SHARED;
export const _PAGE_DEFAULT = _PROT_DEFAULT | PTE_ATTRINDX(MT_NORMAL);
const USER_COMMON = _PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG;
/** Shared+writable pages are clean by default, hence PTE_RDONLY|PTE_WRITE. */
export const PAGE_SHARED = USER_COMMON + PTE_PXN + PTE_UXN + PTE_WRITE;
export const PAGE_SHARED_EXEC = USER_COMMON + PTE_PXN + PTE_WRITE;
export const PAGE_READONLY = USER_COMMON + PTE_PXN + PTE_UXN;
export const PAGE_READONLY_EXEC = USER_COMMON + PTE_PXN;
/** (_PAGE_DEFAULT & ~PTE_VALID) | PTE_PRESENT_INVALID | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN. */
export const PAGE_NONE =
  ((_PAGE_DEFAULT & ~PTE_VALID) | PTE_PRESENT_INVALID | PTE_RDONLY) + PTE_PXN + PTE_UXN;

/** Contiguous PTEs: 16 x 4 KiB entries, 64 KiB aligned (CONT_PTES at the 4 KiB granule). */
export const CONT_PTES = 16;
export const CONT_PTE_SIZE = CONT_PTES * 4096;

// ---- packed-value arithmetic ----
export function lo32(v: number): number {
  return v >>> 0;
}
/** Descriptor bits 48..63 as a 16-bit integer. */
export function hi16(v: number): number {
  return (v * INV_HI) >>> 0;
}
export function fromParts(lo: number, hi: number): pte_t {
  return ((lo >>> 0) + (hi & 0xffff) * HI) as pte_t;
}
/** Whether any bit of `mask` (a packed value) is set in `v`. */
export function pteHas(v: number, mask: number): boolean {
  return ((v >>> 0) & (mask >>> 0)) !== 0 || (hi16(v) & hi16(mask)) !== 0;
}
export function set_pte_bit(v: pte_t | number, mask: number): pte_t {
  return fromParts((v >>> 0) | (mask >>> 0), hi16(v) | hi16(mask));
}
export function clear_pte_bit(v: pte_t | number, mask: number): pte_t {
  return fromParts((v >>> 0) & ~(mask >>> 0), hi16(v) & ~hi16(mask));
}
/** v & mask. */
export function pte_keep_bits(v: pte_t | number, mask: number): pte_t {
  return fromParts((v >>> 0) & (mask >>> 0), hi16(v) & hi16(mask));
}
/** (v & ~mask) | (prot & mask). */
function replaceBits(v: number, mask: number, prot: number): pte_t {
  const ml = mask >>> 0;
  const mh = hi16(mask);
  return fromParts(((v >>> 0) & ~ml) | ((prot >>> 0) & ml), (hi16(v) & ~mh) | (hi16(prot) & mh));
}

const PFN_MASK_LO = 0xfffff000;
export const __pte = (v: number): pte_t => v as pte_t;

// ---- predicates (pgtable.h) ----
export function pte_none(v: pte_t): boolean {
  return v === 0;
}
export function pte_valid(v: pte_t): boolean {
  return (v & PTE_VALID) !== 0;
}
export function pte_present_invalid(v: pte_t): boolean {
  return (v & (PTE_VALID | PTE_PRESENT_INVALID)) === PTE_PRESENT_INVALID;
}
export function pte_present(v: pte_t): boolean {
  return pte_valid(v) || pte_present_invalid(v);
}
export function pte_young(v: pte_t): boolean {
  return (v & PTE_AF) !== 0;
}
export function pte_special(v: pte_t): boolean {
  return pteHas(v, PTE_SPECIAL);
}
export function pte_write(v: pte_t): boolean {
  return pteHas(v, PTE_WRITE);
}
export function pte_rdonly(v: pte_t): boolean {
  return (v & PTE_RDONLY) !== 0;
}
export function pte_user(v: pte_t): boolean {
  return (v & PTE_USER) !== 0;
}
export function pte_user_exec(v: pte_t): boolean {
  return !pteHas(v, PTE_UXN);
}
export function pte_cont(v: pte_t): boolean {
  return pteHas(v, PTE_CONT);
}
/** Hardware dirty: writable (DBM) and AP[2] clear. */
export function pte_hw_dirty(v: pte_t): boolean {
  return pte_write(v) && !pte_rdonly(v);
}
export function pte_sw_dirty(v: pte_t): boolean {
  return pteHas(v, PTE_DIRTY);
}
export function pte_dirty(v: pte_t): boolean {
  return pte_sw_dirty(v) || pte_hw_dirty(v);
}
export function pte_valid_cont(v: pte_t): boolean {
  return pte_valid(v) && pte_cont(v);
}
/** Only PROT_NONE has this encoding: present-invalid and neither EL0 read nor EL0 exec. */
export function pte_protnone(v: pte_t): boolean {
  return pte_present_invalid(v) && !pte_user(v) && !pte_user_exec(v);
}
/**
 * pte_accessible(mm, pte): could the entry be in a TLB? With a flush pending any present entry
 * may be; otherwise only a valid one.
 */
export function pte_accessible(v: pte_t, tlbFlushPending: boolean): boolean {
  return tlbFlushPending ? pte_present(v) : pte_valid(v);
}

// ---- output address ----
export function pte_pfn(v: pte_t): number {
  return ((v & PFN_MASK_LO) >>> 12) >>> 0;
}
/** Largest PFN the packing holds (32-bit physical addresses). */
export const MAX_PFN = (1 << 20) - 1;
export function pfn_pte(pfn: number, prot: number): pte_t {
  if (!Number.isInteger(pfn) || pfn < 0 || pfn > MAX_PFN) throw new RangeError(`pfn ${pfn} out of range`);
  return fromParts((pfn << 12) | ((prot >>> 0) & ~PFN_MASK_LO), hi16(prot));
}
/** pte_pgprot: every bit except the output address. */
export function pte_pgprot(v: pte_t): number {
  return fromParts((v >>> 0) & ~PFN_MASK_LO, hi16(v));
}
export function pte_advance_pfn(v: pte_t, nr: number): pte_t {
  return pfn_pte(pte_pfn(v) + nr, pte_pgprot(v));
}

// ---- modifiers (pgtable.h) ----
/** pte_mkwrite_novma: set PTE_WRITE, clear PTE_RDONLY. */
export function pte_mkwrite(v: pte_t): pte_t {
  return clear_pte_bit(set_pte_bit(v, PTE_WRITE), PTE_RDONLY);
}
export function pte_mkclean(v: pte_t): pte_t {
  return set_pte_bit(clear_pte_bit(v, PTE_DIRTY), PTE_RDONLY);
}
export function pte_mkdirty(v: pte_t): pte_t {
  return mkdirty(v, true);
}
/**
 * pte_mkdirty that makes the entry hardware-dirty, i.e. writable to the MMU, even when it is
 * write-protected: the zoo's arch-helper variant arm64-mkdirty-sets-hw-writable (sparc64's
 * pte_mkdirty set its hardware writable bit unconditionally until commit fa2e71a6fcee).
 */
export function pte_mkdirty_sets_hw_writable(v: pte_t): pte_t {
  return mkdirty(v, false);
}
/** pte_mkdirty, with its test of PTE_WRITE (the software writable bit) as the variation point. */
function mkdirty(v: pte_t, onlyIfWritable: boolean): pte_t {
  const d = set_pte_bit(v, PTE_DIRTY);
  return !onlyIfWritable || pte_write(d) ? clear_pte_bit(d, PTE_RDONLY) : d;
}
/** Moves hardware dirty into PTE_DIRTY first, then clears PTE_WRITE and sets PTE_RDONLY. */
export function pte_wrprotect(v: pte_t): pte_t {
  return wrprotect(v, true);
}
/**
 * pte_wrprotect without the move of hardware dirty into PTE_DIRTY: the zoo's arch-helper
 * variant arm64-wrprotect-drops-hw-dirty (LoongArch's pte_wrprotect before commit
 * 018e9828eb52 did the same with its hardware _PAGE_DIRTY and software _PAGE_MODIFIED).
 */
export function pte_wrprotect_drops_hw_dirty(v: pte_t): pte_t {
  return wrprotect(v, false);
}
/** pte_wrprotect, with its move of hardware dirty as the variation point. */
function wrprotect(v: pte_t, keepHwDirty: boolean): pte_t {
  if (keepHwDirty && pte_hw_dirty(v)) v = set_pte_bit(v, PTE_DIRTY);
  return set_pte_bit(clear_pte_bit(v, PTE_WRITE), PTE_RDONLY);
}
export function pte_mkold(v: pte_t): pte_t {
  return clear_pte_bit(v, PTE_AF);
}
export function pte_mkyoung(v: pte_t): pte_t {
  return set_pte_bit(v, PTE_AF);
}
export function pte_mkspecial(v: pte_t): pte_t {
  return set_pte_bit(v, PTE_SPECIAL);
}
export function pte_mkcont(v: pte_t): pte_t {
  return set_pte_bit(v, PTE_CONT);
}
export function pte_mknoncont(v: pte_t): pte_t {
  return clear_pte_bit(v, PTE_CONT);
}
export function pte_mkinvalid(v: pte_t): pte_t {
  return clear_pte_bit(set_pte_bit(v, PTE_PRESENT_INVALID), PTE_VALID);
}

/** The bits pte_modify takes from the new protection (everything else is kept). */
export const PTE_MODIFY_MASK =
  PTE_USER +
  PTE_PXN +
  PTE_UXN +
  PTE_RDONLY +
  PTE_PRESENT_INVALID +
  PTE_VALID +
  PTE_WRITE +
  PTE_GP +
  PTE_ATTRINDX_MASK +
  PTE_PO_IDX_MASK;

/**
 * pte_modify(pte, newprot): preserve hardware dirtiness in PTE_DIRTY, take the masked bits
 * from newprot, and if the result is software-dirty make it hardware-dirty again (so a
 * writable dirty entry does not fault on its next write).
 */
export function pte_modify(v: pte_t, newprot: number): pte_t {
  return pteModifyWith(v, newprot, pte_mkdirty);
}
/** pte_modify with the pte_mkdirty it re-applies dirtiness with (a variant's, or the real one). */
export function pteModifyWith(v: pte_t, newprot: number, mkdirtyFn: (v: pte_t) => pte_t): pte_t {
  if (pte_hw_dirty(v)) v = set_pte_bit(v, PTE_DIRTY);
  v = replaceBits(v, PTE_MODIFY_MASK, newprot);
  if (pte_sw_dirty(v)) v = mkdirtyFn(v);
  return v;
}

/**
 * pte_same: arm64 ignores PTE_RDONLY of present entries (it is derived state under DBM).
 */
export function pte_same(a: pte_t, b: pte_t): boolean {
  const la = pte_present(a) ? clear_pte_bit(a, PTE_RDONLY) : a;
  const lb = pte_present(b) ? clear_pte_bit(b, PTE_RDONLY) : b;
  return la === lb;
}

/**
 * pte_needs_flush: arm64 does not define it (as of Linux 6.17), so the asm-generic default
 * applies: every change of a present entry is flushed.
 */
export function pte_needs_flush(_old: pte_t, _nw: pte_t): boolean {
  return true;
}

/** PTE_SWBITS_MASK: bits 55..58 and 63, which no walker reads. */
export const PTE_SWBITS_MASK = bit(55) + bit(56) + bit(57) + bit(58) + bit(63);

/**
 * arm64's own pte_needs_flush (commit c320dbb7c80d, "arm64/mm: Elide TLB flush in certain pte
 * protection transitions", after 6.17): no flush when the old entry was not valid (no TLB can
 * hold it: PROT_NONE -> PROT_READ|PROT_WRITE, glibc's heap growth), nor when only software bits
 * changed; otherwise flush.
 */
export function pte_needs_flush_c320dbb7c80d(old: pte_t, nw: pte_t): boolean {
  if (!pteHas(old, PTE_VALID)) return false;
  return clear_pte_bit(old, PTE_SWBITS_MASK) !== clear_pte_bit(nw, PTE_SWBITS_MASK);
}

/**
 * BROKEN on purpose: as c320dbb7c80d, but the write permission (AP[2] PTE_RDONLY and DBM
 * PTE_WRITE) counted among the bits that need no flush, so RW -> RO elides the flush and a
 * writable TLB entry outlives mprotect(PROT_READ).
 */
export function pte_needs_flush_broken_ignores_write(old: pte_t, nw: pte_t): boolean {
  if (!pteHas(old, PTE_VALID)) return false;
  const skip = PTE_SWBITS_MASK + PTE_RDONLY + PTE_DBM;
  return clear_pte_bit(old, skip) !== clear_pte_bit(nw, skip);
}

// VM_READ | VM_WRITE | VM_EXEC | VM_SHARED, as in the kernel's vma.ts (Linux values).

// arch/arm64/mm/mmap.c protection_map (private writable mappings get PAGE_READONLY: write
// access comes from faults or MM_CP_TRY_CHANGE_WRITABLE). Enhanced PAN's PAGE_EXECONLY for
// exec-only mappings is not modelled: exec-only maps to PAGE_READONLY_EXEC, as without EPAN.
const PROTECTION_MAP: readonly number[] = [
  PAGE_NONE, // ---p
  PAGE_READONLY, // r--p
  PAGE_READONLY, // -w-p
  PAGE_READONLY, // rw-p
  PAGE_READONLY_EXEC, // --xp
  PAGE_READONLY_EXEC, // r-xp
  PAGE_READONLY_EXEC, // -wxp
  PAGE_READONLY_EXEC, // rwxp
  PAGE_NONE, // ---s
  PAGE_READONLY, // r--s
  PAGE_SHARED, // -w-s
  PAGE_SHARED, // rw-s
  PAGE_READONLY_EXEC, // --xs
  PAGE_READONLY_EXEC, // r-xs
  PAGE_SHARED_EXEC, // -wxs
  PAGE_SHARED_EXEC, // rwxs
];

export function vm_get_page_prot(vmFlags: number): number {
  return PROTECTION_MAP[vmFlags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED)];
}

// ---- printing ----
export function pteToHex(v: pte_t | number): string {
  const hi = ((hi16(v) << 16) >>> 0).toString(16).padStart(8, "0");
  return `${hi}${(v >>> 0).toString(16).padStart(8, "0")}`;
}

/** Parse up to 16 hex digits of a real descriptor; undefined if OA bits 32..47 are set. */
export function pteFromHex(s: string): pte_t | undefined {
  if (!/^(0x)?[0-9a-fA-F]{1,16}$/.test(s)) return undefined;
  const h = s.replace(/^0x/, "").padStart(16, "0");
  const hi = Number.parseInt(h.slice(0, 8), 16);
  const lo = Number.parseInt(h.slice(8), 16);
  if ((hi & 0xffff) !== 0) return undefined;
  return fromParts(lo, hi >>> 16);
}

/** Named fields, low to high, for the bit-by-bit printout. */
const FIELDS: readonly [string, number][] = [
  ["VALID", PTE_VALID],
  ["TABLE/PAGE", PTE_TABLE_BIT],
  ["USER", PTE_USER],
  ["RDONLY", PTE_RDONLY],
  ["AF", PTE_AF],
  ["nG", PTE_NG],
  ["GP", PTE_GP],
  ["DBM/WRITE", PTE_DBM],
  ["CONT", PTE_CONT],
  ["PXN", PTE_PXN],
  ["UXN", PTE_UXN],
  ["DIRTY", PTE_DIRTY],
  ["SPECIAL", PTE_SPECIAL],
  ["DEVMAP", PTE_DEVMAP],
  ["UFFD_WP", PTE_UFFD_WP],
];

/**
 * One line: the output address, every set field by its Linux name, AttrIndx and SH, and the
 * dirty state as Linux reads it (hw-dirty, sw-dirty or clean). A present-invalid entry shows
 * PRESENT_INVALID in place of nG.
 */
export function pteDescribe(v: pte_t): string {
  if (v === 0) return "none";
  const parts = [`oa 0x${pte_pfn(v).toString(16)}`];
  const invalid = !pte_valid(v);
  for (const [name, mask] of FIELDS) {
    if (!pteHas(v, mask)) continue;
    parts.push(name === "nG" && invalid ? "PRESENT_INVALID" : name);
  }
  if (invalid && !pte_present_invalid(v)) parts.push("(not present)");
  const attr = (v & PTE_ATTRINDX_MASK) >>> 2;
  if (attr !== 0) parts.push(`AttrIndx=${attr}`);
  const sh = (v >>> 8) & 3;
  if (sh !== 3) parts.push(`SH=${sh}`);
  const po = (hi16(v) >>> 12) & 7;
  if (po !== 0) parts.push(`POIndex=${po}`);
  if (pte_present(v)) {
    const state = pte_hw_dirty(v) ? "hw-dirty" : pte_sw_dirty(v) ? "sw-dirty" : "clean";
    parts.push(`[${state}${pte_protnone(v) ? ", PROT_NONE" : ""}]`);
  }
  return parts.join(" ");
}

/**
 * The descriptor field by field, high bits first, as the Arm ARM draws a stage-1 page
 * descriptor: "SW=0001 UXN=1 PXN=1 CONT=0 DBM=1 GP=0 OA=0x00123 nG=1 AF=1 SH=11 AP[2:1]=01
 * AttrIndx=000 TYPE=11" (SW = bits 58..55: UFFD_WP DEVMAP SPECIAL DIRTY).
 */
export function pteBitfield(v: pte_t): string {
  const b = (mask: number) => (pteHas(v, mask) ? "1" : "0");
  const sw = [PTE_UFFD_WP, PTE_DEVMAP, PTE_SPECIAL, PTE_DIRTY].map(b).join("");
  const po = (hi16(v) >>> 12) & 7;
  const oa = `0x${pte_pfn(v).toString(16).padStart(5, "0")}`;
  const sh = ((v >>> 8) & 3).toString(2).padStart(2, "0");
  const attr = ((v >>> 2) & 7).toString(2).padStart(3, "0");
  return [
    ...(po !== 0 ? [`POIndex=${po}`] : []),
    `SW=${sw}`,
    `UXN=${b(PTE_UXN)}`,
    `PXN=${b(PTE_PXN)}`,
    `CONT=${b(PTE_CONT)}`,
    `DBM=${b(PTE_DBM)}`,
    `GP=${b(PTE_GP)}`,
    `OA=${oa}`,
    `nG=${b(PTE_NG)}`,
    `AF=${b(PTE_AF)}`,
    `SH=${sh}`,
    `AP[2:1]=${b(PTE_RDONLY)}${b(PTE_USER)}`,
    `AttrIndx=${attr}`,
    `TYPE=${b(PTE_TABLE_BIT)}${b(PTE_VALID)}`,
  ].join(" ");
}

/** The arm64 PTE format as the arch layer exposes it. */
export const ARM64_PTE_FORMAT: ArchPteFormat = {
  arch: "arm64",
  pte_none,
  pte_present,
  pte_protnone,
  pte_valid,
  pte_pfn,
  pfn_pte,
  pte_dirty,
  pte_young,
  pte_write,
  pte_user_exec,
  pte_special,
  pte_mkwrite,
  pte_wrprotect,
  pte_mkdirty,
  pte_mkclean,
  pte_mkyoung,
  pte_mkold,
  pte_mkspecial,
  pte_modify,
  pte_advance_pfn,
  pte_needs_flush,
  vm_get_page_prot,
  pteToHex,
  pteFromHex,
  pteDescribe,
};
