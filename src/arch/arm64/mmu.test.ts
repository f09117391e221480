import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, type pte_t } from "../types.js";
import {
  FAULT_ACCESS_FLAG,
  FAULT_PERMISSION,
  FAULT_TLB_CONFLICT,
  FAULT_TRANSLATION,
  TLBP_RDONLY,
} from "./mmu.js";
import {
  PAGE_READONLY,
  PAGE_READONLY_EXEC,
  PAGE_SHARED,
  PTE_AF,
  PTE_CONT,
  PTE_RDONLY,
  pfn_pte,
  pte_dirty,
  pte_hw_dirty,
  pte_mkold,
  pte_wrprotect,
  pte_young,
  pteHas,
} from "./pte.js";
import { Arm64Testbed } from "./testbed.js";

const VA = 0x7f12_3450_0000;

function bed(ha: boolean, hd: boolean, cpus = 2) {
  const tb = new Arm64Testbed({ cpus, ha, hd });
  const data = tb.mem.allocFrame();
  return { tb, data, mmu: tb.mmu };
}

describe("arm64 MMU: Access flag", () => {
  it("with HA the walker sets AF in the descriptor and caches the translation", () => {
    const { tb, mmu, data } = bed(true, false);
    const p = tb.install(VA, data, PAGE_READONLY - PTE_AF);
    assert.ok(mmu.translate(0, VA, ACCESS_READ));
    assert.equal(mmu.last[0].pfn, data);
    assert.ok(pte_young(tb.mem.peek(p)));
    assert.equal(mmu.counters.hw_ad_update, 1);
    assert.ok(mmu.translate(0, VA, ACCESS_READ));
    assert.equal(mmu.last[0].tlbHit, true);
  });
  it("without HA an old entry is an Access flag fault, not cached and not updated", () => {
    const { tb, mmu, data } = bed(false, false);
    const p = tb.install(VA, data, PAGE_READONLY - PTE_AF);
    assert.equal(mmu.translate(0, VA, ACCESS_READ), false);
    assert.equal(mmu.last[0].fault, FAULT_ACCESS_FLAG);
    assert.equal(pte_young(tb.mem.peek(p)), false);
    assert.equal(mmu.tlbs[0].count, 0);
  });
  it("an invalid descriptor (or missing table) is a Translation fault at its level", () => {
    const { tb, mmu } = bed(true, true);
    assert.equal(mmu.translate(0, VA, ACCESS_READ), false);
    assert.equal(mmu.last[0].fault, FAULT_TRANSLATION);
    assert.equal(mmu.last[0].level, 0, "the level-0 descriptor is invalid");
    tb.ptepFor(VA);
    assert.equal(mmu.translate(0, VA, ACCESS_READ), false);
    assert.equal(mmu.last[0].level, 3);
  });
});

