import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ARM64_LITMUS, OUT_OF_SCOPE, runArm64Litmus } from "./litmus.js";
import { pte_dirty } from "./pte.js";

describe("arm64 litmus restatements (herdtools7 catalogue/aarch64-VMSA, hardware-update family)", () => {
  for (const t of ARM64_LITMUS) {
    it(`${t.name}: herd ${t.herdVerdict}, ptesim ${t.expected}`, () => {
      const r = runArm64Litmus(t);
      assert.ok(r.outcomes.length >= 1);
      assert.equal(r.verdict, t.expected, `${t.text}\n${t.note}`);
      if (t.expected !== t.herdVerdict) assert.match(t.note, /ptesim/, "a differing verdict says why");
    });
  }
  it("the plain load/store test reaches the lost-dirty outcome (x written, descriptor replaced from a clean read)", () => {
    const t = ARM64_LITMUS.find((x) => x.name === "STRx+LDR-STRptex+db")!;
    const r = runArm64Litmus(t);
    assert.ok(r.outcomes.some((o) => o.done && !pte_dirty(o.regs[0]) && !pte_dirty(o.final)));
  });
  it("names the weak-ordering tests it leaves out", () => {
    assert.ok(OUT_OF_SCOPE.length >= 5);
    for (const o of OUT_OF_SCOPE) assert.ok(o.reason.length > 10);
  });
});
