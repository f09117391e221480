// Shards explored on a store kept across them (ShardStore, what a `ptesim worker` thread does
// for the shards of one check): the merged verdict, state count and final states stay one
// process's, fewer executions are spent, and a shard that does not end complete leaves nothing
// behind that a later shard could wrongly rely on.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";
import { type CheckMode, type CheckResult, check } from "./explore.js";
import { exploreShard, fromBase64, mergeShards, planShards, type ShardResult, ShardStore } from "./shards.js";
import type { StateStorage } from "./store.js";
import { backendNamed, scenarioOf } from "./test-support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const scenario = (rel: string): Scenario =>
  scenarioOf(readFileSync(join(ROOT, rel), "utf8"), join(ROOT, rel));
const backend = backendNamed;
const sorted = (r: CheckResult) => [...(r.finalStates ?? [])].sort();
const executions = (rs: readonly ShardResult[]) => rs.reduce((a, r) => a + r.executions, 0);
/** The states a shard result reports as added: fingerprints as "hi:lo", or exact keys. */
function addedIds(r: ShardResult): string[] {
  if (r.keys !== undefined) return r.keys;
  const fp = fromBase64(r.fingerprints ?? "");
  const out: string[] = [];
  for (let i = 0; i < fp.length; i += 2) out.push(`${fp[i]}:${fp[i + 1]}`);
  return out;
}

/**
 * The shards explored by `workers` ShardStores taking them in turn (round robin, as two
 * workers alternating on a queue), each importing, before each shard, the states of the
 * shards the others completed so far.
 */
function exploreOnStores(
  s: Scenario,
  b: BackendModule,
  shards: readonly string[],
  mode: CheckMode,
  storage: StateStorage,
  workers: number,
): ShardResult[] {
  const stores = Array.from({ length: workers }, () => new ShardStore(storage));
  const done: ShardResult[] = [];
  return shards.map((sh, i) => {
    const st = stores[i % workers];
    for (const r of done) st.import(r.shard, r);
    const r = exploreShard(s, b, sh, { mode, storage, reuse: st });
    done.push(r);
    return r;
  });
}

