import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { KernelMutant } from "../kernel/kernel.js";
import { loadScenarioText } from "../scenario/load.js";
import { KeyBuffer } from "../sim/key-buffer.js";
import type { Scenario } from "../sim/scenario.js";
import { type CheckResult, check } from "./explore.js";
import { exploreShard, fromBase64, mergeShards, planShards, toBase64 } from "./shards.js";
import { ExactStore, FingerprintStore, fingerprintCollisionProbability } from "./store.js";
import { backendNamed, scenarioOf } from "./test-support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const scenario = (rel: string): Scenario =>
  scenarioOf(readFileSync(join(ROOT, rel), "utf8"), join(ROOT, rel));
function text(t: string): Scenario {
  const r = loadScenarioText(t, "inline.yaml");
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.scenario;
}
const backend = backendNamed;
const sorted = (r: CheckResult) => [...(r.finalStates ?? [])].sort();

/** Scenarios beyond the suites: munmap (zaps between points), folio batching, aging, mutants. */
const munmapScenario = () =>
  text(`
cpus: 3
regions:
  - { name: buf, pages: 2, prot: rw, shared: false, populate: write }
syscalls:
  - { call: mprotect, region: buf, pages: 1, prot: r }
  - { call: munmap, region: buf, offset: 1, pages: 1 }
programs:
  - ["w buf:0", "r buf:1"]
  - ["w buf:1", "r buf:0"]
`);
const batched = () => {
  const s = scenario("scenarios/suite/c2p4.yaml");
  return { ...s, kernel: { ...s.kernel, maxBatch: 4 } };
};
const mutant = (m: KernelMutant) => () => {
  const s = scenario("scenarios/mutants/protocol.yaml");
  return { ...s, kernel: { ...s.kernel, mutant: m } };
};

describe("POR (sleep sets with state caching) agrees with reduced and exhaustive exploration", () => {
  const cases: [string, () => Scenario, string][] = [
    ["c2p2", () => scenario("scenarios/suite/c2p2.yaml"), "native"],
    ["c2p2", () => scenario("scenarios/suite/c2p2.yaml"), "xen"],
    ["c2p2", () => scenario("scenarios/suite/c2p2.yaml"), "naive"],
    ["c2p4", () => scenario("scenarios/suite/c2p4.yaml"), "xen-legacy"],
    ["c3p2", () => scenario("scenarios/suite/c3p2.yaml"), "cmpxchg"],
    ["c3p2", () => scenario("scenarios/suite/c3p2.yaml"), "xen-broken-no-preserve-ad"],
    ["protocol", () => scenario("scenarios/mutants/protocol.yaml"), "xen"],
    ["protocol/skip-tlb-flush", mutant("skip-tlb-flush"), "native"],
    ["protocol/missing-commit", mutant("missing-commit"), "native"],
    ["aging-vs-rmw", () => scenario("scenarios/litmus/aging-vs-rmw.yaml"), "native"],
    ["munmap", munmapScenario, "native"],
    ["munmap", munmapScenario, "naive"],
    ["c2p4 maxBatch 4", batched, "native"],
  ];
  for (const [name, s, b] of cases)
    it(`${name} on ${b}: same verdict, property, reachable states and final states`, () => {
      const opts = { collectFinalStates: true, minimize: false } as const;
      const full = check(s(), backend(b), { ...opts, mode: "exhaustive" });
      const red = check(s(), backend(b), { ...opts, mode: "reduced" });
      const por = check(s(), backend(b), { ...opts, mode: "por" });
      const porExact = check(s(), backend(b), { ...opts, mode: "por", storage: "exact" });
      for (const r of [red, por, porExact]) {
        assert.equal(r.verdict, full.verdict);
        if (full.verdict === "violated" && r.verdict === "violated")
          assert.equal(r.counterexample.property, full.counterexample.property);
      }
      if (full.verdict !== "verified") return;
      assert.deepEqual(sorted(por), sorted(full));
      assert.deepEqual(sorted(porExact), sorted(full));
      assert.deepEqual(sorted(red), sorted(full));
      // Sleep sets save transitions, never states: every reachable state is still visited.
      assert.equal(por.states, red.states);
      assert.equal(porExact.states, red.states);
      assert.ok(por.executions <= red.executions, `${por.executions} > ${red.executions}`);
    });

  it("saves executions where user steps commute (3 CPUs, 4 pages, xen)", () => {
    const s = scenario("scenarios/suite/c3p4.yaml");
    const red = check(s, backend("native"), { mode: "reduced" });
    const por = check(s, backend("native"), { mode: "por" });
    assert.equal(por.verdict, "verified");
    assert.equal(por.states, red.states);
    assert.ok(por.executions < red.executions * 0.9, `${por.executions} vs ${red.executions}`);
  });

  it("finds every mutant, with the property reduced exploration reports", () => {
    const cases: [() => Scenario, string][] = [
      [() => scenario("scenarios/mutants/protocol.yaml"), "naive"],
      [mutant("commit-after-unlock"), "native"],
      [mutant("skip-tlb-flush"), "native"],
      [mutant("missing-commit"), "native"],
      [() => scenario("scenarios/mutants/protocol.yaml"), "xen-broken-no-preserve-ad"],
      [() => scenario("scenarios/mutants/protocol.yaml"), "xen-broken-lazy-unflushed"],
    ];
    for (const [s, b] of cases) {
      const red = check(s(), backend(b), { mode: "reduced", minimize: false });
      const por = check(s(), backend(b), { mode: "por", minimize: false });
      assert.equal(por.verdict, "violated", b);
      assert.equal(red.verdict, "violated", b);
      if (por.verdict === "violated" && red.verdict === "violated")
        assert.equal(por.counterexample.property, red.counterexample.property, b);
    }
  });

  it("litmus scenarios keep their expected verdicts", () => {
    const dir = join(ROOT, "scenarios/litmus");
    for (const f of readdirSync(dir).filter((x) => x.endsWith(".yaml"))) {
      const s = scenario(`scenarios/litmus/${f}`);
      const m = /expect: (verified|violated)/.exec(s.description ?? "");
      if (m === null) continue;
      assert.equal(check(s, backend(s.backend), { mode: "por" }).verdict, m[1], f);
    }
  });
});

