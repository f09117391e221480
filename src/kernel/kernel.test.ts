import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { naiveBackend } from "../backends/naive.js";
import { NativeMmuOps, nativeBackend } from "../backends/native.js";
import { xenBackend } from "../backends/xen.js";
import { ACCESS_READ, ACCESS_WRITE, Machine } from "../machine/machine.js";
import type { ptep_t } from "../machine/physmem.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  pte_dirty,
  pte_exec,
  pte_present,
  pte_protnone,
  pte_special,
  type pte_t,
  pte_write,
} from "../machine/pte.js";
import { ContractViolation } from "./contract.js";
import { EINVAL, ENOMEM } from "./errno.js";
import { Kernel, type KernelOptions, VM_FAULT_OK, VM_FAULT_SIGSEGV } from "./kernel.js";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";
import type { BackendModule } from "./pvops.js";

const RW = PROT_READ | PROT_WRITE;

function boot(backend: BackendModule = nativeBackend, opts: KernelOptions = {}, cpus = 3) {
  const m = new Machine({ cpus, maxFrames: 1 << 16 });
  const k = new Kernel(m, backend, opts);
  return { m, k };
}

/** Touch a page from `cpu` until it succeeds (handling faults); returns false on SIGSEGV. */
function touch(_m: Machine, k: Kernel, cpu: number, addr: number, write: boolean, value = 1): boolean {
  return k.faultin(cpu, addr, write ? ACCESS_WRITE : ACCESS_READ, value);
}

function mapAnon(k: Kernel, pages: number, prot = RW, shared = false): number {
  const a = k.sys_mmap(0, 0, pages * 4096, prot, MAP_ANONYMOUS | (shared ? MAP_SHARED : MAP_PRIVATE));
  assert.ok(a > 0, `mmap failed: ${a}`);
  return a;
}

describe("page faults", () => {
  it("a read of private anonymous memory maps the shared zero page read-only", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1);
    assert.ok(touch(m, k, 1, a, false));
    const pte = k.peekPte(a);
    assert.ok(pte_special(pte) && !pte_write(pte));
    assert.equal(m.cpus[1].lastValue, 0);
  });
  it("a write breaks COW of the zero page into a dirty writable page", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1);
    touch(m, k, 1, a, false);
    assert.ok(touch(m, k, 1, a, true, 77));
    const pte = k.peekPte(a);
    assert.ok(pte_write(pte) && pte_dirty(pte) && !pte_special(pte));
    assert.ok(touch(m, k, 2, a, false));
    assert.equal(m.cpus[2].lastValue, 77);
  });
  it("a read of shared anonymous memory maps a writable clean page (no write-notify on shmem)", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1, RW, true);
    touch(m, k, 1, a, false);
    const pte = k.peekPte(a);
    assert.ok(pte_write(pte) && !pte_dirty(pte));
    touch(m, k, 1, a, true);
    assert.ok(pte_dirty(k.peekPte(a)), "the MMU set D on the first write");
  });
  it("delivers SIGSEGV for unmapped addresses and for accesses the VMA forbids", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1, PROT_READ);
    assert.equal(touch(m, k, 1, a, true), false);
    assert.equal(touch(m, k, 1, a + 0x100000, false), false);
    const n = mapAnon(k, 1, PROT_NONE);
    assert.equal(touch(m, k, 1, n, false), false);
    assert.equal(k.handle_mm_fault(1, 0x1000, 0), VM_FAULT_SIGSEGV);
    assert.equal(k.handle_mm_fault(1, a, 0), VM_FAULT_OK);
  });
});

