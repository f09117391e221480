// The hardware-update family of herdtools7's catalogue/aarch64-VMSA, restated for ptesim's
// sequentially consistent model: one EL0 access to x (through the MMU with HA/HD) racing a
// software update of x's descriptor (plain load/store, SWP, LDCLR/STCLR, or a kernel helper).
// Each entry keeps herd's test name, herd's verdict (tests/kinds.txt) and condition, and the
// verdict ptesim expects; tests that need weak ordering are listed in OUT_OF_SCOPE with why.
// Source: herdtools7 commit 5feffe4e8f98 (2026-08-21), catalogue/aarch64-VMSA/tests/.
//
// herd's descriptor fields map to Linux's bits as: valid = PTE_VALID, af = PTE_AF,
// dbm = PTE_DBM (PTE_WRITE), db ("dirty bit", AP[2] clear) = !PTE_RDONLY; unspecified fields
// default to valid:1, af:1, db:1, dbm:0, as herd's do.
import { ACCESS_READ, ACCESS_WRITE, type pte_t } from "../types.js";
import { Arm64Pgtable } from "./pgtable.js";
import {
  clear_pte_bit,
  PTE_AF,
  PTE_DBM,
  PTE_NG,
  PTE_RDONLY,
  PTE_SHARED,
  PTE_TYPE_PAGE,
  PTE_USER,
  PTE_VALID,
  pfn_pte,
  pte_mkyoung,
  pte_pfn,
  pteHas,
} from "./pte.js";
import { Arm64Testbed, everyInterleaving } from "./testbed.js";

/** A descriptor described by herd's fields (all optional: herd's defaults apply). */
export interface HerdPte {
  valid?: 0 | 1;
  af?: 0 | 1;
  db?: 0 | 1;
  dbm?: 0 | 1;
}

const X_VA = 0x40_0000_0000;
const X_PFN = 0x777;

/** The descriptor of x with herd's fields (EL0 read/write, inner shareable, non-global). */
export function herdPte(f: HerdPte): pte_t {
  let lo = PTE_TYPE_PAGE | PTE_SHARED | PTE_USER | PTE_NG;
  if ((f.valid ?? 1) === 0) lo &= ~PTE_VALID;
  if ((f.af ?? 1) === 1) lo |= PTE_AF;
  if ((f.db ?? 1) === 0) lo |= PTE_RDONLY;
  return pfn_pte(X_PFN, lo + ((f.dbm ?? 0) === 1 ? PTE_DBM : 0));
}

/** Whether `v` maps x and has every field `f` names. */
export function matches(v: pte_t, f: HerdPte): boolean {
  if (pte_pfn(v) !== X_PFN) return false;
  if (f.valid !== undefined && ((v & PTE_VALID) !== 0 ? 1 : 0) !== f.valid) return false;
  if (f.af !== undefined && ((v & PTE_AF) !== 0 ? 1 : 0) !== f.af) return false;
  if (f.db !== undefined && ((v & PTE_RDONLY) === 0 ? 1 : 0) !== f.db) return false;
  if (f.dbm !== undefined && (pteHas(v, PTE_DBM) ? 1 : 0) !== f.dbm) return false;
  return true;
}

/** One execution's observable result. */
export interface LitmusOutcome {
  /** The access to x faulted. */
  fault: boolean;
  /** x = 1: the store completed (or, for a load, the load returned x's value). */
  done: boolean;
  /** Values the software's atomic or plain loads of the descriptor returned, in order. */
  regs: pte_t[];
  /** The descriptor at the end. */
  final: pte_t;
}

export type Verdict = "Allowed" | "Forbidden" | "Required";

export interface Arm64LitmusTest {
  /** herd's test name (catalogue/aarch64-VMSA/tests/NAME.litmus), or a Linux-level test's name. */
  readonly name: string;
  /** herd's verdict from tests/kinds.txt (or the expected one for Linux-level tests). */
  readonly herdVerdict: Verdict;
  /** The verdict ptesim expects under its model (differs only where the note says why). */
  readonly expected: Verdict;
  /** TCR_EL1.HA / HD (herd's TTHM). */
  readonly ha: boolean;
  readonly hd: boolean;
  readonly initial: HerdPte;
  /** The access to x: a store (STR) or a load (LDR), by another CPU than the software. */
  readonly access: "store" | "load";
  /** The software side, on the descriptor of x; returns the values it loaded. */
  readonly software: (tb: Arm64Testbed, ptep: number) => pte_t[];
  /** herd's condition (exists: some outcome; forall: every outcome). */
  readonly quantifier: "exists" | "forall";
  readonly condition: (o: LitmusOutcome) => boolean;
  /** herd's condition as text, and what the test is about. */
  readonly text: string;
  readonly note: string;
}

