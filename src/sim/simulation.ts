// A simulation: one machine, a kernel (an mm, and the mms of fork's children) with a backend,
// a program on every CPU (./workload.ts), the oracle, and the scheduler that interleaves them.
//
// The scheduler's agents are the CPUs. A CPU in user mode takes hardware steps (an access
// through its MMU and TLB); a CPU in the kernel runs a kernel path, a generator that yields a
// scheduling point before each step (src/kernel/step.ts): a fault path after a faulting
// access, or the path of a program step (mprotect, munmap, fork). At each decision the Decider
// picks one enabled CPU; a CPU whose next point is a lock another CPU holds is not enabled.
// Between two of its points a path runs alone. Code a path calls that is not itself a
// generator (the backends' pv-ops, the hypervisor, the mprotect and munmap loops of kernel.ts)
// still offers a decision before each of its steps through the machine's StepHook, where the
// hardware of the other CPUs may move (not their kernel paths: that code cannot be suspended).

import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";
import { ARM64_PTE_NEEDS_FLUSH } from "../arch/arm64/arch.js";
import { ContractViolation } from "../kernel/contract.js";
import { errnoName } from "../kernel/errno.js";
import { handle_mm_fault } from "../kernel/fault.js";
import { FAULT_SIGSEGV } from "../kernel/fault-codes.js";
import { Kernel, type KernelState } from "../kernel/kernel.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE } from "../kernel/mman.js";
import { sys_mprotect, sys_munmap } from "../kernel/mprotect.js";
import { sys_mremap } from "../kernel/mremap.js";
import { runPathCall } from "../kernel/paths.js";
import { type AdviceName, MADVICE } from "../kernel/paths-api.js";
import type { BackendModule } from "../kernel/pvops.js";
import { type KStep, pointArg, pointKind } from "../kernel/step.js";
import { sys_fork } from "../kernel/syscalls.js";
import type { CounterName } from "../machine/ledger.js";
import {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  Machine,
  MachineCheck,
  type MachineState,
  STEP,
  type StepHook,
} from "../machine/machine.js";
import type { ptep_t } from "../machine/physmem.js";
import { XenError, XenFatal } from "../xen/hypervisor.js";
import { ledgerCycles } from "./costs.js";
import { KeyBuffer } from "./key-buffer.js";
import { LitmusRun } from "./litmus.js";
import { Oracle, type OracleState, type Violation } from "./oracle.js";
import {
  arm64Features,
  mthpOrders,
  protToString,
  regionAlign,
  type Scenario,
  scenarioArch,
} from "./scenario.js";
import { stateKeyInto } from "./state-key.js";
import { Timeline, type TraceEvent } from "./timeline.js";
import {
  buildPrograms,
  isKernelOp,
  OP_AGE,
  OP_CHILD,
  OP_DESC,
  OP_FORK,
  OP_MPROTECT,
  OP_MREMAP,
  type Program,
  pathCallOf,
  uniform,
  unit,
} from "./workload.js";

export type { TraceEvent } from "./timeline.js";
export { OP_AGE, uniform, unit } from "./workload.js";

export interface SimulationState {
  readonly machine: MachineState;
  readonly kernel: KernelState;
  readonly oracle: OracleState;
}

export interface SyscallRecord {
  call: string;
  addr: number;
  pages: number;
  prot?: string;
  /** madvise: the advice. */
  advice?: string;
  ret: number;
  errno?: string;
  ptesChanged: number;
  /** The CPU that made the call (absent: CPU 0). */
  cpu?: number;
}

export interface RunStats {
  steps: number;
  kernelSteps: number;
  userSteps: number;
  reads: number;
  writes: number;
  faults: number;
  segv: number;
}

export interface RunResult {
  scenario: string;
  backend: string;
  seed: number;
  violations: Violation[];
  /** The events that touched the page of the first violation, in order. */
  timeline: TraceEvent[];
  syscalls: SyscallRecord[];
  stats: RunStats;
  counters: Partial<Record<CounterName, number>>;
  /** Total cycles under the scenario's cost table. */
  cycles: number;
  /** The decisions of this run: replaying them reproduces it exactly (see encodeReplay). */
  choices: number[];
}

/** A run went past its step budget (SimulationOptions.maxSteps). */
export class StepBudgetExceeded extends Error {
  constructor(readonly steps: number) {
    super(`the execution took more than ${steps} steps`);
    this.name = "StepBudgetExceeded";
  }
}

/** Every CPU is waiting for a lock another holds: a bug in a kernel path (never a user's). */
export class Deadlock extends Error {
  constructor(readonly waiting: readonly number[]) {
    super(`deadlock: CPUs ${waiting.join(", ")} wait for locks held by each other`);
    this.name = "Deadlock";
  }
}

export interface SimulationOptions {
  /** Stop an execution (StepBudgetExceeded) after this many steps (default: no bound). */
  maxSteps?: number;
  /** Record a timeline (default true). */
  trace?: boolean;
  /** Record what each CPU's kernel path reads (the checker's state keys need it). */
  recordKernelReads?: boolean;
  /**
   * With a timeline, also record per event the raw PTE, TLB entries, locks and code path, and
   * TLB flushes as events (default true). Sweeps turn it off and re-run the runs they keep.
   */
  details?: boolean;
  /**
   * Rename page-content values in the checker's state key by order of first appearance (value
   * symmetry; src/sim/state-key.ts says when that is exact). Ignored in a litmus scenario, whose
   * conditions compare values with constants.
   */
  valueSymmetry?: boolean;
}

