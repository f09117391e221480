import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { KernelMutant } from "../kernel/kernel.js";
import { defaultCheckScenario, type Scenario } from "../sim/scenario.js";
import { check, replayPath } from "./explore.js";
import { decodeReplay, encodeReplay } from "./replay.js";
import { backendNamed, scenarioOf } from "./test-support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const scenario = (rel: string): Scenario =>
  scenarioOf(readFileSync(join(ROOT, rel), "utf8"), join(ROOT, rel));
const backend = backendNamed;

describe("reduced exploration agrees with plain exhaustive exploration", () => {
  const cases: [string, string][] = [
    ["scenarios/suite/c2p2.yaml", "native"],
    ["scenarios/suite/c2p2.yaml", "naive"],
    ["scenarios/suite/c2p4.yaml", "cmpxchg"],
    ["scenarios/suite/c2p2.yaml", "xen"],
    ["scenarios/suite/c2p2.yaml", "xen-broken-no-preserve-ad"],
    ["scenarios/litmus/swap-vs-dirty.yaml", "xen-legacy"],
    ["scenarios/litmus/two-atomic-updates.yaml", "cmpxchg"],
    ["scenarios/litmus/plain-rmw-vs-accessed.yaml", "naive"],
  ];
  for (const [file, b] of cases)
    it(`${file} on ${b}: same verdict, property and reachable final states`, () => {
      const s = scenario(file);
      const full = check(s, backend(b), { mode: "exhaustive", collectFinalStates: true, minimize: false });
      const red = check(s, backend(b), { mode: "reduced", collectFinalStates: true, minimize: false });
      assert.equal(red.verdict, full.verdict);
      if (full.verdict === "violated" && red.verdict === "violated")
        assert.equal(red.counterexample.property, full.counterexample.property);
      if (full.verdict === "verified") {
        assert.deepEqual([...red.finalStates!].sort(), [...full.finalStates!].sort());
        assert.ok(red.executions <= full.executions, "reduction never explores more");
      }
    });
  // Kernel variants where reduced and por once disagreed with exhaustive, or that exercise the
  // checker's hypervisor scopes (multicalls, PRESERVE_AD retries) and change_pte_range's
  // checkpoints: a cut execution whose kernel cleanup (a generator's finally releasing a PTE
  // lock) reported a contract violation was taken for a violating run.
  const kernelCases: [string, string, 1 | 4, "classic" | "nested"][] = [
    ["scenarios/litmus/softdirty-writenotify.yaml", "xen", 1, "nested"],
    ["scenarios/litmus/softdirty-writenotify.yaml", "xen-legacy", 4, "classic"],
    ["scenarios/litmus/softdirty-writenotify.yaml", "xen-broken-lazy-unflushed", 4, "classic"],
    ["scenarios/suite/c3p2.yaml", "xen", 1, "nested"],
    ["scenarios/suite/c2p4.yaml", "xen", 4, "classic"],
    ["scenarios/suite/c2p4.yaml", "xen-legacy", 1, "classic"],
  ];
  for (const [file, b, maxBatch, lazyRules] of kernelCases)
    it(`${file} on ${b} (maxBatch ${maxBatch}, ${lazyRules} lazy rules): reduced and por as exhaustive`, () => {
      const base = scenario(file);
      const s = { ...base, kernel: { ...base.kernel, maxBatch, lazyRules } };
      const full = check(s, backend(b), { mode: "exhaustive", collectFinalStates: true, minimize: false });
      for (const mode of ["reduced", "por"] as const) {
        const red = check(s, backend(b), { mode, collectFinalStates: true, minimize: false });
        assert.equal(red.verdict, full.verdict, mode);
        if (full.verdict === "verified")
          assert.deepEqual([...red.finalStates!].sort(), [...full.finalStates!].sort(), mode);
      }
    });
  it("reduction explores far fewer executions on a 3-CPU scenario", () => {
    const s = scenario("scenarios/suite/c3p2.yaml");
    const red = check(s, backend("native"), { mode: "reduced" });
    assert.equal(red.verdict, "verified");
    assert.ok(red.executions < 2000, `${red.executions} executions`);
  });
});

describe("mutant suite: every broken variant is caught by the property it breaks", () => {
  const base = () => scenario("scenarios/mutants/protocol.yaml");
  const withMutant = (m: KernelMutant): Scenario => {
    const s = base();
    return { ...s, kernel: { ...s.kernel, mutant: m } };
  };
  const cases: { name: string; s: () => Scenario; b: string; property: string; rule?: string }[] = [
    { name: "naive read-modify-write", s: base, b: "naive", property: "lost-dirty" },
    {
      name: "commit after unlock",
      s: () => withMutant("commit-after-unlock"),
      b: "native",
      property: "transaction-contract",
      rule: "open-at-unlock",
    },
    {
      name: "missing TLB flush before return",
      s: () => withMutant("skip-tlb-flush"),
      b: "native",
      property: "stale-writable-tlb",
    },
    // The entry stays cleared: mprotect took a frame away (frame conservation), before any
    // access finds the data gone (data-loss follows in the same run: trust.test.ts).
    {
      name: "missing commit",
      s: () => withMutant("missing-commit"),
      b: "native",
      property: "unexpected-change",
    },
    {
      name: "Xen commit without PRESERVE_AD",
      s: base,
      b: "xen-broken-no-preserve-ad",
      property: "lost-dirty",
    },
    {
      name: "Xen lazy batch not flushed before unlock",
      s: base,
      b: "xen-broken-lazy-unflushed",
      property: "transaction-contract",
      rule: "commit-not-applied-at-unlock",
    },
  ];
  for (const c of cases)
    it(`${c.name} -> ${c.property}`, () => {
      const r = check(c.s(), backend(c.b));
      assert.equal(r.verdict, "violated");
      if (r.verdict !== "violated") return;
      assert.equal(r.counterexample.property, c.property);
      if (c.rule) assert.equal(r.counterexample.rule, c.rule);
      // The printed replay reproduces the same violation exactly.
      const path = decodeReplay(r.counterexample.replay);
      assert.ok(Array.isArray(path));
      const again = replayPath(c.s(), backend(c.b), path as number[], true);
      assert.equal(again.violations[0]?.property, c.property);
    });
  for (const b of ["native", "cmpxchg", "xen", "xen-legacy"])
    it(`correct backend ${b} is verified on the same scenario`, () => {
      assert.equal(check(base(), backend(b)).verdict, "verified");
    });
});

