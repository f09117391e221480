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
//   por         reduced, plus sleep sets over the step dependency relation of ./por.ts: after
//               exploring one agent's step, the later siblings' subtrees skip it while it is
//               independent of what they do (each stored state keeps its sleep set; see por.ts
//               for why that keeps caching sound). Same verdicts and final states, fewer
//               executions.
//
// Symmetry (option `symmetry`, default "values"): the state key renames page-content values by
// order of first appearance, so states that differ only in which write's value sits where are
// one state (exact: src/sim/state-key.ts says why). "none" keys concrete values. A litmus
// scenario always runs with "none" (its conditions compare values with constants). Final
// states are keyed the same way in every mode, so modes compare as before.
//
// Visited states are stored as 64-bit fingerprints by default (./store.ts; the collision
// probability is part of the result) or, with storage "exact", as the keys themselves.
//
// A search can be split into shards: `shardDepth` stops every path at that many decisions and
// reports its prefix instead (onShard), and `prefix` explores only the subtree below one such
// prefix. The shards' searches together cover the whole tree (their sleep sets are recomputed
// from the prefix, their stores are their own), and the union of their stored states is the
// single search's.
import type { BackendModule } from "../kernel/pvops.js";
import { KeyBuffer } from "../sim/key-buffer.js";
import type { PropertyName, Violation } from "../sim/oracle.js";
import type { Scenario } from "../sim/scenario.js";
import {
  type Decider,
  type RunResult,
  Simulation,
  StepBudgetExceeded,
  type TraceEvent,
} from "../sim/simulation.js";
import { type Footprints, footprintOf, independent, newFootprints } from "./por.js";
import { encodeReplay, ReplayDecider } from "./replay.js";
import { newStore, type StateStorage, type VisitedStore } from "./store.js";

export type CheckMode = "reduced" | "exhaustive" | "por";
export const CHECK_MODES: readonly CheckMode[] = ["reduced", "por", "exhaustive"];

/** What the state key treats as interchangeable: page-content values, or nothing. */
export type Symmetry = "values" | "none";
export const SYMMETRIES: readonly Symmetry[] = ["values", "none"];

/** The symmetry a check of `scenario` uses when asked for `wanted`: none in a litmus scenario. */
export function effectiveSymmetry(scenario: Scenario, wanted: Symmetry | undefined): Symmetry {
  return scenario.litmus !== undefined ? "none" : (wanted ?? "values");
}

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
  /** How visited states are stored (reduced and por modes; default fingerprint). */
  storage?: StateStorage;
  /** Value symmetry in the state key (default "values"; always "none" in a litmus scenario). */
  symmetry?: Symmetry;
  /** Explore only the subtree below this decision prefix (a shard). */
  prefix?: readonly number[];
  /** Cut every path at this many decisions and report its prefix to onShard instead. */
  shardDepth?: number;
  onShard?: (prefix: number[]) => void;
  /** Keep the visited store in the result (to merge shards' states). */
  keepStore?: boolean;
  /** Use this store for visited states (e.g. one shared by worker threads) instead of a new one. */
  store?: VisitedStore;
  /**
   * Exploration order: 0 (default) tries agents in ascending order; another value rotates the
   * order at each decision by an amount derived from it and the depth. Threads sharing a store
   * use different orders so that they spread over the state space instead of queueing behind
   * each other.
   */
  order?: number;
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
  /**
   * Of those, the decisions re-taken to return to a node of the search stack (each execution
   * restarts from the initial state and follows its prefix again). Single searches only.
   */
  replayedDecisions?: number;
  /**
   * Milliseconds (by `now`) spent returning to the stack's nodes: restoring the initial state
   * and re-executing each execution's prefix up to its first new decision. Single searches only.
   */
  replayMs?: number;
  elapsedMs: number;
  /** Final-state keys (their texts: KeyBuffer.text), when collected. */
  finalStates?: Set<string>;
  /** Distinct final states of the executions that ran to the end. */
  distinctFinalStates: number;
  /** How states were stored, and the chance that a fingerprint collision hid one (0: exact). */
  storage: StateStorage;
  /** The symmetry the state keys used (effectiveSymmetry). */
  symmetry: Symmetry;
  collisionProbability: number;
  /** Bytes held by the visited-state store. */
  storeBytes: number;
  /** The store itself, with keepStore. */
  store?: VisitedStore;
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
      reason:
        | "max-executions"
        | "max-seconds"
        | "max-memory"
        | "max-steps"
        | "interrupted"
        | "missing-shards";
    } & CheckStats);

