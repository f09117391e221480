// Worker-side tasks: a whole search sharing the visited store with the other threads (./pool.ts),
// or one shard (../check/shards.ts) for `ptesim worker` taking shards from a job queue.

import { type CheckMode, check } from "../check/explore.js";
import { exploreShard, type ShardResult } from "../check/shards.js";
import { SharedFingerprintStore, type StateStorage } from "../check/store.js";
import { resolveBackend } from "../cli/commands.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";

export interface ShardTask {
  scenario: Scenario;
  /** A built-in backend's name or an absolute module path (resolved again in the worker). */
  backend: string;
  shard: string;
  mode: CheckMode;
  storage: StateStorage;
  /** Wall-clock deadline (Date.now() milliseconds), if bounded. */
  deadline?: number;
}

/** One thread's part of a parallel search: the whole tree, in its own order, on the shared store. */
export interface SearchTask {
  scenario: Scenario;
  backend: string;
  mode: CheckMode;
  order: number;
  shared: SharedArrayBuffer;
  deadline?: number;
}

/** What a search thread sends back (plain data). */
export interface SearchResult {
  verdict: "verified" | "violated" | "incomplete";
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

export async function runShardTask(t: ShardTask): Promise<ShardResult> {
  const backend = await backendFor(t.backend);
  return exploreShard(t.scenario, backend, t.shard, {
    mode: t.mode,
    storage: t.storage,
    now: () => Date.now(),
    ...bound(t.deadline),
  });
}

export async function runSearchTask(t: SearchTask): Promise<SearchResult> {
  const backend = await backendFor(t.backend);
  const r = check(t.scenario, backend, {
    mode: t.mode,
    store: new SharedFingerprintStore(t.shared),
    order: t.order,
    collectFinalStates: true,
    minimize: false,
    now: () => Date.now(),
    ...bound(t.deadline),
  });
  return {
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
