// A simulated Xen hypervisor for one paravirtualised (PV) guest, as far as page-table updates
// go. Pure: no I/O, no node: imports.
//
// What is modelled (semantics after Xen's arch/x86/mm.c and pv/ emulation code):
//   - Guest page tables are pinned: the guest may read them but every store, xchg or cmpxchg it
//     makes traps and is emulated (trapStore / trapXchg / trapCmpxchg). An emulated plain store
//     is a read of the old entry (for validation and reference counting) followed by a plain
//     write: an A/D update the MMU makes in between is lost. Emulated locked operations are
//     atomic (a compare-exchange; if it fails the guest re-executes the instruction: another trap).
//   - HYPERVISOR_mmu_update with MMU_NORMAL_PT_UPDATE (plain write of the validated value) and
//     MMU_PT_UPDATE_PRESERVE_AD (update_intpte: a compare-exchange loop that ORs in the A/D bits
//     it sees; any change of another bit between its read and its cmpxchg is a hypervisor
//     BUG_ON, reported as XenFatal).
//   - mod_l1_entry's fast path (same frame, change confined to FASTPATH_FLAG_WHITELIST: NX,
//     software bits 52-62 and 9-11, G, D, A, U/S) and its validating slow path (R/W, P,
//     caching bits or frame change: get_page_from_l1e / put_page_from_l1e), counted separately.
//   - HYPERVISOR_mmuext_op TLB operations (MMUEXT_TLB_FLUSH_* / MMUEXT_INVLPG_*), which flush
//     the TLBs of the named vCPUs (IPIs for the remote ones).
//   - HYPERVISOR_multicall: one hypervisor entry running a list of calls.
//   - Feature flags (XENFEAT_*), XENFEAT_mmu_pt_update_preserve_ad switchable off: without it
//     the hypervisor rejects MMU_PT_UPDATE_PRESERVE_AD with -ENOSYS, as pre-3.3 Xen did.
//
// Every memory operation goes through the machine's pte* primitives, so each is one schedulable
// step: the checker can run hardware A/D updates between the hypervisor's read and its cmpxchg.
//
// Not modelled: upper-level (L2-L4) updates through the hypervisor (the kernel here writes upper
// levels directly), pinning/unpinning hypercalls, foreign domains, grant mappings, the M2P table.
import { CTR } from "../machine/ledger.js";
import { type Machine, STEP } from "../machine/machine.js";
import { FRAME_DATA, FRAME_TABLE, FRAME_ZERO, type ptep_t } from "../machine/physmem.js";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_RW,
  PTRS_PER_TABLE,
  pte_pfn,
  type pte_t,
  pteClearLow,
  pteSetLow,
  pteToHex,
} from "../machine/pte.js";

// ---- public ABI numbers (xen/include/public/xen.h, features.h)

export const __HYPERVISOR_mmu_update = 1;
export const __HYPERVISOR_multicall = 13;
export const __HYPERVISOR_mmuext_op = 26;

/** mmu_update commands: the low bits of `ptr`. */
export const MMU_NORMAL_PT_UPDATE = 0;
export const MMU_MACHPHYS_UPDATE = 1;
export const MMU_PT_UPDATE_PRESERVE_AD = 2;

export const MMUEXT_TLB_FLUSH_LOCAL = 6;
export const MMUEXT_INVLPG_LOCAL = 7;
export const MMUEXT_TLB_FLUSH_MULTI = 8;
export const MMUEXT_INVLPG_MULTI = 9;
export const MMUEXT_TLB_FLUSH_ALL = 10;
export const MMUEXT_INVLPG_ALL = 11;

export const XENFEAT_writable_page_tables = 0;
export const XENFEAT_writable_descriptor_tables = 1;
export const XENFEAT_auto_translated_physmap = 2;
export const XENFEAT_supervisor_mode_kernel = 3;
export const XENFEAT_pae_pgdir_above_4gb = 4;
export const XENFEAT_mmu_pt_update_preserve_ad = 5;

