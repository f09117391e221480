// A Linux-like kernel for one address space (mm): the syscalls mmap, munmap and mprotect, the
// page-fault handler, split PTE locks, lazy MMU mode, TLB shootdown and change_protection ->
// change_pte_range through ptep_modify_prot_start/commit, all dispatched through a PvMmuOps
// backend. Pure: no I/O, no node: imports.
import { type ArchMm, PTRS_PER_PTE as PTRS_PER_TABLE, type pte_t } from "../arch/types.js";
import { CTR } from "../machine/ledger.js";
import { type Machine, STEP } from "../machine/machine.js";
import { copyInto, FRAME_TABLE, type ptep_t } from "../machine/physmem.js";
import { Hypervisor, type HypervisorOptions } from "../xen/hypervisor.js";
import { ContractTracker, ContractViolation } from "./contract.js";
import * as fastFault from "./fault.fast.js";
import { FAULT_OK, FAULT_SIGSEGV } from "./fault-codes.js";
import * as fastMm from "./mprotect.fast.js";
import { PATH_MUTANTS, type PathEvent } from "./paths-api.js";
import type { Arm64BackendOps, BackendContext, BackendModule, FlushRange, PvMmuOps } from "./pvops.js";
import { AddressSpace, type FileArg, type Range, type Vma } from "./vma.js";

function _addToGather(g: { start: number; end: number }, start: number, end: number): void {
  if (start < g.start) g.start = start;
  if (end > g.end) g.end = end;
}

/** x86 tlb_single_page_flush_ceiling: above this many pages a range flush becomes a full flush. */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

export const VM_FAULT_OK = FAULT_OK;
export const VM_FAULT_SIGSEGV = FAULT_SIGSEGV;

/** Deliberately broken kernel variants, for teaching and for testing the checker. */
export const KERNEL_MUTANTS = [
  "commit-after-unlock",
  "skip-tlb-flush",
  "missing-commit",
  "fault-no-pte-same",
  "fork-wrprotect-rmw",
  "fork-skip-flush",
  // The kernel paths' variants (src/kernel/paths-api.ts).
  ...PATH_MUTANTS,
] as const;
export type KernelMutant = (typeof KERNEL_MUTANTS)[number];

export interface KernelOptions {
  /** Lazy MMU nesting rules: "classic" (nesting is a bug) or "nested" (Linux 2025 per-task counter). */
  lazyRules?: "classic" | "nested";
  /** Check the transaction contract at run time (default true). */
  checkContract?: boolean;
  /** Largest nr passed to modify_prot_start/commit_ptes; 1 uses the single-PTE API (default). */
  maxBatch?: number;
  /**
   * Anonymous mTHP: the folio orders do_anonymous_page may allocate for a write fault (the
   * sizes whose /sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled is "always"),
   * each in 2..8 (16 KiB..1 MiB, PTE-mapped); default none (4 KiB folios only).
   */
  anonOrders?: readonly number[];
  /**
   * The architecture's pte_needs_flush, when a scenario picks another than the machine's arch
   * default (arm64: the post-6.17 hook of commit c320dbb7c80d, or a broken variant).
   */
  pteNeedsFlush?: (old: pte_t, nw: pte_t) => boolean;
  /** Backend options (passed to the backend factory). */
  backendOptions?: Record<string, unknown>;
  /** A deliberately broken change_pte_range / mprotect. */
  mutant?: KernelMutant | null;
  /** Where top-down mmap placement starts. */
  mmapBase?: number;
  /**
   * Whether every CPU starts on this mm (CR3 and mm_cpumask; default true). A fork child's mm
   * starts with no CPU: a CPU joins it with `attach`.
   */
  attachCpus?: boolean;
}

/** What the run driver and the oracle want to hear about. All optional. */
export interface KernelObserver {
  /** A fault installed a fresh frame for `addr` (zero-filled, or the zero page when `zero`). */
  newPage?(cpu: number, addr: number, pfn: number, zero: boolean): void;
  /** munmap (or MAP_FIXED) removed the entry `old` for `addr`. */
  zapped?(cpu: number, addr: number, old: pte_t, kept: boolean): void;
  /** A syscall was entered. */
  syscallEnter?(cpu: number, name: string): void;
  /** A syscall returned. */
  syscallReturn?(cpu: number, name: string, ret: number): void;
  /** mmap_lock was taken for write (`taken`) or is about to be released by `cpu`. */
  mmapWrite?(cpu: number, taken: boolean): void;
  /** A kernel path on `cpu` entered a function worth naming in timelines (null: left it). */
  frame?(cpu: number, name: string | null): void;
  /** A kernel path of src/kernel/paths.ts did something the oracle must know (writeback, discard...). */
  pathEvent?(cpu: number, ev: PathEvent): void;
}

export interface MprotectStats {
  /** PTEs visited that were present and went through a transaction. */
  ptesChanged: number;
  /** Pages the deferred TLB flush covered (0: no flush needed). */
  flushPages: number;
  /** Whether that flush was a full flush. */
  flushFull: boolean;
}

