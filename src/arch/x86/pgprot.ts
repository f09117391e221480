// x86-64 protection_map: VMA flags -> the pgprot that new PTEs of the VMA get (vm_page_prot).
// Values follow arch/x86/include/asm/pgtable_types.h: every user protection carries _PAGE_USER
// and _PAGE_ACCESSED; NX unless VM_EXEC; private writable mappings get the read-only "COPY"
// protection (write access comes from faults or MM_CP_TRY_CHANGE_WRITABLE); shared writable
// ones get PAGE_SHARED. PROT_NONE is PAGE_NONE: _PAGE_PROTNONE (the G bit) with P clear.

import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from "../../kernel/vma.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_NX,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  _PAGE_USER,
} from "./pte.js";

export const PAGE_NONE = _PAGE_PROTNONE | _PAGE_ACCESSED;
export const PAGE_SHARED = _PAGE_NX + (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);
export const PAGE_SHARED_EXEC = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_COPY_NOEXEC = _PAGE_NX + (_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);
export const PAGE_COPY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_READONLY = _PAGE_NX + (_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);
export const PAGE_READONLY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
/** Upper-level entries pointing at a user page table (_PAGE_TABLE). */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

// Index: VM_READ | VM_WRITE | VM_EXEC | VM_SHARED (the low 4 bits of vm_flags).
const PROTECTION_MAP: readonly number[] = [
  PAGE_NONE, // ---p
  PAGE_READONLY, // r--p
  PAGE_COPY_NOEXEC, // -w-p
  PAGE_COPY_NOEXEC, // rw-p
  PAGE_READONLY_EXEC, // --xp
  PAGE_READONLY_EXEC, // r-xp
  PAGE_COPY_EXEC, // -wxp
  PAGE_COPY_EXEC, // rwxp
  PAGE_NONE, // ---s
  PAGE_READONLY, // r--s
  PAGE_SHARED, // -w-s
  PAGE_SHARED, // rw-s
  PAGE_READONLY_EXEC, // --xs
  PAGE_READONLY_EXEC, // r-xs
  PAGE_SHARED_EXEC, // -wxs
  PAGE_SHARED_EXEC, // rwxs
];

/** vm_get_page_prot(vm_flags). */
export function vm_get_page_prot(vmFlags: number): number {
  return PROTECTION_MAP[vmFlags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED)];
}