describe("mprotect through ptep_modify_prot_start/commit", () => {
  it("makes populated pages read-only, keeps PFN/A/D, and flushes every CPU before returning", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 4);
    for (let i = 0; i < 4; i++) touch(m, k, 1 + (i % 2), a + i * 4096, true, i + 1);
    const before = [0, 1, 2, 3].map((i) => k.peekPte(a + i * 4096));
    assert.equal(k.sys_mprotect(0, a, 4 * 4096, PROT_READ), 0);
    for (let i = 0; i < 4; i++) {
      const v = k.peekPte(a + i * 4096);
      assert.equal(pte_write(v), false);
      assert.ok(pte_dirty(v) && (v & _PAGE_ACCESSED) !== 0);
      assert.equal(v & ~0x2, before[i] & ~0x2);
    }
    assert.equal(k.lastMprotect.ptesChanged, 4);
    assert.equal(k.lastMprotect.flushPages, 4);
    for (const c of m.cpus) for (let i = 0; i < 4; i++) assert.equal(c.tlb.lookup(a / 4096 + i), -1);
    assert.equal(touch(m, k, 1, a, true), false, "write after mprotect(PROT_READ) returned gets SIGSEGV");
  });
  it("uses single-page invalidations up to 33 pages and a full flush above", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 40);
    for (let i = 0; i < 40; i++) touch(m, k, 1, a + i * 4096, true);
    k.sys_mprotect(0, a, 33 * 4096, PROT_READ);
    assert.equal(k.lastMprotect.flushFull, false);
    const inv0 = m.ledger.total(7);
    k.sys_mprotect(0, a, 40 * 4096, PROT_READ | PROT_EXEC);
    assert.equal(k.lastMprotect.flushFull, true);
    assert.equal(m.ledger.total(7), inv0, "no INVLPG for a full flush");
    assert.ok(m.ledger.totals().tlb_flush_all! >= 3, "one full flush per CPU of the mm");
    assert.ok(m.ledger.totals().ipi! >= 2, "IPIs to the two other CPUs");
  });
  it("encodes PROT_NONE as not present to hardware, present to software, and restores it", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1);
    touch(m, k, 1, a, true, 5);
    const old = k.peekPte(a);
    k.sys_mprotect(0, a, 4096, PROT_NONE);
    const v = k.peekPte(a);
    assert.ok(pte_protnone(v) && pte_present(v) && (v & _PAGE_PRESENT) === 0);
    assert.equal(touch(m, k, 1, a, false), false);
    k.sys_mprotect(0, a, 4096, RW);
    assert.ok(
      pte_write(k.peekPte(a)),
      "private anon exclusive page made writable again (try-change-writable)",
    );
    assert.equal(k.peekPte(a), old);
    assert.ok(touch(m, k, 2, a, false));
    assert.equal(m.cpus[2].lastValue, 5);
  });
  it("try-change-writable skips the zero page and keeps clean shared pages read-only", () => {
    const { m, k } = boot();
    const p = mapAnon(k, 1);
    touch(m, k, 1, p, false); // zero page
    k.sys_mprotect(0, p, 4096, PROT_READ);
    k.sys_mprotect(0, p, 4096, RW);
    assert.equal(pte_write(k.peekPte(p)), false, "zero page never becomes writable");
    const s = mapAnon(k, 2, RW, true);
    touch(m, k, 1, s, false);
    touch(m, k, 1, s + 4096, true);
    k.sys_mprotect(0, s, 2 * 4096, PROT_READ);
    k.sys_mprotect(0, s, 2 * 4096, RW);
    assert.ok(pte_write(k.peekPte(s)), "shmem vm_page_prot is writable: pte_modify alone restores RW");
    assert.ok(pte_write(k.peekPte(s + 4096)));
  });
  it("sets NX unless PROT_EXEC", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1);
    touch(m, k, 1, a, true);
    assert.equal(pte_exec(k.peekPte(a)), false);
    k.sys_mprotect(0, a, 4096, PROT_READ | PROT_EXEC);
    assert.ok(pte_exec(k.peekPte(a)));
  });
  it("returns Linux errors", () => {
    const { k } = boot();
    const a = mapAnon(k, 2);
    assert.equal(k.sys_mprotect(0, a + 1, 4096, PROT_READ), -EINVAL);
    assert.equal(k.sys_mprotect(0, a, 4096, 0x40), -EINVAL);
    assert.equal(k.sys_mprotect(0, a + 0x10000000, 4096, PROT_READ), -ENOMEM);
    assert.equal(k.sys_mprotect(0, a, 0, PROT_READ), 0);
  });
  it("uses the batched modify_prot_*_ptes over a folio-contiguous run, preserving per-PTE PFNs", () => {
    const { m, k } = boot(nativeBackend, { maxBatch: 16 });
    const a = mapAnon(k, 8);
    for (let i = 0; i < 8; i++) touch(m, k, 1, a + i * 4096, true, 100 + i);
    const pfns = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => k.peekPte(a + i * 4096));
    k.sys_mprotect(0, a, 8 * 4096, PROT_READ);
    for (let i = 0; i < 8; i++) {
      const v = k.peekPte(a + i * 4096);
      assert.equal(pte_write(v), false);
      assert.equal(v & ~0xfff, pfns[i] & ~0xfff);
    }
  });
});

