import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { X86_ARCH } from "../arch/x86/format.js";
import { nativeBackend } from "../backends/native.js";
import { ACCESS_READ, ACCESS_WRITE, Machine, MachineCheck } from "../machine/machine.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_SOFT_DIRTY,
  pte_dirty,
  pte_pfn,
  pte_present,
  pte_protnone,
  pte_special,
  type pte_t,
  pte_write,
  pte_young,
} from "../machine/pte.js";
import { loadScenarioText } from "../scenario/load.js";
import { runScenario } from "../sim/simulation.js";
import { EINVAL, ENOMEM } from "./errno.js";
import { Kernel, type KernelOptions, VM_FAULT_SIGSEGV } from "./kernel.js";
import { sys_madvise as madviseKS } from "./madvise.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "./mman.js";
import { change_protection } from "./mprotect.js";
import { change_prot_numa as numaKS } from "./numa.js";
import { MM_CP_PROT_NUMA } from "./numa-flags.js";
import { MADV_DONTNEED, MADV_FREE, type PathEvent } from "./paths-api.js";
import { pte_accessible } from "./pgtable.js";
import { page_mkclean_one, reclaim as reclaimKS, writeback as writebackKS } from "./rmap.js";
import { vma_page_prot as vmaPageProt } from "./softdirty.js";
import { runToEnd } from "./step.js";
import { clear_refs_soft_dirty as clearRefsKS } from "./task_mmu.js";
import { VM_SHARED, VM_SOFTDIRTY, VM_WRITE } from "./vma.js";

const RW = PROT_READ | PROT_WRITE;

// The paths run to completion with no scheduler (the checker's tests interleave them).
const sys_madvise = (k: Kernel, cpu: number, a: number, len: number, advice: number) =>
  runToEnd(madviseKS(k, cpu, a, len, advice));
const change_prot_numa = (k: Kernel, cpu: number, s: number, e: number) => runToEnd(numaKS(k, cpu, s, e));
const clear_refs_soft_dirty = (k: Kernel, cpu: number) => runToEnd(clearRefsKS(k, cpu));
const reclaim = (k: Kernel, cpu: number, a: number) => runToEnd(reclaimKS(k, cpu, a));
const writeback = (k: Kernel, cpu: number, a: number) => runToEnd(writebackKS(k, cpu, a));
const folio_mkclean = (k: Kernel, a: number) => runToEnd(page_mkclean_one(k, 0, a, k.walk(a, false)));
const vma_page_prot = (flags: number, ignore: boolean) => vmaPageProt(X86_ARCH, flags, ignore);

function boot(opts: KernelOptions = {}) {
  const m = new Machine({ cpus: 3, maxFrames: 1 << 12 });
  const k = new Kernel(m, nativeBackend, opts);
  const events: PathEvent[] = [];
  k.observer = { pathEvent: (_cpu, ev) => events.push(ev) };
  return { m, k, events };
}

function touch(m: Machine, k: Kernel, cpu: number, addr: number, write: boolean, value = 7): boolean {
  for (let i = 0; i < 4; i++) {
    if (m.access(cpu, addr, write ? ACCESS_WRITE : ACCESS_READ, value)) return true;
    if (k.handle_mm_fault(cpu, addr, m.cpus[cpu].pfError) === VM_FAULT_SIGSEGV) return false;
  }
  throw new Error("fault loop");
}

function map(k: Kernel, pages: number, shared = false): number {
  const a = k.sys_mmap(0, 0, pages * 4096, RW, MAP_ANONYMOUS | (shared ? MAP_SHARED : MAP_PRIVATE));
  assert.ok(a > 0);
  return a;
}

const has = (pte: pte_t, bit: number) => (pte & bit) !== 0;

