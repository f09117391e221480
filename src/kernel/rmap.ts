// @kernel-paths: reclaim and writeback of one page through the reverse map (mm/rmap.c,
// mm/vmscan.c, mm/page-writeback.c). The model's rmap walk visits the one entry mapping the
// folio's virtual page in this mm.
//   folio_referenced   ptep_clear_flush_young: was the page used since the last look?
//   folio_mkclean      page_mkclean_one: clear and flush, write-protect, clean (for writeback)
//   writeback          folio_clear_dirty_for_io, then the contents go to the backing store
//   reclaim            shrink_folio_list on one folio: referenced pages stay; a lazyfree page is
//                      discarded unless re-dirtied; a shared page is unmapped, written back if
//                      dirty, and evicted (a later fault reads the backing store)
// Private anonymous pages that are not lazyfree would go to swap, which is not modelled: reclaim
// leaves them mapped.
import type { pte_t } from "../arch/types.js";
import { FRAME_DATA, type ptep_t } from "../machine/physmem.js";
import type { Kernel } from "./kernel.js";
import { flush_tlb_range, ptep_clear_flush } from "./pgtable.js";
import { at, type KStep, STEP } from "./step.js";
import { VM_SHARED } from "./vma.js";

/** What reclaim did with the page. */
export type ReclaimOutcome = "unmapped-none" | "referenced" | "kept" | "re-dirtied" | "discarded" | "evicted";

/**
 * folio_referenced for the page at `addr`: ptep_clear_flush_young under the PTE lock (the
 * generic form, which flushes; x86 skips that flush and accepts imprecise aging). Returns
 * whether the page was young.
 */
export function* folio_referenced(k: Kernel, cpu: number, addr: number, ptep: ptep_t): KStep<boolean> {
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  k.observer?.pathEvent?.(cpu, { kind: "rmap-walk", addr, ptep });
  let young = false;
  try {
    yield at(STEP.PTE_READ, ptep);
    const v = k.machine.pteRead(cpu, ptep);
    if (k.arch.pte_valid(v) && k.arch.pte_young(v)) {
      yield at(STEP.PV, ptep);
      young = k.pv.ptep_test_and_clear_young(addr, ptep);
    }
  } finally {
    k.ptl_release(cpu, ptep);
  }
  if (young) {
    yield* flush_tlb_range(k, cpu, addr, addr + 4096);
    k.observer?.pathEvent?.(cpu, { kind: "aged", addr });
  }
  return young;
}

/**
 * page_mkclean_one for the entry mapping `addr`, under its PTE lock: if it is dirty or writable,
 * ptep_clear_flush, pte_wrprotect, pte_mkclean, set_pte_at. Returns whether it cleaned it.
 * Variants: page-mkclean-no-flush (no TLB flush: a CPU keeps a writable, dirty translation and
 * writes on without setting D), page-mkclean-plain-rmw (a plain read then set_pte_at).
 */
export function* page_mkclean_one(k: Kernel, cpu: number, addr: number, ptep: ptep_t): KStep<boolean> {
  const arch = k.arch;
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  k.observer?.pathEvent?.(cpu, { kind: "rmap-walk", addr, ptep });
  try {
    yield at(STEP.PTE_READ, ptep);
    const pte = k.machine.pteRead(cpu, ptep); // ptep_get
    if (!arch.pte_present(pte) || !(arch.pte_dirty(pte) || arch.pte_write(pte))) return false;
    let entry: pte_t;
    if (k.mutant === "page-mkclean-plain-rmw") {
      yield at(STEP.PV, ptep);
      k.pv.set_pte_at(addr, ptep, arch.pte_mkclean(arch.pte_wrprotect(pte)));
      yield* flush_tlb_range(k, cpu, addr, addr + 4096);
      return true;
    }
    if (k.mutant === "page-mkclean-no-flush") {
      yield at(STEP.PV, ptep);
      entry = k.pv.ptep_get_and_clear(addr, ptep);
    } else entry = yield* ptep_clear_flush(k, cpu, addr, ptep);
    yield at(STEP.PV, ptep);
    k.pv.set_pte_at(addr, ptep, arch.pte_mkclean(arch.pte_wrprotect(entry)));
    return true;
  } finally {
    k.ptl_release(cpu, ptep);
  }
}

