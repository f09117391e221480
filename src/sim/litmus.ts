// A litmus scenario at run time (arm64; the language is src/arch/arm64/litmus.ts): the initial
// descriptors and values, the programs' descriptor operations as one-instruction kernel paths,
// what the programs observe (registers, faults), and the final condition, which replaces the
// oracle's properties. Herd's programs P0, P1, ... are the scenario's programs, CPUs 1, 2, ...;
// a faulting access ends (there is no fault handler in a litmus test), as in herd.
import {
  CLEARABLE,
  type Cond,
  DESC_OPS,
  evalCond,
  type HerdPte,
  herdDescribe,
  herdPte,
  isCondError,
  type LitmusVerdict,
  litmusVerdict,
  parseCond,
  parseHerdFields,
  unpackFields,
} from "../arch/arm64/litmus.js";
import { clear_pte_bit, pte_pfn } from "../arch/arm64/pte.js";
import type { pte_t } from "../arch/types.js";
import { at, type KStep } from "../kernel/step.js";
import { STEP } from "../machine/machine.js";
import type { ptep_t } from "../machine/physmem.js";
import type { KeySink } from "./key-buffer.js";
import { type Litmus, litmusCondition, type Scenario } from "./scenario.js";
import type { Simulation } from "./simulation.js";
import { OP_DESC } from "./workload.js";

const NREGS = 31;

/** The litmus verdict `check` reached for `s` (a litmus scenario) from its checker verdict. */
export function scenarioLitmusVerdict(l: Litmus, checked: "verified" | "violated"): LitmusVerdict {
  return litmusVerdict(litmusCondition(l).quantifier, checked);
}

export class LitmusRun {
  readonly quantifier: "exists" | "forall";
  readonly text: string;
  private readonly cond: Cond;
  /** Locations: the scenario's regions (one page each), their addresses and frames. */
  readonly locs: string[];
  private readonly addrs: number[];
  private readonly pfns: number[] = [];
  /** Per program (CPU - 1): registers X0..X30, and per location whether its access faulted. */
  readonly regs: Float64Array;
  readonly faults: Uint8Array;

  constructor(
    readonly sim: Simulation,
    readonly spec: Litmus,
  ) {
    const { quantifier, text } = litmusCondition(spec);
    this.quantifier = quantifier;
    this.text = text;
    const c = parseCond(text);
    if (isCondError(c)) throw new Error(`litmus condition: ${c.message}`); // validated by crossCheck
    this.cond = c;
    const s: Scenario = sim.scenario;
    this.locs = s.regions.map((r) => r.name);
    this.addrs = this.locs.map((n) => sim.regionAddr.get(n)!);
    this.regs = new Float64Array(s.cpus * NREGS);
    this.faults = new Uint8Array(s.cpus * this.locs.length);
  }

  /** After populate: every location's descriptor and value as `init` says, TLBs empty. */
  init(): void {
    const sim = this.sim;
    const m = sim.machine;
    this.locs.forEach((loc, i) => {
      const ptep = sim.kernel.walk(this.addrs[i], false);
      const pfn = pte_pfn(m.peekPte(ptep));
      this.pfns[i] = pfn;
      const f = this.spec.init[`pte_${loc}`];
      m.pteWrite(0, ptep, herdPte(typeof f === "string" ? (parseHerdFields(f) as HerdPte) : {}, pfn));
      const v = this.spec.init[loc];
      m.mem.data[pfn] = typeof v === "number" ? v : 0;
    });
    for (const t of m.arm64!.tlbs) t.flushAll();
  }

  reset(): void {
    this.regs.fill(0);
    this.faults.fill(0);
  }

  private loc(addr: number): number {
    return this.addrs.indexOf(addr - (addr % 4096));
  }

  /** CPU `c`'s access to `addr` faulted: the access ends. */
  fault(c: number, addr: number): void {
    this.faults[c * this.locs.length + this.loc(addr)] = 1;
  }

  setReg(c: number, reg1: number, v: number): void {
    if (reg1 > 0) this.regs[c * NREGS + reg1 - 1] = v;
  }

  /** Registers and faults, for the checker's state key (they decide the final condition). */
  keyInto(out: KeySink): void {
    for (let i = 0; i < this.regs.length; i++)
      if (this.regs[i] !== 0) {
        out.push(-1 - i);
        out.push(this.regs[i]);
      }
    for (let i = 0; i < this.faults.length; i++) if (this.faults[i] !== 0) out.push(-1e6 - i);
  }

