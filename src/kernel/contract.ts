// The ptep_modify_prot_start/commit contract, checked at run time.
//
// Rules (stable names, printed in counterexamples):
//   commit-without-start        commit on a PTE with no open transaction
//   nested-start                start on a PTE whose transaction is still open
//   pte-lock-not-held           start or commit without holding that page table's PTE lock
//   open-at-unlock              a transaction still open when its PTE lock is released
//   commit-not-applied-at-unlock a committed value not yet in memory when the PTE lock is released
//   lazy-nesting                arch_enter_lazy_mmu_mode while already lazy (classic rules)
//   lazy-unbalanced             leaving lazy MMU mode that was not entered
import type { ArchMm, pte_t } from "../arch/types.js";

export const CONTRACT_RULES = [
  "commit-without-start",
  "nested-start",
  "pte-lock-not-held",
  "open-at-unlock",
  "commit-not-applied-at-unlock",
  "lazy-nesting",
  "lazy-unbalanced",
] as const;
export type ContractRule = (typeof CONTRACT_RULES)[number];

export class ContractViolation extends Error {
  constructor(
    readonly rule: ContractRule,
    readonly cpu: number,
    readonly ptep: number,
    readonly addr: number,
    detail: string,
  ) {
    super(
      `transaction contract broken (${rule}) on CPU${cpu}${addr >= 0 ? ` at 0x${addr.toString(16)}` : ""}: ${detail}`,
    );
    this.name = "ContractViolation";
  }
}

const CAP = 512; // one page table's worth: what one PTE lock covers

/** True if memory holds `committed`, allowing only A/D bits that hardware added since. */
export function commitApplied(arch: ArchMm, mem: pte_t, committed: pte_t): boolean {
  return arch.pte_hw_update_only(committed, mem) && !(arch.pte_young(committed) && !arch.pte_young(mem));
}

/**
 * Per-CPU bookkeeping of open transactions and of commits awaiting the unlock check. The common
 * case (one open transaction per CPU) takes a few typed-array operations so that it inlines into
 * the kernel's per-PTE loop; several open at once (batched API, nested calls) go out of line.
 */
export class ContractTracker {
  /** The single open transaction per CPU (-1: none), when `extraN` is 0. */
  private readonly openPtep: Int32Array;
  /** Further open transactions per CPU. */
  private readonly extra: number[][];
  private readonly extraN: Int32Array;
  /** Commits since the last release of a PTE lock: CPU c uses [c * CAP, (c + 1) * CAP). */
  private readonly cPtep: Int32Array;
  private readonly cVal: Float64Array;
  private readonly cN: Int32Array;
  /** Commits beyond CAP per CPU (more than one page table's worth before an unlock: rare). */
  private readonly overflow: { ptep: number; val: pte_t }[][];

  /** `addrOf` maps a PTE slot to its virtual address, for messages only. */
  constructor(
    ncpus: number,
    /** The architecture, for what hardware may change in a committed entry and for printing. */
    private readonly arch: ArchMm,
    private readonly addrOf: (ptep: number) => number = () => -1,
  ) {
    this.openPtep = new Int32Array(ncpus).fill(-1);
    this.extra = [];
    this.extraN = new Int32Array(ncpus);
    this.cPtep = new Int32Array(ncpus * CAP);
    this.cVal = new Float64Array(ncpus * CAP);
    this.cN = new Int32Array(ncpus);
    this.overflow = [];
    for (let i = 0; i < ncpus; i++) {
      this.extra.push([]);
      this.overflow.push([]);
    }
  }

  // start/commit take small integers and store the value rather than pass it on, and their
  // common path is a few typed-array operations: V8 inlines them into the per-PTE loop.

  /** Open a transaction; false if one is already open on `ptep` (nested-start). */
  start(cpu: number, ptep: number): boolean {
    if (this.openPtep[cpu] === -1 && this.extraN[cpu] === 0) {
      this.openPtep[cpu] = ptep;
      return true;
    }
    return this.startSlow(cpu, ptep);
  }

