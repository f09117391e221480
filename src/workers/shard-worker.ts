// Worker-side tasks: a whole search sharing the visited store with the other threads (./pool.ts),
// or one shard (../check/shards.ts) for `ptesim worker` taking shards from a job queue.

import { getHeapStatistics } from "node:v8";
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import { type CheckMode, type CheckResult, check, type Symmetry } from "../check/explore.js";
import { decodeReplay } from "../check/replay.js";
import { type AddedStates, exploreShard, type ShardResult, ShardStore } from "../check/shards.js";
import { SharedFingerprintStore, type StateStorage, StoreFull } from "../check/store.js";
import { resolveBackend, stampOf } from "../cli/commands.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";

export interface ShardTask {
  scenario: Scenario;
  /** A built-in backend's name or an absolute module path (resolved again in the worker). */
  backend: string;
  shard: string;
  mode: CheckMode;
  storage: StateStorage;
  /** Value symmetry of the state keys (absent: the default, "values"). */
  symmetry?: Symmetry;
  /** Wall-clock deadline (Date.now() milliseconds), if bounded. */
  deadline?: number;
  /**
   * The check this shard belongs to (e.g. the coordinator's run id): the thread keeps one
   * visited store per check across the shards it explores (ShardStore). Absent: a store of its own.
   */
  reuse?: string;
  /** With reuse: states of shards of the same check completed elsewhere, imported first. */
  imports?: ShardImport[];
  /**
   * With reuse and fingerprints: live exchange with the worker's main thread. While the shard
   * runs, every LIVE_MS between executions, the thread imports the LiveStates received (other
   * searches' states, still being explored) and posts the LiveStates it added since.
   */
  port?: MessagePort;
}

/** States a running search stored, with their sleep sets (fingerprints as (hi, lo) pairs). */
export interface LiveStates {
  fingerprints: Uint32Array;
  sleepSets: Uint32Array;
}

/** How often a running shard exchanges live states. */
export const LIVE_MS = 100;

/** A completed shard's additions (from its result), as another worker imports them. */
export interface ShardImport extends AddedStates {
  shard: string;
}

/** One thread's part of a parallel search: the whole tree, in its own order, on the shared store. */
export interface SearchTask {
  scenario: Scenario;
  backend: string;
  mode: CheckMode;
  symmetry?: Symmetry;
  order: number;
  /** Explore only the subtree below this decision prefix (one of the plan's shards). */
  prefix?: number[];
  /** Its executions counter in `control` (default: order). */
  slot?: number;
  shared: SharedArrayBuffer;
  /** Int32 words: [0] set to 1 to stop every thread (Ctrl-C); [1 + slot] this task's executions. */
  control: SharedArrayBuffer;
  deadline?: number;
  maxExecutions?: number;
  /** Bound on this thread's heap (bytes): past it the thread stops, INCOMPLETE (max-memory). */
  maxHeapBytes?: number;
}

/** What a search thread sends back (plain data). */
export interface SearchResult {
  verdict: "verified" | "violated" | "incomplete";
  reason?: "max-executions" | "max-seconds" | "max-memory" | "max-steps" | "interrupted";
  /** The shared store ran out of room (the pool retries with a larger one). */
  storeFull?: true;
  executions: number;
  completeExecutions: number;
  transitions: number;
  finalStates: string[];
  violation?: number[];
}

const backends = new Map<string, Promise<BackendModule>>();

export function backendFor(spec: string): Promise<BackendModule> {
  let b = backends.get(spec);
  if (b === undefined) {
    b = resolveBackend(spec);
    backends.set(spec, b);
  }
  return b;
}

const bound = (deadline: number | undefined) =>
  deadline === undefined ? {} : { maxSeconds: Math.max(0, (deadline - Date.now()) / 1000) };

/**
 * The stores this thread keeps, by check, most recent last: a worker serves one coordinator's
 * check at a time, maybe two or three; older checks' stores are dropped.
 */
const shardStores = new Map<string, ShardStore>();
const KEEP_CHECKS = 2;

