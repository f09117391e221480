// `ptesim check --workers N`: N worker threads (a tinypool pool) search the same tree over one
// visited store in a SharedArrayBuffer (64-bit fingerprints with their sleep sets, claimed by
// compare-exchange). A state one thread has stored is cut by every other, whose exploration
// relies on the first to finish it, exactly as a single search relies on its own earlier visit:
// every reachable state is still explored once, by whichever thread reached it first. Each
// thread rotates its exploration order differently (check's `order`), so the threads spread
// over the space instead of trailing each other. The result is one process's: the verdict,
// the distinct states (the store's size) and the union of the final states; a violation found
// by any thread stops the others, and its counterexample is rebuilt and shortened here.
import Tinypool from "tinypool";
import { type CheckMode, type CheckResult, check, counterexample, replayPath } from "../check/explore.js";
import { SharedFingerprintStore } from "../check/store.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";
import type { SearchResult, SearchTask } from "./shard-worker.js";

export interface ParallelCheckOptions {
  workers: number;
  mode: Exclude<CheckMode, "exhaustive">;
  maxSeconds?: number;
  minimize?: boolean;
  /** Room in the shared store, in states (default 4M: 96 MB of address space). */
  maxStates?: number;
  collectFinalStates?: boolean;
  /** Polled a few times a second: true stops every thread (verdict incomplete, "interrupted"). */
  shouldStop?: () => boolean;
  /** The shared store's states so far, a few times a second. */
  onProgress?: (p: { states: number; elapsedMs: number }) => void;
}

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
      ...(o.maxSeconds === undefined ? {} : { maxSeconds: o.maxSeconds }),
      ...(o.minimize === undefined ? {} : { minimize: o.minimize }),
      ...(o.collectFinalStates ? { collectFinalStates: true } : {}),
    });
  const store = new SharedFingerprintStore(Math.ceil(((o.maxStates ?? 4_000_000) * 8) / 7));
  const pool = new Tinypool({
    filename: new URL("./shard-worker.js", import.meta.url).href,
    minThreads: o.workers,
    maxThreads: o.workers,
    // The threads load a file: flags about how the parent was started (--input-type, --eval)
    // would make them fail.
    execArgv: process.execArgv.filter((a) => !a.startsWith("--input-type") && !a.startsWith("--eval")),
  });
  const abort = new AbortController();
  const deadline = o.maxSeconds === undefined ? undefined : t0 + o.maxSeconds * 1000;
  const results: SearchResult[] = [];
  let interrupted = false;
  const watch = setInterval(() => {
    if (o.shouldStop?.() === true && !interrupted) {
      interrupted = true;
      abort.abort();
    }
    o.onProgress?.({ states: store.size, elapsedMs: Date.now() - t0 });
  }, 200);
  try {
    await Promise.all(
      Array.from({ length: o.workers }, async (_, order) => {
        const task: SearchTask = {
          scenario,
          backend: backendSpec,
          mode: o.mode,
          order,
          shared: store.buffer,
          ...(deadline === undefined ? {} : { deadline }),
        };
        try {
          const r = (await pool.run(task, { signal: abort.signal })) as SearchResult;
          results.push(r);
          // A violation decides the check: the other threads need not finish.
          if (r.verdict === "violated") abort.abort();
        } catch (e) {
          if (!abort.signal.aborted) throw e;
        }
      }),
    );
  } finally {
    clearInterval(watch);
    await pool.destroy();
  }
  const finalStates = new Set<string>();
  let executions = 0;
  let completeExecutions = 0;
  let transitions = 0;
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
    collisionProbability: store.collisionProbability(),
    storeBytes: store.bytes(),
    distinctFinalStates: finalStates.size,
    ...(o.collectFinalStates ? { finalStates } : {}),
  };
  const violating = results.find((r) => r.verdict === "violated");
  if (interrupted && violating === undefined)
    return { verdict: "incomplete", reason: "interrupted", ...stats };
  if (violating?.violation !== undefined) {
    const found = replayPath(scenario, backend, violating.violation, false);
    return {
      verdict: "violated",
      counterexample: counterexample(scenario, backend, found, o.minimize !== false),
      ...stats,
    };
  }
  if (results.length < o.workers || results.some((r) => r.verdict === "incomplete"))
    return { verdict: "incomplete", reason: "max-seconds", ...stats };
  return { verdict: "verified", ...stats };
}
