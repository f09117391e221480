// A simulation: one machine, one kernel with a backend, user programs on CPUs 1.., the syscall
// sequence on CPU 0, and the oracle. Schedulers decide the interleaving through the machine's
// StepHook; this file provides the seeded random one used by `ptesim run` and `ptesim demo`.
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";
import type { pte_t } from "../arch/types.js";
import { ContractViolation } from "../kernel/contract.js";
import { errnoName } from "../kernel/errno.js";
import { Kernel, type KernelState, VM_FAULT_SIGSEGV } from "../kernel/kernel.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED } from "../kernel/mman.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { CounterName } from "../machine/ledger.js";
import {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  Machine,
  MachineCheck,
  type MachineState,
  STEP,
  STEP_NAMES,
  type StepHook,
} from "../machine/machine.js";
import type { ptep_t } from "../machine/physmem.js";
import { XenError, XenFatal } from "../xen/hypervisor.js";
import { costTable, cycles } from "./costs.js";
import { Oracle, type OracleState, type Violation } from "./oracle.js";
import { arm64Features, parseAccess, parseProt, type Scenario } from "./scenario.js";
import { FrameTracker, locksHeld, tlbEntries } from "./trace-detail.js";

export interface SimulationState {
  readonly machine: MachineState;
  readonly kernel: KernelState;
  readonly oracle: OracleState;
}

/** One line of a timeline. */
export interface TraceEvent {
  step: number;
  cpu: number;
  actor: "kernel" | "mmu" | "user" | "fault" | "init";
  what: string;
  /** Page address, or -1. */
  addr: number;
  /** PTE before/after for PTE-changing events (as descriptions), else undefined. */
  before?: string;
  after?: string;
  /** A remark on this step, e.g. "drops D": a plain store that clears an A or D bit. */
  note?: string;
  /** The PTE before/after as the real 64-bit value in hex (pteToHex), with before/after. */
  beforeHex?: string;
  afterHex?: string;
  /** Every CPU's TLB entry for the page after this step (index: CPU; null: none cached). */
  tlb?: (string | null)[];
  /** Locks held after this step that matter for the page (mmap_lock, its PTE lock, lazy MMU). */
  locks?: string[];
  /** The call frames on this CPU, outermost first (change_pte_range, backend, hypervisor). */
  path?: string[];
  /** For a TLB flush: the CPU whose TLB is flushed (another CPU's: by IPI). */
  target?: number;
}