/** What a CPU is doing. */
export const MODE_USER = 0;
/** In the fault path after a faulting access (the access retries when it returns). */
export const MODE_FAULT = 1;
/** In the kernel path of a program step (mprotect, munmap, fork). */
export const MODE_OP = 2;
/** Executing a litmus scenario's descriptor operation (src/sim/litmus.ts). */
export const MODE_LITMUS = 3;

type Path = KStep<unknown>;

/** Per-run state shared by schedulers. */
export class Simulation implements StepHook {
  readonly machine: Machine;
  /** The first mm (the scenario's regions live in it). */
  readonly kernel: Kernel;
  /** Every mm: the first, then fork's children in order. */
  readonly kernels: Kernel[];
  readonly oracle: Oracle;
  readonly regionAddr = new Map<string, number>();
  /** A litmus scenario's run-time state (its condition replaces the oracle's properties), else null. */
  readonly litmus: LitmusRun | null;
  /** The state key renames page-content values (see SimulationOptions.valueSymmetry). */
  readonly valueSymmetry: boolean;
  programs: Program[] = [];
  /** Per CPU: the next program step. */
  readonly pc: Int32Array;
  /** Per CPU: MODE_USER, MODE_FAULT or MODE_OP. */
  readonly mode: Uint8Array;
  /** Per CPU: the error code of the fault being handled. */
  readonly faultErr: Int32Array;
  /** Per CPU: steps its current kernel path has taken (its position). */
  readonly pathSteps: Int32Array;
  /** Per CPU: the pending scheduling point (at(kind, arg)) of its kernel path, or -1. */
  readonly pending: Float64Array;
  /** Per CPU: the mm it runs (index into kernels). */
  readonly mmOf: Int32Array;
  /** Per CPU: its kernel path, or null in user mode. */
  readonly paths: (Path | null)[];
  /** Per CPU: the scenario syscall its path runs, for the oracle's unexpected-change check. */
  private readonly callOf: ({ call: string; start: number; end: number; to?: number } | null)[];
  readonly stats: RunStats = {
    steps: 0,
    kernelSteps: 0,
    userSteps: 0,
    reads: 0,
    writes: 0,
    faults: 0,
    segv: 0,
  };
  readonly timeline: Timeline | null;
  readonly syscalls: SyscallRecord[] = [];
  /** The per-execution step budget. */
  readonly maxSteps: number;
  /** Set when a run must stop (contract breach, machine check). */
  aborted = false;
  /**
   * What the decider threw (a cut, a replay mismatch): the run is being abandoned. It wins over
   * anything the kernel's unwinding throws (a path's `finally` releasing a PTE lock can trip the
   * transaction contract), so an abandoned run is never reported as a violation.
   */
  private abandoned: unknown = null;
  /** Every decision taken where two or more agents could move (a replay path). */
  readonly choices: number[] = [];
  /** Per CPU: the values its kernel path has read (checker state keys), when recorded. */
  readonly reads: number[][] | null;
  /** Per CPU: open scopes (steps and reads length at entry, in pairs), innermost last. */
  private readonly scopes: number[][];
  /** Kernel checkpoints may replace the read history: the backend's state is known to the key. */
  readonly checkpointsUsable: boolean;
  /** Per CPU: the kind and argument of its pending step (a path's point, or a nested one), for POR. */
  readonly pointKind: Int8Array;
  readonly pointArg: Float64Array;
  /** Agents (bit per agent id) that moved without a decision, as the only one able to; POR reads and clears it. */
  forced = 0;
  /** Forks that have returned (the cow-write-after-fork check is armed after the first). */
  forksDone = 0;
  private decider: Decider | null = null;
  /** The first nested point after resuming a path is the step just decided: not a new decision. */
  private skip = false;
  /** > 0 while an atomic step (a reclaim "age") runs: its points offer no decisions. */
  private depth = 0;
  private readonly enabled: number[] = [];

