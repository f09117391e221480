// Typed stages for the distributed check: a shard's result saved to a file (`check --shard
// TOKEN --shard-result FILE`), shard result files merged (`check --merge FILE...`), the
// coordinator on a job queue (`check --queue redis://HOST`) and a queue worker (`ptesim worker`).
// Printing is report.ts's; the queue itself is ../workers/queue.ts.
import { hostname } from "node:os";
import { z } from "zod";
import { decodeReplay, encodeReplay } from "../check/replay.js";
import {
  MAX_SHARD_DEPTH,
  mergeShards,
  missingShards,
  planShards,
  planShardsAtDepth,
  type ShardResult,
} from "../check/shards.js";
import type { ServeOutcome } from "../workers/queue.js";
import {
  absoluteBackendSpec,
  type CheckCommandOptions,
  type CheckOutcome,
  checkInputs,
  finishOutcome,
  scenarioBackendSpec,
  stampOf,
} from "./commands.js";
import { PtesimError } from "./errors.js";
import { readInput } from "./files.js";

/** The queue both sides use unless told otherwise (--queue-name). */
export const DEFAULT_QUEUE_NAME = "ptesim-shards";

/** The queue code (BullMQ, ioredis) is loaded only by the commands that use it. */
const queueModule = () => import("../workers/queue.js");

export const SHARD_RESULT_SCHEMA = "ptesim.shard-result/1";
/** A shard result file holds its stored states (about 11 bytes a state): up to ~40M states. */
export const MAX_SHARD_RESULT_BYTES = 512 * 2 ** 20;

/** A shard result file: what `check --shard TOKEN --shard-result FILE` writes. */
export const ShardResultJson = z
  .object({
    schema: z.literal(SHARD_RESULT_SCHEMA),
    shard: z.string().describe("the stamped shard token explored"),
    mode: z.enum(["reduced", "por", "exhaustive"]),
    storage: z.enum(["fingerprint", "exact"]),
    symmetry: z
      .enum(["values", "none"])
      .default("none")
      .describe("value symmetry of the state keys (files written before it existed: none)"),
    verdict: z.enum(["verified", "violated", "incomplete"]),
    reason: z.string().optional().describe("why an incomplete shard stopped"),
    executions: z.number().int().nonnegative(),
    completeExecutions: z.number().int().nonnegative(),
    transitions: z.number().int().nonnegative(),
    states: z.number().int().nonnegative(),
    elapsedMs: z.number().nonnegative(),
    finalStates: z.array(z.string()).describe("keys of the distinct final states"),
    fingerprints: z.string().optional().describe("visited states: base64 of 64-bit fingerprints"),
    keys: z.array(z.string()).optional().describe("visited states (exact storage)"),
    violation: z.array(z.number().int().min(0).max(63)).optional().describe("the violating run's decisions"),
  })
  .meta({
    title: "ptesim check --shard-result",
    description: "One shard's result, for ptesim check --merge",
  });

/** The document written for one explored shard. */
export function shardResultDocument(r: ShardResult): z.output<typeof ShardResultJson> {
  return { schema: SHARD_RESULT_SCHEMA, ...r };
}

export interface MergeOutcome extends CheckOutcome {
  files: number;
  /** Shards in the plan the files came from. */
  shards: number;
  depth: number;
  /** Stamped tokens of the plan's shards no file covers. */
  missing: string[];
}

