import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getBackend } from "../backends/registry.js";
import { check } from "../check/explore.js";
import { loadScenarioText } from "../scenario/load.js";
import {
  type Bug,
  factKeys,
  judgeBuggy,
  judgeFixed,
  loadBugText,
  MODEL_CAPABILITIES,
  missingModel,
  type VariantVerdict,
} from "./catalogue.js";

const DIR = fileURLToPath(new URL("../../scenarios/bugs/", import.meta.url));
const NAMES = readdirSync(DIR).filter((n) => existsSync(join(DIR, n, "bug.yaml")));

function load(name: string): Bug {
  const file = join(DIR, name, "bug.yaml");
  const r = loadBugText(readFileSync(file, "utf8"), file, name);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`).join("\n"));
  return r.bug;
}

const MINIMAL = `schema: ptesim.bug/1
name: demo-bug
title: "a demo"
history: protocol-mutant
year: 2008
arch: x86-64
system: linux
property: lost-dirty
fix: { repo: torvalds/linux, commit: 1ea0704e0da65b2b46f9142ff1391163aac24060, title: "t" }
verified: { title: true, year: true, arch: true, fix.commit: true, fix.title: true }
sources:
  - { where: "somewhere", what: "something" }
explanation: "A plain read then a plain store of a live PTE loses the D bit another CPU's MMU sets in between."
model:
  needs: []
  restated: "naive against xen"
  scenario: scenario.yaml
  buggy: { backend: naive }
  fixed: { backend: xen }
`;

function errorsOf(text: string, dir = "demo-bug"): string[] {
  const r = loadBugText(text, "bug.yaml", dir);
  assert.equal(r.ok, false, "expected errors");
  return r.ok ? [] : r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
}

describe("the bug catalogue (scenarios/bugs)", () => {
  it("has the entries the issue asks for, plus at least four found in history", () => {
    assert.ok(NAMES.length >= 11, `${NAMES.length} entries`);
    for (const n of [
      "xen-2008-plain-rmw",
      "x86-saved-dirty-chg-mask",
      "arm64-dbm-set-access-flags",
      "freebsd-pmap-protect-fork",
      "loongarch-ptw-wrprotect",
      "xen-no-preserve-ad",
      "xen-lazy-batch-after-unlock",
    ])
      assert.ok(NAMES.includes(n), n);
  });
  for (const name of NAMES)
    it(`${name}/bug.yaml is valid and says for every fact whether it was verified`, () => {
      const b = load(name);
      for (const k of factKeys(b)) assert.equal(typeof b.verified[k], "boolean", k);
      const scenario = b.model.scenario;
      if (scenario !== undefined) assert.ok(existsSync(join(DIR, name, scenario)), `${scenario} exists`);
    });
  it("the README's table lists every entry", () => {
    const readme = readFileSync(join(DIR, "README.md"), "utf8");
    for (const n of NAMES) assert.match(readme, new RegExp(`\\| \`${n}\` \\|`), n);
  });
  it("today's model runs the Xen PV entries, FreeBSD's pmap_protect, soft-dirty, NUMA, arm64's DBM race, the three arch-helper entries, zap's and mremap's flushes (2014, 2016, 2018); the others wait for other architectures, KVM, ...", () => {
    const runnable = NAMES.filter((n) => missingModel(load(n)).length === 0).sort();
    assert.deepEqual(runnable, [
      "arm64-dbm-set-access-flags",
      "freebsd-pmap-protect-fork",
      "loongarch-ptw-wrprotect",
      "mprotect-softdirty-writable",
      "mremap-flush-before-unlock",
      "mremap-page-cleaning-race",
      "numa-migration-flush-race",
      "softdirty-write-notify",
      "sparc64-mkdirty-hw-writable",
      "x86-saved-dirty-chg-mask",
      "xen-2008-plain-rmw",
      "xen-lazy-batch-after-unlock",
      "xen-no-preserve-ad",
      "zap-flush-under-ptl",
    ]);
    // LoongArch's bug runs restated on arm64 (the model has no LoongArch), and says so.
    const loongarch = load("loongarch-ptw-wrprotect");
    assert.ok(
      loongarch.model.needs.includes("arch:arm64") && !loongarch.model.needs.includes("arch:loongarch"),
    );
    assert.match(loongarch.model.restated, /^RESTATED ON ARM64/);
    // An arch-helper variant that does not exist keeps an entry waiting.
    const unknown = { ...loongarch, model: { ...loongarch.model, buggy: { archHelper: "no-such-helper" } } };
    assert.deepEqual(missingModel(unknown), ["arch-helper variant no-such-helper"]);
    // arm64, mixed HA/DBM agents (#10) and the fault handler at fine grain (#9) all exist.
    assert.deepEqual(missingModel(load("arm64-dbm-set-access-flags")), []);
  });
});

