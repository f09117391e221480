// @kernel-paths: the page-fault path (mm/memory.c), written once as generators (src/kernel/step.ts).
//
// handle_mm_fault takes mmap_lock for read (arch/x86/mm/fault.c's lock_mm_and_find_vma), checks
// access_error, and walks to the PTE. handle_pte_fault reads the entry without the PTE lock
// (ptep_get_lockless), decides what to do from that snapshot, and every path that changes the
// entry takes the PTE lock and re-checks it with pte_same: another CPU's fault, mprotect, fork
// or the hardware (A/D) may have changed it since. A changed entry means: back off, return, let
// the access retry. Paths release their locks on every way out but hold no try/finally: a
// failing step (a contract breach, the checker cutting a path) ends the whole run. The
// hardware sets A and D without any lock, which is why
// ptep_set_access_flags stores on x86 only for write faults (the entry it stores has A and D
// set: nothing the MMU set can be lost) and otherwise leaves the entry to the hardware.

import type { pte_t } from "../arch/types.js";
import { CTR } from "../machine/ledger.js";
import { FRAME_DATA, type ptep_t } from "../machine/physmem.js";
import { FAULT_OK, FAULT_SIGSEGV } from "./fault-codes.js";
import type { Kernel } from "./kernel.js";
import { migrate_or_restore } from "./numa.js";
import { vma_page_prot } from "./softdirty.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_SHARED, VM_WRITE, type Vma } from "./vma.js";

/**
 * handle_mm_fault for a user access by `cpu` at `addr` with x86 error code `err`: mmap_lock for
 * read, access_error, the walk (allocating page tables), then handle_pte_fault.
 */
export function* handle_mm_fault(k: Kernel, cpu: number, addr: number, err: number): KStep<number> {
  yield at(STEP.MMAP_LOCK_READ, -1);
  k.mmapReadLock(cpu);
  const vma = k.as.findVma(addr);
  const write = k.arch.fault_is_write(err);
  // fault_fatal: a fault no handler resolves (arm64: a TLB conflict abort).
  if (vma === undefined || k.arch.fault_fatal(err) !== null || k.arch.access_error(err, vma.flags)) {
    // access_error (arch/*/mm/fault.c)
    k.mmapReadUnlock(cpu);
    return FAULT_SIGSEGV;
  }
  const page = Math.floor(addr / 4096) * 4096;
  // __pte_alloc: upper levels and the PTE table are installed under mmap_lock (plain stores,
  // no user access can depend on a half-installed upper level).
  const ptep = k.walk(page, true);
  yield* handle_pte_fault(k, cpu, vma, page, ptep, write);
  k.mmapReadUnlock(cpu);
  return FAULT_OK;
}

/** handle_pte_fault: a lockless snapshot of the entry, then the path it calls for. */
export function* handle_pte_fault(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  write: boolean,
): KStep {
  const a = k.arch;
  yield at(STEP.PTE_READ, ptep);
  const orig = k.machine.pteRead(cpu, ptep); // ptep_get_lockless
  if (a.pte_none(orig)) {
    if ((vma.flags & VM_SHARED) !== 0) yield* do_shared_fault(k, cpu, vma, addr, ptep, orig, write);
    else yield* do_anonymous_page(k, cpu, vma, addr, ptep, orig, write);
    return;
  }
  if (a.pte_protnone(orig)) {
    yield* do_numa_page(k, cpu, vma, addr, ptep, orig);
    return;
  }
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  if (!(yield* pte_same_locked(k, cpu, ptep, orig))) {
    // changed under us: back off, the access retries
  } else if (write && !a.pte_write(orig)) yield* do_wp_page(k, cpu, vma, addr, ptep, orig);
  else {
    let entry = a.pte_mkyoung(orig);
    if (write) entry = a.pte_mkdirty(entry);
    if (!(yield* ptep_set_access_flags(k, cpu, vma, addr, ptep, entry, write)) && write)
      flush_tlb_fix_spurious_fault(k, cpu, addr);
  }
  k.ptl_release(cpu, ptep);
}