describe("visited-state storage", () => {
  it("fingerprints: found again, distinct keys kept apart, across growth", () => {
    const fp = new FingerprintStore(4);
    const k = (i: number) => KeyBuffer.of(i, i * 7);
    for (let i = 0; i < 5000; i++) assert.equal(fp.visit(k(i), i & 255), -1);
    assert.equal(fp.size, 5000);
    for (let i = 0; i < 5000; i++) assert.equal(fp.visit(k(i), 255), i & 255);
    // A revisit keeps the intersection of the payloads.
    assert.equal(fp.visit(k(3), 0b1001), 3);
    assert.equal(fp.visit(k(3), 0), 1);
    // Half full at most: 12 bytes a slot, so at most 48 bytes a state.
    assert.ok(fp.bytes() / fp.size <= 48, `${fp.bytes() / fp.size} bytes per state`);
    assert.equal(fp.fingerprints().length, 10000);
  });
  it("the fingerprint is 64 bits of a good hash: no collision among 400k similar keys", () => {
    const out = new Uint32Array(2);
    const seen = new Set<string>();
    const k = new KeyBuffer(2);
    const add = () => {
      k.fingerprint(out);
      seen.add(`${out[0]}:${out[1]}`);
    };
    for (let i = 0; i < 200_000; i++) {
      // Keys like a state's: small counters, PTE values, -1, of varying length.
      k.reset();
      for (const v of [1, i, 0, i % 7, 0x8000_0000 + (i >> 3), -1, i & 1]) k.push(v);
      add();
      k.reset();
      for (let b = 0; b < 18; b++) if ((i >> b) & 1) k.push(b);
      k.push(2 ** 40 * (i & 3) + 0x67);
      add();
    }
    assert.equal(seen.size, 400_000);
  });
  it("a key's text is one-to-one with its numbers, and its fingerprint follows it", () => {
    const values = [0, -0, 1, -1, 31, 32, 33, -32, -33, 1023, 1024, 2 ** 31, -(2 ** 31), 2 ** 32 + 5];
    values.push(2 ** 44 + 0x867, 2 ** 48, -(2 ** 48), 2 ** 48 + 1, 2 ** 52 + 3, 0.5, -1e-300);
    values.push(Number.NaN, 0 / 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
    const seqs: number[][] = [[]];
    for (const a of values) {
      seqs.push([a]);
      for (const b of values) seqs.push([a, b]);
    }
    seqs.push([1, 2, 3], [1, 2, 3, 0], [0, 1, 2, 3], [33, 1], [1, 33], [2 ** 40, 2 ** 40]);
    // Same numbers (-0 is 0, NaN is NaN), same text and fingerprint; else different texts.
    const canon = (xs: number[]) => JSON.stringify(xs.map((x) => (Number.isNaN(x) ? "NaN" : String(x))));
    const texts = new Map<string, string>();
    const fps = new Map<string, string>();
    const out = new Uint32Array(2);
    for (const xs of seqs) {
      const k = KeyBuffer.of(...xs);
      const t = k.text();
      assert.match(t, /^[!-~]*$/, "printable ASCII");
      assert.ok(!t.includes('"') && !t.includes("\\"), t);
      k.fingerprint(out);
      const c = canon(xs);
      const seen = texts.get(t);
      if (seen !== undefined) assert.equal(seen, c, `${c} and ${seen} share the text ${t}`);
      texts.set(t, c);
      const f = `${out[0]}:${out[1]}`;
      if (fps.has(c)) assert.equal(fps.get(c), f, c);
      fps.set(c, f);
    }
    // Lists and strings carry their length: no two splits of the same numbers meet.
    const a = new KeyBuffer(1);
    a.pushList([1, 2]);
    a.pushList([3]);
    const b = new KeyBuffer(1);
    b.pushList([1]);
    b.pushList([2, 3]);
    assert.notEqual(a.text(), b.text());
    const s = new KeyBuffer(1);
    s.pushString("ab");
    assert.deepEqual(
      Array.from({ length: s.length }, (_, i) => s.at(i)),
      [2, 97, 98],
    );
    // A long key (the text is written in pieces).
    const many = Array.from({ length: 5000 }, (_, i) => (i % 100 === 0 ? 0.25 * i : i * 2 ** 30));
    const texts1 = many.map((v) => KeyBuffer.of(v).text());
    assert.equal(KeyBuffer.of(...many).text(), texts1.join(""));
  });
  it("prints the birthday-bound collision probability", () => {
    assert.equal(fingerprintCollisionProbability(1), 0);
    const p = fingerprintCollisionProbability(1e6);
    assert.ok(p > 2.7e-8 && p < 2.8e-8, `${p}`); // 1e12 / 2 / 2^64
    assert.equal(fingerprintCollisionProbability(1e12), 1);
  });
  it("exact storage has no collisions and reports its keys", () => {
    const ex = new ExactStore();
    const a = KeyBuffer.of(5, -1);
    assert.equal(ex.visit(a, 1), -1);
    assert.equal(ex.visit(KeyBuffer.of(5, -1), 2), 1);
    assert.deepEqual(ex.keys(), [a.text()]);
    assert.equal(ex.visitText(a.text(), 0), 0);
    assert.equal(ex.collisionProbability(), 0);
  });
  it("exact and fingerprint storage search the same states (one key, two encodings)", () => {
    const cases: [string, string | undefined][] = [
      ["scenarios/suite/c2p4.yaml", "xen"],
      ["scenarios/suite/c3p2.yaml", "native"],
      ["scenarios/litmus/fork-cow-write.yaml", undefined],
      ["scenarios/litmus/mremap-vs-reclaim.yaml", undefined],
      ["scenarios/litmus/madv-free-vs-write.yaml", undefined],
      ["scenarios/litmus/arm64/strx-2swpptex-db.yaml", undefined],
      ["scenarios/arm64/mthp-batch-young.yaml", undefined],
    ];
    for (const [file, name] of cases) {
      const s = scenario(file);
      const b = backend(name ?? s.backend);
      for (const mode of ["reduced", "por"] as const) {
        const fp = check(s, b, { mode, collectFinalStates: true });
        const ex = check(s, b, { mode, storage: "exact", collectFinalStates: true });
        const what = `${file} ${mode}`;
        assert.equal(ex.storage, "exact");
        assert.equal(fp.verdict, ex.verdict, what);
        assert.equal(fp.states, ex.states, what);
        assert.ok(fp.states > 0 || file.includes("/arm64/"), what);
        assert.equal(fp.executions, ex.executions, what);
        assert.equal(fp.transitions, ex.transitions, what);
        assert.deepEqual([...(fp.finalStates ?? [])].sort(), [...(ex.finalStates ?? [])].sort(), what);
      }
    }
  });
  it("a check reports its storage, store size and collision probability", () => {
    const s = scenario("scenarios/suite/c2p2.yaml");
    const fp = check(s, backend("native"));
    const ex = check(s, backend("native"), { storage: "exact" });
    assert.equal(fp.storage, "fingerprint");
    assert.ok(fp.collisionProbability > 0 && fp.collisionProbability < 1e-15);
    assert.equal(ex.storage, "exact");
    assert.equal(ex.collisionProbability, 0);
    assert.equal(fp.states, ex.states);
  });
});

describe("shards", () => {
  it("base64 of fingerprints round-trips", () => {
    const a = new Uint32Array([0, 1, 0xffffffff, 0x12345678, 7]);
    assert.deepEqual([...fromBase64(toBase64(a))], [...a]);
  });
  const cases: [string, () => Scenario, string, "reduced" | "por" | "exhaustive"][] = [
    ["c3p2", () => scenario("scenarios/suite/c3p2.yaml"), "xen", "por"],
    ["c3p2", () => scenario("scenarios/suite/c3p2.yaml"), "native", "reduced"],
    ["c2p4", () => scenario("scenarios/suite/c2p4.yaml"), "native", "exhaustive"],
    ["c3p2", () => scenario("scenarios/suite/c3p2.yaml"), "naive", "por"],
  ];
  for (const [name, s, b, mode] of cases)
    it(`${name} on ${b}, ${mode}: merged shards give one process's verdict, states and final states`, () => {
      const one = check(s(), backend(b), { mode, collectFinalStates: true, minimize: false });
      const plan = planShards(s(), backend(b), 6, { mode, storage: "fingerprint" });
      assert.ok(plan.shards.length >= 2, `${plan.shards.length} shards`);
      const results = plan.shards.map((sh) =>
        exploreShard(s(), backend(b), sh, { mode, storage: "fingerprint" }),
      );
      // Order of arrival does not matter.
      const merged = mergeShards(s(), backend(b), plan, results.slice().reverse(), { minimize: false });
      assert.equal(merged.verdict, one.verdict);
      if (one.verdict === "violated" && merged.verdict === "violated") {
        assert.equal(merged.counterexample.property, one.counterexample.property);
        return;
      }
      assert.equal(merged.states, one.states);
      assert.deepEqual(sorted(merged), sorted(one));
      // JSON-safe: a shard result survives a round trip through a queue.
      assert.deepEqual(JSON.parse(JSON.stringify(results[0])), results[0]);
    });
  it("a missing shard result makes the merged verdict incomplete, never verified", () => {
    const s = scenario("scenarios/suite/c3p2.yaml");
    const plan = planShards(s, backend("native"), 4, { mode: "por", storage: "fingerprint" });
    const results = plan.shards
      .slice(1)
      .map((sh) => exploreShard(s, backend("native"), sh, { mode: "por", storage: "fingerprint" }));
    assert.equal(mergeShards(s, backend("native"), plan, results).verdict, "incomplete");
  });
  it("a prefix that names an impossible move is an error naming the decision", () => {
    const s = scenario("scenarios/suite/c2p2.yaml");
    assert.throws(() => check(s, backend("native"), { prefix: [7] }), /decision 1: it chooses agent 7/);
  });
});

describe("check --workers, --shards and --shard on the command line", () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, "dist/cli/main.js"), ...args], { encoding: "utf8", cwd: ROOT });
  const states = (out: string) => Number(/(\d+) states,/.exec(out)?.[1]);
  it("2 worker threads: the single thread's verdict and distinct states", () => {
    const args = ["check", "scenarios/suite/c3p2.yaml", "--backend", "xen", "--mode", "por"];
    const one = cli(...args, "--workers", "1");
    const two = cli(...args, "--workers", "2");
    assert.equal(one.status, 0, one.stderr);
    assert.equal(two.status, 0, two.stderr);
    assert.equal(states(two.stdout), states(one.stdout));
    const bad = cli("check", "--workers", "2", "--mode", "exhaustive");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--workers 2 needs --mode reduced or por/);
  });
  it("shards print stamped tokens; each explores its subtree; another scenario's token is refused", () => {
    const sh = cli(
      "check",
      "scenarios/suite/c3p2.yaml",
      "--backend",
      "native",
      "--mode",
      "por",
      "--shards",
      "4",
    );
    assert.equal(sh.status, 0, sh.stderr);
    const tokens = sh.stdout.trim().split("\n");
    assert.ok(tokens.length >= 4, sh.stdout);
    let sum = 0;
    for (const t of tokens.slice(0, 3)) {
      const r = cli(
        "check",
        "scenarios/suite/c3p2.yaml",
        "--backend",
        "native",
        "--mode",
        "por",
        "--shard",
        t,
      );
      assert.equal(r.status, 0, r.stderr);
      sum += states(r.stdout);
    }
    assert.ok(sum > 0);
    const wrong = cli("check", "scenarios/suite/c2p2.yaml", "--backend", "native", "--shard", tokens[0]);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /--shard: /);
  });
});
