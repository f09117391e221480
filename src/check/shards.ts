// A check split into shards: disjoint subtrees of the search, each named by its decision prefix
// (encoded as a replay token), explored independently (worker threads, other processes, other
// machines) and merged back into one result.
//
//   planShards    the coordinator's own search down to the depth where the tree has enough
//                 nodes: it decides every execution that ends above that depth, and emits the
//                 prefix of each frontier node (a frontier state already emitted with a sleep
//                 set contained in this one's is covered and not emitted again).
//   exploreShard  one subtree (check with `prefix`), with its own visited store or the one a
//                 thread keeps across the shards of one check (ShardStore); returns plain data
//                 (JSON-safe) so it can cross a thread, a process or a job queue.
//   mergeShards   verdict (a violation anywhere wins; the first in shard order is reported, with
//                 its counterexample rebuilt and shortened here), executions summed, distinct
//                 states as the union of every store (so the count equals one process's), and
//                 the union of final states.
//
// Pure: no I/O; the pool and the queue drivers live in ./workers/.
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";
import {
  type CheckMode,
  type CheckResult,
  check,
  counterexample,
  replayPath,
  type Symmetry,
} from "./explore.js";
import { decodeReplay, encodeReplay } from "./replay.js";
import { ExactStore, FingerprintStore, newStore, type StateStorage, type VisitedStore } from "./store.js";

export interface ShardOptions {
  mode: CheckMode;
  storage: StateStorage;
  /** Value symmetry of the state keys (default "values"): every shard of a search uses the same. */
  symmetry?: Symmetry;
  /** Per-shard time bound (seconds). */
  maxSeconds?: number;
  now?: () => number;
  /** A store shared with the other shards' searches (worker threads) instead of one each. */
  store?: VisitedStore;
  /** The states kept across this check's shards explored here (exploreShard; not with store). */
  reuse?: ShardStore;
  /** Called about every progressEveryMs between executions (where the store may be fed). */
  onProgress?: () => void;
  progressEveryMs?: number;
}

export interface ShardPlan {
  /** Prefixes as replay tokens, in search order. */
  shards: string[];
  depth: number;
  /** The coordinator's search above the frontier. */
  head: CheckResult;
}

/** One shard's outcome, as plain data. */
export interface ShardResult {
  shard: string;
  /** How it was explored: a merge takes only results of one mode, storage and symmetry. */
  mode: CheckMode;
  storage: StateStorage;
  symmetry: Symmetry;
  verdict: "verified" | "violated" | "incomplete";
  executions: number;
  completeExecutions: number;
  transitions: number;
  states: number;
  elapsedMs: number;
  finalStates: string[];
  /** Visited states: 64-bit fingerprints as base64 of (hi, lo) uint32 pairs, or exact keys. */
  fingerprints?: string;
  keys?: string[];
  /**
   * With fingerprints or keys, when the shard was explored completely on a ShardStore: each
   * state's sleep set (base64 of uint32s, in the same order), so that another ShardStore of the
   * same check can import them.
   */
  sleepSets?: string;
  /** For a violation: the violating run's decisions. */
  violation?: number[];
  /** For an incomplete shard: why it stopped. */
  reason?: string;
}

/** Plan about `count` shards (fewer if the tree is small). */
export function planShards(
  scenario: Scenario,
  backend: BackendModule,
  count: number,
  opts: ShardOptions,
): ShardPlan {
  let best: ShardPlan | null = null;
  for (let depth = 1; depth <= MAX_SHARD_DEPTH; depth++) {
    best = planShardsAtDepth(scenario, backend, depth, opts);
    if (best.head.verdict !== "verified" || best.shards.length === 0 || best.shards.length >= count) break;
  }
  return best!;
}

/** Deepest frontier planShards considers. */
export const MAX_SHARD_DEPTH = 256;

/**
 * The plan whose frontier is at `depth` decisions. Deterministic: a merge re-plans at the depth
 * of the shards it is given and gets the same head and the same list of shards.
 */
