import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ContractViolation } from "../kernel/contract.js";
import { Kernel, type KernelOptions } from "../kernel/kernel.js";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mman.js";
import type { BackendModule } from "../kernel/pvops.js";
import { ACCESS_READ, ACCESS_WRITE, Machine, STEP } from "../machine/machine.js";
import { _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, pte_dirty, pte_write, pteClearLow } from "../machine/pte.js";
import { loadScenarioText } from "../scenario/load.js";
import { DEFAULT_SCENARIO, ScenarioSchema } from "../sim/scenario.js";
import { runScenario } from "../sim/simulation.js";
import { XenFatal } from "../xen/hypervisor.js";
import { getBackend } from "./registry.js";
import {
  type XenPvMmuOps,
  xenBackend,
  xenBrokenLazyUnflushedBackend,
  xenBrokenNoPreserveAdBackend,
  xenLegacyBackend,
} from "./xen.js";

const RW = PROT_READ | PROT_WRITE;
/** 4 GiB: 2 MiB aligned, so a run of up to 512 pages lies in one page table (one PTE lock). */
const BASE = 0x100000000;

function boot(backend: BackendModule, opts: KernelOptions = {}, cpus = 3) {
  const m = new Machine({ cpus, maxFrames: 1 << 14 });
  const k = new Kernel(m, backend, opts);
  const ops = k.pv as XenPvMmuOps;
  const ctr = (name: string) => (m.ledger.totals() as Record<string, number>)[name] ?? 0;
  return { m, k, ops, ctr };
}

function touch(_m: Machine, k: Kernel, cpu: number, addr: number, write: boolean): boolean {
  return k.faultin(cpu, addr, write ? ACCESS_WRITE : ACCESS_READ, 0x5eed);
}

/** n pages at BASE, each written (or read) once by CPU 1; then the ledger is cleared. */
function populate(b: BackendModule, n: number, opts: KernelOptions = {}, shared = false, write = true) {
  const s = boot(b, opts);
  const a = s.k.sys_mmap(
    0,
    BASE,
    n * 4096,
    RW,
    MAP_ANONYMOUS | MAP_FIXED | (shared ? MAP_SHARED : MAP_PRIVATE),
  );
  assert.equal(a, BASE);
  for (let i = 0; i < n; i++) assert.ok(touch(s.m, s.k, 1, a + i * 4096, write));
  s.m.ledger.reset();
  return { ...s, a };
}

const traps = (ctr: (n: string) => number) => ctr("trap_pt_write") + ctr("trap_pt_xchg");

/** start/commit of every PTE of [a, a + n pages) under the PTE lock, optionally in one lazy section. */
function transact(k: Kernel, a: number, n: number, lazy: boolean, prot = PROT_READ): void {
  const vma = k.as.findVma(a)!;
  const p0 = k.walk(a, false);
  k.pte_lock(p0);
  if (lazy) k.lazy_mmu_mode_enable();
  for (let i = 0; i < n; i++) {
    const old = k.ptep_modify_prot_start(vma, a + i * 4096, p0 + i);
    const nw = prot === PROT_READ ? pteClearLow(old, _PAGE_RW) : old;
    k.ptep_modify_prot_commit(vma, a + i * 4096, p0 + i, old, nw);
  }
  if (lazy) k.lazy_mmu_mode_disable();
  k.pte_unlock(p0);
}

