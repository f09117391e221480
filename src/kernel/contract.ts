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
import { _PAGE_ACCESSED, _PAGE_DIRTY, type pte_t, pteClearLow, pteDescribe } from "../machine/pte.js";

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
    super(`transaction contract broken (${rule}) on CPU${cpu}${addr >= 0 ? ` at 0x${addr.toString(16)}` : ""}: ${detail}`);
    this.name = "ContractViolation";
  }
}

const AD = _PAGE_ACCESSED | _PAGE_DIRTY;

/** True if memory holds `committed`, allowing only A/D bits that hardware added since. */
export function commitApplied(mem: pte_t, committed: pte_t): boolean {
  if (pteClearLow(mem, AD) !== pteClearLow(committed, AD)) return false;
  return (committed & AD & ~mem) === 0;
}

/** Per-CPU bookkeeping of open transactions and of commits awaiting the unlock check. */
export class ContractTracker {
  // Open transactions: ptep -> address, per CPU (a handful at most; linear scan).
  private open: { ptep: Int32Array; addr: Float64Array; n: number }[];
  // Commits since the last PTE-lock release, per CPU.
  private committed: { ptep: Int32Array; val: Float64Array; addr: Float64Array; n: number }[];

  constructor(ncpus: number) {
    this.open = [];
    this.committed = [];
    for (let i = 0; i < ncpus; i++) {
      this.open.push({ ptep: new Int32Array(64), addr: new Float64Array(64), n: 0 });
      this.committed.push({ ptep: new Int32Array(1024), addr: new Float64Array(1024), val: new Float64Array(1024), n: 0 });
    }
  }

  start(cpu: number, ptep: number, addr: number): void {
    const o = this.open[cpu];
    for (let i = 0; i < o.n; i++)
      if (o.ptep[i] === ptep)
        throw new ContractViolation("nested-start", cpu, ptep, addr, "ptep_modify_prot_start on a PTE whose transaction is open");
    if (o.n === o.ptep.length) {
      const p = new Int32Array(o.n * 2);
      p.set(o.ptep);
      const a = new Float64Array(o.n * 2);
      a.set(o.addr);
      o.ptep = p;
      o.addr = a;
    }
    o.ptep[o.n] = ptep;
    o.addr[o.n] = addr;
    o.n++;
  }

  commit(cpu: number, ptep: number, addr: number, val: pte_t): void {
    const o = this.open[cpu];
    let i = 0;
    while (i < o.n && o.ptep[i] !== ptep) i++;
    if (i === o.n)
      throw new ContractViolation("commit-without-start", cpu, ptep, addr, "ptep_modify_prot_commit with no matching start");
    o.n--;
    o.ptep[i] = o.ptep[o.n];
    o.addr[i] = o.addr[o.n];
    let c = this.committed[cpu];
    if (c.n === c.ptep.length) {
      const g = { ptep: new Int32Array(c.n * 2), addr: new Float64Array(c.n * 2), val: new Float64Array(c.n * 2), n: c.n };
      g.ptep.set(c.ptep);
      g.addr.set(c.addr);
      g.val.set(c.val);
      this.committed[cpu] = g;
      c = g;
    }
    c.ptep[c.n] = ptep;
    c.addr[c.n] = addr;
    c.val[c.n] = val;
    c.n++;
  }

  /**
   * Called as `cpu` releases the PTE lock of table slot `slot`: no transaction on that table
   * may be open, and every commit on it must be in memory (`read` gives the memory value).
   */
  unlock(cpu: number, slot: number, read: (ptep: number) => pte_t): void {
    const o = this.open[cpu];
    for (let i = 0; i < o.n; i++)
      if (((o.ptep[i] / 512) | 0) === slot)
        throw new ContractViolation(
          "open-at-unlock",
          cpu,
          o.ptep[i],
          o.addr[i],
          "PTE lock released while a ptep_modify_prot_start has no commit",
        );
    const c = this.committed[cpu];
    let keep = 0;
    for (let i = 0; i < c.n; i++) {
      const p = c.ptep[i];
      if (((p / 512) | 0) !== slot) {
        c.ptep[keep] = p;
        c.addr[keep] = c.addr[i];
        c.val[keep] = c.val[i];
        keep++;
        continue;
      }
      const mem = read(p);
      const want = c.val[i] as pte_t;
      if (!commitApplied(mem, want)) {
        c.n = 0;
        throw new ContractViolation(
          "commit-not-applied-at-unlock",
          cpu,
          p,
          c.addr[i],
          `PTE lock released with a queued commit not applied (memory: ${pteDescribe(mem)}; committed: ${pteDescribe(want)})`,
        );
      }
    }
    c.n = keep;
  }

  openCount(cpu: number): number {
    return this.open[cpu].n;
  }
}
