// arm64 end to end: the scenario files under scenarios/arm64 run through the generic kernel,
// the checker and the oracle with the arm64 machine and backends, each with the verdict its
// description states; and the scenario keys that select the architecture fail where they
// make no sense, located at the offending line and column.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getBackend } from "../../backends/registry.js";
import { check } from "../../check/explore.js";
import { resolveBackend, withBackend } from "../../cli/commands.js";
import { loadScenarioText } from "../../scenario/load.js";
import { checkDocument, runDocument } from "../../sim/documents.js";
import { runScenario } from "../../sim/simulation.js";
import { arm64Cycles } from "./costs.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DIR = join(ROOT, "scenarios/arm64");

function load(text: string) {
  return loadScenarioText(text, "t.yaml");
}

describe("arm64 scenarios", () => {
  for (const f of readdirSync(DIR).filter((x) => x.endsWith(".yaml")))
    it(`${f} has its expected verdict`, () => {
      const r = load(readFileSync(join(DIR, f), "utf8"));
      assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("\n"));
      const s = r.scenario;
      assert.equal(s.arch, "arm64");
      const m = /expect: (verified|violated(?: ([a-z-]+))?)/.exec(s.description ?? "");
      assert.ok(m, `${f} states "expect: ..." in its description`);
      const b = getBackend(s.backend);
      assert.ok(b !== undefined && b.arch === "arm64");
      // mthp-refold-batch: reduced mode restores a saved state for each of its ~3,000
      // executions (4 ms each on a loaded machine); exhaustive replays them at 0.7 ms.
      const c = check(s, b, f === "mthp-refold-batch.yaml" ? { mode: "exhaustive" } : {});
      assert.equal(c.verdict, m[1].startsWith("violated") ? "violated" : "verified");
      if (c.verdict === "violated" && m[2] !== undefined) {
        assert.equal(c.counterexample.property, m[2]);
        // The counterexample prints arm64 descriptors, and its document names arm64's bits.
        assert.match(c.counterexample.message, /oa 0x[0-9a-f]+ VALID/);
        const doc = checkDocument(c, {
          scenario: s.name,
          file: f,
          backend: b.name,
          mode: "reduced",
          cpus: s.cpus,
          arch: s.arch,
          reproduce: null,
        });
        assert.equal(doc.machine.arch, "arm64");
        assert.ok(doc.machine.pteBits.some((x) => x.name === "DBM" && x.bit === 51));
      }
    });

  it("seeded runs on arm64 drive the arm64 machine: hardware DBM/AF updates, no violation", () => {
    const r = load(readFileSync(join(DIR, "dbm-vs-mprotect.yaml"), "utf8"));
    assert.ok(r.ok);
    let hw = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const res = runScenario({ ...r.scenario, seed }, getBackend("arm64")!, { trace: false });
      assert.deepEqual(res.violations, [], `seed ${seed}`);
      hw += res.counters.hw_ad_update ?? 0;
    }
    assert.ok(hw > 0, "some run made a hardware descriptor update");
  });

  it("a run's ledger (run --json counters) holds the broadcast TLBIs and DSBs, costed by the arm64 table", () => {
    const r = load(readFileSync(join(DIR, "dbm-vs-mprotect.yaml"), "utf8"));
    assert.ok(r.ok);
    const res = runScenario(r.scenario, getBackend("arm64")!, { trace: false });
    const c = res.counters;
    // mprotect of 2 pages: DSB ISHST, a TLBI per page, DSB ISH (flush_tlb_range).
    assert.deepEqual([c.dsb_ishst, c.tlbi_va, c.dsb_ish], [1, 2, 1]);
    const doc = runDocument(res, {
      file: "dbm-vs-mprotect.yaml",
      reproduce: "",
      sweep: null,
      arch: "arm64",
      cpus: 3,
    });
    assert.equal(doc.counters.tlbi_va, 2);
    assert.equal(res.cycles, arm64Cycles(c));
    const dearer = runScenario({ ...r.scenario, costs: { dsb_ish: 5000 } }, getBackend("arm64")!, {
      trace: false,
    });
    assert.equal(dearer.cycles - res.cycles, 4000);
  });
});

