// The x86-64 MMU: the 4-level page walker and the per-CPU TLBs' use of it, as the arm64 MMU
// (../arm64/mmu.ts) is arm64's. The machine owns the page-table store and the CPUs; it hands
// this walker the store (replaced when it grows) and runs the data access after a translation.
//
// A user access is atomic with respect to every other step: TLB lookup; on a miss a page walk
// that sets A (and D for a write) in one locked update of the leaf; on a write hit whose entry
// has D=0 a locked re-read of the PTE that sets D, or a fault if the PTE is now non-present or
// read-only. Faults invalidate the TLB entry for the address, as x86 does.
import { type CostLedger, CTR } from "../../machine/ledger.js";
import type { PhysMem, ptep_t } from "../../machine/physmem.js";
import { PF_INSTR, PF_PROT, PF_USER, PF_WRITE } from "./fault.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_NX,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_USER,
  PTRS_PER_TABLE,
  pte_pfn,
  type pte_t,
  pteSetLow,
} from "./pte.js";
import { TLB_DIRTY, TLB_NX, TLB_RW, TLB_USER, type Tlb } from "./tlb.js";

const ACCESS_WRITE = 1;
const ACCESS_EXEC = 2;

/** 512^level: the span of one entry at each paging level, in pages. */
const LEVEL_SPAN = [1, 512, 262144, 134217728];

/** Result of a side-effect-free walk. */
export interface Translation {
  /** The leaf PTE slot, or -1 when an upper level is not present. */
  ptep: ptep_t;
  /** Leaf value (0 when ptep is -1). */
  pte: pte_t;
  /** Rights accumulated over the upper levels (TLB_RW | TLB_USER | TLB_NX). */
  upper: number;
}

/** What the walker needs of a CPU: its TLB and CR3, and where it leaves a fault's error code. */
export interface X86CpuState {
  readonly tlb: Tlb;
  cr3: number;
  pfError: number;
  lastTlbHit: boolean;
}

/** Told of each A/D update the walker makes (the machine's tracer, for timelines). */
export interface X86HwUpdateListener {
  hw(cpu: number, vaddr: number, ptep: ptep_t, before: pte_t, after: pte_t): void;
}

export class X86Mmu {
  /**
   * The page-table store: the machine's private one, granted (again when it grows) by the
   * machine; private here too, so that nothing reaches it through the MMU.
   */
  #t: Float64Array;
  /** Told of each A/D update the walker makes (timelines); null: none. */
  tracer: X86HwUpdateListener | null = null;
  private readonly scratch: Translation = { ptep: -1, pte: 0 as pte_t, upper: 0 };

  constructor(
    private readonly mem: PhysMem,
    private readonly ledger: CostLedger,
    t: Float64Array,
  ) {
    this.#t = t;
  }

  /** The machine grants its store (at start and whenever it replaces it). */
  grant(t: Float64Array): void {
    this.#t = t;
  }

  /**
   * Walk the tables from `cr3` without side effects (probe mode): no A/D updates, no TLB fill.
   * Writes the result into `out` to avoid allocation.
   */
  probe(cr3: number, vaddr: number, out: Translation): Translation {
    const mem = this.mem;
    const t = this.#t;
    let pfn = cr3;
    let rights = TLB_RW | TLB_USER;
    const vpn = Math.floor(vaddr / 4096);
    for (let level = 3; level >= 1; level--) {
      const idx = (vpn / LEVEL_SPAN[level]) & 511;
      const e = t[mem.tableSlot[pfn] * PTRS_PER_TABLE + idx];
      if ((e & _PAGE_PRESENT) === 0) {
        out.ptep = -1;
        out.pte = 0 as pte_t;
        out.upper = rights;
        return out;
      }
      if ((e & _PAGE_RW) === 0) rights &= ~TLB_RW;
      if ((e & _PAGE_USER) === 0) rights &= ~TLB_USER;
      if (e >= _PAGE_NX) rights |= TLB_NX;
      pfn = pte_pfn(e as pte_t);
    }
    const ptep = mem.tableSlot[pfn] * PTRS_PER_TABLE + (vpn & 511);
    out.ptep = ptep;
    out.pte = t[ptep] as pte_t;
    out.upper = rights;
    return out;
  }

