// arm64's pte_needs_flush (commit c320dbb7c80d, after Linux 6.17) as a scenario choice
// (kernel.pteNeedsFlush): what it elides, that mprotect then issues no flush for
// PROT_NONE -> RW, and that it is refused on x86-64. The verdicts of pte-needs-flush*.yaml are
// asserted with every scenario under scenarios/arm64 (scenarios.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getBackend } from "../../backends/registry.js";
import { loadScenarioText } from "../../scenario/load.js";
import { Simulation } from "../../sim/simulation.js";
import {
  PAGE_NONE,
  PAGE_READONLY,
  PAGE_SHARED,
  PTE_DIRTY,
  pfn_pte,
  pte_needs_flush_broken_ignores_write,
  pte_needs_flush_c320dbb7c80d,
} from "./pte.js";

const p = (prot: number) => pfn_pte(0x42, prot);

describe("arm64 pte_needs_flush (c320dbb7c80d)", () => {
  it("needs no flush from an invalid entry, nor for software bits; flushes hardware changes", () => {
    assert.equal(pte_needs_flush_c320dbb7c80d(p(PAGE_NONE), p(PAGE_SHARED)), false);
    assert.equal(pte_needs_flush_c320dbb7c80d(p(PAGE_SHARED), p(PAGE_SHARED + PTE_DIRTY)), false);
    assert.equal(pte_needs_flush_c320dbb7c80d(p(PAGE_SHARED), p(PAGE_READONLY)), true);
    assert.equal(pte_needs_flush_c320dbb7c80d(p(PAGE_SHARED), p(PAGE_NONE)), true);
  });
  it("the broken variant also elides RW -> RO", () => {
    assert.equal(pte_needs_flush_broken_ignores_write(p(PAGE_SHARED), p(PAGE_READONLY)), false);
    assert.equal(pte_needs_flush_broken_ignores_write(p(PAGE_SHARED), p(PAGE_NONE)), true);
  });

  const scenario = (choice: string, arch = "arch: arm64\nbackend: arm64\n") => {
    const r = loadScenarioText(
      `${arch}kernel: { pteNeedsFlush: ${choice} }\ncpus: 2\nregions:\n  - { name: buf, pages: 2 }\nprograms: [[]]\n`,
      "t.yaml",
    );
    return r;
  };
  it("mprotect PROT_NONE -> RW flushes nothing with it, 2 pages without it", () => {
    const flushed = (choice: string) => {
      const r = scenario(choice);
      assert.ok(r.ok);
      const sim = new Simulation(r.scenario, getBackend("arm64")!, { trace: false });
      sim.populate();
      const base = sim.regionAddr.get("buf")!;
      assert.equal(sim.kernel.sys_mprotect(0, base, 8192, 0), 0);
      assert.equal(sim.kernel.lastMprotect.flushPages, 2, "to PROT_NONE is always flushed");
      assert.equal(sim.kernel.sys_mprotect(0, base, 8192, 3), 0);
      return sim.kernel.lastMprotect.flushPages;
    };
    assert.equal(flushed("arm64"), 0);
    assert.equal(flushed("asm-generic"), 2);
  });
  it("is an arm64 choice: refused on x86-64 at its line", () => {
    const r = scenario("arm64", "");
    assert.ok(!r.ok);
    assert.equal(r.errors[0].line, 1);
    assert.match(r.errors[0].message, /pteNeedsFlush chooses arm64's hook; this scenario is x86-64/);
  });
});