/** Features a scenario may switch (by name, without the XENFEAT_ prefix). */
export const SWITCHABLE_FEATURES = { mmu_pt_update_preserve_ad: XENFEAT_mmu_pt_update_preserve_ad } as const;
export type SwitchableFeature = keyof typeof SWITCHABLE_FEATURES;

export const EPERM = 1;
export const EINVAL = 22;
export const ENOSYS = 38;

/** Bytes of one `struct mmu_update` {u64 ptr; u64 val;} in a multicall argument area. */
export const MMU_UPDATE_BYTES = 16;
/** Bytes of one `struct mmuext_op` (cmd, arg1, arg2). */
export const MMUEXT_OP_BYTES = 24;

/** mod_l1_entry's FASTPATH_FLAG_WHITELIST, low word: U/S, A, D, G and software bits 9-11. */
const FASTPATH_WHITELIST_LO = 0x004 | 0x020 | 0x040 | 0x100 | 0xe00;
// High word (bits 52..63: software/pkey bits and NX) is entirely in the whitelist.
const AD = _PAGE_ACCESSED | _PAGE_DIRTY;

// ---- request and call shapes

/** One `struct mmu_update`: `ptr` = machine address of the entry | command; `val` = new entry. */
export interface MmuUpdate {
  ptr: number;
  val: pte_t;
}

/** One `struct mmuext_op` (the TLB operations only). */
export interface MmuextOp {
  cmd: number;
  /** INVLPG_*: the virtual address. */
  linearAddr: number;
  /** *_MULTI: the vCPUs concerned. */
  vcpumask: readonly number[];
}

/** One `struct multicall_entry`: an operation and its arguments; `result` is written back. */
export interface MulticallEntry {
  op: number;
  /** __HYPERVISOR_mmu_update: requests reqs[start, start + count). */
  reqs: readonly MmuUpdate[];
  start: number;
  count: number;
  /** __HYPERVISOR_mmuext_op: the operation. */
  ext: MmuextOp | null;
  result: number;
}

/** A BUG_ON in the hypervisor: the guest broke an invariant Xen relies on. Fatal for the host. */
export class XenFatal extends Error {
  constructor(
    readonly ptep: ptep_t,
    /** Machine address of the entry. */
    readonly maddr: number,
    readonly expected: pte_t,
    readonly found: pte_t,
    detail: string,
  ) {
    super(
      `Xen BUG: ${detail} at PTE machine address 0x${maddr.toString(16)} (slot ${ptep}): expected ${pteToHex(expected)}, found ${pteToHex(found)}`,
    );
    this.name = "XenFatal";
  }
}

/** A hypercall or an emulated access failed (Xen returned -errno, or would inject a fault). */
export class XenError extends Error {
  constructor(
    readonly what: string,
    readonly errno: number,
    detail: string,
  ) {
    super(`Xen ${what} failed (-${errno}): ${detail}`);
    this.name = "XenError";
  }
}

export interface HypervisorOptions {
  /** Switch features on or off (default: all modelled features on). */
  features?: Partial<Record<SwitchableFeature, boolean>>;
}

/** Which mod_l1_entry path an update of `old` to `nw` takes. */
export function isFastPath(old: pte_t, nw: pte_t): boolean {
  if ((nw & _PAGE_PRESENT) !== 0)
    // Present: no change of frame, P, R/W, PWT, PCD or PAT (low word outside the whitelist).
    return ((old ^ nw) & ~FASTPATH_WHITELIST_LO) === 0;
  // Not present: no validation; the old entry's reference is dropped if it was present.
  return (old & _PAGE_PRESENT) === 0;
}

/** The checker's summary sites in the hypervisor (StepHook.scopeSummary's first live value). */
const SITE_MULTICALL = 1;
const SITE_MMU_UPDATE = 2;

export class Hypervisor {
  /** Private: backends reach the hypervisor's calls, never the machine through it. */
  readonly #m: Machine;
  private readonly feat = new Uint8Array(32);
  /**
   * Per CPU, while a hypercall runs: the multicall entry (-1: a direct mmu_update) and the
   * mmu_update request (-1: none yet) it is at; -2, -2 between calls. What lies before is done.
   */
  private readonly at: Int32Array;