describe("arm64 MMU: dirty state (DBM)", () => {
  it("with HD a write through a writable-clean entry clears RDONLY atomically instead of faulting", () => {
    const { tb, mmu, data } = bed(true, true);
    const p = tb.install(VA, data, PAGE_SHARED - PTE_AF); // WRITE|RDONLY, old
    assert.ok(mmu.translate(1, VA, ACCESS_WRITE));
    const v = tb.mem.peek(p);
    assert.ok(pte_hw_dirty(v) && pte_young(v), "one update sets AF and clears AP[2]");
    assert.equal(mmu.counters.hw_ad_update, 1);
  });
  it("without HD the same write is a Permission fault", () => {
    const { tb, mmu, data } = bed(true, false);
    const p = tb.install(VA, data, PAGE_SHARED);
    assert.equal(mmu.translate(1, VA, ACCESS_WRITE), false);
    assert.equal(mmu.last[1].fault, FAULT_PERMISSION);
    assert.equal(mmu.last[1].wnr, true);
    assert.equal(pte_dirty(tb.mem.peek(p)), false);
  });
  it("a write to a read-only entry (no DBM) faults even with HD", () => {
    const { tb, mmu, data } = bed(true, true);
    tb.install(VA, data, PAGE_READONLY);
    assert.equal(mmu.translate(0, VA, ACCESS_WRITE), false);
    assert.equal(mmu.last[0].fault, FAULT_PERMISSION);
  });
  it("a write hitting a TLB entry cached clean re-reads the descriptor and updates memory", () => {
    const { tb, mmu, data } = bed(true, true);
    const p = tb.install(VA, data, PAGE_SHARED);
    assert.ok(mmu.translate(0, VA, ACCESS_READ));
    const i = mmu.tlbs[0].matches(Math.floor(VA / 4096))[0];
    assert.ok(mmu.tlbs[0].perm[i] & TLBP_RDONLY, "a read caches the clean state");
    assert.ok(mmu.translate(0, VA, ACCESS_WRITE));
    assert.ok(pte_hw_dirty(tb.mem.peek(p)));
    assert.equal(mmu.tlbs[0].perm[i] & TLBP_RDONLY, 0);
  });
  it("that write faults if the descriptor became invalid or lost DBM meanwhile (no stale dirty)", () => {
    const { tb, mmu, data } = bed(true, true);
    const p = tb.install(VA, data, PAGE_SHARED);
    assert.ok(mmu.translate(0, VA, ACCESS_READ));
    tb.mem.poke(p, 0 as pte_t); // software cleared it (xchg), no TLBI yet
    assert.equal(mmu.translate(0, VA, ACCESS_WRITE), false);
    assert.equal(mmu.last[0].fault, FAULT_TRANSLATION);
    assert.equal(tb.mem.peek(p), 0, "no update of an invalid descriptor");
    tb.mem.poke(p, pfn_pte(data, PAGE_SHARED));
    assert.ok(mmu.translate(1, VA, ACCESS_READ));
    tb.mem.poke(p, pte_wrprotect(pfn_pte(data, PAGE_SHARED)));
    assert.equal(mmu.translate(1, VA, ACCESS_WRITE), false);
    assert.equal(mmu.last[1].fault, FAULT_PERMISSION);
  });
  it("a stale writable (dirty) TLB entry keeps writing until a TLBI, without touching memory", () => {
    const { tb, mmu, data } = bed(true, true);
    const p = tb.install(VA, data, PAGE_SHARED - PTE_RDONLY);
    assert.ok(mmu.translate(0, VA, ACCESS_WRITE));
    tb.mem.poke(p, pfn_pte(data, PAGE_READONLY));
    assert.ok(mmu.translate(0, VA, ACCESS_WRITE), "stale rights outlive the change");
    mmu.tlbi_va(VA);
    assert.equal(mmu.translate(0, VA, ACCESS_WRITE), false);
  });
});

describe("arm64 MMU: permissions and TLB maintenance", () => {
  it("EL0 read needs AP[1] (PTE_USER); exec needs UXN clear", () => {
    const { tb, mmu, data } = bed(true, true);
    tb.install(VA, data, PAGE_READONLY);
    assert.equal(mmu.translate(0, VA, ACCESS_EXEC), false);
    assert.equal(mmu.last[0].fault, FAULT_PERMISSION);
    tb.install(VA + 4096, data, PAGE_READONLY_EXEC);
    assert.ok(mmu.translate(0, VA + 4096, ACCESS_EXEC));
    tb.install(VA + 8192, data, PAGE_READONLY - 0x40);
    assert.equal(mmu.translate(0, VA + 8192, ACCESS_READ), false);
  });
  it("TLBI by VA and by ASID are broadcast: they invalidate every CPU's TLB", () => {
    const { tb, mmu, data } = bed(true, true, 3);
    tb.install(VA, data, PAGE_READONLY);
    tb.install(VA + 4096, data, PAGE_READONLY);
    for (const c of [0, 1, 2]) {
      assert.ok(mmu.translate(c, VA, ACCESS_READ));
      assert.ok(mmu.translate(c, VA + 4096, ACCESS_READ));
    }
    mmu.tlbi_va(VA);
    for (const c of [0, 1, 2]) assert.equal(mmu.tlbs[c].count, 1);
    mmu.tlbi_asid();
    for (const c of [0, 1, 2]) assert.equal(mmu.tlbs[c].count, 0);
    assert.equal(mmu.counters.tlbi_va, 1);
    assert.equal(mmu.counters.tlbi_asid, 1);
  });
  it("requires HA for HD", () => {
    assert.throws(() => new Arm64Testbed({ cpus: 1, ha: false, hd: true }), /requires TCR_EL1.HA/);
  });
});

