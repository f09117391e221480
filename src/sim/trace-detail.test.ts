// Timeline events explain themselves: code path, locks, TLB entries, raw PTE, flush targets.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getBackend } from "../backends/registry.js";
import { check } from "../check/explore.js";
import { defaultCheckScenario } from "./scenario.js";
import { Simulation, type TraceEvent } from "./simulation.js";

function counterexample(backend: string): TraceEvent[] {
  const b = getBackend(backend)!;
  const r = check({ ...defaultCheckScenario(), backend }, b, {});
  assert.equal(r.verdict, "violated");
  return r.verdict === "violated" ? r.counterexample.timeline : [];
}

describe("timeline details", () => {
  it("naive: the store that drops D names its code path, locks and every CPU's TLB entry", () => {
    const t = counterexample("naive");
    const store = t.find((e) => e.note === "drops D")!;
    assert.deepEqual(store.path, ["mprotect", "change_pte_range", "naive: ptep_modify_prot_commit"]);
    assert.ok(store.locks?.includes("PTE lock: CPU0"));
    assert.ok(store.locks?.includes("mmap_lock (write): CPU0"));
    assert.equal(store.tlb?.length, 3);
    assert.match(store.afterHex!, /^[0-9a-f]{16}$/);
    // The hex and the description are the same value.
    assert.equal(store.after?.includes(" D "), (BigInt(`0x${store.afterHex}`) & 0x40n) !== 0n);
    // The read that started the transaction is inside ptep_modify_prot_start.
    assert.ok(t.some((e) => e.path?.at(-1) === "naive: ptep_modify_prot_start"));
    // Flushes of other CPUs' TLBs are events with a target.
    const ipis = t.filter((e) => e.target !== undefined && e.target !== e.cpu);
    assert.deepEqual(
      ipis.map((e) => e.target),
      [1, 2],
    );
    // Frames are not doubled by the checker's restores.
    for (const e of t) if (e.path) assert.equal(new Set(e.path).size, e.path.length, e.path.join(" > "));
  });

  it("Xen: the hypervisor's steps carry its frames under the backend's", () => {
    const t = counterexample("xen-broken-no-preserve-ad");
    const store = t.find((e) => e.note === "drops D")!;
    assert.ok(
      store.path?.some((f) => f.startsWith("xen: HYPERVISOR_")),
      store.path?.join(" > "),
    );
    assert.ok(store.path?.some((f) => f.startsWith("xen-broken-no-preserve-ad: ")));
  });

  it("untraced simulations are not instrumented", () => {
    const sc = defaultCheckScenario();
    const sim = new Simulation(sc, getBackend("native")!, { trace: false });
    sim.populate();
    assert.equal(Object.hasOwn(sim.kernel, "changePtes"), false);
    assert.equal(Object.hasOwn(sim.machine, "invlpg"), false);
  });
});
