import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAULT_ACCESS_FLAG, FAULT_PERMISSION } from "../arch/arm64/mmu.js";
import { PAGE_READONLY, PAGE_SHARED, PTE_AF, pfn_pte, pte_hw_dirty, pte_young } from "../arch/arm64/pte.js";
import type { pte_t } from "../arch/types.js";
import { CTR } from "./ledger.js";
import { ACCESS_READ, ACCESS_WRITE, ARM64_ERR_WNR, Machine, STEP } from "./machine.js";
import { FRAME_DATA } from "./physmem.js";

const VA = 0x7f00_0000_0000 + 0x5000;
/** PMD_TYPE_TABLE: VALID | TABLE, the same low-word layout as an x86 table entry. */
const ARM64_TABLE = 3;

function arm64Machine(ha: boolean, hd: boolean, prot: number) {
  const m = new Machine({ cpus: 2, arm64: { ha, hd } });
  const pgd = m.mem.allocTable();
  for (const c of m.cpus) c.cr3 = pgd;
  const ptep = m.walkAlloc(pgd, VA, true, ARM64_TABLE);
  const data = m.mem.allocFrame(FRAME_DATA);
  m.pteWrite(0, ptep, pfn_pte(data, prot));
  return { m, ptep, data };
}

describe("Machine with an arm64 MMU", () => {
  it("serves accesses through the arm64 walker: HD dirty update counted, data written", () => {
    const { m, ptep, data } = arm64Machine(true, true, PAGE_SHARED - PTE_AF);
    assert.ok(m.access(1, VA, ACCESS_WRITE, 77));
    assert.equal(m.mem.data[data], 77);
    const v = m.peekPte(ptep);
    assert.ok(pte_hw_dirty(v) && pte_young(v));
    assert.equal(m.ledger.get(1, CTR.hw_ad_update), 1);
    assert.equal(m.ledger.get(1, CTR.tlb_miss), 1);
    assert.ok(m.access(1, VA, ACCESS_READ, 0));
    assert.equal(m.cpus[1].lastTlbHit, true);
  });
  it("reports arm64 faults in pfError (class | WnR) and counts them", () => {
    const noHd = arm64Machine(true, false, PAGE_SHARED);
    assert.equal(noHd.m.access(1, VA, ACCESS_WRITE, 1), false);
    assert.equal(noHd.m.cpus[1].pfError, FAULT_PERMISSION | ARM64_ERR_WNR);
    const noHa = arm64Machine(false, false, PAGE_READONLY - PTE_AF);
    assert.equal(noHa.m.access(1, VA, ACCESS_READ, 0), false);
    assert.equal(noHa.m.cpus[1].pfError, FAULT_ACCESS_FLAG);
    assert.equal(noHa.m.ledger.get(1, CTR.page_fault), 1);
  });
  it("TLBI is a scheduling step and broadcast: every CPU's entry goes", () => {
    const { m } = arm64Machine(true, true, PAGE_READONLY);
    assert.ok(m.access(0, VA, ACCESS_READ, 0));
    assert.ok(m.access(1, VA, ACCESS_READ, 0));
    const kinds: number[] = [];
    m.hook = { point: (_c, kind) => kinds.push(kind) };
    m.tlbiVa(0, VA);
    m.dsb(0, "ish");
    m.hook = null;
    assert.deepEqual(kinds, [STEP.TLB_FLUSH]);
    const mmu = m.arm64!;
    assert.equal(mmu.tlbs[0].count + mmu.tlbs[1].count, 0);
    assert.equal(mmu.counters.tlbi_va, 1);
    assert.equal(mmu.counters.dsb_ish, 1);
    // The ledger has them too, on the issuing CPU.
    m.tlbiAsid(1);
    m.dsb(1, "ishst");
    assert.deepEqual(
      [CTR.tlbi_va, CTR.dsb_ish, CTR.tlbi_asid, CTR.dsb_ishst].map((k) => [
        m.ledger.get(0, k),
        m.ledger.get(1, k),
      ]),
      [
        [1, 0],
        [1, 0],
        [0, 1],
        [0, 1],
      ],
    );
  });
  it("hardware updates reach the tracer, and save/restore covers the arm64 TLBs", () => {
    const { m, ptep } = arm64Machine(true, true, PAGE_SHARED);
    const saved = m.save();
    const hw: [pte_t, pte_t][] = [];
    m.tracer = { sw: () => {}, hw: (_c, _va, _p, before, after) => hw.push([before, after]) };
    assert.ok(m.access(1, VA, ACCESS_WRITE, 5));
    m.tracer = null;
    assert.equal(hw.length, 1);
    assert.ok(pte_hw_dirty(hw[0][1]));
    m.restore(saved);
    assert.equal(m.arm64!.tlbs[1].count, 0);
    assert.equal(pte_hw_dirty(m.peekPte(ptep)), false);
  });
  it("an x86 machine has no arm64 MMU", () => {
    assert.equal(new Machine({ cpus: 1 }).arm64, null);
  });
});

describe("the arch-neutral TLB view on an arm64 machine", () => {
  it("reports the entry's frame, flags, key and writability, and the machine's arch", () => {
    const { m, data } = arm64Machine(true, true, PAGE_SHARED);
    assert.equal(m.arch.arch, "arm64");
    const vpn = VA / 4096;
    assert.equal(m.tlbFlags(1, vpn), -1);
    assert.equal(m.tlbKey(1, vpn), -1);
    assert.ok(m.access(1, VA, ACCESS_WRITE, 5));
    assert.equal(m.tlbPfn(1, vpn), data);
    assert.ok(m.arch.tlb_writable(m.tlbFlags(1, vpn)));
    assert.match(m.arch.tlb_flags_describe(m.tlbFlags(1, vpn)), /^RW U/);
    assert.deepEqual(m.tlbWritableVpns(1), [vpn]);
    assert.ok(m.tlbKey(1, vpn) >= data * 1024);
  });
});

describe("per-CPU FEAT_HAFDBS (a heterogeneous system)", () => {
  it("a CPU without HA takes an access-flag fault where a CPU with HA sets AF itself", () => {
    const m = new Machine({
      cpus: 3,
      arm64: { ha: true, hd: true, perCpu: [null, null, { ha: false, hd: false }] },
    });
    const pgd = m.mem.allocTable();
    for (const c of m.cpus) c.cr3 = pgd;
    const ptep = m.walkAlloc(pgd, VA, true, ARM64_TABLE);
    m.pteWrite(0, ptep, pfn_pte(m.mem.allocFrame(FRAME_DATA), PAGE_SHARED - PTE_AF));
    assert.equal(m.access(2, VA, ACCESS_READ, 0), false);
    assert.equal(m.cpus[2].pfError, FAULT_ACCESS_FLAG);
    assert.ok(m.access(1, VA, ACCESS_WRITE, 3));
    assert.ok(pte_young(m.peekPte(ptep)) && pte_hw_dirty(m.peekPte(ptep)));
    assert.throws(
      () => new Machine({ cpus: 2, arm64: { ha: true, hd: true, perCpu: [{ ha: false, hd: true }] } }),
      /CPU0: TCR_EL1.HD requires TCR_EL1.HA/,
    );
  });
});
