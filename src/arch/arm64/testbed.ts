// A minimal arm64 machine: page-table memory, the MMU and a kernel context whose every PTE
// access and TLB instruction is a numbered step with a hook before it. It exists to exercise
// the arm64 modules on their own (unit tests, the litmus restatements) until the simulator's
// machine and scheduler run them; it has no kernel, VMAs or data pages of its own.
import type { DescriptorMemory, pte_t, ptep_t } from "../types.js";
import { Arm64Mmu, type Arm64MmuConfig, mk_table_desc } from "./mmu.js";
import type { Arm64KernelContext } from "./pgtable.js";
import { pfn_pte, pteDescribe } from "./pte.js";

export class TableMemory implements DescriptorMemory {
  tables = new Float64Array(512 * 8);
  private readonly slots = new Map<number, number>();
  private nextSlot = 0;
  private nextPfn = 0x100;
  /** A fresh zeroed table; returns its PFN. */
  allocTable(): number {
    const pfn = this.nextPfn++;
    const slot = this.nextSlot++;
    if ((slot + 1) * 512 > this.tables.length) {
      const t = new Float64Array(this.tables.length * 2);
      t.set(this.tables);
      this.tables = t;
    }
    this.slots.set(pfn, slot);
    return pfn;
  }
  /** A PFN that is no table (for data pages). */
  allocFrame(): number {
    return this.nextPfn++;
  }
  peek(ptep: ptep_t): pte_t {
    return this.tables[ptep] as pte_t;
  }
  poke(ptep: ptep_t, v: pte_t): void {
    this.tables[ptep] = v;
  }
  hwCmpxchg(ptep: ptep_t, expect: pte_t, v: pte_t): pte_t {
    const before = this.tables[ptep] as pte_t;
    if (before === expect) this.tables[ptep] = v;
    return before;
  }
  slot(pfn: number, idx: number): ptep_t {
    const s = this.slots.get(pfn);
    return s === undefined ? -1 : s * 512 + idx;
  }
}

export type StepKind = "read" | "write" | "xchg" | "cmpxchg" | "tlbi-va" | "tlbi-asid" | "dsb";

export interface TraceLine {
  step: number;
  kind: StepKind;
  ptep: ptep_t;
  before?: pte_t;
  after?: pte_t;
}

export class Arm64Testbed implements Arm64KernelContext {
  readonly mem = new TableMemory();
  readonly mmu: Arm64Mmu;
  readonly pgd: number;
  /** Steps executed by kernel code so far. */
  steps = 0;
  /** Called before each step with its number (0-based) and kind: where hardware may run. */
  beforeStep: ((step: number, kind: StepKind) => void) | null = null;
  readonly trace: TraceLine[] = [];
  flushPending = false;
  /** Blocks (by 64 KiB-aligned address) that one folio covers, for contpte folding. */
  readonly folioBlocks = new Set<number>();

  constructor(cfg: Arm64MmuConfig) {
    this.mmu = new Arm64Mmu(this.mem, cfg);
    this.pgd = this.mem.allocTable();
    for (let c = 0; c < cfg.cpus; c++) this.mmu.ttbr0[c] = this.pgd;
  }

  /** The leaf slot for `vaddr`, creating the upper tables. */
  ptepFor(vaddr: number): ptep_t {
    const vpn = Math.floor(vaddr / 4096);
    const spans = [134217728, 262144, 512];
    let table = this.pgd;
    for (const span of spans) {
      const s = this.mem.slot(table, Math.floor(vpn / span) % 512);
      let d = this.mem.peek(s);
      if (d === 0) {
        const t = this.mem.allocTable();
        d = mk_table_desc(t);
        this.mem.poke(s, d);
      }
      table = Math.floor((d >>> 0) / 4096) & 0xfffff;
    }
    return this.mem.slot(table, vpn % 512);
  }

  /** Install `pte` for `vaddr` directly (setup, not a step). */
  install(vaddr: number, pfn: number, prot: number): ptep_t {
    const p = this.ptepFor(vaddr);
    this.mem.poke(p, pfn_pte(pfn, prot));
    return p;
  }

  private step(kind: StepKind): number {
    const n = this.steps++;
    if (this.beforeStep !== null) this.beforeStep(n, kind);
    return n;
  }

