import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { pte_t } from "../types.js";
import {
  ARM64_PTE_FORMAT,
  PAGE_NONE,
  PAGE_READONLY,
  PAGE_READONLY_EXEC,
  PAGE_SHARED,
  PAGE_SHARED_EXEC,
  PTE_AF,
  PTE_CONT,
  PTE_DBM,
  PTE_DIRTY,
  PTE_NG,
  PTE_PRESENT_INVALID,
  PTE_PXN,
  PTE_RDONLY,
  PTE_SPECIAL,
  PTE_USER,
  PTE_UXN,
  PTE_VALID,
  PTE_WRITE,
  pfn_pte,
  pte_dirty,
  pte_hw_dirty,
  pte_mkclean,
  pte_mkdirty,
  pte_mkold,
  pte_mkwrite,
  pte_mkyoung,
  pte_modify,
  pte_pfn,
  pte_present,
  pte_protnone,
  pte_same,
  pte_sw_dirty,
  pte_valid,
  pte_write,
  pte_wrprotect,
  pte_young,
  pteBitfield,
  pteDescribe,
  pteFromHex,
  pteHas,
  pteToHex,
  vm_get_page_prot,
} from "./pte.js";

const hex = (v: number) => pteToHex(v as pte_t);
const p = (pfn: number, prot: number) => pfn_pte(pfn, prot);

describe("arm64 descriptor layout", () => {
  it("puts each field at its Arm ARM / pgtable-hwdef.h bit", () => {
    assert.equal(hex(PTE_VALID), "0000000000000001");
    assert.equal(hex(PTE_USER), "0000000000000040"); // AP[1]
    assert.equal(hex(PTE_RDONLY), "0000000000000080"); // AP[2]
    assert.equal(hex(PTE_AF), "0000000000000400");
    assert.equal(hex(PTE_NG), "0000000000000800");
    assert.equal(hex(PTE_DBM), "0008000000000000"); // bit 51
    assert.equal(PTE_WRITE, PTE_DBM, "Linux's PTE_WRITE is the DBM bit");
    assert.equal(hex(PTE_CONT), "0010000000000000"); // 52
    assert.equal(hex(PTE_PXN), "0020000000000000"); // 53
    assert.equal(hex(PTE_UXN), "0040000000000000"); // 54
    assert.equal(hex(PTE_DIRTY), "0080000000000000"); // 55, software
    assert.equal(hex(PTE_SPECIAL), "0100000000000000"); // 56, software
    assert.equal(PTE_PRESENT_INVALID, PTE_NG, "PROT_NONE reuses nG while the entry is invalid");
  });
  it("builds Linux's user protections from _PAGE_DEFAULT (AF, SH inner, AttrIndx MT_NORMAL = 0)", () => {
    assert.equal(hex(PAGE_READONLY), "0060000000000fc3");
    assert.equal(hex(PAGE_READONLY_EXEC), "0020000000000fc3");
    assert.equal(hex(PAGE_SHARED), "0068000000000fc3", "shared writable starts clean: RDONLY|WRITE");
    assert.equal(hex(PAGE_SHARED_EXEC), "0028000000000fc3");
    assert.equal(
      hex(PAGE_NONE),
      "0060000000000f82",
      "PAGE_NONE: not VALID, PRESENT_INVALID, RDONLY, PXN|UXN",
    );
  });
  it("packs the output address and round-trips through hex", () => {
    const v = p(0xabcde, PAGE_SHARED);
    assert.equal(pte_pfn(v), 0xabcde);
    assert.equal(pteToHex(v), "00680000abcdefc3");
    assert.equal(pteFromHex("00680000abcdefc3"), v);
    assert.equal(pteFromHex("0000000100000fc3"), undefined, "OA bits 32..47 do not fit the packing");
    assert.equal(pteFromHex("xyz"), undefined);
    assert.throws(() => p(1 << 20, PAGE_READONLY), /out of range/);
  });
  it("maps VMA flags as arm64's protection_map (private writable is read-only until a fault)", () => {
    const R = 1;
    const W = 2;
    const X = 4;
    const S = 8;
    assert.equal(vm_get_page_prot(0), PAGE_NONE);
    assert.equal(vm_get_page_prot(R | W), PAGE_READONLY);
    assert.equal(vm_get_page_prot(R | W | X), PAGE_READONLY_EXEC);
    assert.equal(vm_get_page_prot(S | R | W), PAGE_SHARED);
    assert.equal(vm_get_page_prot(S | R | W | X), PAGE_SHARED_EXEC);
    assert.equal(vm_get_page_prot(S), PAGE_NONE);
  });
});

