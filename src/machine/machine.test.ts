import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  Machine,
  PF_PROT,
  PF_WRITE,
  type Translation,
} from "./machine.js";
import { FRAME_DATA } from "./physmem.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_NX,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_USER,
  pfn_pte,
  pte_dirty,
  type pte_t,
  pte_wrprotect,
  pte_young,
} from "./pte.js";
import { TLB_DIRTY, TLB_RW } from "./tlb.js";

const TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
const URW = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER; // A and D clear: hardware must set them
const VA = 0x7f00_0000_0000 + 0x5000;

/** A machine with one mapped user page at VA; returns the leaf ptep and helpers. */
function setup(leafFlags = URW, upperRw = true) {
  const m = new Machine({ cpus: 2 });
  const mem = m.mem;
  const pgd = mem.allocTable();
  // The upper levels as the kernel's pte_alloc installs them (read-only ones when !upperRw).
  const ptep = m.walkAlloc(pgd, VA, true, upperRw ? TABLE : TABLE & ~_PAGE_RW);
  const data = mem.allocFrame(FRAME_DATA);
  mem.data[data] = 42;
  // Software stores by a CPU that takes no part in the tests' accesses.
  const set = (v: pte_t) => m.pteWrite(1, ptep, v);
  set(pfn_pte(data, leafFlags));
  for (const c of m.cpus) c.cr3 = pgd;
  const get = () => m.peekPte(ptep);
  return { m, ptep, data, get, set };
}

describe("MMU page walk", () => {
  it("sets A on a read miss, fills the TLB clean, and returns the data", () => {
    const { m, get } = setup();
    assert.ok(m.access(0, VA, ACCESS_READ, 0));
    assert.equal(m.cpus[0].lastValue, 42);
    assert.ok(pte_young(get()));
    assert.equal(pte_dirty(get()), false);
    const i = m.cpus[0].tlb.lookup(VA / 4096);
    assert.ok(i >= 0);
    assert.equal(m.cpus[0].tlb.flags[i] & TLB_DIRTY, 0);
  });
  it("sets A and D together on a write miss", () => {
    const { m, get, data } = setup();
    assert.ok(m.access(1, VA, ACCESS_WRITE, 7));
    assert.ok(pte_young(get()) && pte_dirty(get()));
    assert.equal(m.mem.data[data], 7);
  });
  it("faults on a non-present PTE, and on a write to a read-only one without setting A", () => {
    const { m, get, set } = setup();
    set(0 as pte_t);
    assert.equal(m.access(0, VA, ACCESS_READ, 0), false);
    assert.equal(m.cpus[0].pfError & PF_PROT, 0);
    set(pfn_pte(5, _PAGE_PRESENT | _PAGE_USER));
    assert.equal(m.access(0, VA, ACCESS_WRITE, 1), false);
    assert.equal(m.cpus[0].pfError & (PF_PROT | PF_WRITE), PF_PROT | PF_WRITE);
    assert.equal(pte_young(get()), false);
  });
  it("combines rights across levels: an upper level without R/W makes the page read-only", () => {
    const { m } = setup(URW, false);
    assert.ok(m.access(0, VA, ACCESS_READ, 0));
    assert.equal(m.access(0, VA, ACCESS_WRITE, 1), false);
  });
  it("faults on instruction fetch from an NX page", () => {
    const { m, set, data } = setup();
    set((pfn_pte(data, URW) + _PAGE_NX) as pte_t);
    assert.equal(m.access(0, VA, ACCESS_EXEC, 0), false);
    set(pfn_pte(data, URW));
    assert.ok(m.access(0, VA, ACCESS_EXEC, 0));
  });
  it("probe walks without side effects", () => {
    const { m, get, ptep } = setup();
    const before = get();
    const out: Translation = { ptep: -1, pte: 0 as pte_t, upper: 0 };
    m.probe(m.cpus[0].cr3, VA, out);
    assert.equal(out.ptep, ptep);
    assert.equal(get(), before);
    assert.equal(m.cpus[0].tlb.count, 0);
  });
});

