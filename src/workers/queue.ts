// Shards on a job queue (BullMQ on Redis): `ptesim check --queue redis://HOST` is the
// coordinator, `ptesim worker --queue redis://HOST` a worker, on this machine or any other that
// reaches the same Redis.
//
// The coordinator plans the shards (../check/shards.ts: its own search above the frontier),
// adds one job per shard (the scenario, the backend spec, the stamped shard token, mode,
// storage and the deadline) and polls the jobs until every one has a result, a violation is
// reported, the deadline passes or Ctrl-C; then it removes its jobs and merges the results
// exactly as a merge of shard files does (mergeShards), so the verdict and the state count
// equal one process's. A violation's counterexample is rebuilt and shortened by the
// coordinator, and its token replays with `ptesim run --replay`.
//
// A worker explores each job's shard in a worker thread (a tinypool pool; the job queue's lock
// renewals need the event loop free while a shard runs for minutes). A job whose worker dies
// is "stalled": BullMQ gives it to another worker. Jobs are plain JSON both ways.
//
// Shards' subtrees overlap (the same state is reached below many prefixes), so shards with a
// store each repeat one another's work (3-6x one process's executions). A worker thread
// therefore keeps one visited store per check across the shards it explores (ShardStore in
// ../check/shards.ts), and every worker publishes the states of each shard it completed,
// with their sleep sets, on a Redis list of the check (doneKey); before a shard, a worker reads
// what was added to the list since it last looked (one LRANGE) and its thread imports it. A
// shard then cuts at states that any completed shard of the check explored, as one search
// relies on its own earlier visits; only what is explored concurrently is repeated. Each
// shard reports only the states it added, so the coordinator's union counts one process's.
//
// Why BullMQ: an established Redis job queue with atomic job hand-off, stalled-job recovery and
// job results stored in Redis; it needs no extra service beyond Debian's redis-server.
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { type Job, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import Tinypool from "tinypool";
import type { CheckMode, CheckResult, Symmetry } from "../check/explore.js";
import { fromBase64, mergeShards, type ShardPlan, type ShardResult, toBase64 } from "../check/shards.js";
import type { StateStorage } from "../check/store.js";
import { PtesimError } from "../cli/errors.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";
import { LIVE_MS, type LiveStates, type ShardImport, type ShardTask } from "./shard-worker.js";

/** How often the coordinator looks at its jobs, and a worker at Ctrl-C and its idle time. */
const POLL_MS = 200;

/** A job's data: one shard of one coordinator's run. */
export interface ShardJob extends Omit<ShardTask, "port"> {
  /** The coordinator's run id (job ids are `${run}-${index}`). */
  run: string;
  /**
   * Share states while shards run (liveKey), not only completed shards' (doneKey). The
   * coordinator trusts such a run's VERIFIED only if every job ran once (see checkOnQueue).
   */
  live?: boolean;
}

/** Parse --queue: redis://[user:password@]host[:port][/db] or rediss://... */
export function parseQueueUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PtesimError("usage", `--queue: "${url}" is not a URL; expected redis://HOST[:PORT]`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw new PtesimError("usage", `--queue: expected a redis:// or rediss:// URL, got "${url}"`);
  if (u.hostname === "") throw new PtesimError("usage", `--queue: "${url}" names no host`);
  return url;
}

/** Fail fast, with the reason, when Redis cannot be reached (ioredis would retry forever). */
export async function pingQueue(url: string, timeoutMs = 5000): Promise<void> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // Errors are reported by the rejected connect() below; without a listener ioredis logs them.
  r.on("error", () => {});
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    throw new PtesimError("queue", `cannot reach the job queue at ${url}: ${(e as Error).message}`);
  } finally {
    r.disconnect();
  }
}

const connectionOf = (url: string) => ({ url, maxRetriesPerRequest: null });

/** The Redis list of a check's completed shards' states (ShardImport as JSON, one per shard). */
export const doneKey = (queueName: string, run: string) => `ptesim:${queueName}:${run}:done`;
/** The Redis list of the states running shards stored (LiveItem as JSON, many per shard). */
export const liveKey = (queueName: string, run: string) => `ptesim:${queueName}:${run}:live`;
/** One publication of a running shard: its job, and LiveStates as base64. */
interface LiveItem {
  job: string;
  fingerprints: string;
  sleepSets: string;
}
/**
 * A counter of the check's jobs that ended (any verdict, or an error): the coordinator reads
 * it at each poll (one GET) and reads its pending jobs only while it exceeds the results it
 * has, or every FULL_POLL_MS (a job BullMQ failed by itself, e.g. stalled too often, moves no
 * counter).
 */
