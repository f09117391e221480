// The ground-truth oracle. It watches every completed user access and every kernel event, keeps
// what each tracked page must contain and whether it was written or accessed since software
// last cleaned or aged it, and reports the properties ptesim checks:
//
//   lost-dirty           a page written since it was last clean whose PTE (and folio) says clean
//   lost-accessed        a page accessed since it was aged whose PTE says not accessed
//   lost-update          a software update of a PTE is missing: its protection disagrees with its VMA
//   transaction-contract a breach of the ptep_modify_prot_start/commit contract (see contract.ts)
//   stale-writable-tlb   a write completed, or a writable TLB entry survived, after the syscall that
//                        removed write permission returned
//   data-loss            a page's contents vanished or changed behind the program's back
//   unexpected-change    a syscall changed a page-table entry it had no business changing: any
//                        entry of any of the mm's page tables outside its range (beyond the A/D
//                        updates of the hardware and aging), or the frame of an entry in its range
//   data-loss, rule stale-writeback: reclaim evicted a page whose backing store is older than its
//                        last write; rule discarded-written: reclaim discarded a lazyfree page
//                        written after madvise(MADV_FREE) returned; rule use-after-free: a user
//                        access reached a frame the kernel had freed (the machine's check), through
//                        a TLB entry that outlived its page
//   lost-soft-dirty      a page written since clear_refs returned whose PTE is not soft-dirty (and
//                        whose VMA is not VM_SOFTDIRTY): the checkpoint tool would miss it
//   cow-write-after-fork a write completed, after fork returned, into a page fork had made
//                        copy-on-write (still shared with the child): through an entry fork
//                        failed to write-protect, or a TLB entry it failed to flush
//   tlb-conflict         a user access took a fault the kernel cannot resolve (arm64: a TLB conflict
//                        abort after an entry was rewritten without break-before-make)
import type { pte_t } from "../arch/types.js";
import type { Kernel } from "../kernel/kernel.js";
import type { PathEvent } from "../kernel/paths-api.js";
import { unmappedContent } from "../kernel/rmap.js";
import { VM_SOFTDIRTY, VM_WRITE } from "../kernel/vma.js";
import type { Machine } from "../machine/machine.js";

export const PROPERTIES = [
  "lost-dirty",
  "lost-accessed",
  "lost-update",
  "transaction-contract",
  "stale-writable-tlb",
  "data-loss",
  "unexpected-change",
  "cow-write-after-fork",
  "lost-soft-dirty",
  "tlb-conflict",
  // A litmus scenario's final condition decided the run (exists: reached; forall: missed).
  "litmus-outcome",
] as const;
export type PropertyName = (typeof PROPERTIES)[number];

export interface Violation {
  property: PropertyName;
  /** Page address concerned (-1 if none). */
  addr: number;
  /** CPU whose action revealed it (-1 for end-of-run checks). */
  cpu: number;
  /** Step number at which it was detected. */
  step: number;
  message: string;
  /** For transaction-contract: the rule; for data-loss found by reclaim: how (stale-writeback, ...). */
  rule?: string;
}

export interface OracleState {
  readonly expected: Int32Array;
  readonly written: Uint8Array;
  readonly accessed: Uint8Array;
  readonly writableAtReturn: Uint8Array;
  readonly removed: Uint8Array;
  readonly softDirty: Uint8Array;
  readonly lazyfree: Uint8Array;
  readonly numaHinted: Uint8Array;
  readonly movedTo: Int32Array;
}