  constructor(machine: Machine, opts: HypervisorOptions = {}) {
    this.#m = machine;
    this.at = new Int32Array(2 * machine.cpus.length).fill(-2);
    this.feat[XENFEAT_mmu_pt_update_preserve_ad] = 1;
    this.feat[XENFEAT_pae_pgdir_above_4gb] = 1;
    for (const [k, on] of Object.entries(opts.features ?? {})) {
      const f = SWITCHABLE_FEATURES[k as SwitchableFeature];
      if (f === undefined) throw new RangeError(`unknown Xen feature "${k}"`);
      this.feat[f] = on ? 1 : 0;
    }
  }

  /**
   * The multicall entry CPU `cpu`'s hypercall is at (-1: a direct mmu_update; -2: no call
   * running): a guest's buffer key leaves out what is done (MulticallBuffers.stateKey).
   */
  entryAt(cpu: number): number {
    return this.at[2 * cpu];
  }

  /** The mmu_update request CPU `cpu`'s hypercall is at (-1: none yet; -2: no call running). */
  requestAt(cpu: number): number {
    return this.at[2 * cpu + 1];
  }

  /** xen_feature(f): what XENVER_get_features reports. */
  hasFeature(f: number): boolean {
    return this.feat[f] === 1;
  }

  // ---------------------------------------------------------------- addresses

  /** Machine address of a PTE slot (what a guest puts in mmu_update.ptr). */
  maddrOf(ptep: ptep_t): number {
    return this.#m.mem.ptepPhysAddr(ptep);
  }

  /** The PTE slot at machine address `maddr`, or -1 if it is not inside a page table. */
  ptepOfMaddr(maddr: number): ptep_t {
    const mem = this.#m.mem;
    if (!Number.isInteger(maddr) || maddr < 0 || maddr % 8 !== 0) return -1;
    const mfn = Math.floor(maddr / 4096);
    if (mfn >= mem.kind.length || mem.kind[mfn] !== FRAME_TABLE) return -1;
    return mem.tableSlot[mfn] * PTRS_PER_TABLE + (maddr % 4096) / 8;
  }

  /** Is the frame holding `ptep` a pinned (guest read-only) page table? */
  isPinned(ptep: ptep_t): boolean {
    const mem = this.#m.mem;
    return mem.kind[mem.slotPfn[(ptep / PTRS_PER_TABLE) | 0]] === FRAME_TABLE;
  }

  // ---------------------------------------------------------------- trap-and-emulate

  /** A guest plain store to a pinned table: trapped, validated, written. Loses concurrent A/D. */
  trapStore(ptep: ptep_t, v: pte_t): void {
    const m = this.#m;
    const cpu = m.current;
    m.ledger.add(cpu, CTR.trap_pt_write);
    m.hook?.scopeEnter?.(cpu);
    const old = m.pteRead(cpu, ptep); // the emulator reads the entry it replaces
    this.validateTrap(ptep, old, v);
    m.pteWrite(cpu, ptep, v);
    m.hook?.scopeLeave?.(cpu, 0);
  }

  /**
   * A guest xchg on a pinned table: trapped and emulated as a compare-exchange; if the entry
   * changed under the emulator (an A/D update) the guest re-executes the xchg and traps again.
   */
  trapXchg(ptep: ptep_t, v: pte_t): pte_t {
    const m = this.#m;
    const cpu = m.current;
    // A scope for the checker: the retries' reads are dead once the xchg has happened.
    m.hook?.scopeEnter?.(cpu);
    for (;;) {
      m.ledger.add(cpu, CTR.trap_pt_xchg);
      const old = m.pteRead(cpu, ptep);
      this.validateTrap(ptep, old, v);
      if (m.pteCmpxchg(cpu, ptep, old, v) === old) {
        m.hook?.scopeLeave?.(cpu, old);
        return old;
      }
    }
  }

  /** A guest cmpxchg (or locked bit operation) on a pinned table: trapped, emulated atomically. */
  trapCmpxchg(ptep: ptep_t, expect: pte_t, v: pte_t): pte_t {
    const m = this.#m;
    const cpu = m.current;
    m.ledger.add(cpu, CTR.trap_pt_xchg);
    this.validateTrap(ptep, expect, v);
    return m.pteCmpxchg(cpu, ptep, expect, v);
  }

