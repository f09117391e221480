// The arm64 MMU for EL0 accesses: a 4-level stage-1 walk (4 KiB granule, 48-bit VA) with the
// hardware Access flag and dirty-state management of FEAT_HAFDBS (TCR_EL1.HA, TCR_EL1.HD), and
// per-CPU TLBs that hold contiguous (PTE_CONT) translations as one entry for the whole block.
// TLB maintenance is by broadcast TLBI (by VA or by ASID), completed by DSB ISH: no IPIs.
//
// Rules modelled (Arm ARM D8, as Linux relies on them in arch/arm64):
// - A walk reaching an invalid descriptor at any level is a Translation fault; such
//   translations are never cached.
// - AF = 0 on the leaf: with HA the walker sets AF in an atomic update of the descriptor; without
//   HA it is an Access flag fault (not cached), which software resolves (ptep_set_access_flags).
// - A write through AP[2] = 1 (PTE_RDONLY): with HD and DBM = 1 the hardware clears AP[2]
//   atomically instead of faulting (the entry becomes writable and "hardware dirty"); otherwise
//   a Permission fault. A write that hits a TLB entry cached with AP[2] = 1 re-reads the
//   descriptor in memory and performs that update on it: if the descriptor is now invalid the
//   write takes a Translation fault, if its DBM is now clear a Permission fault (this is what
//   makes a clear-then-write-back by software safe, as x86's D-bit re-read does).
// - Faulting accesses make no hardware update (an assumption: the architecture also permits
//   AF updates by speculative walks, which herd's SpecAF tests explore; see docs/ARCH.md).
// - A translation from a descriptor with PTE_CONT is cached for the whole 16-entry block, with
//   the output address aligned down. Later hits anywhere in the block use that entry, so
//   hardware updates made through it land on the descriptor it was filled from, not on the
//   accessed page's own descriptor: "the hardware may set AF or dirty on any entry of the block".
// - Two TLB entries matching one address (a stale block entry next to a page entry, the result
//   of changing PTE_CONT without break-before-make) is a TLB conflict abort.
// - One address space (one ASID): TLBI ASIDE1IS invalidates every user entry.
import {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  type DescriptorMemory,
  PTRS_PER_PTE,
  type pte_t,
  type ptep_t,
} from "../types.js";
import {
  CONT_PTES,
  clear_pte_bit,
  fromParts,
  PTE_AF,
  PTE_CONT,
  PTE_DBM,
  PTE_RDONLY,
  PTE_TABLE_BIT,
  PTE_USER,
  PTE_UXN,
  PTE_VALID,
  pte_pfn,
  pteHas,
  set_pte_bit,
} from "./pte.js";

/** Fault status, as the ESR's fault status code classes. */
export const FAULT_NONE = 0;
export const FAULT_TRANSLATION = 1;
export const FAULT_ACCESS_FLAG = 2;
export const FAULT_PERMISSION = 3;
export const FAULT_TLB_CONFLICT = 4;
export const FAULT_NAMES = ["none", "translation", "access flag", "permission", "TLB conflict"] as const;

/** Cached permissions of a TLB entry. */
export const TLBP_USER = 1;
export const TLBP_RDONLY = 2;
export const TLBP_DBM = 4;
export const TLBP_UXN = 8;

/** A table descriptor (levels 0..2) pointing at the table in frame `pfn`: PMD_TYPE_TABLE. */
export function mk_table_desc(pfn: number): pte_t {
  return fromParts(((pfn << 12) | PTE_VALID | PTE_TABLE_BIT) >>> 0, 0);
}

/** Events the MMU counts (cost inputs; the machine's ledger takes them over in integration). */
export interface Arm64MmuCounters {
  tlb_miss: number;
  /** Atomic descriptor updates by the hardware (AF and/or AP[2]), one per update. */
  hw_ad_update: number;
  fault_translation: number;
  fault_access_flag: number;
  fault_permission: number;
  fault_tlb_conflict: number;
  /** TLBI VALE1IS / VAE1IS executed (each is one broadcast operation). */
  tlbi_va: number;
  tlbi_asid: number;
  dsb_ish: number;
  dsb_ishst: number;
}

