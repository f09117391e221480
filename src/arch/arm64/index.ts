// arm64 as a library: the descriptor format, MMU, TLB maintenance, kernel helpers, transaction
// backends, cost table, litmus restatements and the testbed that runs them (docs/ARCH.md).
export { ARM64_ARCH, ARM64_PTE_BITS } from "./arch.js";
export {
  ARM64_BACKENDS,
  type Arm64TransactionBackend,
  arm64Backend,
  arm64BrokenGatherFirstBackend,
  arm64BrokenPlainRmwBackend,
  arm64BrokenUnfoldNoBbmBackend,
  arm64ContpteBackend,
  arm64Pgtable,
} from "./backends.js";
export { type Arm64CostsRow, benchArm64Costs, formatArm64Costs } from "./bench.js";
export {
  ARM64_COSTS,
  ARM64_EVENTS,
  type Arm64CostEntry,
  type Arm64Event,
  arm64CostTable,
  arm64Cycles,
  PUBLISHED_MPROTECT_M3,
} from "./costs.js";
export { arm64_fault_handler, arm64_fault_vm_flags } from "./fault.js";
export {
  type Cond,
  type DescOp,
  type DescStep,
  evalCond,
  type HerdPte,
  herdDescribe,
  herdMatches,
  herdPte,
  type LitmusObservation,
  type LitmusVerdict,
  litmusVerdict,
  parseCond,
  parseDescStep,
  parseHerdFields,
} from "./litmus.js";
export {
  type Arm64AccessResult,
  Arm64Mmu,
  type Arm64MmuConfig,
  Arm64Tlb,
  FAULT_NAMES,
  mk_table_desc,
} from "./mmu.js";
export { ARM64_BACKEND_MODULES, arm64BackendModule, arm64HelperContext } from "./modules.js";
export {
  ARM64_HELPER_MUTANTS,
  type Arm64HelperMutant,
  type Arm64KernelContext,
  Arm64Pgtable,
  type Arm64PgtableOptions,
  ptep_get_peek,
} from "./pgtable.js";
export * from "./pte.js";
export { Arm64Testbed, everyInterleaving, everySchedule, TableMemory } from "./testbed.js";
export * from "./tlbflush.js";