  private validateTrap(ptep: ptep_t, old: pte_t, v: pte_t): void {
    if (isFastPath(old, v)) return;
    const err = this.checkL1e(v);
    if (err !== 0)
      throw new XenError(
        "page-table write emulation",
        err,
        `refused ${pteToHex(v)} at machine address 0x${this.maddrOf(ptep).toString(16)} (the guest takes a #PF)`,
      );
  }

  // ---------------------------------------------------------------- hypercalls

  /** HYPERVISOR_mmu_update(reqs[start, start + count), ...): one hypervisor entry. 0 or -errno. */
  mmu_update(reqs: readonly MmuUpdate[], start = 0, count = reqs.length - start): number {
    const cpu = this.enter();
    this.at[2 * cpu] = -1;
    return this.leave(cpu, this.doMmuUpdate(cpu, reqs, start, count, -1));
  }

  /** HYPERVISOR_mmuext_op(ops, ...): one hypervisor entry. 0 or -errno. */
  mmuext_op(ops: readonly MmuextOp[]): number {
    const cpu = this.enter();
    for (const op of ops) {
      const r = this.doMmuext(cpu, op);
      if (r !== 0) return this.leave(cpu, r);
    }
    return this.leave(cpu, 0);
  }

  /**
   * HYPERVISOR_multicall(entries, n): one hypervisor entry running entries[0, n) in order; each
   * entry's result is written back. Returns 0 (the multicall itself succeeded).
   */
  multicall(entries: readonly MulticallEntry[], n = entries.length): number {
    const cpu = this.enter();
    const m = this.#m;
    m.ledger.add(cpu, CTR.multicall);
    for (let i = 0; i < n; i++) {
      // What the entries before this one read is dead: their results are in the entries.
      m.hook?.scopeSummary?.(cpu, [SITE_MULTICALL, i]);
      this.at[2 * cpu] = i;
      this.at[2 * cpu + 1] = -1;
      const e = entries[i];
      if (e.op === __HYPERVISOR_mmu_update) e.result = this.doMmuUpdate(cpu, e.reqs, e.start, e.count, i);
      else if (e.op === __HYPERVISOR_mmuext_op)
        e.result = e.ext === null ? -EINVAL : this.doMmuext(cpu, e.ext);
      else e.result = -ENOSYS;
    }
    return this.leave(cpu, 0);
  }

  /**
   * Hypervisor entry: a scheduling point and one `hypercall`. Returns the calling vCPU. Opens
   * the checker's scope (StepHook.scopeEnter): what the hypervisor reads inside is its own, and
   * dead once a request is done (the loops below say so with scopeSummary).
   */
  private enter(): number {
    const m = this.#m;
    const cpu = m.current;
    m.step(cpu, STEP.HYPERCALL, -1);
    m.ledger.add(cpu, CTR.hypercall);
    m.hook?.scopeEnter?.(cpu);
    return cpu;
  }

  /** Hypervisor exit with `ret`: closes the checker's scope. */
  private leave(cpu: number, ret: number): number {
    this.at[2 * cpu] = -2;
    this.at[2 * cpu + 1] = -2;
    this.#m.hook?.scopeLeave?.(cpu, ret);
    return ret;
  }

  /**
   * do_mmu_update: requests in order, stopping at the first failure. `entry`: the multicall
   * entry it runs for, or -1 for a direct hypercall (the checker's summary names it).
   */
  private doMmuUpdate(
    cpu: number,
    reqs: readonly MmuUpdate[],
    start: number,
    count: number,
    entry: number,
  ): number {
    const hook = this.#m.hook;
    for (let i = start; i < start + count; i++) {
      // Between requests the hypervisor's state is (entry, request): the earlier requests'
      // reads and cmpxchg retries are dead.
      hook?.scopeSummary?.(cpu, [SITE_MMU_UPDATE, entry, i]);
      this.at[2 * cpu + 1] = i;
      const r = reqs[i];
      const cmd = r.ptr % 8;
      const maddr = r.ptr - cmd;
      if (cmd !== MMU_NORMAL_PT_UPDATE && cmd !== MMU_PT_UPDATE_PRESERVE_AD) return -ENOSYS;
      if (cmd === MMU_PT_UPDATE_PRESERVE_AD && !this.hasFeature(XENFEAT_mmu_pt_update_preserve_ad))
        return -ENOSYS;
      const ptep = this.ptepOfMaddr(maddr);
      if (ptep < 0) return -EINVAL;
      const rc = this.modL1Entry(cpu, ptep, maddr, r.val, cmd === MMU_PT_UPDATE_PRESERVE_AD);
      if (rc !== 0) return rc;
    }
    return 0;
  }