describe("arm64 pte predicates", () => {
  it("pte_dirty is hardware dirty (WRITE && !RDONLY) or software dirty (PTE_DIRTY)", () => {
    const clean = p(5, PAGE_SHARED); // WRITE | RDONLY
    assert.equal(pte_write(clean), true);
    assert.equal(pte_dirty(clean), false);
    const hw = p(5, PAGE_SHARED - PTE_RDONLY);
    assert.equal(pte_hw_dirty(hw), true);
    assert.equal(pte_sw_dirty(hw), false);
    assert.equal(pte_dirty(hw), true);
    const sw = p(5, PAGE_READONLY + PTE_DIRTY);
    assert.equal(pte_write(sw), false);
    assert.equal(pte_dirty(sw), true);
    const roNotDirty = p(5, PAGE_READONLY - PTE_RDONLY); // !WRITE && !RDONLY: not hardware dirty
    assert.equal(pte_dirty(roNotDirty), false);
  });
  it("PROT_NONE is present to software, invalid to hardware, and distinct from an empty entry", () => {
    const none = p(7, PAGE_NONE);
    assert.equal(pte_valid(none), false);
    assert.equal(pte_present(none), true);
    assert.equal(pte_protnone(none), true);
    assert.equal(pte_protnone(p(7, PAGE_READONLY)), false);
    assert.equal(pte_present(0 as pte_t), false);
    assert.equal(pte_present(p(7, (PAGE_READONLY & ~PTE_VALID) - PTE_NG + 0)), false, "invalid without nG");
  });
  it("pte_same ignores PTE_RDONLY of present entries", () => {
    assert.ok(pte_same(p(1, PAGE_SHARED), p(1, PAGE_SHARED - PTE_RDONLY)));
    assert.ok(!pte_same(p(1, PAGE_SHARED), p(1, PAGE_READONLY)));
  });
});

