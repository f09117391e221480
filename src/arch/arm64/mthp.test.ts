// Anonymous mTHP (scenario kernel.mthp): do_anonymous_page allocates a naturally aligned large
// folio and maps it with one set_ptes; arm64 with contpte folds it into contiguous blocks, x86
// maps ordinary entries. The mthp scenarios under scenarios/arm64 catch the broken contpte
// backends, verify the correct ones, agree across the checker's modes, and replay as printed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getBackend } from "../../backends/registry.js";
import { check, replayPath } from "../../check/explore.js";
import { decodeReplay } from "../../check/replay.js";
import { loadScenarioText } from "../../scenario/load.js";
import type { Scenario } from "../../sim/scenario.js";
import { Simulation } from "../../sim/simulation.js";
import { ACCESS_WRITE, type pte_t } from "../types.js";
import { pte_cont, pte_pfn } from "./pte.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DIR = join(ROOT, "scenarios/arm64");

function load(text: string, file = "t.yaml") {
  return loadScenarioText(text, file);
}
function scenarioFile(f: string): Scenario {
  const r = load(readFileSync(join(DIR, f), "utf8"), f);
  assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("\n"));
  return r.scenario;
}
function scenario(text: string): Scenario {
  const r = load(text);
  assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("\n"));
  return r.scenario;
}

/** Populate a scenario and return the 16 entries of region "buf" as the MMU sees them. */
const peek = (sim: Simulation, p: number): pte_t => sim.machine.mem.peek(p) as pte_t;

function entries(s: Scenario): { v: pte_t[]; sim: Simulation; base: number } {
  const sim = new Simulation(s, getBackend(s.backend)!, { trace: false });
  sim.populate();
  const base = sim.regionAddr.get("buf")!;
  const v: pte_t[] = [];
  for (let i = 0; i < 16; i++) {
    const p = sim.kernel.walk(base + i * 4096, false);
    v.push(p < 0 ? (0 as pte_t) : peek(sim, p));
  }
  return { v, sim, base };
}

const BLOCK = (backend: string, mthp: string, extra = "") =>
  `arch: arm64\nbackend: ${backend}\nkernel: { mthp: ${mthp} }\ncpus: 2\nregions:\n  - { name: buf, pages: 16, align: 64K, populate: write${extra} }\nprograms: [[]]\n`;

describe("anonymous mTHP in the fault path", () => {
  it("a write fault maps a naturally aligned 16-frame folio as one contpte block on arm64-contpte", () => {
    const { v, sim, base } = entries(scenario(BLOCK("arm64-contpte", "64K")));
    assert.equal(base % 65536, 0, "align: 64K places the region on a 64 KiB boundary");
    const pfn0 = pte_pfn(v[0]);
    assert.equal(pfn0 % 16, 0);
    for (let i = 0; i < 16; i++) {
      assert.ok(pte_cont(v[i]), `entry ${i} has PTE_CONT`);
      assert.equal(pte_pfn(v[i]), pfn0 + i);
    }
    assert.equal(sim.machine.mem.folioNr(pfn0 + 5), 16);
    assert.equal(sim.machine.mem.folioHead(pfn0 + 5), pfn0);
  });
  it("without CONFIG_ARM64_CONTPTE (backend arm64) the same folio is 16 plain entries", () => {
    const { v, sim } = entries(scenario(BLOCK("arm64", "64K")));
    assert.ok(v.every((x) => !pte_cont(x)));
    assert.equal(sim.machine.mem.folioNr(pte_pfn(v[0])), 16);
  });
  it("x86-64 maps the folio as 16 ordinary entries of consecutive frames", () => {
    const s = scenario(
      "kernel: { mthp: 64K }\ncpus: 2\nregions:\n  - { name: buf, pages: 16, align: 64K, populate: write }\nprograms: [[]]\n",
    );
    const sim = new Simulation(s, getBackend("native")!, { trace: false });
    sim.populate();
    const base = sim.regionAddr.get("buf")!;
    const pfns: number[] = [];
    for (let i = 0; i < 16; i++)
      pfns.push(sim.machine.arch.pte_pfn(peek(sim, sim.kernel.walk(base + i * 4096, false))));
    assert.equal(pfns[0] % 16, 0);
    assert.deepEqual(
      pfns,
      pfns.map((_, i) => pfns[0] + i),
    );
    assert.equal(sim.machine.mem.folioNr(pfns[0]), 16);
  });
  it("falls back to 4 KiB folios when the aligned range leaves the VMA or is not empty", () => {
    // 8 pages: no 64 KiB range fits in the VMA.
    const small = entries(
      scenario(
        "arch: arm64\nbackend: arm64-contpte\nkernel: { mthp: 64K }\ncpus: 2\nregions:\n  - { name: buf, pages: 8, align: 64K }\nprograms: [[]]\n",
      ),
    );
    assert.equal(small.sim.machine.mem.folioNr(pte_pfn(small.v[0])), 1);
    // Read first (the zero page is mapped), then written: the range is not none any more.
    const s = scenario(BLOCK("arm64-contpte", "64K").replace("populate: write", "populate: read"));
    const sim = new Simulation(s, getBackend(s.backend)!, { trace: false });
    sim.populate();
    const base = sim.regionAddr.get("buf")!;
    assert.ok(sim.kernel.faultin(1, base + 4096, ACCESS_WRITE, 7));
    const v = peek(sim, sim.kernel.walk(base + 4096, false));
    assert.ok(!pte_cont(v));
    assert.equal(sim.machine.mem.folioNr(pte_pfn(v)), 1);
  });
  it("takes the highest enabled size that fits: [64K, 16K] in a 32 KiB region maps 16 KiB folios", () => {
    const s = scenario(
      "arch: arm64\nbackend: arm64-contpte\nkernel: { mthp: [64K, 16K] }\ncpus: 2\nregions:\n  - { name: buf, pages: 8, align: 64K }\nprograms: [[]]\n",
    );
    const sim = new Simulation(s, getBackend(s.backend)!, { trace: false });
    sim.populate();
    const base = sim.regionAddr.get("buf")!;
    const pfn = pte_pfn(peek(sim, sim.kernel.walk(base, false)));
    assert.equal(sim.machine.mem.folioNr(pfn), 4);
    assert.ok(!pte_cont(peek(sim, sim.kernel.walk(base, false))), "16 KiB is less than a block");
  });
  it("munmap of part of a folio splits it: no block is folded from its frames again", () => {
    const s = scenario(
      `${BLOCK("arm64-contpte", "64K")}syscalls:\n  - { call: munmap, region: buf, offset: 0, pages: 1 }\n`,
    );
    const sim = new Simulation(s, getBackend(s.backend)!, { trace: false });
    sim.populate();
    const base = sim.regionAddr.get("buf")!;
    const pfn = pte_pfn(peek(sim, sim.kernel.walk(base + 4096, false)));
    assert.equal(sim.kernel.sys_munmap(0, base, 4096), 0);
    assert.equal(sim.machine.mem.folioNr(pfn), 1);
    assert.ok(!pte_cont(peek(sim, sim.kernel.walk(base + 4096, false))), "the block was unfolded");
  });
});

