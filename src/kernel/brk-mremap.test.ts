import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nativeBackend } from "../backends/native.js";
import { getBackend } from "../backends/registry.js";
import { ACCESS_READ, ACCESS_WRITE, Machine } from "../machine/machine.js";
import { FRAME_FREE } from "../machine/physmem.js";
import { pte_pfn, type pte_t } from "../machine/pte.js";
import { movePageTables, type RemapStats, sys_brk, sys_mremap } from "./brk-mremap.js";
import { EFAULT } from "./errno.js";
import { Kernel } from "./kernel.js";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_LOCKED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";
import type { BackendModule } from "./pvops.js";

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const SB = 0x600000;

function boot(backend: BackendModule = nativeBackend, cpus = 2) {
  const m = new Machine({ cpus, maxFrames: 1 << 16 });
  const k = new Kernel(m, backend);
  k.as.setBrk(SB);
  return { m, k };
}

/** A user access from `cpu`, faults handled; false on SIGSEGV. */
function touch(_m: Machine, k: Kernel, cpu: number, addr: number, write: boolean, value = 7): boolean {
  return k.faultin(cpu, addr, write ? ACCESS_WRITE : ACCESS_READ, value);
}

function mapAt(k: Kernel, addr: number, pages: number, flags = MAP_PRIVATE): number {
  const a = k.sys_mmap(0, addr, pages * P, RW, flags | MAP_ANONYMOUS | MAP_FIXED);
  assert.equal(a, addr);
  return a;
}

function noLocksHeld(k: Kernel, addrs: number[]): void {
  assert.equal(k.mmapWriter, -1);
  for (const a of addrs) {
    const p = k.walk(a, false);
    if (p >= 0) assert.equal(k.ptlHolder(p), -1, `PTE lock of ${a.toString(16)} released`);
  }
  assert.equal(k.inLazyMmuMode(0), false);
}

describe("sys_brk", () => {
  it("grows without touching page tables and shrinks by zapping and freeing the cut pages", () => {
    const { m, k } = boot();
    assert.equal(sys_brk(k, 0, 0), SB);
    assert.equal(sys_brk(k, 0, SB + 4 * P), SB + 4 * P);
    assert.equal(m.ledger.total(0) + m.ledger.total(1), 0, "growth performs no PTE operation");
    for (let i = 0; i < 4; i++) assert.ok(touch(m, k, 1, SB + i * P, true));
    const pfn = pte_pfn(k.peekPte(SB + 3 * P));
    assert.equal(sys_brk(k, 0, SB + P + 5), SB + P + 5);
    assert.equal(k.peekPte(SB + 2 * P), 0);
    assert.equal(k.peekPte(SB + 3 * P), 0);
    assert.notEqual(k.peekPte(SB + P), 0, "the page holding the break stays");
    assert.equal(m.mem.kind[pfn], FRAME_FREE, "frames of the cut pages are freed after the flush");
    assert.equal(touch(m, k, 1, SB + 3 * P, false), false, "CPU1's TLB entry was flushed: SIGSEGV");
    noLocksHeld(k, [SB, SB + 3 * P]);
  });

  it("returns the unchanged break on failure", () => {
    const { k } = boot();
    mapAt(k, SB + 2 * P, 1);
    assert.equal(sys_brk(k, 0, SB + 2 * P), SB);
  });
});