  constructor(
    readonly scenario: Scenario,
    readonly backend: BackendModule,
    opts: SimulationOptions = {},
  ) {
    this.machine = new Machine({
      cpus: scenario.cpus,
      maxFrames: scenario.machine.maxFrames,
      tlbSets: scenario.machine.tlbSets,
      tlbWays: scenario.machine.tlbWays,
      arch: scenarioArch(scenario),
      ...(scenario.arch === "arm64"
        ? {
            arm64: {
              ...arm64Features(scenario),
              tlbEntries: scenario.machine.tlbSets * scenario.machine.tlbWays,
            },
          }
        : {}),
    });
    this.kernel = new Kernel(this.machine, backend, {
      lazyRules: scenario.kernel.lazyRules,
      maxBatch: scenario.kernel.maxBatch,
      anonOrders: mthpOrders(scenario),
      ...(scenario.kernel.pteNeedsFlush === undefined
        ? {}
        : { pteNeedsFlush: ARM64_PTE_NEEDS_FLUSH[scenario.kernel.pteNeedsFlush] }),
      mutant: scenario.kernel.mutant,
      backendOptions: scenario.backendOptions,
    });
    this.kernels = [this.kernel];
    const n = scenario.cpus;
    this.pc = new Int32Array(n);
    this.mode = new Uint8Array(n);
    this.faultErr = new Int32Array(n);
    this.pathSteps = new Int32Array(n);
    this.pending = new Float64Array(n).fill(-1);
    this.mmOf = new Int32Array(n);
    this.paths = new Array<Path | null>(n).fill(null);
    this.callOf = new Array(n).fill(null);
    this.pointKind = new Int8Array(n).fill(-1);
    this.pointArg = new Float64Array(n).fill(-1);
    this.timeline =
      opts.trace === false ? null : new Timeline(this.machine, this.kernel, n, opts.details !== false);
    this.reads = opts.recordKernelReads === true ? Array.from({ length: n }, () => []) : null;
    this.scopes = Array.from({ length: n }, () => []);
    this.maxSteps = opts.maxSteps ?? Number.POSITIVE_INFINITY;
    // Map the regions (CPU 0, no scheduler yet).
    const pages: number[] = [];
    for (const r of scenario.regions) {
      const flags = MAP_ANONYMOUS | (r.shared ? MAP_SHARED : MAP_PRIVATE);
      const a = this.mapRegion(r.pages * 4096, parseProtBits(r.prot), flags, regionAlign(r));
      if (a < 0) throw new Error(`setup: mmap of region "${r.name}" failed with ${errnoName(a)}`);
      this.regionAddr.set(r.name, a);
      for (let i = 0; i < r.pages; i++) pages.push(a + i * 4096);
    }
    this.oracle = new Oracle(this.machine, this.kernel, pages);
    this.litmus = scenario.litmus === undefined ? null : new LitmusRun(this, scenario.litmus);
    this.valueSymmetry = opts.valueSymmetry === true && this.litmus === null;
    this.checkpointsUsable = backend.stateless === true || this.kernel.pv.stateKey !== undefined;
    this.observe(this.kernel);
  }

  /** The first mm's events go to the oracle; a child's are not tracked (its pages are not the oracle's). */
  private observe(k: Kernel): void {
    const oracle = this.oracle;
    if (k !== this.kernel) {
      k.observer = {
        syscallReturn: (cpu, name) => this.timeline?.log(cpu, "kernel", `${name} returns`, -1),
        frame: (cpu, name) => this.frame(cpu, name),
      };
      return;
    }
    k.observer = {
      newPage: (cpu, addr, pfn, zero) => oracle.newPage(cpu, addr, pfn, zero),
      zapped: (cpu, addr, old, kept) => oracle.zapped(cpu, addr, old, kept),
      pathEvent: (cpu, ev) => oracle.pathEvent(cpu, ev),
      mmapWrite: (cpu, taken) => {
        const sc = this.callOf[cpu];
        if (taken && sc !== null) oracle.beginSyscall(sc.call, sc.start, sc.end, sc.to);
        else if (!taken) oracle.endSyscall(cpu);
      },
      syscallReturn: (cpu, name) => {
        this.timeline?.log(cpu, "kernel", `${name} returns`, -1);
        oracle.syscallReturn(cpu, name);
      },
      frame: (cpu, name) => this.frame(cpu, name),
    };
  }

  /** A kernel path entered (name) or left (null) a function worth a frame in the timeline. */
  private frame(cpu: number, name: string | null): void {
    const tl = this.timeline;
    if (tl === null) return;
    if (name === null) tl.leavePath(cpu);
    else tl.enterPath(cpu, name);
  }

  /** The timeline's events (null when not traced). */
  get events(): TraceEvent[] | null {
    return this.timeline === null ? null : this.timeline.events;
  }

  log(cpu: number, actor: TraceEvent["actor"], what: string, addr: number): void {
    this.timeline?.log(cpu, actor, what, addr);
  }

  // ---------------------------------------------------------------- setup

  /**
   * mmap for a region; with an alignment, as a program gets an aligned buffer: map the length
   * plus the alignment, then unmap the slack before and after the aligned part.
   */
  private mapRegion(len: number, prot: number, flags: number, align: number): number {
    if (align <= 4096) return this.kernel.sys_mmap(0, 0, len, prot, flags);
    const raw = this.kernel.sys_mmap(0, 0, len + align, prot, flags);
    if (raw < 0) return raw;
    const a = Math.ceil(raw / align) * align;
    if (a > raw) this.kernel.sys_munmap(0, raw, a - raw);
    if (raw + align > a) this.kernel.sys_munmap(0, a + len, raw + align - a);
    return a;
  }

  /** Populate pages as the scenario says (each page by one user CPU, round-robin), then age. */
  populate(): void {
    const s = this.scenario;
    const users = Math.max(1, s.cpus - 1);
    let k = 0;
    for (const r of s.regions) {
      if (r.populate === "none") continue;
      const base = this.regionAddr.get(r.name)!;
      for (let i = 0; i < r.pages; i++) {
        const cpu = s.cpus > 1 ? 1 + (k++ % users) : 0;
        const write = r.populate === "write";
        const addr = base + i * 4096;
        const value = write ? initialValue(addr) : 0;
        if (this.kernel.faultin(cpu, addr, write ? ACCESS_WRITE : ACCESS_READ, value))
          this.oracle.access(cpu, addr, write, this.machine.cpus[cpu].lastValue);
      }
    }
    if (s.age)
      for (const r of s.regions) {
        const base = this.regionAddr.get(r.name)!;
        this.kernel.ageRange(0, base, base + r.pages * 4096);
      }
    this.oracle.resetHistory(s.age);
    this.litmus?.init();
  }