describe("munmap", () => {
  it("clears the PTEs, flushes, and frees the frames", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 2);
    touch(m, k, 1, a, true);
    touch(m, k, 1, a + 4096, true);
    const used = m.mem.framesInUse;
    assert.equal(k.sys_munmap(0, a, 2 * 4096), 0);
    assert.equal(k.peekPte(a), 0);
    assert.equal(m.mem.framesInUse, used - 2);
    assert.equal(m.cpus[1].tlb.lookup(a / 4096), -1);
    assert.equal(touch(m, k, 1, a, false), false);
  });
});

// ---- the transaction contract

function brokenBackend(name: string, make: (ops: NativeMmuOps) => Partial<NativeMmuOps>): BackendModule {
  return {
    name,
    description: name,
    correct: false,
    create: (ctx) => {
      const ops = new NativeMmuOps(ctx);
      return Object.assign(ops, make(ops));
    },
  };
}

function expectRule(fn: () => unknown, rule: string): void {
  assert.throws(fn, (e: unknown) => e instanceof ContractViolation && e.rule === rule);
}

describe("transaction contract", () => {
  function populated(b: BackendModule, opts: KernelOptions = {}) {
    const { m, k } = boot(b, opts);
    const a = mapAnon(k, 2);
    touch(m, k, 1, a, true);
    touch(m, k, 1, a + 4096, true);
    return { m, k, a };
  }
  it("start without the PTE lock is pte-lock-not-held", () => {
    const { k, a } = populated(nativeBackend);
    const vma = k.as.findVma(a)!;
    expectRule(() => k.ptep_modify_prot_start(vma, a, k.walk(a, false)), "pte-lock-not-held");
  });
  it("a second start on the same PTE is nested-start", () => {
    const { k, a } = populated(nativeBackend);
    const vma = k.as.findVma(a)!;
    const p = k.walk(a, false);
    k.pte_lock(p);
    k.ptep_modify_prot_start(vma, a, p);
    expectRule(() => k.ptep_modify_prot_start(vma, a, p), "nested-start");
  });
  it("commit without start is commit-without-start", () => {
    const { k, a } = populated(nativeBackend);
    const vma = k.as.findVma(a)!;
    const p = k.walk(a, false);
    k.pte_lock(p);
    expectRule(() => k.ptep_modify_prot_commit(vma, a, p, 0 as pte_t, 0 as pte_t), "commit-without-start");
  });
  it("releasing the lock with an open transaction is open-at-unlock (commit-after-unlock mutant)", () => {
    const { k, a } = populated(nativeBackend, { mutant: "commit-after-unlock" });
    expectRule(() => k.sys_mprotect(0, a, 8192, PROT_READ), "open-at-unlock");
  });
  it("a commit still queued at unlock is commit-not-applied-at-unlock", () => {
    const queued: { p: ptep_t; v: pte_t }[] = [];
    const lazy = brokenBackend("never-flushes", () => ({
      ptep_modify_prot_commit(_vma, _addr, p, _old, v) {
        queued.push({ p, v });
      },
    }));
    const { k, a } = populated(lazy);
    expectRule(() => k.sys_mprotect(0, a, 8192, PROT_READ), "commit-not-applied-at-unlock");
  });
  it("nested lazy MMU mode is lazy-nesting under classic rules and allowed under the 2025 rules", () => {
    const c = boot(nativeBackend, { lazyRules: "classic" }).k;
    c.lazy_mmu_mode_enable();
    expectRule(() => c.lazy_mmu_mode_enable(), "lazy-nesting");
    let enters = 0;
    let leaves = 0;
    let flushes = 0;
    const counting = brokenBackend("counting", () => ({
      arch_enter_lazy_mmu_mode: () => void enters++,
      arch_leave_lazy_mmu_mode: () => void leaves++,
      arch_flush_lazy_mmu_mode: () => void flushes++,
    }));
    const n = boot(counting, { lazyRules: "nested" }).k;
    n.lazy_mmu_mode_enable();
    n.lazy_mmu_mode_enable();
    n.lazy_mmu_mode_disable();
    assert.deepEqual(
      [enters, leaves, flushes],
      [1, 0, 1],
      "only the outermost pair reaches the backend; nested leave flushes",
    );
    n.lazy_mmu_mode_disable();
    assert.deepEqual([enters, leaves, flushes], [1, 1, 1]);
    expectRule(() => n.lazy_mmu_mode_disable(), "lazy-unbalanced");
  });
  it("correct backends pass the checks on a full mprotect", () => {
    for (const b of [nativeBackend, naiveBackend]) {
      const { k, a } = populated(b);
      assert.equal(k.sys_mprotect(0, a, 8192, PROT_READ), 0);
      assert.equal(k.sys_mprotect(0, a, 8192, RW), 0);
    }
  });
});

