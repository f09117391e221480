import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Machine } from "../machine/machine.js";
import { FRAME_DATA } from "../machine/physmem.js";
import { _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, pfn_pte } from "../machine/pte.js";
import { KeyBuffer } from "../sim/key-buffer.js";
import { Hypervisor, MMU_NORMAL_PT_UPDATE, MMUEXT_TLB_FLUSH_MULTI, XenError } from "./hypervisor.js";
import { MulticallBuffers, type MulticallConfig } from "./multicall.js";

function setup(cfg: Partial<MulticallConfig> = {}) {
  const m = new Machine({ cpus: 2, maxFrames: 256 });
  const hv = new Hypervisor(m);
  const table = m.mem.allocTable();
  const data = m.mem.allocFrame(FRAME_DATA);
  const mc = new MulticallBuffers(hv, 2, {
    batch: 32,
    argBytes: 512,
    coalesce: true,
    rules: "2008",
    ...cfg,
  });
  const val = pfn_pte(data, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER);
  /** Queue n updates of consecutive entries on CPU 0 (flushing as Linux would when full). */
  const queue = (n: number) => {
    for (let i = 0; i < n; i++)
      mc.extendMmuUpdate(0, hv.maddrOf(m.mem.ptep(table, i)) + MMU_NORMAL_PT_UPDATE, val);
  };
  const ctr = (name: string) => (m.ledger.totals() as Record<string, number>)[name] ?? 0;
  return { m, hv, mc, queue, ctr, table, val };
}