  /** Every CPU's program: the scenario's, or generated from `rng` by its workload. */
  setPrograms(rng: RandomGenerator): void {
    this.programs = buildPrograms(this.scenario, this.regionAddr, rng);
  }

  /** The mm CPU `c` runs. */
  kernelOf(c: number): Kernel {
    return this.kernels[this.mmOf[c]];
  }

  /** The kind of CPU `c`'s current program step, or -1 when its program is done. */
  opKind(c: number): number {
    const p = this.programs[c];
    const i = this.pc[c];
    return p === undefined || i >= p.length ? -1 : p.kind[i];
  }

  // ---------------------------------------------------------------- the scheduler

  /** Whether CPU `c` can take a step now (at the top level: any kernel path may move). */
  runnable(c: number): boolean {
    const path = this.paths[c];
    if (path !== null) return this.canProceed(c, this.pending[c]);
    const kind = this.opKind(c);
    if (kind < 0) return false;
    if (kind === OP_AGE) return this.kernelOf(c).canTakePteLock(this.programs[c].addr[this.pc[c]]);
    if (kind === OP_CHILD) return this.kernels.length > 1;
    return true;
  }

  /** Whether CPU `c`'s path, whose next point is `p`, can run: the lock it takes is free. */
  private canProceed(c: number, p: number): boolean {
    switch (pointKind(p)) {
      case STEP.LOCK: {
        const ptep = pointArg(p);
        for (const k of this.kernels) if (k.ptlHolder(ptep) !== -1) return false;
        return true;
      }
      case STEP.MMAP_LOCK_READ:
        return this.kernelOf(c).mmapWriter === -1;
      case STEP.MMAP_LOCK_WRITE: {
        const k = this.kernelOf(c);
        return k.mmapWriter === -1 && k.mmapReaders === 0;
      }
      default:
        return true;
    }
  }
  /** Start the kernel path of CPU `c`'s program step when that step is kernel work. */
  private prepare(c: number): void {
    if (this.paths[c] !== null) return;
    const kind = this.opKind(c);
    if (kind < 0 || !isKernelOp(kind)) return;
    const prog = this.programs[c];
    const i = this.pc[c];
    const k = this.kernelOf(c);
    const addr = prog.addr[i];
    const len = prog.len[i];
    let path: Path;
    let name: string;
    const call = pathCallOf(kind);
    if (kind >= OP_DESC) {
      const l = this.litmus!;
      name = l.describe(kind, prog.value[i]);
      if (this.timeline !== null) this.log(c, "kernel", `${name} on the descriptor`, addr);
      this.timeline?.enterPath(c, name);
      this.startPath(c, MODE_LITMUS, l.step(c, kind, addr, prog.value[i], len));
      return;
    }
    if (kind === OP_FORK) {
      name = "fork";
      path = sys_fork(k, c);
      this.log(c, "kernel", "fork()", -1);
    } else if (kind === OP_MREMAP) {
      name = "mremap";
      const to = addr + prog.value[i] * 4096;
      // (Only a traced run keeps the words: the checker's runs need not build them.)
      if (this.timeline !== null)
        this.log(
          c,
          "kernel",
          `mremap(0x${addr.toString(16)}, ${len / 4096} pages, MREMAP_MAYMOVE|MREMAP_FIXED, 0x${to.toString(16)})`,
          -1,
        );
      path = sys_mremap(k, c, addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to, {});
      this.callOf[c] = { call: name, start: addr, end: addr + len, to };
    } else if (call !== undefined) {
      // A kernel path of src/kernel/paths.ts; clear_refs acts on the whole mm (no range).
      name = call;
      const advice = adviceName(prog.prot[i]);
      if (this.timeline !== null)
        this.log(
          c,
          "kernel",
          call === "clear_refs"
            ? "clear_refs()"
            : `${call}(0x${addr.toString(16)}, ${len / 4096} pages${advice !== undefined ? `, ${advice}` : ""})`,
          -1,
        );
      path = runPathCall(k, c, call, addr, len / 4096, advice);
      this.callOf[c] =
        call === "clear_refs"
          ? { call, start: 0, end: Number.MAX_SAFE_INTEGER }
          : { call, start: addr, end: addr + len };
    } else {
      name = kind === OP_MPROTECT ? "mprotect" : "munmap";
      const prot = prog.prot[i];
      if (this.timeline !== null)
        this.log(
          c,
          "kernel",
          `${name}(0x${addr.toString(16)}, ${len / 4096} pages${kind === OP_MPROTECT ? `, ${protToString(prot)}` : ""})`,
          -1,
        );
      path = kind === OP_MPROTECT ? sys_mprotect(k, c, addr, len, prot) : sys_munmap(k, c, addr, len);
      this.callOf[c] = { call: name, start: addr, end: addr + len };
    }
    this.timeline?.enterPath(c, name);
    this.startPath(c, MODE_OP, path);
  }

  /** Make `path` CPU `c`'s kernel path and run it to its first point (code there is local). */
  private startPath(c: number, mode: number, path: Path): void {
    this.paths[c] = path;
    this.mode[c] = mode;
    this.pathSteps[c] = 0;
    if (this.reads !== null) clear(this.reads[c]);
    clear(this.scopes[c]);
    const r = path.next();
    if (r.done === true) this.endPath(c, r.value);
    else this.setPoint(c, r.value);
  }

  private setPoint(c: number, p: number): void {
    // Every point a path reaches is a new position (state keys tell them apart by this count).
    this.pathSteps[c]++;
    this.pending[c] = p;
    this.pointKind[c] = pointKind(p);
    this.pointArg[c] = pointArg(p);
  }