describe("commits awaiting the unlock check, for the checker's keys", () => {
  it("are the tracker's while the PTE lock is held, and gone once it is released", () => {
    const { m, k } = boot(xenBackend);
    const a = mapAnon(k, 2);
    touch(m, k, 1, a, true);
    touch(m, k, 1, a + 4096, true);
    const vma = k.as.findVma(a)!;
    const p = k.walk(a, false);
    m.current = 0;
    k.pte_lock(p);
    k.lazy_mmu_mode_enable();
    const old = k.ptep_modify_prot_start(vma, a, p);
    const ro = k.arch.pte_wrprotect(old);
    k.ptep_modify_prot_commit(vma, a, p, old, ro);
    const held: number[] = [];
    k.contract!.pendingInto(held);
    assert.deepEqual(held, [0, 1, p, ro]);
    k.lazy_mmu_mode_disable();
    k.pte_unlock(p);
    const released: number[] = [];
    k.contract!.pendingInto(released);
    assert.deepEqual(released, []);
  });
  it("are not in change_pte_range's checkpoints, whose values would outlive the unlock", () => {
    const { m, k } = boot(xenBackend);
    const a = mapAnon(k, 3);
    for (let i = 0; i < 3; i++) touch(m, k, 1 + (i % 2), a + i * 4096, true);
    const live: (readonly number[])[] = [];
    m.hook = { point: () => {}, checkpoint: (_cpu, l) => void live.push([...l]) };
    assert.equal(k.sys_mprotect(0, a, 3 * 4096, PROT_READ), 0);
    m.hook = null;
    // Loop head for entries 0..2 and the exit, and each entry once its presence is decided.
    assert.equal(live.length, 7);
    for (const l of live) assert.equal(l.length, 8, `site, table, position, pages, flush range: ${l}`);
  });

  /**
   * CPU 0 commits `committed(old)` to a written page's entry under its PTE lock (in lazy MMU
   * mode if `lazy`), then CPU 2 writes the page (its MMU sets A and D in the entry): the
   * pending commits as a state key holds them (Kernel.pendingCommitsInto), and the entry.
   */
  function pending(
    b: BackendModule,
    committed: (old: pte_t) => pte_t,
    opts: KernelOptions = {},
    lazy = false,
  ) {
    const { m, k } = boot(b, opts);
    const a = mapAnon(k, 1);
    touch(m, k, 1, a, true);
    const vma = k.as.findVma(a)!;
    const p = k.walk(a, false);
    m.current = 0;
    k.pte_lock(p);
    if (lazy) k.lazy_mmu_mode_enable();
    const old = k.ptep_modify_prot_start(vma, a, p);
    k.ptep_modify_prot_commit(vma, a, p, old, committed(old));
    touch(m, k, 2, a, true);
    m.current = 0;
    const key: number[] = [];
    k.pendingCommitsInto(key);
    if (lazy) k.lazy_mmu_mode_disable();
    k.pte_unlock(p);
    return { key, p, pte: k.peekPte(a) };
  }
  const dirty = (old: pte_t) => old;
  const clean = (old: pte_t) => (old - _PAGE_DIRTY) as pte_t;

  it("that memory already holds (but for A/D the MMU added since) key alike on x86", () => {
    for (const b of [nativeBackend, xenBackend]) {
      const d = pending(b, dirty);
      const c = pending(b, clean);
      assert.ok(pte_dirty(d.pte) && pte_dirty(c.pte), b.name);
      assert.deepEqual(d.key, [0, 1, d.p, -1], b.name);
      assert.deepEqual(c.key, d.key, b.name);
    }
  });
  it("keep their values under a kernel mutant (it may write an entry under another CPU's lock)", () => {
    const opts: KernelOptions = { mutant: "commit-after-unlock" };
    const d = pending(nativeBackend, dirty, opts);
    const c = pending(nativeBackend, clean, opts);
    assert.deepEqual(d.key, [0, 1, d.p, d.pte]);
    assert.notDeepEqual(c.key, d.key);
  });
  it("keep their values while an update of the entry is queued (Xen lazy MMU mode)", () => {
    // Committing the entry's own protection: memory already holds the value, but the queued
    // mmu_update has yet to land (a queued plain update could clear A or D).
    const d = pending(xenBackend, dirty, {}, true);
    const c = pending(xenBackend, clean, {}, true);
    assert.equal(d.key[3], d.pte);
    assert.notDeepEqual(c.key, d.key);
  });
  it("keep their values for a backend with state of its own that cannot say what it queued", () => {
    const opaque: BackendModule = { ...nativeBackend, name: "native-stateful", stateless: false };
    assert.notDeepEqual(pending(opaque, clean).key, pending(opaque, dirty).key);
  });
});

