// ptesim library API. Everything exported here is pure (no node: imports) and runs in a browser.

export * as arm64 from "./arch/arm64/index.js";
// The architecture layer (docs/ARCH.md). arm64 runs on its testbed until the machine and kernel
// integration; x86-64 is what `run`/`check` simulate.
export { ARCH_NAMES, ARCHES, archByName, DEFAULT_ARCH } from "./arch/registry.js";
export type {
  ArchMm,
  ArchName,
  ArchPteFormat,
  DescriptorMemory,
  PteBitName,
  PteStepOps,
} from "./arch/types.js";
export { X86_ARCH, X86_PTE_FORMAT } from "./arch/x86/format.js";
export { cmpxchgBackend } from "./backends/cmpxchg.js";
export {
  BackendError,
  DEFAULT_OPERATION_STEP_BUDGET,
  type GuardOptions,
  guardBackend,
  isPteValue,
  type UserCodeWatch,
} from "./backends/guard.js";
export { naiveBackend } from "./backends/naive.js";
export { NativeMmuOps, nativeBackend } from "./backends/native.js";
export { allBackends, backendNames, getBackend, registerBackend } from "./backends/registry.js";
export { UserModuleError, userBackendFromModule } from "./backends/user-module.js";
export { XEN_BACKENDS } from "./backends/xen.js";
export {
  type CheckMode,
  type CheckOptions,
  type CheckResult,
  type Counterexample,
  check,
  replayPath,
} from "./check/explore.js";
export {
  decodeReplay,
  encodeReplay,
  MAX_REPLAY_DECISIONS,
  MAX_REPLAY_TOKEN_CHARS,
  ReplayDecider,
  type ReplayStamp,
  replayStamp,
} from "./check/replay.js";
export { ReplayError, replayRun } from "./check/replay-run.js";
export { CONTRACT_RULES, type ContractRule, ContractViolation } from "./kernel/contract.js";
export * as errno from "./kernel/errno.js";
export {
  KERNEL_MUTANTS,
  Kernel,
  type KernelMutant,
  type KernelObserver,
  type KernelOptions,
  TLB_SINGLE_PAGE_FLUSH_CEILING,
  VM_FAULT_OK,
  VM_FAULT_SIGSEGV,
} from "./kernel/kernel.js";
export * as mman from "./kernel/mman.js";
export { vm_get_page_prot } from "./kernel/pgprot.js";
export type {
  Arm64BackendOps,
  BackendContext,
  BackendFactory,
  BackendModule,
  FlushRange,
  PvMmuOps,
} from "./kernel/pvops.js";
export type { Vma } from "./kernel/vma.js";
export { COUNTERS, CostLedger, type CounterName } from "./machine/ledger.js";
export {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  Cpu,
  Machine,
  type MachineConfig,
  STEP,
  type StepHook,
  type Tracer,
} from "./machine/machine.js";
export { PhysMem, type ptep_t } from "./machine/physmem.js";
export type { pte_t } from "./machine/pte.js";
export * as pte from "./machine/pte.js";
export { Tlb } from "./machine/tlb.js";
export { type LoadResult, type LocatedError, loadScenarioText } from "./scenario/load.js";
export { CostsSchema, costTable, cycles, DEFAULT_COSTS } from "./sim/costs.js";
export {
  checkDocument,
  JSON_SCHEMA_CHECK,
  JSON_SCHEMA_RUN,
  reproduceLine,
  runDocument,
  shellQuote,
} from "./sim/documents.js";
export { Oracle, PROPERTIES, type PropertyName, type Violation } from "./sim/oracle.js";
export {
  DEFAULT_CHECK_SCENARIO,
  DEFAULT_SCENARIO,
  defaultCheckScenario,
  defaultScenario,
  type Scenario,
  type ScenarioInput,
  ScenarioSchema,
} from "./sim/scenario.js";
export {
  type Decider,
  KERNEL,
  RandomDecider,
  type RunResult,
  runScenario,
  Simulation,
  type TraceEvent,
} from "./sim/simulation.js";
export { X86_PTE_BITS } from "./sim/trace-detail.js";
export { Hypervisor, XenError, XenFatal } from "./xen/hypervisor.js";