/**
 * The re-check under the PTE lock: does the entry still equal the lockless snapshot? The
 * fault-no-pte-same mutant skips it (and so may overwrite what another CPU installed).
 */
function* pte_same_locked(k: Kernel, cpu: number, ptep: ptep_t, orig: pte_t): KStep<boolean> {
  if (k.mutant === "fault-no-pte-same") return true;
  yield at(STEP.PTE_READ, ptep);
  return k.machine.pteRead(cpu, ptep) === orig;
}

/**
 * ptep_set_access_flags (arch/x86/mm/pgtable.c): if the entry differs from `entry`, store it,
 * but only for a write fault. The store is a plain one: `entry` has A (and D) set, so an A or
 * D update by the MMU in between loses nothing; a read fault leaves A to the hardware.
 */
export function* ptep_set_access_flags(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  entry: pte_t,
  dirty: boolean,
): KStep<boolean> {
  if (k.pv.ptep_set_access_flags !== undefined) {
    // The architecture's own (arm64: a compare-exchange loop that may set AF on a read fault).
    yield at(STEP.PV, ptep);
    return k.pv.ptep_set_access_flags(vma, addr, ptep, entry, dirty);
  }
  yield at(STEP.PTE_READ, ptep);
  const changed = k.machine.pteRead(cpu, ptep) !== entry;
  if (changed && dirty) {
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, entry);
  }
  return changed;
}

/**
 * flush_tlb_fix_spurious_fault: a write fault found the entry already writable and dirty (a
 * stale TLB entry faulted). On x86 this is empty: a faulting access drops the TLB entry it used
 * (the machine does), so the retry walks the tables afresh.
 */
export function flush_tlb_fix_spurious_fault(_k: Kernel, _cpu: number, _addr: number): void {}

/** The PTE lock for a not-present entry, and the pte_same re-check; false: back off. */
function* lock_none(k: Kernel, cpu: number, ptep: ptep_t, orig: pte_t): KStep<boolean> {
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  if (yield* pte_same_locked(k, cpu, ptep, orig)) return true;
  k.ptl_release(cpu, ptep);
  return false;
}

/**
 * do_anonymous_page: the shared zero page for a read; for a write a fresh zeroed folio from
 * alloc_anon_folio (with anonymous mTHP enabled, a naturally aligned large folio when its
 * whole range lies in the VMA and maps nothing yet), mapped with one set_ptes under the PTE lock.
 */
export function* do_anonymous_page(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  orig: pte_t,
  write: boolean,
): KStep {
  const a = k.arch;
  const mem = k.machine.mem;
  const prot = a.vm_get_page_prot(vma.flags);
  if (!write) {
    const entry = a.pte_mkspecial(a.pfn_pte(mem.zeroPfn, prot));
    if (!(yield* lock_none(k, cpu, ptep, orig))) return;
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, entry);
    touchFaulted(k, cpu, ptep, 1);
    k.observer?.newPage?.(cpu, addr, mem.zeroPfn, true);
    k.ptl_release(cpu, ptep);
    return;
  }
  k.as.setAnonVma(addr); // anon_vma_prepare
  const order = k.anonOrders.length === 0 ? 0 : yield* alloc_anon_folio_order(k, cpu, vma, addr, ptep);
  const pfn = order === 0 ? -1 : mem.allocFolio(FRAME_DATA, order);
  if (pfn < 0) {
    // A single frame: no mTHP order fits, or no aligned run of frames is left (fallback).
    const single = mem.allocFrame(FRAME_DATA); // vma_alloc_zeroed_movable_folio
    k.machine.ledger.add(cpu, CTR.folio_alloc);
    let entry = a.pfn_pte(single, prot);
    if ((vma.flags & VM_WRITE) !== 0) entry = a.pte_mkwrite(a.pte_mkdirty(entry));
    if (!(yield* lock_none(k, cpu, ptep, orig))) {
      mem.freeFrame(single); // another CPU installed the page first: drop ours
      return;
    }
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, entry);
    touchFaulted(k, cpu, ptep, 1);
    k.observer?.newPage?.(cpu, addr, single, false);
    k.ptl_release(cpu, ptep);
    return;
  }
  k.machine.ledger.add(cpu, CTR.folio_alloc); // one folio, however large
  const nr = 2 ** order;
  const first = addr - (addr % (nr * 4096));
  const ptep0 = ptep - (addr - first) / 4096;
  let entry = a.pfn_pte(pfn, prot);
  if ((vma.flags & VM_WRITE) !== 0) entry = a.pte_mkwrite(a.pte_mkdirty(entry));
  yield at(STEP.LOCK, ptep0);
  k.ptl_acquire(cpu, ptep0);
  // pte_range_none under the lock: another CPU's fault may have mapped part of the range.
  if (k.mutant !== "fault-no-pte-same" && !(yield* pte_range_none(k, cpu, ptep0, nr))) {
    k.ptl_release(cpu, ptep0);
    for (let i = 0; i < nr; i++) mem.freeFrame(pfn + i);
    return;
  }
  yield at(STEP.PV, ptep0);
  set_ptes(k, first, ptep0, entry, nr);
  touchFaulted(k, cpu, ptep0, nr);
  for (let i = 0; i < nr; i++) k.observer?.newPage?.(cpu, first + i * 4096, pfn + i, false);
  k.ptl_release(cpu, ptep0);
}

