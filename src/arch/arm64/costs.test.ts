import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ARM64_COSTS, arm64Cycles, PUBLISHED_MPROTECT_M3 } from "./costs.js";
import { Arm64Testbed } from "./testbed.js";

describe("arm64 cost table", () => {
  it("has a weight for every MMU counter, each naming its source or saying it is an assumption", () => {
    const tb = new Arm64Testbed({ cpus: 1, ha: true, hd: true });
    for (const k of Object.keys(tb.mmu.counters)) assert.ok(k in ARM64_COSTS, k);
    for (const [k, e] of Object.entries(ARM64_COSTS)) {
      assert.ok(e.cycles >= 0, k);
      assert.match(e.source, /assumption|\(.*\d{4}.*\)|Linux|Arm/, k);
    }
  });
  it("charges counts by the table, with overrides", () => {
    assert.equal(arm64Cycles({ tlbi_va: 2, dsb_ish: 1 }), 2 * 100 + 1000);
    assert.equal(arm64Cycles({ tlbi_va: 2 }, { tlbi_va: 7 }), 14);
  });
  it("records the published Apple M3 mprotect figures it is to be validated against", () => {
    assert.equal(PUBLISHED_MPROTECT_M3.seconds.before.t3, 4.2);
    assert.match(PUBLISHED_MPROTECT_M3.source, /Dev Jain/);
  });
});
