import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACCESS_READ, ACCESS_WRITE, type pte_t } from "../types.js";
import {
  ARM64_BACKENDS,
  type Arm64TransactionBackend,
  arm64Backend,
  arm64BrokenGatherFirstBackend,
  arm64BrokenPlainRmwBackend,
  arm64BrokenUnfoldNoBbmBackend,
  arm64ContpteBackend,
  arm64Pgtable,
} from "./backends.js";
import { FAULT_TLB_CONFLICT } from "./mmu.js";
import { Arm64Pgtable, type Arm64PgtableOptions, ptep_get_peek } from "./pgtable.js";
import {
  PAGE_READONLY,
  PAGE_READONLY_EXEC,
  PAGE_SHARED,
  PTE_AF,
  PTE_CONT,
  PTE_RDONLY,
  pfn_pte,
  pte_cont,
  pte_dirty,
  pte_mkyoung,
  pte_modify,
  pte_pfn,
  pte_valid,
  pte_write,
  pte_young,
} from "./pte.js";
import { Arm64Testbed, everyInterleaving, everySchedule } from "./testbed.js";
import { flush_tlb_range } from "./tlbflush.js";

const VA = 0x7f00_0001_0000; // 64 KiB aligned
const PFN = 0x2000; // 16-aligned

/** One page at VA (CPU 0 runs the kernel, CPU 1 the user). */
function onePage(prot: number, hd = true) {
  const tb = new Arm64Testbed({ cpus: 2, ha: true, hd });
  const ptep = tb.install(VA, PFN, prot);
  return { tb, ptep };
}

/** A 16-page folio at VA mapped as one contiguous block (or as 16 plain entries). */
function block(prot: number, cont: boolean) {
  const tb = new Arm64Testbed({ cpus: 3, ha: true, hd: true });
  const pteps: number[] = [];
  for (let i = 0; i < 16; i++) pteps.push(tb.install(VA + i * 4096, PFN + i, prot + (cont ? PTE_CONT : 0)));
  tb.folioBlocks.add(VA);
  return { tb, pteps };
}

const write = (tb: Arm64Testbed, cpu: number, va: number) => tb.mmu.translate(cpu, va, ACCESS_WRITE);

describe("arm64 atomic helpers never lose a DBM dirty update", () => {
  it("ptep_test_and_clear_young (cmpxchg loop) racing a hardware write", () => {
    const results = everyInterleaving(
      () => onePage(PAGE_SHARED).tb,
      (tb) => {
        new Arm64Pgtable(tb, { contpte: false, erratum2645198: false }).ptep_test_and_clear_young(
          VA,
          tb.ptepFor(VA),
        );
      },
      (tb) => assert.ok(write(tb, 1, VA)),
      (tb) => tb.mem.peek(tb.ptepFor(VA)),
    );
    assert.ok(results.length >= 3);
    for (const v of results) assert.ok(pte_dirty(v), "the write's dirty state survives");
    assert.ok(
      results.some((v) => !pte_young(v)),
      "AF cleared when the write came first",
    );
  });
  it("ptep_set_wrprotect moves a racing hardware dirty into PTE_DIRTY", () => {
    const results = everyInterleaving(
      () => onePage(PAGE_SHARED).tb,
      (tb) =>
        new Arm64Pgtable(tb, { contpte: false, erratum2645198: false }).ptep_set_wrprotect(
          VA,
          tb.ptepFor(VA),
        ),
      (tb) => {
        tb.mmu.translate(1, VA, ACCESS_WRITE);
      },
      (tb) => ({ v: tb.mem.peek(tb.ptepFor(VA)), wrote: tb.mmu.last[1].fault === 0 }),
    );
    for (const { v, wrote } of results) {
      assert.equal(pte_write(v), false);
      if (wrote) assert.ok(pte_dirty(v), "a completed write leaves the entry dirty");
    }
    assert.ok(
      results.some((r) => !r.wrote),
      "a write after the wrprotect faults",
    );
  });
  it("ptep_set_access_flags keeps a racing DBM update; the pre-2018 version loses it", () => {
    const run = (mutants: Arm64PgtableOptions["mutants"]) =>
      everyInterleaving(
        () => onePage(PAGE_SHARED - PTE_AF).tb, // writable, clean, old
        (tb) => {
          const pg = new Arm64Pgtable(tb, { contpte: false, erratum2645198: false, mutants });
          const p = tb.ptepFor(VA);
          // A read fault's fixup: entry = pte_mkyoung(pte) as read before the race.
          pg.ptep_set_access_flags(VA, p, pte_mkyoung(pfn_pte(PFN, PAGE_SHARED - PTE_AF)), false);
        },
        (tb) => assert.ok(write(tb, 1, VA)),
        (tb) => tb.mem.peek(tb.ptepFor(VA)),
      );
    for (const v of run([])) assert.ok(pte_dirty(v) && pte_young(v));
    assert.ok(
      run(["set-access-flags-pre-2018"]).some((v) => !pte_dirty(v)),
      "commit 6d332747fa5f's race: RDONLY set back over the hardware's update",
    );
  });
  it("ptep_clear_flush clears, then invalidates the page on every CPU", () => {
    const { tb, ptep } = onePage(PAGE_SHARED);
    assert.ok(tb.mmu.translate(1, VA, ACCESS_READ));
    const pg = new Arm64Pgtable(tb, { contpte: false, erratum2645198: false });
    const old = pg.ptep_clear_flush(VA, ptep);
    assert.equal(pte_pfn(old), PFN);
    assert.equal(tb.mem.peek(ptep), 0);
    assert.equal(tb.mmu.tlbs[1].count, 0);
    assert.deepEqual(
      tb.trace.map((t) => t.kind),
      ["xchg", "tlbi-va"],
    );
  });
});