/**
 * What the program would find at `addr` with no entry mapping it: the page cache's frame, else
 * what writeback left in the backing store (an evicted page), else nothing (0).
 */
export function unmappedContent(k: Kernel, addr: number): number {
  const vpn = Math.floor(addr / 4096);
  const pfn = k.shmem.get(vpn);
  if (pfn !== undefined) return k.machine.mem.data[pfn];
  return k.backing.get(vpn) ?? 0;
}

/** pageout's write: the folio's contents go to the backing store, and the oracle hears of it. */
function writeFolio(k: Kernel, cpu: number, addr: number, pfn: number): void {
  const value = k.machine.mem.data[pfn];
  k.backing.set(Math.floor(addr / 4096), value);
  k.observer?.pathEvent?.(cpu, { kind: "written-back", addr, value });
}

/**
 * Writeback of the shared page at `addr` on `cpu` (the flusher's write_cache_pages for one
 * folio): folio_clear_dirty_for_io (folio_mkclean; folio_mark_dirty if it cleaned an entry; test
 * and clear the folio's dirty flag), then, if it was dirty, the write. Returns whether it wrote.
 */
export function* writeback(k: Kernel, cpu: number, addr: number): KStep<boolean> {
  const pfn = k.shmem.get(Math.floor(addr / 4096));
  if (pfn === undefined) return false;
  const ptep = k.walk(addr, false);
  if (ptep >= 0) {
    // folio_mkclean: nothing to clean unless folio_mapped (read without a lock: an entry maps
    // the folio, or a zap has cleared the entry but its rmap removal still waits for the TLB
    // flush); then page_mkclean_one on every mapping (here: the one at `addr`).
    yield at(STEP.PTE_READ, ptep);
    const pte = k.machine.pteRead(cpu, ptep);
    const mapped = (k.arch.pte_present(pte) && k.arch.pte_pfn(pte) === pfn) || k.delayedRmap.has(pfn);
    if (mapped && (yield* page_mkclean_one(k, cpu, addr, ptep))) k.folioDirty.add(pfn);
  }
  if (!k.folioDirty.delete(pfn)) return false;
  writeFolio(k, cpu, addr, pfn);
  return true;
}

/**
 * shrink_folio_list for the folio mapped at `addr`, on `cpu` (no mmap_lock: reclaim reaches
 * pages through the rmap and takes only their PTE locks).
 */
export function* reclaim(k: Kernel, cpu: number, addr: number): KStep<ReclaimOutcome> {
  const arch = k.arch;
  const vma = k.as.findVma(addr);
  const ptep = k.walk(addr, false);
  if (vma === undefined || ptep < 0) return "unmapped-none";
  const pte = k.machine.peekPte(ptep); // the folio reclaim picked (from its LRU: no PTE access)
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (arch.pte_none(pte) && shared && k.shmem.has(Math.floor(addr / 4096)))
    return yield* shrink_unmapped_folio(k, cpu, addr, ptep);
  if (!arch.pte_present(pte) || arch.pte_special(pte)) return "unmapped-none";
  const pfn = arch.pte_pfn(pte);
  if (k.machine.mem.kind[pfn] !== FRAME_DATA) return "unmapped-none";
  if (yield* folio_referenced(k, cpu, addr, ptep)) return "referenced";
  if (!shared && !k.lazyfree.has(pfn)) return "kept"; // would swap: not modelled
  return yield* try_to_unmap_one(k, cpu, addr, ptep, pfn, shared);
}