/**
 * The BackendContext a kernel hands its backend: the step primitives and nothing that reaches
 * the machine (it is a private field). A class, not closures, so that V8 can inline the per-PTE
 * calls of the hot path (backend -> context -> machine) into change_pte_range.
 */
class KernelBackendContext implements BackendContext {
  readonly #m: Machine;
  readonly #k: Kernel;
  readonly ncpus: number;
  readonly arm64?: Arm64BackendOps;
  constructor(
    k: Kernel,
    readonly options: Readonly<Record<string, unknown>>,
  ) {
    this.#k = k;
    this.#m = k.machine;
    this.ncpus = k.machine.cpus.length;
    const m = k.machine;
    if (m.arm64 !== null)
      this.arm64 = {
        erratum2645198: m.erratum2645198,
        // inc_tlb_flush_pending: change_protection (and munmap) hold it until their flush; here,
        // while a syscall holds mmap_lock for write.
        mm_tlb_flush_pending: () => k.mmapWriter !== -1,
        folio_pfn: (pfn) => m.mem.folioHead(pfn),
        folio_nr_pages: (pfn) => m.mem.folioNr(pfn),
        tlbi_va: (va, _lastLevel) => m.tlbiVa(m.current, va),
        tlbi_asid: () => m.tlbiAsid(m.current),
        dsb: (kind) => m.dsb(m.current, kind),
      };
  }
  currentCpu(): number {
    return this.#m.current;
  }
  read(p: ptep_t): pte_t {
    const m = this.#m;
    return m.pteRead(m.current, p);
  }
  write(p: ptep_t, v: pte_t): void {
    const m = this.#m;
    m.pteWrite(m.current, p, v);
  }
  xchg(p: ptep_t, v: pte_t): pte_t {
    const m = this.#m;
    return m.pteXchg(m.current, p, v);
  }
  cmpxchg(p: ptep_t, e: pte_t, v: pte_t): pte_t {
    const m = this.#m;
    return m.pteCmpxchg(m.current, p, e, v);
  }
  count(counter: number): void {
    const m = this.#m;
    m.ledger.add(m.current, counter);
  }
  validPtep(p: number): boolean {
    const mem = this.#m.mem;
    if (!Number.isInteger(p) || p < 0 || p >= mem.tableSlots * PTRS_PER_TABLE) return false;
    return mem.kind[mem.slotPfn[(p / PTRS_PER_TABLE) | 0]] === FRAME_TABLE;
  }
  createHypervisor(opts: HypervisorOptions = {}): Hypervisor {
    return new Hypervisor(this.#m, opts);
  }
  nativeFlushTlbMulti(cpus: readonly number[], range: FlushRange): void {
    this.#k.nativeFlushTlbMulti(cpus, range);
  }
}

export interface KernelState {
  readonly ptlOwner: Int16Array;
  readonly lazyDepth: Int32Array;
  readonly shmem: ReadonlyMap<number, number>;
  readonly backing: ReadonlyMap<number, number>;
  readonly lazyfree: ReadonlySet<number>;
  readonly folioDirty: ReadonlySet<number>;
  readonly sharedFrames: ReadonlyMap<number, number>;
  readonly ptBase: ReadonlyMap<number, number>;
  /** ptBase's values, ascending. */
  readonly tableBases: readonly number[];
  readonly cpusOfMm: readonly number[];
  readonly lastMprotect: MprotectStats;
  readonly as: AddressSpace;
}

/** Make `dst` hold exactly `src`'s entries. */
function refill<K, V>(dst: Map<K, V>, src: ReadonlyMap<K, V>): void {
  if (dst.size === 0 && src.size === 0) return;
  dst.clear();
  for (const [k, v] of src) dst.set(k, v);
}

function refillSet<T>(dst: Set<T>, src: ReadonlySet<T>): void {
  if (dst.size === 0 && src.size === 0) return;
  dst.clear();
  for (const v of src) dst.add(v);
}

export class Kernel {
  readonly machine: Machine;
  /** The machine's architecture: the only way this generic mm code reads or builds an entry. */
  readonly arch: ArchMm;
  /** The VMAs. (Replaced only by restore.) */
  as: AddressSpace;
  /** The backend's operations. (Replaced only by restore, which creates them afresh.) */
  pv: PvMmuOps;
  private readonly backendCtx: KernelBackendContext;
  readonly backend: BackendModule;
  /** PFN of the mm's PML4. */
  readonly pgd: number;
  /** The CPU on which kernel code is executing now (kept on the machine, where backends read it). */
  get current(): number {
    return this.machine.current;
  }
  set current(cpu: number) {
    this.machine.current = cpu;
  }
  observer: KernelObserver | null = null;
  readonly contract: ContractTracker | null;
  readonly lazyRules: "classic" | "nested";
  readonly maxBatch: number;
  /** pte_needs_flush as change_pte_range calls it (the arch's, or the scenario's choice). */
  readonly pte_needs_flush: (old: pte_t, nw: pte_t) => boolean;
  /** Enabled anonymous mTHP orders, highest first (empty: 4 KiB folios only). */
  readonly anonOrders: readonly number[];
  readonly mutant: KernelMutant | null;
  /** PTE lock owner per page-table slot (-1 free). Split PTE locks: one per table page. */
  ptlOwner: Int16Array = new Int16Array(64).fill(-1);
  /** mmap_lock: the CPU holding it for write, or -1. */
  mmapWriter = -1;
  /** mmap_lock: how many CPUs hold it for read (fault paths). */
  mmapReaders = 0;
  /**
   * Frames mapped by more than one mm (fork's copy_present_pte), with the number of mappings;
   * do_wp_page copies such a page instead of reusing it. Shared by a parent and its children.
   */
  sharedFrames = new Map<number, number>();
  /** Per-CPU lazy MMU nesting depth. */
  private readonly lazyDepth: Int32Array;
  /** Shared anonymous pages by virtual page number (one shmem object per mapping, no fork). */
  readonly shmem = new Map<number, number>();
  /** Frames whose dirtiness was transferred to the page (folio_mark_dirty). */
  readonly folioDirty = new Set<number>();
  /**
   * The backing store of shared pages (the file's blocks), by virtual page number: what
   * writeback wrote last. A shared page reclaim evicted is read back from here.
   */
  readonly backing = new Map<number, number>();
  /**
   * Frames zap_pte_range unmapped whose rmap removal waits for its TLB flush under the PTE lock
   * (tlb_flush_rmaps): folio_mapped still counts them. Empty outside a zap.
   */
  readonly delayedRmap = new Set<number>();
  /** Frames of private anonymous folios marked lazyfree by MADV_FREE (folio_mark_lazyfree). */
  readonly lazyfree = new Set<number>();
  /** mm->tlb_flush_pending: change_protection ranges whose TLB flush has not completed yet. */
  tlbFlushPending = 0;
  /** Variation points of the paths outside change_pte_range (see paths-api.ts), read once. */
  readonly softDirtyInverted: boolean;
  readonly writenotifyIgnoresSoftDirty: boolean;
  /** Statistics of the last mprotect. */
  lastMprotect: MprotectStats = { ptesChanged: 0, flushPages: 0, flushFull: false };
  private readonly cpusOfMm: number[] = [];
  /** Virtual base address of each PTE table, by table slot (for messages). */
  private readonly ptBase = new Map<number, number>();
  /** The virtual bases of ptBase, ascending (range walks skip the extents between them). */
  private tableBases: number[] = [];