  private startSlow(cpu: number, ptep: number): boolean {
    const ex = this.extra[cpu];
    if (this.openPtep[cpu] === ptep || ex.includes(ptep)) return false;
    if (this.openPtep[cpu] === -1) this.openPtep[cpu] = ptep;
    else {
      ex.push(ptep);
      this.extraN[cpu] = ex.length;
    }
    return true;
  }

  /** Close the transaction on `ptep` and remember `val` for the unlock check; false if none was open. */
  commit(cpu: number, ptep: number, val: pte_t): boolean {
    if (this.openPtep[cpu] === ptep) this.openPtep[cpu] = -1;
    else if (!this.commitSlow(cpu, ptep)) return false;
    const n = this.cN[cpu];
    if (n === CAP) this.overflow[cpu].push({ ptep, val });
    else {
      this.cPtep[cpu * CAP + n] = ptep;
      this.cVal[cpu * CAP + n] = val;
      this.cN[cpu] = n + 1;
    }
    return true;
  }

  private commitSlow(cpu: number, ptep: number): boolean {
    const ex = this.extra[cpu];
    const i = ex.indexOf(ptep);
    if (i < 0) return false;
    ex.splice(i, 1);
    this.extraN[cpu] = ex.length;
    return true;
  }

  // ---- runs: one page table's transactions by the kernel's own loop, checked per table ----
  //
  // change_pte_range with no scheduler hook installed runs start -> commit for each entry of
  // one page table under its PTE lock, and nothing else runs on the machine until it is done:
  // no other agent, and backends cannot reach the kernel's transaction API. Then whether the
  // lock is held and whether a transaction is open cannot change during the loop, so the
  // kernel checks them once (lock held, nothing open: beginRun), after which nested-start and
  // commit-without-start cannot occur; it still logs every commit, and pte_unlock checks each
  // one as before. The tracker's state after the run is the one start/commit would leave.

  /**
   * Begin a run of at most `max` transactions on `cpu` (whose PTE lock the caller has checked).
   * Returns the log position of the run's first commit, or -1 when the run cannot be taken (a
   * transaction is open on `cpu`, or the log lacks room): the caller then uses start/commit.
   */
  beginRun(cpu: number, max: number): number {
    const n = this.cN[cpu];
    return this.openPtep[cpu] === -1 && this.extraN[cpu] === 0 && n + max <= CAP ? cpu * CAP + n : -1;
  }

  /** Log the run's commit of `val` to `ptep` at `pos` (beginRun's position, then one up each). */
  runCommit(pos: number, ptep: number, val: pte_t): void {
    this.cPtep[pos] = ptep;
    this.cVal[pos] = val;
  }

  /** End the run of `cpu`: `end` is the position after its last commit. */
  endRun(cpu: number, end: number): void {
    this.cN[cpu] = end - cpu * CAP;
  }

  /**
   * Called as `cpu` releases the PTE lock of table slot `slot`: no transaction on that table
   * may be open, and every commit on it must be in memory (read side-effect free from `mem`).
   */
  unlock(cpu: number, slot: number, mem: PteReader): void {
    if (this.openPtep[cpu] !== -1 || this.extraN[cpu] !== 0)
      for (const p of [this.openPtep[cpu], ...this.extra[cpu]])
        if (p !== -1 && p >> 9 === slot)
          throw new ContractViolation(
            "open-at-unlock",
            cpu,
            p,
            this.addrOf(p),
            "PTE lock released while a ptep_modify_prot_start has no commit",
          );
    // Common case: every logged commit is on this table and in memory as committed.
    const cp = this.cPtep;
    const cv = this.cVal;
    const end = cpu * CAP + this.cN[cpu];
    let i = cpu * CAP;
    for (; i < end; i++) {
      const p = cp[i];
      if (p >> 9 !== slot || mem.peekPte(p) !== cv[i]) break;
    }
    if (i === end && this.overflow[cpu].length === 0) this.cN[cpu] = 0;
    else this.unlockSlow(cpu, slot, mem);
  }