describe("litmus scenarios", () => {
  const dir = join(ROOT, "scenarios/litmus");
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".yaml")))
    it(`${f} has its expected verdict`, () => {
      const s = scenario(`scenarios/litmus/${f}`);
      const m = /expect: (verified|violated(?: ([a-z-]+))?)/.exec(s.description ?? "");
      assert.ok(m, `${f} states "expect: ..." in its description`);
      const r = check(s, backend(s.backend));
      assert.equal(r.verdict, m[1].startsWith("violated") ? "violated" : "verified");
      if (r.verdict === "violated" && m[2]) assert.equal(r.counterexample.property, m[2]);
    });
});

describe("checker runs", () => {
  it("are deterministic: same scenario, same verdict and counts", () => {
    const s = defaultCheckScenario();
    const a = check(s, backend("native"));
    const b = check(s, backend("native"));
    assert.deepEqual(
      [a.verdict, a.executions, a.states, a.transitions],
      [b.verdict, b.executions, b.states, b.transitions],
    );
  });
  it("end with an explicit incomplete verdict at a bound, never a false verified", () => {
    const s = scenario("scenarios/suite/c3p2.yaml");
    const r = check(s, backend("native"), { maxExecutions: 10 });
    assert.equal(r.verdict, "incomplete");
    if (r.verdict === "incomplete") assert.equal(r.reason, "max-executions");
    let t = 0;
    const r2 = check(s, backend("native"), { maxSeconds: 1, now: () => (t += 100) });
    assert.equal(r2.verdict, "incomplete");
    if (r2.verdict === "incomplete") assert.equal(r2.reason, "max-seconds");
  });
  it("shortens counterexamples: no user move in it can be dropped", () => {
    const s = scenario("scenarios/suite/c3p4.yaml");
    const r = check(s, backend("naive"));
    assert.equal(r.verdict, "violated");
    if (r.verdict !== "violated") return;
    const users = r.counterexample.timeline.filter((e) => e.actor === "user");
    assert.ok(users.length <= 3, `${users.length} user events on the page`);
  });
  it("needs explicit programs", () => {
    const s = { ...defaultCheckScenario(), programs: undefined };
    assert.throws(() => check(s, backend("native")), /programs/);
  });
});

describe("replay tokens", () => {
  it("round-trip, with run-length encoding of long runs", () => {
    const path = [0, 0, 0, 0, 0, 0, 1, 2, 0, 1, ...Array(5000).fill(0), 3];
    const t = encodeReplay(path);
    assert.ok(t.length < 40, t);
    assert.deepEqual(decodeReplay(t), path);
  });
  it("reject malformed tokens with a reason", () => {
    assert.match(decodeReplay("x") as string, /starts with/);
    assert.match(decodeReplay("r1.A*") as string, /unexpected character/);
    assert.match(decodeReplay("r1.~A") as string, /malformed run/);
  });
});

describe("restarting executions from a saved simulation", () => {
  const cases: [string, string][] = [
    ["scenarios/suite/c3p2.yaml", "native"],
    ["scenarios/suite/c2p4.yaml", "xen"],
    ["scenarios/suite/c2p2.yaml", "xen-legacy"],
    ["scenarios/mutants/protocol.yaml", "cmpxchg"],
    ["scenarios/mutants/protocol.yaml", "naive"],
    ["scenarios/litmus/aging-vs-rmw.yaml", "native"],
  ];
  for (const [file, b] of cases)
    it(`${file} on ${b}: restoring explores exactly what rebuilding does`, () => {
      const s = scenario(file);
      const fresh = check(s, backend(b), { rebuild: true, collectFinalStates: true, minimize: false });
      const restored = check(s, backend(b), { collectFinalStates: true, minimize: false });
      assert.deepEqual(
        [
          restored.verdict,
          restored.executions,
          restored.states,
          restored.transitions,
          restored.replayedDecisions,
        ],
        [fresh.verdict, fresh.executions, fresh.states, fresh.transitions, fresh.replayedDecisions],
      );
      // Every execution but the first returns to a stack node by re-taking its prefix's decisions.
      if (fresh.executions > 1)
        assert.ok(fresh.replayedDecisions! > 0 && fresh.replayedDecisions! < fresh.transitions);
      assert.deepEqual([...restored.finalStates!].sort(), [...fresh.finalStates!].sort());
      if (fresh.verdict === "violated" && restored.verdict === "violated")
        assert.deepEqual(restored.counterexample.choices, fresh.counterexample.choices);
    });
});