describe("the seed's claim, as exact counts", () => {
  const SIZES = [1, 2, 31, 32, 33, 64, 100, 512];
  it("xen-legacy: 2N trap-and-emulate faults for N present PTEs, no mmu_update", () => {
    for (const n of SIZES) {
      const { k, a, ctr } = populate(xenLegacyBackend, n);
      assert.equal(k.sys_mprotect(0, a, n * 4096, PROT_READ), 0);
      assert.equal(ctr("trap_pt_xchg"), n, `n=${n}`);
      assert.equal(ctr("trap_pt_write"), n, `n=${n}`);
      assert.equal(ctr("mmu_update"), 0);
      assert.equal(ctr("hypercall"), 1, "only the TLB flush");
    }
  });
  it("xen: 0 traps, N mmu_update ops and ceil(N/32) multicalls inside one lazy section", () => {
    for (const n of SIZES) {
      const { k, a, ctr } = populate(xenBackend, n);
      transact(k, a, n, true);
      assert.deepEqual(
        [
          traps(ctr),
          ctr("mmu_update"),
          ctr("multicall"),
          ctr("hypercall"),
          ctr("lazy_enter"),
          ctr("lazy_flush"),
        ],
        [0, n, Math.ceil(n / 32), Math.ceil(n / 32), 1, 1],
        `n=${n}`,
      );
    }
  });
  it("xen through mprotect: the same plus one MMUEXT flush (multicall) after the lazy section", () => {
    for (const n of [...SIZES, 1000]) {
      const { k, a, ctr } = populate(xenBackend, n);
      assert.equal(k.sys_mprotect(0, a, n * 4096, PROT_READ), 0);
      // 1000 pages span two page tables: two lazy sections of 512 and 488 PTEs.
      const batches = n <= 512 ? Math.ceil(n / 32) : Math.ceil(512 / 32) + Math.ceil((n - 512) / 32);
      assert.deepEqual(
        [traps(ctr), ctr("mmu_update"), ctr("multicall"), ctr("hypercall"), ctr("mmuext_op")],
        [0, n, batches + 1, batches + 1, 1],
        `n=${n}`,
      );
    }
  });
  it("xen outside lazy MMU mode: one hypercall per PTE", () => {
    for (const n of [1, 5, 40]) {
      const { k, a, ctr } = populate(xenBackend, n);
      transact(k, a, n, false);
      assert.deepEqual([traps(ctr), ctr("mmu_update"), ctr("hypercall"), ctr("multicall")], [0, n, n, n]);
      const cur = populate(xenBackend, n, { backendOptions: { multicallRules: "current" } });
      transact(cur.k, cur.a, n, false);
      assert.deepEqual(
        [cur.ctr("hypercall"), cur.ctr("multicall")],
        [n, 0],
        "current Linux issues a one-entry batch as a direct mmu_update",
      );
    }
  });
  it("current multicall rules: 31 updates per batch", () => {
    const { k, a, ctr } = populate(xenBackend, 100, { backendOptions: { multicallRules: "current" } });
    transact(k, a, 100, true);
    assert.deepEqual([ctr("hypercall"), ctr("multicall"), ctr("mmu_update")], [4, 0, 100]);
  });
});

