// The checker: every interleaving of the syscall thread's steps with the user CPUs' steps
// (accesses through MMU and TLB, fault handlers), explored depth-first by re-executing the same
// Simulation code that `ptesim run` uses, each time with a different path of decisions.
//
// Modes:
//   exhaustive  every path (the reference)
//   reduced     a path stops as soon as it reaches a state already visited: the state key
//               (Simulation.stateKey) covers memory, TLBs, user progress, the oracle and the
//               syscall thread's position and reads, so equal keys have equal futures and the
//               verdict and the set of reachable final states are those of `exhaustive`.
//               Independent steps on different PTEs, and A/D updates nobody reads, reach equal
//               states in either order, so their reorderings are explored once.
import type { BackendModule } from "../kernel/pvops.js";
import type { PropertyName, Violation } from "../sim/oracle.js";
import type { Scenario } from "../sim/scenario.js";
import {
  type Decider,
  type RunResult,
  Simulation,
  StepBudgetExceeded,
  type TraceEvent,
} from "../sim/simulation.js";
import { encodeReplay, ReplayDecider } from "./replay.js";

export type CheckMode = "reduced" | "exhaustive";

export interface CheckOptions {
  mode?: CheckMode;
  /** Stop with verdict "incomplete" after this many executions. */
  maxExecutions?: number;
  /** Stop with verdict "incomplete" after this long (by `now`). */
  maxSeconds?: number;
  /** Polled before each execution: true stops with verdict "incomplete", reason "interrupted" (Ctrl-C). */
  shouldStop?: () => boolean;
  /** The clock, in milliseconds (injected: tests and browsers pass their own). */
  now?: () => number;
  /** Called about every `progressEveryMs` with the counts so far. */
  onProgress?: (p: CheckProgress) => void;
  progressEveryMs?: number;
  /** Keep the set of final-state keys (for comparing modes in tests). */
  collectFinalStates?: boolean;
  /** Shorten the counterexample (default true). */
  minimize?: boolean;
  /** Build a fresh simulation for every execution instead of restoring one (the reference). */
  rebuild?: boolean;
  /**
   * Stop with verdict "incomplete" (reason "max-memory") once `memoryUsed()` exceeds this many
   * bytes (checked every few executions). Both injected: the core does not read the process.
   */
  maxMemoryBytes?: number;
  memoryUsed?: () => number;
  /**
   * Steps one execution may take (default 1,000,000, far beyond any scenario the checker can
   * finish): past it the search ends "incomplete" (reason "max-steps"), never in a hang.
   */
  maxStepsPerExecution?: number;
}

export interface CheckProgress {
  executions: number;
  states: number;
  elapsedMs: number;
}

interface CheckStats {
  /** Executions started (complete or cut at a visited state). */
  executions: number;
  /** Executions that ran to the end. */
  completeExecutions: number;
  /** Distinct states at decision points (reduced mode; exhaustive counts decision points). */
  states: number;
  /** Decisions taken in all. */
  transitions: number;
  elapsedMs: number;
  /** Final-state keys, when collected. */
  finalStates?: Set<string>;
  /** Distinct final states of the executions that ran to the end. */
  distinctFinalStates: number;
}

export interface Counterexample {
  property: PropertyName;
  rule?: string;
  message: string;
  /** Address of the page concerned. */
  addr: number;
  violation: Violation;
  /** The exact decisions of the (shortened) violating run. */
  choices: number[];
  replay: string;
  /** Every event of the violating run. */
  timeline: TraceEvent[];
  /** The run itself. */
  run: RunResult;
}

export type CheckResult =
  | ({ verdict: "verified" } & CheckStats)
  | ({ verdict: "violated"; counterexample: Counterexample } & CheckStats)
  | ({
      verdict: "incomplete";
      reason: "max-executions" | "max-seconds" | "max-memory" | "max-steps" | "interrupted";
    } & CheckStats);

/** Thrown inside an execution to cut it at an already visited state. */
class Cut extends Error {}
const CUT = new Cut("cut");

interface Frame {
  enabled: number[];
  idx: number;
}

/** Follows the current DFS stack, then extends it with first choices, cutting at visited states. */
class DfsDecider implements Decider {
  pos = 0;
  constructor(
    private readonly frames: Frame[],
    private readonly sim: Simulation,
    private readonly visited: Set<string> | null,
    private readonly stats: CheckStats,
  ) {}
  choose(enabled: readonly number[]): number {
    this.stats.transitions++;
    if (this.pos < this.frames.length) {
      const f = this.frames[this.pos++];
      return f.enabled[f.idx];
    }
    if (this.visited !== null) {
      const key = this.sim.stateKey(true);
      if (this.visited.has(key)) throw CUT;
      this.visited.add(key);
    }
    this.stats.states++;
    this.frames.push({ enabled: enabled.slice(), idx: 0 });
    this.pos++;
    return enabled[0];
  }
}

/** Default per-execution step budget of the checker. */
export const DEFAULT_MAX_STEPS_PER_EXECUTION = 1_000_000;

function newSimulation(
  scenario: Scenario,
  backend: BackendModule,
  trace: boolean,
  record: boolean,
  maxSteps = DEFAULT_MAX_STEPS_PER_EXECUTION,
): Simulation {
  const sim = new Simulation(scenario, backend, { trace, recordKernelReads: record, maxSteps });
  sim.populate();
  sim.setPrograms(noRng);
  return sim;
}

const noRng = {
  next(): number {
    throw new Error("the checker needs explicit `programs` in the scenario");
  },
  clone() {
    return noRng;
  },
  getState(): readonly number[] {
    return [];
  },
};