/** Thrown inside an execution to cut it at an already visited state. */
class Cut extends Error {}
const CUT = new Cut("cut");

/** A prefix names a move that is not possible: it belongs to another scenario or backend. */
export class PrefixMismatch extends Error {
  constructor(
    readonly decision: number,
    readonly wanted: number,
    readonly enabled: readonly number[],
  ) {
    super(
      `shard prefix diverged at decision ${decision + 1}: it chooses agent ${wanted}, but only ${enabled.join(", ")} can move (wrong scenario or backend?)`,
    );
    this.name = "PrefixMismatch";
  }
}

interface Frame {
  enabled: number[];
  /** The agents to explore here, in order (enabled minus the sleep set, or what a revisit adds). */
  todo: number[];
  idx: number;
  /** Sleep set at this node (bit per agent), POR only. */
  sleep: number;
  /** Footprints of the enabled agents' next steps, POR only. */
  fps: Footprints | null;
  /** Part of a shard's prefix: never backtracked into. */
  fixed: boolean;
}

interface SearchConfig {
  por: boolean;
  /** Visited states (reduced, por); null: exhaustive. */
  visited: VisitedStore | null;
  prefix: readonly number[];
  /** Shard generation: depth, the frontier's own store, and where prefixes go. */
  shardDepth: number;
  frontier: VisitedStore | null;
  onShard: ((prefix: number[]) => void) | null;
  order: number;
  /** The state key being built (one buffer, reused for every key). */
  key: KeyBuffer;
  /** POR: the footprints of the stack's frame at each depth, reused by the next frame there. */
  footprints: Footprints[];
}

/** Follows the current DFS stack, then extends it with first choices, cutting at visited states. */
class DfsDecider implements Decider {
  pos = 0;
  /** Decisions re-taken along the stack (counted here, summed into the stats by check). */
  replayed = 0;
  /** When the first new decision was reached (by `now`), or -1. */
  reachedAt = -1;
  constructor(
    private readonly frames: Frame[],
    private readonly sim: Simulation,
    private readonly cfg: SearchConfig,
    private readonly stats: CheckStats,
    private readonly now: () => number,
  ) {
    sim.forced = 0;
  }
  choose(enabled: readonly number[]): number {
    this.stats.transitions++;
    const frames = this.frames;
    const sim = this.sim;
    if (this.pos < frames.length) {
      this.replayed++;
      const f = frames[this.pos++];
      sim.forced = 0;
      return f.todo[f.idx];
    }
    if (this.reachedAt < 0) this.reachedAt = this.now();
    // A violation already happened on this path: finish the run so it is reported, never cut.
    if (sim.oracle.violations.length > 0) return enabled[0];
    const cfg = this.cfg;
    const depth = frames.length;
    let sleep = 0;
    let fps: Footprints | null = null;
    if (cfg.por) {
      if (depth > 0) sleep = inheritedSleep(frames[depth - 1], enabled, sim.forced);
      // (A frame at this depth left the stack before this one: its footprints are free again.)
      fps = cfg.footprints[depth];
      if (fps === undefined || fps.kind.length < enabled.length)
        cfg.footprints[depth] = fps = newFootprints(enabled.length);
      for (let k = 0; k < enabled.length; k++) footprintOf(sim, enabled[k], fps, k);
    }
    sim.forced = 0;
    const inPrefix = depth < cfg.prefix.length;
    let todo: number[] | null = null;
    if (depth === cfg.shardDepth) {
      // Shard generation: the frontier. A state already sent with a sleep set contained in this
      // one is covered by that shard.
      if (cfg.frontier !== null) {
        sim.stateKeyInto(cfg.key, true);
        const prev = cfg.frontier.visit(cfg.key, sleep);
        if (prev !== -1 && (prev & ~sleep) === 0) throw CUT;
      }
      cfg.onShard?.(frames.map((f) => f.todo[f.idx]));
      throw CUT;
    }
    if (!inPrefix && cfg.visited !== null) {
      sim.stateKeyInto(cfg.key, true);
      // (A revisit leaves the intersection of both sleep sets stored: what is explored now.)
      const prev = cfg.visited.visit(cfg.key, sleep);
      if (prev !== -1 && cfg.shardDepth < 0) {
        // Seen before. Without sleep sets, or if that visit slept on no more than this one
        // does, everything from here is covered; else explore what that visit skipped.
        const extra = cfg.por ? prev & ~sleep : 0;
        if (extra === 0) throw CUT;
        todo = [];
        for (let k = 0; k < enabled.length; k++) if ((extra & (2 ** enabled[k])) !== 0) todo.push(enabled[k]);
      } else if (prev === -1) this.stats.states++;
    } else if (!inPrefix) this.stats.states++;
    if (todo === null) todo = sleep === 0 ? enabled.slice() : enabled.filter((a) => (sleep & (2 ** a)) === 0);
    if (cfg.order !== 0 && todo.length > 1) {
      const r = (Math.imul(cfg.order, 0x9e3779b1) ^ Math.imul(depth + 1, 0x85ebca6b)) >>> 0;
      const k = r % todo.length;
      if (k !== 0) todo = todo.slice(k).concat(todo.slice(0, k));
    }
    let idx = 0;
    if (inPrefix) {
      const want = cfg.prefix[depth];
      idx = todo.indexOf(want);
      if (idx < 0) {
        if (!enabled.includes(want)) throw new PrefixMismatch(depth, want, enabled);
        throw CUT; // asleep here: this subtree is covered by an earlier sibling's
      }
    }
    // Every enabled agent asleep: every continuation is covered elsewhere.
    if (todo.length === 0) throw CUT;
    frames.push({ enabled: enabled.slice(), todo, idx, sleep, fps, fixed: inPrefix });
    this.pos++;
    return todo[idx];
  }
}