/**
 * alloc_anon_folio's choice of order: the highest enabled mTHP order whose naturally aligned
 * range around `addr` lies inside the VMA (thp_vma_suitable_orders) and whose entries are all
 * none (pte_range_none, read without the PTE lock and checked again under it); 0 for none.
 */
function* alloc_anon_folio_order(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
): KStep<number> {
  for (const order of k.anonOrders) {
    const size = 2 ** order * 4096;
    const first = addr - (addr % size);
    if (first < vma.start || first + size > vma.end) continue;
    if (yield* pte_range_none(k, cpu, ptep - (addr - first) / 4096, 2 ** order)) return order;
  }
  return 0;
}

/**
 * pte_range_none: whether `nr` entries from `ptep` are all none. One scheduling point for the
 * run: under the PTE lock nothing but the lock holder changes a none entry (hardware never
 * does), and without it the answer is only a hint the caller checks again under the lock.
 */
function* pte_range_none(k: Kernel, cpu: number, ptep: ptep_t, nr: number): KStep<boolean> {
  yield at(STEP.PTE_READ, ptep);
  for (let i = 0; i < nr; i++) if (!k.arch.pte_none(k.machine.pteRead(cpu, ptep + i))) return false;
  return true;
}

/**
 * set_ptes: the architecture's (arm64 folds whole aligned blocks into PTE_CONT) or, without
 * one, an entry at a time with the PFN advancing (asm-generic; x86 maps 16 ordinary PTEs).
 */
function set_ptes(k: Kernel, addr: number, ptep: ptep_t, entry: pte_t, nr: number): void {
  const pv = k.pv;
  if (pv.set_ptes !== undefined) {
    pv.set_ptes(addr, ptep, entry, nr);
    return;
  }
  for (let i = 0; i < nr; i++) pv.set_pte_at(addr + i * 4096, ptep + i, k.arch.pte_advance_pfn(entry, i));
}

/**
 * The metadata lines a fault leaves behind (the entry's PTE line, the struct page of its frame),
 * for the reuse-distance model (machine/linecache.ts): a later walk over pages just faulted in
 * finds them near, as the real kernel finds them in the caches.
 */
function touchFaulted(k: Kernel, cpu: number, ptep: ptep_t, nr: number): void {
  k.machine.touchMetadata(cpu, ptep, nr, k.arch.pte_present, k.arch.pte_pfn);
}

