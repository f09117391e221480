// The simulated machine: physical memory, page tables, CPUs, and the architecture's MMU that
// serves their user accesses (x86-64: src/arch/x86/mmu.ts; with MachineConfig.arm64 the arm64
// MMU of src/arch/arm64/mmu.ts). No walker lives here: `access` asks the MMU for a frame.
//
// Software (kernel, hypervisor) touches PTEs only through the pte* primitives below. Each is
// one atomic memory operation and, when a StepHook is installed, first offers the scheduler a
// chance to run other agents (hardware accesses, fault handlers) before it executes. That is
// how `run` and `check` interleave kernel and hardware at single-PTE-operation granularity
// while the kernel itself stays ordinary straight-line code (no generators on the hot path).
import { ARM64_ARCH } from "../arch/arm64/arch.js";
import { ARM64_ERR_INSTR, ARM64_ERR_WNR } from "../arch/arm64/fault.js";
import { Arm64Mmu, type Arm64MmuState } from "../arch/arm64/mmu.js";
import type { ArchMm } from "../arch/types.js";
import { X86_ARCH } from "../arch/x86/format.js";
import { type Translation, X86Mmu } from "../arch/x86/mmu.js";
import { CostLedger, CTR } from "./ledger.js";
import { LineReuse } from "./linecache.js";

import { FRAME_DATA, FRAME_ZERO, PhysMem, type PhysMemState, type ptep_t } from "./physmem.js";
import { _PAGE_PRESENT, PTRS_PER_TABLE, pfn_pte, pte_pfn, type pte_t } from "./pte.js";
import { Tlb } from "./tlb.js";

/** Kinds of software step offered to the scheduler. */
export const STEP = {
  PTE_READ: 0,
  PTE_WRITE: 1,
  PTE_XCHG: 2,
  PTE_CMPXCHG: 3,
  LOCK: 4,
  UNLOCK: 5,
  TLB_FLUSH: 6,
  SYSCALL_ENTER: 7,
  SYSCALL_EXIT: 8,
  HYPERCALL: 9,
  /** mmap_read_lock (arg: -1): blocks while a writer holds mmap_lock. */
  MMAP_LOCK_READ: 10,
  /** mmap_write_lock (arg: -1): blocks while anyone holds mmap_lock. */
  MMAP_LOCK_WRITE: 11,
  /** A backend (paravirt) operation on the PTE slot `arg` (-1: on none in particular). */
  PV: 12,
} as const;
const STEP_PTE_READ = STEP.PTE_READ;
const STEP_PTE_WRITE = STEP.PTE_WRITE;
const STEP_PTE_XCHG = STEP.PTE_XCHG;
const STEP_PTE_CMPXCHG = STEP.PTE_CMPXCHG;
export const STEP_NAMES = [
  "read",
  "write",
  "xchg",
  "cmpxchg",
  "lock",
  "unlock",
  "tlb-flush",
  "syscall-enter",
  "syscall-exit",
  "hypercall",
  "mmap_read_lock",
  "mmap_write_lock",
  "pv-op",
] as const;

/** The scheduler's view: called before each software step. May run other agents' steps. */
export interface StepHook {
  point(cpu: number, kind: number, ptep: number): void;
  /**
   * Optional: kernel code on `cpu` tells the scheduler that everything it still needs from
   * what it has read so far is in `live` (loop position, accumulated flush range, ...). The
   * checker uses it to forget dead values and merge more states.
   */
  checkpoint?(cpu: number, live: readonly number[]): void;
  /**
   * Optional, for code called from a kernel path that is not itself a path (the hypervisor):
   * a scope opens (the caller's state is what was read before it), `scopeSummary` says that
   * the scope's own state is now `live` (its first value names the site) plus memory and the
   * backend's state, so its earlier reads and steps are dead; `scopeLeave` closes the scope,
   * the caller continuing with `ret`. The checker forgets what the scope read and how many
   * steps it took (cmpxchg retries), keeping where it was entered.
   */
  scopeEnter?(cpu: number): void;
  scopeSummary?(cpu: number, live: readonly number[]): void;
  scopeLeave?(cpu: number, ret: number): void;
}

