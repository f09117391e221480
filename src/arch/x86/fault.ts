// x86-64's part of a user page fault (arch/x86/mm/fault.c): the error code the MMU reports and
// access_error's verdict on it; the rest of the fault path is generic mm code.
import { ACCESS_EXEC, ACCESS_WRITE } from "../types.js";

/** x86 page-fault error code bits. */
export const PF_PROT = 1;
export const PF_WRITE = 2;
export const PF_USER = 4;
export const PF_INSTR = 16;

// VMA flags (Linux values, as in src/kernel/vma.ts).
const VM_READ = 1;
const VM_WRITE = 2;
const VM_EXEC = 4;

/** access_error (arch/x86/mm/fault.c): does the VMA forbid the access with error code `err`? */
export function access_error(err: number, vmFlags: number): boolean {
  if (err & PF_WRITE) return (vmFlags & VM_WRITE) === 0;
  if (err & PF_INSTR) return (vmFlags & VM_EXEC) === 0;
  if (err & PF_PROT) return true;
  return (vmFlags & (VM_READ | VM_WRITE | VM_EXEC)) === 0;
}

/** The error code of a user access of `kind` (ACCESS_*) to a not-present page. */
export function fault_error(kind: number): number {
  return PF_USER | (kind === ACCESS_WRITE ? PF_WRITE : kind === ACCESS_EXEC ? PF_INSTR : 0);
}