export const endedKey = (queueName: string, run: string) => `ptesim:${queueName}:${run}:ended`;
const FULL_POLL_MS = 2000;
/** The lists outlive a coordinator that died by an hour, as the jobs' results do. */
const DONE_TTL_S = 3600;

export interface QueueCheckOptions {
  url: string;
  queueName: string;
  /** The plan, made by the caller (it may already decide the check). */
  plan: ShardPlan;
  /** Stamped tokens of plan.shards, in the same order (what the jobs carry). */
  tokens: string[];
  backendSpec: string;
  mode: CheckMode;
  storage: StateStorage;
  /** Value symmetry of the plan's keys: every shard is explored with the same. */
  symmetry: Symmetry;
  maxSeconds?: number;
  minimize?: boolean;
  shouldStop?: () => boolean;
  onProgress?: (done: number, total: number, states: number) => void;
  /** Share states while shards run (default: with fingerprint storage). */
  live?: boolean;
}

export interface QueueCheckOutcome {
  result: CheckResult;
  shards: number;
  /** Worker names that returned results (a worker is named by its host and process id). */
  workers: string[];
  /**
   * Jobs of a live-sharing run that were started more than once (a worker died or stalled):
   * its VERIFIED could rest on states nobody finished, so the check was run again without
   * live sharing (the result is that second run's).
   */
  rerunAfterRetries?: number;
}