const SWP = (f: HerdPte) => (tb: Arm64Testbed, p: number) => [tb.xchg(p, herdPte(f))];
/** An atomic bit clear (LDCLR/STCLR) as a cmpxchg loop: the same atomicity, one step if unraced. */
function atomicClear(mask: number) {
  return (tb: Arm64Testbed, p: number) => {
    let v = tb.read(p);
    for (;;) {
      const seen = tb.cmpxchg(p, v, clear_pte_bit(v, mask));
      if (seen === v) return [v];
      v = seen;
    }
  };
}

/**
 * STRx+LDCLRptex+db (dbm = 1, HA and HD) and STRx+LDCLRptex+af (dbm = 0, HA only): an atomic
 * clear of the valid bit racing a store; can the cleared value show the store's hardware update
 * while the store faulted?
 */
function ldclrValidTest(dbm: 0 | 1, herdVerdict: Verdict, expected: Verdict, note: string): Arm64LitmusTest {
  const f = `af:1,db:1,dbm:${dbm}`;
  return {
    name: dbm === 1 ? "STRx+LDCLRptex+db" : "STRx+LDCLRptex+af",
    herdVerdict,
    expected,
    ha: true,
    hd: dbm === 1,
    initial: dbm === 1 ? { db: 0, dbm: 1 } : { af: 0 },
    access: "store",
    software: atomicClear(PTE_VALID),
    quantifier: "exists",
    condition: (o) =>
      !o.done &&
      o.fault &&
      matches(o.final, { af: 1, db: 1, dbm, valid: 0 }) &&
      matches(o.regs[0], { af: 1, db: 1, dbm, valid: 1 }),
    text: `exists x=0 /\\ fault(P0,x) /\\ pte_x=(${f},valid:0) /\\ 1:X0=(${f},valid:1)`,
    note,
  };
}

/**
 * Linux-level, not herd: a read fault's ptep_set_access_flags (entry = pte_mkyoung of the
 * writable-clean-old entry read before) racing a DBM store, with today's helper and with the
 * one before commit 6d332747fa5f.
 */
function setAccessFlagsTest(pre2018: boolean): Arm64LitmusTest {
  return {
    name: pre2018 ? "linux:ptep_set_access_flags-pre-2018+DBM" : "linux:ptep_set_access_flags+DBM",
    herdVerdict: pre2018 ? "Allowed" : "Forbidden",
    expected: pre2018 ? "Allowed" : "Forbidden",
    ha: true,
    hd: true,
    initial: { af: 0, db: 0, dbm: 1 },
    access: "store",
    software: (tb, p) => {
      const mutants = pre2018 ? (["set-access-flags-pre-2018"] as const) : [];
      const pg = new Arm64Pgtable(tb, { contpte: false, erratum2645198: false, mutants });
      pg.ptep_set_access_flags(X_VA, p, pte_mkyoung(herdPte({ af: 0, db: 0, dbm: 1 })), false);
      return [];
    },
    quantifier: "exists",
    condition: (o) => o.done && matches(o.final, { db: 0 }),
    text: "exists x=1 /\\ pte_x=(db:0)",
    note: pre2018
      ? "the race the 2018 fix closed: the helper sets AP[2] back over the hardware's dirty update"
      : "today's helper keeps PTE_RDONLY the most permissive of the entry and the descriptor: no dirty update is lost",
  };
}