/** mprotect's per-entry transaction on one page, with a racing write from CPU 1. */
function transactionRace(b: Arm64TransactionBackend, prot: number, newprot: number, erratum = false) {
  return everyInterleaving(
    () => onePage(prot).tb,
    (tb) => {
      const pg = arm64Pgtable(b, tb, erratum);
      const p = tb.ptepFor(VA);
      const old = b.start(pg, VA, p, 1);
      b.commit(pg, VA, p, old, pte_modify(old, newprot), 1);
    },
    (tb) => {
      tb.mmu.translate(1, VA, ACCESS_WRITE);
    },
    (tb) => ({ v: tb.mem.peek(tb.ptepFor(VA)), wrote: tb.mmu.last[1].fault === 0, trace: tb.traceText() }),
  );
}

describe("arm64 transaction backends, one page", () => {
  it("arm64: get-and-clear then set_pte_at never loses the dirty state of a racing write", () => {
    const rs = transactionRace(arm64Backend, PAGE_SHARED, PAGE_READONLY);
    for (const r of rs) if (r.wrote) assert.ok(pte_dirty(r.v), r.trace);
    assert.ok(rs.some((r) => r.wrote) && rs.some((r) => !r.wrote));
  });
  it("arm64-broken-plain-rmw loses it in some interleaving", () => {
    const rs = transactionRace(arm64BrokenPlainRmwBackend, PAGE_SHARED, PAGE_READONLY);
    assert.ok(rs.some((r) => r.wrote && !pte_dirty(r.v)));
  });
  it("erratum 2645198: an executable entry is invalidated between clear and commit; others are not", () => {
    for (const [prot, expectTlbi] of [
      [PAGE_READONLY_EXEC, true],
      [PAGE_READONLY, false],
    ] as const) {
      const { tb, ptep } = onePage(prot);
      const pg = arm64Pgtable(arm64Backend, tb, true);
      const old = arm64Backend.start(pg, VA, ptep, 1);
      const kinds = tb.trace.map((t) => t.kind);
      assert.equal(kinds.includes("tlbi-va"), expectTlbi, kinds.join(","));
      arm64Backend.commit(pg, VA, ptep, old, pte_modify(old, PAGE_READONLY), 1);
    }
    const { tb, ptep } = onePage(PAGE_READONLY_EXEC);
    arm64Backend.start(arm64Pgtable(arm64Backend, tb, false), VA, ptep, 1);
    assert.equal(tb.mmu.counters.tlbi_va, 0, "no TLBI without the workaround");
  });
  it("the single-entry backends refuse batches", () => {
    const { tb, ptep } = onePage(PAGE_SHARED);
    assert.throws(
      () => arm64Backend.start(arm64Pgtable(arm64Backend, tb, false), VA, ptep, 16),
      /no batched/,
    );
  });
  it("every backend is named and described; the broken ones say so", () => {
    const names = ARM64_BACKENDS.map((b) => b.name);
    assert.equal(new Set(names).size, names.length);
    for (const b of ARM64_BACKENDS) assert.equal(b.correct, !b.description.startsWith("BROKEN"), b.name);
  });
});