  constructor(
    machine: Machine,
    backend: BackendModule,
    private readonly opts: KernelOptions = {},
  ) {
    this.machine = machine;
    this.arch = machine.arch;
    this.backend = backend;
    this.as = new AddressSpace(opts.mmapBase === undefined ? {} : { mmapBase: opts.mmapBase });
    this.contract =
      opts.checkContract === false
        ? null
        : new ContractTracker(machine.cpus.length, machine.arch, (p) => this.addrOfPtep(p));
    this.lazyRules = opts.lazyRules ?? "classic";
    this.maxBatch = opts.maxBatch ?? 1;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > PTRS_PER_TABLE)
      throw new RangeError("maxBatch must be an integer in 1..512");
    const orders = opts.anonOrders ?? [];
    for (const o of orders)
      if (!Number.isInteger(o) || o < 2 || o > 8)
        throw new RangeError(`anonymous mTHP order ${o} is not in 2..8 (16 KiB..1 MiB)`);
    this.anonOrders = [...new Set(orders)].sort((a, b) => b - a);
    this.pte_needs_flush = opts.pteNeedsFlush ?? this.arch.pte_needs_flush;
    this.mutant = opts.mutant ?? null;
    this.softDirtyInverted = this.mutant === "softdirty-check-inverted";
    this.writenotifyIgnoresSoftDirty = this.mutant === "no-writenotify-after-softdirty-clear";
    this.lazyDepth = new Int32Array(machine.cpus.length);
    this.pgd = machine.mem.allocTable();
    if (opts.attachCpus !== false)
      for (const cpu of machine.cpus) {
        cpu.cr3 = this.pgd;
        this.cpusOfMm.push(cpu.id);
      }
    this.backendCtx = new KernelBackendContext(this, opts.backendOptions ?? {});
    this.pv = backend.create(this.backendCtx);
  }

