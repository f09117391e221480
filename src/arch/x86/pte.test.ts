import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_NX,
  _PAGE_PCD,
  _PAGE_PKEY0,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PWT,
  _PAGE_RW,
  _PAGE_SAVED_DIRTY,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_UFFD_WP,
  _PAGE_USER,
  pfn_pte,
  pte_dirty,
  pte_exec,
  pte_mkdirty,
  pte_mkwrite,
  pte_modify,
  pte_needs_flush,
  pte_pfn,
  pte_present,
  pte_protnone,
  type pte_t,
  pte_write,
  pte_wrprotect,
  pte_young,
  pteFromHex,
  pteToHex,
} from "./pte.js";

const P = _PAGE_PRESENT;
const PAGE_SHARED = _PAGE_NX + (P | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);
const PAGE_READONLY = _PAGE_NX + (P | _PAGE_USER | _PAGE_ACCESSED);
const PAGE_NONE = _PAGE_PROTNONE | _PAGE_ACCESSED;

describe("pte layout", () => {
  it("puts each flag at its x86 bit position in the real 64-bit layout", () => {
    assert.equal(pteToHex(_PAGE_PRESENT), "0000000000000001");
    assert.equal(pteToHex(_PAGE_RW), "0000000000000002");
    assert.equal(pteToHex(_PAGE_USER), "0000000000000004");
    assert.equal(pteToHex(_PAGE_ACCESSED), "0000000000000020");
    assert.equal(pteToHex(_PAGE_DIRTY), "0000000000000040");
    assert.equal(pteToHex(_PAGE_GLOBAL), "0000000000000100");
    assert.equal(pteToHex(_PAGE_NX), "8000000000000000");
    assert.equal(pteToHex(_PAGE_SAVED_DIRTY), "0400000000000000"); // bit 58
    assert.equal(pteToHex(_PAGE_PKEY0 * 5), "2800000000000000"); // key 5 in bits 59..62
  });
  it("packs the PFN into bits 12.. and round-trips through hex", () => {
    const v = pfn_pte(0xabcde, PAGE_SHARED);
    assert.equal(pte_pfn(v), 0xabcde);
    assert.equal(pteToHex(v), "80000000abcde027");
    assert.equal(pteFromHex("80000000abcde027"), v);
    assert.equal(pteFromHex("0000000100000001"), undefined, "PFN bits above MAXPHYADDR=32 are rejected");
  });
  it("reads flags with the Linux helpers", () => {
    const v = pte_mkdirty(pfn_pte(7, PAGE_SHARED));
    assert.ok(pte_present(v) && pte_write(v) && pte_dirty(v) && pte_young(v));
    assert.equal(pte_exec(v), false);
    assert.equal(pte_write(pte_wrprotect(v)), false);
    assert.equal(pte_write(pte_mkwrite(pte_wrprotect(v))), true);
    assert.equal(pte_pfn(pte_wrprotect(v)), 7);
    assert.ok(pte_exec(pfn_pte(7, P | _PAGE_USER)));
  });
  it("encodes PROT_NONE as not present to hardware but present to software", () => {
    const v = pfn_pte(9, PAGE_NONE);
    assert.equal(v & _PAGE_PRESENT, 0);
    assert.ok(pte_present(v));
    assert.ok(pte_protnone(v));
    assert.equal(pte_protnone(pfn_pte(9, PAGE_READONLY)), false);
  });
});

describe("pte_modify", () => {
  it("keeps PFN, A, D, PCD, PWT and the software bits Linux keeps; takes the rest from newprot", () => {
    const keep =
      _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_SOFT_DIRTY | _PAGE_UFFD_WP;
    const old = (pfn_pte(0x1234, PAGE_SHARED | keep) + _PAGE_SAVED_DIRTY) as pte_t;
    const nw = pte_modify(old, PAGE_READONLY);
    assert.equal(pte_pfn(nw), 0x1234);
    assert.equal(nw & keep, keep);
    assert.equal(pte_write(nw), false);
    assert.ok(nw >= _PAGE_NX, "NX comes from newprot");
    assert.equal(pteToHex(nw).slice(0, 2), "84", "saved-dirty (bit 58) kept alongside NX");
  });
  it("clears NX and sets RW when newprot says so", () => {
    const old = pfn_pte(5, PAGE_READONLY);
    const nw = pte_modify(old, P | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);
    assert.ok(pte_write(nw) && pte_exec(nw));
  });
  it("turns a present entry into PROT_NONE and back without losing A/D", () => {
    const old = pte_mkdirty(pfn_pte(3, PAGE_SHARED));
    const none = pte_modify(old, PAGE_NONE);
    assert.ok(pte_protnone(none) && pte_dirty(none) && pte_young(none));
    const back = pte_modify(none, PAGE_SHARED);
    assert.equal(back, old);
  });
  it("does not keep a protection key from the old entry", () => {
    const old = (pfn_pte(3, PAGE_SHARED) + _PAGE_PKEY0 * 3) as pte_t;
    assert.equal(pte_modify(old, PAGE_SHARED), pfn_pte(3, PAGE_SHARED));
  });
});

describe("pte_needs_flush (x86)", () => {
  const rw = pte_mkdirty(pfn_pte(3, PAGE_SHARED));
  it("needs no flush for a non-present old entry", () => {
    assert.equal(pte_needs_flush(pfn_pte(3, PAGE_NONE), rw), false);
  });
  it("flushes when write permission or presence is removed, or the frame changes", () => {
    assert.ok(pte_needs_flush(rw, pte_wrprotect(rw)));
    assert.ok(pte_needs_flush(rw, pte_modify(rw, PAGE_NONE)));
    assert.ok(pte_needs_flush(rw, pfn_pte(4, PAGE_SHARED)));
  });
  it("flushes when NX is set or D is cleared, not when A is cleared (ignore_access)", () => {
    const x = pfn_pte(3, P | _PAGE_USER | _PAGE_ACCESSED);
    assert.ok(pte_needs_flush(x, pfn_pte(3, PAGE_READONLY)));
    assert.ok(pte_needs_flush(rw, (rw - _PAGE_DIRTY) as pte_t));
    assert.equal(pte_needs_flush(rw, (rw - _PAGE_ACCESSED) as pte_t), false);
  });
  it("needs no flush when only software bits or added rights change", () => {
    const clean = (rw - _PAGE_SOFT_DIRTY) as pte_t; // pte_mkdirty set soft-dirty too
    assert.equal(pte_needs_flush(clean, rw), false);
    assert.equal(pte_needs_flush(rw, (rw + _PAGE_SAVED_DIRTY) as pte_t), false);
    const ro = pte_wrprotect(rw);
    assert.ok(pte_needs_flush(ro, rw), "RW is flush_on_change on x86, both directions");
  });
});
