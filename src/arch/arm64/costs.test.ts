import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COUNTERS } from "../../machine/ledger.js";
import { ARM64_COSTS, ARM64_EVENTS, arm64CostTable, arm64Cycles, PUBLISHED_MPROTECT_M3 } from "./costs.js";

describe("arm64 cost table", () => {
  it("charges ledger counters, TLBI and DSB included, each weight naming its source or saying it is an assumption", () => {
    for (const e of ARM64_EVENTS) assert.ok((COUNTERS as readonly string[]).includes(e), e);
    for (const e of ["tlbi_va", "tlbi_asid", "dsb_ish", "dsb_ishst", "page_fault"])
      assert.ok(e in ARM64_COSTS, e);
    for (const [k, e] of Object.entries(ARM64_COSTS)) {
      assert.ok(e.cycles >= 0, k);
      assert.match(e.source, /assumption|\(.*\d{4}.*\)|Linux|Arm/, k);
    }
  });
  it("charges counts by the table, with overrides; other counters are not charged", () => {
    assert.equal(arm64Cycles({ tlbi_va: 2, dsb_ish: 1 }), 2 * 100 + 1000);
    assert.equal(arm64Cycles({ tlbi_va: 2 }, { tlbi_va: 7 }), 14);
    assert.equal(arm64Cycles({ syscall: 5, ipi: 3 }), 0);
    assert.equal(arm64CostTable({ dsb_ish: 5 }).dsb_ish, 5);
    assert.equal(arm64CostTable().tlbi_asid, ARM64_COSTS.tlbi_asid.cycles);
  });
  it("records the published Apple M3 mprotect figures it is to be validated against", () => {
    assert.equal(PUBLISHED_MPROTECT_M3.seconds.before.t3, 4.2);
    assert.match(PUBLISHED_MPROTECT_M3.source, /Dev Jain/);
  });
});