/** Observes completed steps (for timelines and checker state). Not installed on fast paths. */
export interface Tracer {
  /** A software PTE memory operation completed: value before and after. */
  sw(cpu: number, kind: number, ptep: ptep_t, before: pte_t, after: pte_t): void;
  /** The MMU changed a PTE (A/D update) while serving a user access. */
  hw(cpu: number, vaddr: number, ptep: ptep_t, before: pte_t, after: pte_t): void;
}

export { PF_INSTR, PF_PROT, PF_USER, PF_WRITE } from "../arch/x86/fault.js";

export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_EXEC = 2;

/** 512^level: the span of one entry at each paging level, in pages. */
const LEVEL_SPAN = [1, 512, 262144, 134217728];

export class Cpu {
  readonly tlb: Tlb;
  /** PFN of the PML4 this CPU translates with (CR3); 0 = none. */
  cr3 = 0;
  /** After a faulting access: the #PF error code. */
  pfError = 0;
  /** After a successful access: the frame and the value read (or written). */
  lastPfn = 0;
  lastValue = 0;
  /** After a successful access: whether it went through a TLB hit. */
  lastTlbHit = false;
  constructor(
    readonly id: number,
    tlbSets: number,
    tlbWays: number,
  ) {
    this.tlb = new Tlb(tlbSets, tlbWays);
  }
}

export interface MachineConfig {
  cpus: number;
  maxFrames?: number;
  tlbSets?: number;
  tlbWays?: number;
  /**
   * An arm64 MMU (FEAT_HAFDBS as `ha`/`hd`) instead of the x86-64 one: `access` then walks
   * arm64 descriptors (src/arch/arm64/mmu.ts). The kernel does not drive an arm64 machine yet
   * (docs/ARCH.md); this is the machine's half of that integration.
   */
  /**
   * The architecture's helpers when they are not the plain ones of its name (x86-64's SavedDirty
   * rules, an arch-helper variant: src/arch/registry.ts archMm); must be of the machine's
   * architecture (arm64 iff `arm64` is given).
   */
  arch?: ArchMm;
  arm64?: {
    ha: boolean;
    hd: boolean;
    perCpu?: readonly ({ ha: boolean; hd: boolean } | null)[];
    tlbEntries?: number;
    erratum2645198?: boolean;
  };
}

/** Result of a side-effect-free walk (the x86 walker's). */
export type { Translation };
/** An arm64 fault as `Cpu.pfError` holds it: the fault class (FAULT_*) | WnR | instruction abort. */
export { ARM64_ERR_INSTR, ARM64_ERR_WNR };

export interface MachineState {
  readonly mem: PhysMemState;
  readonly arm64: Arm64MmuState | null;
  readonly ledger: Float64Array;
  readonly current: number;
  readonly cpus: readonly {
    tlb: ReturnType<Tlb["save"]>;
    cr3: number;
    pfError: number;
    lastPfn: number;
    lastValue: number;
    lastTlbHit: boolean;
  }[];
}

export class Machine {
  readonly mem: PhysMem;
  readonly cpus: Cpu[];
  readonly ledger: CostLedger;
  /** Reuse distances of the kernel metadata lines mprotect's walk touches (linecache.ts). */
  readonly lines = new LineReuse();
  /** The arm64 MMU when the machine is an arm64 one (MachineConfig.arm64), else null. */
  readonly arm64: Arm64Mmu | null;
  /** The x86-64 MMU (its walker also serves `probe`, whose table layout arm64 shares). */
  readonly x86: X86Mmu;
  /** The architecture: what generic mm code knows of the PTE format, faults and TLB flags. */
  readonly arch: ArchMm;
  /**
   * The page-table store, private to the machine (PhysMem grants it to its owner only): every
   * software access to PTE memory goes through the pte* primitives below, which is what makes
   * the checker sound (each is one step it can interleave and observe).
   */
  #t: Float64Array = new Float64Array(0);
  /** The CPU executing software (kernel or hypervisor code) right now; set by the kernel. */
  current = 0;
  private _hook: StepHook | null = null;
  private _tracer: Tracer | null = null;
  /**
   * hook or tracer installed: software PTE operations take the observed path. Tested with
   * `=== true` on the fast paths: V8 compiles that to one comparison, but a bare truth test of
   * a field to a dispatch on the value's type.
   */
  private observed = false;
  /**
   * Counts of software PTE operations by CPU `ctrCpu` not yet added to the ledger. The fast
   * paths count here: a field increment is several instructions cheaper than one in a typed
   * array indexed by CPU. The ledger folds them in (foldCounts) before any read.
   */
  private ctrCpu = 0;
  private nRead = 0;
  private nWrite = 0;
  private nXchg = 0;
  private nCmpxchg = 0;