function zeroCounters(): Arm64MmuCounters {
  return {
    tlb_miss: 0,
    hw_ad_update: 0,
    fault_translation: 0,
    fault_access_flag: 0,
    fault_permission: 0,
    fault_tlb_conflict: 0,
    tlbi_va: 0,
    tlbi_asid: 0,
    dsb_ish: 0,
    dsb_ishst: 0,
  };
}

/** One CPU's TLB: fully associative, round-robin replacement (deterministic). */
export class Arm64Tlb {
  /** First VPN covered (block-aligned for contiguous entries); -1 = empty slot. */
  readonly vpn: Float64Array;
  /** Pages covered: 1, or CONT_PTES for a contiguous block. */
  readonly pages: Uint8Array;
  /** Output PFN of the first page covered. */
  readonly pfn: Int32Array;
  readonly perm: Uint8Array;
  /** The descriptor slot the entry was filled from (where hardware updates through it land). */
  readonly src: Float64Array;
  private next = 0;
  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096)
      throw new RangeError("TLB capacity must be an integer in 1..4096");
    this.vpn = new Float64Array(capacity).fill(-1);
    this.pages = new Uint8Array(capacity);
    this.pfn = new Int32Array(capacity);
    this.perm = new Uint8Array(capacity);
    this.src = new Float64Array(capacity);
  }
  /** Indices of the entries translating `vpn` (more than one is a conflict). */
  matches(vpn: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const b = this.vpn[i];
      if (b !== -1 && vpn >= b && vpn < b + this.pages[i]) out.push(i);
    }
    return out;
  }
  insert(vpn: number, pages: number, pfn: number, perm: number, src: ptep_t): number {
    let slot = -1;
    for (let i = 0; i < this.capacity; i++)
      if (this.vpn[i] === -1) {
        slot = i;
        break;
      }
    if (slot < 0) {
      slot = this.next;
      this.next = (this.next + 1) % this.capacity;
    }
    this.vpn[slot] = vpn;
    this.pages[slot] = pages;
    this.pfn[slot] = pfn;
    this.perm[slot] = perm;
    this.src[slot] = src;
    return slot;
  }
  invalidateIndex(i: number): void {
    this.vpn[i] = -1;
  }
  /** TLBI by VA: drop every entry translating `vpn` (a block entry goes whole). */
  invalidateVa(vpn: number): number {
    let n = 0;
    for (const i of this.matches(vpn)) {
      this.vpn[i] = -1;
      n++;
    }
    return n;
  }
  flushAll(): void {
    this.vpn.fill(-1);
  }
  get count(): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) if (this.vpn[i] !== -1) n++;
    return n;
  }
  /** A copy of the state, and a return to one (for the checker's restarts). */
  save(): Arm64TlbState {
    return {
      vpn: this.vpn.slice(),
      pages: this.pages.slice(),
      pfn: this.pfn.slice(),
      perm: this.perm.slice(),
      src: this.src.slice(),
      next: this.next,
    };
  }
  restore(s: Arm64TlbState): void {
    this.vpn.set(s.vpn);
    this.pages.set(s.pages);
    this.pfn.set(s.pfn);
    this.perm.set(s.perm);
    this.src.set(s.src);
    this.next = s.next;
  }
  /**
   * The entries as text, sorted by address and independent of slot placement: a canonical
   * description for checker state keys and timelines ("vpn+pages->pfn perm@src").
   */
  describe(): string {
    const out: string[] = [];
    for (let i = 0; i < this.capacity; i++) {
      if (this.vpn[i] === -1) continue;
      const p = this.perm[i];
      const perm = `${p & TLBP_USER ? "U" : "-"}${p & TLBP_RDONLY ? "RO" : "RW"}${p & TLBP_DBM ? "+DBM" : ""}${p & TLBP_UXN ? " UXN" : ""}`;
      out.push(
        `${this.vpn[i].toString(16)}+${this.pages[i]}->${this.pfn[i].toString(16)} ${perm}@${this.src[i]}`,
      );
    }
    return out.sort().join(", ");
  }
}

