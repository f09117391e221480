// change_protection's cp_flags (include/linux/mm.h) and the MM_CP_PROT_NUMA skip rule: what the
// one change_pte_range loop (kernel.ts) needs from NUMA balancing (./numa.ts).
import type { ArchMm, pte_t } from "../arch/types.js";

export const MM_CP_TRY_CHANGE_WRITABLE = 1;
export const MM_CP_PROT_NUMA = 2;

/**
 * change_pte_range under MM_CP_PROT_NUMA leaves an entry alone when it is already a hinting
 * entry ("avoid TLB flush if possible") or maps no normal folio (the zero page).
 */
export function prot_numa_skip(arch: ArchMm, pte: pte_t): boolean {
  return arch.pte_protnone(pte) || arch.pte_special(pte);
}