describe("dirty bit through the TLB", () => {
  it("sets D on the first write through a clean TLB entry by re-reading the PTE", () => {
    const { m, get } = setup();
    assert.ok(m.access(0, VA, ACCESS_READ, 0)); // fill clean
    assert.equal(pte_dirty(get()), false);
    assert.ok(m.access(0, VA, ACCESS_WRITE, 9));
    assert.ok(pte_dirty(get()));
    assert.ok(m.cpus[0].tlb.flags[m.cpus[0].tlb.lookup(VA / 4096)] & TLB_DIRTY);
    assert.equal(m.cpus[0].lastTlbHit, true);
  });
  it("does not touch memory for later writes through a dirty entry", () => {
    const { m, get, set } = setup();
    assert.ok(m.access(0, VA, ACCESS_WRITE, 1));
    set((get() - _PAGE_DIRTY) as pte_t); // software cleaned it without a flush
    assert.ok(m.access(0, VA, ACCESS_WRITE, 2));
    assert.equal(pte_dirty(get()), false, "a stale dirty TLB entry does not set D again");
  });
  it("faults instead of setting D if the PTE became read-only, and drops the entry", () => {
    const { m, get, set } = setup();
    assert.ok(m.access(0, VA, ACCESS_READ, 0));
    set(pte_wrprotect(get()));
    assert.equal(m.access(0, VA, ACCESS_WRITE, 3), false);
    assert.equal(m.cpus[0].pfError & PF_PROT, PF_PROT);
    assert.equal(m.cpus[0].tlb.lookup(VA / 4096), -1);
    assert.equal(pte_dirty(get()), false);
  });
  it("faults instead of setting D if the PTE became non-present", () => {
    const { m, set } = setup();
    assert.ok(m.access(0, VA, ACCESS_READ, 0));
    set(0 as pte_t);
    assert.equal(m.access(0, VA, ACCESS_WRITE, 3), false);
    assert.equal(m.cpus[0].pfError & PF_PROT, 0);
  });
});

describe("stale TLB entries", () => {
  it("keep their old rights until invalidated", () => {
    const { m, get, set, data } = setup();
    assert.ok(m.access(1, VA, ACCESS_WRITE, 1)); // CPU1 caches a writable dirty entry
    set(pte_wrprotect(get()));
    assert.ok(m.access(1, VA, ACCESS_WRITE, 2), "stale writable entry still writes");
    assert.equal(m.mem.data[data], 2);
    assert.equal(m.access(0, VA, ACCESS_WRITE, 3), false, "another CPU walks and faults");
    m.invlpg(1, VA);
    assert.equal(m.access(1, VA, ACCESS_WRITE, 4), false, "after INVLPG CPU1 faults too");
  });
  it("a full flush drops every entry of that CPU only", () => {
    const { m } = setup();
    assert.ok(m.access(0, VA, ACCESS_READ, 0));
    assert.ok(m.access(1, VA, ACCESS_READ, 0));
    m.flushTlbAll(0);
    assert.equal(m.cpus[0].tlb.count, 0);
    assert.ok(m.cpus[1].tlb.lookup(VA / 4096) >= 0);
    assert.ok(m.cpus[1].tlb.flags[m.cpus[1].tlb.lookup(VA / 4096)] & TLB_RW);
  });
});

describe("the arch-neutral TLB view on an x86-64 machine", () => {
  it("reports the cached entry's frame, flags and writability", () => {
    const { m, data } = setup();
    const vpn = VA / 4096;
    assert.equal(m.arch.arch, "x86-64");
    assert.equal(m.tlbFlags(1, vpn), -1);
    assert.deepEqual(m.tlbWritableVpns(1), []);
    assert.ok(m.access(1, VA, ACCESS_WRITE, 5));
    assert.equal(m.tlbPfn(1, vpn), data);
    assert.equal(m.tlbFlags(1, vpn) & (TLB_RW | TLB_DIRTY), TLB_RW | TLB_DIRTY);
    assert.equal(m.tlbKey(1, vpn), data * 16 + m.tlbFlags(1, vpn));
    assert.deepEqual(m.tlbWritableVpns(1), [vpn]);
    assert.equal(m.arch.tlb_flags_describe(m.tlbFlags(1, vpn)), "RW U D");
  });
});