describe("the naive backend's race, step by step", () => {
  it("loses a D bit set between its read and its write; native does not", () => {
    for (const [b, lost] of [
      [naiveBackend, true],
      [nativeBackend, false],
    ] as const) {
      const { m, k } = boot(b);
      const a = mapAnon(k, 1, RW, true);
      touch(m, k, 1, a, false); // writable, clean, cached clean in CPU1's TLB
      let armed = true;
      m.hook = {
        point(cpu, kind) {
          // Right before the kernel's write (commit) of the PTE, CPU1 writes through its TLB.
          if (armed && cpu === 0 && kind === 1) {
            armed = false;
            m.hook = null;
            m.access(1, a, ACCESS_WRITE, 9); // faults (and waits) if the PTE is non-present
          }
        },
      };
      k.sys_mprotect(0, a, 4096, PROT_READ);
      m.hook = null;
      const v = k.peekPte(a);
      const wrote = m.mem.data[v > 0 ? (v & 0xfffff000) / 4096 : 0] === 9;
      assert.equal(wrote && !pte_dirty(v), lost, `${b.name}: PTE ${v.toString(16)}`);
      if (!lost) assert.ok(!wrote || (v & _PAGE_DIRTY) !== 0);
    }
  });
});

describe("canChangeWritable masks", () => {
  it("the literal masks in kernel.ts equal the named constants", async () => {
    const vma = await import("./vma.js");
    const phys = await import("../machine/physmem.js");
    assert.equal(vma.VM_WRITE, 0x2);
    assert.equal(vma.VM_SHARED, 0x8);
    assert.equal(phys.FRAME_DATA, 2);
  });
});

describe("walks over sparse ranges", () => {
  it("mprotect and munmap of a 16 TiB reserve visit only the page tables that exist", () => {
    const { m, k } = boot();
    const len = 2 ** 44; // 16 TiB: 8M page-table extents if walked one by one
    const a = k.sys_mmap(0, 0, len, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE);
    assert.ok(a > 0);
    assert.equal(k.sys_mprotect(0, a, len, RW), 0);
    // Two pages far apart, in different 512 GiB extents.
    const far = a + 2 ** 40 + 5 * 4096;
    assert.ok(touch(m, k, 1, a, true));
    assert.ok(touch(m, k, 1, far, true));
    assert.equal(k.sys_mprotect(0, a, len, PROT_READ), 0);
    assert.equal(k.lastMprotect.ptesChanged, 2);
    assert.ok(!pte_write(k.peekPte(far)) && pte_present(k.peekPte(far)));
    assert.equal(k.sys_munmap(0, a, len), 0);
    assert.equal(k.peekPte(a), 0);
    assert.equal(k.peekPte(far), 0);
  });

  it("absentExtentEnd skips to the next 2 MiB extent that has a page table", () => {
    const { m, k } = boot();
    const a = mapAnon(k, 1);
    assert.ok(touch(m, k, 1, a, true));
    const extent = Math.floor(a / 0x200000) * 0x200000;
    assert.equal(k.absentExtentEnd(extent - 2 ** 30), extent);
    assert.equal(k.absentExtentEnd(extent + 0x200000), Number.POSITIVE_INFINITY);
  });
});
