// handle_mm_fault's results (VM_FAULT_*), in a module of their own: the fault path and its
// generated twin both use them, and kernel.ts re-exports them as VM_FAULT_OK / VM_FAULT_SIGSEGV.
/** The fault was handled (or backed off): the access retries. */
export const FAULT_OK = 0;
/** The access is not allowed: SIGSEGV. */
export const FAULT_SIGSEGV = 1;