describe("arm64 pte modifiers", () => {
  it("pte_wrprotect moves hardware dirty into PTE_DIRTY before clearing WRITE and setting RDONLY", () => {
    const hw = p(9, PAGE_SHARED - PTE_RDONLY);
    const w = pte_wrprotect(hw);
    assert.equal(pte_write(w), false);
    assert.ok(pteHas(w, PTE_RDONLY));
    assert.ok(pte_sw_dirty(w), "dirtiness survives as the software bit");
    assert.ok(pte_dirty(w));
    const clean = pte_wrprotect(p(9, PAGE_SHARED));
    assert.equal(pte_dirty(clean), false, "a clean entry stays clean");
  });
  it("pte_mkclean clears PTE_DIRTY and sets RDONLY (so a later write is a DBM update or a fault)", () => {
    const c = pte_mkclean(p(9, PAGE_SHARED + PTE_DIRTY - PTE_RDONLY));
    assert.equal(pte_dirty(c), false);
    assert.ok(pte_write(c), "still writable (DBM)");
    assert.ok(pteHas(c, PTE_RDONLY));
  });
  it("pte_mkdirty sets PTE_DIRTY and, if writable, clears RDONLY", () => {
    const d = pte_mkdirty(p(9, PAGE_SHARED));
    assert.ok(pte_sw_dirty(d) && pte_hw_dirty(d));
    const r = pte_mkdirty(p(9, PAGE_READONLY));
    assert.ok(pte_sw_dirty(r) && pteHas(r, PTE_RDONLY), "read-only stays RDONLY");
  });
  it("pte_mkwrite sets WRITE and clears RDONLY; pte_mkold / pte_mkyoung flip AF only", () => {
    const w = pte_mkwrite(p(3, PAGE_READONLY));
    assert.ok(pte_write(w) && !pteHas(w, PTE_RDONLY));
    const o = pte_mkold(p(3, PAGE_READONLY));
    assert.equal(pte_young(o), false);
    assert.equal(pte_mkyoung(o), p(3, PAGE_READONLY));
  });
  it("pte_modify keeps the PFN, AF, CONT and software bits and moves hardware dirty into PTE_DIRTY", () => {
    const hw = p(0x42, PAGE_SHARED - PTE_RDONLY + PTE_CONT + PTE_SPECIAL);
    const ro = pte_modify(hw, PAGE_READONLY);
    assert.equal(pte_pfn(ro), 0x42);
    assert.equal(pte_write(ro), false);
    assert.ok(pteHas(ro, PTE_RDONLY));
    assert.ok(pte_sw_dirty(ro), "hardware dirty became PTE_DIRTY");
    assert.ok(pteHas(ro, PTE_CONT) && pteHas(ro, PTE_SPECIAL) && pte_young(ro));
    // Back to writable: a software-dirty entry becomes hardware dirty again (no spurious fault).
    const rw = pte_modify(ro, PAGE_SHARED);
    assert.ok(pte_hw_dirty(rw));
    // A clean entry made writable stays clean (RDONLY|WRITE).
    const c = pte_modify(p(0x42, PAGE_READONLY), PAGE_SHARED);
    assert.ok(pte_write(c) && pteHas(c, PTE_RDONLY) && !pte_dirty(c));
  });
  it("pte_modify to PAGE_NONE keeps the entry present (PRESENT_INVALID) and its dirtiness", () => {
    const n = pte_modify(p(0x42, PAGE_SHARED - PTE_RDONLY), PAGE_NONE);
    assert.equal(pte_valid(n), false);
    assert.ok(pte_protnone(n));
    assert.ok(pte_dirty(n));
    assert.equal(pte_pfn(n), 0x42);
  });
  it("pte_modify replaces exactly the protection mask (USER PXN UXN RDONLY PRESENT_INVALID VALID WRITE GP AttrIndx POIndex)", () => {
    const v = p(1, PAGE_READONLY_EXEC);
    const x = pte_modify(v, PAGE_READONLY);
    assert.ok(pteHas(x, PTE_UXN), "UXN comes from newprot");
    assert.equal(pte_modify(x, PAGE_READONLY_EXEC), v);
  });
});

describe("arm64 printing", () => {
  it("names every set field and the dirty state", () => {
    assert.equal(
      pteDescribe(p(0x1a, PAGE_SHARED - PTE_RDONLY)),
      "oa 0x1a VALID TABLE/PAGE USER AF nG DBM/WRITE PXN UXN [hw-dirty]",
    );
    assert.equal(
      pteDescribe(p(0x1a, PAGE_NONE)),
      "oa 0x1a TABLE/PAGE RDONLY AF PRESENT_INVALID PXN UXN [clean, PROT_NONE]",
    );
    assert.equal(pteDescribe(0 as pte_t), "none");
  });
  it("prints the descriptor field by field", () => {
    assert.equal(
      pteBitfield(p(0x123, PAGE_SHARED)),
      "SW=0000 UXN=1 PXN=1 CONT=0 DBM=1 GP=0 OA=0x00123 nG=1 AF=1 SH=11 AP[2:1]=11 AttrIndx=000 TYPE=11",
    );
    assert.match(pteBitfield(p(0x123, PAGE_READONLY + PTE_DIRTY)), /^SW=0001 UXN=1 PXN=1 CONT=0 DBM=0 /);
  });
  it("is exposed through the arch interface", () => {
    assert.equal(ARM64_PTE_FORMAT.arch, "arm64");
    assert.equal(ARM64_PTE_FORMAT.pte_needs_flush(p(1, PAGE_SHARED), p(1, PAGE_SHARED)), true);
  });
});