/** do_shared_fault (shmem): the object's page for this index, created on first use. */
export function* do_shared_fault(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  orig: pte_t,
  write: boolean,
): KStep {
  const a = k.arch;
  const mem = k.machine.mem;
  // vma->vm_page_prot: read-only while soft-dirty tracking wants write notifications.
  const prot = vma_page_prot(a, vma.flags, k.writenotifyIgnoresSoftDirty);
  const vpn = Math.floor(addr / 4096);
  // shmem_get_folio: the page cache is looked up and filled under its own lock, one step.
  let pfn = k.shmem.get(vpn);
  let fresh = false;
  if (pfn === undefined) {
    pfn = mem.allocFrame(FRAME_DATA);
    k.machine.ledger.add(cpu, CTR.folio_alloc);
    // Read back what writeback left in the backing store, if reclaim evicted the page.
    const stored = k.backing.get(vpn);
    if (stored !== undefined) mem.data[pfn] = stored;
    k.shmem.set(vpn, pfn);
    fresh = true;
  }
  let entry = a.pfn_pte(pfn, prot);
  if (write) {
    entry = a.pte_mkdirty(entry);
    if ((vma.flags & VM_WRITE) !== 0) entry = a.pte_mkwrite(entry);
  }
  if (!(yield* lock_none(k, cpu, ptep, orig))) return;
  if (k.shmem.get(vpn) !== pfn) {
    // Reclaim evicted the folio meanwhile (the reference the lookup took would have stopped it
    // in Linux): let the access retry and look it up again.
    k.ptl_release(cpu, ptep);
    return;
  }
  yield at(STEP.PV, ptep);
  k.pv.set_pte_at(addr, ptep, entry);
  if (fresh) k.observer?.newPage?.(cpu, addr, pfn, false);
  k.ptl_release(cpu, ptep);
}

/**
 * do_numa_page: a PROT_NONE entry in an accessible VMA is a NUMA hinting entry. Under the PTE
 * lock and re-checked, the page migrates or its entry is restored (src/kernel/numa.ts).
 */
export function* do_numa_page(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  orig: pte_t,
): KStep {
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  try {
    if (yield* pte_same_locked(k, cpu, ptep, orig)) yield* migrate_or_restore(k, cpu, vma, addr, ptep, orig);
  } finally {
    k.ptl_release(cpu, ptep);
  }
}

/**
 * do_wp_page, with the PTE lock held and the entry re-checked: a write to a present read-only
 * entry of a writable VMA. A page still shared with a fork child (or the zero page) is copied
 * (wp_page_copy: clear and flush the old entry, then install the copy); an exclusive page, or
 * a shared mapping's, is reused (wp_page_reuse: made writable and dirty in place).
 */
export function* do_wp_page(
  k: Kernel,
  cpu: number,
  vma: Vma,
  addr: number,
  ptep: ptep_t,
  orig: pte_t,
): KStep {
  const a = k.arch;
  const mem = k.machine.mem;
  const pfn = a.pte_pfn(orig);
  const prot = a.vm_get_page_prot(vma.flags);
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (!shared && (a.pte_special(orig) || mem.kind[pfn] !== FRAME_DATA || k.mapcount(pfn) > 1)) {
    // wp_page_copy
    k.as.setAnonVma(addr);
    const npfn = mem.allocFrame(FRAME_DATA);
    k.machine.ledger.add(cpu, CTR.folio_alloc);
    mem.data[npfn] = mem.data[pfn];
    const entry = a.pte_mkwrite(a.pte_mkdirty(a.pfn_pte(npfn, prot)));
    yield at(STEP.PV, ptep);
    k.pv.ptep_get_and_clear(addr, ptep); // ptep_clear_flush
    yield at(STEP.PV, -1);
    k.flush_tlb_mm_range(addr, addr + 4096);
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, entry);
    touchFaulted(k, cpu, ptep, 1);
    if (!a.pte_special(orig) && mem.kind[pfn] === FRAME_DATA) k.unmapShared(pfn);
    k.observer?.newPage?.(cpu, addr, npfn, false);
    return;
  }
  // wp_page_reuse: ptep_set_access_flags with the entry made young, dirty and writable.
  const entry = a.pte_mkwrite(a.pte_mkdirty(a.pte_mkyoung(orig)));
  yield* ptep_set_access_flags(k, cpu, vma, addr, ptep, entry, true);
}