  read(ptep: ptep_t): pte_t {
    const n = this.step("read");
    const v = this.mem.peek(ptep);
    this.trace.push({ step: n, kind: "read", ptep, before: v, after: v });
    return v;
  }
  write(ptep: ptep_t, v: pte_t): void {
    const n = this.step("write");
    const before = this.mem.peek(ptep);
    this.mem.poke(ptep, v);
    this.trace.push({ step: n, kind: "write", ptep, before, after: v });
  }
  xchg(ptep: ptep_t, v: pte_t): pte_t {
    const n = this.step("xchg");
    const before = this.mem.peek(ptep);
    this.mem.poke(ptep, v);
    this.trace.push({ step: n, kind: "xchg", ptep, before, after: v });
    return before;
  }
  cmpxchg(ptep: ptep_t, expect: pte_t, v: pte_t): pte_t {
    const n = this.step("cmpxchg");
    const before = this.mem.peek(ptep);
    if (before === expect) this.mem.poke(ptep, v);
    this.trace.push({ step: n, kind: "cmpxchg", ptep, before, after: this.mem.peek(ptep) });
    return before;
  }
  tlbi_va(vaddr: number, _lastLevel: boolean): void {
    const n = this.step("tlbi-va");
    this.mmu.tlbi_va(vaddr);
    this.trace.push({ step: n, kind: "tlbi-va", ptep: Math.floor(vaddr / 4096) });
  }
  tlbi_asid(): void {
    const n = this.step("tlbi-asid");
    this.mmu.tlbi_asid();
    this.trace.push({ step: n, kind: "tlbi-asid", ptep: -1 });
  }
  dsb(kind: "ish" | "ishst"): void {
    this.step("dsb");
    this.mmu.dsb(kind);
  }
  mm_tlb_flush_pending(): boolean {
    return this.flushPending;
  }
  folio_covers_block(addr: number, _pfn: number): boolean {
    return this.folioBlocks.has(addr);
  }

  /** The trace as text (for failing assertions). */
  traceText(): string {
    return this.trace
      .map((t) =>
        t.before === undefined
          ? `${t.step}: ${t.kind} ${t.ptep}`
          : `${t.step}: ${t.kind} [${t.ptep}] ${pteDescribe(t.before)} -> ${pteDescribe(t.after as pte_t)}`,
      )
      .join("\n");
  }
}

/**
 * Run `software` once for every placement of one atomic hardware action among its steps (before
 * step 0, ..., after the last step): every interleaving of one hardware access with a
 * sequential kernel operation. `make` builds a fresh testbed for each run.
 */
export function everyInterleaving<R>(
  make: () => Arm64Testbed,
  software: (tb: Arm64Testbed) => void,
  hardware: (tb: Arm64Testbed) => void,
  outcome: (tb: Arm64Testbed) => R,
): R[] {
  return everySchedule(make, software, [hardware], outcome);
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1))
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

/**
 * Every interleaving of several atomic hardware actions (each run once, by another CPU) with a
 * sequential kernel operation: each order of the actions, each non-decreasing placement of
 * them among the operation's steps. Placements past the last step run at the end; as cmpxchg
 * loops may take more steps when raced, placements go up to 8 steps per action past the
 * unraced run's length. Outcomes may repeat.
 */
export function everySchedule<R>(
  make: () => Arm64Testbed,
  software: (tb: Arm64Testbed) => void,
  hardware: readonly ((tb: Arm64Testbed) => void)[],
  outcome: (tb: Arm64Testbed) => R,
): R[] {
  const dry = make();
  software(dry);
  const k = hardware.length;
  const limit = dry.steps + 8 * k;
  const out: R[] = [];
  const positions: number[] = new Array(k).fill(0);
  const runOne = (order: number[]) => {
    const tb = make();
    let next = 0; // index into order of the next action to run
    tb.beforeStep = (step) => {
      while (next < k && positions[next] === step) hardware[order[next++]](tb);
    };
    software(tb);
    while (next < k) hardware[order[next++]](tb);
    out.push(outcome(tb));
  };
  const place = (i: number, min: number, order: number[]) => {
    if (i === k) return runOne(order);
    for (let p = min; p <= limit; p++) {
      positions[i] = p;
      place(i + 1, p, order);
    }
  };
  for (const order of permutations(k)) place(0, 0, order);
  return out;
}