describe("per-CPU multicall buffers (Linux multicalls.c)", () => {
  it("2008 rules: coalesced mmu_updates fill 512 bytes of arguments, 32 per HYPERVISOR_multicall", () => {
    for (const n of [1, 31, 32, 33, 64, 100, 512]) {
      const { mc, queue, ctr } = setup();
      queue(n);
      mc.flush(0);
      assert.equal(ctr("multicall"), Math.ceil(n / 32), `n=${n}`);
      assert.equal(ctr("hypercall"), Math.ceil(n / 32));
      assert.equal(ctr("mmu_update"), n);
    }
  });
  it("current rules: the argument test is >=, so 31 per batch, and a one-entry batch is a direct hypercall", () => {
    const { mc, queue, ctr } = setup({ rules: "current" });
    queue(100);
    mc.flush(0);
    assert.equal(ctr("hypercall"), Math.ceil(100 / 31));
    assert.equal(ctr("multicall"), 0, "every batch held one coalesced entry");
    assert.equal(ctr("mmu_update"), 100);
  });
  it("without coalescing each update is an entry and MC_BATCH entries bound a batch", () => {
    const { mc, queue, ctr } = setup({ coalesce: false, argBytes: 4096 });
    queue(100);
    assert.equal(mc.pendingEntries(0), 100 - 3 * 32);
    mc.flush(0);
    assert.equal(ctr("multicall"), 4);
    const big = setup({ coalesce: true, argBytes: 1024 });
    big.queue(100);
    big.mc.flush(0);
    assert.equal(big.ctr("multicall"), Math.ceil(100 / 64), "with coalescing the argument space bounds it");
  });
  it("keeps buffers per CPU, counts an empty flush as nothing, and accepts an oversize entry alone", () => {
    const { m, mc, queue, ctr } = setup({ batch: 1, argBytes: 16 });
    queue(3);
    assert.equal(ctr("multicall"), 2, "the 2nd and 3rd updates flushed the full buffer");
    assert.equal(mc.pendingUpdates(0), 1);
    assert.equal(mc.pendingUpdates(1), 0);
    mc.flush(1);
    assert.equal(ctr("hypercall"), 2);
    mc.addMmuext(0, { cmd: MMUEXT_TLB_FLUSH_MULTI, linearAddr: 0, vcpumask: [0, 1] }, 32);
    assert.equal(mc.pendingEntries(0), 1, "the pending update was flushed to make room");
    mc.flush(0);
    assert.equal(ctr("mmuext_op"), 1);
    assert.equal(m.ledger.totals().tlb_flush_all, 2);
  });
  it("reports a failed batched call as a XenError", () => {
    const { mc, hv, val } = setup();
    mc.extendMmuUpdate(0, 4096 * 200, val); // not a page table
    assert.throws(() => mc.flush(0), XenError);
    assert.equal(mc.pendingEntries(0), 0, "the buffer is reset even so");
    void hv;
  });
  it("the state key tells two buffer states apart exactly when what is queued differs", () => {
    // The key is written by hand for speed: it must partition states as a complete
    // serialisation of the queued part does (counters, the entries below mcidx, the requests
    // below nreq); slots left over from issued batches are dead and must not count.
    type Buf = { mcidx: number; argidx: number; nreq: number; entries: object[]; reqs: object[] };
    const queued = (mc: MulticallBuffers) =>
      JSON.stringify(
        (mc as unknown as { bufs: Buf[] }).bufs.map((b) => ({
          mcidx: b.mcidx,
          argidx: b.argidx,
          nreq: b.nreq,
          entries: b.entries.slice(0, b.mcidx).map((e) => ({ ...e, reqs: undefined })),
          reqs: b.reqs.slice(0, b.nreq),
        })),
      );
    const states: { key: string; numbers: string; full: string }[] = [];
    const numbersOf = (mc: MulticallBuffers) => {
      const k = new KeyBuffer();
      mc.stateKeyInto(k);
      return k.text();
    };
    const record = (mc: MulticallBuffers) =>
      states.push({ key: mc.stateKey(), numbers: numbersOf(mc), full: queued(mc) });
    for (const coalesce of [true, false]) {
      const { mc, hv, m, table, val } = setup({ coalesce });
      const upd = (cpu: number, i: number, v = val) =>
        mc.extendMmuUpdate(cpu, hv.maddrOf(m.mem.ptep(table, i)) + MMU_NORMAL_PT_UPDATE, v);
      record(mc);
      upd(0, 0);
      record(mc);
      upd(0, 1);
      record(mc);
      mc.addMmuext(0, { cmd: MMUEXT_TLB_FLUSH_MULTI, linearAddr: 0x1000, vcpumask: [0, 1] }, 16);
      record(mc);
      mc.flush(0);
      record(mc); // empty again, with stale slots left behind
      upd(0, 1);
      record(mc);
      upd(1, 2);
      record(mc);
      mc.addMmuext(1, { cmd: MMUEXT_TLB_FLUSH_MULTI, linearAddr: 0x2000, vcpumask: [1] }, 16);
      record(mc);
      upd(1, 2, (val + 2) as typeof val);
      record(mc);
    }
    let distinct = 0;
    for (let i = 0; i < states.length; i++)
      for (let j = i + 1; j < states.length; j++) {
        const sameFull = states[i].full === states[j].full;
        assert.equal(states[i].key === states[j].key, sameFull, `states ${i} and ${j}`);
        // The numeric key (what the checker uses) partitions them the same way.
        assert.equal(states[i].numbers === states[j].numbers, sameFull, `numbers of states ${i} and ${j}`);
        if (!sameFull) distinct++;
      }
    assert.ok(distinct > 0);
    assert.equal(
      states[4].key,
      states[0].key,
      "a flushed buffer keys as a fresh one: its stale slots are dead",
    );
  });
  it("while a buffer is issued, what the hypervisor has done leaves the key and the queue", () => {
    // Two runs queue the same three updates but for the first one's value; at each scheduling
    // point of the flush: the key and whether entry 0's update is still queued.
    const run = (first: number) => {
      const { m, mc, hv, table, val } = setup();
      const ptr = (i: number) => hv.maddrOf(m.mem.ptep(table, i));
      mc.extendMmuUpdate(0, ptr(0) + MMU_NORMAL_PT_UPDATE, (val + first) as typeof val);
      mc.extendMmuUpdate(0, ptr(1) + MMU_NORMAL_PT_UPDATE, val);
      mc.addMmuext(0, { cmd: MMUEXT_TLB_FLUSH_MULTI, linearAddr: 0x1000, vcpumask: [0, 1] }, 16);
      mc.extendMmuUpdate(0, ptr(2) + MMU_NORMAL_PT_UPDATE, val);
      const seen: { at: number; key: string; queued0: boolean; queued2: boolean }[] = [];
      const both = () => {
        const nums: number[] = [];
        mc.stateKeyInto(nums);
        return `${mc.stateKey()}#${nums.join(",")}`; // the string key and its numeric twin
      };
      m.hook = {
        point: () =>
          void seen.push({
            at: hv.requestAt(0),
            key: both(),
            queued0: mc.queuesUpdate(ptr(0)),
            queued2: mc.queuesUpdate(ptr(2)),
          }),
      };
      assert.ok(mc.queuesUpdate(ptr(0)) && mc.queuesUpdate(ptr(2)));
      mc.flush(0);
      m.hook = null;
      assert.ok(!mc.queuesUpdate(ptr(2)), "nothing is queued once the buffer is issued");
      return seen;
    };
    const a = run(0);
    const b = run(32); // the first update sets A as well
    assert.equal(a.length, b.length);
    let after = 0;
    for (let i = 0; i < a.length; i++) {
      const done = a[i].at > 0 || (a[i].at === -1 && i > 0); // past request 0 (or in a later entry)
      assert.equal(a[i].key === b[i].key, done, `point ${i} (request ${a[i].at})`);
      assert.equal(a[i].queued0, !done, `point ${i}`);
      assert.ok(a[i].queued2, `point ${i}: the last update is issued last`);
      if (done) after++;
    }
    assert.ok(after > 0 && after < a.length);
  });
});