export class Oracle {
  readonly pages: number[] = [];
  private readonly index = new Map<number, number>();
  /** Expected content word (0: never written since mapped). */
  expected: Int32Array;
  /** Written since the page was last known clean. */
  written: Uint8Array;
  /** Accessed since aging. */
  accessed: Uint8Array;
  /** Writable according to the VMAs at the last syscall return. */
  writableAtReturn: Uint8Array;
  /**
   * Unmapped by a syscall (its entry zapped) and not mapped afresh since: accesses that still
   * complete go through a TLB entry not yet flushed to memory the program gave up. Linux frees
   * the page only after the flush, so they are harmless and carry no expectation (not data loss).
   */
  removed: Uint8Array;
  /** Soft-dirty tracking: 0 not armed (no clear_refs yet), 1 armed, 2 written since clear_refs returned. */
  softDirty: Uint8Array;
  /**
   * Lazyfree (madvise(MADV_FREE)) and not written since the call returned: its contents may
   * become zero at any time (reclaim may discard it).
   */
  lazyfree: Uint8Array;
  /** NUMA balancing made the page a PROT_NONE hinting entry at some point (1), or never (0). */
  numaHinted: Uint8Array;
  /**
   * mremap moved the page to the tracked page of this index (-1: not moved): a write still
   * completing through a TLB entry for the old address lands in the page at its new one.
   */
  movedTo: Int32Array;
  /** An madvise(MADV_FREE) is in progress: writes during it may be lost legitimately. */
  private freeing = false;
  readonly violations: Violation[] = [];
  /** Step counter, advanced by the simulation. */
  step = 0;
  /** Stop recording after this many (a run keeps going; the first ones matter). */
  maxViolations = 64;

  constructor(
    private readonly machine: Machine,
    private readonly kernel: Kernel,
    pageAddrs: readonly number[],
  ) {
    for (const a of pageAddrs) {
      this.index.set(a / 4096, this.pages.length);
      this.pages.push(a);
    }
    const n = this.pages.length;
    this.expected = new Int32Array(n);
    this.written = new Uint8Array(n);
    this.accessed = new Uint8Array(n);
    this.writableAtReturn = new Uint8Array(n);
    this.removed = new Uint8Array(n);
    this.softDirty = new Uint8Array(n);
    this.lazyfree = new Uint8Array(n);
    this.numaHinted = new Uint8Array(n);
    this.movedTo = new Int32Array(n).fill(-1);
  }

  /** A copy of the oracle's knowledge (no violation may be recorded yet), and a return to one. */
  save(): OracleState {
    if (this.violations.length > 0) throw new Error("Oracle.save after a violation");
    return {
      expected: this.expected.slice(),
      written: this.written.slice(),
      accessed: this.accessed.slice(),
      writableAtReturn: this.writableAtReturn.slice(),
      removed: this.removed.slice(),
      softDirty: this.softDirty.slice(),
      lazyfree: this.lazyfree.slice(),
      numaHinted: this.numaHinted.slice(),
      movedTo: this.movedTo.slice(),
    };
  }
  restore(s: OracleState): void {
    this.expected.set(s.expected);
    this.written.set(s.written);
    this.accessed.set(s.accessed);
    this.writableAtReturn.set(s.writableAtReturn);
    this.removed.set(s.removed);
    this.softDirty.set(s.softDirty);
    this.lazyfree.set(s.lazyfree);
    this.numaHinted.set(s.numaHinted);
    this.movedTo.set(s.movedTo);
    this.freeing = false;
    this.violations.length = 0;
    this.step = 0;
    // A cut execution may have stopped inside a syscall: its snapshot is not this run's.
    this.scope = null;
  }

  indexOf(addr: number): number {
    return this.index.get(Math.floor(addr / 4096)) ?? -1;
  }

  report(v: Omit<Violation, "step">): void {
    if (this.violations.length < this.maxViolations) this.violations.push({ ...v, step: this.step });
  }

  /**
   * A user access on `cpu` faulted with the machine's fault record `err`: a fault the kernel
   * cannot resolve (arm64: a TLB conflict abort, two TLB entries for one address after an
   * update without break-before-make) is a violation.
   */
  fault(cpu: number, addr: number, err: number): void {
    const fatal = this.machine.arch.fault_fatal(err);
    if (fatal === null) return;
    this.report({
      property: "tlb-conflict",
      addr,
      cpu,
      message: `CPU${cpu} took a ${fatal} at 0x${addr.toString(16)}: its TLB held two translations for the page (an entry was changed without break-before-make); the task is killed`,
    });
  }

  /** Forget history: called after setup so only the scenario's own run counts. */
  resetHistory(aged: boolean): void {
    if (aged) this.accessed.fill(0);
    this.snapshotWritable();
  }

