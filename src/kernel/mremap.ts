// @kernel-paths: mremap (mm/mremap.c), written once as a generator (src/kernel/step.ts): the
// checker's `mremap` program step steps it; replay and the tests call its twin through
// sys_mremap in ./brk-mremap.ts.
//
// The steps AddressSpace.mremap returns are carried out in order. A "zap" step is an unmap (the
// MREMAP_FIXED destination, a shrink's tail, the moved source) through the one zap_pte_range. A
// "move" step is move_page_tables -> move_ptes: per page table (2 MiB extent of both source and
// destination), take the source PTE lock (and the destination's if it is another table), enter
// lazy MMU mode, move every non-none entry with ptep_get_and_clear + set_pte_at, leave lazy MMU
// mode, flush the source range if a present entry moved, then unlock (eb66ae030829, 2018: the
// page's lifetime is guarded only by the PTE locks, as nothing gathers it for freeing). Linux
// moves a whole page table by its PMD entry when both 2 MiB extents are aligned
// (move_normal_pmd); that is not modelled: entries always move one by one.
//
// Variants, move_ptes as it was (the real-bug zoo's history):
// - mremap-no-force-flush: before 5d1904204c99 (2016): every moved entry's flush waits for the
//   end of move_page_tables, after the locks are dropped (need_flush). Writeback can clean the
//   page at its new address while a CPU still writes it through a dirty TLB entry for the old one.
// - mremap-dirty-check-before-clear: 5d1904204c99 as first merged: a dirty entry forces the flush
//   under the locks, but its dirtiness is read before ptep_get_and_clear, so a write that dirties
//   the entry in between is missed (fixed weeks later: "mremap: move_ptes: check pte dirty after
//   its removal").
// - mremap-flush-after-unlock: after both, before eb66ae030829 (2018): the flush under the locks
//   only when a dirty entry moved; a clean entry's flush waits for the unlock. Meanwhile reclaim
//   can unmap and free the page at its new address while another CPU's TLB still maps it at the
//   old one.
//
// A VM_LOCKED mapping that grows is faulted in afterwards (mm_populate), after mmap_lock is
// dropped; the faults run to the end as one step of the calling CPU.
import { ACCESS_READ, ACCESS_WRITE, PTRS_PER_PTE as PTRS_PER_TABLE } from "../arch/types.js";
import type { ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
import { syscall_enter, zap_ranges } from "./mprotect.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from "./vma.js";

const PMD_SIZE = 0x200000;
const PAGE = 4096;

/** What the last sys_mremap did to the page tables (for reports). */
export interface RemapStats {
  /** Entries moved by move_page_tables. */
  ptesMoved: number;
  /** Pages the source-range TLB flushes covered. */
  flushPages: number;
  /** Pages faulted in because a VM_LOCKED mapping grew. */
  populated: number;
}

export interface MremapOptions {
  /** Replay: where the recording says a move without MREMAP_FIXED went (AddressSpace.mremap). */
  placeAt?: number;
  /** Filled in with what the call did to the page tables. */
  stats?: RemapStats;
  /** Set when placeAt was occupied (the call then failed with ENOMEM and changed nothing). */
  onPlacementConflict?: () => void;
}

/** mremap(addr, old_len, new_len, flags, new_addr) on `cpu`: the new address or -errno. */
export function* sys_mremap(
  k: Kernel,
  cpu: number,
  addr: number,
  oldLen: number,
  newLen: number,
  flags: number,
  newAddr: number,
  opts: MremapOptions,
): KStep<number> {
  yield* syscall_enter(k, cpu, "mremap");
  const st: RemapStats = opts.stats ?? { ptesMoved: 0, flushPages: 0, populated: 0 };
  st.ptesMoved = 0;
  st.flushPages = 0;
  st.populated = 0;
  const r = k.as.mremap(addr, oldLen, newLen, flags, newAddr, opts.placeAt);
  for (const s of r.steps) {
    if (s.kind === "zap") yield* zap_ranges(k, cpu, s.ranges, false);
    else st.ptesMoved += yield* move_page_tables(k, cpu, s.from, s.to, s.len, st);
  }
  if (r.placementConflict) opts.onPlacementConflict?.();
  k.mmapWriteUnlock();
  // mm_populate runs after mmap_lock is dropped.
  if (r.populate !== null) st.populated = populateRange(k, cpu, r.populate.start, r.populate.end);
  yield at(STEP.SYSCALL_EXIT, -1);
  k.observer?.syscallReturn?.(cpu, "mremap", r.ret);
  return r.ret;
}

/** move_page_tables for [from, from + len) -> [to, to + len) on `cpu`; returns the entries moved. */
export function* move_page_tables(
  k: Kernel,
  cpu: number,
  from: number,
  to: number,
  len: number,
  st: RemapStats | undefined,
): KStep<number> {
  const arch = k.arch;
  const m = k.machine;
  const mutant = k.mutant;
  // Before eb66ae030829 a flush could wait for the unlock: for a clean entry, or (before
  // 5d1904204c99) for any entry; the first form of that fix tested dirtiness before the clear.
  const late =
    mutant === "mremap-flush-after-unlock" ||
    mutant === "mremap-no-force-flush" ||
    mutant === "mremap-dirty-check-before-clear";
  const forceIfDirty = mutant !== "mremap-no-force-flush";
  const dirtyBeforeClear = mutant === "mremap-dirty-check-before-clear";
  let needFlush = false;
  let moved = 0;
  for (let off = 0; off < len; ) {
    const oa = from + off;
    const na = to + off;
    const op = k.walk(oa, false);
    if (op < 0) {
      // No page table: nothing mapped here, and no page-cache page either (a fault made one).
      off = Math.min(len, k.absentExtentEnd(oa) - from);
      continue;
    }
    const extent = Math.min(len - off, PMD_SIZE - (oa % PMD_SIZE), PMD_SIZE - (na % PMD_SIZE));
    off += extent;
    const np = k.walk(na, true);
    const sameTable = ((op / PTRS_PER_TABLE) | 0) === ((np / PTRS_PER_TABLE) | 0);
    k.observer?.frame?.(cpu, "move_ptes");
    yield at(STEP.LOCK, op);
    k.ptl_acquire(cpu, op);
    if (!sameTable) {
      yield at(STEP.LOCK, np);
      k.ptl_acquire(cpu, np);
    }
    k.lazy_mmu_mode_enable();
    let present = false;
    let dirty = false;
    const n = extent / PAGE;
    for (let i = 0; i < n; i++) {
      const p = (op + i) as ptep_t;
      const from_i = oa + i * PAGE;
      const to_i = na + i * PAGE;
      yield at(STEP.PTE_READ, p);
      const v = m.pteRead(cpu, p); // ptep_get
      // A shared page belongs to its object, not to an address: its page-cache index (kept here
      // by virtual page) moves with the mapping, under the PTE lock, mapped or not.
      moveCachedPage(k, from_i, to_i);
      if (arch.pte_none(v)) continue;
      if (dirtyBeforeClear && arch.pte_present(v) && arch.pte_dirty(v)) dirty = true;
      yield at(STEP.PV, p);
      const pte = k.pv.ptep_get_and_clear(from_i, p);
      if (arch.pte_present(pte)) {
        present = true;
        if (!dirtyBeforeClear && arch.pte_dirty(pte)) dirty = true;
      }
      yield at(STEP.PV, np + i);
      k.pv.set_pte_at(to_i, (np + i) as ptep_t, pte);
      k.observer?.pathEvent?.(cpu, { kind: "moved", from: from_i, to: to_i });
      moved++;
    }
    k.lazy_mmu_mode_disable();
    if (present) {
      if (!late || (forceIfDirty && dirty)) {
        yield at(STEP.PV, -1);
        k.flush_tlb_mm_range(oa, oa + extent);
        if (st !== undefined) st.flushPages += n;
      } else needFlush = true;
    }
    if (!sameTable) k.ptl_release(cpu, np);
    k.ptl_release(cpu, op);
    k.observer?.frame?.(cpu, null);
  }
  if (needFlush) {
    // The variant's flush_tlb_range of the whole old range, every PTE lock dropped.
    yield at(STEP.PV, -1);
    k.flush_tlb_mm_range(from, from + len);
    if (st !== undefined) st.flushPages += len / PAGE;
  }
  return moved;
}

/** The page-cache page and backing-store block of the shared page at `from` now belong to `to`. */
function moveCachedPage(k: Kernel, from: number, to: number): void {
  const v = Math.floor(from / PAGE);
  const w = Math.floor(to / PAGE);
  const pfn = k.shmem.get(v);
  if (pfn !== undefined) {
    k.shmem.delete(v);
    k.shmem.set(w, pfn);
  }
  const stored = k.backing.get(v);
  if (stored !== undefined) {
    k.backing.delete(v);
    k.backing.set(w, stored);
  }
}

/**
 * mm_populate / populate_vma_page_range over [start, end): fault every page in, by write when
 * the VMA is private and writable (FOLL_WRITE), else by read; VMAs without access rights are
 * skipped. Returns the number of pages faulted.
 */
export function populateRange(k: Kernel, cpu: number, start: number, end: number): number {
  let n = 0;
  for (let a = start; a < end; a += PAGE) {
    const v = k.as.findVma(a);
    if (v === undefined || (v.flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) continue;
    const write = (v.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    k.handle_mm_fault(cpu, a, k.arch.fault_error(write ? ACCESS_WRITE : ACCESS_READ));
    n++;
  }
  return n;
}
