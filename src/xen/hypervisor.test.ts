import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Machine, STEP } from "../machine/machine.js";
import { FRAME_DATA, type ptep_t } from "../machine/physmem.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_NX,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_SOFTW2,
  _PAGE_USER,
  pfn_pte,
  type pte_t,
  pteClearLow,
  pteSetLow,
} from "../machine/pte.js";
import {
  __HYPERVISOR_mmu_update,
  __HYPERVISOR_mmuext_op,
  ENOSYS,
  EPERM,
  Hypervisor,
  isFastPath,
  MMU_NORMAL_PT_UPDATE,
  MMU_PT_UPDATE_PRESERVE_AD,
  MMUEXT_INVLPG_MULTI,
  MMUEXT_TLB_FLUSH_MULTI,
  type MulticallEntry,
  XENFEAT_mmu_pt_update_preserve_ad,
  XenError,
  XenFatal,
} from "./hypervisor.js";

const USER_RW = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;

/** A machine with one page table whose entry 0 maps a data frame; no kernel needed. */
function setup(features?: { mmu_pt_update_preserve_ad?: boolean }) {
  const m = new Machine({ cpus: 2, maxFrames: 256 });
  const hv = new Hypervisor(m, features === undefined ? {} : { features });
  const table = m.mem.allocTable();
  const data = m.mem.allocFrame(FRAME_DATA);
  const p: ptep_t = m.mem.ptep(table, 0);
  m.pteWrite(1, p, pfn_pte(data, USER_RW));
  const get = () => m.peekPte(p);
  const ctr = (name: string) => (m.ledger.totals() as Record<string, number>)[name] ?? 0;
  return { m, hv, p, data, table, get, ctr };
}

/** Run `hw` once, just before the first software step of `kind` (the scheduler's view). */
function before(m: Machine, kind: number, hw: () => void): void {
  m.hook = {
    point(_cpu, k) {
      if (k === kind) {
        m.hook = null;
        hw();
      }
    },
  };
}

/** What the MMU does when it sets bits: a locked OR into the entry. */
function hwSet(m: Machine, p: ptep_t, bits: number): void {
  m.pteWrite(1, p, pteSetLow(m.peekPte(p), bits));
}

describe("mod_l1_entry paths", () => {
  it("takes the fast path only for NX, A, D, G, U/S and software-bit changes of a present entry", () => {
    const v = pfn_pte(5, USER_RW);
    for (const bits of [_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_USER, _PAGE_SOFTW2])
      assert.ok(isFastPath(v, pteSetLow(v, bits)) && isFastPath(pteSetLow(v, bits), v));
    assert.ok(isFastPath(v, (v + _PAGE_NX) as pte_t), "NX is whitelisted");
    assert.equal(isFastPath(v, pteClearLow(v, _PAGE_RW)), false, "R/W change validates");
    assert.equal(isFastPath(v, pteClearLow(v, _PAGE_PRESENT)), false, "P 1->0 drops a reference");
    assert.equal(isFastPath(pteClearLow(v, _PAGE_PRESENT), v), false, "P 0->1 validates");
    assert.equal(isFastPath(v, pfn_pte(6, USER_RW)), false, "a new frame validates");
    assert.ok(isFastPath(0 as pte_t, pfn_pte(6, _PAGE_GLOBAL)), "non-present to non-present");
  });
});

describe("trap-and-emulate", () => {
  it("an emulated store counts one trap and loses an A/D update made between its read and write", () => {
    const { m, hv, p, get, ctr } = setup();
    const nv = pteClearLow(get(), _PAGE_RW);
    before(m, STEP.PTE_WRITE, () => hwSet(m, p, _PAGE_DIRTY));
    hv.trapStore(p, nv);
    assert.equal(get(), nv, "D set by the MMU is gone");
    assert.equal(ctr("trap_pt_write"), 1);
  });
  it("an emulated xchg is atomic: a concurrent A/D update makes the guest re-execute (another trap)", () => {
    const { m, hv, p, get, ctr } = setup();
    const old = get();
    before(m, STEP.PTE_CMPXCHG, () => hwSet(m, p, _PAGE_DIRTY));
    const got = hv.trapXchg(p, 0 as pte_t);
    assert.equal(got, pteSetLow(old, _PAGE_DIRTY), "the xchg returned the D bit");
    assert.equal(get(), 0);
    assert.equal(ctr("trap_pt_xchg"), 2);
  });
  it("an emulated cmpxchg is one trap; a refused value is a XenError (the guest takes a #PF)", () => {
    const { hv, p, get, ctr, table } = setup();
    const v = get();
    assert.equal(hv.trapCmpxchg(p, v, pteClearLow(v, _PAGE_ACCESSED)), v);
    assert.equal(ctr("trap_pt_xchg"), 1);
    assert.throws(
      () => hv.trapStore(p, pfn_pte(table, USER_RW)),
      (e: unknown) => e instanceof XenError && e.errno === EPERM,
      "a writable mapping of a page table is refused",
    );
  });
});