  /** mod_l1_entry + update_intpte. */
  private modL1Entry(cpu: number, ptep: ptep_t, maddr: number, nl1e: pte_t, preserveAd: boolean): number {
    const m = this.#m;
    const ledger = m.ledger;
    ledger.add(cpu, CTR.mmu_update);
    let old = m.pteRead(cpu, ptep); // ol1e = l1e_read_atomic(pl1e)
    if (isFastPath(old, nl1e)) ledger.add(cpu, CTR.mmu_update_fast);
    else {
      ledger.add(cpu, CTR.mmu_update_slow);
      const err = this.checkL1e(nl1e);
      if (err !== 0) return -err;
    }
    if (!preserveAd) {
      m.pteWrite(cpu, ptep, nl1e); // paging_write_guest_entry: a plain write
      return 0;
    }
    for (;;) {
      const want = pteSetLow(nl1e, old & AD);
      const t = m.pteCmpxchg(cpu, ptep, old, want);
      if (t === old) return 0;
      // Allowed to change in Accessed/Dirty flags only.
      if (pteClearLow(t, AD) !== pteClearLow(old, AD))
        throw new XenFatal(
          ptep,
          maddr,
          old,
          t,
          "PRESERVE_AD update saw a change beyond A/D (update_intpte BUG_ON)",
        );
      ledger.add(cpu, CTR.cmpxchg_retry);
      old = t;
    }
  }

  /** get_page_from_l1e, reduced: a present entry must map guest memory, a page table only read-only. */
  private checkL1e(v: pte_t): number {
    if ((v & _PAGE_PRESENT) === 0) return 0;
    const mem = this.#m.mem;
    const pfn = pte_pfn(v);
    if (pfn >= mem.kind.length) return EINVAL;
    const k = mem.kind[pfn];
    if (k === FRAME_DATA || k === FRAME_ZERO) return 0;
    if (k === FRAME_TABLE) return (v & _PAGE_RW) === 0 ? 0 : EPERM;
    return EINVAL;
  }

  /** do_mmuext_op for the TLB commands. */
  private doMmuext(cpu: number, op: MmuextOp): number {
    const m = this.#m;
    m.ledger.add(cpu, CTR.mmuext_op);
    let targets: readonly number[];
    switch (op.cmd) {
      case MMUEXT_TLB_FLUSH_LOCAL:
      case MMUEXT_INVLPG_LOCAL:
        targets = [cpu];
        break;
      case MMUEXT_TLB_FLUSH_MULTI:
      case MMUEXT_INVLPG_MULTI:
        targets = op.vcpumask;
        break;
      case MMUEXT_TLB_FLUSH_ALL:
      case MMUEXT_INVLPG_ALL:
        targets = m.cpus.map((c) => c.id);
        break;
      default:
        return -ENOSYS;
    }
    const invlpg =
      op.cmd === MMUEXT_INVLPG_LOCAL || op.cmd === MMUEXT_INVLPG_MULTI || op.cmd === MMUEXT_INVLPG_ALL;
    for (const c of targets) {
      if (!Number.isInteger(c) || c < 0 || c >= m.cpus.length) return -EINVAL;
      m.step(cpu, STEP.TLB_FLUSH, c);
      if (c !== cpu) m.ledger.add(cpu, CTR.ipi); // flush_tlb_mask IPIs the remote pCPUs
      if (invlpg) m.invlpg(c, op.linearAddr);
      else m.flushTlbAll(c);
    }
    return 0;
  }
}