/**
 * shrink_folio_list for a page-cache folio no entry maps (MADV_DONTNEED unmapped it): written
 * back if dirty (pageout), then evicted. The folio lock, which keeps faults from mapping it
 * meanwhile, is modelled by the PTE lock of its address (the fault path takes it first). A folio
 * still mapped (a zap's delayed rmap removal) or mapped again meanwhile is kept.
 */
function* shrink_unmapped_folio(k: Kernel, cpu: number, addr: number, ptep: ptep_t): KStep<ReclaimOutcome> {
  const vpn = Math.floor(addr / 4096);
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  k.observer?.pathEvent?.(cpu, { kind: "rmap-walk", addr, ptep });
  try {
    const pfn = k.shmem.get(vpn);
    if (pfn === undefined) return "unmapped-none";
    if (!k.arch.pte_none(k.machine.peekPte(ptep)) || k.delayedRmap.has(pfn)) return "kept";
    if (k.folioDirty.delete(pfn)) writeFolio(k, cpu, addr, pfn); // pageout
    k.shmem.delete(vpn);
    k.machine.mem.freeFrame(pfn);
    k.observer?.pathEvent?.(cpu, { kind: "evicted", addr, stored: k.backing.get(vpn) ?? 0 });
    return "evicted";
  } finally {
    k.ptl_release(cpu, ptep);
  }
}

/**
 * try_to_unmap_one, then what shrink_folio_list does with the unmapped folio. The entry goes
 * with ptep_clear_flush (no CPU can dirty the page afterwards) and its D bit to the folio. A
 * lazyfree folio that is still clean is discarded; a re-dirtied one is mapped again and stops
 * being lazyfree (folio_set_swapbacked). A shared folio is written back if dirty, then evicted.
 */
function* try_to_unmap_one(
  k: Kernel,
  cpu: number,
  addr: number,
  ptep: ptep_t,
  pfn: number,
  shared: boolean,
): KStep<ReclaimOutcome> {
  const mem = k.machine.mem;
  yield at(STEP.LOCK, ptep);
  k.ptl_acquire(cpu, ptep);
  k.observer?.pathEvent?.(cpu, { kind: "rmap-walk", addr, ptep });
  // The folio stays locked until it is freed, so no fault maps it again meanwhile: modelled by
  // keeping the PTE lock (the fault path takes it first) until discard or eviction is done.
  try {
    let pteval: pte_t;
    let cleared = true;
    if (!shared && k.mutant === "lazyfree-discard-plain-rmw") {
      // The broken form: decide on a plain read, then clear with a plain store.
      yield at(STEP.PTE_READ, ptep);
      pteval = k.machine.pteRead(cpu, ptep);
      if (!k.arch.pte_dirty(pteval) && !k.folioDirty.has(pfn)) {
        yield at(STEP.PV, ptep);
        k.pv.set_pte_at(addr, ptep, 0 as pte_t);
        yield* flush_tlb_range(k, cpu, addr, addr + 4096);
      } else cleared = false;
    } else pteval = yield* ptep_clear_flush(k, cpu, addr, ptep);
    if (k.arch.pte_dirty(pteval)) k.folioDirty.add(pfn); // folio_mark_dirty
    if (!shared) {
      if (k.folioDirty.has(pfn)) {
        if (cleared) {
          yield at(STEP.PV, ptep);
          k.pv.set_pte_at(addr, ptep, pteval);
        }
        k.lazyfree.delete(pfn);
        return "re-dirtied";
      }
      k.lazyfree.delete(pfn);
      mem.freeFrame(pfn);
      k.observer?.pathEvent?.(cpu, { kind: "discarded", addr });
      return "discarded";
    }
    if (k.folioDirty.delete(pfn)) writeFolio(k, cpu, addr, pfn); // pageout
    const vpn = Math.floor(addr / 4096);
    k.shmem.delete(vpn);
    mem.freeFrame(pfn);
    k.observer?.pathEvent?.(cpu, { kind: "evicted", addr, stored: k.backing.get(vpn) ?? 0 });
    return "evicted";
  } finally {
    k.ptl_release(cpu, ptep);
  }
}