describe("arm64 contpte layer", () => {
  it("ptep_get gathers access and dirty from every entry of the block", () => {
    const { tb, pteps } = block(PAGE_SHARED - PTE_AF, true);
    assert.ok(write(tb, 1, VA + 5 * 4096)); // walk of entry 5: AF and dirty land there
    const pg = new Arm64Pgtable(tb, { contpte: true, erratum2645198: false });
    const raw = tb.mem.peek(pteps[0]);
    assert.equal(pte_dirty(raw) || pte_young(raw), false);
    const v = pg.ptep_get(pteps[0]);
    assert.ok(pte_dirty(v) && pte_young(v) && pte_cont(v));
    const plain = new Arm64Pgtable(tb, { contpte: false, erratum2645198: false });
    assert.equal(pte_dirty(plain.ptep_get(pteps[0])), false, "without CONFIG_ARM64_CONTPTE no gathering");
  });
  it("unfolding is break-before-make: clear all 16, TLBI, then write them without PTE_CONT", () => {
    const { tb, pteps } = block(PAGE_SHARED, true);
    assert.ok(write(tb, 1, VA + 9 * 4096));
    const pg = new Arm64Pgtable(tb, { contpte: true, erratum2645198: false });
    pg.ptep_get_and_clear(VA + 3 * 4096, pteps[3]);
    const kinds = tb.trace.map((t) => t.kind);
    const firstTlbi = kinds.indexOf("tlbi-va");
    const xchgs = kinds.slice(0, firstTlbi).filter((k) => k === "xchg").length;
    const writesBefore = kinds.slice(0, firstTlbi).filter((k) => k === "write").length;
    assert.equal(xchgs, 16);
    assert.equal(writesBefore, 0);
    assert.equal(tb.mmu.tlbs[1].count, 0, "the block entry is gone from CPU 1");
    for (let i = 0; i < 16; i++) {
      const v = tb.mem.peek(pteps[i]);
      if (i === 3) assert.equal(v, 0);
      else assert.ok(pte_valid(v) && !pte_cont(v) && pte_dirty(v), `entry ${i}: gathered dirty`);
    }
  });
  it("the batched transaction over a whole block does not unfold and keeps a dirty set on any entry", () => {
    const b = arm64ContpteBackend;
    const rs = everyInterleaving(
      () => block(PAGE_SHARED, true).tb,
      (tb) => {
        const pg = arm64Pgtable(b, tb, false);
        const p = tb.ptepFor(VA);
        const old = b.start(pg, VA, p, 16);
        b.commit(pg, VA, p, old, pte_modify(old, PAGE_READONLY), 16);
      },
      (tb) => {
        tb.mmu.translate(1, VA + 7 * 4096, ACCESS_WRITE);
      },
      (tb) => {
        const pg = arm64Pgtable(b, tb, false);
        return {
          v: pg.ptep_get(tb.ptepFor(VA)),
          wrote: tb.mmu.last[1].fault === 0,
          tlbis: tb.mmu.counters.tlbi_va,
          cont: pte_cont(tb.mem.peek(tb.ptepFor(VA + 4096))),
        };
      },
    );
    for (const r of rs) {
      assert.equal(r.tlbis, 0, "no unfold of a fully covered block");
      assert.ok(r.cont, "set_ptes writes the block back with PTE_CONT");
      assert.equal(pte_write(r.v), false);
      if (r.wrote) assert.ok(pte_dirty(r.v));
    }
  });
  it("a batch over part of a block unfolds it first (break-before-make)", () => {
    const { tb, pteps } = block(PAGE_SHARED, true);
    const b = arm64ContpteBackend;
    const pg = arm64Pgtable(b, tb, false);
    const old = b.start(pg, VA, pteps[0], 8);
    assert.ok(tb.mmu.counters.tlbi_va > 0);
    b.commit(pg, VA, pteps[0], old, pte_modify(old, PAGE_READONLY), 8);
    for (let i = 0; i < 16; i++) assert.equal(pte_cont(tb.mem.peek(pteps[i])), false);
    assert.ok(tb.mem.peek(pteps[3]) & PTE_RDONLY);
    assert.ok(pte_write(tb.mem.peek(pteps[12])), "the other half keeps its protection");
  });
  it("set_ptes refolds a block whose 16 entries match, by break-before-make", () => {
    const { tb, pteps } = block(PAGE_SHARED, false);
    const pg = new Arm64Pgtable(tb, { contpte: true, erratum2645198: false });
    pg.set_pte_at(VA + 15 * 4096, pteps[15], pfn_pte(PFN + 15, PAGE_SHARED));
    for (const p of pteps) assert.ok(pte_cont(tb.mem.peek(p)));
    assert.ok(tb.mmu.counters.tlbi_va >= 16);
  });
  it("arm64-contpte-broken-gather-first loses a dirty recorded on a later entry of the block", () => {
    const b = arm64BrokenGatherFirstBackend;
    const { tb } = block(PAGE_SHARED, true);
    assert.ok(write(tb, 1, VA + 5 * 4096));
    const pg = arm64Pgtable(b, tb, false);
    const old = b.start(pg, VA, tb.ptepFor(VA), 16);
    b.commit(pg, VA, tb.ptepFor(VA), old, pte_modify(old, PAGE_READONLY), 16);
    assert.equal(pte_dirty(pg.ptep_get(tb.ptepFor(VA))), false, "the write's dirty state is gone");
    const good = block(PAGE_SHARED, true).tb;
    assert.ok(write(good, 1, VA + 5 * 4096));
    const gp = arm64Pgtable(arm64ContpteBackend, good, false);
    const o2 = arm64ContpteBackend.start(gp, VA, good.ptepFor(VA), 16);
    assert.ok(pte_dirty(o2));
  });
  it("folding without break-before-make leaves a stale page entry beside the block: TLB conflict", () => {
    const { tb, pteps } = block(PAGE_READONLY, false);
    assert.ok(tb.mmu.translate(1, VA + 3 * 4096, ACCESS_READ)); // page entry for page 3
    const pg = arm64Pgtable(arm64BrokenUnfoldNoBbmBackend, tb, false);
    pg.set_pte_at(VA + 15 * 4096, pteps[15], pfn_pte(PFN + 15, PAGE_READONLY)); // folds in place
    assert.ok(pte_cont(tb.mem.peek(pteps[0])));
    assert.ok(tb.mmu.translate(1, VA + 8 * 4096, ACCESS_READ), "walks the new block entry");
    assert.equal(tb.mmu.translate(1, VA + 3 * 4096, ACCESS_READ), false);
    assert.equal(tb.mmu.last[1].fault, FAULT_TLB_CONFLICT);
    // The correct fold invalidated page 3 first.
    const ok = block(PAGE_READONLY, false);
    assert.ok(ok.tb.mmu.translate(1, VA + 3 * 4096, ACCESS_READ));
    arm64Pgtable(arm64ContpteBackend, ok.tb, false).set_pte_at(
      VA + 15 * 4096,
      ok.pteps[15],
      pfn_pte(PFN + 15, PAGE_READONLY),
    );
    assert.ok(ok.tb.mmu.translate(1, VA + 8 * 4096, ACCESS_READ));
    assert.ok(ok.tb.mmu.translate(1, VA + 3 * 4096, ACCESS_READ));
  });
  it("model finding (unconfirmed): the 6.17 batch refolds an unfolded block with no TLBI between clear and set", () => {
    // 16 plain entries of one 64 KiB folio (e.g. unfolded by an earlier partial mprotect), a
    // stale page entry on CPU 1, then a whole-block batch: start clears without a TLBI (the block
    // is fully covered and not contiguous), commit's set_ptes(nr = 16) writes PTE_CONT. Until
    // mprotect's deferred flush, CPU 1 can hold the old page entry beside a new block entry.
    const { tb, pteps } = block(PAGE_READONLY, false);
    assert.ok(tb.mmu.translate(1, VA + 3 * 4096, ACCESS_READ));
    const b = arm64ContpteBackend;
    const pg = arm64Pgtable(b, tb, false);
    const old = b.start(pg, VA, pteps[0], 16);
    b.commit(pg, VA, pteps[0], old, pte_modify(old, PAGE_SHARED), 16);
    assert.equal(tb.mmu.counters.tlbi_va + tb.mmu.counters.tlbi_asid, 0);
    assert.ok(pte_cont(tb.mem.peek(pteps[0])));
    assert.ok(tb.mmu.translate(1, VA + 8 * 4096, ACCESS_READ));
    assert.equal(tb.mmu.translate(1, VA + 3 * 4096, ACCESS_READ), false);
    assert.equal(tb.mmu.last[1].fault, FAULT_TLB_CONFLICT);
  });
  it("unfold without break-before-make loses a dirty update made between its read and write", () => {
    const rs = everyInterleaving(
      () => block(PAGE_SHARED, true).tb,
      (tb) => {
        const pg = arm64Pgtable(arm64BrokenUnfoldNoBbmBackend, tb, false);
        pg.ptep_get_and_clear(VA, tb.ptepFor(VA)); // unfolds the block
      },
      (tb) => {
        tb.mmu.translate(1, VA + 9 * 4096, ACCESS_WRITE);
      },
      (tb) => ({ wrote: tb.mmu.last[1].fault === 0, v: tb.mem.peek(tb.ptepFor(VA + 9 * 4096)) }),
    );
    assert.ok(rs.some((r) => r.wrote && !pte_dirty(r.v)));
  });
  it("test_and_clear_young clears AF across the block without unfolding", () => {
    const { tb, pteps } = block(PAGE_READONLY, true);
    const pg = new Arm64Pgtable(tb, { contpte: true, erratum2645198: false });
    assert.ok(pg.ptep_test_and_clear_young(VA + 4 * 4096, pteps[4]));
    for (const p of pteps) assert.ok(!pte_young(tb.mem.peek(p)) && pte_cont(tb.mem.peek(p)));
    assert.equal(tb.mmu.counters.tlbi_va, 0);
    assert.equal(pg.ptep_clear_flush_young(VA, pteps[0]), false);
  });
  it("ptep_set_access_flags on a block fixes every entry without unfolding unless write changes", () => {
    const { tb, pteps } = block(PAGE_SHARED - PTE_AF, true);
    const pg = new Arm64Pgtable(tb, { contpte: true, erratum2645198: false });
    const entry = pte_mkyoung(pfn_pte(PFN + 2, PAGE_SHARED - PTE_AF));
    assert.ok(pg.ptep_set_access_flags(VA + 2 * 4096, pteps[2], entry, false));
    for (const p of pteps) assert.ok(pte_young(tb.mem.peek(p)) && pte_cont(tb.mem.peek(p)));
    const ro = pfn_pte(PFN + 2, PAGE_READONLY);
    assert.ok(pg.ptep_set_access_flags(VA + 2 * 4096, pteps[2], ro, false));
    assert.equal(pte_cont(tb.mem.peek(pteps[2])), false, "a change of write permission unfolds");
  });
  it("pte_clear on a block entry unfolds first", () => {
    const { tb, pteps } = block(PAGE_READONLY, true);
    new Arm64Pgtable(tb, { contpte: true, erratum2645198: false }).pte_clear(VA, pteps[0]);
    assert.equal(tb.mem.peek(pteps[0]), 0);
    assert.equal(pte_cont(tb.mem.peek(pteps[1])), false);
  });
  it("wrprotect_ptes of a single entry in a block unfolds, then wrprotects with the cmpxchg loop", () => {
    const { tb, pteps } = block(PAGE_SHARED, true);
    assert.ok(write(tb, 1, VA + 6 * 4096));
    new Arm64Pgtable(tb, { contpte: true, erratum2645198: false }).ptep_set_wrprotect(
      VA + 6 * 4096,
      pteps[6],
    );
    const v = tb.mem.peek(pteps[6]);
    assert.ok(!pte_write(v) && pte_dirty(v) && !pte_cont(v));
    assert.ok(pte_write(tb.mem.peek(pteps[7])));
  });
  it("contpte_set_ptes sets PTE_CONT only on whole aligned blocks", () => {
    const tb = new Arm64Testbed({ cpus: 1, ha: true, hd: true });
    const pteps: number[] = [];
    for (let i = 0; i < 24; i++) pteps.push(tb.ptepFor(VA + 8 * 4096 + i * 4096));
    const pg = new Arm64Pgtable(tb, { contpte: true, erratum2645198: false });
    pg.set_ptes(VA + 8 * 4096, pteps[0], pfn_pte(PFN + 8, PAGE_READONLY) as pte_t, 24);
    const cont = pteps.map((p) => pte_cont(tb.mem.peek(p)));
    assert.deepEqual(cont, [...Array(8).fill(false), ...Array(16).fill(true)]);
    assert.equal(pte_pfn(tb.mem.peek(pteps[23])), PFN + 31);
  });
});

