// A Linux-like kernel for one address space (mm): the syscalls mmap, munmap and mprotect, the
// page-fault handler, split PTE locks, lazy MMU mode, TLB shootdown and change_protection ->
// change_pte_range through ptep_modify_prot_start/commit, all dispatched through a PvMmuOps
// backend. Pure: no I/O, no node: imports.
import { type ArchMm, PTRS_PER_PTE as PTRS_PER_TABLE, type pte_t } from "../arch/types.js";
import { CTR } from "../machine/ledger.js";
import { type Machine, STEP } from "../machine/machine.js";
import { copyInto, FRAME_DATA, FRAME_TABLE, type ptep_t } from "../machine/physmem.js";
import { Hypervisor, type HypervisorOptions } from "../xen/hypervisor.js";
import { ContractTracker, ContractViolation } from "./contract.js";
import type { Arm64BackendOps, BackendContext, BackendModule, FlushRange, PvMmuOps } from "./pvops.js";
import { AddressSpace, type FileArg, type Range, VM_SHARED, VM_WRITE, type Vma } from "./vma.js";

function addToGather(g: { start: number; end: number }, start: number, end: number): void {
  if (start < g.start) g.start = start;
  if (end > g.end) g.end = end;
}

/** x86 tlb_single_page_flush_ceiling: above this many pages a range flush becomes a full flush. */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

export const VM_FAULT_OK = 0;
export const VM_FAULT_SIGSEGV = 1;

/** Deliberately broken kernel variants, for teaching and for testing the checker. */
export const KERNEL_MUTANTS = ["commit-after-unlock", "skip-tlb-flush", "missing-commit"] as const;
export type KernelMutant = (typeof KERNEL_MUTANTS)[number];
/** change_pte_range's mutant codes (skip-tlb-flush is sys_mprotect's: the loop is unchanged). */
const MUTANT_NONE = 0;
const MUTANT_CODE: Readonly<Record<KernelMutant, number>> = {
  "commit-after-unlock": 1,
  "skip-tlb-flush": MUTANT_NONE,
  "missing-commit": 2,
};

export interface KernelOptions {
  /** Lazy MMU nesting rules: "classic" (nesting is a bug) or "nested" (Linux 2025 per-task counter). */
  lazyRules?: "classic" | "nested";
  /** Check the transaction contract at run time (default true). */
  checkContract?: boolean;
  /** Largest nr passed to modify_prot_start/commit_ptes; 1 uses the single-PTE API (default). */
  maxBatch?: number;
  /** Backend options (passed to the backend factory). */
  backendOptions?: Record<string, unknown>;
  /** A deliberately broken change_pte_range / mprotect. */
  mutant?: KernelMutant | null;
  /** Where top-down mmap placement starts. */
  mmapBase?: number;
}

/** What the run driver and the oracle want to hear about. All optional. */
export interface KernelObserver {
  /** A fault installed a fresh frame for `addr` (zero-filled, or the zero page when `zero`). */
  newPage?(cpu: number, addr: number, pfn: number, zero: boolean): void;
  /** munmap (or MAP_FIXED) removed the entry `old` for `addr`. */
  zapped?(cpu: number, addr: number, old: pte_t): void;
  /** A syscall was entered. */
  syscallEnter?(cpu: number, name: string): void;
  /** A syscall returned. */
  syscallReturn?(cpu: number, name: string, ret: number): void;
  /** mmap_lock was taken for write (`taken`) or is about to be released by `cpu`. */
  mmapWrite?(cpu: number, taken: boolean): void;
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
  readonly folioDirty: ReadonlySet<number>;
  readonly ptBase: ReadonlyMap<number, number>;
  readonly lastMprotect: MprotectStats;
  readonly as: AddressSpace;
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
  readonly mutant: KernelMutant | null;
  /** PTE lock owner per page-table slot (-1 free). Split PTE locks: one per table page. */
  private ptlOwner: Int16Array = new Int16Array(64).fill(-1);
  /** mmap_lock: the CPU holding it for write, or -1. */
  mmapWriter = -1;
  /** Per-CPU lazy MMU nesting depth. */
  private readonly lazyDepth: Int32Array;
  /** Shared anonymous pages by virtual page number (one shmem object per mapping, no fork). */
  private readonly shmem = new Map<number, number>();
  /** Frames whose dirtiness was transferred to the page (folio_mark_dirty). */
  readonly folioDirty = new Set<number>();
  /** Statistics of the last mprotect. */
  lastMprotect: MprotectStats = { ptesChanged: 0, flushPages: 0, flushFull: false };
  private readonly cpusOfMm: number[] = [];
  /** Virtual base address of each PTE table, by table slot (for messages). */
  private readonly ptBase = new Map<number, number>();
  /** The virtual bases of ptBase, ascending (range walks skip the extents between them). */
  private tableBases: number[] = [];