  /**
   * A copy of the kernel's state between syscalls (no lock held, no transaction open, nothing
   * queued in the backend). `restore` returns to it and creates the backend's operations
   * afresh, so a backend must keep nothing between syscalls that machine memory does not hold.
   */
  save(): KernelState {
    if (
      this.mmapWriter !== -1 ||
      this.mmapReaders !== 0 ||
      this.lazyDepth.some((d) => d !== 0) ||
      this.ptlOwner.some((o) => o !== -1)
    )
      throw new Error("Kernel.save inside a syscall");
    return {
      ptlOwner: this.ptlOwner.slice(),
      lazyDepth: this.lazyDepth.slice(),
      shmem: new Map(this.shmem),
      backing: new Map(this.backing),
      lazyfree: new Set(this.lazyfree),
      folioDirty: new Set(this.folioDirty),
      sharedFrames: new Map(this.sharedFrames),
      ptBase: new Map(this.ptBase),
      tableBases: this.tableBases.slice(),
      cpusOfMm: this.cpusOfMm.slice(),
      lastMprotect: { ...this.lastMprotect },
      as: this.as.clone(),
    };
  }

  restore(s: KernelState): void {
    this.ptlOwner = copyInto(this.ptlOwner, s.ptlOwner);
    this.lazyDepth.set(s.lazyDepth);
    this.mmapWriter = -1;
    this.mmapReaders = 0;
    // (The checker restores before every execution: empty collections stay as they are.)
    if (this.sharedFrames.size !== 0 || s.sharedFrames.size !== 0)
      this.sharedFrames = new Map(s.sharedFrames);
    refill(this.shmem, s.shmem);
    refill(this.backing, s.backing);
    refillSet(this.lazyfree, s.lazyfree);
    this.tlbFlushPending = 0;
    this.delayedRmap.clear();
    refillSet(this.folioDirty, s.folioDirty);
    refill(this.ptBase, s.ptBase);
    this.tableBases = s.tableBases.slice();
    this.lastMprotect = { ...s.lastMprotect };
    // A CPU may have left for a fork child's mm (attach) in the run being undone.
    this.cpusOfMm.length = 0;
    this.cpusOfMm.push(...s.cpusOfMm);
    this.deferredCommits = [];
    this.as.restoreFrom(s.as);
    this.contract?.reset();
    this.pv = this.backend.create(this.backendCtx);
  }

  /**
   * switch_mm: `cpu` now runs this mm (CR3 loaded, its TLB flushed: no PCIDs) and joins
   * mm_cpumask. `from` is the mm it leaves, which stops sending it shootdowns.
   */
  attach(cpu: number, from: Kernel | null): void {
    const m = this.machine;
    m.cpus[cpu].cr3 = this.pgd;
    m.flushTlbAll(cpu);
    if (!this.cpusOfMm.includes(cpu)) {
      this.cpusOfMm.push(cpu);
      this.cpusOfMm.sort((a, b) => a - b);
    }
    if (from !== null) {
      const i = from.cpusOfMm.indexOf(cpu);
      if (i >= 0) from.cpusOfMm.splice(i, 1);
    }
  }

  /**
   * The mm of a child of fork(): the same backend and options, no CPU yet, an empty page table
   * (copy_page_range fills it), the VMAs copied (AddressSpace.dup_mmap), the shmem objects and
   * the fork-sharing counts shared with this mm.
   */
  dup_mm(): Kernel {
    const child = new Kernel(this.machine, this.backend, { ...this.opts, attachCpus: false });
    child.as = this.as.dup_mmap();
    child.sharedFrames = this.sharedFrames;
    // Shared anonymous memory stays one object for both: its pages are mapped by both mms.
    for (const [v, pfn] of this.shmem) {
      child.shmem.set(v, pfn);
      this.sharedFrames.set(pfn, this.mapcount(pfn) + 1);
    }
    return child;
  }

  /** CPUs that may cache translations of this mm (mm_cpumask). */
  mmCpumask(): readonly number[] {
    return this.cpusOfMm;
  }

  // ---------------------------------------------------------------- page-table walking

  /**
   * The PTE slot for `addr`, allocating missing tables when `alloc` (pte_alloc), else -1 when
   * an upper level is empty. Upper levels are only changed here, under mmap_lock, so plain
   * accesses suffice (and are not scheduling points).
   */
  walk(addr: number, alloc: boolean): ptep_t {
    const p = this.machine.walkAlloc(this.pgd, addr, alloc, this.arch.tableFlags);
    if (alloc) {
      const slot = (p / PTRS_PER_TABLE) | 0;
      if (!this.ptBase.has(slot)) {
        const base = Math.floor(addr / 0x200000) * 0x200000;
        this.ptBase.set(slot, base);
        this.addTableBase(base);
      }
    }
    return p;
  }

  private addTableBase(base: number): void {
    const b = this.tableBases;
    let i = b.length;
    while (i > 0 && b[i - 1] > base) i--;
    b.splice(i, 0, base);
  }

  /** The table slots of the mm's PTE (leaf) tables, ascending. */
  leafTableSlots(): number[] {
    return [...this.ptBase.keys()].sort((a, b) => a - b);
  }