  /** The locked A/D update of the leaf at `ptep` (from `v` to `nv`), counted and reported. */
  private hwUpdate(cpuId: number, vaddr: number, ptep: ptep_t, v: pte_t, nv: pte_t): void {
    this.#t[ptep] = nv;
    this.ledger.add(cpuId, CTR.hw_ad_update);
    if (this.tracer !== null) this.tracer.hw(cpuId, vaddr, ptep, v, nv);
  }

  /**
   * Translate a user access by `cpu` (CPU `cpuId`): the frame, or -1 on a page fault
   * (`cpu.pfError` set, counted). Sets `cpu.lastTlbHit`.
   */
  translate(cpu: X86CpuState, cpuId: number, vaddr: number, kind: number): number {
    const tlb = cpu.tlb;
    const vpn = Math.floor(vaddr / 4096);
    const write = kind === ACCESS_WRITE;
    let errBase = PF_USER | (write ? PF_WRITE : 0) | (kind === ACCESS_EXEC ? PF_INSTR : 0);
    const i = tlb.lookup(vpn);
    if (i >= 0) {
      const f = tlb.flags[i];
      if (
        (f & TLB_USER) === 0 ||
        (write && (f & TLB_RW) === 0) ||
        (kind === ACCESS_EXEC && (f & TLB_NX) !== 0)
      ) {
        tlb.invalidateIndex(i);
        cpu.pfError = errBase | PF_PROT;
        this.ledger.add(cpuId, CTR.page_fault);
        return -1;
      }
      if (write && (f & TLB_DIRTY) === 0) {
        // First write through a clean entry: re-read the PTE in memory and set D atomically.
        const tr = this.probe(cpu.cr3, vaddr, this.scratch);
        const v = tr.pte;
        if (
          tr.ptep < 0 ||
          (v & _PAGE_PRESENT) === 0 ||
          (v & _PAGE_RW) === 0 ||
          (tr.upper & TLB_RW) === 0 ||
          (v & _PAGE_USER) === 0
        ) {
          tlb.invalidateIndex(i);
          cpu.pfError = errBase | (tr.ptep >= 0 && (v & _PAGE_PRESENT) !== 0 ? PF_PROT : 0);
          this.ledger.add(cpuId, CTR.page_fault);
          return -1;
        }
        this.hwUpdate(cpuId, vaddr, tr.ptep, v, pteSetLow(v, _PAGE_ACCESSED | _PAGE_DIRTY));
        tlb.flags[i] = f | TLB_DIRTY;
      }
      cpu.lastTlbHit = true;
      return tlb.pfn[i];
    }
    this.ledger.add(cpuId, CTR.tlb_miss);
    const tr = this.probe(cpu.cr3, vaddr, this.scratch);
    const v = tr.pte;
    if (tr.ptep < 0 || (v & _PAGE_PRESENT) === 0) {
      cpu.pfError = errBase;
      this.ledger.add(cpuId, CTR.page_fault);
      return -1;
    }
    let rights = tr.upper;
    if ((v & _PAGE_RW) === 0) rights &= ~TLB_RW;
    if ((v & _PAGE_USER) === 0) rights &= ~TLB_USER;
    if (v >= _PAGE_NX) rights |= TLB_NX;
    if (
      (rights & TLB_USER) === 0 ||
      (write && (rights & TLB_RW) === 0) ||
      (kind === ACCESS_EXEC && rights & TLB_NX)
    ) {
      errBase |= PF_PROT;
      cpu.pfError = errBase;
      this.ledger.add(cpuId, CTR.page_fault);
      return -1;
    }
    const set = write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
    let nv = v;
    if ((v & set) !== set) {
      nv = pteSetLow(v, set);
      this.hwUpdate(cpuId, vaddr, tr.ptep, v, nv);
    }
    const pfn = pte_pfn(nv);
    tlb.insert(vpn, pfn, rights | ((nv & _PAGE_DIRTY) !== 0 ? TLB_DIRTY : 0));
    cpu.lastTlbHit = false;
    return pfn;
  }
}