export interface SyscallRecord {
  call: string;
  addr: number;
  pages: number;
  prot?: string;
  ret: number;
  errno?: string;
  ptesChanged: number;
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

/** A user CPU's program, compactly: 13 bytes a step, so million-step workloads stay small. */
class UserProgram {
  readonly addr: Float64Array;
  readonly kind: Uint8Array;
  readonly value: Int32Array;
  constructor(readonly length: number) {
    this.addr = new Float64Array(length);
    this.kind = new Uint8Array(length);
    this.value = new Int32Array(length);
  }
  set(i: number, addr: number, kind: number, value: number): void {
    this.addr[i] = addr;
    this.kind[i] = kind;
    this.value[i] = value;
  }
}

/** The value a write by CPU `c` at step `i` stores: distinct across CPUs and steps, never 0. */
function writeValue(c: number, i: number, kind: number): number {
  return kind === ACCESS_WRITE ? (c << 24) | ((i + 1) & 0xffffff) : 0;
}

interface UserOp {
  addr: number;
  /** ACCESS_READ, ACCESS_WRITE or ACCESS_EXEC. */
  kind: number;
  write: boolean;
  value: number;
}

const enum UserState {
  Ready = 0,
  Faulted = 1,
}

/** A run went past its step budget (SimulationOptions.maxSteps). */
export class StepBudgetExceeded extends Error {
  constructor(readonly steps: number) {
    super(`the execution took more than ${steps} steps`);
    this.name = "StepBudgetExceeded";
  }
}

export interface SimulationOptions {
  /** Stop an execution (StepBudgetExceeded) after this many steps (default: no bound). */
  maxSteps?: number;
  /** Record a timeline (default true). */
  trace?: boolean;
  /** Record what the syscall thread reads (the checker's state keys need it). */
  recordKernelReads?: boolean;
  /**
   * With a timeline, also record per event the raw PTE, TLB entries, locks and code path, and
   * TLB flushes as events (default true). Sweeps turn it off and re-run the runs they keep.
   */
  details?: boolean;
}

/** Per-run state shared by schedulers. */
export class Simulation {
  readonly machine: Machine;
  readonly kernel: Kernel;
  readonly oracle: Oracle;
  readonly regionAddr = new Map<string, number>();
  readonly programs: UserProgram[] = [];
  readonly pc: Int32Array;
  readonly state: Uint8Array;
  readonly faultErr: Int32Array;
  readonly stats: RunStats = {
    steps: 0,
    kernelSteps: 0,
    userSteps: 0,
    reads: 0,
    writes: 0,
    faults: 0,
    segv: 0,
  };
  readonly events: TraceEvent[] | null;
  /** Whether events carry details (SimulationOptions.details). */
  private readonly details: boolean;
  /** Call stacks per CPU for traced runs (see trace-detail.ts). */
  private frames: FrameTracker | null = null;
  readonly syscalls: SyscallRecord[] = [];
  /** The scenario syscall running on CPU 0 (for the unexpected-change property), or null. */
  private current: { call: string; start: number; end: number } | null = null;
  /** The per-execution step budget. */
  readonly maxSteps: number;
  /** Set when a run must stop (contract breach, machine check). */
  aborted = false;
  /** Events logged so far (the timeline keeps only the last MAX_EVENTS of them). */
  private eventCount = 0;
  /** Every decision taken where two or more agents could move (a replay path). */
  readonly choices: number[] = [];
  /** Values returned to the syscall thread by PTE reads, when recorded (checker state keys). */
  readonly kernelReads: number[] | null;
  /** Kernel checkpoints may replace the read history: the backend's state is known to the key. */
  readonly checkpointsUsable: boolean;
  /** The syscall thread's pending scheduling point (STEP kind and its PTE slot or CPU), for POR. */
  pointKind = -1;
  pointPtep = -1;
  /** Agents (bit per agent id) that moved without a decision, as the only one able to; POR reads and clears it. */
  forced = 0;

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
      mutant: scenario.kernel.mutant,
      backendOptions: scenario.backendOptions,
    });
    const n = scenario.cpus;
    this.pc = new Int32Array(n);
    this.state = new Uint8Array(n);
    this.faultErr = new Int32Array(n);
    this.events = opts.trace === false ? null : [];
    this.details = this.events !== null && opts.details !== false;
    this.kernelReads = opts.recordKernelReads === true ? [] : null;
    this.maxSteps = opts.maxSteps ?? Number.POSITIVE_INFINITY;
    // Map the regions (CPU 0, no scheduler yet).
    const pages: number[] = [];
    for (const r of scenario.regions) {
      const flags = MAP_ANONYMOUS | (r.shared ? MAP_SHARED : MAP_PRIVATE);
      const a = this.kernel.sys_mmap(0, 0, r.pages * 4096, parseProt(r.prot), flags);
      if (a < 0) throw new Error(`setup: mmap of region "${r.name}" failed with ${errnoName(a)}`);
      this.regionAddr.set(r.name, a);
      for (let i = 0; i < r.pages; i++) pages.push(a + i * 4096);
    }
    this.oracle = new Oracle(this.machine, this.kernel, pages);
    this.checkpointsUsable = backend.stateless === true || this.kernel.pv.stateKey !== undefined;
    const oracle = this.oracle;
    this.kernel.observer = {
      newPage: (cpu, addr, pfn, zero) => oracle.newPage(cpu, addr, pfn, zero),
      zapped: (cpu, addr, old) => oracle.zapped(cpu, addr, old),
      mmapWrite: (cpu, taken) => {
        const sc = this.current;
        if (taken && sc !== null) oracle.beginSyscall(sc.call, sc.start, sc.end);
        else if (!taken) oracle.endSyscall(cpu);
      },
      syscallReturn: (cpu, name) => {
        if (this.events !== null) this.log(cpu, "kernel", `${name} returns`, -1);
        oracle.syscallReturn(cpu, name);
      },
    };
  }

  // ---------------------------------------------------------------- setup

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
        this.accessNow(cpu, base + i * 4096, write, write ? initialValue(base + i * 4096) : 0);
      }
    }
    if (s.age)
      for (const r of s.regions) {
        const base = this.regionAddr.get(r.name)!;
        this.kernel.ageRange(0, base, base + r.pages * 4096);
      }
    this.oracle.resetHistory(s.age);
  }

  /** Perform an access to completion (handling faults) with no scheduler: setup only. */
  private accessNow(cpu: number, addr: number, write: boolean, value: number): void {
    for (let tries = 0; tries < 4; tries++) {
      if (this.machine.access(cpu, addr, write ? ACCESS_WRITE : ACCESS_READ, value)) {
        this.oracle.access(cpu, addr, write, this.machine.cpus[cpu].lastValue);
        return;
      }
      if (this.kernel.handle_mm_fault(cpu, addr, this.machine.cpus[cpu].pfError) === VM_FAULT_SIGSEGV) return;
    }
    throw new Error(`setup: access to 0x${addr.toString(16)} by CPU${cpu} keeps faulting`);
  }

  /** The scenario's explicit programs, or programs generated from `rng` by its workload. */
  setPrograms(rng: RandomGenerator): void {
    const s = this.scenario;
    this.programs.length = 0;
    this.programs.push(new UserProgram(0)); // CPU 0 runs the syscalls
    if (s.programs !== undefined) {
      for (let c = 1; c < s.cpus; c++) {
        const steps = s.programs[c - 1] ?? [];
        const prog = new UserProgram(steps.length);
        steps.forEach((a, i) => {
          const acc = parseAccess(a)!;
          const kind =
            acc.kind === "w"
              ? ACCESS_WRITE
              : acc.kind === "x"
                ? ACCESS_EXEC
                : acc.kind === "age"
                  ? OP_AGE
                  : ACCESS_READ;
          prog.set(i, this.regionAddr.get(acc.region)! + acc.page * 4096, kind, writeValue(c, i, kind));
        });
        this.programs.push(prog);
      }
      return;
    }
    const names = s.workload.regions ?? s.regions.map((r) => r.name);
    const pages: number[] = [];
    for (const n of names) {
      const r = s.regions.find((x) => x.name === n)!;
      const base = this.regionAddr.get(n)!;
      for (let i = 0; i < r.pages; i++) pages.push(base + i * 4096);
    }
    for (let c = 1; c < s.cpus; c++) {
      const prog = new UserProgram(s.workload.accesses);
      for (let i = 0; i < s.workload.accesses; i++) {
        const addr = pages[uniform(rng, pages.length)];
        const kind = unit(rng) < s.workload.writeRatio ? ACCESS_WRITE : ACCESS_READ;
        prog.set(i, addr, kind, writeValue(c, i, kind));
      }
      this.programs.push(prog);
    }
  }

  /** The current step of user CPU `c`, in a reused object (no allocation per step). */
  private opAt(c: number): UserOp {
    const prog = this.programs[c];
    const i = this.pc[c];
    const op = this.scratchOp;
    op.addr = prog.addr[i];
    op.kind = prog.kind[i];
    op.write = op.kind === ACCESS_WRITE;
    op.value = prog.value[i];
    return op;
  }
  private readonly scratchOp: UserOp = { addr: 0, kind: 0, write: false, value: 0 };

  // ---------------------------------------------------------------- user CPUs

  /** Can user CPU `c` take a step now? */
  runnable(c: number): boolean {
    if (c === 0 || this.pc[c] >= this.programs[c].length) return false;
    const op = this.opAt(c);
    if (this.state[c] === UserState.Faulted) return this.kernel.canHandleFault(c, op.addr);
    if (op.kind === OP_AGE) return this.kernel.canTakePteLock(op.addr);
    return true;
  }

  /** One hardware step of user CPU `c` (an access), or its fault handler as one step. */
  userStep(c: number): void {
    const op = this.opAt(c);
    this.stats.steps++;
    this.stats.userSteps++;
    this.oracle.step = this.stats.steps;
    if (this.state[c] === UserState.Faulted) {
      const r = this.kernel.handle_mm_fault(c, op.addr, this.faultErr[c]);
      this.state[c] = UserState.Ready;
      if (r === VM_FAULT_SIGSEGV) {
        this.stats.segv++;
        this.pc[c]++;
        if (this.events !== null) this.log(c, "fault", `SIGSEGV for ${op.write ? "write" : "read"}`, op.addr);
      } else if (this.events !== null) this.log(c, "fault", "fault handled, retry", op.addr);
      return;
    }
    if (op.kind === OP_AGE) {
      // Reclaim's rmap walk on this CPU: test-and-clear A under the PTE lock, flush if it was set.
      const cleared = this.kernel.ageRange(c, op.addr, op.addr + 4096) > 0;
      if (cleared) this.oracle.aged(op.addr);
      if (this.events !== null)
        this.log(c, "fault", `reclaim ages the page${cleared ? "" : " (already old)"}`, op.addr);
      this.pc[c]++;
      return;
    }
    const m = this.machine;
    if (m.access(c, op.addr, op.kind, op.value)) {
      const cpu = m.cpus[c];
      if (op.write) this.stats.writes++;
      else this.stats.reads++;
      if (this.events !== null)
        this.log(
          c,
          "user",
          `${op.write ? `write 0x${op.value.toString(16)}` : `${op.kind === ACCESS_EXEC ? "fetch" : "read"} -> 0x${(cpu.lastValue >>> 0).toString(16)}`} (${cpu.lastTlbHit ? "TLB hit" : "page walk"})`,
          op.addr,
        );
      this.oracle.access(c, op.addr, op.write, cpu.lastValue);
      this.pc[c]++;
    } else {
      this.stats.faults++;
      this.state[c] = UserState.Faulted;
      this.faultErr[c] = m.cpus[c].pfError;
      this.oracle.fault(c, op.addr, this.faultErr[c]);
      if (this.events !== null)
        this.log(
          c,
          "user",
          `page fault on ${op.write ? "write" : "read"} (err ${m.cpus[c].pfError})`,
          op.addr,
        );
    }
  }

  // ---------------------------------------------------------------- the syscall thread (CPU 0)

  /** Execute syscall `i` of the scenario on CPU 0. */
  syscall(i: number): void {
    const sc = this.scenario.syscalls[i];
    const r = this.scenario.regions.find((x) => x.name === sc.region)!;
    const addr = this.regionAddr.get(sc.region)! + sc.offset * 4096;
    const pages = sc.pages ?? r.pages - sc.offset;
    if (this.events !== null)
      this.log(
        0,
        "kernel",
        `${sc.call}(0x${addr.toString(16)}, ${pages} pages${sc.prot ? `, ${sc.prot}` : ""})`,
        -1,
      );
    const k = this.kernel;
    this.current = { call: sc.call, start: addr, end: addr + pages * 4096 };
    let ret: number;
    try {
      ret =
        sc.call === "mprotect"
          ? k.sys_mprotect(0, addr, pages * 4096, parseProt(sc.prot!))
          : k.sys_munmap(0, addr, pages * 4096);
    } finally {
      this.current = null;
    }
    this.syscalls.push({
      call: sc.call,
      addr,
      pages,
      ...(sc.prot === undefined ? {} : { prot: sc.prot }),
      ret,
      ...(ret < 0 ? { errno: errnoName(ret) } : {}),
      ptesChanged: sc.call === "mprotect" ? k.lastMprotect.ptesChanged : 0,
    });
  }

  // ---------------------------------------------------------------- tracing

  log(
    cpu: number,
    actor: TraceEvent["actor"],
    what: string,
    addr: number,
    before?: pte_t,
    after?: pte_t,
    target?: number,
  ): void {
    if (this.events === null) return;
    const e: TraceEvent = { step: ++this.eventCount, cpu, actor, what, addr };
    const arch = this.machine.arch;
    if (before !== undefined) e.before = arch.pteDescribe(before);
    if (after !== undefined) e.after = arch.pteDescribe(after);
    if (this.details) {
      if (before !== undefined) e.beforeHex = arch.pteToHex(before);
      if (after !== undefined) e.afterHex = arch.pteToHex(after);
      if (addr >= 0) e.tlb = tlbEntries(this.machine, addr);
      const locks = locksHeld(this.kernel, this.machine.cpus.length, addr);
      if (locks.length > 0) e.locks = locks;
      const path = this.frames?.path(cpu);
      if (path !== undefined) e.path = path;
      if (target !== undefined) e.target = target;
    }
    if (
      before !== undefined &&
      after !== undefined &&
      after !== 0 &&
      (what === "write" || what === "cmpxchg")
    ) {
      // A compare-exchange clearing A is aging (test_and_clear_young); clearing D is not done here.
      const dropsD = arch.pte_dirty(before) && !arch.pte_dirty(after);
      const dropsA = what === "write" && arch.pte_young(before) && !arch.pte_young(after);
      if (dropsD || dropsA) e.note = `drops ${dropsD && dropsA ? "A and D" : dropsD ? "D" : "A"}`;
    }
    // Keep the most recent MAX_EVENTS (memory stays bounded on long runs; a run is exactly
    // reproducible, so a shorter replay can always show the rest).
    if (this.events.length === MAX_EVENTS) {
      this.events.copyWithin(0, MAX_EVENTS / 2);
      this.events.length = MAX_EVENTS / 2;
    }
    this.events.push(e);
  }

  addrOfPtep(ptep: ptep_t): number {
    const a = this.kernel.addrOfPtep(ptep);
    return a >= 0 ? a : -1;
  }

  /** Install the tracer that turns PTE operations into timeline events. */
  installTracer(): void {
    if (this.events === null && this.kernelReads === null) return;
    const sim = this;
    if (this.details) this.installFrames();
    const reads = this.kernelReads;
    this.machine.tracer = {
      sw(cpu, kind, ptep, before, after) {
        // What the syscall thread has read so far determines its local state (for the checker).
        if (reads !== null && cpu === 0 && kind !== STEP.PTE_WRITE) reads.push(before);
        if (sim.events !== null)
          sim.log(cpu, cpu === 0 ? "kernel" : "fault", STEP_NAMES[kind], sim.addrOfPtep(ptep), before, after);
      },
      hw(cpu, vaddr, _ptep, before, after) {
        if (sim.events === null) return;
        const arch = sim.machine.arch;
        const d = arch.pte_dirty(after) && !arch.pte_dirty(before);
        const set = d && arch.pte_young(after) && !arch.pte_young(before) ? "A|D" : d ? "D" : "A";
        sim.log(cpu, "mmu", `sets ${set}`, Math.floor(vaddr / 4096) * 4096, before, after);
      },
    };
  }

  /** Call stacks and TLB flush events for the timeline (traced runs only). */
  private installFrames(): void {
    if (this.frames === null) {
      this.frames = new FrameTracker(this.machine, this.scenario.cpus);
      // TLB invalidations as events: who flushes whose TLB (another CPU's: an IPI or a hypercall).
      const m = this.machine;
      const invlpg = m.invlpg.bind(m);
      const flushAll = m.flushTlbAll.bind(m);
      m.invlpg = (cpu: number, vaddr: number) => {
        invlpg(cpu, vaddr);
        const me = m.current;
        this.log(
          me,
          "kernel",
          `INVLPG on CPU${cpu}${cpu === me ? "" : " (IPI)"}`,
          Math.floor(vaddr / 4096) * 4096,
          undefined,
          undefined,
          cpu,
        );
      };
      m.flushTlbAll = (cpu: number) => {
        flushAll(cpu);
        const me = m.current;
        this.log(
          me,
          "kernel",
          `TLB flush on CPU${cpu}${cpu === me ? "" : " (IPI)"}`,
          -1,
          undefined,
          undefined,
          cpu,
        );
      };
    }
    this.frames.install(this.kernel, this.backend.name);
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
      });
      this.aborted = true;
    } else throw e;
  }

  /**
   * A canonical description of everything that can influence the rest of the run: the tracked
   * pages' PTEs and contents, every CPU's TLB entries for them, the user CPUs' progress, the
   * oracle's knowledge, and (with `withKernel`) the syscall thread's position and what it has
   * read (which fixes its local variables). Equal keys, equal futures.
   */
  stateKey(withKernel: boolean): string {
    const parts: number[] = [];
    const m = this.machine;
    const mem = m.mem;
    const arch = m.arch;
    const o = this.oracle;
    for (let i = 0; i < o.pages.length; i++) {
      const a = o.pages[i];
      const v = this.kernel.peekPte(a);
      parts.push(
        v,
        v === 0 ? 0 : mem.data[arch.pte_pfn(v)],
        o.expected[i],
        o.written[i] | (o.accessed[i] << 1) | (o.writableAtReturn[i] << 2) | (o.removed[i] << 3),
      );
      for (let c = 0; c < m.cpus.length; c++) {
        parts.push(m.tlbKey(c, a / 4096));
      }
    }
    for (let c = 1; c < this.scenario.cpus; c++) parts.push(this.pc[c], this.state[c], this.faultErr[c]);
    let key = parts.join(",");
    if (withKernel)
      key += `|${this.stats.kernelSteps}|${this.kernelReads?.join(",") ?? ""}|${this.kernel.pv.stateKey?.() ?? ""}`;
    return key;
  }

  /** Describe each tracked page's PTE and the TLB entries caching it, as "initial" events. */
  private logInitialState(): void {
    if (this.events === null) return;
    for (const a of this.oracle.pages) {
      const tlbs = this.machine.cpus
        .map((c) => {
          const f = this.machine.tlbFlags(c.id, a / 4096);
          return f < 0 ? "" : `CPU${c.id} ${this.machine.arch.tlb_flags_describe(f)}`;
        })
        .filter((x) => x !== "");
      this.log(
        0,
        "init",
        `TLB: ${tlbs.length > 0 ? tlbs.join(", ") : "none"}`,
        a,
        undefined,
        this.kernel.peekPte(a),
      );
    }
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
    this.oracle.restore(s.oracle);
    this.pc.fill(0);
    this.state.fill(0);
    this.faultErr.fill(0);
    const st = this.stats;
    st.steps = 0;
    st.kernelSteps = 0;
    st.userSteps = 0;
    st.reads = 0;
    st.writes = 0;
    st.faults = 0;
    st.segv = 0;
    if (this.events !== null) this.events.length = 0;
    this.eventCount = 0;
    if (this.kernelReads !== null) this.kernelReads.length = 0;
    this.syscalls.length = 0;
    this.choices.length = 0;
    this.aborted = false;
  }

  /** Run the syscalls on CPU 0 and the user programs, interleaved by `decider`; then check. */
  execute(decider: Decider): RunResult {
    this.logInitialState();
    this.installTracer();
    const hook = new DecisionHook(this, decider);
    this.machine.hook = hook;
    try {
      for (let i = 0; i < this.scenario.syscalls.length && !this.aborted; i++) this.syscall(i);
      if (!this.aborted) hook.drain();
    } catch (e) {
      this.absorb(e);
    } finally {
      this.machine.hook = null;
    }
    if (!this.aborted) this.oracle.finalCheck();
    return this.result();
  }

  result(): RunResult {
    const v = this.oracle.violations;
    let timeline: TraceEvent[] = [];
    if (v.length > 0 && this.events !== null) {
      const a = v[0].addr;
      timeline = this.events.filter((e) => e.addr === a || (e.addr === -1 && e.actor === "kernel"));
      if (this.events.length > 0 && this.events[0].step > 1 && timeline.length > 0)
        timeline.unshift({
          step: 0,
          cpu: 0,
          actor: "init",
          what: `(${this.events[0].step - 1} earlier events not kept)`,
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
      cycles: cycles(this.machine.ledger, costTable(this.scenario.costs)),
      choices: this.choices.slice(),
    };
  }
}

/** A program step that is not an access: page aging by a software updater (see parseAccess). */
export const OP_AGE = 3;

/** Timeline events kept per run (the most recent ones). */
const MAX_EVENTS = 200_000;

/** Agent id of the syscall thread (CPU 0) in a decision; user CPUs are their CPU ids. */
export const KERNEL = 0;

/**
 * Chooses who moves next. `enabled` is ascending and holds KERNEL (0) when the syscall thread
 * can continue, plus every user CPU that can take a step. Only called when there is a choice
 * to make (two or more enabled agents).
 */
export interface Decider {
  choose(enabled: readonly number[]): number;
}

/** Seeded random interleaving: before each kernel step, run user steps with probability p. */
export class RandomDecider implements Decider {
  constructor(
    private readonly rng: RandomGenerator,
    private readonly p: number,
  ) {}
  choose(enabled: readonly number[]): number {
    if (enabled[0] !== KERNEL) return enabled[uniform(this.rng, enabled.length)];
    if (unit(this.rng) >= this.p) return KERNEL;
    return enabled[1 + uniform(this.rng, enabled.length - 1)];
  }
}

/** Offers every kernel step to a Decider; fault handlers run as one step (no nested choices). */
class DecisionHook implements StepHook {
  private depth = 0;
  private readonly enabled: number[] = [];
  constructor(
    private readonly sim: Simulation,
    private readonly decider: Decider,
  ) {}
  point(_cpu: number, kind: number, ptep: number): void {
    const sim = this.sim;
    sim.stats.steps++;
    sim.stats.kernelSteps++;
    sim.oracle.step = sim.stats.steps;
    if (sim.stats.steps > sim.maxSteps) throw new StepBudgetExceeded(sim.maxSteps);
    if (this.depth > 0 || sim.aborted) return;
    sim.pointKind = kind;
    sim.pointPtep = ptep;
    this.depth++;
    try {
      for (;;) {
        const en = this.enabled;
        en.length = 0;
        en.push(KERNEL);
        for (let c = 1; c < sim.scenario.cpus; c++) if (sim.runnable(c)) en.push(c);
        if (en.length === 1) {
          sim.forced |= 1;
          return;
        }
        const pick = this.decider.choose(en);
        sim.choices.push(pick);
        if (pick === KERNEL) return;
        sim.userStep(pick);
        if (sim.aborted) return;
      }
    } finally {
      this.depth--;
    }
  }
  checkpoint(cpu: number, live: readonly number[]): void {
    const reads = this.sim.kernelReads;
    if (cpu !== 0 || reads === null || !this.sim.checkpointsUsable) return;
    reads.length = 0;
    reads.push(-1, ...live);
  }
  /** After the syscalls: user CPUs run to completion. */
  drain(): void {
    const sim = this.sim;
    const en = this.enabled;
    for (;;) {
      en.length = 0;
      for (let c = 1; c < sim.scenario.cpus; c++) if (sim.runnable(c)) en.push(c);
      if (en.length === 0 || sim.aborted) return;
      let pick = en[0];
      if (en.length > 1) {
        pick = this.decider.choose(en);
        sim.choices.push(pick);
      } else sim.forced |= 2 ** pick;
      // A user step is atomic: its fault handler's own steps offer no further choices.
      this.depth++;
      try {
        sim.userStep(pick);
      } finally {
        this.depth--;
      }
    }
  }
}

export function unit(rng: RandomGenerator): number {
  return (rng.next() >>> 0) / 4294967296;
}
export function uniform(rng: RandomGenerator, n: number): number {
  return Math.floor(unit(rng) * n);
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
