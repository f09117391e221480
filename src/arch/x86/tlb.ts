// A per-CPU TLB: set-associative, round-robin replacement (deterministic). Each entry caches a
// leaf translation with its effective rights and dirty state at fill time; it keeps them until
// invalidated, which is exactly how stale rights outlive a PTE change.

export const TLB_RW = 1;
export const TLB_USER = 2;
export const TLB_NX = 4;
export const TLB_DIRTY = 8;

export class Tlb {
  readonly vpn: Float64Array;
  readonly pfn: Int32Array;
  readonly flags: Uint8Array;
  private readonly rr: Uint8Array;
  private readonly setMask: number;
  count = 0;

  constructor(
    readonly sets = 16,
    readonly ways = 4,
  ) {
    if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0)
      throw new RangeError("TLB sets must be a power of two");
    if (!Number.isInteger(ways) || ways < 1 || ways > 64) throw new RangeError("TLB ways must be 1..64");
    this.vpn = new Float64Array(sets * ways).fill(-1);
    this.pfn = new Int32Array(sets * ways);
    this.flags = new Uint8Array(sets * ways);
    this.rr = new Uint8Array(sets);
    this.setMask = sets - 1;
  }

  get capacity(): number {
    return this.sets * this.ways;
  }

  /** Index of the entry for `vpn`, or -1. */
  lookup(vpn: number): number {
    const base = (vpn & this.setMask) * this.ways;
    for (let i = base, e = base + this.ways; i < e; i++) if (this.vpn[i] === vpn) return i;
    return -1;
  }

  /** Insert (or replace) the entry for `vpn`; returns its index. */
  insert(vpn: number, pfn: number, flags: number): number {
    const set = vpn & this.setMask;
    const base = set * this.ways;
    let slot = -1;
    for (let i = base, e = base + this.ways; i < e; i++) {
      if (this.vpn[i] === vpn) {
        slot = i;
        break;
      }
      if (slot < 0 && this.vpn[i] === -1) slot = i;
    }
    if (slot < 0) {
      slot = base + this.rr[set];
      this.rr[set] = (this.rr[set] + 1) % this.ways;
    } else if (this.vpn[slot] === -1) this.count++;
    this.vpn[slot] = vpn;
    this.pfn[slot] = pfn;
    this.flags[slot] = flags;
    return slot;
  }

  /** INVLPG: drop the entry for one page. Returns whether there was one. */
  invalidatePage(vpn: number): boolean {
    const i = this.lookup(vpn);
    if (i < 0) return false;
    this.vpn[i] = -1;
    this.count--;
    return true;
  }

  invalidateIndex(i: number): void {
    if (this.vpn[i] !== -1) {
      this.vpn[i] = -1;
      this.count--;
    }
  }

  /** Full flush (CR3 reload without PCID). */
  flushAll(): void {
    if (this.count === 0) return;
    this.vpn.fill(-1);
    this.count = 0;
  }

  /** A copy of the state, and a return to one (for the checker's restarts). */
  save(): { vpn: Float64Array; pfn: Int32Array; flags: Uint8Array; rr: Uint8Array; count: number } {
    return {
      vpn: this.vpn.slice(),
      pfn: this.pfn.slice(),
      flags: this.flags.slice(),
      rr: this.rr.slice(),
      count: this.count,
    };
  }
  restore(s: { vpn: Float64Array; pfn: Int32Array; flags: Uint8Array; rr: Uint8Array; count: number }): void {
    this.vpn.set(s.vpn);
    this.pfn.set(s.pfn);
    this.flags.set(s.flags);
    this.rr.set(s.rr);
    this.count = s.count;
  }

  /** Entries as plain objects, sorted by vpn (for state keys and display; not a hot path). */
  entries(): { vpn: number; pfn: number; flags: number }[] {
    const out: { vpn: number; pfn: number; flags: number }[] = [];
    for (let i = 0; i < this.vpn.length; i++)
      if (this.vpn[i] !== -1) out.push({ vpn: this.vpn[i], pfn: this.pfn[i], flags: this.flags[i] });
    return out.sort((a, b) => a.vpn - b.vpn);
  }
}

export function tlbFlagsToString(f: number): string {
  return `${f & TLB_RW ? "RW" : "RO"}${f & TLB_USER ? " U" : ""}${f & TLB_NX ? " NX" : ""}${f & TLB_DIRTY ? " D" : ""}`;
}
