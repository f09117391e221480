// Value symmetry in the state key (src/sim/state-key.ts): states that differ only by a renaming
// of page-content values are one state; anything else stays apart. The mode-agreement matrix
// (agreement.test.ts) proves the reduction exact on the shipped scenarios with symmetry on (the
// default); these tests pin what it merges, what it must not, and that "none" still agrees.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Scenario } from "../sim/scenario.js";
import { Simulation } from "../sim/simulation.js";
import { check, noRng } from "./explore.js";
import { backendNamed, scenarioOf } from "./test-support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const load = (text: string): Scenario => scenarioOf(text, "test.yaml");
const scenarioFile = (rel: string) => scenarioOf(readFileSync(join(ROOT, rel), "utf8"), join(ROOT, rel));
const backend = backendNamed;

/** Two CPUs write the same page: the runs end with either CPU's value in it. */
const TWO_WRITERS = `name: two-writers
cpus: 3
regions:
  - { name: p, pages: 1, prot: rw, populate: read }
syscalls: []
programs:
  - ["w p:0"]
  - ["w p:0"]
`;

describe("value symmetry: what the state key merges", () => {
  it("final states that differ only in which write's value the page holds count once", () => {
    const s = load(TWO_WRITERS);
    const opts = { mode: "exhaustive", collectFinalStates: true, minimize: false } as const;
    const none = check(s, backend("native"), { ...opts, symmetry: "none" });
    const values = check(s, backend("native"), { ...opts, symmetry: "values" });
    assert.equal(none.verdict, "verified");
    assert.equal(values.verdict, "verified");
    assert.equal(none.symmetry, "none");
    assert.equal(values.symmetry, "values");
    // Same executions (exhaustive keeps no store): only the final states' keys differ.
    assert.equal(values.executions, none.executions);
    // Each final state comes in two versions, CPU 1's or CPU 2's value last: one of them stays.
    assert.equal(none.distinctFinalStates, 2 * values.distinctFinalStates);
  });

  it("a page holding the last write and one holding a stale value stay apart", () => {
    const s = load(TWO_WRITERS);
    const sim = new Simulation(s, backend("native"), {
      trace: false,
      recordKernelReads: true,
      valueSymmetry: true,
    });
    sim.populate();
    sim.setPrograms(noRng);
    const addr = sim.oracle.pages[0];
    const pfn = sim.machine.arch.pte_pfn(sim.kernel.peekPte(addr));
    const mem = sim.machine.mem;
    const o = sim.oracle;
    mem.data[pfn] = 0x01000001;
    o.expected[0] = 0x01000001;
    const agreed = sim.stateKey(true);
    // Renamed consistently (page and expectation hold another write's value): the same state.
    mem.data[pfn] = 0x02000001;
    o.expected[0] = 0x02000001;
    assert.equal(sim.stateKey(true), agreed);
    // The page holds a value other than the expected one: another state.
    mem.data[pfn] = 0x01000001;
    assert.notEqual(sim.stateKey(true), agreed);
    // Zero is not renamed: a page read back as zero is not a page holding a write.
    mem.data[pfn] = 0;
    o.expected[0] = 0;
    assert.notEqual(sim.stateKey(true), agreed);
  });

  it("without value symmetry the concrete values are the key", () => {
    const s = load(TWO_WRITERS);
    const sim = new Simulation(s, backend("native"), { trace: false, recordKernelReads: true });
    sim.populate();
    sim.setPrograms(noRng);
    assert.equal(sim.valueSymmetry, false);
    const addr = sim.oracle.pages[0];
    const pfn = sim.machine.arch.pte_pfn(sim.kernel.peekPte(addr));
    sim.machine.mem.data[pfn] = 0x01000001;
    sim.oracle.expected[0] = 0x01000001;
    const a = sim.stateKey(true);
    sim.machine.mem.data[pfn] = 0x02000001;
    sim.oracle.expected[0] = 0x02000001;
    assert.notEqual(sim.stateKey(true), a);
  });

  it("a litmus scenario keeps concrete values (its conditions compare with constants)", () => {
    const s = scenarioFile("scenarios/litmus/arm64/ldr-af0-ha.yaml");
    const r = check(s, backend("arm64"), { mode: "reduced", symmetry: "values", minimize: false });
    assert.equal(r.symmetry, "none");
  });

  it("stores fewer states where several CPUs write the same pages, with the same verdict", () => {
    // The checker-scale benchmark's 3x2x3 configuration.
    const s = load(`name: scale-3x2x3
cpus: 3
regions:
  - { name: buf, pages: 3, prot: rw, shared: true, populate: read }
syscalls:
  - { call: mprotect, region: buf, prot: r }
programs:
  - ["w buf:0", "w buf:1", "w buf:2"]
  - ["w buf:1", "w buf:2", "w buf:0"]
`);
    for (const b of ["native", "xen"]) {
      const none = check(s, backend(b), { mode: "por", symmetry: "none", minimize: false });
      const values = check(s, backend(b), { mode: "por", symmetry: "values", minimize: false });
      assert.equal(none.verdict, "verified", b);
      assert.equal(values.verdict, "verified", b);
      assert.ok(values.states < none.states, `${b}: ${values.states} < ${none.states}`);
    }
  });
});

describe("symmetry none: reduced == por == exhaustive (the concrete keys still agree)", () => {
  const cases: [string, string][] = [
    ["scenarios/suite/c2p4.yaml", "native"],
    ["scenarios/suite/c3p2.yaml", "xen"],
    ["scenarios/litmus/fork-cow-write.yaml", "native"],
    ["scenarios/litmus/clear-refs-vs-dirty.yaml", "xen"],
  ];
  for (const [file, b] of cases)
    it(`${file} on ${b}`, () => {
      const s = scenarioFile(file);
      const opts = { collectFinalStates: true, minimize: false, symmetry: "none" } as const;
      const full = check(s, backend(b), { ...opts, mode: "exhaustive" });
      for (const mode of ["reduced", "por"] as const) {
        const r = check(s, backend(b), { ...opts, mode });
        assert.equal(r.verdict, full.verdict, mode);
        if (full.verdict === "verified")
          assert.deepEqual([...r.finalStates!].sort(), [...full.finalStates!].sort(), mode);
      }
    });
});
