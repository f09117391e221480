// Soft-dirty tracking's side of the VMA layer (mm/mmap.c, include/linux/mm.h): which protection
// a VMA's new entries get once clear_refs has armed tracking.
import type { ArchMm } from "../arch/types.js";
import { VM_SHARED, VM_SOFTDIRTY, VM_WRITE } from "./vma.js";

/** vma_soft_dirty_enabled: tracking is armed while VM_SOFTDIRTY is clear (CONFIG_MEM_SOFT_DIRTY). */
export function vma_soft_dirty_enabled(vmFlags: number): boolean {
  return (vmFlags & VM_SOFTDIRTY) === 0;
}

/**
 * vma_wants_writenotify for the memory this kernel models (anonymous and shmem: no
 * page_mkwrite, no dirty accounting): a shared writable VMA wants write faults only to track
 * soft-dirty, on an architecture that has it. `ignoreSoftDirty` is the bug 64e455079e1b fixed.
 */
export function vma_wants_writenotify(arch: ArchMm, vmFlags: number, ignoreSoftDirty: boolean): boolean {
  if ((vmFlags & (VM_SHARED | VM_WRITE)) !== (VM_SHARED | VM_WRITE)) return false;
  return !ignoreSoftDirty && arch.pte_soft_dirty !== undefined && vma_soft_dirty_enabled(vmFlags);
}

/**
 * vma->vm_page_prot as vma_set_page_prot leaves it: vm_get_page_prot, or, when the VMA wants
 * write notifications, the protection of the same VMA without VM_SHARED (write-protected), so
 * that the first write faults.
 */
export function vma_page_prot(arch: ArchMm, vmFlags: number, ignoreSoftDirty: boolean): number {
  if (vma_wants_writenotify(arch, vmFlags, ignoreSoftDirty))
    return arch.vm_get_page_prot(vmFlags & ~VM_SHARED);
  return arch.vm_get_page_prot(vmFlags);
}