describe("HYPERVISOR_mmu_update", () => {
  it("MMU_PT_UPDATE_PRESERVE_AD keeps a D bit set between the guest's read and the commit", () => {
    const { m, hv, p, get, ctr } = setup();
    const read = get(); // the guest's ptep_modify_prot_start
    hwSet(m, p, _PAGE_DIRTY); // the MMU, before the hypercall
    const nv = pteClearLow(read, _PAGE_RW);
    assert.equal(hv.mmu_update([{ ptr: hv.maddrOf(p) + MMU_PT_UPDATE_PRESERVE_AD, val: nv }]), 0);
    assert.equal(get(), pteSetLow(nv, _PAGE_DIRTY));
    assert.deepEqual(
      [ctr("hypercall"), ctr("mmu_update"), ctr("mmu_update_slow"), ctr("cmpxchg_retry")],
      [1, 1, 1, 0],
    );
  });
  it("re-ORs A/D that appear between its own read and its cmpxchg, counting the retry", () => {
    const { m, hv, p, get, ctr } = setup();
    const nv = pteSetLow(get(), _PAGE_GLOBAL);
    before(m, STEP.PTE_CMPXCHG, () => hwSet(m, p, _PAGE_ACCESSED | _PAGE_DIRTY));
    hv.mmu_update([{ ptr: hv.maddrOf(p) + MMU_PT_UPDATE_PRESERVE_AD, val: nv }]);
    assert.equal(get(), pteSetLow(nv, _PAGE_ACCESSED | _PAGE_DIRTY));
    assert.deepEqual([ctr("cmpxchg_retry"), ctr("mmu_update_fast")], [1, 1]);
  });
  it("a change of any other bit under the loop is fatal: XenFatal names the PTE", () => {
    const { m, hv, p, get } = setup();
    const nv = pteSetLow(get(), _PAGE_GLOBAL);
    before(m, STEP.PTE_CMPXCHG, () => {
      m.pteWrite(1, p, pteClearLow(get(), _PAGE_RW)); // a rogue software writer
    });
    assert.throws(
      () => hv.mmu_update([{ ptr: hv.maddrOf(p) + MMU_PT_UPDATE_PRESERVE_AD, val: nv }]),
      (e: unknown) =>
        e instanceof XenFatal &&
        e.ptep === p &&
        e.maddr === hv.maddrOf(p) &&
        /BUG/.test(e.message) &&
        e.message.includes(hv.maddrOf(p).toString(16)),
    );
  });
  it("MMU_NORMAL_PT_UPDATE is a plain write: it loses concurrent A/D", () => {
    const { m, hv, p, get } = setup();
    const nv = pteClearLow(get(), _PAGE_RW);
    before(m, STEP.PTE_WRITE, () => hwSet(m, p, _PAGE_DIRTY));
    hv.mmu_update([{ ptr: hv.maddrOf(p) + MMU_NORMAL_PT_UPDATE, val: nv }]);
    assert.equal(get(), nv);
  });
  it("without XENFEAT_mmu_pt_update_preserve_ad, PRESERVE_AD is -ENOSYS and nothing changes", () => {
    const { hv, p, get } = setup({ mmu_pt_update_preserve_ad: false });
    assert.equal(hv.hasFeature(XENFEAT_mmu_pt_update_preserve_ad), false);
    const v = get();
    assert.equal(
      hv.mmu_update([{ ptr: hv.maddrOf(p) + MMU_PT_UPDATE_PRESERVE_AD, val: 0 as pte_t }]),
      -ENOSYS,
    );
    assert.equal(get(), v);
    assert.throws(
      () => new Hypervisor(new Machine({ cpus: 1 }), { features: { bogus: true } as never }),
      /unknown/,
    );
  });
  it("rejects a pointer outside any page table and stops at the first failing request", () => {
    const { hv, p, get, data } = setup();
    const v = get();
    const bad = data * 4096;
    assert.ok(hv.mmu_update([{ ptr: bad, val: 0 as pte_t }]) < 0);
    const r = hv.mmu_update([
      { ptr: bad, val: 0 as pte_t },
      { ptr: hv.maddrOf(p), val: 0 as pte_t },
    ]);
    assert.ok(r < 0);
    assert.equal(get(), v, "the second request was not applied");
    assert.equal(hv.ptepOfMaddr(hv.maddrOf(p)), p);
  });
});

describe("HYPERVISOR_multicall and MMUEXT TLB operations", () => {
  it("runs the entries in order as one hypercall and one multicall", () => {
    const { m, hv, p, get, ctr } = setup();
    const vpn = 0x1234;
    m.cpus[0].tlb.insert(vpn, 7, 0);
    m.cpus[1].tlb.insert(vpn, 7, 0);
    const reqs = [
      { ptr: hv.maddrOf(p) + MMU_PT_UPDATE_PRESERVE_AD, val: pteSetLow(get(), _PAGE_GLOBAL) },
      { ptr: hv.maddrOf(p + 1), val: 0 as pte_t },
    ];
    const entries: MulticallEntry[] = [
      { op: __HYPERVISOR_mmu_update, reqs, start: 0, count: 2, ext: null, result: 1 },
      {
        op: __HYPERVISOR_mmuext_op,
        reqs: [],
        start: 0,
        count: 0,
        ext: { cmd: MMUEXT_INVLPG_MULTI, linearAddr: vpn * 4096, vcpumask: [0, 1] },
        result: 1,
      },
      { op: 999, reqs: [], start: 0, count: 0, ext: null, result: 1 },
    ];
    assert.equal(hv.multicall(entries), 0);
    assert.deepEqual(
      entries.map((e) => e.result),
      [0, 0, -ENOSYS],
    );
    assert.ok((get() & _PAGE_GLOBAL) !== 0);
    assert.equal(m.cpus[1].tlb.lookup(vpn), -1, "INVLPG_MULTI reached the other vCPU");
    assert.deepEqual(
      [
        ctr("hypercall"),
        ctr("multicall"),
        ctr("mmu_update"),
        ctr("mmuext_op"),
        ctr("tlb_invlpg"),
        ctr("ipi"),
      ],
      [1, 1, 2, 1, 2, 1],
    );
    hv.mmuext_op([{ cmd: MMUEXT_TLB_FLUSH_MULTI, linearAddr: 0, vcpumask: [0, 1] }]);
    assert.equal(ctr("tlb_flush_all"), 2);
    assert.equal(ctr("hypercall"), 2);
  });
});
