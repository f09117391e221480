// The arch interface's contract: what generic mm code relies on holds for every architecture.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ARM64_ARCH } from "./arm64/arch.js";
import { ARM64_PTE_FORMAT } from "./arm64/pte.js";
import {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  type ArchMm,
  type ArchPteFormat,
  type pte_t,
} from "./types.js";
import { X86_ARCH, X86_PTE_FORMAT } from "./x86/format.js";

const R = 1;
const W = 2;
const X = 4;
const S = 8;

for (const f of [X86_PTE_FORMAT, ARM64_PTE_FORMAT] as ArchPteFormat[]) {
  describe(`arch interface contract: ${f.arch}`, () => {
    const shared = f.pfn_pte(0x1234, f.vm_get_page_prot(S | R | W));
    it("a new shared writable entry is present, valid, writable, clean and young", () => {
      assert.ok(f.pte_present(shared) && f.pte_valid(shared) && !f.pte_none(shared));
      assert.ok(f.pte_write(shared));
      assert.equal(f.pte_dirty(shared), false);
      assert.ok(f.pte_young(shared));
      assert.equal(f.pte_pfn(shared), 0x1234);
    });
    it("private writable mappings start read-only (write access comes from faults)", () => {
      assert.equal(f.pte_write(f.pfn_pte(1, f.vm_get_page_prot(R | W))), false);
    });
    it("dirtiness survives write-protection and pte_modify to read-only; mkclean clears it", () => {
      const d = f.pte_mkdirty(shared);
      assert.ok(f.pte_dirty(d));
      assert.ok(f.pte_dirty(f.pte_wrprotect(d)) && !f.pte_write(f.pte_wrprotect(d)));
      const ro = f.pte_modify(d, f.vm_get_page_prot(S | R));
      assert.ok(f.pte_dirty(ro) && !f.pte_write(ro) && f.pte_pfn(ro) === 0x1234);
      assert.equal(f.pte_dirty(f.pte_mkclean(d)), false);
    });
    it("young is cleared by mkold and set by mkyoung", () => {
      assert.equal(f.pte_young(f.pte_mkold(shared)), false);
      assert.ok(f.pte_young(f.pte_mkyoung(f.pte_mkold(shared))));
    });
    it("PROT_NONE keeps the entry present to software, invalid to hardware, with its PFN and dirtiness", () => {
      const n = f.pte_modify(f.pte_mkdirty(shared), f.vm_get_page_prot(S));
      assert.ok(f.pte_present(n) && f.pte_protnone(n) && !f.pte_valid(n));
      assert.ok(f.pte_dirty(n));
      assert.equal(f.pte_pfn(n), 0x1234);
      assert.equal(f.pte_protnone(shared), false);
    });
    it("exec permission follows VM_EXEC", () => {
      assert.ok(f.pte_user_exec(f.pfn_pte(1, f.vm_get_page_prot(R | X))));
      assert.equal(f.pte_user_exec(f.pfn_pte(1, f.vm_get_page_prot(R))), false);
    });
    it("prints and parses the real layout, advances the PFN, and has an empty entry", () => {
      assert.equal(f.pteFromHex(f.pteToHex(shared)), shared);
      assert.equal(f.pteToHex(shared).length, 16);
      assert.equal(f.pte_pfn(f.pte_advance_pfn(shared, 3)), 0x1237);
      assert.ok(f.pte_none(0 as pte_t) && !f.pte_present(0 as pte_t));
      assert.match(f.pteDescribe(shared), /0x1234/);
      assert.ok(f.pte_special(f.pte_mkspecial(shared)));
    });
    it("reducing rights needs a flush", () => {
      assert.ok(f.pte_needs_flush(shared, f.pte_wrprotect(shared)));
    });
  });
}

for (const a of [X86_ARCH, ARM64_ARCH] as ArchMm[]) {
  describe(`generic mm hooks: ${a.arch}`, () => {
    const rw = a.pte_mkwrite(a.pfn_pte(0x42, a.vm_get_page_prot(R | W)));
    it("access_error follows the VMA's flags for reads, writes and instruction fetches", () => {
      assert.equal(a.access_error(a.fault_error(ACCESS_WRITE), R), true);
      assert.equal(a.access_error(a.fault_error(ACCESS_WRITE), R | W), false);
      assert.equal(a.access_error(a.fault_error(ACCESS_EXEC), R | W), true);
      assert.equal(a.access_error(a.fault_error(ACCESS_EXEC), R | X), false);
      assert.equal(a.access_error(a.fault_error(ACCESS_READ), 0), true);
      assert.equal(a.access_error(a.fault_error(ACCESS_READ), R), false);
      assert.ok(a.fault_is_write(a.fault_error(ACCESS_WRITE)));
      assert.equal(a.fault_is_write(a.fault_error(ACCESS_READ)), false);
    });
    it("hardware A/D updates and aging are the only changes pte_hw_update_only allows", () => {
      const old = a.pte_mkold(rw);
      assert.ok(a.pte_hw_update_only(old, a.pte_mkyoung(old)));
      assert.ok(a.pte_hw_update_only(rw, a.pte_mkold(rw)), "aging clears young");
      const dirty = a.pte_mkdirty(rw);
      const clean = a.pte_mkclean(dirty);
      assert.ok(a.pte_hw_update_only(clean, dirty), "the hardware dirties a writable entry");
      assert.equal(a.pte_hw_update_only(dirty, clean), false, "dirty may not be lost");
      assert.equal(a.pte_hw_update_only(rw, a.pte_wrprotect(rw)), false);
      assert.equal(a.pte_hw_update_only(rw, a.pte_advance_pfn(rw, 1)), false);
    });
    it("pte_same_access compares validity, PROT_NONE, user and exec rights", () => {
      const ro = a.pfn_pte(0x42, a.vm_get_page_prot(R));
      assert.ok(a.pte_same_access(ro, a.vm_get_page_prot(R) as pte_t));
      assert.equal(a.pte_same_access(ro, a.vm_get_page_prot(R | X) as pte_t), false);
      assert.equal(a.pte_same_access(ro, a.vm_get_page_prot(0) as pte_t), false);
    });
    it("table entries are valid to the walker, and PTE bit names are in range", () => {
      assert.ok(a.pte_valid(a.pfn_pte(7, a.tableFlags)));
      for (const b of a.pteBits) assert.ok(b.bit >= 0 && b.bit < 64 && b.name !== "");
    });
  });
}