describe("hypervisor paths and options", () => {
  it("R/W changes take the validating slow path; NX-only changes the fast path", () => {
    const n = 40;
    const { k, a, ctr } = populate(xenBackend, n);
    k.sys_mprotect(0, a, n * 4096, PROT_READ);
    assert.deepEqual([ctr("mmu_update_slow"), ctr("mmu_update_fast")], [n, 0]);
    k.sys_mprotect(0, a, n * 4096, PROT_READ | PROT_EXEC);
    assert.deepEqual([ctr("mmu_update_slow"), ctr("mmu_update_fast")], [n, n], "NX cleared: fast");
    k.sys_mprotect(0, a, n * 4096, PROT_NONE);
    assert.deepEqual([ctr("mmu_update_slow"), ctr("mmu_update_fast")], [2 * n, n], "P cleared: slow");
  });
  it("batch size: ceil(N/batch) multicalls in a lazy section; entries and argument bytes both bound it", () => {
    for (const [opts, per] of [
      [{ batch: 1 }, 1],
      [{ batch: 8 }, 8],
      [{ batch: 64 }, 64],
      [{ batch: 32, argBytes: 1024 }, 64],
      [{ batch: 32, argBytes: 1024, coalesce: false }, 32],
    ] as const) {
      const { k, a, ctr } = populate(xenBackend, 100, { backendOptions: opts });
      transact(k, a, 100, true);
      assert.equal(ctr("multicall"), Math.ceil(100 / per), JSON.stringify(opts));
      assert.equal(ctr("mmu_update"), 100);
    }
  });
  it("falls back to the legacy transaction without XENFEAT_mmu_pt_update_preserve_ad", () => {
    const n = 20;
    const { k, a, ctr, ops } = populate(xenBackend, n, {
      backendOptions: { features: { mmu_pt_update_preserve_ad: false } },
    });
    assert.match(ops.describeTxn(), /legacy/);
    k.sys_mprotect(0, a, n * 4096, PROT_READ);
    assert.deepEqual([traps(ctr), ctr("mmu_update")], [2 * n, 0]);
    assert.equal(pte_write(k.peekPte(a)), false);
  });
  it("PTE faults install entries with one mmu_update hypercall (legacy: one trapped store)", () => {
    const x = boot(xenBackend);
    const a = x.k.sys_mmap(0, BASE, 4 * 4096, RW, MAP_ANONYMOUS | MAP_FIXED | MAP_PRIVATE);
    x.m.ledger.reset();
    for (let i = 0; i < 4; i++) touch(x.m, x.k, 1, a + i * 4096, true);
    assert.deepEqual(
      [x.ctr("hypercall"), x.ctr("mmu_update"), x.ctr("multicall"), traps(x.ctr)],
      [4, 4, 0, 0],
    );
    const l = boot(xenLegacyBackend);
    const b = l.k.sys_mmap(0, BASE, 4 * 4096, RW, MAP_ANONYMOUS | MAP_FIXED | MAP_PRIVATE);
    l.m.ledger.reset();
    for (let i = 0; i < 4; i++) touch(l.m, l.k, 1, b + i * 4096, true);
    assert.deepEqual([l.ctr("trap_pt_write"), l.ctr("hypercall")], [4, 0]);
  });
  it("munmap clears each PTE with one trapped xchg; aging clears A with one trapped cmpxchg", () => {
    const { k, a, ctr } = populate(xenBackend, 10);
    assert.equal(k.ageRange(0, a, a + 10 * 4096), 10);
    assert.equal(ctr("trap_pt_xchg"), 10);
    assert.equal(ctr("mmuext_op"), 10, "one INVLPG_MULTI per aged page");
    assert.equal(ctr("tlb_invlpg"), 30, "on each of the 3 vCPUs");
    k.sys_munmap(0, a, 10 * 4096);
    assert.equal(ctr("trap_pt_xchg"), 20);
    assert.equal(k.peekPte(a), 0);
  });
  it("explicit flush and context switch issue the queued batch inside lazy mode", () => {
    const { k, a, m, ops, ctr } = populate(xenBackend, 8);
    const vma = k.as.findVma(a)!;
    const p0 = k.walk(a, false);
    k.pte_lock(p0);
    k.lazy_mmu_mode_enable();
    const commit = (i: number) => {
      const old = k.ptep_modify_prot_start(vma, a + i * 4096, p0 + i);
      k.ptep_modify_prot_commit(vma, a + i * 4096, p0 + i, old, pteClearLow(old, _PAGE_RW));
    };
    commit(0);
    commit(1);
    assert.equal(ops.mc.pendingUpdates(0), 2);
    assert.ok(pte_write(m.peekPte(p0)), "still queued");
    ops.arch_flush_lazy_mmu_mode();
    assert.equal(ops.mc.pendingUpdates(0), 0);
    assert.equal(pte_write(m.peekPte(p0)), false);
    commit(2);
    ops.context_switch();
    assert.equal(pte_write(m.peekPte(p0 + 2)), false);
    assert.ok(ops.inLazyMode(0));
    k.lazy_mmu_mode_disable();
    k.pte_unlock(p0);
    assert.equal(ctr("multicall"), 2);
  });
  it("2025 nested lazy rules: only the outermost pair reaches the backend, a nested leave flushes", () => {
    const { k, a, m, ops, ctr } = populate(xenBackend, 4, { lazyRules: "nested" });
    const vma = k.as.findVma(a)!;
    const p0 = k.walk(a, false);
    k.pte_lock(p0);
    k.lazy_mmu_mode_enable();
    k.lazy_mmu_mode_enable();
    const old = k.ptep_modify_prot_start(vma, a, p0);
    k.ptep_modify_prot_commit(vma, a, p0, old, pteClearLow(old, _PAGE_RW));
    k.lazy_mmu_mode_disable();
    assert.equal(pte_write(m.peekPte(p0)), false, "the nested leave flushed");
    assert.ok(ops.inLazyMode(0));
    k.lazy_mmu_mode_disable();
    k.pte_unlock(p0);
    assert.deepEqual([ctr("lazy_enter"), ctr("lazy_flush"), ctr("multicall")], [1, 2, 1]);
    const c = populate(xenBackend, 1, { lazyRules: "classic" });
    c.k.lazy_mmu_mode_enable();
    assert.throws(
      () => c.k.lazy_mmu_mode_enable(),
      (e: unknown) => e instanceof ContractViolation && e.rule === "lazy-nesting",
    );
  });
});

