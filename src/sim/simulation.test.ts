import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cmpxchgBackend } from "../backends/cmpxchg.js";
import { naiveBackend } from "../backends/naive.js";
import { nativeBackend } from "../backends/native.js";
import { defaultScenario, ScenarioSchema } from "./scenario.js";
import { runScenario } from "./simulation.js";

describe("random runs of the default scenario", () => {
  it("native and cmpxchg never lose an A or D bit (or anything else) over 1,000 seeds", () => {
    for (const b of [nativeBackend, cmpxchgBackend]) {
      for (let seed = 1; seed <= 1000; seed++) {
        const r = runScenario({ ...defaultScenario(), seed }, b, { trace: false });
        assert.deepEqual(r.violations, [], `${b.name} seed ${seed}`);
      }
    }
  });
  it("naive loses a D bit for some seed, and an A bit for some seed", () => {
    const found = new Set<string>();
    for (let seed = 1; seed <= 1000 && found.size < 2; seed++) {
      const r = runScenario({ ...defaultScenario(), seed }, naiveBackend, { trace: false });
      for (const v of r.violations) found.add(v.property);
    }
    assert.ok(found.has("lost-dirty"), [...found].join(","));
    assert.ok(found.has("lost-accessed"), [...found].join(","));
  });
  it("is deterministic: same scenario and seed, same run", () => {
    const a = runScenario({ ...defaultScenario(), seed: 81 }, naiveBackend);
    const b = runScenario({ ...defaultScenario(), seed: 81 }, naiveBackend);
    assert.deepEqual(a, b);
    const c = runScenario({ ...defaultScenario(), seed: 82 }, naiveBackend);
    assert.notDeepEqual(a.choices, c.choices);
  });
  it("reports the violating page's interleaving with the kernel store that drops D", () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const r = runScenario({ ...defaultScenario(), seed }, naiveBackend);
      if (r.violations[0]?.property !== "lost-dirty") continue;
      assert.ok(r.timeline.some((e) => e.actor === "mmu" && e.what.includes("D")));
      assert.ok(r.timeline.some((e) => e.note?.includes("D")));
      return;
    }
    assert.fail("no lost-dirty found");
  });
});

describe("scenario protections", () => {
  it("a write after mprotect(PROT_READ) returned gets SIGSEGV, never completes", () => {
    const s = ScenarioSchema.parse({
      cpus: 2,
      regions: [{ name: "b", pages: 2, prot: "rw", populate: "write" }],
      syscalls: [{ call: "mprotect", region: "b", prot: "r" }],
      programs: [["w b:0", "w b:1", "r b:0"]],
      workload: { interleave: 0 },
    });
    const r = runScenario(s, nativeBackend);
    assert.deepEqual(r.violations, []);
    assert.equal(r.stats.segv, 2);
    assert.equal(r.stats.writes, 0);
    assert.equal(r.stats.reads, 1);
  });
  it("munmap then a touch: the page is gone (SIGSEGV), and no data loss is reported", () => {
    const s = ScenarioSchema.parse({
      cpus: 2,
      regions: [{ name: "b", pages: 2, prot: "rw", populate: "write" }],
      syscalls: [{ call: "munmap", region: "b", offset: 1, pages: 1 }],
      programs: [["r b:1", "r b:0"]],
      workload: { interleave: 0 },
    });
    const r = runScenario(s, nativeBackend);
    assert.deepEqual(r.violations, []);
    assert.equal(r.stats.segv, 1);
  });
});