describe("bug.yaml validation", () => {
  it("accepts a minimal entry", () => {
    assert.equal(loadBugText(MINIMAL, "bug.yaml", "demo-bug").ok, true);
  });
  it("locates unknown keys and wrong types", () => {
    const e = errorsOf(
      MINIMAL.replace("arch: x86-64", "arch: x86-64\ncolour: red").replace("year: 2008", "year: soon"),
    );
    assert.ok(
      e.some((m) => /^7:1: colour: unknown key "colour"$/.test(m)),
      e.join("\n"),
    );
    assert.ok(
      e.some((m) => /^5:7: year: expected a whole number, got the string "soon"$/.test(m)),
      e.join("\n"),
    );
  });
  it("the name must be the directory's", () => {
    assert.match(errorsOf(MINIMAL, "other").join("\n"), /name: must equal the directory's name "other"/);
  });
  it("every stated fact needs a verified: entry, and no more", () => {
    const missing = errorsOf(MINIMAL.replace("fix.title: true }", "fix.title: true, fixes.commit: false }"));
    assert.match(missing.join("\n"), /"fixes.commit" is not a fact this entry states/);
    const silent = errorsOf(MINIMAL.replace(" fix.commit: true,", ""));
    assert.match(silent.join("\n"), /verified: says nothing about "fix.commit"/);
  });
  it("a property the checker does not know must be listed as a need", () => {
    const e = errorsOf(MINIMAL.replace("property: lost-dirty", "property: corrupt-pte"));
    assert.match(e.join("\n"), /"corrupt-pte" is not a checker property/);
    const ok = MINIMAL.replace("property: lost-dirty", "property: corrupt-pte").replace(
      "needs: []",
      "needs: [property:corrupt-pte]",
    );
    assert.equal(loadBugText(ok, "bug.yaml", "demo-bug").ok, true);
  });
  it("a rule goes with transaction-contract and must be a contract rule", () => {
    assert.match(
      errorsOf(MINIMAL.replace("property: lost-dirty", "property: lost-dirty\nrule: x")).join("\n"),
      /a rule goes only with/,
    );
    const bad = MINIMAL.replace("property: lost-dirty", "property: transaction-contract\nrule: nope");
    assert.match(errorsOf(bad).join("\n"), /unknown contract rule/);
  });
  it("a shipped bug names its fix; a commit id is hex", () => {
    const e = errorsOf(
      MINIMAL.replace("history: protocol-mutant", "history: shipped")
        .replace(/commit: 1ea0[0-9a-f]+/, "commit: null")
        .replace(" fix.commit: true,", ""),
    );
    assert.match(e.join("\n"), /a shipped bug names the commit that fixed it/);
    assert.match(
      errorsOf(MINIMAL.replace(/commit: 1ea0[0-9a-f]+/, "commit: HEAD")).join("\n"),
      /fix.commit: a commit id/,
    );
  });
  it("YAML syntax errors and non-mappings are located", () => {
    assert.match(errorsOf("name: [unclosed\n").join("\n"), /^\d+:\d+: YAML: /);
    assert.match(errorsOf("- a list\n").join("\n"), /a bug entry is a YAML mapping/);
  });
});

describe("bug zoo: what the model can run, and the verdicts history expects", () => {
  const bug = (over: Partial<Bug["model"]>): Bug => {
    const r = loadBugText(MINIMAL, "bug.yaml", "demo-bug");
    assert.ok(r.ok);
    return { ...r.bug, model: { ...r.bug.model, ...over } };
  };
  it("capabilities the model lacks, and variants that do not exist, are what is missing", () => {
    assert.deepEqual(missingModel(bug({})), []);
    assert.ok(MODEL_CAPABILITIES.has("xen:pv"));
    assert.deepEqual(missingModel(bug({ needs: ["xen:pv", "kvm:shadow-paging"] })), ["kvm:shadow-paging"]);
    assert.deepEqual(missingModel(bug({ buggy: { kernel: "skip-tlb-flush" } })), []);
    assert.deepEqual(missingModel(bug({ buggy: { kernel: "fork-rmw" } })), ["kernel variant fork-rmw"]);
    assert.deepEqual(missingModel(bug({ fixed: { archHelper: "x" } })), ["arch-helper variant x"]);
  });
  const v = (
    verdict: VariantVerdict["verdict"],
    property: string | null = null,
    rule: string | null = null,
  ) => ({
    verdict,
    property,
    rule,
    states: 1,
    executions: 1,
    elapsedMs: 1,
  });
  it("the buggy variant must be VIOLATED with the entry's property", () => {
    const b = bug({});
    assert.equal(judgeBuggy(b, v("violated", "lost-dirty")), null);
    assert.match(judgeBuggy(b, v("violated", "lost-accessed")) ?? "", /expected lost-dirty/);
    assert.match(judgeBuggy(b, v("verified")) ?? "", /not found/);
    assert.match(judgeBuggy(b, v("incomplete")) ?? "", /INCOMPLETE/);
    const c = { ...b, property: "transaction-contract", rule: "open-at-unlock" };
    assert.match(judgeBuggy(c, v("violated", "transaction-contract", "nested-start")) ?? "", /expected rule/);
  });
  it("the fixed variant must be VERIFIED", () => {
    assert.equal(judgeFixed(v("verified")), null);
    assert.match(judgeFixed(v("violated", "lost-dirty")) ?? "", /VIOLATED lost-dirty/);
    assert.match(judgeFixed(v("incomplete")) ?? "", /INCOMPLETE/);
  });
});

describe("bug zoo: the seed's history, as the model sees it", () => {
  // The seed entry's history_note: before 2008 mprotect used ptep_get_and_clear (under Xen PV a
  // trapped xchg, then a trapped store), which was correct; only a plain read-modify-write loses D.
  const file = join(DIR, "xen-2008-plain-rmw/scenario.yaml");
  const r = loadScenarioText(readFileSync(file, "utf8"), file);
  assert.ok(r.ok);
  for (const [backend, verdict] of [
    ["xen-legacy", "verified"],
    ["xen", "verified"],
    ["naive", "violated"],
  ] as const)
    it(`the seed's scenario on ${backend}: ${verdict}`, () => {
      const b = getBackend(backend);
      assert.ok(b);
      const backendOptions = (b.optionsSchema?.parse({}) ?? {}) as Record<string, unknown>;
      const res = check({ ...r.scenario, backend, backendOptions }, b);
      assert.equal(res.verdict, verdict);
      if (res.verdict === "violated") assert.equal(res.counterexample.property, "lost-dirty");
    });
});