/** Default per-execution step budget of the checker. */
export const DEFAULT_MAX_STEPS_PER_EXECUTION = 1_000_000;
/**
 * The sleep set of the node reached from `parent` by its current choice t: the agents asleep at
 * the parent or explored there before t, whose next step is independent of t's. If an agent
 * moved without a decision on the way (it was the only one able to), all bets are off: none.
 */
function inheritedSleep(parent: Frame, enabled: readonly number[], forced: number): number {
  if (forced !== 0 || parent.fps === null) return 0;
  const t = parent.todo[parent.idx];
  let cand = parent.sleep;
  for (let k = 0; k < parent.idx; k++) cand |= 2 ** parent.todo[k];
  if (cand === 0) return 0;
  const en = parent.enabled;
  const ti = en.indexOf(t);
  let s = 0;
  for (let k = 0; k < en.length; k++) {
    const a = en[k];
    if ((cand & (2 ** a)) !== 0 && independent(a, parent.fps, k, t, parent.fps, ti) && enabled.includes(a))
      s |= 2 ** a;
  }
  return s;
}

function newSimulation(
  scenario: Scenario,
  backend: BackendModule,
  trace: boolean,
  record: boolean,
  maxSteps = DEFAULT_MAX_STEPS_PER_EXECUTION,
  valueSymmetry = false,
): Simulation {
  const sim = new Simulation(scenario, backend, {
    trace,
    recordKernelReads: record,
    maxSteps,
    valueSymmetry,
  });
  sim.populate();
  sim.setPrograms(noRng);
  return sim;
}