  get hook(): StepHook | null {
    return this._hook;
  }
  set hook(h: StepHook | null) {
    this._hook = h;
    this.observed = h !== null || this._tracer !== null;
  }
  get tracer(): Tracer | null {
    return this._tracer;
  }
  set tracer(t: Tracer | null) {
    this._tracer = t;
    this.x86.tracer = t;
    this.observed = t !== null || this._hook !== null;
  }

  constructor(cfg: MachineConfig) {
    if (!Number.isInteger(cfg.cpus) || cfg.cpus < 1 || cfg.cpus > 64)
      throw new RangeError("cpus must be an integer in 1..64");
    this.mem = new PhysMem(cfg.maxFrames, (t) => {
      this.#t = t;
      // The walker reads the same private store (PhysMem grants it here, also when it grows).
      if (this.x86 !== undefined) this.x86.grant(t);
    });
    this.cpus = [];
    for (let i = 0; i < cfg.cpus; i++) this.cpus.push(new Cpu(i, cfg.tlbSets ?? 16, cfg.tlbWays ?? 4));
    this.ledger = new CostLedger(cfg.cpus, () => this.foldCounts());
    this.x86 = new X86Mmu(this.mem, this.ledger, this.#t);
    this.arm64 = null;
    this.arch = cfg.arch ?? (cfg.arm64 === undefined ? X86_ARCH : ARM64_ARCH);
    if (this.arch.arch !== (cfg.arm64 === undefined ? "x86-64" : "arm64"))
      throw new RangeError(`an ${this.arch.arch} architecture on a machine that is not ${this.arch.arch}`);
    this.cfgErratum2645198 = cfg.arm64?.erratum2645198 === true;
    if (cfg.arm64 !== undefined) {
      // The walker reads the private store directly and updates A/D atomically, as the x86
      // walker does: hardware steps are atomic with respect to software steps.
      const mem = this.mem;
      const mmu = new Arm64Mmu(
        {
          peek: (p) => this.#t[p] as pte_t,
          hwCmpxchg: (p, expect, v) => {
            const before = this.#t[p] as pte_t;
            if (before === expect) this.#t[p] = v;
            return before;
          },
          slot: (pfn, idx) => {
            const slot = pfn < mem.tableSlot.length ? mem.tableSlot[pfn] : -1;
            return slot < 0 ? -1 : slot * PTRS_PER_TABLE + idx;
          },
        },
        {
          cpus: cfg.cpus,
          ha: cfg.arm64.ha,
          hd: cfg.arm64.hd,
          tlbEntries: cfg.arm64.tlbEntries,
          ...(cfg.arm64.perCpu === undefined ? {} : { perCpu: cfg.arm64.perCpu }),
        },
      );
      mmu.onHwUpdate = (cpu, vaddr, ptep, before, after) => {
        this.ledger.add(cpu, CTR.hw_ad_update);
        if (this.tracer !== null) this.tracer.hw(cpu, vaddr, ptep, before, after);
      };
      this.arm64 = mmu;
    }
  }

  /** A copy of the machine's whole state (no hook or tracer may be installed). */
  save(): MachineState {
    if (this._hook !== null || this._tracer !== null)
      throw new Error("Machine.save with a hook or tracer installed");
    return {
      mem: this.mem.save(),
      arm64: this.arm64 === null ? null : this.arm64.save(),
      ledger: this.ledger.save(),
      current: this.current,
      cpus: this.cpus.map((c) => ({
        tlb: c.tlb.save(),
        cr3: c.cr3,
        pfError: c.pfError,
        lastPfn: c.lastPfn,
        lastValue: c.lastValue,
        lastTlbHit: c.lastTlbHit,
      })),
    };
  }

  /** Return to a saved state (hook and tracer removed). */
  restore(s: MachineState): void {
    this.hook = null;
    this.tracer = null;
    this.mem.restore(s.mem);
    if (this.arm64 !== null && s.arm64 !== null) this.arm64.restore(s.arm64);
    this.ledger.restore(s.ledger);
    // The line model is not part of the state: start it cold, so counts after a restore depend
    // only on what runs after it.
    this.lines.evictAll();
    this.current = s.current;
    s.cpus.forEach((cs, i) => {
      const c = this.cpus[i];
      c.tlb.restore(cs.tlb);
      c.cr3 = cs.cr3;
      c.pfError = cs.pfError;
      c.lastPfn = cs.lastPfn;
      c.lastValue = cs.lastValue;
      c.lastTlbHit = cs.lastTlbHit;
    });
  }

  /** Add the counts held in fields to the ledger. */
  private foldCounts(): void {
    const l = this.ledger;
    const cpu = this.ctrCpu;
    if (this.nRead !== 0) l.add(cpu, CTR.pte_read, this.nRead);
    if (this.nWrite !== 0) l.add(cpu, CTR.pte_write, this.nWrite);
    if (this.nXchg !== 0) l.add(cpu, CTR.pte_xchg, this.nXchg);
    if (this.nCmpxchg !== 0) l.add(cpu, CTR.pte_cmpxchg, this.nCmpxchg);
    this.nRead = 0;
    this.nWrite = 0;
    this.nXchg = 0;
    this.nCmpxchg = 0;
  }

  /** The fields count for `cpu` from now on. */
  private countFor(cpu: number): void {
    this.foldCounts();
    this.ctrCpu = cpu;
  }

  // ---- software memory operations on PTEs (each one schedulable step) ----

  // Each primitive has a fast path (no hook, no tracer) of a few bytecodes, so that V8 inlines
  // it into the kernel's per-PTE loop within its inlining budget; the observed path is out of
  // line, behind a short call.
  pteRead(cpu: number, ptep: ptep_t): pte_t {
    if (this.observed === true) return this.observedRead(cpu, ptep);
    if (cpu !== this.ctrCpu) this.countFor(cpu);
    this.nRead++;
    return this.#t[ptep] as pte_t;
  }

  pteWrite(cpu: number, ptep: ptep_t, v: pte_t): void {
    if (this.observed === true) this.observedWrite(cpu, ptep, v);
    else {
      if (cpu !== this.ctrCpu) this.countFor(cpu);
      this.nWrite++;
      this.#t[ptep] = v;
    }
  }

  pteXchg(cpu: number, ptep: ptep_t, v: pte_t): pte_t {
    if (this.observed === true) return this.observedXchg(cpu, ptep, v);
    if (cpu !== this.ctrCpu) this.countFor(cpu);
    this.nXchg++;
    const t = this.#t;
    const before = t[ptep] as pte_t;
    t[ptep] = v;
    return before;
  }

  /** Locked compare-exchange; returns the value found (the swap happened iff it equals `expect`). */
  pteCmpxchg(cpu: number, ptep: ptep_t, expect: pte_t, v: pte_t): pte_t {
    if (this.observed === true) return this.observedOp(cpu, STEP_PTE_CMPXCHG, ptep, expect, v);
    if (cpu !== this.ctrCpu) this.countFor(cpu);
    this.nCmpxchg++;
    const t = this.#t;
    const before = t[ptep] as pte_t;
    if (before === expect) t[ptep] = v;
    return before;
  }

  private observedRead(cpu: number, ptep: ptep_t): pte_t {
    return this.observedOp(cpu, STEP_PTE_READ, ptep, 0 as pte_t, 0 as pte_t);
  }
  private observedWrite(cpu: number, ptep: ptep_t, v: pte_t): void {
    this.observedOp(cpu, STEP_PTE_WRITE, ptep, 0 as pte_t, v);
  }
  private observedXchg(cpu: number, ptep: ptep_t, v: pte_t): pte_t {
    return this.observedOp(cpu, STEP_PTE_XCHG, ptep, 0 as pte_t, v);
  }

  /** The same operations with the scheduler offered a step first and the tracer told after. */
  private observedOp(cpu: number, kind: number, ptep: ptep_t, expect: pte_t, v: pte_t): pte_t {
    const h = this.hook;
    if (h !== null) h.point(cpu, kind, ptep);
    const t = this.#t;
    const before = t[ptep] as pte_t;
    let ctr = CTR.pte_read;
    if (kind === STEP_PTE_WRITE) {
      t[ptep] = v;
      ctr = CTR.pte_write;
    } else if (kind === STEP_PTE_XCHG) {
      t[ptep] = v;
      ctr = CTR.pte_xchg;
    } else if (kind === STEP_PTE_CMPXCHG) {
      if (before === expect) t[ptep] = v;
      ctr = CTR.pte_cmpxchg;
    }
    this.ledger.add(cpu, ctr);
    if (this.tracer !== null) this.tracer.sw(cpu, kind, ptep, before, t[ptep] as pte_t);
    return before;
  }

  /**
   * The kernel metadata lines a page-table walk by `cpu` touches: the lines of the `count` PTE
   * slots from `ptep0` and the struct page of each present entry's frame (`present` and `pfnOf`
   * are the architecture's). Counts cache_beyond_* events by reuse distance (linecache.ts). Not
   * a scheduling point: reads no value the kernel acts on.
   */
  touchMetadata(
    cpu: number,
    ptep0: ptep_t,
    count: number,
    present: (v: pte_t) => boolean,
    pfnOf: (v: pte_t) => number,
  ): void {
    this.lines.touchRange(
      this.#t,
      ptep0,
      count,
      present as (v: number) => boolean,
      pfnOf as (v: number) => number,
    );
    this.lines.take((tier, n) => this.ledger.add(cpu, CTR.cache_beyond_1m + tier, n));
  }

  /** Copy `count` PTEs from slot `first` into `dst` at `at`, as peekPte would read them one by one. */
  copyPtes(first: ptep_t, count: number, dst: Float64Array, at: number): void {
    dst.set(this.#t.subarray(first, first + count), at);
  }

  /** The value of a PTE, without side effects: no step, no count (oracles, display, checker keys). */
  peekPte(ptep: ptep_t): pte_t {
    return this.#t[ptep] as pte_t;
  }

  /**
   * The software page walk of `pte_alloc`: the leaf PTE slot for `vaddr` under `cr3`,
   * installing missing upper-level tables (with `tableFlags`) when `alloc`, else -1 when an
   * upper level is empty. Upper levels change only here, under mmap_lock, by plain stores that
   * are not scheduling points (no user access can depend on an entry being half-installed).
   */
  walkAlloc(cr3: number, vaddr: number, alloc: boolean, tableFlags: number): ptep_t {
    const mem = this.mem;
    let pfn = cr3;
    const vpn = Math.floor(vaddr / 4096);
    for (let level = 3; level >= 1; level--) {
      const idx = (vpn / LEVEL_SPAN[level]) & 511;
      const slot = mem.tableSlot[pfn] * PTRS_PER_TABLE + idx;
      let e = this.#t[slot] as pte_t;
      if ((e & _PAGE_PRESENT) === 0) {
        if (!alloc) return -1;
        const t = mem.allocTable();
        e = pfn_pte(t, tableFlags);
        // allocTable may have grown the table store: #t is the new one.
        this.#t[slot] = e;
      }
      pfn = pte_pfn(e);
    }
    return mem.tableSlot[pfn] * PTRS_PER_TABLE + (vpn & 511);
  }

  /** A kernel event that is a scheduling point but touches no PTE (locks, flushes, syscalls). */
  step(cpu: number, kind: number, ptep: number): void {
    const h = this._hook;
    if (h !== null) h.point(cpu, kind, ptep);
  }

  // ---- the MMU ----

  /**
   * Walk the tables from `cr3` without side effects (probe mode): no A/D updates, no TLB fill.
   * Writes the result into `out` to avoid allocation.
   */
  probe(cr3: number, vaddr: number, out: Translation): Translation {
    return this.x86.probe(cr3, vaddr, out);
  }

  /**
   * One user-mode access by `cpu`, atomic with respect to every other step: the architecture's
   * MMU translates it (x86: ../arch/x86/mmu.ts; arm64: ../arch/arm64/mmu.ts; TLB, walk, A/D
   * updates, faults), then the data access. Returns true on success (cpu.lastPfn/lastValue
   * set), false on a page fault (cpu.pfError set).
   */
  access(cpuId: number, vaddr: number, kind: number, value: number): boolean {
    const pfn =
      this.arm64 === null
        ? this.x86.translate(this.cpus[cpuId], cpuId, vaddr, kind)
        : this.arm64Translate(cpuId, vaddr, kind);
    if (pfn < 0) return false;
    const mem = this.mem;
    const k = mem.kind[pfn];
    if (k !== FRAME_DATA && k !== FRAME_ZERO) throw new MachineCheck(cpuId, vaddr, pfn);
    if (kind === ACCESS_WRITE) mem.data[pfn] = value;
    const cpu = this.cpus[cpuId];
    cpu.lastPfn = pfn;
    cpu.lastValue = mem.data[pfn];
    return true;
  }

  /**
   * The arm64 walker's translation for `access` (TTBR0 = the CPU's cr3): the frame, or -1 on a
   * fault, which leaves `pfError` = fault class | ARM64_ERR_WNR | ARM64_ERR_INSTR.
   */
  private arm64Translate(cpuId: number, vaddr: number, kind: number): number {
    const mmu = this.arm64 as Arm64Mmu;
    const cpu = this.cpus[cpuId];
    mmu.ttbr0[cpuId] = cpu.cr3;
    const misses = mmu.counters.tlb_miss;
    const ok = mmu.translate(cpuId, vaddr, kind);
    if (mmu.counters.tlb_miss !== misses) this.ledger.add(cpuId, CTR.tlb_miss);
    const r = mmu.last[cpuId];
    if (!ok) {
      cpu.pfError = r.fault | (r.wnr ? ARM64_ERR_WNR : 0) | (kind === ACCESS_EXEC ? ARM64_ERR_INSTR : 0);
      this.ledger.add(cpuId, CTR.page_fault);
      return -1;
    }
    cpu.lastTlbHit = r.tlbHit;
    return r.pfn;
  }

  /**
   * arm64 TLB maintenance by kernel code on `cpu`, each one schedulable step: TLBI by VA (last
   * level or not) or by ASID, broadcast to every CPU; DSB. Counted by the arm64 MMU.
   */
  tlbiVa(cpu: number, vaddr: number): void {
    this.step(cpu, STEP.TLB_FLUSH, -1);
    (this.arm64 as Arm64Mmu).tlbi_va(vaddr);
    this.ledger.add(cpu, CTR.tlbi_va);
  }
  tlbiAsid(cpu: number): void {
    this.step(cpu, STEP.TLB_FLUSH, -1);
    (this.arm64 as Arm64Mmu).tlbi_asid();
    this.ledger.add(cpu, CTR.tlbi_asid);
  }
  dsb(cpu: number, kind: "ish" | "ishst"): void {
    (this.arm64 as Arm64Mmu).dsb(kind);
    this.ledger.add(cpu, kind === "ish" ? CTR.dsb_ish : CTR.dsb_ishst);
  }

  /** INVLPG of `vaddr` on one CPU. */
  invlpg(cpu: number, vaddr: number): void {
    this.cpus[cpu].tlb.invalidatePage(Math.floor(vaddr / 4096));
    this.ledger.add(cpu, CTR.tlb_invlpg);
  }

  /** The CPUs have Cortex-A715 erratum 2645198 (arm64 machines only; the kernel works around it). */
  get erratum2645198(): boolean {
    return this.cfgErratum2645198;
  }
  private cfgErratum2645198 = false;

  /** Flush every non-global entry of one CPU's TLB. */
  flushTlbAll(cpu: number): void {
    this.cpus[cpu].tlb.flushAll();
    this.ledger.add(cpu, CTR.tlb_flush_all);
  }

  // ---- the TLBs as generic code (oracle, state keys, timelines) sees them: an entry's output
  // PFN and its flags, whose meaning is the architecture's (ArchMm.tlb_flags_describe, tlb_writable)

  /** The flags of `cpu`'s TLB entry translating `vpn`, or -1 when none caches it. */
  tlbFlags(cpu: number, vpn: number): number {
    const a = this.arm64;
    if (a !== null) {
      const t = a.tlbs[cpu];
      const i = t.matches(vpn);
      return i.length === 0 ? -1 : t.perm[i[0]];
    }
    const t = this.cpus[cpu].tlb;
    const j = t.lookup(vpn);
    return j < 0 ? -1 : t.flags[j];
  }

  /**
   * Everything `cpu`'s TLB holds for `vpn` as one number, for the checker's state keys (-1:
   * nothing): x86 PFN and flags; arm64 also whether it is a contpte block entry, which
   * descriptor of the block it was filled from (where hardware updates through it land), and
   * whether more than one entry matches (a TLB conflict).
   */
  tlbKey(cpu: number, vpn: number): number {
    const a = this.arm64;
    if (a !== null) {
      const t = a.tlbs[cpu];
      const i = t.matches(vpn);
      if (i.length === 0) return -1;
      const e = i[0];
      const block = t.pages[e] > 1;
      const srcIdx = block ? t.src[e] % 16 : 0;
      return (
        (t.pfn[e] + (vpn - t.vpn[e])) * 1024 +
        t.perm[e] +
        (block ? 16 : 0) +
        srcIdx * 32 +
        (i.length > 1 ? 2 ** 52 : 0)
      );
    }
    const t = this.cpus[cpu].tlb;
    const j = t.lookup(vpn);
    return j < 0 ? -1 : t.pfn[j] * 16 + t.flags[j];
  }

  /** The frame `cpu`'s TLB translates `vpn` to, or -1 when none caches it. */
  tlbPfn(cpu: number, vpn: number): number {
    const a = this.arm64;
    if (a !== null) {
      const t = a.tlbs[cpu];
      const i = t.matches(vpn);
      return i.length === 0 ? -1 : t.pfn[i[0]] + (vpn - t.vpn[i[0]]);
    }
    const t = this.cpus[cpu].tlb;
    const j = t.lookup(vpn);
    return j < 0 ? -1 : t.pfn[j];
  }

  /** The pages `cpu`'s TLB lets writes complete on without a walk, in entry order. */
  tlbWritableVpns(cpu: number): number[] {
    const out: number[] = [];
    const a = this.arm64;
    if (a !== null) {
      const t = a.tlbs[cpu];
      for (let i = 0; i < t.capacity; i++)
        if (t.vpn[i] !== -1 && this.arch.tlb_writable(t.perm[i]))
          for (let k = 0; k < t.pages[i]; k++) out.push(t.vpn[i] + k);
      return out;
    }
    const t = this.cpus[cpu].tlb;
    for (let j = 0; j < t.vpn.length; j++)
      if (t.vpn[j] !== -1 && this.arch.tlb_writable(t.flags[j])) out.push(t.vpn[j]);
    return out;
  }
}

/** A user access reached a frame that is neither data nor the zero page: a use-after-free. */
export class MachineCheck extends Error {
  constructor(
    readonly cpu: number,
    readonly vaddr: number,
    readonly pfn: number,
  ) {
    super(
      `CPU${cpu} accessed 0x${vaddr.toString(16)} through a translation to freed frame 0x${pfn.toString(16)}`,
    );
    this.name = "MachineCheck";
  }
}