describe("a user's arm64 backend module (examples/my-arm64-backend.mjs)", () => {
  it("loads with its arch, runs behind the guard with ctx.arm64, and is verified on the arm64 scenarios", async () => {
    const b = await resolveBackend(join(ROOT, "examples/my-arm64-backend.mjs"));
    assert.equal(b.arch, "arm64");
    for (const f of ["dbm-vs-mprotect.yaml", "no-hafdbs-faults.yaml"]) {
      const r = load(readFileSync(join(DIR, f), "utf8"));
      assert.ok(r.ok);
      assert.equal(check({ ...r.scenario, backend: b.name }, b).verdict, "verified", f);
    }
    const x = load("regions:\n  - { name: p, pages: 1 }\n");
    assert.ok(x.ok);
    assert.throws(() => withBackend(x.scenario, b), /runs on arm64, but the scenario is x86-64/);
  });
});

describe("arch and features in scenarios", () => {
  const base = "regions:\n  - { name: p, pages: 1 }\n";
  it("defaults to x86-64 and takes arm64 with its backends", () => {
    const x = load(base);
    assert.ok(x.ok && x.scenario.arch === "x86-64");
    const a = load(`arch: arm64\nbackend: arm64\n${base}`);
    assert.ok(a.ok && a.scenario.arch === "arm64");
    const d = load(`arch: arm64\n${base}`);
    assert.ok(d.ok && d.scenario.backend === "arm64", "the backend defaults to arm64's own");
  });
  it("rejects an unknown arch, located", () => {
    const r = load(`arch: riscv\n${base}`);
    assert.ok(!r.ok);
    assert.equal(r.errors[0].line, 1);
    assert.match(r.errors[0].message, /arch/);
  });
  it("rejects an x86 backend on arm64 and an arm64 backend on x86-64, at the backend line", () => {
    const r = load(`arch: arm64\nbackend: native\n${base}`);
    assert.ok(!r.ok);
    assert.deepEqual([r.errors[0].line, r.errors[0].col], [2, 10]);
    assert.match(
      r.errors[0].message,
      /"native" runs on x86-64, but the scenario is arm64 \(arm64 backends: arm64,/,
    );
    const r2 = load(`backend: arm64-contpte\n${base}`);
    assert.ok(!r2.ok);
    assert.match(r2.errors[0].message, /runs on arm64, but the scenario is x86-64/);
  });
  it("rejects features on x86-64 and hd without ha, located", () => {
    const r = load(`features: { ha: true }\n${base}`);
    assert.ok(!r.ok);
    assert.equal(r.errors[0].line, 1);
    assert.match(r.errors[0].message, /arm64 CPU features; this scenario is x86-64/);
    const r2 = load(`arch: arm64\nbackend: arm64\nfeatures:\n  ha: false\n  hd: true\n${base}`);
    assert.ok(!r2.ok);
    assert.equal(r2.errors[0].line, 5);
    assert.match(r2.errors[0].message, /hd .* needs ha/);
    const r4 = load(
      `arch: arm64\nbackend: arm64\ncpus: 2\nfeatures:\n  perCpu:\n    - null\n    - { ha: false, hd: true }\n    - null\n${base}`,
    );
    assert.ok(!r4.ok);
    assert.deepEqual(
      r4.errors.map((e) => [e.line, e.message.replace(/^.*?: /, "")]),
      [
        [6, "3 entries for 2 CPUs"],
        [7, "CPU1: hd (hardware dirty state) needs ha (FEAT_HAFDBS has no dirty-only level)"],
      ],
    );
    const r3 = load(`arch: arm64\nbackend: arm64\nfeatures: { tlbi: true }\n${base}`);
    assert.ok(!r3.ok);
    assert.equal(r3.errors[0].line, 3);
  });
});