export interface Arm64TlbState {
  readonly vpn: Float64Array;
  readonly pages: Uint8Array;
  readonly pfn: Int32Array;
  readonly perm: Uint8Array;
  readonly src: Float64Array;
  readonly next: number;
}

export interface Arm64MmuConfig {
  cpus: number;
  /** TCR_EL1.HA: hardware Access flag management (FEAT_HAFDBS). */
  ha: boolean;
  /** TCR_EL1.HD: hardware dirty-state management via DBM (requires HA). */
  hd: boolean;
  /**
   * Per-CPU HA/HD overriding `ha`/`hd` (a heterogeneous system: Linux enables FEAT_HAFDBS on each
   * CPU that has it, so some CPUs may fault where others update the descriptor in hardware).
   */
  perCpu?: readonly ({ ha: boolean; hd: boolean } | null)[];
  tlbEntries?: number;
}

/** The outcome of the last access of a CPU. */
export interface Arm64AccessResult {
  fault: number;
  /** Level of a translation fault (0..3). */
  level: number;
  /** Write not Read (ESR WnR) of the faulting access. */
  wnr: boolean;
  /** Output PFN of a successful access. */
  pfn: number;
  tlbHit: boolean;
}

export interface Arm64MmuState {
  readonly tlbs: readonly Arm64TlbState[];
  readonly ttbr0: readonly number[];
  readonly last: readonly Arm64AccessResult[];
  readonly counters: Arm64MmuCounters;
}

/** A hardware update of a descriptor, for tracers. */
export type HwUpdateListener = (
  cpu: number,
  vaddr: number,
  ptep: ptep_t,
  before: pte_t,
  after: pte_t,
) => void;

const LEVEL_SPAN = [134217728, 262144, 512, 1]; // pages per entry at levels 0..3

export class Arm64Mmu {
  readonly tlbs: Arm64Tlb[];
  /** TTBR0_EL1 per CPU: PFN of the level-0 table (0 = none). */
  readonly ttbr0: number[];
  readonly last: Arm64AccessResult[];
  readonly counters: Arm64MmuCounters = zeroCounters();
  onHwUpdate: HwUpdateListener | null = null;
  readonly ha: boolean;
  readonly hd: boolean;
  /** HA and HD of each CPU. */
  readonly haOf: boolean[] = [];
  readonly hdOf: boolean[] = [];

  constructor(
    readonly mem: DescriptorMemory,
    cfg: Arm64MmuConfig,
  ) {
    if (!Number.isInteger(cfg.cpus) || cfg.cpus < 1 || cfg.cpus > 64)
      throw new RangeError("cpus must be an integer in 1..64");
    if (cfg.hd && !cfg.ha) throw new RangeError("TCR_EL1.HD requires TCR_EL1.HA (FEAT_HAFDBS)");
    this.ha = cfg.ha;
    this.hd = cfg.hd;
    for (let i = 0; i < cfg.cpus; i++) {
      const f = cfg.perCpu?.[i] ?? { ha: cfg.ha, hd: cfg.hd };
      if (f.hd && !f.ha) throw new RangeError(`CPU${i}: TCR_EL1.HD requires TCR_EL1.HA (FEAT_HAFDBS)`);
      this.haOf.push(f.ha);
      this.hdOf.push(f.hd);
    }
    this.tlbs = [];
    this.ttbr0 = [];
    this.last = [];
    for (let i = 0; i < cfg.cpus; i++) {
      this.tlbs.push(new Arm64Tlb(cfg.tlbEntries ?? 64));
      this.ttbr0.push(0);
      this.last.push({ fault: FAULT_NONE, level: 0, wnr: false, pfn: 0, tlbHit: false });
    }
  }