describe("A/D bits under a concurrent writer, step by step", () => {
  /** A clean writable shared page cached clean in CPU1's TLB; CPU1 writes right before step `kind` of CPU0. */
  function race(b: BackendModule, kind: number) {
    const s = populate(b, 1, {}, true, false);
    let armed = true;
    s.m.hook = {
      point(cpu, k) {
        if (armed && cpu === 0 && k === kind) {
          armed = false;
          s.m.hook = null;
          s.m.access(1, s.a, ACCESS_WRITE, 9);
        }
      },
    };
    s.k.sys_mprotect(0, s.a, 4096, PROT_READ);
    s.m.hook = null;
    const v = s.k.peekPte(s.a);
    const wrote = s.m.mem.data[(v & 0xfffff000) / 4096] === 9;
    return { ...s, v, wrote };
  }
  it("xen: PRESERVE_AD keeps a D bit set between the read and the hypervisor's cmpxchg", () => {
    const { v, wrote, ctr } = race(xenBackend, STEP.PTE_CMPXCHG);
    assert.ok(wrote, "the write went through the still-writable entry");
    assert.ok(pte_dirty(v) && !pte_write(v));
    assert.equal(ctr("cmpxchg_retry"), 1);
  });
  it("xen: a D bit set before the hypercall (between start and commit) is kept", () => {
    const { v, wrote, ctr } = race(xenBackend, STEP.HYPERCALL);
    assert.ok(wrote && pte_dirty(v) && !pte_write(v));
    assert.equal(ctr("cmpxchg_retry"), 0);
  });
  it("xen-broken-no-preserve-ad: the same write's D bit is lost", () => {
    const { v, wrote } = race(xenBrokenNoPreserveAdBackend, STEP.PTE_WRITE);
    assert.ok(wrote);
    assert.equal(v & _PAGE_DIRTY, 0, "written page with a clean PTE: data loss at writeback");
  });
  it("xen-legacy: the entry is non-present between the traps, so the write faults instead", () => {
    const { v, wrote } = race(xenLegacyBackend, STEP.PTE_WRITE);
    assert.equal(wrote, false);
    assert.equal(pte_write(v), false);
  });
  it("xen-broken-lazy-unflushed: the PTE lock is released with the commit still queued", () => {
    const { k, a } = populate(xenBrokenLazyUnflushedBackend, 4);
    assert.throws(
      () => k.sys_mprotect(0, a, 4 * 4096, PROT_READ),
      (e: unknown) => e instanceof ContractViolation && e.rule === "commit-not-applied-at-unlock",
    );
    const off = boot(xenBrokenLazyUnflushedBackend, { checkContract: false });
    const b = off.k.sys_mmap(0, BASE, 4096, RW, MAP_ANONYMOUS | MAP_FIXED | MAP_PRIVATE);
    touch(off.m, off.k, 1, b, true);
    off.k.sys_mprotect(0, b, 4096, PROT_READ);
    assert.equal(pte_write(off.k.peekPte(b)), false, "applied later, by the TLB flush's hypercall");
  });
  it("a change beyond A/D under the PRESERVE_AD loop is a XenFatal naming the PTE", () => {
    const { m, k, a } = populate(xenBackend, 1);
    const p = k.walk(a, false);
    m.hook = {
      point(cpu, kind) {
        if (cpu === 0 && kind === STEP.PTE_CMPXCHG) {
          m.hook = null;
          m.pteWrite(1, p, pteClearLow(m.peekPte(p), _PAGE_USER)); // a rogue writer clears U/S
        }
      },
    };
    assert.throws(
      () => k.sys_mprotect(0, a, 4096, PROT_READ),
      (e: unknown) => e instanceof XenFatal && e.ptep === p,
    );
  });
});

describe("under the oracle, over many seeds", () => {
  const SEEDS = 1000;
  const scenario = (backend: string, seed: number) =>
    ScenarioSchema.parse({ ...DEFAULT_SCENARIO, backend, seed });
  it(`xen and xen-legacy lose no A/D bit and break nothing over ${SEEDS} seeds`, () => {
    for (const b of [xenBackend, xenLegacyBackend]) {
      let ran = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const r = runScenario(scenario(b.name, seed), b, { trace: false });
        assert.deepEqual(r.violations, [], `${b.name} seed ${seed}`);
        ran += r.syscalls.length;
      }
      assert.equal(ran, SEEDS * 4);
    }
  });
  it("each xen-broken-* variant violates a property for some seed", () => {
    const expect: [BackendModule, string][] = [
      [xenBrokenNoPreserveAdBackend, "lost-dirty"],
      [xenBrokenLazyUnflushedBackend, "transaction-contract"],
    ];
    for (const [b, property] of expect) {
      let failing = 0;
      const seen = new Set<string>();
      for (let seed = 1; seed <= SEEDS; seed++) {
        const r = runScenario(scenario(b.name, seed), b, { trace: false });
        if (r.violations.length > 0) failing++;
        for (const v of r.violations) seen.add(v.property);
      }
      assert.ok(failing > 0 && seen.has(property), `${b.name}: ${failing} failing seeds, ${[...seen]}`);
    }
  });
});

describe("scenario files", () => {
  const yaml = (opts: string) =>
    `backend: xen\nbackendOptions:\n${opts}\nregions:\n  - name: a\n    pages: 4\nsyscalls:\n  - call: mprotect\n    region: a\n    prot: r\n`;
  it("registers the four Xen backends by name", () => {
    for (const n of ["xen", "xen-legacy", "xen-broken-no-preserve-ad", "xen-broken-lazy-unflushed"])
      assert.equal(getBackend(n)?.name, n);
  });
  it("rejects a batch of 0, an unknown feature and an unknown option with file:line", () => {
    const cases: [string, number, RegExp][] = [
      ["  batch: 0", 3, /batch/],
      ["  features:\n    mmu_pt_update_preserve_ad: true\n    superpages: true", 5, /superpages/],
      ["  batchsize: 8", 3, /batchsize/],
      ["  multicallRules: 2009", 3, /2008/],
    ];
    for (const [opts, line, re] of cases) {
      const r = loadScenarioText(yaml(opts), "x.yaml");
      assert.equal(r.ok, false, opts);
      if (r.ok) continue;
      assert.equal(r.errors[0].line, line, `${opts}: ${JSON.stringify(r.errors)}`);
      assert.match(r.errors[0].message, re);
    }
    const ok = loadScenarioText(
      yaml("  batch: 8\n  features:\n    mmu_pt_update_preserve_ad: false"),
      "x.yaml",
    );
    assert.ok(ok.ok);
    if (ok.ok) assert.deepEqual(ok.scenario.backendOptions.features, { mmu_pt_update_preserve_ad: false });
  });
});