  /** A user access completed (value = the word read, or written). */
  access(cpu: number, addr: number, write: boolean, value: number): void {
    const i = this.indexOf(addr);
    if (i < 0) return;
    if (this.removed[i] === 1) {
      // Memory being (or already) unmapped, reached through a TLB entry the flush has not yet
      // removed: the program gave the page up; a write there expects nothing to survive. (A
      // write after the syscall returned is stale-writable-tlb, reported at the return.)
      if (write && this.writableAtReturn[i] === 0)
        this.report({
          property: "stale-writable-tlb",
          addr: this.pages[i],
          cpu,
          message: `CPU${cpu} completed a write to 0x${this.pages[i].toString(16)} after the syscall unmapping it returned`,
        });
      // Moved by mremap: the frame lives on at the new address, and so does what is written.
      const j = this.movedTarget(i);
      if (j >= 0) {
        if (write) this.wrote(j, value);
        return;
      }
      return;
    }
    this.accessed[i] = 1;
    if (write) {
      if (this.writableAtReturn[i] === 0 && !this.vmaWritable(addr))
        this.report({
          property: "stale-writable-tlb",
          addr: this.pages[i],
          cpu,
          message: `CPU${cpu} completed a write to 0x${this.pages[i].toString(16)} after the syscall removing write permission returned`,
        });
      this.wrote(i, value);
    } else if (this.lazyfree[i] === 1 && value === 0) {
      // A lazyfree page may read back as zero-filled (reclaim discarded it).
    } else if (value !== this.expected[i]) {
      this.report({
        property: "data-loss",
        addr: this.pages[i],
        cpu,
        message: `CPU${cpu} read ${hex(value)} from 0x${this.pages[i].toString(16)} but the last write left ${hex(this.expected[i])}`,
      });
    }
  }

  /** What a completed write of `value` to tracked page `i` promises. */
  private wrote(i: number, value: number): void {
    this.expected[i] = value;
    if (this.softDirty[i] !== 0) this.softDirty[i] = 2;
    // A write racing madvise(MADV_FREE) may be dropped with the page; one after it may not.
    if (this.lazyfree[i] === 0 || !this.freeing) {
      this.written[i] = 1;
      this.lazyfree[i] = 0;
    }
  }

  /** The live tracked page mremap moved page `i` to (following later moves), or -1. */
  private movedTarget(i: number): number {
    let j = this.movedTo[i];
    for (let n = 0; j >= 0 && this.removed[j] === 1 && n < this.pages.length; n++) j = this.movedTo[j];
    return j >= 0 && this.removed[j] === 0 ? j : -1;
  }

  /**
   * A write by `cpu` completed into frame `pfn`, which fork shares with a child (copy-on-write),
   * after fork returned: the child's memory changed behind its back.
   */
  cowWrite(cpu: number, addr: number, pfn: number): void {
    const i = this.indexOf(addr);
    this.report({
      property: "cow-write-after-fork",
      addr: i < 0 ? Math.floor(addr / 4096) * 4096 : this.pages[i],
      cpu,
      message: `CPU${cpu} completed a write to 0x${addr.toString(16)} into frame 0x${pfn.toString(16)}, which fork made copy-on-write (shared with the child) before it returned`,
    });
  }

  /** Software cleared the page's Accessed bit on purpose (reclaim aging). */
  aged(addr: number): void {
    const i = this.indexOf(addr);
    if (i >= 0) this.accessed[i] = 0;
  }

  /** A fault installed a fresh frame: legitimate only if the page holds no data yet. */
  newPage(cpu: number, addr: number, pfn: number, zero: boolean): void {
    const i = this.indexOf(addr);
    if (i < 0) return;
    this.removed[i] = 0;
    this.movedTo[i] = -1;
    const content = this.machine.mem.data[pfn];
    if (this.expected[i] !== content)
      this.report({
        property: "data-loss",
        addr: this.pages[i],
        cpu,
        message: `a fault on CPU${cpu} mapped ${zero ? "the zero page" : `a fresh frame 0x${pfn.toString(16)}`} at 0x${this.pages[i].toString(16)}, which held ${hex(this.expected[i])}`,
      });
  }