export function planShardsAtDepth(
  scenario: Scenario,
  backend: BackendModule,
  depth: number,
  opts: ShardOptions,
): ShardPlan {
  const shards: string[] = [];
  const head = check(scenario, backend, {
    mode: opts.mode,
    storage: opts.storage,
    ...(opts.symmetry === undefined ? {} : { symmetry: opts.symmetry }),
    shardDepth: depth,
    onShard: (p) => shards.push(encodeReplay(p)),
    collectFinalStates: true,
    keepStore: true,
    minimize: false,
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  return { shards, depth, head };
}

/** The decisions of a shard token (stamped or not), or what is wrong with it. */
export function shardPrefix(shard: string): number[] | string {
  return decodeReplay(shard);
}

/** A shard's identity regardless of its stamp: its decisions, unstamped. */
function shardId(shard: string): string {
  const p = decodeReplay(shard);
  return typeof p === "string" ? shard : encodeReplay(p);
}

/** The plan's shards that `results` does not cover (as the plan names them). */
export function missingShards(plan: ShardPlan, results: readonly ShardResult[]): string[] {
  const have = new Set(results.map((r) => shardId(r.shard)));
  return plan.shards.filter((s) => !have.has(shardId(s)));
}

export function exploreShard(
  scenario: Scenario,
  backend: BackendModule,
  shard: string,
  opts: ShardOptions,
): ShardResult {
  const prefix = decodeReplay(shard);
  if (typeof prefix === "string") throw new RangeError(`bad shard ${shard}: ${prefix}`);
  const reuse = opts.reuse;
  if (reuse !== undefined && reuse.storage !== opts.storage)
    throw new RangeError(`a ${reuse.storage} shard store cannot hold ${opts.storage} states`);
  const store = reuse?.begin() ?? opts.store;
  const r = check(scenario, backend, {
    mode: opts.mode,
    storage: opts.storage,
    ...(opts.symmetry === undefined ? {} : { symmetry: opts.symmetry }),
    prefix,
    collectFinalStates: true,
    keepStore: reuse === undefined,
    minimize: false,
    ...(store === undefined ? {} : { store }),
    ...(opts.onProgress === undefined
      ? {}
      : { onProgress: opts.onProgress, progressEveryMs: opts.progressEveryMs ?? 1000 }),
    ...(opts.maxSeconds === undefined ? {} : { maxSeconds: opts.maxSeconds }),
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  return shardResultOf(shard, opts.mode, opts.storage, r, reuse?.end(shard, r));
}

/** The states one shard added to a ShardStore (as in ShardResult). */
export interface AddedStates {
  fingerprints?: string;
  keys?: string[];
  /** Only when the shard was explored completely: the states' sleep sets. */
  sleepSets?: string;
}

/**
 * Visited states kept across the shards of one check that one thread explores (`ptesim
 * worker`), plus those of shards other threads or workers completed: a later shard cuts at a
 * state an earlier one explored completely, as one search relies on its own earlier visits.
 * Each entry keeps its sleep set, and a revisit with a smaller one explores what that visit
 * skipped (./por.ts), whichever shard made it. Each shard reports only the states it added, so
 * the coordinator's union still counts every state once (one process's count).
 * Only complete explorations stay: a shard that ends otherwise (a bound, a violation, Ctrl-C)
 * stored states it did not finish and may have narrowed the sleep sets of states it found
 * here, so the store is dropped and the next shard starts afresh (the check is not VERIFIED
 * anyway: that shard's verdict decides it).
 */
export class ShardStore {
  private store: VisitedStore;
  /** Shards (unstamped tokens) whose states the store holds, explored here or imported. */
  private readonly held = new Set<string>();
  /** Entries of the running shard's journal already taken by takeNew. */
  private published = 0;

  constructor(readonly storage: StateStorage) {
    this.store = newStore(storage);
  }

  get size(): number {
    return this.store.size;
  }

  /** Does the store hold this shard's states? */
  holds(shard: string): boolean {
    return this.held.has(shardId(shard));
  }

  /** Add the states of a shard explored completely elsewhere (its result's, with sleepSets). */
  import(shard: string, added: AddedStates): void {
    const id = shardId(shard);
    if (this.held.has(id) || added.sleepSets === undefined) return;
    const sleep = fromBase64(added.sleepSets);
    const st = this.store;
    if (st instanceof FingerprintStore && added.fingerprints !== undefined) {
      const fp = fromBase64(added.fingerprints);
      if (fp.length !== sleep.length * 2)
        throw new RangeError(`shard ${shard}: states and sleep sets differ in number`);
      for (let i = 0; i < sleep.length; i++) st.getOrAddFp(fp[2 * i], fp[2 * i + 1], sleep[i]);
    } else if (st instanceof ExactStore && added.keys !== undefined) {
      if (added.keys.length !== sleep.length)
        throw new RangeError(`shard ${shard}: states and sleep sets differ in number`);
      for (let i = 0; i < sleep.length; i++) st.visitText(added.keys[i], sleep[i]);
    } else throw new RangeError(`shard ${shard}: its states are not stored as ${this.storage}s`);
    this.held.add(id);
  }

  /**
   * Add states another search of the same check stored and is still exploring (published
   * while it runs; fingerprints only). Cutting at them relies on that search finishing, as
   * threads sharing one store rely on each other: sound only if every shard of the check ends
   * complete in its first attempt, which the coordinator checks (../workers/queue.ts). They
   * are not this shard's states: the journal skips them.
   */
  importLive(fp: Uint32Array, sleep: Uint32Array): void {
    const st = this.store;
    if (!(st instanceof FingerprintStore) || fp.length !== sleep.length * 2)
      throw new RangeError("live states are fingerprints, one sleep set each");
    const journal = st.added;
    st.added = null;
    for (let i = 0; i < sleep.length; i++) st.getOrAddFp(fp[2 * i], fp[2 * i + 1], sleep[i]);
    st.added = journal;
  }

  /**
   * The states the running shard added since the last call, with their sleep sets now (to
   * publish while it runs), or null if none; fingerprint storage only.
   */
  takeNew(): { fingerprints: Uint32Array; sleepSets: Uint32Array } | null {
    const st = this.store;
    if (!(st instanceof FingerprintStore) || st.added === null || st.added.length === this.published)
      return null;
    const fp = Uint32Array.from(st.added.slice(this.published));
    this.published = st.added.length;
    const sleep = new Uint32Array(fp.length / 2);
    for (let i = 0; i < sleep.length; i++) sleep[i] = st.payloadOfFp(fp[2 * i], fp[2 * i + 1]);
    return { fingerprints: fp, sleepSets: sleep };
  }

  /** The store for the next shard's search, recording what it adds. */
  begin(): VisitedStore {
    const st = this.store;
    this.published = 0;
    if (st instanceof FingerprintStore) st.added = [];
    else if (st instanceof ExactStore) st.added = [];
    return st;
  }

  /** What the shard's search (on begin()'s store) added; the store is kept only if it completed. */
  end(shard: string, r: CheckResult): AddedStates {
    const st = this.store;
    const complete = r.verdict === "verified";
    const out: AddedStates = {};
    if (st instanceof FingerprintStore) {
      const fp = Uint32Array.from(st.added ?? []);
      st.added = null;
      out.fingerprints = toBase64(fp);
      if (complete) {
        const sleep = new Uint32Array(fp.length / 2);
        for (let i = 0; i < sleep.length; i++) sleep[i] = st.payloadOfFp(fp[2 * i], fp[2 * i + 1]);
        out.sleepSets = toBase64(sleep);
      }
    } else if (st instanceof ExactStore) {
      const keys = st.added ?? [];
      st.added = null;
      out.keys = keys;
      if (complete) out.sleepSets = toBase64(Uint32Array.from(keys, (k) => st.payloadOf(k)));
    }
    if (complete) this.held.add(shardId(shard));
    else {
      this.store = newStore(this.storage);
      this.held.clear();
    }
    return out;
  }
}

/** A shard's check result (run with keepStore, or its ShardStore's additions) as plain data. */
export function shardResultOf(
  shard: string,
  mode: CheckMode,
  storage: StateStorage,
  r: CheckResult,
  added?: AddedStates,
): ShardResult {
  const out: ShardResult = {
    shard,
    mode,
    storage,
    symmetry: r.symmetry,
    verdict: r.verdict,
    executions: r.executions,
    completeExecutions: r.completeExecutions,
    transitions: r.transitions,
    states: r.states,
    elapsedMs: r.elapsedMs,
    finalStates: [...(r.finalStates ?? [])],
  };
  if (added !== undefined) Object.assign(out, added);
  else if (r.store instanceof FingerprintStore) out.fingerprints = toBase64(r.store.fingerprints());
  else if (r.store instanceof ExactStore) out.keys = r.store.keys();
  if (r.verdict === "violated") out.violation = r.counterexample.choices;
  if (r.verdict === "incomplete") out.reason = r.reason;
  return out;
}

/** One result for the whole search, from the plan and every shard's result (any order). */
export function mergeShards(
  scenario: Scenario,
  backend: BackendModule,
  plan: ShardPlan,
  results: readonly ShardResult[],
  opts: { minimize?: boolean; elapsedMs?: number } = {},
): CheckResult {
  const head = plan.head;
  const byShard = new Map(results.map((r) => [shardId(r.shard), r]));
  const store: VisitedStore | undefined = head.store;
  const finals = new Set(head.finalStates ?? []);
  let executions = head.executions;
  let complete = head.completeExecutions;
  let transitions = head.transitions;
  let states = head.states;
  let incomplete = false;
  let missing = false;
  let violation: number[] | null = null;
  for (const s of plan.shards) {
    const r = byShard.get(shardId(s));
    if (r === undefined) {
      missing = true;
      continue;
    }
    executions += r.executions;
    complete += r.completeExecutions;
    transitions += r.transitions;
    states += r.states;
    for (const f of r.finalStates) finals.add(f);
    if (store instanceof FingerprintStore && r.fingerprints !== undefined) {
      const fp = fromBase64(r.fingerprints);
      for (let i = 0; i < fp.length; i += 2) store.getOrAddFp(fp[i], fp[i + 1], 0);
    } else if (store instanceof ExactStore && r.keys !== undefined)
      for (const k of r.keys) store.visitText(k, 0);
    if (r.verdict === "incomplete") incomplete = true;
    if (r.verdict === "violated" && violation === null && r.violation !== undefined) violation = r.violation;
  }
  if (store !== undefined) states = store.size;
  const stats = {
    executions,
    completeExecutions: complete,
    transitions,
    states,
    elapsedMs: opts.elapsedMs ?? head.elapsedMs,
    finalStates: finals,
    distinctFinalStates: finals.size,
    storage: head.storage,
    symmetry: head.symmetry,
    collisionProbability: store?.collisionProbability() ?? 0,
    storeBytes: store?.bytes() ?? 0,
  };
  if (head.verdict === "violated") return { ...head, ...stats, finalStates: finals };
  if (violation !== null) {
    const found = replayPath(scenario, backend, violation, false);
    const cx = counterexample(scenario, backend, found, opts.minimize !== false);
    return { verdict: "violated", counterexample: cx, ...stats };
  }
  if (missing) return { verdict: "incomplete", reason: "missing-shards", ...stats };
  if (incomplete || head.verdict === "incomplete")
    return { verdict: "incomplete", reason: "max-seconds", ...stats };
  return { verdict: "verified", ...stats };
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 of the array's bytes (little-endian), without Buffer or btoa: the core runs anywhere. */
export function toBase64(a: Uint32Array): string {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out.push(
      B64[(n >> 18) & 63] +
        B64[(n >> 12) & 63] +
        (i + 1 < b.length ? B64[(n >> 6) & 63] : "=") +
        (i + 2 < b.length ? B64[n & 63] : "="),
    );
  }
  return out.join("");
}

export function fromBase64(s: string): Uint32Array {
  const clean = s.replace(/=+$/, "");
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let k = 0;
  for (let i = 0; i < clean.length; i += 4) {
    const n =
      (B64.indexOf(clean[i]) << 18) |
      (B64.indexOf(clean[i + 1] ?? "A") << 12) |
      (Math.max(0, B64.indexOf(clean[i + 2] ?? "A")) << 6) |
      Math.max(0, B64.indexOf(clean[i + 3] ?? "A"));
    if (k < bytes.length) bytes[k++] = (n >> 16) & 255;
    if (k < bytes.length) bytes[k++] = (n >> 8) & 255;
    if (k < bytes.length) bytes[k++] = n & 255;
  }
  return new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
}