  /** CPU `c`'s kernel path returned `value`. */
  private endPath(c: number, value: unknown): void {
    const mode = this.mode[c];
    this.paths[c] = null;
    this.mode[c] = MODE_USER;
    this.pending[c] = -1;
    this.pointKind[c] = -1;
    this.pathSteps[c] = 0;
    if (this.reads !== null) clear(this.reads[c]);
    clear(this.scopes[c]);
    const prog = this.programs[c];
    const i = this.pc[c];
    this.timeline?.leavePath(c);
    if (mode === MODE_LITMUS) {
      this.pc[c]++;
      return;
    }
    if (mode === MODE_FAULT) {
      const addr = prog.addr[i];
      if (value === FAULT_SIGSEGV) {
        this.stats.segv++;
        this.pc[c]++;
        this.log(c, "fault", `SIGSEGV for ${prog.kind[i] === ACCESS_WRITE ? "write" : "read"}`, addr);
      } else this.log(c, "fault", "fault handled, retry", addr);
      return;
    }
    const kind = prog.kind[i];
    if (kind === OP_FORK) {
      const child = value as Kernel;
      this.kernels.push(child);
      this.observe(child);
      this.timeline?.installFrames(child, this.backend.name);
      this.forksDone++;
      this.syscalls.push({
        call: "fork",
        addr: 0,
        pages: 0,
        ret: 0,
        ptesChanged: 0,
        ...(c === 0 ? {} : { cpu: c }),
      });
    } else if (kind === OP_MREMAP) {
      const ret = value as number;
      this.syscalls.push({
        call: "mremap",
        addr: prog.addr[i],
        pages: prog.len[i] / 4096,
        ret,
        ...(ret < 0 ? { errno: errnoName(ret) } : {}),
        ptesChanged: 0,
        ...(c === 0 ? {} : { cpu: c }),
      });
      this.callOf[c] = null;
    } else if (pathCallOf(kind) !== undefined) {
      const ret = value as number;
      const call = pathCallOf(kind)!;
      const advice = adviceName(prog.prot[i]);
      this.syscalls.push({
        call,
        addr: prog.addr[i],
        pages: prog.len[i] / 4096,
        ...(advice === undefined ? {} : { advice }),
        ret,
        ...(ret < 0 ? { errno: errnoName(ret) } : {}),
        ptesChanged: 0,
        ...(c === 0 ? {} : { cpu: c }),
      });
      this.callOf[c] = null;
    } else {
      const ret = value as number;
      const k = this.kernelOf(c);
      const prot = prog.prot[i];
      this.syscalls.push({
        call: kind === OP_MPROTECT ? "mprotect" : "munmap",
        addr: prog.addr[i],
        pages: prog.len[i] / 4096,
        ...(kind === OP_MPROTECT ? { prot: protToString(prot) } : {}),
        ret,
        ...(ret < 0 ? { errno: errnoName(ret) } : {}),
        ptesChanged: kind === OP_MPROTECT ? k.lastMprotect.ptesChanged : 0,
        ...(c === 0 ? {} : { cpu: c }),
      });
      this.callOf[c] = null;
    }
    this.pc[c]++;
  }

  /** One step of CPU `c`: its kernel path to the next point, or its next program step. */
  stepCpu(c: number): void {
    if (this.paths[c] !== null) {
      this.resume(c);
      return;
    }
    const kind = this.opKind(c);
    if (kind === OP_AGE) this.age(c);
    else if (kind === OP_CHILD) this.switchToChild(c);
    else this.access(c);
  }

  private countStep(): void {
    const st = this.stats;
    st.steps++;
    this.oracle.step = st.steps;
    if (st.steps > this.maxSteps) throw new StepBudgetExceeded(this.maxSteps);
  }

  /** Resume CPU `c`'s kernel path: its pending step, and what follows up to the next point. */
  private resume(c: number): void {
    const path = this.paths[c]!;
    this.countStep();
    this.stats.kernelSteps++;
    this.machine.current = c;
    this.skip = true;
    let r: IteratorResult<number, unknown>;
    try {
      r = path.next();
    } finally {
      this.skip = false;
    }
    if (r.done === true) this.endPath(c, r.value);
    else this.setPoint(c, r.value);
  }

  /** A user access by CPU `c` (one hardware step); a fault enters the fault path. */
  private access(c: number): void {
    const prog = this.programs[c];
    const i = this.pc[c];
    const addr = prog.addr[i];
    const kind = prog.kind[i];
    const write = kind === ACCESS_WRITE;
    this.countStep();
    this.stats.userSteps++;
    const m = this.machine;
    const cpu = m.cpus[c];
    if (m.access(c, addr, kind, prog.value[i])) {
      if (write) this.stats.writes++;
      else this.stats.reads++;
      this.timeline?.log(
        c,
        "user",
        `${write ? `write 0x${prog.value[i].toString(16)}` : `${kind === ACCESS_EXEC ? "fetch" : "read"} -> 0x${(cpu.lastValue >>> 0).toString(16)}`} (${cpu.lastTlbHit ? "TLB hit" : "page walk"})`,
        addr,
      );
      if (this.litmus !== null) this.litmus.setReg(c, prog.len[i], cpu.lastValue);
      else if (this.mmOf[c] === 0) {
        this.oracle.access(c, addr, write, cpu.lastValue);
        if (write && this.forksDone > 0 && this.kernel.mapcount(cpu.lastPfn) > 1)
          this.oracle.cowWrite(c, addr, cpu.lastPfn);
      }
      this.pc[c]++;
      return;
    }
    this.stats.faults++;
    if (this.litmus !== null) {
      // No fault handler in a litmus test: the access ends, faulted.
      this.litmus.fault(c, addr);
      this.timeline?.log(
        c,
        "user",
        `${write ? "write" : "read"} faults (err ${cpu.pfError}): the access ends`,
        addr,
      );
      this.pc[c]++;
      return;
    }
    this.faultErr[c] = cpu.pfError;
    if (this.mmOf[c] === 0) this.oracle.fault(c, addr, cpu.pfError);
    this.timeline?.log(c, "user", `page fault on ${write ? "write" : "read"} (err ${cpu.pfError})`, addr);
    this.timeline?.enterPath(c, "handle_mm_fault");
    this.startPath(c, MODE_FAULT, handle_mm_fault(this.kernelOf(c), c, addr, cpu.pfError));
  }