/** The random source of a checker's simulation: none (its programs are explicit). */
export const noRng = {
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

/** Sleep sets are 31-bit masks of agent ids: POR handles up to 30 user CPUs. */
export const POR_MAX_CPUS = 31;

export function check(scenario: Scenario, backend: BackendModule, opts: CheckOptions = {}): CheckResult {
  if (scenario.programs === undefined)
    throw new Error(
      "the checker needs explicit `programs` (one list of accesses per user CPU) in the scenario",
    );
  const mode = opts.mode ?? "reduced";
  if (mode === "por" && scenario.cpus > POR_MAX_CPUS)
    throw new RangeError(
      `--mode por handles at most ${POR_MAX_CPUS} CPUs (the scenario has ${scenario.cpus})`,
    );
  const now = opts.now ?? (() => 0);
  const t0 = now();
  const storage = opts.storage ?? "fingerprint";
  const symmetry = effectiveSymmetry(scenario, opts.symmetry);
  const valueSymmetry = symmetry === "values";
  const visited = mode === "exhaustive" ? null : (opts.store ?? newStore(storage));
  const stats: CheckStats = {
    executions: 0,
    completeExecutions: 0,
    states: 0,
    transitions: 0,
    replayedDecisions: 0,
    replayMs: 0,
    elapsedMs: 0,
    distinctFinalStates: 0,
    storage,
    symmetry,
    collisionProbability: 0,
    storeBytes: 0,
  };
  // Final states are always counted (reports give the number, so modes compare from outside).
  const finals = new Set<string>();
  if (opts.collectFinalStates) stats.finalStates = finals;
  const shardDepth = opts.shardDepth ?? -1;
  const cfg: SearchConfig = {
    por: mode === "por",
    visited,
    prefix: opts.prefix ?? [],
    shardDepth,
    frontier: shardDepth >= 0 && visited !== null ? newStore(storage) : null,
    onShard: opts.onShard ?? null,
    order: opts.order ?? 0,
    key: new KeyBuffer(),
    footprints: [],
  };
  const frames: Frame[] = [];
  const every = opts.progressEveryMs ?? 1000;
  let lastProgress = t0;
  const done = (): CheckStats => {
    const r = finish(stats, now, t0);
    if (visited !== null) {
      r.collisionProbability = visited.collisionProbability();
      r.storeBytes = visited.bytes();
      if (opts.keepStore) r.store = visited;
    }
    return r;
  };
  // One simulation, set up once and restored before each execution (cheaper than rebuilding).
  const maxSteps = opts.maxStepsPerExecution ?? DEFAULT_MAX_STEPS_PER_EXECUTION;
  const sim = newSimulation(scenario, backend, false, visited !== null, maxSteps, valueSymmetry);
  const initial = opts.rebuild === true ? null : sim.save();
  for (;;) {
    if (opts.maxExecutions !== undefined && stats.executions >= opts.maxExecutions)
      return { verdict: "incomplete", reason: "max-executions", ...done() };
    const t = now();
    if (opts.maxSeconds !== undefined && t - t0 >= opts.maxSeconds * 1000)
      return { verdict: "incomplete", reason: "max-seconds", ...done() };
    if (
      opts.maxMemoryBytes !== undefined &&
      opts.memoryUsed !== undefined &&
      (stats.executions & 63) === 0 &&
      opts.memoryUsed() > opts.maxMemoryBytes
    )
      return { verdict: "incomplete", reason: "max-memory", ...done() };
    if (opts.shouldStop?.() === true) return { verdict: "incomplete", reason: "interrupted", ...done() };
    if (opts.onProgress && t - lastProgress >= every) {
      lastProgress = t;
      opts.onProgress({ executions: stats.executions, states: stats.states, elapsedMs: t - t0 });
    }
    stats.executions++;
    const run =
      initial === null
        ? newSimulation(scenario, backend, false, visited !== null, maxSteps, valueSymmetry)
        : sim;
    if (initial !== null) sim.restore(initial);
    const decider = new DfsDecider(frames, run, cfg, stats, now);
    let result: RunResult | null = null;
    try {
      result = run.execute(decider);
    } catch (e) {
      if (e instanceof StepBudgetExceeded) return { verdict: "incomplete", reason: "max-steps", ...done() };
      if (!(e instanceof Cut)) throw e;
    } finally {
      stats.replayedDecisions = (stats.replayedDecisions ?? 0) + decider.replayed;
      stats.replayMs = (stats.replayMs ?? 0) + (decider.reachedAt < 0 ? now() : decider.reachedAt) - t;
    }
    if (result !== null) {
      stats.completeExecutions++;
      if (result.violations.length > 0) {
        const cx = counterexample(scenario, backend, result, opts.minimize !== false);
        return { verdict: "violated", counterexample: cx, ...done() };
      }
      run.stateKeyInto(cfg.key, false);
      finals.add(cfg.key.text());
      stats.distinctFinalStates = finals.size;
    }
    // Backtrack: the deepest decision with an untried alternative.
    while (frames.length > 0) {
      const top = frames[frames.length - 1];
      if (!top.fixed && top.idx + 1 < top.todo.length) break;
      if (top.fixed) {
        frames.length = 0;
        break;
      }
      frames.pop();
    }
    if (frames.length === 0) return { verdict: "verified", ...done() };
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
export function counterexample(
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