export const ARM64_LITMUS: readonly Arm64LitmusTest[] = [
  {
    name: "STR-db0+dbm1-HD",
    herdVerdict: "Required",
    expected: "Required",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: () => [],
    quantifier: "forall",
    condition: (o) => o.done && !o.fault && matches(o.final, { db: 1, dbm: 1 }),
    text: "forall x=1 /\\ ~fault(P0,x)",
    note: "with HD a store through a writable-clean descriptor clears AP[2] instead of faulting",
  },
  {
    name: "STR-db0-noHD",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: false,
    hd: false,
    initial: { db: 0 },
    access: "store",
    software: () => [],
    quantifier: "exists",
    condition: (o) => o.done,
    text: "exists x=1",
    note: "without HD (and without DBM) a store to a read-only descriptor is a Permission fault",
  },
  {
    name: "LDRaf0-HA",
    herdVerdict: "Allowed",
    expected: "Allowed",
    ha: true,
    hd: false,
    initial: { af: 0 },
    access: "load",
    software: () => [],
    quantifier: "exists",
    condition: (o) => o.done,
    text: "exists 0:X2=1",
    note: "with HA the walker sets AF and the load completes",
  },
  {
    name: "LDRaf0-noHA",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: false,
    hd: false,
    initial: { af: 0 },
    access: "load",
    software: () => [],
    quantifier: "exists",
    condition: (o) => o.done,
    text: "exists 0:X2=1",
    note: "without HA an old descriptor is an Access flag fault",
  },
  {
    name: "STRx+LDR-STRptex+db",
    herdVerdict: "Required",
    expected: "Required",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: (tb, p) => {
      const r = tb.read(p);
      tb.write(p, herdPte({ af: 0, valid: 0 }));
      return [r];
    },
    quantifier: "forall",
    condition: (o) =>
      matches(o.final, { af: 0, db: 1, dbm: 0, valid: 0 }) &&
      ((matches(o.regs[0], { af: 1, db: 0, dbm: 1, valid: 1 }) && ((o.fault && !o.done) || o.done)) ||
        (matches(o.regs[0], { af: 1, db: 1, dbm: 1, valid: 1 }) && o.done)),
    text: "forall pte_x=(af:0,db:1,dbm:0,valid:0) /\\ (1:X8=(af:1,db:0,dbm:1,valid:1) /\\ (fault /\\ x=0 \\/ x=1) \\/ 1:X8=(af:1,db:1,dbm:1,valid:1) /\\ x=1)",
    note: "a plain load/store of the descriptor admits X8 clean with x=1: the DBM dirty update is lost (ptesim's lost-dirty)",
  },
  {
    name: "STRx+SWPptex+db",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: SWP({ db: 0, dbm: 1, valid: 0 }),
    quantifier: "exists",
    condition: (o) =>
      matches(o.regs[0], { af: 1, db: 1, dbm: 1, valid: 1 }) &&
      matches(o.final, { af: 1, db: 0, dbm: 1, valid: 0 }) &&
      !o.done &&
      o.fault,
    text: "exists 1:X8=(af:1,db:1,dbm:1,valid:1) /\\ pte_x=(af:1,db:0,dbm:1,valid:0) /\\ x=0 /\\ fault(P0,x)",
    note: "the swap cannot see a dirty descriptor whose store then faults: dirty is set only with the write",
  },
  {
    name: "STRx+SWPptex+db5",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: SWP({ db: 0, dbm: 1, valid: 0 }),
    quantifier: "exists",
    condition: (o) =>
      matches(o.regs[0], { db: 0, dbm: 1 }) &&
      o.done &&
      matches(o.final, { db: 0, dbm: 1, valid: 0 }) &&
      !o.fault,
    text: "exists 1:X8=(db:0,dbm:1) /\\ x=1 /\\ pte_x=(db:0,dbm:1,valid:0) /\\ ~fault(P0,x)",
    note: "a store after the swap cannot complete: its dirty update finds the descriptor invalid (why get-and-clear is safe)",
  },
  {
    name: "STRx+SWPptex1",
    herdVerdict: "Allowed",
    expected: "Allowed",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: SWP({ valid: 0 }),
    quantifier: "exists",
    condition: (o) => matches(o.regs[0], { db: 0, dbm: 1 }) && matches(o.final, { valid: 0 }) && o.fault,
    text: "exists 1:X4=(db:0,dbm:1) /\\ pte_x=(valid:0) /\\ fault(P0,x)",
    note: "the swap first, then the store faults",
  },
  ldclrValidTest(
    1,
    "Forbidden",
    "Forbidden",
    "an atomic clear of the valid bit cannot observe a dirty update whose store then faults",
  ),
  {
    name: "STRx+STCLRptex+db+dbm",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: atomicClear(PTE_DBM),
    quantifier: "exists",
    condition: (o) => matches(o.final, { af: 1, db: 1, dbm: 0, valid: 1 }) && !o.done && o.fault,
    text: "exists pte_x=(af:1,db:1,dbm:0,valid:1) /\\ x=0 /\\ fault(P0,x)",
    note: "a descriptor left dirty implies the store happened",
  },
  {
    name: "STRx+2SWPptex+db",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: true,
    hd: true,
    initial: { db: 0, dbm: 1 },
    access: "store",
    software: (tb, p) => [tb.xchg(p, herdPte({ db: 0, dbm: 1 })), tb.xchg(p, herdPte({ db: 0, dbm: 1 }))],
    quantifier: "exists",
    condition: (o) =>
      matches(o.regs[0], { db: 1, dbm: 1 }) &&
      (matches(o.regs[1], { db: 1, dbm: 1 }) || matches(o.final, { db: 1, dbm: 1 })) &&
      o.done &&
      !o.fault,
    text: "exists 1:X0=(db:1,dbm:1) /\\ (1:X1=(db:1,dbm:1) \\/ pte_x=(db:1,dbm:1)) /\\ x=1 /\\ ~fault(P0,x)",
    note: "one store makes one dirty update: cleaning twice cannot observe it twice",
  },
  {
    name: "LDRx+SWPptex+af",
    herdVerdict: "Forbidden",
    expected: "Forbidden",
    ha: true,
    hd: false,
    initial: { af: 0 },
    access: "load",
    software: SWP({ af: 0, valid: 0 }),
    quantifier: "exists",
    condition: (o) => matches(o.final, { af: 1, valid: 0 }),
    text: "exists pte_x=(af:1,valid:0)",
    note: "hardware never sets AF in an invalid descriptor",
  },
  ldclrValidTest(
    0,
    "Allowed",
    "Forbidden",
    "herd allows AF to be set by a walk whose access then faults (AF updates are not tied to the access); ptesim's walker sets AF only for an access that completes, so it cannot reach this outcome (a stricter model: it never invents accesses)",
  ),
  setAccessFlagsTest(false),
  setAccessFlagsTest(true),
];

