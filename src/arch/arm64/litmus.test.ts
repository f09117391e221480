// The arm64 litmus scenarios (scenarios/litmus/arm64: the hardware-update family of herdtools7's
// catalogue/aarch64-VMSA restated): `ptesim check` decides each, and its verdict is the one the
// file expects; the litmus language's errors are located.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getBackend } from "../../backends/registry.js";
import { check } from "../../check/explore.js";
import { loadScenarioText } from "../../scenario/load.js";
import { scenarioLitmusVerdict } from "../../sim/litmus.js";
import type { Scenario } from "../../sim/scenario.js";
import { herdMatches, herdPte, isCondError, parseCond, parseDescStep } from "./litmus.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DIR = join(ROOT, "scenarios/litmus/arm64");

function loadFile(f: string): Scenario {
  const r = loadScenarioText(readFileSync(join(DIR, f), "utf8"), f);
  assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join("\n"));
  return r.scenario;
}

function decide(s: Scenario) {
  const b = getBackend(s.backend);
  assert.ok(b !== undefined && b.arch === "arm64", s.backend);
  const r = check(s, b);
  assert.ok(r.verdict === "verified" || r.verdict === "violated", r.verdict);
  return { r, verdict: scenarioLitmusVerdict(s.litmus!, r.verdict) };
}

describe("arm64 litmus scenarios (herdtools7 catalogue/aarch64-VMSA, hardware-update family)", () => {
  const files = readdirSync(DIR).filter((x) => x.endsWith(".yaml"));
  it("are there: the family's restatements and the kernel-level ones", () => {
    assert.ok(files.length >= 15, `${files.length} files`);
  });
  for (const f of files)
    it(`${f}: check reaches the expected verdict`, () => {
      const s = loadFile(f);
      const l = s.litmus;
      assert.ok(l !== undefined, `${f} has a litmus section`);
      const { r, verdict } = decide(s);
      assert.equal(verdict, l.expect, `${l.test}: ${l.exists ?? l.forall}`);
      if (r.verdict === "violated") {
        assert.equal(r.counterexample.property, "litmus-outcome");
        // The counterexample names the final state in herd's terms.
        assert.match(r.counterexample.message, /pte_x=\(af:[01],db:[01],dbm:[01],valid:[01]\)/);
      }
    });

  it("the plain load/store restatement reaches the lost-dirty outcome: x written, X8 clean, descriptor replaced", () => {
    const s = loadFile("strx-ldr-strptex-db.yaml");
    const lost: Scenario = {
      ...s,
      litmus: { ...s.litmus!, forall: undefined, exists: "x=1 /\\ 1:X8=(db:0) /\\ pte_x=(valid:0)" },
    };
    assert.equal(decide(lost).verdict, "allowed");
    // ... which get-and-clear (the swap) forbids.
    const swp = loadFile("strx-swpptex-db5.yaml");
    assert.equal(decide(swp).verdict, "forbidden");
  });

  it("the kernel-level pair differ only in the backend: today's helper keeps the dirty update", () => {
    const now = loadFile("linux-set-access-flags-dbm.yaml");
    const pre = loadFile("linux-set-access-flags-pre-2018-dbm.yaml");
    assert.deepEqual(
      {
        ...now,
        name: "",
        description: "",
        backend: "",
        litmus: { ...now.litmus!, test: "", expect: "allowed" },
      },
      {
        ...pre,
        name: "",
        description: "",
        backend: "",
        litmus: { ...pre.litmus!, test: "", expect: "allowed" },
      },
    );
    assert.equal(decide(now).verdict, "forbidden");
    assert.equal(decide(pre).verdict, "allowed");
  });
});

describe("the litmus language", () => {
  it("herd's fields: defaults valid:1 af:1 db:1 dbm:0", () => {
    const v = herdPte({}, 0x42);
    assert.ok(herdMatches(v, { valid: 1, af: 1, db: 1, dbm: 0 }));
    assert.ok(herdMatches(herdPte({ db: 0, dbm: 1 }, 0x42), { db: 0, dbm: 1, valid: 1 }));
    assert.ok(!herdMatches(herdPte({ af: 0 }, 0x42), { af: 1 }));
  });
  it("conditions: /\\ binds tighter than \\/, ~ and parentheses; errors give the column", () => {
    const c = parseCond("x=1 \\/ x=0 /\\ ~fault(P0,x)");
    assert.ok(!isCondError(c) && c.t === "or" && c.b.t === "and" && c.b.b.t === "not");
    const e = parseCond("x=1 /\\ pte_x=(af:2)");
    assert.ok(isCondError(e));
    assert.match(e.message, /not a descriptor field/);
    const e2 = parseCond("x=1 /\\ ");
    assert.ok(isCondError(e2) && e2.col === 8, JSON.stringify(e2));
  });
  it("descriptor steps: operands checked", () => {
    assert.deepEqual(parseDescStep("swp pte x:0 (valid:0) -> X8"), {
      kind: "desc",
      op: "swp",
      region: "x",
      page: 0,
      fields: { valid: 0 },
      reg: 8,
    });
    assert.match(parseDescStep("stclr pte x:0 db") as string, /AP\[2\] inverted/);
    assert.match(parseDescStep("str pte x:0 -> X1") as string, /needs the descriptor/);
    assert.match(parseDescStep("ldr pte x:0") as string, /needs its register/);
    assert.equal(parseDescStep("w x:0"), undefined);
  });
  it("scenario errors are located: litmus on x86-64, a bad condition, an unknown location, steps outside litmus", () => {
    const base = readFileSync(join(DIR, "strx-swpptex-db.yaml"), "utf8");
    const errs = (text: string) => {
      const r = loadScenarioText(text, "t.yaml");
      assert.ok(!r.ok);
      return r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join("\n");
    };
    assert.match(
      errs(base.replace("arch: arm64", "arch: x86-64").replace(/features:.*\n/, "")),
      /litmus tests are arm64/,
    );
    assert.match(
      errs(base.replace("x=0 /\\", "x=0 /\\ /\\")),
      /^\d+:\d+ litmus\.exists: column \d+ of the condition: expected a condition/m,
    );
    assert.match(errs(base.replace("fault(P0,x)", "fault(P0,y)")), /names "y": no such region/);
    assert.match(errs(base.replace("fault(P0,x)", "fault(P5,x)")), /names P5: there are 2 programs/);
    assert.match(
      errs(base.replace(/litmus:[\s\S]*programs:/, "programs:")),
      /descriptor operations belong to litmus scenarios/,
    );
    assert.match(
      errs(base.replace('pte_x: "(db:0,dbm:1)"', 'pte_x: "(db:0,dirty:1)"')),
      /"dirty" is not a descriptor field/,
    );
  });
});