  /** munmap removed the entry: dirtiness must survive into the folio; the page's data goes away. */
  zapped(cpu: number, addr: number, old: pte_t, kept = false): void {
    const i = this.indexOf(addr);
    if (i < 0) return;
    const arch = this.machine.arch;
    if (this.written[i] && arch.pte_present(old) && !arch.pte_dirty(old))
      this.report({
        property: "lost-dirty",
        addr: this.pages[i],
        cpu,
        message: `${kept ? "madvise(MADV_DONTNEED)" : "munmap"} found 0x${this.pages[i].toString(16)} clean (${arch.pteDescribe(old)}) although it was written`,
      });
    if (kept) {
      // A shared page MADV_DONTNEED unmapped stays in its object: its dirtiness went to the folio.
      this.written[i] = 0;
      return;
    }
    this.lazyfree[i] = 0;
    this.expected[i] = 0;
    this.written[i] = 0;
    this.accessed[i] = 0;
    this.removed[i] = 1;
    this.movedTo[i] = -1;
  }

  /**
   * mremap moved the entry of `from` to `to`: what the program may expect of the page goes with
   * it; the old address is given up like an unmapped one (accesses still completing there go
   * through a TLB entry not yet flushed).
   */
  private moved(from: number, to: number): void {
    const i = this.indexOf(from);
    const j = this.indexOf(to);
    if (j >= 0) {
      this.expected[j] = i >= 0 ? this.expected[i] : 0;
      this.written[j] = i >= 0 ? this.written[i] : 0;
      this.accessed[j] = i >= 0 ? this.accessed[i] : 0;
      this.softDirty[j] = i >= 0 ? this.softDirty[i] : 0;
      this.lazyfree[j] = i >= 0 ? this.lazyfree[i] : 0;
      this.numaHinted[j] = i >= 0 ? this.numaHinted[i] : 0;
      this.removed[j] = 0;
      this.movedTo[j] = -1;
    }
    if (i < 0) return;
    this.movedTo[i] = j;
    this.expected[i] = 0;
    this.written[i] = 0;
    this.accessed[i] = 0;
    this.lazyfree[i] = 0;
    this.removed[i] = 1;
  }

  private vmaWritable(addr: number): boolean {
    const vma = this.kernel.as.findVma(addr);
    return vma !== undefined && (vma.flags & VM_WRITE) !== 0;
  }

  private snapshotWritable(): void {
    for (let i = 0; i < this.pages.length; i++)
      this.writableAtReturn[i] = this.vmaWritable(this.pages[i]) ? 1 : 0;
  }

  /** A syscall returned: its effect is now promised, including that no writable TLB entry survives. */
  syscallReturn(cpu: number, name: string): void {
    // Another CPU's syscall holds mmap_lock for write and may have changed the VMAs without
    // flushing yet: nothing is promised about its range before it returns (its own return checks).
    if (this.kernel.mmapWriter !== -1 && this.kernel.mmapWriter !== cpu) return;
    this.snapshotWritable();
    // clear_refs arms soft-dirty tracking: writes from now on must leave their PTE soft-dirty.
    if (name === "clear_refs") this.softDirty.fill(1);
    if (name === "madvise") this.freeing = false;
    for (const c of this.machine.cpus) {
      for (const vpn of this.machine.tlbWritableVpns(c.id)) {
        const i = this.index.get(vpn);
        if (i === undefined || this.writableAtReturn[i] === 1) continue;
        this.report({
          property: "stale-writable-tlb",
          addr: this.pages[i],
          cpu: c.id,
          message: `${name} on CPU${cpu} returned while CPU${c.id}'s TLB still maps 0x${this.pages[i].toString(16)} writable`,
        });
      }
    }
  }

