// `ptesim check --workers N`: N worker threads (a tinypool pool) share one visited store in a
// SharedArrayBuffer (64-bit fingerprints with their sleep sets, claimed by compare-exchange).
// This thread first searches the tree down to a frontier of about 8 shards per thread
// (planShards); its stored states seed the shared store and the shards (decision prefixes) go
// to the pool's queue, one task each. A state one task has stored is cut by every other,
// which relies on the first to finish it, exactly as a single search relies on its own earlier
// visit: every reachable state is still explored once, by whichever task reached it first.
// The result is one process's: the verdict, the distinct states (the store's size) and the
// union of the final states; a violation found by any task stops the others, and its
// counterexample is rebuilt and shortened here.
import { setMaxListeners } from "node:events";
import Tinypool from "tinypool";
import {
  type CheckMode,
  type CheckResult,
  check,
  counterexample,
  effectiveSymmetry,
  replayPath,
  type Symmetry,
} from "../check/explore.js";
import { decodeReplay } from "../check/replay.js";
import { mergeShards, planShards } from "../check/shards.js";
import { FingerprintStore, SharedFingerprintStore } from "../check/store.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";
import type { SearchResult, SearchTask } from "./shard-worker.js";

export interface ParallelCheckOptions {
  workers: number;
  mode: Exclude<CheckMode, "exhaustive">;
  /** Value symmetry of the state keys (default "values"). */
  symmetry?: Symmetry;
  maxSeconds?: number;
  /** Bound on executions, shared out among the threads. */
  maxExecutions?: number;
  /** Bound on the threads' heaps together (bytes): INCOMPLETE (max-memory) past it. */
  maxMemoryBytes?: number;
  minimize?: boolean;
  /** Room in the shared store, in states, fixed: past it the check is INCOMPLETE (max-memory). */
  maxStates?: number;
  /** First room of a store that grows (restarting the search) when full; default 3.5M states. */
  initialStates?: number;
  collectFinalStates?: boolean;
  /** Polled every PROGRESS_MS: true stops every thread (INCOMPLETE, interrupted). */
  shouldStop?: () => boolean;
  onProgress?: (p: { executions: number; states: number; elapsedMs: number }) => void;
}

/** How often the main thread reports progress and polls shouldStop. */
const PROGRESS_MS = 250;
/**
 * First room of the shared store: 3.5M states (4M slots, 48 MiB; a slot's page is touched only
 * when a state lands in it). A search that fills it starts again with 4 times the room, while
 * the table fits in a quarter of the memory bound: open addressing cannot grow under
 * concurrent writers, and a table much larger than needed scatters the states over more
 * resident pages.
 */
const FIRST_MAX_STATES = 3.5 * 2 ** 20;

export async function checkParallel(
  scenario: Scenario,
  backend: BackendModule,
  backendSpec: string,
  o: ParallelCheckOptions,
): Promise<CheckResult> {
  const t0 = Date.now();
  if (o.workers <= 1)
    return check(scenario, backend, {
      mode: o.mode,
      now: () => Date.now(),
      ...(o.symmetry === undefined ? {} : { symmetry: o.symmetry }),
      ...(o.maxSeconds === undefined ? {} : { maxSeconds: o.maxSeconds }),
      ...(o.maxExecutions === undefined ? {} : { maxExecutions: o.maxExecutions }),
      ...(o.minimize === undefined ? {} : { minimize: o.minimize }),
      ...(o.collectFinalStates ? { collectFinalStates: true } : {}),
      ...(o.shouldStop === undefined ? {} : { shouldStop: o.shouldStop }),
      ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
    });
  let room = o.maxStates ?? o.initialStates ?? FIRST_MAX_STATES;
  for (;;) {
    const { result, storeFull } = await searchOnce(scenario, backend, backendSpec, o, room, t0);
    const bigger = room * 4;
    // (Slots: room * 8/7 rounded up to a power of two, 12 bytes each.)
    const fits = o.maxMemoryBytes === undefined || bigger * 2 * 12 <= o.maxMemoryBytes / 4;
    if (!storeFull || o.maxStates !== undefined || !fits) return result;
    room = bigger;
  }
}