function shardStoreFor(t: ShardTask & { reuse: string }): ShardStore {
  const id = `${t.reuse}/${t.mode}/${t.storage}/${t.symmetry ?? "values"}`;
  let st = shardStores.get(id);
  if (st !== undefined) shardStores.delete(id);
  else st = new ShardStore(t.storage);
  shardStores.set(id, st);
  for (const k of shardStores.keys()) if (shardStores.size > KEEP_CHECKS) shardStores.delete(k);
  return st;
}

export async function runShardTask(t: ShardTask): Promise<ShardResult> {
  const backend = await backendFor(t.backend);
  // A stamped token must belong to this scenario and backend (a job from a coordinator whose
  // backend module differs from this machine's is refused, not explored).
  if (t.shard.startsWith("r2.")) {
    const p = decodeReplay(t.shard, stampOf(t.scenario, backend));
    if (typeof p === "string") throw new Error(`shard ${t.shard}: ${p}`);
  }
  let reuse: ShardStore | undefined;
  let exchange: (() => void) | undefined;
  if (t.reuse !== undefined) {
    const st = shardStoreFor({ ...t, reuse: t.reuse });
    reuse = st;
    for (const imp of t.imports ?? []) if (!st.holds(imp.shard)) st.import(imp.shard, imp);
    const port = t.port;
    if (port !== undefined && t.storage === "fingerprint") {
      exchange = () => {
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
          const live = m.message as LiveStates;
          st.importLive(live.fingerprints, live.sleepSets);
        }
        const mine = st.takeNew();
        if (mine !== null)
          port.postMessage(mine, [
            mine.fingerprints.buffer as ArrayBuffer,
            mine.sleepSets.buffer as ArrayBuffer,
          ]);
      };
      exchange();
    }
  }
  try {
    return exploreShard(t.scenario, backend, t.shard, {
      mode: t.mode,
      storage: t.storage,
      ...(t.symmetry === undefined ? {} : { symmetry: t.symmetry }),
      now: () => Date.now(),
      ...bound(t.deadline),
      ...(reuse === undefined ? {} : { reuse }),
      ...(exchange === undefined ? {} : { onProgress: exchange, progressEveryMs: LIVE_MS }),
    });
  } finally {
    t.port?.close();
  }
}

export async function runSearchTask(t: SearchTask): Promise<SearchResult> {
  const backend = await backendFor(t.backend);
  const control = new Int32Array(t.control);
  const slot = 1 + (t.slot ?? t.order);
  let r: CheckResult;
  try {
    r = check(t.scenario, backend, {
      mode: t.mode,
      ...(t.symmetry === undefined ? {} : { symmetry: t.symmetry }),
      store: new SharedFingerprintStore(t.shared),
      order: t.order,
      ...(t.prefix === undefined ? {} : { prefix: t.prefix }),
      collectFinalStates: true,
      minimize: false,
      now: () => Date.now(),
      shouldStop: () => Atomics.load(control, 0) !== 0,
      onProgress: (p) => Atomics.store(control, slot, p.executions),
      progressEveryMs: 250,
      ...bound(t.deadline),
      ...(t.maxExecutions === undefined ? {} : { maxExecutions: t.maxExecutions }),
      ...(t.maxHeapBytes === undefined
        ? {}
        : { maxMemoryBytes: t.maxHeapBytes, memoryUsed: () => getHeapStatistics().used_heap_size }),
    });
  } catch (e) {
    // The shared store has no room left: as a memory bound reached, not a crash.
    if (e instanceof StoreFull)
      return {
        verdict: "incomplete",
        reason: "max-memory",
        storeFull: true,
        executions: 0,
        completeExecutions: 0,
        transitions: 0,
        finalStates: [],
      };
    throw e;
  }
  Atomics.store(control, slot, r.executions);
  return {
    ...(r.verdict === "incomplete" ? { reason: r.reason as SearchResult["reason"] } : {}),
    verdict: r.verdict,
    executions: r.executions,
    completeExecutions: r.completeExecutions,
    transitions: r.transitions,
    finalStates: [...(r.finalStates ?? [])],
    ...(r.verdict === "violated" ? { violation: r.counterexample.choices } : {}),
  };
}

export default function run(t: SearchTask | ShardTask): Promise<SearchResult | ShardResult> {
  return "shard" in t ? runShardTask(t) : runSearchTask(t);
}