/** Run one path (lenient replay) and return the result, traced unless `trace` is false. */
export function replayPath(
  scenario: Scenario,
  backend: BackendModule,
  path: readonly number[],
  strict: boolean,
  trace = true,
): RunResult {
  const sim = newSimulation(scenario, backend, trace, false);
  return sim.execute(new ReplayDecider(path, strict));
}

export function check(scenario: Scenario, backend: BackendModule, opts: CheckOptions = {}): CheckResult {
  if (scenario.programs === undefined)
    throw new Error(
      "the checker needs explicit `programs` (one list of accesses per user CPU) in the scenario",
    );
  const mode = opts.mode ?? "reduced";
  const now = opts.now ?? (() => 0);
  const t0 = now();
  const stats: CheckStats = {
    executions: 0,
    completeExecutions: 0,
    states: 0,
    transitions: 0,
    elapsedMs: 0,
    distinctFinalStates: 0,
  };
  // Final states are always counted (reports give the number, so modes compare from outside).
  const finals = new Set<string>();
  if (opts.collectFinalStates) stats.finalStates = finals;
  const visited = mode === "reduced" ? new Set<string>() : null;
  const frames: Frame[] = [];
  const every = opts.progressEveryMs ?? 1000;
  let lastProgress = t0;
  // One simulation, set up once and restored before each execution (cheaper than rebuilding).
  const maxSteps = opts.maxStepsPerExecution ?? DEFAULT_MAX_STEPS_PER_EXECUTION;
  const sim = newSimulation(scenario, backend, false, visited !== null, maxSteps);
  const initial = opts.rebuild === true ? null : sim.save();
  for (;;) {
    if (opts.maxExecutions !== undefined && stats.executions >= opts.maxExecutions)
      return { verdict: "incomplete", reason: "max-executions", ...finish(stats, now, t0) };
    const t = now();
    if (opts.maxSeconds !== undefined && t - t0 >= opts.maxSeconds * 1000)
      return { verdict: "incomplete", reason: "max-seconds", ...finish(stats, now, t0) };
    if (
      opts.maxMemoryBytes !== undefined &&
      opts.memoryUsed !== undefined &&
      (stats.executions & 63) === 0 &&
      opts.memoryUsed() > opts.maxMemoryBytes
    )
      return { verdict: "incomplete", reason: "max-memory", ...finish(stats, now, t0) };
    if (opts.shouldStop?.() === true)
      return { verdict: "incomplete", reason: "interrupted", ...finish(stats, now, t0) };
    if (opts.onProgress && t - lastProgress >= every) {
      lastProgress = t;
      opts.onProgress({ executions: stats.executions, states: stats.states, elapsedMs: t - t0 });
    }
    stats.executions++;
    const run = initial === null ? newSimulation(scenario, backend, false, visited !== null, maxSteps) : sim;
    if (initial !== null) sim.restore(initial);
    const decider = new DfsDecider(frames, run, visited, stats);
    let result: RunResult | null = null;
    try {
      result = run.execute(decider);
    } catch (e) {
      if (e instanceof StepBudgetExceeded)
        return { verdict: "incomplete", reason: "max-steps", ...finish(stats, now, t0) };
      if (!(e instanceof Cut)) throw e;
    }
    if (result !== null) {
      stats.completeExecutions++;
      if (result.violations.length > 0) {
        const cx = counterexample(scenario, backend, result, opts.minimize !== false);
        return { verdict: "violated", counterexample: cx, ...finish(stats, now, t0) };
      }
      finals.add(run.stateKey(false));
      stats.distinctFinalStates = finals.size;
    }
    // Backtrack: the deepest decision with an untried alternative.
    while (frames.length > 0 && frames[frames.length - 1].idx + 1 >= frames[frames.length - 1].enabled.length)
      frames.pop();
    if (frames.length === 0) return { verdict: "verified", ...finish(stats, now, t0) };
    frames[frames.length - 1].idx++;
  }
}

function finish(stats: CheckStats, now: () => number, t0: number): CheckStats {
  return { ...stats, elapsedMs: now() - t0 };
}

/** Same property, on the same page? */
function sameViolation(a: Violation, b: Violation): boolean {
  return a.property === b.property && a.addr === b.addr && a.rule === b.rule;
}

/**
 * The violating run, shortened: drop user moves one at a time (latest first) while the same
 * violation still happens, then record the exact path of the shortened run.
 */
function counterexample(
  scenario: Scenario,
  backend: BackendModule,
  found: RunResult,
  minimize: boolean,
): Counterexample {
  const target = found.violations[0];
  let path = found.choices.slice();
  // Trailing kernel moves are implied (the replay lets the kernel go first by default).
  const trim = (p: number[]) => {
    while (p.length > 0 && p[p.length - 1] === 0) p.pop();
    return p;
  };
  path = trim(path);
  if (minimize) {
    for (let i = path.length - 1; i >= 0; i--) {
      if (path[i] === 0) continue;
      const candidate = path.slice(0, i).concat(path.slice(i + 1));
      // Only the verdict matters here: no timeline (the final replay below records it).
      const r = replayPath(scenario, backend, candidate, false, false);
      if (r.violations.length > 0 && sameViolation(r.violations[0], target)) path = trim(candidate);
    }
  }
  const run = replayPath(scenario, backend, path, false);
  const v = run.violations[0] ?? target;
  return {
    property: v.property,
    ...(v.rule === undefined ? {} : { rule: v.rule }),
    message: v.message,
    addr: v.addr,
    violation: v,
    choices: run.choices,
    replay: encodeReplay(run.choices),
    timeline: run.timeline,
    run,
  };
}