async function searchOnce(
  scenario: Scenario,
  backend: BackendModule,
  backendSpec: string,
  o: ParallelCheckOptions,
  room: number,
  t0: number,
): Promise<{ result: CheckResult; storeFull: boolean }> {
  // The store is sized for a table at most 7/8 full.
  const store = new SharedFingerprintStore(Math.ceil((room * 8) / 7));
  // The coordinator's own search down to a frontier of several shards per thread; its states
  // seed the shared store (their continuations are the shards), then the threads take the
  // shards from the pool's queue. (Every thread searching the whole tree from the root would
  // not spread: the first to store the root state cuts every other thread there.)
  const plan = planShards(scenario, backend, o.workers * 8, {
    mode: o.mode,
    storage: "fingerprint",
    symmetry: effectiveSymmetry(scenario, o.symmetry),
    now: () => Date.now(),
  });
  const head = plan.head;
  if (head.verdict !== "verified" || plan.shards.length === 0) {
    const merged = mergeShards(scenario, backend, plan, [], { minimize: o.minimize !== false });
    // (The plan's search does not shorten its counterexample: shorten it as check does.)
    if (merged.verdict === "violated" && o.minimize !== false)
      merged.counterexample = counterexample(scenario, backend, merged.counterexample.run, true);
    return { result: merged, storeFull: false };
  }
  if (head.store instanceof FingerprintStore) {
    const e = head.store.entries();
    for (let i = 0; i < e.length; i += 3) store.visitFp(e[i], e[i + 1], e[i + 2]);
  }
  const prefixes = plan.shards.map((t) => decodeReplay(t) as number[]);
  const control = new SharedArrayBuffer(4 * (1 + prefixes.length));
  const ctl = new Int32Array(control);
  const pool = new Tinypool({
    filename: new URL("./shard-worker.js", import.meta.url).href,
    minThreads: o.workers,
    maxThreads: o.workers,
    // The threads load a file: flags about how the parent was started (--input-type, --eval)
    // would make them fail.
    execArgv: process.execArgv.filter((a) => !a.startsWith("--input-type") && !a.startsWith("--eval")),
  });
  const abort = new AbortController();
  // One signal for every shard's task (more than the default 10 listeners).
  setMaxListeners(prefixes.length + 10, abort.signal);
  const deadline = o.maxSeconds === undefined ? undefined : t0 + o.maxSeconds * 1000;
  const results: SearchResult[] = [];
  const executionsSoFar = () => {
    let n = head.executions;
    for (let i = 1; i < ctl.length; i++) n += Atomics.load(ctl, i);
    return n;
  };
  const ticker = setInterval(() => {
    if (o.shouldStop?.() === true) Atomics.store(ctl, 0, 1); // Ctrl-C
    o.onProgress?.({ executions: executionsSoFar(), states: store.size, elapsedMs: Date.now() - t0 });
  }, PROGRESS_MS);
  try {
    await Promise.all(
      prefixes.map(async (prefix, slot) => {
        const task: SearchTask = {
          scenario,
          backend: backendSpec,
          mode: o.mode,
          symmetry: head.symmetry,
          order: 0,
          prefix,
          slot,
          shared: store.buffer,
          control,
          ...(deadline === undefined ? {} : { deadline }),
          ...(o.maxExecutions === undefined
            ? {}
            : { maxExecutions: Math.ceil(o.maxExecutions / prefixes.length) }),
          ...(o.maxMemoryBytes === undefined
            ? {}
            : { maxHeapBytes: Math.floor(o.maxMemoryBytes / o.workers) }),
        };
        try {
          const r = (await pool.run(task, { signal: abort.signal })) as SearchResult;
          results.push(r);
          // A violation decides the check: the other threads need not finish. A bound one
          // thread reached (memory, steps) ends the check too: stop the others (flag 2).
          if (r.verdict === "violated") abort.abort();
          else if (r.verdict === "incomplete") Atomics.compareExchange(ctl, 0, 0, 2);
        } catch (e) {
          if (!abort.signal.aborted) throw e;
        }
      }),
    );
  } finally {
    clearInterval(ticker);
    await pool.destroy();
  }
  const finalStates = new Set<string>(head.finalStates ?? []);
  let executions = head.executions;
  let completeExecutions = head.completeExecutions;
  let transitions = head.transitions;
  for (const r of results) {
    executions += r.executions;
    completeExecutions += r.completeExecutions;
    transitions += r.transitions;
    for (const f of r.finalStates) finalStates.add(f);
  }
  const stats = {
    executions,
    completeExecutions,
    transitions,
    states: store.size,
    elapsedMs: Date.now() - t0,
    storage: "fingerprint" as const,
    symmetry: head.symmetry,
    collisionProbability: store.collisionProbability(),
    storeBytes: store.bytes(),
    distinctFinalStates: finalStates.size,
    ...(o.collectFinalStates ? { finalStates } : {}),
  };
  const storeFull = results.some((r) => r.storeFull === true);
  const violating = results.find((r) => r.verdict === "violated");
  if (violating?.violation !== undefined) {
    const found = replayPath(scenario, backend, violating.violation, false);
    return {
      result: {
        verdict: "violated",
        counterexample: counterexample(scenario, backend, found, o.minimize !== false),
        ...stats,
      },
      storeFull: false,
    };
  }
  const stopped = results.find((r) => r.verdict === "incomplete");
  if (stopped !== undefined || results.length < prefixes.length) {
    // Ctrl-C, else the bound a thread reached first (the others were stopped because of it).
    const reasons = results.map((r) => r.reason);
    const reason =
      Atomics.load(ctl, 0) === 1
        ? "interrupted"
        : ((["max-memory", "max-steps", "max-executions", "max-seconds"] as const).find((x) =>
            reasons.includes(x),
          ) ?? "max-seconds");
    return { result: { verdict: "incomplete", reason, ...stats }, storeFull };
  }
  return { result: { verdict: "verified", ...stats }, storeFull: false };
}