/** herd tests of the family that ptesim does not restate, with the reason. */
export const OUT_OF_SCOPE: readonly { pattern: string; reason: string }[] = [
  {
    pattern: "MP+HA-DSB.*, MP+HD-DSB.*",
    reason: "message passing through x and the descriptor: needs weak ordering (DSB variants)",
  },
  {
    pattern: "coRR+HA-DSB.*",
    reason: "coherence of two reads around a hardware update: needs weak ordering",
  },
  {
    pattern: "Artem*, D15347-*, NT-*",
    reason: "TLBI/DSB/ISB ordering of translation-table writes: needs weak ordering",
  },
  {
    pattern: "S+dmb.st+*-HU*, LB+*-HUaf",
    reason: "store/load buffering shapes with hardware updates: need weak ordering",
  },
  {
    pattern: "SpecAF, SpecSpecAF*, STRx+LDCLRptex+af, LDRx+LDCLRptex+af",
    reason: "AF set by a speculative or faulting walk: ptesim sets AF only for accesses that complete",
  },
  {
    pattern: "STRx-LDRx-ptex+*, STRx-LDRptex*",
    reason: "ordering between a data access and a descriptor read on one CPU: needs weak ordering",
  },
];

export interface LitmusResult {
  test: Arm64LitmusTest;
  verdict: Verdict;
  outcomes: LitmusOutcome[];
}

function makeBed(t: Arm64LitmusTest): Arm64Testbed {
  const tb = new Arm64Testbed({ cpus: 2, ha: t.ha, hd: t.hd });
  tb.mem.poke(tb.ptepFor(X_VA), herdPte(t.initial));
  return tb;
}

/**
 * Every interleaving of the access (CPU 1) with the software's steps (CPU 0), then the verdict:
 * an exists-test is Allowed if some outcome satisfies the condition, else Forbidden; a
 * forall-test is Required if every outcome does, else Allowed.
 */
export function runArm64Litmus(t: Arm64LitmusTest): LitmusResult {
  let regs: pte_t[] = [];
  const outcomes = everyInterleaving(
    () => makeBed(t),
    (tb) => {
      regs = t.software(tb, tb.ptepFor(X_VA));
    },
    (tb) => {
      tb.mmu.translate(1, X_VA, t.access === "store" ? ACCESS_WRITE : ACCESS_READ);
    },
    (tb): LitmusOutcome => {
      const ok = tb.mmu.last[1].fault === 0;
      return { fault: !ok, done: ok, regs, final: tb.mem.peek(tb.ptepFor(X_VA)) };
    },
  );
  const sat = outcomes.filter(t.condition).length;
  const verdict: Verdict =
    t.quantifier === "exists"
      ? sat > 0
        ? "Allowed"
        : "Forbidden"
      : sat === outcomes.length
        ? "Required"
        : "Allowed";
  return { test: t, verdict, outcomes };
}