  /** Reclaim's aging of one page on CPU `c`, as one step (PTE lock, test-and-clear A, flush). */
  private age(c: number): void {
    const addr = this.programs[c].addr[this.pc[c]];
    this.countStep();
    this.stats.userSteps++;
    this.depth++;
    let cleared: boolean;
    try {
      cleared = this.kernelOf(c).ageRange(c, addr, addr + 4096) > 0;
    } finally {
      this.depth--;
    }
    if (cleared && this.mmOf[c] === 0) this.oracle.aged(addr);
    this.log(c, "fault", `reclaim ages the page${cleared ? "" : " (already old)"}`, addr);
    this.pc[c]++;
  }

  /** switch_mm to the last fork's child (a step of its own: the CPU's TLB is flushed). */
  private switchToChild(c: number): void {
    this.countStep();
    this.stats.userSteps++;
    const to = this.kernels.length - 1;
    this.kernels[to].attach(c, this.kernelOf(c));
    this.mmOf[c] = to;
    this.log(c, "user", "switches to the fork child's mm", -1);
    this.pc[c]++;
  }

  /** Fill `en` with the CPUs that can move at the top level. */
  private topEnabled(en: number[]): void {
    const n = this.scenario.cpus;
    for (let c = 0; c < n; c++) this.prepare(c);
    let k = 0;
    for (let c = 0; c < n; c++) if (this.runnable(c)) k = put(en, k, c);
    if (en.length !== k) en.length = k;
  }

  /** Run every CPU's program to its end, interleaved by the decider. */
  private runAll(decider: Decider): void {
    const en = this.enabled;
    for (;;) {
      if (this.aborted) return;
      this.topEnabled(en);
      if (en.length === 0) {
        const waiting: number[] = [];
        for (let c = 0; c < this.scenario.cpus; c++)
          if (this.paths[c] !== null || this.opKind(c) >= 0) waiting.push(c);
        if (waiting.length > 0) throw new Deadlock(waiting);
        return;
      }
      let pick = en[0];
      if (en.length > 1) {
        pick = this.decide(decider, en);
        this.choices.push(pick);
      } else this.forced |= 2 ** pick;
      this.stepCpu(pick);
    }
  }

  /**
   * StepHook: a step of code a kernel path called that is not itself a path (a backend's
   * pv-op, the hypervisor, kernel.ts's loops). The other CPUs' hardware may move first; their
   * kernel paths cannot (this code cannot be suspended).
   */
  point(cpu: number, kind: number, arg: number): void {
    if (this.skip) {
      this.skip = false;
      return;
    }
    this.countStep();
    this.stats.kernelSteps++;
    if (this.paths[cpu] !== null) this.pathSteps[cpu]++;
    if (this.depth > 0 || this.aborted) return;
    this.pointKind[cpu] = kind;
    this.pointArg[cpu] = arg;
    const decider = this.decider;
    if (decider === null) return;
    const en = this.enabled;
    const n = this.scenario.cpus;
    for (;;) {
      let m = 0;
      for (let c = 0; c < n; c++) {
        if (c === cpu) m = put(en, m, c);
        else if (this.paths[c] === null) {
          const k = this.opKind(c);
          if (k >= 0 && !isKernelOp(k) && this.runnable(c)) m = put(en, m, c);
        }
      }
      if (en.length !== m) en.length = m;
      if (m === 1) {
        this.forced |= 2 ** cpu;
        return;
      }
      const pick = this.decide(decider, en);
      this.choices.push(pick);
      if (pick === cpu) return;
      const prev = this.machine.current;
      this.depth++;
      try {
        this.stepCpu(pick);
      } finally {
        this.depth--;
        this.machine.current = prev;
      }
      if (this.aborted) return;
    }
  }

  /** Ask the decider; if it throws, the run is abandoned (see `abandoned`) and nothing else moves. */
  private decide(decider: Decider, en: readonly number[]): number {
    try {
      return decider.choose(en, this.mode);
    } catch (e) {
      this.abandoned = e;
      this.aborted = true;
      throw e;
    }
  }

  /** Whether CPU `cpu`'s kernel path keeps checker reads that scopes may shorten. */
  private scoped(cpu: number): boolean {
    return this.reads !== null && this.checkpointsUsable && this.paths[cpu] !== null;
  }

  scopeEnter(cpu: number): void {
    if (this.scoped(cpu)) this.scopes[cpu].push(this.pathSteps[cpu], this.reads![cpu].length);
  }