/** `check --merge FILE...`: shard result files into one check result. */
export async function mergeCommand(o: CheckCommandOptions & { files: string[] }): Promise<MergeOutcome> {
  const { source, backend, scenario } = await checkInputs(o);
  const stamp = stampOf(scenario, backend);
  const results: ShardResult[] = [];
  let depth = -1;
  let first = "";
  for (const file of o.files) {
    const text = readInput(file, MAX_SHARD_RESULT_BYTES);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PtesimError("usage", `${file}: not JSON (${(e as Error).message})`);
    }
    const r = ShardResultJson.safeParse(json);
    if (!r.success)
      throw new PtesimError(
        "usage",
        `${file}: not a shard result (ptesim check --shard TOKEN --shard-result FILE writes them)`,
        r.error.issues.slice(0, 5).map((i) => `  ${i.path.join(".") || "(document)"}: ${i.message}`),
      );
    const prefix = decodeReplay(r.data.shard, stamp);
    if (typeof prefix === "string") throw new PtesimError("usage", `${file}: shard token: ${prefix}`);
    const { schema: _, ...res } = r.data;
    if (
      results.length > 0 &&
      (res.mode !== results[0].mode ||
        res.storage !== results[0].storage ||
        res.symmetry !== results[0].symmetry)
    )
      throw new PtesimError(
        "usage",
        `${file}: explored with --mode ${res.mode} --storage ${res.storage} --symmetry ${res.symmetry}, but ${first} with --mode ${results[0].mode} --storage ${results[0].storage} --symmetry ${results[0].symmetry}: merge results of one run`,
      );
    if (depth >= 0 && prefix.length !== depth)
      throw new PtesimError(
        "usage",
        `${file}: its shard is ${prefix.length} decisions deep, ${first}'s ${depth}: they come from different --shards plans`,
      );
    if (prefix.length < 1 || prefix.length > MAX_SHARD_DEPTH)
      throw new PtesimError("usage", `${file}: ${prefix.length} decisions is not a shard token's depth`);
    depth = prefix.length;
    if (results.length === 0) first = file;
    results.push(res);
  }
  if (results.length === 0) throw new PtesimError("usage", "--merge needs at least one shard result file");
  const { mode, storage, symmetry } = results[0];
  const plan = planShardsAtDepth(scenario, backend, depth, { mode, storage, symmetry });
  const planned = new Set(plan.shards);
  for (let i = 0; i < results.length; i++) {
    const p = decodeReplay(results[i].shard) as number[];
    if (!planned.has(encodeReplay(p)))
      throw new PtesimError(
        "usage",
        `${o.files[i]}: shard ${results[i].shard} is not one of this scenario's shards at depth ${depth} (--mode ${mode})`,
      );
  }
  const missing = missingShards(plan, results).map((t) => encodeReplay(decodeReplay(t) as number[], stamp));
  const elapsedMs = plan.head.elapsedMs + results.reduce((a, r) => a + r.elapsedMs, 0);
  const merged = mergeShards(scenario, backend, plan, results, { elapsedMs });
  return {
    ...finishOutcome(source, backend, scenario, mode, merged),
    files: o.files.length,
    shards: plan.shards.length,
    depth,
    missing,
  };
}

export interface QueueCheckCommandOptions extends CheckCommandOptions {
  queue: string;
  queueName: string;
  /** About this many shards (jobs). */
  shards: number;
  onQueueProgress?: (done: number, total: number, states: number) => void;
}

export interface QueueOutcome extends CheckOutcome {
  shards: number;
  workers: string[];
  /** Jobs started twice in a live-sharing run, which was then run again without it. */
  rerunAfterRetries?: number;
}

/** `check --queue redis://HOST`: the coordinator. */
export async function queueCheckCommand(o: QueueCheckCommandOptions): Promise<QueueOutcome> {
  const { checkOnQueue, parseQueueUrl } = await queueModule();
  const url = parseQueueUrl(o.queue);
  const { source, backend, scenario } = await checkInputs(o);
  const mode = o.mode ?? "reduced";
  const storage = o.storage ?? "fingerprint";
  const plan = planShards(scenario, backend, o.shards, {
    mode,
    storage,
    ...(o.symmetry === undefined ? {} : { symmetry: o.symmetry }),
    now: () => Date.now(),
  });
  const stamp = stampOf(scenario, backend);
  const tokens = plan.shards.map((t) => encodeReplay(decodeReplay(t) as number[], stamp));
  const out = await checkOnQueue(scenario, backend, {
    url,
    queueName: o.queueName,
    plan,
    tokens,
    backendSpec: absoluteBackendSpec(o.backend ?? scenarioBackendSpec(source)),
    mode,
    storage,
    symmetry: plan.head.symmetry,
    ...(o.maxSeconds === undefined ? {} : { maxSeconds: o.maxSeconds }),
    ...(o.shouldStop === undefined ? {} : { shouldStop: o.shouldStop }),
    ...(o.onQueueProgress === undefined ? {} : { onProgress: o.onQueueProgress }),
  });
  return {
    ...finishOutcome(source, backend, scenario, mode, out.result),
    shards: out.shards,
    workers: out.workers,
    ...(out.rerunAfterRetries === undefined ? {} : { rerunAfterRetries: out.rerunAfterRetries }),
  };
}

export interface WorkerCommandOptions {
  queue: string;
  queueName: string;
  concurrency?: number;
  idleExitSeconds?: number;
  shouldStop?: () => boolean;
  onJob?: (e: { job: string; verdict: string; states: number; ms: number }) => void;
}

/** `ptesim worker --queue redis://HOST`. */
export async function workerCommand(o: WorkerCommandOptions): Promise<ServeOutcome> {
  const { parseQueueUrl, serveQueue } = await queueModule();
  const url = parseQueueUrl(o.queue);
  return serveQueue({
    url,
    queueName: o.queueName,
    name: `${hostname()}:${process.pid}`,
    ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
    ...(o.idleExitSeconds === undefined ? {} : { idleExitSeconds: o.idleExitSeconds }),
    ...(o.shouldStop === undefined ? {} : { shouldStop: o.shouldStop }),
    ...(o.onJob === undefined ? {} : { onJob: o.onJob }),
  });
}