describe("shards on a store kept across them (ShardStore)", () => {
  const cases: [string, string, CheckMode, StateStorage][] = [
    ["scenarios/suite/c3p2.yaml", "xen", "por", "fingerprint"],
    ["scenarios/suite/c3p2.yaml", "native", "por", "exact"],
    ["scenarios/suite/c3p4.yaml", "native", "reduced", "fingerprint"],
  ];
  for (const [file, b, mode, storage] of cases)
    it(`${file} on ${b}, ${mode}, ${storage}: one process's verdict, states and final states, with fewer executions than a store per shard`, () => {
      const s = scenario(file);
      const one = check(s, backend(b), { mode, storage, collectFinalStates: true, minimize: false });
      const plan = planShards(s, backend(b), 8, { mode, storage });
      assert.ok(plan.shards.length >= 4, `${plan.shards.length} shards`);
      const own = plan.shards.map((sh) => exploreShard(s, backend(b), sh, { mode, storage }));
      const ownExecutions = executions(own);
      for (const workers of [1, 2]) {
        const results = exploreOnStores(s, backend(b), plan.shards, mode, storage, workers);
        const merged = mergeShards(s, backend(b), plan, results, { minimize: false });
        assert.equal(merged.verdict, one.verdict);
        assert.equal(merged.states, one.states, `${workers} store(s)`);
        assert.deepEqual(sorted(merged), sorted(one));
        // Each state is reported by one shard only (every shard saw the earlier ones' states),
        // and a shard reports what it counted.
        const reported = new Set<string>();
        for (const r of results) {
          const ids = addedIds(r);
          assert.equal(ids.length, r.states);
          for (const id of ids) {
            assert.ok(!reported.has(id), `${r.shard} reports a state an earlier shard reported`);
            reported.add(id);
          }
        }
        assert.ok(
          executions(results) < ownExecutions,
          `${workers} store(s): ${executions(results)} executions, ${ownExecutions} with a store per shard`,
        );
        // A shard's result survives JSON (the job queue), sleep sets included.
        assert.deepEqual(JSON.parse(JSON.stringify(results[0])), results[0]);
        assert.ok(results.every((r) => r.sleepSets !== undefined));
      }
    });

  it("a shard that stops early drops the store: the next shards start afresh, and the merge is still one process's", () => {
    const s = scenario("scenarios/suite/c3p2.yaml");
    const b = backend("xen");
    const one = check(s, b, { mode: "por", collectFinalStates: true, minimize: false });
    const plan = planShards(s, b, 8, { mode: "por", storage: "fingerprint" });
    const st = new ShardStore("fingerprint");
    const first = exploreShard(s, b, plan.shards[0], { mode: "por", storage: "fingerprint", reuse: st });
    assert.equal(first.verdict, "verified");
    assert.ok(st.holds(plan.shards[0]) && st.size > 0);
    // A clock that jumps a second per reading: the shard ends at its 3 s bound, unfinished.
    let t = 0;
    const cut = exploreShard(s, b, plan.shards[1], {
      mode: "por",
      storage: "fingerprint",
      reuse: st,
      maxSeconds: 3,
      now: () => (t += 1000),
    });
    assert.equal(cut.verdict, "incomplete");
    assert.equal(cut.sleepSets, undefined, "an unfinished shard's states cannot be imported");
    assert.equal(st.size, 0);
    assert.equal(st.holds(plan.shards[0]), false);
    // The unfinished shard is explored again (as a queue retries it): nothing was lost.
    const rest = plan.shards
      .slice(1)
      .map((sh) => exploreShard(s, b, sh, { mode: "por", storage: "fingerprint", reuse: st }));
    const merged = mergeShards(s, b, plan, [first, ...rest], { minimize: false });
    assert.equal(merged.verdict, "verified");
    assert.equal(merged.states, one.states);
    assert.deepEqual(sorted(merged), sorted(one));
    // With the unfinished result instead, the merge is INCOMPLETE, never VERIFIED.
    const partial = mergeShards(s, b, plan, [first, cut, ...rest.slice(1)], { minimize: false });
    assert.equal(partial.verdict, "incomplete");
  });

  it("imports only completed shards' states, once, and refuses a store of the other kind", () => {
    const s = scenario("scenarios/suite/c3p2.yaml");
    const b = backend("native");
    const plan = planShards(s, b, 4, { mode: "por", storage: "fingerprint" });
    const a = new ShardStore("fingerprint");
    const r = exploreShard(s, b, plan.shards[0], { mode: "por", storage: "fingerprint", reuse: a });
    const other = new ShardStore("fingerprint");
    other.import(r.shard, r);
    assert.equal(other.size, a.size);
    other.import(r.shard, r);
    assert.equal(other.size, a.size);
    assert.ok(other.holds(r.shard));
    const { sleepSets: _, ...unfinished } = r;
    const third = new ShardStore("fingerprint");
    third.import(r.shard, unfinished);
    assert.equal(third.size, 0);
    assert.throws(
      () => exploreShard(s, b, plan.shards[1], { mode: "por", storage: "exact", reuse: a }),
      /a fingerprint shard store cannot hold exact states/,
    );
  });

  it("states published while a shard runs (takeNew) and imported by another store (importLive) are cut there and not counted twice", () => {
    const s = scenario("scenarios/suite/c3p2.yaml");
    const b = backend("xen");
    const opts = { mode: "por" as const, storage: "fingerprint" as const };
    const one = check(s, b, { mode: "por", collectFinalStates: true, minimize: false });
    const plan = planShards(s, b, 8, opts);
    const a = new ShardStore("fingerprint");
    const pubs: { fingerprints: Uint32Array; sleepSets: Uint32Array }[] = [];
    // Publish before every execution (the worker does it every 100 ms).
    const ra = exploreShard(s, b, plan.shards[0], {
      ...opts,
      reuse: a,
      progressEveryMs: 0,
      onProgress: () => {
        const d = a.takeNew();
        if (d !== null) pubs.push(d);
      },
    });
    assert.equal(ra.verdict, "verified");
    assert.ok(pubs.length > 1, `${pubs.length} publications`);
    // Every published state is one the shard added, each published once.
    const added = fromBase64(ra.fingerprints ?? "");
    const addedSet = new Set<string>();
    for (let i = 0; i < added.length; i += 2) addedSet.add(`${added[i]}:${added[i + 1]}`);
    const seen = new Set<string>();
    for (const p of pubs)
      for (let i = 0; i < p.fingerprints.length; i += 2) {
        const k = `${p.fingerprints[i]}:${p.fingerprints[i + 1]}`;
        assert.ok(addedSet.has(k) && !seen.has(k));
        seen.add(k);
      }
    const rest = plan.shards.slice(1);
    const alone = rest.map((sh) => exploreShard(s, b, sh, opts));
    const other = new ShardStore("fingerprint");
    for (const p of pubs) other.importLive(p.fingerprints, p.sleepSets);
    const rb = rest.map((sh) => exploreShard(s, b, sh, { ...opts, reuse: other }));
    const merged = mergeShards(s, b, plan, [ra, ...rb], { minimize: false });
    assert.equal(merged.verdict, "verified");
    assert.equal(merged.states, one.states);
    assert.deepEqual(sorted(merged), sorted(one));
    // Imported states are not reported again by the importer's shards.
    for (const r of rb) {
      const fp = fromBase64(r.fingerprints ?? "");
      for (let i = 0; i < fp.length; i += 2) assert.ok(!seen.has(`${fp[i]}:${fp[i + 1]}`));
    }
    assert.ok(executions(rb) < executions(alone), `${executions(rb)} vs ${executions(alone)}`);
  });
});