describe("kernel.mthp and region align: located errors", () => {
  const at = (text: string) => {
    const r = load(text);
    assert.ok(!r.ok);
    return r.errors.map((e) => `${e.line}:${e.col} ${e.message}`);
  };
  const base = "arch: arm64\nbackend: arm64-contpte\nregions:\n  - { name: p, pages: 16 }\n";
  it("rejects sizes that are not a power of two, not mTHP, or not sizes", () => {
    assert.match(at(`kernel: { mthp: 48K }\n${base}`)[0], /^1:17 .*mTHP size 48K is not a power-of-two/);
    assert.match(
      at(`kernel: { mthp: 8K }\n${base}`)[0],
      /^1:17 .*starts at 16K .*no order-1 anonymous folios/,
    );
    assert.match(at(`kernel: { mthp: 4K }\n${base}`)[0], /4K is the base page/);
    assert.match(at(`kernel: { mthp: 2M }\n${base}`)[0], /PMD-mapped THP, which ptesim does not model/);
    assert.match(at(`kernel:\n  mthp: [64K, 64X]\n${base}`)[0], /^2:15 .*"64X" is not a size/);
  });
  it("rejects a bad region alignment at its line", () => {
    assert.match(
      at("regions:\n  - { name: p, pages: 1, align: 3K }\n")[0],
      /^2:33 .*align 3K is not a power-of-two/,
    );
    assert.match(at("regions:\n  - { name: p, pages: 1, align: 4M }\n")[0], /at most 2M/);
  });
});

describe("mthp scenarios: the broken contpte backends are caught, the correct ones verified", () => {
  it("arm64 (no contpte) verifies the batch and unfold scenarios", () => {
    for (const f of ["mthp-batch-young.yaml", "mthp-unfold-young.yaml"]) {
      const s = scenarioFile(f);
      assert.equal(check({ ...s, backend: "arm64" }, getBackend("arm64")!).verdict, "verified", f);
    }
  });
  const violated: [string, string][] = [
    ["mthp-batch-young-gather-first.yaml", "lost-accessed"],
    ["mthp-unfold-young-no-bbm.yaml", "lost-accessed"],
  ];
  for (const [f, property] of violated)
    it(`${f}: the printed replay token reproduces ${property}`, () => {
      const s = scenarioFile(f);
      const b = getBackend(s.backend)!;
      const r = check(s, b);
      assert.equal(r.verdict, "violated");
      if (r.verdict !== "violated") return;
      assert.equal(r.counterexample.property, property);
      const path = decodeReplay(r.counterexample.replay);
      assert.ok(Array.isArray(path));
      const again = replayPath(s, b, path as number[], true);
      assert.equal(again.violations[0]?.property, property);
    });
  it("the correct backend verifies what each broken one violates", () => {
    for (const f of ["mthp-batch-young-gather-first.yaml", "mthp-unfold-young-no-bbm.yaml"]) {
      const s = scenarioFile(f);
      assert.equal(
        check({ ...s, backend: "arm64-contpte" }, getBackend("arm64-contpte")!).verdict,
        "verified",
        f,
      );
    }
  });
  for (const f of [
    "mthp-batch-young.yaml",
    "mthp-batch-young-gather-first.yaml",
    "mthp-unfold-young.yaml",
    "mthp-unfold-young-no-bbm.yaml",
  ])
    it(`${f}: reduced, por and exhaustive agree (verdict, and final states when verified)`, () => {
      const s = scenarioFile(f);
      const b = getBackend(s.backend)!;
      const runs = (["reduced", "por", "exhaustive"] as const).map((mode) =>
        check(s, b, { mode, collectFinalStates: true, minimize: false }),
      );
      assert.deepEqual(
        runs.map((r) => r.verdict),
        runs.map(() => runs[2].verdict),
      );
      if (runs[2].verdict === "verified") {
        const e = [...(runs[2].finalStates ?? [])].sort();
        assert.ok(e.length > 0);
        for (const r of runs.slice(0, 2)) assert.deepEqual([...(r.finalStates ?? [])].sort(), e);
      }
    });
});