  /** The leaf slot for `vaddr` from `ttbr`, without side effects; level of the failure otherwise. */
  walk(ttbr: number, vaddr: number): { ptep: ptep_t; level: number } {
    const vpn = Math.floor(vaddr / 4096);
    let table = ttbr;
    for (let level = 0; level < 3; level++) {
      const idx = Math.floor(vpn / LEVEL_SPAN[level]) % PTRS_PER_PTE;
      const s = this.mem.slot(table, idx);
      if (s < 0) return { ptep: -1, level };
      const d = this.mem.peek(s);
      // A table descriptor: bits[1:0] = 0b11. Block descriptors are not modelled (no huge pages).
      if ((d & (PTE_VALID | PTE_TABLE_BIT)) !== (PTE_VALID | PTE_TABLE_BIT)) return { ptep: -1, level };
      table = pte_pfn(d);
    }
    const ptep = this.mem.slot(table, vpn % PTRS_PER_PTE);
    return { ptep, level: 3 };
  }

  private fault(cpu: number, kind: number, fault: number, level: number): false {
    const r = this.last[cpu];
    r.fault = fault;
    r.level = level;
    r.wnr = kind === ACCESS_WRITE;
    const c = this.counters;
    if (fault === FAULT_TRANSLATION) c.fault_translation++;
    else if (fault === FAULT_ACCESS_FLAG) c.fault_access_flag++;
    else if (fault === FAULT_PERMISSION) c.fault_permission++;
    else c.fault_tlb_conflict++;
    return false;
  }

  private hwUpdate(cpu: number, vaddr: number, ptep: ptep_t, before: pte_t, after: pte_t): void {
    // Inside one atomic hardware step the compare cannot fail; the cmpxchg states the atomicity.
    this.mem.hwCmpxchg(ptep, before, after);
    this.counters.hw_ad_update++;
    if (this.onHwUpdate !== null) this.onHwUpdate(cpu, vaddr, ptep, before, after);
  }