describe("arm64 contpte batch with two concurrent writers (every schedule)", () => {
  /** mprotect(PROT_READ) of the whole block as 6.17 does it, then tlb_finish_mmu's flush. */
  function mprotectBlock(b: Arm64TransactionBackend) {
    return (tb: Arm64Testbed) => {
      const pg = arm64Pgtable(b, tb, false);
      const p = tb.ptepFor(VA);
      const old = b.start(pg, VA, p, 16);
      b.commit(pg, VA, p, old, pte_modify(old, PAGE_READONLY), 16);
      flush_tlb_range(tb, VA, VA + 16 * 4096);
    };
  }
  const writers = [
    (tb: Arm64Testbed) => {
      tb.mmu.translate(1, VA + 5 * 4096, ACCESS_WRITE);
    },
    (tb: Arm64Testbed) => {
      tb.mmu.translate(2, VA + 11 * 4096, ACCESS_WRITE);
    },
  ];
  const judge = (tb: Arm64Testbed) => {
    const wrote = tb.mmu.last[1].fault === 0 || tb.mmu.last[2].fault === 0;
    const seen = ptep_get_peek((p) => tb.mem.peek(p), tb.ptepFor(VA), true);
    // After mprotect returned, no CPU may write any more.
    const lateWrite =
      tb.mmu.translate(1, VA + 5 * 4096, ACCESS_WRITE) || tb.mmu.translate(2, VA, ACCESS_WRITE);
    return { wrote, dirty: pte_dirty(seen), lateWrite, writable: pte_write(seen) };
  };
  it("arm64-contpte: a completed write is never lost, and nothing writes after mprotect returns", () => {
    const rs = everySchedule(
      () => block(PAGE_SHARED, true).tb,
      mprotectBlock(arm64ContpteBackend),
      writers,
      judge,
    );
    assert.ok(rs.length > 100);
    for (const r of rs) {
      if (r.wrote) assert.ok(r.dirty);
      assert.equal(r.lateWrite, false);
      assert.equal(r.writable, false);
    }
    assert.ok(rs.some((r) => r.wrote) && rs.some((r) => !r.wrote));
  });
  it("arm64-contpte-broken-gather-first loses one in some schedule", () => {
    const rs = everySchedule(
      () => block(PAGE_SHARED, true).tb,
      mprotectBlock(arm64BrokenGatherFirstBackend),
      writers,
      judge,
    );
    assert.ok(rs.some((r) => r.wrote && !r.dirty));
  });
});
