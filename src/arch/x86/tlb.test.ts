import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TLB_DIRTY, TLB_RW, Tlb } from "./tlb.js";

describe("Tlb", () => {
  it("caches, finds and invalidates single pages", () => {
    const t = new Tlb(4, 2);
    t.insert(10, 100, TLB_RW);
    t.insert(11, 101, TLB_RW | TLB_DIRTY);
    assert.equal(t.pfn[t.lookup(10)], 100);
    assert.equal(t.flags[t.lookup(11)], TLB_RW | TLB_DIRTY);
    assert.equal(t.count, 2);
    assert.ok(t.invalidatePage(10));
    assert.equal(t.lookup(10), -1);
    assert.equal(t.invalidatePage(10), false);
    assert.equal(t.count, 1);
  });
  it("replaces round-robin within a set when the set is full", () => {
    const t = new Tlb(4, 2);
    t.insert(0, 1, 0);
    t.insert(4, 2, 0);
    t.insert(8, 3, 0); // same set (vpn & 3 == 0): evicts way 0 (vpn 0)
    assert.equal(t.lookup(0), -1);
    assert.ok(t.lookup(4) >= 0 && t.lookup(8) >= 0);
    assert.equal(t.count, 2);
  });
  it("indexes large VPNs (above 2^32) correctly", () => {
    const t = new Tlb(64, 8);
    const vpn = 0x7fff_ffff_f; // 47-bit address space
    t.insert(vpn, 5, 0);
    assert.equal(t.pfn[t.lookup(vpn)], 5);
    assert.equal(t.lookup(vpn - 64), -1);
  });
  it("flushAll empties it", () => {
    const t = new Tlb(4, 2);
    for (let i = 0; i < 8; i++) t.insert(i, i, 0);
    t.flushAll();
    assert.equal(t.count, 0);
    for (let i = 0; i < 8; i++) assert.equal(t.lookup(i), -1);
  });
  it("rejects a non-power-of-two set count", () => {
    assert.throws(() => new Tlb(3, 2), /power of two/);
  });
});