  /**
   * Inside a scope, the reads since it opened become (NaN, steps at entry, live) and its step
   * count restarts from one past the entry's: NaN and the entry's count keep the key's parts
   * apart (no read or live value is NaN), so equal keys still mean equal positions.
   */
  scopeSummary(cpu: number, live: readonly number[]): void {
    const s = this.scopes[cpu];
    if (s.length === 0 || !this.scoped(cpu)) return;
    const steps = s[s.length - 2];
    const r = this.reads![cpu];
    r.length = s[s.length - 1];
    r.push(Number.NaN, steps, ...live);
    this.pathSteps[cpu] = steps + 1;
  }

  /** The scope returns `ret`: its reads become (-Infinity, steps at entry, ret), one step in all. */
  scopeLeave(cpu: number, ret: number): void {
    const s = this.scopes[cpu];
    if (s.length === 0 || !this.scoped(cpu)) return;
    const steps = s[s.length - 2];
    const r = this.reads![cpu];
    r.length = s[s.length - 1];
    r.push(Number.NEGATIVE_INFINITY, steps, ret);
    this.pathSteps[cpu] = steps + 1;
    s.length -= 2;
  }

  checkpoint(cpu: number, live: readonly number[]): void {
    const reads = this.reads;
    if (reads === null || !this.checkpointsUsable || this.paths[cpu] === null) return;
    const r = reads[cpu];
    let k = put(r, 0, -1);
    for (let i = 0; i < live.length; i++) k = put(r, k, live[i]);
    if (r.length !== k) r.length = k;
  }

  // ---------------------------------------------------------------- tracing

  addrOfPtep(ptep: ptep_t): number {
    for (const k of this.kernels) {
      const a = k.addrOfPtep(ptep);
      if (a >= 0) return a;
    }
    return -1;
  }

  /** Install the tracer that turns PTE operations into timeline events and records kernel reads. */
  installTracer(): void {
    const tl = this.timeline;
    const reads = this.reads;
    if (tl === null && reads === null) return;
    if (tl !== null) for (const k of this.kernels) tl.installFrames(k, this.backend.name);
    const sim = this;
    this.machine.tracer = {
      sw(cpu, kind, ptep, before, after) {
        // What a kernel path has read so far determines its local state (for the checker).
        if (reads !== null && sim.paths[cpu] !== null && kind !== STEP.PTE_WRITE) reads[cpu].push(before);
        if (tl !== null)
          tl.sw(
            cpu,
            sim.mode[cpu] === MODE_FAULT ? "fault" : "kernel",
            kind,
            sim.addrOfPtep(ptep),
            before,
            after,
          );
      },
      hw(cpu, vaddr, _ptep, before, after) {
        tl?.hw(cpu, vaddr, before, after);
      },
    };
  }

  /** Turn a thrown ContractViolation or MachineCheck into a violation; rethrow anything else. */
  absorb(e: unknown): void {
    if (e instanceof ContractViolation) {
      this.oracle.report({
        property: "transaction-contract",
        addr: e.addr,
        cpu: e.cpu,
        message: e.message,
        rule: e.rule,
      });
      this.aborted = true;
    } else if (e instanceof XenFatal || e instanceof XenError) {
      // The hypervisor refused or crashed on an update: the software update did not happen.
      this.oracle.report({
        property: "lost-update",
        addr: e instanceof XenFatal ? this.addrOfPtep(e.ptep) : -1,
        cpu: this.machine.current,
        message: e.message,
        rule: e instanceof XenFatal ? "xen-fatal" : "xen-error",
      });
      this.aborted = true;
    } else if (e instanceof MachineCheck) {
      this.oracle.report({
        property: "data-loss",
        addr: Math.floor(e.vaddr / 4096) * 4096,
        cpu: e.cpu,
        message: e.message,
        rule: "use-after-free",
      });
      this.aborted = true;
    } else throw e;
  }

  /**
   * A canonical description of everything that can influence the rest of the run (see
   * ./state-key.ts), as numbers in `out`. Equal keys, equal futures.
   */
  stateKeyInto(out: KeyBuffer, withKernel: boolean): void {
    stateKeyInto(this, out, withKernel);
  }

  /** The same as a text (KeyBuffer.text). */
  stateKey(withKernel: boolean): string {
    const k = new KeyBuffer();
    this.stateKeyInto(k, withKernel);
    return k.text();
  }

  /**
   * The state after setup (populate, programs), to restart executions from: the checker runs
   * thousands of executions of one scenario and restoring is much cheaper than rebuilding.
   */
  save(): SimulationState {
    if (this.stats.steps !== 0 || this.aborted) throw new Error("Simulation.save after the run started");
    this.machine.tracer = null;
    return { machine: this.machine.save(), kernel: this.kernel.save(), oracle: this.oracle.save() };
  }

