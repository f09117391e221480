// The timeline of a run: one event per step that matters (software PTE operations, the MMU's
// A/D updates, user accesses, faults, syscall boundaries, TLB flushes), with details for the
// viewer (raw PTE, every CPU's TLB entry for the page, locks, code path). Only traced runs
// install it; the checker's exploration and the benchmarks run without.

import type { pte_t } from "../arch/types.js";
import type { Kernel } from "../kernel/kernel.js";
import { type Machine, STEP_NAMES } from "../machine/machine.js";
import { FrameTracker, locksHeld, tlbEntries } from "./trace-detail.js";

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

/** Timeline events kept per run (the most recent ones). */
export const MAX_EVENTS = 200_000;

export class Timeline {
  readonly events: TraceEvent[] = [];
  /** Events logged so far (the timeline keeps only the last MAX_EVENTS of them). */
  private eventCount = 0;
  /** Call stacks per CPU (details only). */
  frames: FrameTracker | null = null;

  constructor(
    private readonly machine: Machine,
    /** The mm whose locks an event lists (the parent's). */
    private readonly kernel: Kernel,
    private readonly ncpus: number,
    /** Record per event the raw PTE, TLB entries, locks and code path, and flushes as events. */
    readonly details: boolean,
  ) {}

  reset(): void {
    this.events.length = 0;
    this.eventCount = 0;
  }

  /** Whether an earlier part of the run was dropped, and the number of the first event kept. */
  firstKept(): number {
    return this.events.length > 0 ? this.events[0].step : 1;
  }

  log(
    cpu: number,
    actor: TraceEvent["actor"],
    what: string,
    addr: number,
    before?: pte_t,
    after?: pte_t,
    target?: number,
  ): void {
    const e: TraceEvent = { step: ++this.eventCount, cpu, actor, what, addr };
    const arch = this.machine.arch;
    if (before !== undefined) e.before = arch.pteDescribe(before);
    if (after !== undefined) e.after = arch.pteDescribe(after);
    if (this.details) {
      if (before !== undefined) e.beforeHex = arch.pteToHex(before);
      if (after !== undefined) e.afterHex = arch.pteToHex(after);
      if (addr >= 0) e.tlb = tlbEntries(this.machine, addr);
      const locks = locksHeld(this.kernel, this.ncpus, addr);
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

  /** A software PTE operation by `cpu` as an event ("kernel" for a CPU in a syscall, else "fault"). */
  sw(cpu: number, actor: TraceEvent["actor"], kind: number, addr: number, before: pte_t, after: pte_t): void {
    this.log(cpu, actor, STEP_NAMES[kind], addr, before, after);
  }

  /** The MMU set A and/or D. */
  hw(cpu: number, vaddr: number, before: pte_t, after: pte_t): void {
    const arch = this.machine.arch;
    const setD = arch.pte_dirty(after) && !arch.pte_dirty(before);
    const setA = arch.pte_young(after) && !arch.pte_young(before);
    const set = setA && setD ? "A|D" : setD ? "D" : "A";
    this.log(cpu, "mmu", `sets ${set}`, Math.floor(vaddr / 4096) * 4096, before, after);
  }

  /** Each tracked page's PTE and the TLB entries caching it, as "init" events. */
  logInitialState(pages: readonly number[], peek: (addr: number) => pte_t): void {
    for (const a of pages) {
      const tlbs = this.machine.cpus
        .map((c) => {
          const f = this.machine.tlbFlags(c.id, a / 4096);
          return f < 0 ? "" : `CPU${c.id} ${this.machine.arch.tlb_flags_describe(f)}`;
        })
        .filter((x) => x !== "");
      this.log(0, "init", `TLB: ${tlbs.length > 0 ? tlbs.join(", ") : "none"}`, a, undefined, peek(a));
    }
  }

  /** Call stacks and TLB flush events (details only); `kernel` may be a fork child's mm too. */
  installFrames(kernel: Kernel, backendName: string): void {
    if (!this.details) return;
    if (this.frames === null) {
      this.frames = new FrameTracker(this.machine, this.ncpus);
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
    this.frames.install(kernel, backendName);
  }

  /** Push or pop a kernel path's frame on a CPU's stack (paths run as generators are not wrapped). */
  enterPath(cpu: number, name: string): void {
    this.frames?.stacks[cpu]?.push(name);
  }
  leavePath(cpu: number): void {
    this.frames?.stacks[cpu]?.pop();
  }
}