describe("arm64 MMU: contiguous PTEs", () => {
  const BLOCK = 0x7f00_0000_0000; // 64 KiB aligned
  function block(prot: number) {
    const { tb, mmu } = bed(true, true);
    const base = 0x1000; // 16-aligned PFN
    const pteps: number[] = [];
    for (let i = 0; i < 16; i++) pteps.push(tb.install(BLOCK + i * 4096, base + i, prot + PTE_CONT));
    return { tb, mmu, base, pteps };
  }
  it("one TLB entry translates the whole block", () => {
    const { mmu, base } = block(PAGE_READONLY);
    assert.ok(mmu.translate(0, BLOCK + 5 * 4096, ACCESS_READ));
    assert.equal(mmu.tlbs[0].count, 1);
    assert.ok(mmu.translate(0, BLOCK + 11 * 4096, ACCESS_READ));
    assert.equal(mmu.last[0].tlbHit, true);
    assert.equal(mmu.last[0].pfn, base + 11);
  });
  it("hardware AF/dirty updates land on the descriptor the entry was filled from, not the page accessed", () => {
    const { tb, mmu, pteps } = block(PAGE_SHARED - PTE_AF);
    assert.ok(mmu.translate(0, BLOCK + 5 * 4096, ACCESS_READ)); // walk of entry 5 sets its AF
    assert.ok(pte_young(tb.mem.peek(pteps[5])));
    assert.ok(mmu.translate(0, BLOCK + 9 * 4096, ACCESS_WRITE)); // write to page 9 through that entry
    assert.ok(pte_hw_dirty(tb.mem.peek(pteps[5])), "dirty recorded on entry 5");
    assert.equal(pte_dirty(tb.mem.peek(pteps[9])), false, "entry 9 itself looks clean");
    assert.equal(pte_young(tb.mem.peek(pteps[9])), false);
  });
  it("a block entry next to a page entry for the same address is a TLB conflict abort", () => {
    const { tb, mmu, pteps, base } = block(PAGE_READONLY);
    assert.ok(mmu.translate(0, BLOCK, ACCESS_READ)); // block entry
    // Software rewrote entry 3 without PTE_CONT and without a TLBI (no break-before-make); a
    // walk from another CPU's view cannot happen here, so fill a page entry directly.
    tb.mem.poke(pteps[3], pfn_pte(base + 3, PAGE_READONLY));
    mmu.tlbs[0].insert(Math.floor(BLOCK / 4096) + 3, 1, base + 3, 1, pteps[3]);
    assert.equal(mmu.translate(0, BLOCK + 3 * 4096, ACCESS_READ), false);
    assert.equal(mmu.last[0].fault, FAULT_TLB_CONFLICT);
  });
  it("TLBI of any page of the block drops the block entry", () => {
    const { mmu } = block(PAGE_READONLY);
    assert.ok(mmu.translate(0, BLOCK, ACCESS_READ));
    mmu.tlbi_va(BLOCK + 7 * 4096);
    assert.equal(mmu.tlbs[0].count, 0);
  });
  it("old (AF=0) contiguous entries are made young only where walked", () => {
    const { tb, mmu, pteps } = block(PAGE_READONLY - PTE_AF);
    assert.ok(mmu.translate(1, BLOCK + 2 * 4096, ACCESS_READ));
    const young = pteps.filter((p) => pte_young(tb.mem.peek(p))).length;
    assert.equal(young, 1);
    assert.ok(pteHas(pte_mkold(tb.mem.peek(pteps[2])), PTE_RDONLY));
  });
});

describe("arm64 MMU state", () => {
  it("saves and restores TLBs and counters, and describes TLB contents canonically", () => {
    const tb = new Arm64Testbed({ cpus: 2, ha: true, hd: true });
    const data = tb.mem.allocFrame();
    tb.install(VA, data, PAGE_SHARED);
    const saved = tb.mmu.save();
    assert.ok(tb.mmu.translate(1, VA, ACCESS_WRITE));
    const d = tb.mmu.tlbs[1].describe();
    assert.match(d, /\+1->[0-9a-f]+ URW\+DBM UXN@\d+/);
    tb.mmu.restore(saved);
    assert.equal(tb.mmu.tlbs[1].count, 0);
    assert.equal(tb.mmu.counters.hw_ad_update, 0);
    assert.ok(tb.mmu.translate(1, VA, ACCESS_READ), "memory (not MMU state) still holds the dirtied entry");
    assert.equal(tb.mmu.tlbs[1].describe(), d);
  });
});