  /** Return to a state from save(), as if this simulation had just been set up. */
  restore(s: SimulationState): void {
    this.machine.restore(s.machine);
    this.kernel.restore(s.kernel);
    this.kernels.length = 1;
    this.oracle.restore(s.oracle);
    this.litmus?.reset();
    this.pc.fill(0);
    this.mode.fill(0);
    this.faultErr.fill(0);
    this.pathSteps.fill(0);
    this.pending.fill(-1);
    this.pointKind.fill(-1);
    this.pointArg.fill(-1);
    this.mmOf.fill(0);
    this.paths.fill(null);
    this.callOf.fill(null);
    this.forksDone = 0;
    const st = this.stats;
    st.steps = 0;
    st.kernelSteps = 0;
    st.userSteps = 0;
    st.reads = 0;
    st.writes = 0;
    st.faults = 0;
    st.segv = 0;
    this.timeline?.reset();
    if (this.reads !== null) for (const r of this.reads) clear(r);
    for (const sc of this.scopes) clear(sc);
    clear(this.syscalls);
    clear(this.choices);
    this.aborted = false;
    this.skip = false;
    this.depth = 0;
  }

  /** Run every CPU's program, interleaved by `decider`; then check. */
  execute(decider: Decider): RunResult {
    this.timeline?.logInitialState(this.oracle.pages, (a) => this.kernel.peekPte(a));
    this.installTracer();
    this.decider = decider;
    this.machine.hook = this;
    this.abandoned = null;
    try {
      this.runAll(decider);
    } catch (e) {
      const stop = this.abandoned;
      if (stop !== null) {
        this.abandoned = null;
        throw stop;
      }
      this.absorb(e);
    } finally {
      this.machine.hook = null;
      this.decider = null;
    }
    if (!this.aborted) {
      if (this.litmus !== null) this.litmus.finalCheck();
      else this.oracle.finalCheck();
    }
    return this.result();
  }

  result(): RunResult {
    const v = this.oracle.violations;
    let timeline: TraceEvent[] = [];
    const events = this.events;
    if (v.length > 0 && events !== null) {
      const a = v[0].addr;
      timeline = events.filter((e) => e.addr === a || (e.addr === -1 && e.actor === "kernel"));
      if (events.length > 0 && events[0].step > 1 && timeline.length > 0)
        timeline.unshift({
          step: 0,
          cpu: 0,
          actor: "init",
          what: `(${events[0].step - 1} earlier events not kept)`,
          addr: -1,
        });
    }
    return {
      scenario: this.scenario.name,
      backend: this.backend.name,
      seed: this.scenario.seed,
      violations: v.slice(),
      timeline,
      syscalls: this.syscalls,
      stats: { ...this.stats },
      counters: this.machine.ledger.totals(),
      cycles: ledgerCycles(this.machine.ledger, this.scenario.arch, this.scenario.costs),
      choices: this.choices.slice(),
    };
  }
}

/** Empty `a` (setting an array's length is a runtime call: skipped when it is empty already). */
function clear(a: unknown[]): void {
  if (a.length !== 0) a.length = 0;
}

/** Write `v` at `a[k]` (overwriting or appending): the scheduler's lists are refilled in place. */
function put(a: number[], k: number, v: number): number {
  if (k < a.length) a[k] = v;
  else a.push(v);
  return k + 1;
}

function parseProtBits(s: string): number {
  if (s === "none") return 0;
  let p = 0;
  for (const ch of s) p |= ch === "r" ? 1 : ch === "w" ? 2 : 4;
  return p;
}

/** Agent id of CPU 0 (the CPU that runs the scenario's `syscalls`). Agents are CPU ids. */
export const KERNEL = 0;

/**
 * Chooses who moves next. `enabled` is ascending: the CPUs that can take a step. Only called
 * when there is a choice to make (two or more enabled). `mode` tells, per CPU, whether it is in
 * user mode (MODE_USER: its next step is a hardware step) or inside a kernel path.
 */
export interface Decider {
  choose(enabled: readonly number[], mode?: Uint8Array): number;
}

/**
 * Seeded random interleaving: when CPUs in the kernel and CPUs in user mode can both move, a
 * user-mode CPU moves with probability p (the scenario's workload.interleave).
 */
export class RandomDecider implements Decider {
  private readonly kern: number[] = [];
  private readonly user: number[] = [];
  constructor(
    private readonly rng: RandomGenerator,
    private readonly p: number,
  ) {}
  choose(enabled: readonly number[], mode?: Uint8Array): number {
    if (mode === undefined) return enabled[uniform(this.rng, enabled.length)];
    const k = this.kern;
    const u = this.user;
    k.length = 0;
    u.length = 0;
    for (const c of enabled) (mode[c] === MODE_USER ? u : k).push(c);
    if (k.length === 0 || u.length === 0) return enabled[uniform(this.rng, enabled.length)];
    if (unit(this.rng) >= this.p) return k.length === 1 ? k[0] : k[uniform(this.rng, k.length)];
    return u[uniform(this.rng, u.length)];
  }
}

/** Distinct non-zero initial content for populated pages. */
export function initialValue(addr: number): number {
  return (Math.floor(addr / 4096) & 0xffffff) | 0x80000000;
}

/** Run a scenario with the seeded random scheduler. Same scenario and seed, same result. */
export function runScenario(
  scenario: Scenario,
  backend: BackendModule,
  opts: SimulationOptions = {},
): RunResult {
  const sim = new Simulation(scenario, backend, opts);
  sim.populate();
  sim.setPrograms(xoroshiro128plus(scenario.seed ^ 0x5eed1e55));
  return sim.execute(new RandomDecider(xoroshiro128plus(scenario.seed), scenario.workload.interleave));
}

/** The madvise advice a program step carries (its MADV_* value), or undefined. */
function adviceName(v: number): AdviceName | undefined {
  for (const [name, value] of Object.entries(MADVICE)) if (value === v) return name as AdviceName;
  return undefined;
}