describe("sys_mremap", () => {
  it("a move carries the PTEs (same frames, same data) and flushes the old translations", () => {
    const { m, k } = boot();
    const a = mapAt(k, 0x7000000, 3);
    for (let i = 0; i < 3; i++) assert.ok(touch(m, k, 1, a + i * P, true, 100 + i));
    mapAt(k, a + 3 * P, 1); // blocks growing in place
    const before = [0, 1, 2].map((i) => k.peekPte(a + i * P));
    const st: RemapStats = { ptesMoved: 0, flushPages: 0, populated: 0 };
    const to = sys_mremap(k, 0, a, 3 * P, 5 * P, MREMAP_MAYMOVE, 0, { stats: st });
    assert.ok(to > 0 && to !== a);
    assert.equal(st.ptesMoved, 3);
    assert.equal(st.flushPages, 3);
    for (let i = 0; i < 3; i++) {
      assert.equal(k.peekPte(a + i * P), 0);
      assert.equal(k.peekPte(to + i * P), before[i], "the entry moved unchanged");
      assert.ok(touch(m, k, 1, to + i * P, false));
      assert.equal(m.cpus[1].lastValue, 100 + i, "the data moved with it");
    }
    assert.equal(k.peekPte(to + 3 * P), 0, "the grown part is not populated");
    assert.equal(touch(m, k, 1, a, false), false, "the old address is gone, also from CPU1's TLB");
    noLocksHeld(k, [a, to]);
  });

  it("moves across page-table boundaries of source and destination", () => {
    const { m, k } = boot();
    const a = mapAt(k, 0x7000000 + 0x200000 - 2 * P, 4);
    for (let i = 0; i < 4; i++) assert.ok(touch(m, k, 0, a + i * P, true, i + 1));
    const dest = 0x9000000 + 0x200000 - 3 * P;
    assert.equal(sys_mremap(k, 0, a, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED, dest), dest);
    for (let i = 0; i < 4; i++) {
      assert.ok(touch(m, k, 0, dest + i * P, false));
      assert.equal(m.cpus[0].lastValue, i + 1);
    }
    assert.equal(
      movePageTables(k, 0x5000000, 0x5800000, 8 * P),
      0,
      "no page table at the source: nothing to do",
    );
    noLocksHeld(k, [a, dest]);
  });

  it("MREMAP_FIXED zaps the destination's old pages first", () => {
    const { m, k } = boot();
    const a = mapAt(k, 0x7000000, 1);
    const d = mapAt(k, 0x9000000, 1);
    assert.ok(touch(m, k, 0, a, true, 1));
    assert.ok(touch(m, k, 0, d, true, 2));
    const old = pte_pfn(k.peekPte(d));
    assert.equal(sys_mremap(k, 0, a, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, d), d);
    assert.equal(m.mem.kind[old], FRAME_FREE);
    assert.ok(touch(m, k, 0, d, false));
    assert.equal(m.cpus[0].lastValue, 1);
  });

  it("MREMAP_DONTUNMAP empties the source, which then faults in fresh zero pages", () => {
    const { m, k } = boot();
    const a = mapAt(k, 0x7000000, 2);
    assert.ok(touch(m, k, 0, a, true, 5));
    const d = sys_mremap(k, 0, a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0x9000000);
    assert.equal(d, 0x9000000);
    assert.equal(k.peekPte(a), 0);
    assert.ok(touch(m, k, 0, a, false));
    assert.equal(m.cpus[0].lastValue, 0, "a fresh page");
    assert.ok(touch(m, k, 0, d, false));
    assert.equal(m.cpus[0].lastValue, 5);
  });

  it("a VM_LOCKED mapping that grows in place is populated; errors leave everything as it was", () => {
    const { k } = boot();
    const a = k.sys_mmap(0, 0x7000000, P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_LOCKED);
    const st: RemapStats = { ptesMoved: 0, flushPages: 0, populated: 0 };
    assert.equal(sys_mremap(k, 0, a, P, 3 * P, 0, 0, { stats: st }), a);
    assert.equal(st.populated, 2);
    assert.notEqual(k.peekPte(a + 2 * P), 0);
    assert.equal(sys_mremap(k, 0, 0x8000000, P, 2 * P, MREMAP_MAYMOVE), -EFAULT);
    noLocksHeld(k, [a]);
  });

  it("shared memory moves too", () => {
    const { m, k } = boot();
    const a = mapAt(k, 0x7000000, 2, MAP_SHARED);
    assert.ok(touch(m, k, 0, a + P, true, 9));
    assert.equal(sys_mremap(k, 0, a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x9000000), 0x9000000);
    assert.ok(touch(m, k, 0, 0x9000000 + P, false));
    assert.equal(m.cpus[0].lastValue, 9);
  });

  it("on Xen PV the moves are batched in lazy MMU mode (fewer hypercalls than entries moved)", (t) => {
    const xen = getBackend("xen");
    if (xen === undefined) {
      t.skip("no xen backend registered");
      return;
    }
    const { m, k } = boot(xen);
    const a = mapAt(k, 0x7000000, 64);
    for (let i = 0; i < 64; i++) assert.ok(touch(m, k, 0, a + i * P, true));
    const h0 = m.ledger.totals().hypercall ?? 0;
    assert.equal(sys_mremap(k, 0, a, 64 * P, 64 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x9000000), 0x9000000);
    const h = (m.ledger.totals().hypercall ?? 0) - h0;
    assert.ok(h > 0 && h < 64, `hypercalls for 64 moved entries: ${h}`);
    for (let i = 0; i < 64; i++) assert.notEqual(k.peekPte(0x9000000 + i * P) as pte_t, 0);
  });
});