  /** What a kernel path of src/kernel/paths.ts did (KernelObserver.pathEvent). */
  pathEvent(cpu: number, ev: PathEvent): void {
    if (ev.kind === "madvise-free" || ev.kind === "numa-hinting") {
      if (ev.kind === "madvise-free") this.freeing = true;
      for (let a = ev.start; a < ev.end; a += 4096) {
        const j = this.indexOf(a);
        if (j < 0) continue;
        if (ev.kind === "numa-hinting") this.numaHinted[j] = 1;
        else if (this.removed[j] === 0) {
          this.lazyfree[j] = 1;
          this.written[j] = 0; // MADV_FREE drops the dirtiness on purpose
        }
      }
      return;
    }
    if (ev.kind === "moved") {
      this.moved(ev.from, ev.to);
      return;
    }
    if (ev.kind === "rmap-walk") {
      if (this.scope !== null) this.excusedPtes.add(ev.ptep);
      return;
    }
    const i = this.indexOf(ev.addr);
    if (i < 0) return;
    const at = `0x${this.pages[i].toString(16)}`;
    switch (ev.kind) {
      case "aged":
        this.accessed[i] = 0;
        return;
      case "written-back":
        this.written[i] = 0;
        return;
      case "evicted":
        if (this.expected[i] !== ev.stored)
          this.report({
            property: "data-loss",
            addr: this.pages[i],
            cpu,
            rule: "stale-writeback",
            message: `reclaim on CPU${cpu} evicted ${at} as clean, but its backing store holds ${hex(ev.stored)} and the program last wrote ${hex(this.expected[i])}: the write was never written back`,
          });
        this.expected[i] = ev.stored;
        this.written[i] = 0;
        this.accessed[i] = 0;
        return;
      case "discarded":
        if (this.lazyfree[i] === 0 && this.expected[i] !== 0)
          this.report({
            property: "data-loss",
            addr: this.pages[i],
            cpu,
            rule: "discarded-written",
            message: `reclaim on CPU${cpu} discarded lazyfree ${at} as clean, but the program wrote ${hex(this.expected[i])} to it after madvise(MADV_FREE) returned`,
          });
        this.expected[i] = 0;
        this.written[i] = 0;
        this.accessed[i] = 0;
        this.lazyfree[i] = 0;
        return;
    }
  }

  // ---- unexpected-change: every entry of every PTE table, across a syscall holding mmap_lock

  private scope: { call: string; start: number; end: number; to: number } | null = null;
  private snapSlots: number[] = [];
  /**
   * Entries the syscall is not answerable for: reclaim and writeback reach pages through the
   * rmap, without mmap_lock, so they may change entries meanwhile (their PTE-table slots held at
   * the start, or the pages they walk during the syscall).
   */
  private excusedSlots = new Set<number>();
  private excusedPtes = new Set<number>();
  private snap = new Float64Array(0);

  /**
   * The syscall thread took mmap_lock for write to run `call` on [start, end) (mremap: moving it
   * to `to`): from here to the unlock no fault can run, so only the syscall and the hardware
   * (A/D) may change entries.
   */
  beginSyscall(call: string, start: number, end: number, to = -1): void {
    this.scope = { call, start, end, to };
    this.snapSlots = this.kernel.leafTableSlots();
    this.excusedSlots.clear();
    this.excusedPtes.clear();
    // With mmap_lock held for write no fault runs: a PTE lock held now is an rmap path's.
    for (const slot of this.snapSlots)
      if (this.kernel.ptlHolder(slot * 512) !== -1) this.excusedSlots.add(slot);
    const n = this.snapSlots.length * 512;
    if (this.snap.length !== n) this.snap = new Float64Array(n);
    const m = this.machine;
    for (let t = 0; t < this.snapSlots.length; t++)
      m.copyPtes(this.snapSlots[t] * 512, 512, this.snap, t * 512);
  }

  /** mmap_lock released: compare every entry with the snapshot. */
  endSyscall(cpu: number): void {
    const sc = this.scope;
    if (sc === null) return;
    this.scope = null;
    const m = this.machine;
    const arch = m.arch;
    for (let t = 0; t < this.snapSlots.length; t++) {
      const slot = this.snapSlots[t];
      for (let j = 0; j < 512; j++) {
        const p = slot * 512 + j;
        const before = this.snap[t * 512 + j] as pte_t;
        const after = m.peekPte(p);
        if (before === after || this.excusedSlots.has(slot) || this.excusedPtes.has(p)) continue;
        const addr = this.kernel.addrOfPtep(p);
        const inRange = addr >= sc.start && addr < sc.end;
        // mremap's destination: whatever the move (or the MREMAP_FIXED unmap) left there.
        if (sc.to >= 0 && addr >= sc.to && addr < sc.to + (sc.end - sc.start)) continue;
        let why = "";
        if (!inRange) {
          // Outside the range: the MMU sets A and D, aging clears A; nothing else may change.
          if (!arch.pte_hw_update_only(before, after)) why = "outside the range it was asked to change";
        } else if (sc.call === "munmap" || sc.call === "mremap") {
          if (!arch.pte_none(after))
            why = `in the range it ${sc.call === "munmap" ? "unmapped" : "moved away"}, but left mapped`;
        } else if (
          arch.pte_none(before) !== arch.pte_none(after) ||
          arch.pte_pfn(before) !== arch.pte_pfn(after)
        )
          why = "in its range, but to another frame or presence (a protection change keeps both)";
        if (why !== "")
          this.report({
            property: "unexpected-change",
            addr,
            cpu,
            message: `${sc.call} changed the entry for 0x${addr.toString(16)} ${why}: ${arch.pteDescribe(before)} -> ${arch.pteDescribe(after)}`,
          });
      }
    }
  }