describe("clear_refs (soft-dirty)", () => {
  it("write-protects and soft-cleans every present entry, keeps D, clears VM_SOFTDIRTY, flushes", () => {
    const { m, k } = boot();
    const a = map(k, 2);
    assert.ok(touch(m, k, 1, a, true));
    assert.ok(touch(m, k, 2, a + 4096, false)); // the zero page
    const before = k.peekPte(a);
    assert.ok(has(before, _PAGE_SOFT_DIRTY) && pte_write(before) && pte_dirty(before));
    assert.equal(clear_refs_soft_dirty(k, 0), 0);
    const after = k.peekPte(a);
    assert.ok(!has(after, _PAGE_SOFT_DIRTY) && !pte_write(after) && pte_dirty(after));
    assert.equal(pte_pfn(after), pte_pfn(before));
    assert.ok(pte_present(k.peekPte(a + 4096)));
    for (const v of k.as.vmas()) assert.equal(v.flags & VM_SOFTDIRTY, 0);
    assert.equal(m.cpus[1].tlb.lookup(a / 4096), -1, "CPU1's translation is flushed");
    // The next write faults (wp_page_reuse: pte_mkdirty) and marks the page soft-dirty again.
    assert.ok(touch(m, k, 1, a, true));
    assert.ok(has(k.peekPte(a), _PAGE_SOFT_DIRTY));
  });

  it("after clear_refs a shared read fault maps read-only (write notification), unless the 2014 bug", () => {
    for (const [mutant, writable] of [
      [null, false],
      ["no-writenotify-after-softdirty-clear", true],
    ] as const) {
      const { m, k } = boot({ mutant });
      const a = map(k, 1, true);
      clear_refs_soft_dirty(k, 0);
      assert.ok(touch(m, k, 1, a, false));
      assert.equal(pte_write(k.peekPte(a)), writable, String(mutant));
    }
  });

  it("vma_page_prot: write-protected only for shared writable VMAs with tracking armed", () => {
    const sw = VM_SHARED | VM_WRITE | 1;
    assert.equal(pte_write(vma_page_prot(sw | VM_SOFTDIRTY, false) as pte_t), true);
    assert.equal(pte_write(vma_page_prot(sw, false) as pte_t), false);
    assert.equal(pte_write(vma_page_prot(sw, true) as pte_t), true);
    assert.equal(pte_write(vma_page_prot(VM_WRITE | 1, false) as pte_t), false, "private: COW anyway");
  });

  it("mprotect's try-change-writable keeps a soft-clean entry read-only (and the inverted test does not)", () => {
    for (const [mutant, writable] of [
      [null, false],
      ["softdirty-check-inverted", true],
    ] as const) {
      const { m, k } = boot({ mutant });
      const a = map(k, 1);
      assert.ok(touch(m, k, 1, a, true));
      clear_refs_soft_dirty(k, 0);
      k.sys_mprotect(0, a, 4096, PROT_READ);
      k.sys_mprotect(0, a, 4096, RW);
      assert.equal(pte_write(k.peekPte(a)), writable, String(mutant));
    }
  });

  it("the plain read-modify-write variant writes what it read (no transaction)", () => {
    const { m, k } = boot({ mutant: "clear-soft-dirty-plain-rmw" });
    const a = map(k, 1);
    assert.ok(touch(m, k, 1, a, true));
    clear_refs_soft_dirty(k, 0);
    const p = k.peekPte(a);
    assert.ok(!pte_write(p) && !has(p, _PAGE_SOFT_DIRTY) && pte_dirty(p));
  });
});

describe("madvise", () => {
  it("MADV_FREE: clean, old, still writable entries; lazyfree folios; the TLB flushed", () => {
    const { m, k, events } = boot();
    const a = map(k, 2);
    assert.ok(touch(m, k, 1, a, true));
    assert.equal(sys_madvise(k, 0, a, 2 * 4096, MADV_FREE), 0);
    const p = k.peekPte(a);
    assert.ok(pte_write(p) && !pte_dirty(p) && !pte_young(p));
    assert.ok(k.lazyfree.has(pte_pfn(p)));
    assert.equal(m.cpus[1].tlb.lookup(a / 4096), -1);
    assert.deepEqual(events[0], { kind: "madvise-free", start: a, end: a + 2 * 4096 });
  });

  it("MADV_FREE then reclaim: a clean page is discarded (reads zero), a re-dirtied one kept", () => {
    const { m, k, events } = boot();
    const a = map(k, 2);
    assert.ok(touch(m, k, 1, a, true, 11));
    assert.ok(touch(m, k, 1, a + 4096, true, 12));
    sys_madvise(k, 0, a, 2 * 4096, MADV_FREE);
    assert.ok(touch(m, k, 2, a + 4096, true, 13)); // the MMU sets D again
    assert.equal(reclaim(k, 0, a), "discarded");
    assert.equal(reclaim(k, 0, a + 4096), "referenced", "the write made it young");
    assert.equal(reclaim(k, 0, a + 4096), "re-dirtied");
    assert.equal(k.peekPte(a), 0);
    assert.ok(pte_dirty(k.peekPte(a + 4096)));
    assert.equal(k.lazyfree.size, 0);
    assert.ok(events.some((e) => e.kind === "discarded" && e.addr === a));
    assert.ok(touch(m, k, 1, a, false));
    assert.equal(m.cpus[1].lastValue, 0);
    assert.ok(touch(m, k, 1, a + 4096, false));
    assert.equal(m.cpus[1].lastValue, 13);
  });

  it("MADV_DONTNEED zaps private pages (zero afterwards) and keeps shared ones cached", () => {
    const { m, k } = boot();
    const p = map(k, 1);
    const s = map(k, 1, true);
    assert.ok(touch(m, k, 1, p, true, 21));
    assert.ok(touch(m, k, 1, s, true, 22));
    assert.equal(sys_madvise(k, 0, p, 4096, MADV_DONTNEED), 0);
    assert.equal(sys_madvise(k, 0, s, 4096, MADV_DONTNEED), 0);
    assert.equal(k.peekPte(p), 0);
    assert.equal(k.peekPte(s), 0);
    assert.ok(touch(m, k, 2, p, false));
    assert.equal(m.cpus[2].lastValue, 0);
    assert.ok(touch(m, k, 2, s, false));
    assert.equal(m.cpus[2].lastValue, 22);
  });

  it("errors: EINVAL for an unaligned start, another advice, MADV_FREE on shared memory; ENOMEM for a hole", () => {
    const { k } = boot();
    const a = map(k, 1);
    const s = map(k, 1, true);
    assert.equal(sys_madvise(k, 0, a + 1, 4096, MADV_FREE), -EINVAL);
    assert.equal(sys_madvise(k, 0, a, 4096, 3), -EINVAL);
    assert.equal(sys_madvise(k, 0, s, 4096, MADV_FREE), -EINVAL);
    assert.equal(sys_madvise(k, 0, a, 64 * 4096, MADV_DONTNEED), -ENOMEM);
  });
});

describe("reclaim and writeback (rmap)", () => {
  it("writeback cleans and write-protects the entry, stores the contents, and writes only dirty pages", () => {
    const { m, k, events } = boot();
    const a = map(k, 1, true);
    assert.ok(touch(m, k, 1, a, true, 31));
    assert.equal(writeback(k, 0, a), true);
    const p = k.peekPte(a);
    assert.ok(!pte_write(p) && !pte_dirty(p) && pte_young(p));
    assert.equal(k.backing.get(a / 4096), 31);
    assert.deepEqual(events.at(-1), { kind: "written-back", addr: a, value: 31 });
    assert.equal(writeback(k, 0, a), false, "clean now");
    assert.equal(m.cpus[1].tlb.lookup(a / 4096), -1, "page_mkclean_one flushed");
    assert.equal(folio_mkclean(k, a), false);
  });

  it("reclaim: a referenced page stays, an old shared page is written out, evicted and read back", () => {
    const { m, k } = boot();
    const a = map(k, 1, true);
    assert.ok(touch(m, k, 1, a, true, 41));
    assert.equal(reclaim(k, 0, a), "referenced");
    assert.equal(reclaim(k, 0, a), "evicted");
    assert.equal(k.peekPte(a), 0);
    assert.equal(k.backing.get(a / 4096), 41);
    assert.ok(touch(m, k, 2, a, false));
    assert.equal(m.cpus[2].lastValue, 41);
  });

  it("reclaim leaves private pages that are not lazyfree mapped (swap is not modelled)", () => {
    const { m, k } = boot();
    const a = map(k, 1);
    assert.ok(touch(m, k, 1, a, true));
    reclaim(k, 0, a);
    assert.equal(reclaim(k, 0, a), "kept");
    assert.ok(pte_present(k.peekPte(a)));
  });

  it("page_mkclean_one without its flush leaves a dirty writable translation: a later write sets no D", () => {
    const { m, k } = boot({ mutant: "page-mkclean-no-flush" });
    const a = map(k, 1, true);
    assert.ok(touch(m, k, 1, a, true, 51));
    writeback(k, 0, a);
    assert.ok(m.access(1, a, ACCESS_WRITE, 52), "through the stale TLB entry");
    assert.ok(!pte_dirty(k.peekPte(a)));
    reclaim(k, 0, a);
    assert.equal(reclaim(k, 0, a), "evicted");
    assert.equal(k.backing.get(a / 4096), 51, "the write of 52 never reached the backing store");
  });
});

describe("NUMA hinting", () => {
  it("change_prot_numa makes present entries PROT_NONE (keeping A/D/soft-dirty), skips the zero page, flushes", () => {
    const { m, k, events } = boot();
    const a = map(k, 2);
    assert.ok(touch(m, k, 1, a, true));
    assert.ok(touch(m, k, 1, a + 4096, false));
    const before = k.peekPte(a);
    assert.equal(change_prot_numa(k, 0, a, a + 2 * 4096), 1);
    const p = k.peekPte(a);
    assert.ok(pte_protnone(p));
    assert.equal(
      p & (_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY),
      before & (_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY),
    );
    assert.ok(pte_special(k.peekPte(a + 4096)) && !pte_protnone(k.peekPte(a + 4096)));
    assert.equal(m.cpus[1].tlb.lookup(a / 4096), -1);
    assert.equal(k.tlbFlushPending, 0);
    assert.deepEqual(events[0], { kind: "numa-hinting", start: a, end: a + 2 * 4096 });
  });

  it("the hinting fault migrates a private page: new frame, same contents, old frame freed", () => {
    const { m, k } = boot();
    const a = map(k, 1);
    assert.ok(touch(m, k, 1, a, true, 61));
    const old = pte_pfn(k.peekPte(a));
    change_prot_numa(k, 0, a, a + 4096);
    assert.ok(touch(m, k, 2, a, false));
    assert.equal(m.cpus[2].lastValue, 61);
    const p = k.peekPte(a);
    assert.ok(pte_present(p) && !pte_protnone(p) && pte_dirty(p));
    assert.notEqual(pte_pfn(p), old);
    assert.ok(touch(m, k, 2, a, true, 62), "writable again after a write fault");
  });

  it("a shared page's hinting entry is restored in place", () => {
    const { m, k } = boot();
    const a = map(k, 1, true);
    assert.ok(touch(m, k, 1, a, true, 71));
    const old = pte_pfn(k.peekPte(a));
    change_prot_numa(k, 0, a, a + 4096);
    assert.ok(touch(m, k, 2, a, true, 72));
    assert.equal(pte_pfn(k.peekPte(a)), old);
  });

  it("pte_accessible: present, or PROT_NONE while a flush is pending (not in the pre-2013 variant)", () => {
    const { k } = boot();
    const protnone = 0x1000 | 0x100; // a PFN and _PAGE_PROTNONE
    assert.equal(pte_accessible(k, 0x1001 as pte_t), true);
    assert.equal(pte_accessible(k, protnone as pte_t), false);
    k.tlbFlushPending = 1;
    assert.equal(pte_accessible(k, protnone as pte_t), true);
    const b = boot({ mutant: "pte-accessible-ignores-flush-pending" }).k;
    b.tlbFlushPending = 1;
    assert.equal(pte_accessible(b, protnone as pte_t), false);
  });

  it("without the pending-flush check, a stale translation writes into the migrated-away frame", () => {
    const { m, k } = boot({ mutant: "pte-accessible-ignores-flush-pending" });
    const a = map(k, 1);
    assert.ok(touch(m, k, 1, a, true, 81));
    // The hinting fault between change_pte_range and its deferred flush, simulated by hand:
    k.tlbFlushPending = 1;
    runToEnd(
      change_protection(k, 0, k.as.findVma(a)!, a, a + 4096, MM_CP_PROT_NUMA, {
        start: Number.POSITIVE_INFINITY,
        end: 0,
      }),
    );
    assert.ok(touch(m, k, 2, a, false));
    assert.throws(() => m.access(1, a, ACCESS_WRITE, 82), MachineCheck);
  });
});

describe("the paths in scenarios", () => {
  const base = `name: t
cpus: 2
regions:
  - { name: p, pages: 2, prot: rw }
`;
  const errors = (text: string): string[] => {
    const r = loadScenarioText(text, "t.yaml");
    return r.ok ? [] : r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
  };

  it("accept clear_refs, madvise, writeback, reclaim and change_prot_numa on CPU 0, reclaim and writeback in programs", () => {
    const r = loadScenarioText(
      `${base}syscalls:
  - { call: clear_refs }
  - { call: madvise, region: p, advice: free }
  - { call: writeback, region: p, pages: 1 }
  - { call: reclaim, region: p, offset: 1 }
  - { call: change_prot_numa, region: p }
programs:
  - ["w p:0", "reclaim p:1", "writeback p:0"]
`,
      "t.yaml",
    );
    assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("; "));
  });

  it("locate misuse: clear_refs with a region, madvise without advice, advice elsewhere, an unknown advice", () => {
    assert.match(
      errors(`${base}syscalls:\n  - { call: clear_refs, region: p }\n`).join(),
      /6:\d+: .*clear_refs acts on the whole mm and takes no region/,
    );
    assert.match(
      errors(`${base}syscalls:\n  - { call: madvise, region: p }\n`).join(),
      /6:\d+: .*madvise needs an advice/,
    );
    assert.match(
      errors(`${base}syscalls:\n  - { call: reclaim, region: p, advice: free }\n`).join(),
      /reclaim takes no advice/,
    );
    assert.match(
      errors(`${base}syscalls:\n  - { call: madvise, region: p, advice: cold }\n`).join(),
      /6:\d+: .*advice/,
    );
    assert.match(errors(`${base}syscalls:\n  - { call: writeback }\n`).join(), /writeback needs a region/);
    assert.match(
      errors(`${base}programs:\n  - ["evict p:0"]\n`).join(),
      /writeback\|reclaim\|change_prot_numa REGION/,
    );
  });

  it("run: the calls are recorded with their CPU and result, on CPU 0 and in a program", () => {
    const r = loadScenarioText(
      `${base}syscalls:
  - { call: madvise, region: p, advice: free }
  - { call: reclaim, region: p }
  - { call: clear_refs }
programs:
  - ["reclaim p:0", "w p:1"]
`,
      "t.yaml",
    );
    assert.ok(r.ok);
    const res = runScenario(r.scenario, nativeBackend);
    const calls = res.syscalls.map((c) => `${c.cpu ?? 0}:${c.call}${c.advice ? `(${c.advice})` : ""}`);
    assert.deepEqual(
      calls.filter((c) => c.startsWith("0:")),
      ["0:madvise(free)", "0:reclaim", "0:clear_refs"],
    );
    assert.deepEqual(
      calls.filter((c) => c.startsWith("1:")),
      ["1:reclaim"],
    );
    for (const c of res.syscalls) assert.ok(c.ret >= 0 && c.ret <= 2, `${c.call} returned ${c.ret}`);
    assert.deepEqual(res.violations, []);
  });
});
