// The brk and mremap syscalls of the simulated kernel, built on Kernel's syscall entry/exit,
// mmap_lock, zapRanges and the PvMmuOps backend, with the VMA rules of AddressSpace.brk /
// AddressSpace.mremap (src/kernel/vma.ts).
//
// Page tables, as Linux does them:
// - brk shrink: the cut part of the heap is unmapped (zapped, flushed, frames freed).
// - mremap: the steps AddressSpace.mremap returns are carried out in order. A "zap" step is an
//   unmap (the MREMAP_FIXED destination, a shrink's tail, the moved source). A "move" step is
//   move_page_tables -> move_ptes: per page table (2 MiB extent of both source and destination),
//   take the source PTE lock (and the destination's if it is another table), enter lazy MMU mode,
//   move every non-none entry with ptep_get_and_clear + set_pte_at, leave lazy MMU mode, flush
//   the source range if a present entry moved, then unlock. Linux moves a whole page table by
//   its PMD entry when both 2 MiB extents are aligned (move_normal_pmd); that is not modelled:
//   entries always move one by one.
// - A VM_LOCKED mapping that grows is faulted in afterwards (mm_populate).
//
// Pure: no I/O.
import { ACCESS_READ, ACCESS_WRITE, PTRS_PER_PTE as PTRS_PER_TABLE } from "../arch/types.js";
import type { ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
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

/** brk(addr): the new break, or the unchanged one on failure (brk has no errno). */
export function sys_brk(k: Kernel, cpu: number, brk: number): number {
  const prev = k.enter(cpu, "brk");
  k.mmapWriteLock(cpu);
  let ret: number;
  try {
    const r = k.as.brk(brk);
    if (r.ok) k.zapRanges(r.unmapped);
    ret = r.ret;
  } finally {
    k.mmapWriteUnlock();
  }
  return k.leave(cpu, "brk", ret, prev);
}

export interface MremapOptions {
  /** Replay: where the recording says a move without MREMAP_FIXED went (AddressSpace.mremap). */
  placeAt?: number;
  /** Filled in with what the call did to the page tables. */
  stats?: RemapStats;
  /** Set when placeAt was occupied (the call then failed with ENOMEM and changed nothing). */
  onPlacementConflict?: () => void;
}

/** mremap(addr, old_len, new_len, flags, new_addr): the new address or -errno. */
export function sys_mremap(
  k: Kernel,
  cpu: number,
  addr: number,
  oldLen: number,
  newLen: number,
  flags: number,
  newAddr = 0,
  opts: MremapOptions = {},
): number {
  const prev = k.enter(cpu, "mremap");
  k.mmapWriteLock(cpu);
  const st: RemapStats = opts.stats ?? { ptesMoved: 0, flushPages: 0, populated: 0 };
  st.ptesMoved = 0;
  st.flushPages = 0;
  st.populated = 0;
  let ret: number;
  let populate: { start: number; end: number } | null = null;
  try {
    const r = k.as.mremap(addr, oldLen, newLen, flags, newAddr, opts.placeAt);
    for (const s of r.steps) {
      if (s.kind === "zap") k.zapRanges(s.ranges);
      else movePageTables(k, s.from, s.to, s.len, st);
    }
    if (r.placementConflict) opts.onPlacementConflict?.();
    ret = r.ret;
    populate = r.populate;
  } finally {
    k.mmapWriteUnlock();
  }
  // mm_populate runs after mmap_lock is dropped.
  if (populate !== null) st.populated = populateRange(k, cpu, populate.start, populate.end);
  return k.leave(cpu, "mremap", ret, prev);
}

/** move_page_tables for [from, from + len) -> [to, to + len); returns the entries moved. */
export function movePageTables(k: Kernel, from: number, to: number, len: number, st?: RemapStats): number {
  const m = k.machine;
  let moved = 0;
  for (let off = 0; off < len; ) {
    const oa = from + off;
    const na = to + off;
    const op = k.walk(oa, false);
    if (op < 0) {
      off = Math.min(len, k.absentExtentEnd(oa) - from); // no page table: nothing mapped here
      continue;
    }
    const extent = Math.min(len - off, PMD_SIZE - (oa % PMD_SIZE), PMD_SIZE - (na % PMD_SIZE));
    off += extent;
    const np = k.walk(na, true);
    const sameTable = ((op / PTRS_PER_TABLE) | 0) === ((np / PTRS_PER_TABLE) | 0);
    k.pte_lock(op);
    if (!sameTable) k.pte_lock(np);
    k.lazy_mmu_mode_enable();
    let flush = false;
    const n = extent / PAGE;
    for (let i = 0; i < n; i++) {
      const p = (op + i) as ptep_t;
      const v = m.pteRead(k.current, p); // ptep_get
      if (k.arch.pte_none(v)) continue;
      if (k.arch.pte_present(v)) flush = true;
      const pte = k.pv.ptep_get_and_clear(oa + i * PAGE, p);
      k.pv.set_pte_at(na + i * PAGE, (np + i) as ptep_t, pte);
      moved++;
    }
    k.lazy_mmu_mode_disable();
    if (flush) {
      k.flush_tlb_mm_range(oa, oa + extent);
      if (st !== undefined) st.flushPages += n;
    }
    if (!sameTable) k.pte_unlock(np);
    k.pte_unlock(op);
  }
  k.moveShmemPages(from, to, len);
  if (st !== undefined) st.ptesMoved += moved;
  return moved;
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