  /** End-of-run checks on every tracked page. */
  finalCheck(): void {
    const mem = this.machine.mem;
    const arch = this.machine.arch;
    for (let i = 0; i < this.pages.length; i++) {
      const addr = this.pages[i];
      const pte = this.kernel.peekPte(addr);
      const vma = this.kernel.as.findVma(addr);
      if (this.removed[i] === 1) continue; // unmapped by the program: nothing expected
      if (arch.pte_none(pte) || !arch.pte_present(pte)) {
        // Unmapped: a shared page may still be in the page cache or the backing store.
        const kept = arch.pte_none(pte) ? unmappedContent(this.kernel, addr) : 0;
        if (this.expected[i] !== kept && !(this.lazyfree[i] === 1 && kept === 0))
          this.report({
            property: "data-loss",
            addr,
            cpu: -1,
            message: `0x${addr.toString(16)} held ${hex(this.expected[i])} but its PTE is gone (${arch.pteDescribe(pte)})${kept !== 0 ? ` and its page holds ${hex(kept)}` : ""}`,
          });
        continue;
      }
      const pfn = arch.pte_pfn(pte);
      if (mem.data[pfn] !== this.expected[i])
        this.report({
          property: "data-loss",
          addr,
          cpu: -1,
          message: `0x${addr.toString(16)} maps frame 0x${pfn.toString(16)} holding ${hex(mem.data[pfn])}, expected ${hex(this.expected[i])}`,
        });
      if (this.written[i] && !arch.pte_dirty(pte) && !this.kernel.folioDirty.has(pfn))
        this.report({
          property: "lost-dirty",
          addr,
          cpu: -1,
          message: `0x${addr.toString(16)} was written but its PTE is clean (${arch.pteDescribe(pte)}): writeback would drop the data`,
        });
      if (
        this.softDirty[i] === 2 &&
        arch.pte_soft_dirty?.(pte) === false &&
        (vma === undefined || (vma.flags & VM_SOFTDIRTY) === 0)
      )
        this.report({
          property: "lost-soft-dirty",
          addr,
          cpu: -1,
          message: `0x${addr.toString(16)} was written after clear_refs returned but its PTE is not soft-dirty (${arch.pteDescribe(pte)}): /proc/PID/pagemap would report it unchanged`,
        });
      if (this.accessed[i] && !arch.pte_young(pte))
        this.report({
          property: "lost-accessed",
          addr,
          cpu: -1,
          message: `0x${addr.toString(16)} was accessed but its PTE is old (${arch.pteDescribe(pte)}): reclaim would think it cold`,
        });
      if (vma !== undefined) {
        const want = arch.vm_get_page_prot(vma.flags);
        // A NUMA hinting entry (PROT_NONE in an accessible VMA) is legitimate where NUMA
        // balancing ran: the next access faults and restores the VMA's protection.
        const hinting = this.numaHinted[i] === 1 && arch.pte_protnone(pte);
        const bad =
          !hinting &&
          (!arch.pte_same_access(pte, want as pte_t) ||
            (arch.pte_write(pte) && (vma.flags & VM_WRITE) === 0));
        if (bad)
          this.report({
            property: "lost-update",
            addr,
            cpu: -1,
            message: `0x${addr.toString(16)}: PTE ${arch.pteDescribe(pte)} disagrees with its VMA's protection (${arch.pteDescribe(arch.pfn_pte(pfn, want))})`,
          });
      }
    }
  }
}

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16)}`;
}