  /**
   * Translate one EL0 access by `cpu`, atomically with respect to every software step.
   * Returns true with `last[cpu].pfn` set, or false with `last[cpu].fault` set.
   */
  translate(cpu: number, vaddr: number, kind: number): boolean {
    const tlb = this.tlbs[cpu];
    const vpn = Math.floor(vaddr / 4096);
    const write = kind === ACCESS_WRITE;
    const r = this.last[cpu];
    r.fault = FAULT_NONE;
    const hits = tlb.matches(vpn);
    if (hits.length > 1) return this.fault(cpu, kind, FAULT_TLB_CONFLICT, 3);
    if (hits.length === 1) {
      const i = hits[0];
      const p = tlb.perm[i];
      if (kind === ACCESS_EXEC ? (p & TLBP_UXN) !== 0 : (p & TLBP_USER) === 0)
        return this.fault(cpu, kind, FAULT_PERMISSION, 3);
      if (write && (p & TLBP_RDONLY) !== 0) {
        if (!this.hdOf[cpu] || (p & TLBP_DBM) === 0) return this.fault(cpu, kind, FAULT_PERMISSION, 3);
        // Dirty-state update through a cached writable-clean entry: an atomic update of the
        // descriptor in memory, which may have changed since the entry was filled.
        const src = tlb.src[i];
        const d = this.mem.peek(src);
        if ((d & PTE_VALID) === 0) {
          tlb.invalidateIndex(i);
          return this.fault(cpu, kind, FAULT_TRANSLATION, 3);
        }
        if ((d & PTE_RDONLY) !== 0) {
          if (!pteHas(d, PTE_DBM)) {
            tlb.invalidateIndex(i);
            return this.fault(cpu, kind, FAULT_PERMISSION, 3);
          }
          this.hwUpdate(cpu, vaddr, src, d, set_pte_bit(clear_pte_bit(d, PTE_RDONLY), PTE_AF));
        }
        tlb.perm[i] = p & ~TLBP_RDONLY;
      }
      r.pfn = tlb.pfn[i] + (vpn - tlb.vpn[i]);
      r.tlbHit = true;
      return true;
    }
    this.counters.tlb_miss++;
    const w = this.walk(this.ttbr0[cpu], vaddr);
    if (w.ptep < 0) return this.fault(cpu, kind, FAULT_TRANSLATION, w.level);
    const d = this.mem.peek(w.ptep);
    if ((d & PTE_VALID) === 0) return this.fault(cpu, kind, FAULT_TRANSLATION, 3);
    const af = (d & PTE_AF) !== 0;
    if (!af && !this.haOf[cpu]) return this.fault(cpu, kind, FAULT_ACCESS_FLAG, 3);
    const user = (d & PTE_USER) !== 0;
    const uxn = pteHas(d, PTE_UXN);
    if (kind === ACCESS_EXEC ? uxn : !user) return this.fault(cpu, kind, FAULT_PERMISSION, 3);
    const dbm = pteHas(d, PTE_DBM);
    let rdonly = (d & PTE_RDONLY) !== 0;
    if (write && rdonly && !(this.hdOf[cpu] && dbm)) return this.fault(cpu, kind, FAULT_PERMISSION, 3);
    let nv = d;
    if (!af) nv = set_pte_bit(nv, PTE_AF);
    if (write && rdonly) {
      nv = clear_pte_bit(nv, PTE_RDONLY);
      rdonly = false;
    }
    if (nv !== d) this.hwUpdate(cpu, vaddr, w.ptep, d, nv);
    const perm =
      (user ? TLBP_USER : 0) | (rdonly ? TLBP_RDONLY : 0) | (dbm ? TLBP_DBM : 0) | (uxn ? TLBP_UXN : 0);
    const pfn = pte_pfn(nv);
    if (pteHas(nv, PTE_CONT)) {
      const off = vpn % CONT_PTES;
      tlb.insert(vpn - off, CONT_PTES, pfn - off, perm, w.ptep);
    } else tlb.insert(vpn, 1, pfn, perm, w.ptep);
    r.pfn = pfn;
    r.tlbHit = false;
    return true;
  }

  /** The MMU's whole state (TLBs, TTBR0s, last results, counters), and a return to one. */
  save(): Arm64MmuState {
    return {
      tlbs: this.tlbs.map((t) => t.save()),
      ttbr0: this.ttbr0.slice(),
      last: this.last.map((r) => ({ ...r })),
      counters: { ...this.counters },
    };
  }
  restore(s: Arm64MmuState): void {
    for (let i = 0; i < this.tlbs.length; i++) {
      this.tlbs[i].restore(s.tlbs[i]);
      this.ttbr0[i] = s.ttbr0[i];
      Object.assign(this.last[i], s.last[i]);
    }
    Object.assign(this.counters, s.counters);
  }

  // ---- TLB maintenance (executed by kernel code; broadcast to the inner-shareable domain) ----

  /** TLBI VALE1IS / VAE1IS: invalidate `vaddr` on every CPU. */
  tlbi_va(vaddr: number): void {
    const vpn = Math.floor(vaddr / 4096);
    for (const t of this.tlbs) t.invalidateVa(vpn);
    this.counters.tlbi_va++;
  }
  /** TLBI ASIDE1IS: invalidate every entry of the (single) ASID on every CPU. */
  tlbi_asid(): void {
    for (const t of this.tlbs) t.flushAll();
    this.counters.tlbi_asid++;
  }
  /**
   * DSB ISH / DSB ISHST. Under the sequentially consistent interleaving the checker explores,
   * a broadcast TLBI takes effect when issued, so the barrier only costs; the orderings it
   * provides on hardware are the weak-memory part this model leaves out.
   */
  dsb(kind: "ish" | "ishst"): void {
    if (kind === "ish") this.counters.dsb_ish++;
    else this.counters.dsb_ishst++;
  }
}

export { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE };
