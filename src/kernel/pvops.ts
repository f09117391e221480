// The paravirt MMU interface (Linux pv_mmu_ops, reduced to what page-table update protocols
// need). A backend supplies these; the kernel calls them and never touches PTE memory for a
// protection change in any other way. Backends get a BackendContext with the machine's atomic
// primitives, so every memory operation they make is one schedulable step.
import type { ZodType } from "zod";
import type { Arm64TlbOps } from "../arch/arm64/tlbflush.js";
import type { ArchName, pte_t } from "../arch/types.js";
import type { ptep_t } from "../machine/physmem.js";
import type { Hypervisor, HypervisorOptions } from "../xen/hypervisor.js";
import type { Vma } from "./vma.js";

/** Which pages a TLB flush covers. `full` means the whole mm (Linux TLB_FLUSH_ALL). */
export interface FlushRange {
  start: number;
  end: number;
  full: boolean;
}

export interface PvMmuOps {
  /** Short name, e.g. "native". */
  readonly name: string;
  /** Begin a protection transaction on one PTE; returns its current value. */
  ptep_modify_prot_start(vma: Vma, addr: number, ptep: ptep_t): pte_t;
  /** Finish it: write `pte`, preserving hardware A/D updates made since start. May queue. */
  ptep_modify_prot_commit(vma: Vma, addr: number, ptep: ptep_t, old_pte: pte_t, pte: pte_t): void;
  /** Batched start over `nr` consecutive PTEs of one folio (Linux 6.17). Optional. */
  modify_prot_start_ptes?(vma: Vma, addr: number, ptep: ptep_t, nr: number): pte_t;
  /** Batched commit over `nr` consecutive PTEs (PFN advances by one per entry). Optional. */
  modify_prot_commit_ptes?(
    vma: Vma,
    addr: number,
    ptep: ptep_t,
    old_pte: pte_t,
    pte: pte_t,
    nr: number,
  ): void;
  /** Install an entry (the kernel holds the PTE lock). */
  set_pte_at(addr: number, ptep: ptep_t, pte: pte_t): void;
  /**
   * set_ptes: install `nr` entries of one folio into not-present slots (the PFN advances by one
   * per entry; the kernel holds the PTE lock). Optional: without it the kernel calls set_pte_at
   * per entry (what asm-generic's set_ptes amounts to).
   */
  set_ptes?(addr: number, ptep: ptep_t, pte: pte_t, nr: number): void;
  /** Atomically read and clear an entry. */
  ptep_get_and_clear(addr: number, ptep: ptep_t): pte_t;
  /** Atomically clear the Accessed bit; returns whether it was set. */
  ptep_test_and_clear_young(addr: number, ptep: ptep_t): boolean;
  /**
   * ptep_set_access_flags for the fault path's fixup (`entry` = the entry made young, and dirty
   * for a write fault); returns whether the entry changed. Optional: without it the kernel does
   * what x86 does (a store of `entry` for write faults only, as x86 hardware sets A itself).
   */
  ptep_set_access_flags?(vma: Vma, addr: number, ptep: ptep_t, entry: pte_t, dirty: boolean): boolean;
  /** Lazy MMU mode hooks (arch_*_lazy_mmu_mode). Updates inside may be deferred until leave/flush. */
  arch_enter_lazy_mmu_mode(): void;
  arch_leave_lazy_mmu_mode(): void;
  arch_flush_lazy_mmu_mode(): void;
  /** Invalidate `range` on every CPU in `cpus` (the current CPU included if listed). */
  flush_tlb_multi(cpus: readonly number[], range: FlushRange): void;
  /** The CPU is about to switch tasks: issue anything queued (Xen flushes its multicall batch). */
  context_switch?(): void;
  /**
   * For the checker: a canonical description of the backend's own state (queued updates,
   * per-CPU buffers). Backends that keep state outside machine memory should provide it; it
   * lets the checker merge states at kernel checkpoints.
   */
  stateKey?(): string;
  /**
   * The same information as numbers, written one by one into `out` in a layout fixed by the
   * numbers written before (counts before lists): the checker uses it instead of stateKey when
   * present (no string to build and hash). It must tell states apart exactly as stateKey does.
   */
  stateKeyInto?(out: { push(v: number): void }): void;
  /**
   * For the checker: an update of the entry at `ptep` is queued and not yet issued (Xen's
   * multicall buffers). A backend with state of its own that does not say keeps the values of
   * every commit awaiting its unlock check in the checker's keys (Kernel.pendingCommitsInto).
   */
  updateQueued?(ptep: ptep_t): boolean;
}

/**
 * What a backend may use: the machine's step primitives on PTEs, its CPU numbers, the cost
 * ledger, the native TLB shootdown and the hypervisor's calls. Deliberately no machine object:
 * the checker is sound only if every access to PTE memory is one of these steps.
 */
export interface BackendContext {
  /** The CPU the kernel is executing on right now. */
  currentCpu(): number;
  /** How many CPUs the machine has (per-CPU state of a backend is indexed 0..ncpus-1). */
  readonly ncpus: number;
  /** Count an event in the cost ledger (a CTR index) for the current CPU. */
  count(counter: number): void;
  /** A simulated Xen hypervisor on this machine: its calls are the backend's only other way to PTEs. */
  createHypervisor(opts?: HypervisorOptions): Hypervisor;
  /** Atomic memory operations on PTEs by the current CPU, each one schedulable step. */
  read(ptep: ptep_t): pte_t;
  write(ptep: ptep_t, v: pte_t): void;
  xchg(ptep: ptep_t, v: pte_t): pte_t;
  cmpxchg(ptep: ptep_t, expect: pte_t, v: pte_t): pte_t;
  /** The native TLB shootdown: INVLPG or full flush locally, IPIs to the other CPUs. */
  nativeFlushTlbMulti(cpus: readonly number[], range: FlushRange): void;
  /**
   * On an arm64 machine: the broadcast TLB maintenance instructions (each TLBI one scheduling
   * step), the CPU's erratum and the kernel state the arm64 helpers consult. Absent on x86-64.
   */
  readonly arm64?: Arm64BackendOps;
  /** Whether `ptep` names an entry of one of the machine's page tables (for validating). */
  validPtep?(ptep: number): boolean;
  /** Backend options from the scenario (`backendOptions`), already validated by the backend. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** What an arm64 backend needs beyond the step primitives (see BackendContext.arm64). */
export interface Arm64BackendOps extends Arm64TlbOps {
  /** The CPUs have Cortex-A715 erratum 2645198 (ARM64_WORKAROUND_2645198 applies). */
  readonly erratum2645198: boolean;
  /** mm_tlb_flush_pending(mm): a deferred TLB flush of the mm may be outstanding. */
  mm_tlb_flush_pending(): boolean;
  /** folio_pfn(page_folio(pfn)): the first frame of the folio holding `pfn`. */
  folio_pfn(pfn: number): number;
  /** folio_nr_pages(page_folio(pfn)): 1 unless the kernel allocated a large folio (mTHP). */
  folio_nr_pages(pfn: number): number;
}

export type BackendFactory = (ctx: BackendContext) => PvMmuOps;

/** A backend as registered by name or loaded from a user module. */
export interface BackendModule {
  readonly name: string;
  /** The architecture it runs on (default x86-64); a scenario of another architecture rejects it. */
  readonly arch?: ArchName;
  /** One line for `ptesim backends` and reports. */
  readonly description: string;
  /** Whether the backend is meant to be correct (false for the teaching/mutant ones). */
  readonly correct: boolean;
  readonly create: BackendFactory;
  /**
   * Schema of the scenario's `backendOptions` for this backend. Scenario files are checked
   * against it (errors point at the offending line); the parsed value reaches `create` as
   * `ctx.options`. Without one, backendOptions must be empty.
   */
  readonly optionsSchema?: ZodType;
  /** The backend keeps no state of its own between calls (the checker may then merge more states). */
  readonly stateless?: boolean;
}