  /** unlock's general case: commits on other tables stay logged; A/D-only differences pass. */
  private unlockSlow(cpu: number, slot: number, mem: PteReader): void {
    const cp = this.cPtep;
    const cv = this.cVal;
    const base = cpu * CAP;
    const n = this.cN[cpu];
    let keep = base;
    for (let i = base; i < base + n; i++) {
      const p = cp[i];
      const want = cv[i] as pte_t;
      if (p >> 9 !== slot) {
        cp[keep] = p;
        cv[keep] = want;
        keep++;
      } else if (mem.peekPte(p) !== want) this.checkApplied(cpu, p, mem.peekPte(p), want);
    }
    this.cN[cpu] = keep - base;
    const of = this.overflow[cpu];
    if (of.length > 0) {
      for (const o of of)
        if (o.ptep >> 9 === slot) this.checkApplied(cpu, o.ptep, mem.peekPte(o.ptep), o.val);
      this.overflow[cpu] = of.filter((o) => o.ptep >> 9 !== slot);
    }
  }

  private checkApplied(cpu: number, p: number, m: pte_t, want: pte_t): void {
    if (commitApplied(this.arch, m, want)) return;
    this.cN[cpu] = 0;
    this.overflow[cpu] = [];
    throw new ContractViolation(
      "commit-not-applied-at-unlock",
      cpu,
      p,
      this.addrOf(p),
      `PTE lock released with a queued commit not applied (memory: ${this.arch.pteDescribe(m)}; committed: ${this.arch.pteDescribe(want)})`,
    );
  }

  /**
   * For the checker's state key: append, for every CPU with commits awaiting its unlock check,
   * the CPU, their number and their (slot, value) pairs to `out`. A commit memory (`mem`)
   * already holds (commitApplied) whose slot `settled` accepts is appended as (slot, -1): the
   * caller vouches that its value can no longer change the check's outcome
   * (Kernel.pendingCommitsInto says when).
   */
  pendingInto(
    out: number[],
    mem: PteReader | null = null,
    settled: ((ptep: number) => boolean) | null = null,
  ): void {
    for (let cpu = 0; cpu < this.cN.length; cpu++) {
      const n = this.cN[cpu];
      const of = this.overflow[cpu];
      if (n === 0 && of.length === 0) continue;
      out.push(cpu, n + of.length);
      for (let i = cpu * CAP; i < cpu * CAP + n; i++)
        this.pendingPart(out, this.cPtep[i], this.cVal[i] as pte_t, mem, settled);
      for (const o of of) this.pendingPart(out, o.ptep, o.val, mem, settled);
    }
  }

  private pendingPart(
    out: number[],
    p: number,
    v: pte_t,
    mem: PteReader | null,
    settled: ((ptep: number) => boolean) | null,
  ): void {
    const keep =
      mem === null || settled === null || !commitApplied(this.arch, mem.peekPte(p), v) || !settled(p);
    out.push(p, keep ? v : -1);
  }

  /** Forget everything: no transaction open, no commit pending (for the checker's restarts). */
  reset(): void {
    this.openPtep.fill(-1);
    this.extraN.fill(0);
    this.cN.fill(0);
    for (let i = 0; i < this.extra.length; i++) {
      this.extra[i] = [];
      this.overflow[i] = [];
    }
  }

  openCount(cpu: number): number {
    return (this.openPtep[cpu] === -1 ? 0 : 1) + this.extraN[cpu];
  }
}

/** A side-effect-free reader of PTE memory (the machine's peekPte). */
export interface PteReader {
  peekPte(ptep: number): pte_t;
}