/** The coordinator: shards as jobs, results merged. */
export async function checkOnQueue(
  scenario: Scenario,
  backend: BackendModule,
  o: QueueCheckOptions,
): Promise<QueueCheckOutcome> {
  const t0 = Date.now();
  const plan = o.plan;
  if (plan.head.verdict !== "verified" || plan.shards.length === 0)
    return {
      result: mergeShards(scenario, backend, plan, [], { minimize: o.minimize !== false }),
      shards: 0,
      workers: [],
    };
  await pingQueue(o.url);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
  const deadline = o.maxSeconds === undefined ? undefined : t0 + o.maxSeconds * 1000;
  const queue = new Queue(o.queueName, { connection: connectionOf(o.url) });
  queue.on("error", () => {});
  const redis = new Redis(o.url, { maxRetriesPerRequest: null });
  redis.on("error", () => {});
  const results = new Map<string, ShardResult>();
  const workers = new Set<string>();
  let stop: "interrupted" | "max-seconds" | null = null;
  const ids = o.tokens.map((_, i) => `${run}-${i}`);
  const live = o.live ?? o.storage === "fingerprint";
  // Jobs that were started more than once: their first attempt's live states were never finished.
  let retried = 0;
  try {
    await queue.addBulk(
      o.tokens.map((shard, i) => {
        const data: ShardJob = {
          run,
          scenario,
          backend: o.backendSpec,
          shard,
          mode: o.mode,
          storage: o.storage,
          symmetry: o.symmetry,
          ...(deadline === undefined ? {} : { deadline }),
          ...(live ? { live } : {}),
        };
        // Results stay in Redis until read; a job failing (e.g. the backend module missing on
        // that worker's machine) is not retried: the coordinator reports it.
        // A job still running when the coordinator stopped (violation, Ctrl-C) is deleted by
        // Redis an hour after it ends.
        return {
          name: "shard",
          data,
          opts: { jobId: ids[i], attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
        };
      }),
    );
    let states = 0;
    let lastFull = 0;
    for (;;) {
      // Jobs that ended but whose results were not collected yet (BullMQ stores a result just
      // after the worker's processor returns, so this stays above zero until it is read).
      const ended = Number((await redis.get(endedKey(o.queueName, run))) ?? 0);
      if (ended <= results.size && Date.now() - lastFull < FULL_POLL_MS && o.shouldStop?.() !== true) {
        if (deadline !== undefined && Date.now() > deadline + 5000) {
          stop = "max-seconds";
          break;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
      lastFull = Date.now();
      const pending = ids.filter((id) => !results.has(id));
      const jobs = await Promise.all(pending.map((id) => queue.getJob(id)));
      for (let k = 0; k < jobs.length; k++) {
        const job = jobs[k] as Job | undefined;
        if (job === undefined) continue;
        if (job.failedReason)
          throw new PtesimError(
            "queue",
            `a worker failed on shard ${k + 1} of ${ids.length} (job ${job.id}): ${job.failedReason}`,
          );
        if (job.finishedOn !== undefined && job.returnvalue !== null && job.returnvalue !== undefined) {
          const r = job.returnvalue as ShardResult & { worker?: string };
          results.set(pending[k], r);
          if (job.attemptsStarted > 1 || job.stalledCounter > 0) retried++;
          states += r.states;
          if (r.worker !== undefined) workers.add(r.worker);
        }
      }
      o.onProgress?.(results.size, ids.length, states);
      if (results.size === ids.length) break;
      if ([...results.values()].some((r) => r.verdict === "violated")) break;
      if (o.shouldStop?.() === true) {
        stop = "interrupted";
        break;
      }
      // Workers stop their shards at the deadline; allow them a moment to send what they have.
      if (deadline !== undefined && Date.now() > deadline + 5000) {
        stop = "max-seconds";
        break;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    // Nobody needs this run's jobs any more: waiting ones are dropped (an active one, locked by
    // its worker, finishes and expires with the queue's defaults), and so is the list of its
    // completed shards' states.
    await Promise.all(ids.map((id) => queue.remove(id).catch(() => 0)));
    await redis
      .del(doneKey(o.queueName, run), liveKey(o.queueName, run), endedKey(o.queueName, run))
      .catch(() => 0);
    redis.disconnect();
    await queue.close();
  }
  const merged = mergeShards(scenario, backend, plan, [...results.values()], {
    minimize: o.minimize !== false,
    elapsedMs: Date.now() - t0,
  });
  const result: CheckResult =
    merged.verdict === "incomplete" && stop !== null ? { ...merged, reason: stop } : merged;
  if (live && retried > 0 && result.verdict === "verified") {
    // A shard explored again (its first worker died or stalled) may have cut at live states of
    // that first attempt, which nobody finished: only completed shards' states can be trusted.
    const left = o.maxSeconds === undefined ? undefined : o.maxSeconds - (Date.now() - t0) / 1000;
    const again = await checkOnQueue(scenario, backend, {
      ...o,
      live: false,
      ...(left === undefined ? {} : { maxSeconds: Math.max(0, left) }),
    });
    // (The time reported is both runs'.)
    return { ...again, result: { ...again.result, elapsedMs: Date.now() - t0 }, rerunAfterRetries: retried };
  }
  return { result, shards: ids.length, workers: [...workers].sort() };
}

export interface ServeOptions {
  url: string;
  queueName: string;
  /** Shards explored at once (threads); default: all cores. */
  concurrency?: number;
  /** Exit after this long without a job (seconds); default: never. */
  idleExitSeconds?: number;
  shouldStop?: () => boolean;
  onJob?: (e: { job: string; shard: number; verdict: string; states: number; ms: number }) => void;
  /** This worker's name in the results (host:pid). */
  name: string;
}

export interface ServeOutcome {
  jobs: number;
  stopped: "interrupted" | "idle";
}

/** Checks whose completed shards' states a worker keeps (as its threads keep their stores). */
const KEEP_CHECKS = 2;

/** A worker: explore shards from the queue until Ctrl-C or idle for idleExitSeconds. */
export async function serveQueue(o: ServeOptions): Promise<ServeOutcome> {
  await pingQueue(o.url);
  const concurrency = o.concurrency ?? availableParallelism();
  const pool = new Tinypool({
    filename: new URL("./shard-worker.js", import.meta.url).href,
    minThreads: 1,
    maxThreads: concurrency,
    execArgv: process.execArgv.filter((a) => !a.startsWith("--input-type") && !a.startsWith("--eval")),
  });
  let active = 0;
  let jobs = 0;
  let stopping = false;
  let lastActive = Date.now();
  // The completed shards' states of the checks served lately (most recent last), as read from
  // their Redis lists (`read` elements so far) or published here; and the live states of their
  // running shards (`liveRead` elements read, decoded once).
  interface CheckCache {
    read: number;
    done: Map<string, ShardImport>;
    liveRead: number;
    live: { job: string; states: LiveStates }[];
    /** The live list's read in progress (one at a time, so nothing is read twice). */
    reading: Promise<void>;
  }
  const checks = new Map<string, CheckCache>();
  const redis = new Redis(o.url, { maxRetriesPerRequest: null });
  redis.on("error", () => {});
  const checkOf = (run: string) => {
    let c = checks.get(run);
    if (c !== undefined) checks.delete(run);
    else c = { read: 0, done: new Map(), liveRead: 0, live: [], reading: Promise.resolve() };
    checks.set(run, c);
    for (const k of checks.keys()) if (checks.size > KEEP_CHECKS) checks.delete(k);
    return c;
  };
  // The running live shards: their job, check and the main thread's end of their channel.
  const running = new Map<string, { run: string; port: MessagePort }>();
  /** Read the live lists of the running shards' checks and pass what is new to each thread. */
  const readLive = (run: string, c: CheckCache): Promise<void> => {
    const next = c.reading.then(() => readLiveNow(run, c));
    c.reading = next.catch(() => {});
    return next;
  };
  const readLiveNow = async (run: string, c: CheckCache) => {
    const items = await redis.lrange(liveKey(o.queueName, run), c.liveRead, -1);
    c.liveRead += items.length;
    const fresh = items.map((x) => {
      const it = JSON.parse(x) as LiveItem;
      return {
        job: it.job,
        states: { fingerprints: fromBase64(it.fingerprints), sleepSets: fromBase64(it.sleepSets) },
      };
    });
    c.live.push(...fresh);
    for (const [job, r] of running)
      if (r.run === run) for (const f of fresh) if (f.job !== job) r.port.postMessage(f.states);
  };
  let exchanging = false;
  const exchange = setInterval(() => {
    if (exchanging || running.size === 0) return;
    exchanging = true;
    const runs = new Set([...running.values()].map((r) => r.run));
    Promise.all([...runs].map((run) => readLive(run, checkOf(run))))
      .catch(() => {})
      .finally(() => {
        exchanging = false;
      });
  }, LIVE_MS);
  const worker = new Worker(
    o.queueName,
    async (job: Job) => {
      active++;
      const t = Date.now();
      const id = String(job.id);
      let channel: MessageChannel | null = null;
      try {
        const data = job.data as ShardJob;
        const key = doneKey(o.queueName, data.run);
        const c = checkOf(data.run);
        for (const item of await redis.lrange(key, c.read, -1)) {
          c.read++;
          const imp = JSON.parse(item) as ShardImport;
          c.done.set(imp.shard, imp);
        }
        const { live, ...job0 } = data;
        const task: ShardTask = { ...job0, reuse: data.run, imports: [...c.done.values()] };
        const transferList: MessagePort[] = [];
        if (live === true && data.storage === "fingerprint") {
          channel = new MessageChannel();
          const lkey = liveKey(o.queueName, data.run);
          channel.port1.on("message", (m: LiveStates) => {
            const item: LiveItem = {
              job: id,
              fingerprints: toBase64(m.fingerprints),
              sleepSets: toBase64(m.sleepSets),
            };
            // The list's lifetime is set when a push creates it (one command per push after;
            // a list the coordinator already deleted, and a late push re-created, expires too).
            redis
              .rpush(lkey, JSON.stringify(item))
              .then((n) => (n === 1 ? redis.expire(lkey, DONE_TTL_S) : 0))
              .catch(() => {});
          });
          await readLive(data.run, c);
          for (const f of c.live) if (f.job !== id) channel.port1.postMessage(f.states);
          running.set(id, { run: data.run, port: channel.port1 });
          task.port = channel.port2;
          transferList.push(channel.port2);
        }
        let r: ShardResult;
        try {
          r = (await pool.run(task, { transferList })) as ShardResult;
        } catch (e) {
          // Stopped by Ctrl-C: leave the job unfinished; it stalls and goes to another worker.
          if (stopping) return new Promise(() => {});
          throw e;
        }
        const { sleepSets, ...result } = r;
        if (sleepSets !== undefined) {
          // Explored completely: the check's other shards may rely on its states.
          const imp: ShardImport = {
            shard: r.shard,
            sleepSets,
            ...(r.fingerprints === undefined ? {} : { fingerprints: r.fingerprints }),
            ...(r.keys === undefined ? {} : { keys: r.keys }),
          };
          c.done.set(imp.shard, imp);
          await redis.multi().rpush(key, JSON.stringify(imp)).expire(key, DONE_TTL_S).exec();
        }
        jobs++;
        o.onJob?.({
          job: id,
          shard: Number(id.split("-").pop()),
          verdict: r.verdict,
          states: r.states,
          ms: Date.now() - t,
        });
        return { ...result, worker: o.name };
      } finally {
        running.delete(id);
        channel?.port1.close();
        active--;
        lastActive = Date.now();
        // (Not when left unfinished at Ctrl-C: the job is not over.)
        if (!stopping) {
          const ek = endedKey(o.queueName, (job.data as ShardJob).run);
          await redis
            .multi()
            .incr(ek)
            .expire(ek, DONE_TTL_S)
            .exec()
            .catch(() => {});
        }
      }
    },
    { connection: connectionOf(o.url), concurrency, autorun: true },
  );
  worker.on("error", () => {});
  let stopped: ServeOutcome["stopped"] = "interrupted";
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      if (o.shouldStop?.() === true) break;
      if (
        o.idleExitSeconds !== undefined &&
        active === 0 &&
        Date.now() - lastActive > o.idleExitSeconds * 1000
      ) {
        stopped = "idle";
        break;
      }
    }
  } finally {
    // Ctrl-C: do not wait for a running shard (its job stalls and goes to another worker).
    stopping = stopped === "interrupted";
    await worker.close(stopping);
    clearInterval(exchange);
    await pool.destroy();
    redis.disconnect();
  }
  return { jobs, stopped };
}
