import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  __flush_tlb_range_nosync,
  type Arm64TlbOps,
  flush_tlb_page,
  flush_tlb_range,
  MAX_DVM_OPS,
} from "./tlbflush.js";

function recorder() {
  const ops: string[] = [];
  const t: Arm64TlbOps = {
    tlbi_va: (va, last) => ops.push(`${last ? "vale1is" : "vae1is"} ${va.toString(16)}`),
    tlbi_asid: () => ops.push("aside1is"),
    dsb: (k) => ops.push(`dsb ${k}`),
  };
  return { ops, t };
}

describe("arm64 TLB maintenance (tlbflush.h)", () => {
  it("flush_tlb_page: DSB ISHST, TLBI VALE1IS, DSB ISH", () => {
    const { ops, t } = recorder();
    flush_tlb_page(t, 0x5000);
    assert.deepEqual(ops, ["dsb ishst", "vale1is 5000", "dsb ish"]);
  });
  it("flush_tlb_range: one TLBI per page below MAX_DVM_OPS pages, then DSB ISH", () => {
    const { ops, t } = recorder();
    flush_tlb_range(t, 0x10000, 0x13000);
    assert.deepEqual(ops, ["dsb ishst", "vae1is 10000", "vae1is 11000", "vae1is 12000", "dsb ish"]);
  });
  it("a range of MAX_DVM_OPS (512) pages or more becomes one ASID invalidation", () => {
    const { ops, t } = recorder();
    flush_tlb_range(t, 0, (MAX_DVM_OPS - 1) * 4096);
    assert.equal(ops.filter((o) => o.startsWith("vae1is")).length, 511);
    const r = recorder();
    flush_tlb_range(r.t, 0, MAX_DVM_OPS * 4096);
    assert.deepEqual(r.ops, ["dsb ishst", "aside1is", "dsb ish", "dsb ish"]);
  });
  it("the nosync form leaves out the final DSB ISH; an empty range issues nothing", () => {
    const { ops, t } = recorder();
    __flush_tlb_range_nosync(t, 0x2000, 0x3000, true);
    assert.deepEqual(ops, ["dsb ishst", "vale1is 2000"]);
    const e = recorder();
    flush_tlb_range(e.t, 0x2000, 0x2000);
    assert.deepEqual(e.ops, []);
  });
});