  constructor(machine: Machine, backend: BackendModule, opts: KernelOptions = {}) {
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
    this.mutant = opts.mutant ?? null;
    this.lazyDepth = new Int32Array(machine.cpus.length);
    this.pgd = machine.mem.allocTable();
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
    if (this.mmapWriter !== -1 || this.lazyDepth.some((d) => d !== 0) || this.ptlOwner.some((o) => o !== -1))
      throw new Error("Kernel.save inside a syscall");
    return {
      ptlOwner: this.ptlOwner.slice(),
      lazyDepth: this.lazyDepth.slice(),
      shmem: new Map(this.shmem),
      folioDirty: new Set(this.folioDirty),
      ptBase: new Map(this.ptBase),
      lastMprotect: { ...this.lastMprotect },
      as: this.as.clone(),
    };
  }

  restore(s: KernelState): void {
    this.ptlOwner = copyInto(this.ptlOwner, s.ptlOwner);
    this.lazyDepth.set(s.lazyDepth);
    this.mmapWriter = -1;
    this.shmem.clear();
    for (const [k, v] of s.shmem) this.shmem.set(k, v);
    this.folioDirty.clear();
    for (const f of s.folioDirty) this.folioDirty.add(f);
    this.ptBase.clear();
    for (const [k, v] of s.ptBase) this.ptBase.set(k, v);
    this.tableBases = [...s.ptBase.values()].sort((x, y) => x - y);
    this.lastMprotect = { ...s.lastMprotect };
    this.as = s.as.clone();
    this.contract?.reset();
    this.pv = this.backend.create(this.backendCtx);
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

  private ensureLockSlots(): void {
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
    this.ensureLockSlots();
    const slot = (ptep / PTRS_PER_TABLE) | 0;
    const owner = this.ptlOwner[slot];
    if (owner !== -1) throw new Error(`CPU${cpu} would deadlock on the PTE lock held by CPU${owner}`);
    this.ptlOwner[slot] = cpu;
    this.machine.ledger.add(cpu, CTR.pte_lock);
  }

  /** spin_unlock: the contract's "queued commits applied before unlock" is checked here. */
  pte_unlock(ptep: ptep_t): void {
    const cpu = this.current;
    const slot = (ptep / PTRS_PER_TABLE) | 0;
    if (this.contract !== null) this.contract.unlock(cpu, slot, this.machine);
    this.ptlOwner[slot] = -1;
    this.machine.step(cpu, STEP.UNLOCK, ptep);
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

  private startFailed(ptep: ptep_t, addr: number): never {
    this.requirePtl(ptep, addr, "ptep_modify_prot_start");
    this.contractFail("nested-start", ptep, addr);
  }
  private commitFailed(ptep: ptep_t, addr: number): never {
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

  mmapWriteLock(cpu: number): void {
    if (this.mmapWriter !== -1)
      throw new Error(`CPU${cpu} would deadlock on mmap_lock held by CPU${this.mmapWriter}`);
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
    const prev = this.enter(cpu, "mmap");
    this.mmapWriteLock(cpu);
    let ret: number;
    try {
      const r = this.as.mmap(addr, len, prot, flags, file);
      if (!r.ok) ret = -r.errno;
      else {
        this.zapRanges(r.unmapped);
        ret = r.addr;
      }
    } finally {
      this.mmapWriteUnlock();
    }
    return this.leave(cpu, "mmap", ret, prev);
  }

  sys_munmap(cpu: number, addr: number, len: number): number {
    const prev = this.enter(cpu, "munmap");
    this.mmapWriteLock(cpu);
    let done = false;
    let ret: number;
    try {
      const r = this.as.munmap(addr, len);
      if (r.errno !== 0) ret = -r.errno;
      else {
        this.zapRanges(r.unmapped);
        ret = 0;
      }
      done = true;
    } finally {
      this.mmapWriteUnlock(done);
    }
    return this.leave(cpu, "munmap", ret, prev);
  }

  /**
   * mprotect(addr, len, prot). VMAs are updated first (split/merge), then change_protection runs
   * on each changed piece with one mmu_gather, and the deferred TLB flush completes before the
   * call returns (the property "no stale writable TLB entry after mprotect returns").
   */
  sys_mprotect(cpu: number, addr: number, len: number, prot: number): number {
    const prev = this.enter(cpu, "mprotect");
    this.mmapWriteLock(cpu);
    let done = false;
    const st: MprotectStats = { ptesChanged: 0, flushPages: 0, flushFull: false };
    let ret: number;
    try {
      const r = this.as.mprotect(addr, len, prot);
      const gather = { start: Number.POSITIVE_INFINITY, end: 0 };
      // tlb_gather_mmu once the arguments are valid; mprotect_fixup per VMA changed.
      if (r.errno === 0 || r.changes.length > 0) this.machine.ledger.add(cpu, CTR.tlb_gather);
      if (r.changes.length > 0) this.machine.ledger.add(cpu, CTR.vma_walk, r.changes.length);
      for (const ch of r.changes)
        st.ptesChanged += this.change_protection(ch.vma, ch.start, ch.end, ch.tryChangeWritable, gather);
      if (gather.end > 0 && this.mutant !== "skip-tlb-flush") {
        st.flushPages = (gather.end - gather.start) / 4096;
        st.flushFull = st.flushPages > TLB_SINGLE_PAGE_FLUSH_CEILING;
        this.flush_tlb_mm_range(gather.start, gather.end); // tlb_finish_mmu
      }
      ret = r.errno === 0 ? 0 : -r.errno;
      done = true;
    } finally {
      this.mmapWriteUnlock(done);
    }
    this.lastMprotect = st;
    return this.leave(cpu, "mprotect", ret, prev);
  }

  /** change_protection over [start, end) of `vma`; returns the number of PTEs changed. */
  change_protection(
    vma: Vma,
    start: number,
    end: number,
    tryWritable: boolean,
    gather: { start: number; end: number },
  ): number {
    const newprot = this.arch.vm_get_page_prot(vma.flags);
    let pages = 0;
    // change_pmd_range granularity: one page table (2 MiB) at a time.
    for (let addr = start; addr < end; ) {
      const ptep = this.walk(addr, false);
      if (ptep < 0) {
        addr = Math.min(end, this.absentExtentEnd(addr));
        continue;
      }
      const next = Math.min(end, (Math.floor(addr / 0x200000) + 1) * 0x200000);
      pages += this.change_pte_range(vma, ptep, addr, next, newprot, tryWritable, gather);
      addr = next;
    }
    return pages;
  }

  /**
   * change_pte_range, as in mm/mprotect.c: PTE lock, lazy MMU mode, and for each present entry
   * (or folio batch of entries) start -> pte_modify -> try-change-writable -> commit,
   * accumulating pte_needs_flush. The one loop that `run`, `check`, `replay` and the benchmark
   * use; folio batching and the kernel mutants are variation points of it (changePtes).
   */
  change_pte_range(
    vma: Vma,
    ptep0: ptep_t,
    start: number,
    end: number,
    newprot: number,
    tryWritable: boolean,
    gather: { start: number; end: number },
  ): number {
    // VMA objects come in several hidden-class shapes: their fields are read here, where a new
    // shape costs V8 a deoptimization of this short function only, not of the loop.
    const vmFlags = vma.flags;
    this.pte_lock(ptep0);
    this.lazy_mmu_mode_enable();
    const pages = this.changePtes(
      vma,
      ptep0,
      start,
      (end - start) / 4096,
      newprot,
      tryWritable,
      vmFlags,
      gather,
    );
    // The lines the walk touched (PTEs, struct pages), by reuse distance: what makes a large
    // call dearer per PTE once they no longer stay in the caches (machine/linecache.ts).
    this.machine.touchMetadata(
      this.current,
      ptep0,
      (end - start) / 4096,
      this.arch.pte_present,
      this.arch.pte_pfn,
    );
    // vm_normal_folio per present PTE; with folio batches, counted per batch by folioBatch.
    if (this.maxBatch === 1) this.machine.ledger.add(this.current, CTR.folio_lookup, pages);
    this.lazy_mmu_mode_disable();
    this.pte_unlock(ptep0);
    // The commit-after-unlock mutant commits outside the lock (with the contract checked, the
    // unlock itself has already reported the open transactions).
    const d = this.deferredCommits;
    if (d.length > 0) {
      this.deferredCommits = [];
      for (let j = 0; j < d.length; j += 4)
        this.ptep_modify_prot_commit(vma, d[j + 1], d[j], d[j + 2] as pte_t, d[j + 3] as pte_t);
    }
    return pages;
  }

  /** Commits the commit-after-unlock mutant still owes: (ptep, addr, old, new) quadruples. */
  private deferredCommits: number[] = [];

  /**
   * Route every single-PTE transaction of changePtes through the ptep_modify_prot_start/commit
   * methods instead of their in-line copy. The two must behave identically (same memory, same
   * contract log, same events): kernel.test.ts compares them over generated tables.
   */
  transactionsViaWrappers = false;

  /**
   * change_pte_range's loop over the `count` entries from `ptep0` (mapping from `start`), under
   * the PTE lock and in lazy MMU mode; adds the range needing a TLB flush to `gather`. Returns
   * the number of entries changed.
   *
   * Variation points, all in this one loop:
   * - kernel.maxBatch > 1: folio batches (folioBatch reads the following entries through the
   *   machine's primitives, as folio_pte_batch's ptep_get does, so the checker sees the batch
   *   size being decided) go through modify_prot_start/commit_ptes;
   * - the kernel mutants (missing-commit, commit-after-unlock) replace the commit;
   * - transactionsViaWrappers (tests) uses the wrapper methods for single entries.
   *
   * The hot path (single entries, no mutant) is written for V8 (docs/PERFORMANCE.md):
   * ptep_modify_prot_start/commit are spelled out in line, contract checks then the backend's
   * operation, which is what the two methods do (a test pins that they behave the same).
   * With no scheduler hook installed nothing else runs until the loop ends, so the contract is
   * checked per table (ContractTracker.beginRun) rather than per transaction, every commit
   * still logged for the check at pte_unlock. With a hook, each start and commit is checked.
   */
  private changePtes(
    vma: Vma,
    ptep0: ptep_t,
    start: number,
    count: number,
    newprot: number,
    tryWritable: boolean,
    vmaFlags: number,
    gather: { start: number; end: number },
  ): number {
    const arch = this.arch;
    const present = arch.pte_present;
    const modify = arch.pte_modify;
    const writable = arch.pte_write;
    const mkwrite = arch.pte_mkwrite;
    const needsFlush = arch.pte_needs_flush;
    const m = this.machine;
    const pv = this.pv;
    const c = this.contract;
    const cpu = m.current;
    const n = count | 0;
    const base = +start;
    const vmFlags = vmaFlags | 0;
    const tryWrite = tryWritable === true;
    const maxBatch = this.maxBatch | 0;
    const mutant = this.mutant === null ? MUTANT_NONE : MUTANT_CODE[this.mutant];
    // Single entries in line unless a variation point asks for the wrappers.
    const inlineTxn = this.transactionsViaWrappers !== true;
    // Frame kinds, read once: no frame is allocated while mprotect holds mmap_lock for write.
    const kinds = m.mem.kind;
    let pages = 0;
    let first = -1; // the entries needing a TLB flush: [first, last]
    let last = -1;
    // The contract log position while the table's transactions run checked per table, or -1.
    let pos =
      c !== null &&
      m.hook === null &&
      inlineTxn &&
      maxBatch === 1 &&
      mutant === MUTANT_NONE &&
      this.ptlOwner[ptep0 >> 9] === cpu
        ? c.beginRun(cpu, n)
        : -1;
    for (let i = 0; i < n; ) {
      // Between PTEs the loop's live state is (position, flush range so far): say so to a
      // checker, which may then forget the values read for earlier PTEs.
      if (m.hook !== null) this.checkpoint(ptep0, i, first, last, gather);
      const ptep = ptep0 + i;
      const firstPte = m.pteRead(cpu, ptep); // ptep_get
      if (!present(firstPte)) {
        i++;
        continue;
      }
      const addr = base + i * 4096;
      const nr = maxBatch > 1 ? this.folioBatch(cpu, ptep, firstPte, Math.min(maxBatch, n - i)) : 1;
      let oldpte: pte_t;
      if (nr === 1 && inlineTxn) {
        // ptep_modify_prot_start (in line, see above)
        if (pos < 0 && c !== null && (this.ptlOwner[ptep >> 9] !== cpu || !c.start(cpu, ptep)))
          this.startFailed(ptep, addr);
        oldpte = pv.ptep_modify_prot_start(vma, addr, ptep);
      } else oldpte = this.modify_prot_start_ptes(vma, addr, ptep, nr);
      // ptent = pte_modify(oldpte, newprot), then pte_mkwrite if can_change_pte_writable
      let ptent = modify(oldpte, newprot);
      if (tryWrite && !writable(ptent) && this.canChangeWritableIn(kinds, vmFlags, ptent))
        ptent = mkwrite(ptent);
      if (mutant !== MUTANT_NONE) this.mutantCommit(mutant, vma, addr, ptep, oldpte, ptent, nr);
      else if (nr === 1 && inlineTxn) {
        // ptep_modify_prot_commit (in line, see above)
        if (pos >= 0) c!.runCommit(pos++, ptep, ptent);
        else if (c !== null && (this.ptlOwner[ptep >> 9] !== cpu || !c.commit(cpu, ptep, ptent)))
          this.commitFailed(ptep, addr);
        pv.ptep_modify_prot_commit(vma, addr, ptep, oldpte, ptent);
      } else this.modify_prot_commit_ptes(vma, addr, ptep, oldpte, ptent, nr);
      if (needsFlush(oldpte, ptent)) {
        if (first < 0) first = i;
        last = i + nr - 1;
      }
      pages += nr;
      i += nr;
    }
    if (pos >= 0) c!.endRun(cpu, pos);
    if (first >= 0) addToGather(gather, base + first * 4096, base + (last + 1) * 4096);
    return pages;
  }

  /** The kernel mutants' replacement for the commit of `nr` entries from `ptep`. */
  private mutantCommit(
    mutant: number,
    _vma: Vma,
    addr: number,
    ptep: ptep_t,
    oldpte: pte_t,
    ptent: pte_t,
    nr: number,
  ): void {
    if (mutant === MUTANT_CODE["commit-after-unlock"]) {
      for (let j = 0; j < nr; j++)
        this.deferredCommits.push(
          ptep + j,
          addr + j * 4096,
          this.arch.pte_advance_pfn(oldpte, j),
          this.arch.pte_advance_pfn(ptent, j),
        );
      return;
    }
    if (mutant === MUTANT_CODE["missing-commit"] && this.contract !== null) {
      // The mutant forgets the commit; keep the contract tracker quiet about pairing so the
      // checker sees the consequence (data loss), not only the bookkeeping rule.
      for (let j = 0; j < nr; j++)
        this.contract.commit(this.current, ptep + j, this.machine.peekPte(ptep + j));
    }
  }

  private checkpoint(
    ptep0: ptep_t,
    i: number,
    lo: number,
    hi: number,
    gather: { start: number; end: number },
  ): void {
    const h = this.machine.hook;
    if (h?.checkpoint === undefined) return;
    const live = [ptep0, i, lo, hi, gather.start, gather.end];
    this.contract?.pendingInto(this.current, live);
    h.checkpoint(this.current, live);
  }

  /** How many entries from `ptep` map consecutive frames with identical flags (one folio's run). */
  private folioBatch(cpu: number, ptep: ptep_t, first: pte_t, max: number): number {
    // ptep_get of each following entry: a real load, so one step of the checker's, and what it
    // returns (hence the batch size) is part of the checker's state.
    const m = this.machine;
    m.ledger.add(cpu, CTR.folio_lookup); // one vm_normal_folio per batch
    let n = 1;
    while (n < max && m.pteRead(cpu, ptep + n) === this.arch.pte_advance_pfn(first, n)) n++;
    return n;
  }

  /** can_change_pte_writable (mm/mprotect.c), for the memory this kernel models. */
  can_change_pte_writable(vma: Vma, pte: pte_t): boolean {
    return this.canChangeWritableIn(this.machine.mem.kind, vma.flags, pte);
  }

  /** The same with the frame-kind array passed in (read once per page table by the caller). */
  private canChangeWritableIn(kinds: Uint8Array, vmFlags: number, pte: pte_t): boolean {
    // Literal VM_* and frame-kind values, not the imported constants: this runs per PTE in
    // mprotect's loop, and each module binding costs V8 a cell load and a check there. Checked
    // against the constants in kernel.test.ts ("canChangeWritable masks").
    const arch = this.arch;
    this.machine.ledger.add(this.current, CTR.can_change_pte_writable);
    if ((vmFlags & 0x2) === 0) return false; // VM_WRITE
    if (arch.pte_protnone(pte)) return false;
    // Private: only exclusive anonymous pages (every anon page here is exclusive: no fork);
    // never the shared zero page. Shared: a clean entry may still need a write fault.
    if ((vmFlags & 0x8) === 0) return !arch.pte_special(pte) && kinds[arch.pte_pfn(pte)] === 2; // !VM_SHARED: FRAME_DATA
    return arch.pte_dirty(pte);
  }

  /** Remove the translations of unmapped ranges: clear PTEs, transfer D, flush, free frames. */
  zapRanges(ranges: readonly Range[]): void {
    if (ranges.length === 0) return;
    const arch = this.arch;
    const freed: number[] = [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (const r of ranges) {
      for (let addr = r.start; addr < r.end; ) {
        const ptep0 = this.walk(addr, false);
        if (ptep0 < 0) {
          addr = Math.min(r.end, this.absentExtentEnd(addr));
          continue;
        }
        const next = Math.min(r.end, (Math.floor(addr / 0x200000) + 1) * 0x200000);
        this.pte_lock(ptep0);
        this.lazy_mmu_mode_enable();
        for (let a = addr, p = ptep0; a < next; a += 4096, p++) {
          const v = this.machine.pteRead(this.current, p);
          if (arch.pte_none(v)) continue;
          const old = this.pv.ptep_get_and_clear(a, p);
          this.observer?.zapped?.(this.current, a, old);
          if (a < lo) lo = a;
          if (a + 4096 > hi) hi = a + 4096;
          const pfn = arch.pte_pfn(old);
          if (!arch.pte_special(old) && arch.pte_present(old)) {
            if (arch.pte_dirty(old)) this.folioDirty.add(pfn);
            freed.push(pfn);
          }
          if (r.shared) this.shmem.delete(Math.floor(a / 4096));
        }
        this.lazy_mmu_mode_disable();
        this.pte_unlock(ptep0);
        addr = next;
      }
    }
    if (hi > 0) this.flush_tlb_mm_range(lo, hi);
    // Frames are freed only after the flush (mmu_gather): no CPU can still reach them.
    for (const pfn of freed) {
      this.folioDirty.delete(pfn);
      this.machine.mem.freeFrame(pfn);
    }
  }

  // ---------------------------------------------------------------- page faults

  /**
   * Whether a fault by `cpu` at `addr` could make progress now: mmap_lock not write-held by
   * another CPU and the PTE lock free. The scheduler runs fault handlers only then.
   */
  canHandleFault(cpu: number, addr: number): boolean {
    if (this.mmapWriter !== -1 && this.mmapWriter !== cpu) return false;
    const p = this.walk(addr, false);
    return p < 0 || this.ptlHolder(p) === -1;
  }

  /**
   * mremap moved [from, from + len) to `to`: shared pages belong to their object, not to an
   * address, so the page-cache index (kept here by virtual page) moves with the mapping.
   */
  moveShmemPages(from: number, to: number, len: number): void {
    const moved: [number, number][] = [];
    for (let off = 0; off < len; off += 4096) {
      const v = Math.floor((from + off) / 4096);
      const pfn = this.shmem.get(v);
      if (pfn === undefined) continue;
      this.shmem.delete(v);
      moved.push([Math.floor((to + off) / 4096), pfn]);
    }
    for (const [v, pfn] of moved) this.shmem.set(v, pfn);
  }

  /** Whether the PTE lock covering `addr` is free (or there is no page table there yet). */
  canTakePteLock(addr: number): boolean {
    const p = this.walk(addr, false);
    return p < 0 || this.ptlHolder(p) === -1;
  }

  /**
   * handle_mm_fault for a user access by `cpu` at `addr` with x86 error code `err`. Runs as
   * one step (it holds mmap_lock for read and the PTE lock throughout).
   */
  handle_mm_fault(cpu: number, addr: number, err: number): number {
    const prev = this.current;
    this.current = cpu;
    try {
      const vma = this.as.findVma(addr);
      if (vma === undefined || this.arch.fault_fatal(err) !== null) return VM_FAULT_SIGSEGV;
      if (this.arch.access_error(err, vma.flags)) return VM_FAULT_SIGSEGV;
      const write = this.arch.fault_is_write(err);
      const page = Math.floor(addr / 4096) * 4096;
      const ptep = this.walk(page, true);
      this.pte_lock(ptep);
      try {
        this.handle_pte_fault(vma, page, ptep, write);
      } finally {
        this.pte_unlock(ptep);
      }
      return VM_FAULT_OK;
    } finally {
      this.current = prev;
    }
  }

  private handle_pte_fault(vma: Vma, addr: number, ptep: ptep_t, write: boolean): void {
    const m = this.machine;
    const cpu = this.current;
    const pte = m.pteRead(cpu, ptep);
    const prot = this.arch.vm_get_page_prot(vma.flags);
    if (this.arch.pte_none(pte)) {
      if (vma.flags & VM_SHARED) this.do_shared_fault(vma, addr, ptep, write, prot);
      else this.do_anonymous_page(vma, addr, ptep, write, prot);
      return;
    }
    if (this.arch.pte_protnone(pte)) {
      // do_numa_page: a PROT_NONE entry in an accessible VMA gets the VMA's protection back.
      this.pv.set_pte_at(addr, ptep, this.arch.pte_modify(pte, prot));
      return;
    }
    if (write && !this.arch.pte_write(pte)) {
      this.do_wp_page(vma, addr, ptep, pte, prot);
      return;
    }
    // Spurious fault or A/D fixup: ptep_set_access_flags (x86 stores only for write faults).
    let entry = this.arch.pte_mkyoung(pte);
    if (write) entry = this.arch.pte_mkdirty(entry);
    if (this.pv.ptep_set_access_flags !== undefined)
      this.pv.ptep_set_access_flags(vma, addr, ptep, entry, write); // the arch's own (arm64: cmpxchg loop)
    else if (entry !== pte && write) this.pv.set_pte_at(addr, ptep, entry);
  }

  private do_anonymous_page(vma: Vma, addr: number, ptep: ptep_t, write: boolean, prot: number): void {
    const mem = this.machine.mem;
    if (!write) {
      const entry = this.arch.pte_mkspecial(this.arch.pfn_pte(mem.zeroPfn, prot));
      this.pv.set_pte_at(addr, ptep, entry);
      this.observer?.newPage?.(this.current, addr, mem.zeroPfn, true);
      return;
    }
    this.as.setAnonVma(addr);
    const pfn = mem.allocFrame(FRAME_DATA);
    let entry = this.arch.pfn_pte(pfn, prot);
    if (vma.flags & VM_WRITE) entry = this.arch.pte_mkwrite(this.arch.pte_mkdirty(entry));
    this.pv.set_pte_at(addr, ptep, entry);
    this.observer?.newPage?.(this.current, addr, pfn, false);
  }

  private do_shared_fault(vma: Vma, addr: number, ptep: ptep_t, write: boolean, prot: number): void {
    const mem = this.machine.mem;
    const vpn = Math.floor(addr / 4096);
    let pfn = this.shmem.get(vpn);
    let fresh = false;
    if (pfn === undefined) {
      pfn = mem.allocFrame(FRAME_DATA);
      this.shmem.set(vpn, pfn);
      fresh = true;
    }
    let entry = this.arch.pfn_pte(pfn, prot);
    if (write) {
      entry = this.arch.pte_mkdirty(entry);
      if (vma.flags & VM_WRITE) entry = this.arch.pte_mkwrite(entry);
    }
    this.pv.set_pte_at(addr, ptep, entry);
    if (fresh) this.observer?.newPage?.(this.current, addr, pfn, false);
  }

  private do_wp_page(vma: Vma, addr: number, ptep: ptep_t, pte: pte_t, prot: number): void {
    const mem = this.machine.mem;
    const pfn = this.arch.pte_pfn(pte);
    if (!(vma.flags & VM_SHARED) && (this.arch.pte_special(pte) || mem.kind[pfn] !== FRAME_DATA)) {
      // wp_page_copy: break COW of the zero page into a fresh exclusive page.
      this.as.setAnonVma(addr);
      const npfn = mem.allocFrame(FRAME_DATA);
      mem.data[npfn] = mem.data[pfn];
      const entry = this.arch.pte_mkwrite(this.arch.pte_mkdirty(this.arch.pfn_pte(npfn, prot)));
      this.pv.ptep_get_and_clear(addr, ptep); // ptep_clear_flush
      this.flush_tlb_mm_range(addr, addr + 4096);
      this.pv.set_pte_at(addr, ptep, entry);
      this.observer?.newPage?.(this.current, addr, npfn, false);
      return;
    }
    // wp_page_reuse (exclusive anon) or wp_page_shared: make the entry writable and dirty.
    const entry = this.arch.pte_mkwrite(this.arch.pte_mkdirty(this.arch.pte_mkyoung(pte)));
    this.pv.set_pte_at(addr, ptep, entry);
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
