// The architecture-specific part of a user page fault on arm64 (arch/arm64/mm/fault.c): which
// handler the fault status selects, and which VMA permission the access needs
// (do_page_fault's vm_flags). The rest (handle_mm_fault, handle_pte_fault and its
// ptep_set_access_flags fixup for access-flag and write-to-clean faults) is generic mm code.
import { ACCESS_EXEC, ACCESS_WRITE } from "../types.js";
import { FAULT_ACCESS_FLAG, FAULT_PERMISSION, FAULT_TLB_CONFLICT, FAULT_TRANSLATION } from "./mmu.js";

// VMA flags (Linux values, as in src/kernel/vma.ts).
const VM_READ = 1;
const VM_WRITE = 2;
const VM_EXEC = 4;

/**
 * The fault_info[] handler for a fault status: translation, access flag and permission faults go
 * to do_page_fault (via do_translation_fault for the first); a TLB conflict abort has no handler
 * for user faults and is fatal (do_bad: SIGKILL).
 */
export function arm64_fault_handler(fault: number): "do_page_fault" | "do_bad" {
  if (fault === FAULT_TRANSLATION || fault === FAULT_ACCESS_FLAG || fault === FAULT_PERMISSION)
    return "do_page_fault";
  if (fault === FAULT_TLB_CONFLICT) return "do_bad";
  throw new RangeError(`not a fault status: ${fault}`);
}

/**
 * do_page_fault's classification of an EL0 abort: an instruction abort needs VM_EXEC; a write
 * (WnR) needs VM_WRITE and is a FAULT_FLAG_WRITE fault; a read is allowed by VM_READ, VM_WRITE
 * ("write implies read") and, without Enhanced PAN, VM_EXEC ("exec implies read"). The access is
 * a bad access when the VMA has none of `vmFlags`.
 */
export function arm64_fault_vm_flags(
  kind: number,
  epan = false,
): { vmFlags: number; write: boolean; instruction: boolean } {
  if (kind === ACCESS_EXEC) return { vmFlags: VM_EXEC, write: false, instruction: true };
  if (kind === ACCESS_WRITE) return { vmFlags: VM_WRITE, write: true, instruction: false };
  return { vmFlags: VM_READ | VM_WRITE | (epan ? 0 : VM_EXEC), write: false, instruction: false };
}

/** An arm64 fault as the machine's per-CPU fault record holds it: the fault status (FAULT_*)... */
export const ARM64_ERR_FAULT_MASK = 0xf;
/** ... | WnR (the access was a write) ... */
export const ARM64_ERR_WNR = 0x10;
/** ... | an instruction abort. */
export const ARM64_ERR_INSTR = 0x20;

/** The access kind (ACCESS_*) of a fault record. */
export function arm64_fault_kind(err: number): number {
  return err & ARM64_ERR_INSTR ? ACCESS_EXEC : err & ARM64_ERR_WNR ? ACCESS_WRITE : 0;
}

/** do_page_fault's bad-access test: the VMA has none of the flags the access needs. */
export function arm64_access_error(err: number, vmFlags: number): boolean {
  return (vmFlags & arm64_fault_vm_flags(arm64_fault_kind(err)).vmFlags) === 0;
}