  /** The final condition on this execution's end state: a violation when it decides the property. */
  finalCheck(): void {
    const m = this.sim.machine;
    const ptepOf = (loc: string) => this.sim.kernel.walk(this.addrs[this.locs.indexOf(loc)], false);
    const obs = {
      data: (loc: string) => m.mem.data[this.pfns[this.locs.indexOf(loc)]],
      pte: (loc: string) => m.peekPte(ptepOf(loc)),
      fault: (p: number, loc: string) =>
        this.faults[(p + 1) * this.locs.length + this.locs.indexOf(loc)] === 1,
      reg: (p: number, r: number) => this.regs[(p + 1) * NREGS + r],
    };
    const holds = evalCond(this.cond, obs);
    if (holds !== (this.quantifier === "exists")) return;
    const state = this.locs
      .map((l) => `${l}=${obs.data(l)} pte_${l}=${herdDescribe(obs.pte(l))}`)
      .concat(
        this.locs.flatMap((l) =>
          Array.from({ length: this.sim.scenario.cpus - 1 }, (_, p) => p)
            .filter((p) => obs.fault(p, l))
            .map((p) => `fault(P${p},${l})`),
        ),
      )
      .join(", ");
    this.sim.oracle.report({
      property: "litmus-outcome",
      addr: this.addrs[0],
      cpu: -1,
      message:
        this.quantifier === "exists"
          ? `an execution ends in the exists condition (${this.text}): ${state}`
          : `an execution ends outside the forall condition (${this.text}): ${state}`,
    });
  }

  /** The name of CPU `c`'s descriptor step `kind`, as the timeline shows it. */
  describe(kind: number, operand: number): string {
    const op = DESC_OPS[kind - OP_DESC];
    if (op === "ldr") return "ldr";
    if (op === "ldclr" || op === "stclr")
      return `${op} ${Object.keys(CLEARABLE)
        .filter((_, i) => (operand & (1 << i)) !== 0)
        .join("|")}`;
    const f = unpackFields(operand);
    return `${op} (${Object.entries(f)
      .map(([k, v]) => `${k}:${v}`)
      .join(",")})`;
  }

  /**
   * CPU `c`'s descriptor step as a kernel path: one point, then the instruction (atomic), or the
   * backend's ptep_set_access_flags (whose own steps interleave with the other CPUs' hardware).
   */
  *step(c: number, kind: number, addr: number, operand: number, reg1: number): KStep<void> {
    const sim = this.sim;
    const m = sim.machine;
    const k = sim.kernelOf(c);
    const ptep: ptep_t = k.walk(addr, false);
    const pfn = this.pfns[this.loc(addr)];
    const op = DESC_OPS[kind - OP_DESC];
    switch (op) {
      case "ldr":
        yield at(STEP.PTE_READ, ptep);
        this.setReg(c, reg1, m.pteRead(c, ptep));
        return;
      case "str":
        yield at(STEP.PTE_WRITE, ptep);
        m.pteWrite(c, ptep, herdPte(unpackFields(operand), pfn));
        return;
      case "swp":
        yield at(STEP.PTE_XCHG, ptep);
        this.setReg(c, reg1, m.pteXchg(c, ptep, herdPte(unpackFields(operand), pfn)));
        return;
      case "ldclr":
      case "stclr": {
        let mask = 0;
        Object.values(CLEARABLE).forEach((b, i) => {
          if ((operand & (1 << i)) !== 0) mask += b;
        });
        yield at(STEP.PTE_CMPXCHG, ptep);
        // One atomic instruction: the compare-exchange is this step's only scheduling point
        // (taken by the yield above), so nothing runs between the peek and it.
        const old = m.peekPte(ptep);
        m.pteCmpxchg(c, ptep, old, clear_pte_bit(old, mask));
        this.setReg(c, reg1, old);
        return;
      }
      case "ptep_set_access_flags": {
        const vma = k.as.findVma(addr)!;
        yield at(STEP.PV, ptep);
        const entry = herdPte(unpackFields(operand), pfn) as pte_t;
        k.pv.ptep_set_access_flags!(vma, addr, ptep, entry, false);
        return;
      }
    }
  }
}