  /**
   * Where a range walk may continue when walk(addr, false) found no PTE table: the start of the
   * next 2 MiB extent that has one (+Infinity if none), as Linux's p?d_none_or_clear_bad loops
   * skip empty upper-level entries. Keeps walks over huge sparse ranges (a 16 TiB PROT_NONE
   * reserve) proportional to the tables that exist.
   */
  absentExtentEnd(addr: number): number {
    const b = this.tableBases;
    const extent = Math.floor(addr / 0x200000) * 0x200000;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (b[m] <= extent) lo = m + 1;
      else hi = m;
    }
    return lo < b.length ? b[lo] : Number.POSITIVE_INFINITY;
  }

  /** The virtual address a PTE slot maps (-1 if unknown). Not for hot paths. */
  addrOfPtep(ptep: ptep_t): number {
    const base = this.ptBase.get((ptep / PTRS_PER_TABLE) | 0);
    return base === undefined ? -1 : base + (ptep % PTRS_PER_TABLE) * 4096;
  }

  // ---------------------------------------------------------------- locks

  ensureLockSlots(): void {
    const n = this.machine.mem.tableSlots;
    if (this.ptlOwner.length < n) {
      const a = new Int16Array(n).fill(-1);
      a.set(this.ptlOwner);
      this.ptlOwner = a;
    }
  }

  /** Owner of the PTE lock covering `ptep`, or -1. */
  ptlHolder(ptep: ptep_t): number {
    const slot = (ptep / PTRS_PER_TABLE) | 0;
    return slot < this.ptlOwner.length ? this.ptlOwner[slot] : -1;
  }

  /** spin_lock(pte_lockptr(ptep)). The scheduler never runs a CPU into a held lock. */
  pte_lock(ptep: ptep_t): void {
    const cpu = this.current;
    this.machine.step(cpu, STEP.LOCK, ptep);
    this.ptl_acquire(cpu, ptep);
  }

  /** spin_unlock: the contract's "queued commits applied before unlock" is checked here. */
  pte_unlock(ptep: ptep_t): void {
    const cpu = this.current;
    this.ptl_release(cpu, ptep);
    this.machine.step(cpu, STEP.UNLOCK, ptep);
  }

  /**
   * Take the PTE lock covering `ptep` for `cpu`, with no scheduling point: a kernel path yields
   * at(STEP.LOCK, ptep) first, and the scheduler resumes it only when the lock is free.
   */
  ptl_acquire(cpu: number, ptep: ptep_t): void {
    this.ensureLockSlots();
    const slot = (ptep / PTRS_PER_TABLE) | 0;
    const owner = this.ptlOwner[slot];
    if (owner !== -1) throw new Error(`CPU${cpu} would deadlock on the PTE lock held by CPU${owner}`);
    this.ptlOwner[slot] = cpu;
    this.machine.ledger.add(cpu, CTR.pte_lock);
  }

  /**
   * For the checker's state key: the contract's commits awaiting their unlock check
   * (ContractTracker.pendingInto), a commit memory already holds without its value where that
   * is exact. The check passes iff the entry equals the committed value but for A/D bits
   * memory added; once memory holds the value, the value's own A/D bits matter only if a write
   * clears A or D of the entry before the unlock. Until then the entry is written only by
   *   - the hardware, which on x86 sets A and D atomically and never clears them;
   *   - the lock holder, whose path keeps what it read in the key (so the value too), except
   *     change_pte_range after a checkpoint, which writes no entry again once committed;
   *   - updates a backend has queued and not issued yet (another CPU's, queued before the lock
   *     was taken, with xen-broken-lazy-unflushed): none may be queued for the entry
   *     (PvMmuOps.updateQueued; a backend with state of its own that cannot say keeps values);
   * and by no one else, as every other writer takes the PTE lock first. Not so under a kernel
   * mutant (commit-after-unlock writes after its unlock, under the next holder's lock) or on
   * arm64 (a contpte fold or unfold rewrites committed neighbours under the lock, and the
   * broken variants drop their A/D bits): there every value stays in the key.
   */
  pendingCommitsInto(out: number[]): void {
    const c = this.contract;
    if (c === null) return;
    const pv = this.pv;
    const exact =
      this.mutant === null &&
      this.arch.arch === "x86-64" &&
      (this.backend.stateless === true || pv.updateQueued !== undefined);
    c.pendingInto(out, this.machine, exact ? (p) => pv.updateQueued?.(p) !== true : null);
  }

  /** Release the PTE lock (no scheduling point; checks the contract's rules at unlock). */
  ptl_release(cpu: number, ptep: ptep_t): void {
    const slot = (ptep / PTRS_PER_TABLE) | 0;
    if (this.contract !== null) this.contract.unlock(cpu, slot, this.machine);
    this.ptlOwner[slot] = -1;
  }

  // ---------------------------------------------------------------- lazy MMU mode

  lazy_mmu_mode_enable(): void {
    const cpu = this.current;
    const d = this.lazyDepth[cpu];
    if (d > 0 && this.lazyRules === "classic")
      throw new ContractViolation(
        "lazy-nesting",
        cpu,
        -1,
        -1,
        "arch_enter_lazy_mmu_mode while already in lazy MMU mode",
      );
    this.lazyDepth[cpu] = d + 1;
    if (d === 0) this.pv.arch_enter_lazy_mmu_mode();
  }

  lazy_mmu_mode_disable(): void {
    const cpu = this.current;
    const d = this.lazyDepth[cpu];
    if (d === 0)
      throw new ContractViolation(
        "lazy-unbalanced",
        cpu,
        -1,
        -1,
        "leaving lazy MMU mode that was not entered",
      );
    this.lazyDepth[cpu] = d - 1;
    if (d === 1) this.pv.arch_leave_lazy_mmu_mode();
    else this.pv.arch_flush_lazy_mmu_mode(); // nested leave flushes (2025 rules)
  }

  inLazyMmuMode(cpu: number): boolean {
    return this.lazyDepth[cpu] > 0;
  }

  // ---------------------------------------------------------------- the transaction API

  // The PTE-lock check of start and commit is requirePtl's, done in line; on a failure the
  // out-of-line helper finds which rule broke, checking in the same order. change_pte_range's
  // loop (changePtes) spells both methods out in line: keep them in step.

  ptep_modify_prot_start(vma: Vma, addr: number, ptep: ptep_t): pte_t {
    const c = this.contract;
    if (c !== null) {
      const cpu = this.machine.current;
      if (this.ptlOwner[ptep >> 9] !== cpu || !c.start(cpu, ptep)) this.startFailed(ptep, addr);
    }
    return this.pv.ptep_modify_prot_start(vma, addr, ptep);
  }

  ptep_modify_prot_commit(vma: Vma, addr: number, ptep: ptep_t, old_pte: pte_t, pte: pte_t): void {
    const c = this.contract;
    if (c !== null) {
      const cpu = this.machine.current;
      if (this.ptlOwner[ptep >> 9] !== cpu || !c.commit(cpu, ptep, pte)) this.commitFailed(ptep, addr);
    }
    this.pv.ptep_modify_prot_commit(vma, addr, ptep, old_pte, pte);
  }

  /** A start broke the contract: which rule (the loop checks in line, this says why). */
  startFailed(ptep: ptep_t, addr: number): never {
    this.requirePtl(ptep, addr, "ptep_modify_prot_start");
    this.contractFail("nested-start", ptep, addr);
  }
  commitFailed(ptep: ptep_t, addr: number): never {
    this.requirePtl(ptep, addr, "ptep_modify_prot_commit");
    this.contractFail("commit-without-start", ptep, addr);
  }

  /** modify_prot_start_ptes: the backend's, or the generic loop ORing A/D (Linux 6.17). */
  modify_prot_start_ptes(vma: Vma, addr: number, ptep: ptep_t, nr: number): pte_t {
    if (nr === 1) return this.ptep_modify_prot_start(vma, addr, ptep);
    const c = this.contract;
    const pv = this.pv;
    if (pv.modify_prot_start_ptes !== undefined) {
      if (c !== null) for (let i = 0; i < nr; i++) this.contractStart(ptep + i, addr + i * 4096);
      return pv.modify_prot_start_ptes(vma, addr, ptep, nr);
    }
    let pte = this.ptep_modify_prot_start(vma, addr, ptep);
    for (let i = 1; i < nr; i++) {
      const t = this.ptep_modify_prot_start(vma, addr + i * 4096, ptep + i);
      if (this.arch.pte_dirty(t)) pte = this.arch.pte_mkdirty(pte);
      if (this.arch.pte_young(t)) pte = this.arch.pte_mkyoung(pte);
    }
    return pte;
  }

  /** modify_prot_commit_ptes: the backend's, or the generic loop advancing the PFN. */
  modify_prot_commit_ptes(
    vma: Vma,
    addr: number,
    ptep: ptep_t,
    old_pte: pte_t,
    pte: pte_t,
    nr: number,
  ): void {
    if (nr === 1) {
      this.ptep_modify_prot_commit(vma, addr, ptep, old_pte, pte);
      return;
    }
    const c = this.contract;
    const pv = this.pv;
    if (pv.modify_prot_commit_ptes !== undefined) {
      if (c !== null)
        for (let i = 0; i < nr; i++) {
          this.requirePtl(ptep + i, addr + i * 4096, "modify_prot_commit_ptes");
          if (!c.commit(this.current, ptep + i, this.arch.pte_advance_pfn(pte, i)))
            this.contractFail("commit-without-start", ptep + i, addr + i * 4096);
        }
      pv.modify_prot_commit_ptes(vma, addr, ptep, old_pte, pte, nr);
      return;
    }
    for (let i = 0; i < nr; i++)
      this.ptep_modify_prot_commit(
        vma,
        addr + i * 4096,
        ptep + i,
        this.arch.pte_advance_pfn(old_pte, i),
        this.arch.pte_advance_pfn(pte, i),
      );
  }

  private contractStart(ptep: ptep_t, addr: number): void {
    this.requirePtl(ptep, addr, "modify_prot_start_ptes");
    if (!this.contract!.start(this.current, ptep)) this.contractFail("nested-start", ptep, addr);
  }

  private requirePtl(ptep: ptep_t, addr: number, what: string): void {
    // ptep >> 9: the table slot (PTRS_PER_TABLE = 512). An index past the lock array reads
    // undefined: never the current CPU, so a violation.
    if (this.ptlOwner[ptep >> 9] !== this.machine.current) this.noPtl(ptep, addr, what);
  }
  private contractFail(rule: "nested-start" | "commit-without-start", ptep: ptep_t, addr: number): never {
    throw new ContractViolation(
      rule,
      this.current,
      ptep,
      addr,
      rule === "nested-start"
        ? "ptep_modify_prot_start on a PTE whose transaction is open"
        : "ptep_modify_prot_commit with no matching start",
    );
  }
  private noPtl(ptep: ptep_t, addr: number, what: string): never {
    throw new ContractViolation(
      "pte-lock-not-held",
      this.current,
      ptep,
      addr,
      `${what} without the PTE lock`,
    );
  }

  // ---------------------------------------------------------------- TLB

  /** flush_tlb_mm_range: single-page invalidations up to the ceiling, else a full flush. */
  flush_tlb_mm_range(start: number, end: number): void {
    const pages = (end - start) / 4096;
    this.pv.flush_tlb_multi(this.cpusOfMm, { start, end, full: pages > TLB_SINGLE_PAGE_FLUSH_CEILING });
  }

  /** native_flush_tlb_multi: the local CPU flushes itself, the others by IPI; the caller waits. */
  nativeFlushTlbMulti(cpus: readonly number[], range: FlushRange): void {
    const m = this.machine;
    const me = this.current;
    for (const c of cpus) {
      m.step(me, STEP.TLB_FLUSH, c);
      if (c !== me) m.ledger.add(me, CTR.ipi);
      if (range.full) m.flushTlbAll(c);
      else for (let a = range.start; a < range.end; a += 4096) m.invlpg(c, a);
    }
  }

  // ---------------------------------------------------------------- mmap_lock

  /** mmap_read_lock (no scheduling point: a path yields at(STEP.MMAP_LOCK_READ, -1) first). */
  mmapReadLock(cpu: number): void {
    if (this.mmapWriter !== -1)
      throw new Error(`CPU${cpu} would deadlock on mmap_lock held for write by CPU${this.mmapWriter}`);
    this.mmapReaders++;
  }
  mmapReadUnlock(_cpu: number): void {
    this.mmapReaders--;
  }

  mmapWriteLock(cpu: number): void {
    if (this.mmapWriter !== -1 || this.mmapReaders !== 0)
      throw new Error(
        `CPU${cpu} would deadlock on mmap_lock held by ${this.mmapWriter !== -1 ? `CPU${this.mmapWriter}` : "readers"}`,
      );
    this.mmapWriter = cpu;
    this.machine.ledger.add(cpu, CTR.mmap_lock);
    this.observer?.mmapWrite?.(cpu, true);
  }
  /** Release mmap_lock; `completed` false when unwinding from a failure (observers are not told). */
  mmapWriteUnlock(completed = true): void {
    if (completed) this.observer?.mmapWrite?.(this.mmapWriter, false);
    this.mmapWriter = -1;
  }

  /** Syscall entry on `cpu` (a scheduling point); returns the CPU to restore in leave(). */
  enter(cpu: number, name: string): number {
    const prev = this.current;
    this.current = cpu;
    this.machine.step(cpu, STEP.SYSCALL_ENTER, -1);
    this.machine.ledger.add(cpu, CTR.syscall);
    this.observer?.syscallEnter?.(cpu, name);
    return prev;
  }
  /** Syscall exit (a scheduling point); tells the observer; returns `ret`. */
  leave(cpu: number, name: string, ret: number, prev: number): number {
    this.machine.step(cpu, STEP.SYSCALL_EXIT, -1);
    this.observer?.syscallReturn?.(cpu, name, ret);
    this.current = prev;
    return ret;
  }

  // ---------------------------------------------------------------- syscalls
  //
  // mmap, munmap and mprotect are kernel paths of ./mprotect.ts; these run their generated
  // twins to the end (setup, replay, the benchmark): one source for both.

  /**
   * mmap(addr, len, prot, flags, fd, offset): anonymous memory, or a file described by `file`
   * (file pages are modelled as memory of the mapping, private or shared). Returns the address
   * or -errno.
   */
  sys_mmap(
    cpu: number,
    addr: number,
    len: number,
    prot: number,
    flags: number,
    file: FileArg | null = null,
  ): number {
    const prev = this.current;
    try {
      return fastMm.sys_mmap(this, cpu, addr, len, prot, flags, file);
    } finally {
      this.afterSyscall(prev);
    }
  }

  sys_munmap(cpu: number, addr: number, len: number): number {
    const prev = this.current;
    try {
      return fastMm.sys_munmap(this, cpu, addr, len);
    } finally {
      this.afterSyscall(prev);
    }
  }

  /** mprotect(addr, len, prot): see ./mprotect.ts. Its statistics are in lastMprotect. */
  sys_mprotect(cpu: number, addr: number, len: number, prot: number): number {
    const prev = this.current;
    try {
      return fastMm.sys_mprotect(this, cpu, addr, len, prot);
    } finally {
      this.afterSyscall(prev);
    }
  }

  /** After a syscall run to the end (or failing): mmap_lock released, the previous CPU current. */
  private afterSyscall(prev: number): void {
    if (this.mmapWriter !== -1) this.mmapWriteUnlock(false);
    this.current = prev;
  }

  /** zap_pte_range over unmapped ranges (brk, mremap): the one in ./mprotect.ts, to the end. */
  zapRanges(ranges: readonly Range[]): void {
    fastMm.zap_ranges(this, this.current, ranges, false);
  }

  /** can_change_pte_writable (mm/mprotect.c), for the memory this kernel models. */
  can_change_pte_writable(vma: Vma, pte: pte_t): boolean {
    return fastMm.canChangeWritable(this, this.machine.mem.kind, vma.flags, pte);
  }

  /** Commits the commit-after-unlock mutant still owes: (ptep, addr, old, new) quadruples. */
  deferredCommits: number[] = [];

  /**
   * Route every single-PTE transaction of change_pte_range through the
   * ptep_modify_prot_start/commit methods instead of their in-line copy. The two must behave
   * identically (same memory, same contract log, same events): kernel.test.ts compares them.
   */
  transactionsViaWrappers = false;

  // ---------------------------------------------------------------- page faults

  /** Whether the PTE lock covering `addr` is free (or there is no page table there yet). */
  canTakePteLock(addr: number): boolean {
    const p = this.walk(addr, false);
    return p < 0 || this.ptlHolder(p) === -1;
  }

  /**
   * handle_mm_fault for a user access by `cpu` at `addr` with x86 error code `err`, run to the
   * end with no scheduler: the fast twin of the one fault path (src/kernel/fault.ts).
   */
  handle_mm_fault(cpu: number, addr: number, err: number): number {
    const prev = this.current;
    this.current = cpu;
    try {
      return fastFault.handle_mm_fault(this, cpu, addr, err);
    } finally {
      this.current = prev;
    }
  }

  /**
   * A user access by `cpu` run to completion with no scheduler (setup, populate, replay,
   * probes): the access, and on a fault the fault path and a retry. Returns true when the access
   * completed (the CPU's lastValue holds the word), false on SIGSEGV. The one "touch, fault,
   * retry" loop of every driver.
   */
  faultin(cpu: number, addr: number, kind: number, value: number): boolean {
    const m = this.machine;
    for (let tries = 0; tries < 8; tries++) {
      if (m.access(cpu, addr, kind, value)) return true;
      if (this.handle_mm_fault(cpu, addr, m.cpus[cpu].pfError) === VM_FAULT_SIGSEGV) return false;
    }
    throw new Error(`CPU${cpu}: the access to 0x${addr.toString(16)} keeps faulting`);
  }

  /** How many mms map frame `pfn` (fork's COW sharing; 1 when not shared). */
  mapcount(pfn: number): number {
    return this.sharedFrames.get(pfn) ?? 1;
  }

  /** One mapping of a frame shared by fork went away (COW broken, or unmapped). */
  unmapShared(pfn: number): void {
    const n = this.sharedFrames.get(pfn);
    if (n === undefined) return;
    if (n <= 2) this.sharedFrames.delete(pfn);
    else this.sharedFrames.set(pfn, n - 1);
  }

  // ---------------------------------------------------------------- reclaim-style aging

  /** ptep_clear_flush_young over a range: what page reclaim's rmap walk does to find cold pages. */
  ageRange(cpu: number, start: number, end: number): number {
    const prev = this.current;
    this.current = cpu;
    let cleared = 0;
    try {
      for (let addr = start; addr < end; addr += 4096) {
        const ptep = this.walk(addr, false);
        if (ptep < 0) continue;
        this.pte_lock(ptep);
        const v = this.machine.pteRead(cpu, ptep);
        if (
          this.arch.pte_valid(v) &&
          this.arch.pte_young(v) &&
          this.pv.ptep_test_and_clear_young(addr, ptep)
        ) {
          cleared++;
          this.pte_unlock(ptep);
          this.flush_tlb_mm_range(addr, addr + 4096);
          continue;
        }
        this.pte_unlock(ptep);
      }
    } finally {
      this.current = prev;
    }
    return cleared;
  }

  /** Read the PTE for `addr` without side effects (for oracles and display), or NULL_PTE. */
  peekPte(addr: number): pte_t {
    const p = this.walk(addr, false);
    return p < 0 ? (0 as pte_t) : this.machine.peekPte(p);
  }
}
