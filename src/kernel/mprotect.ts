// @kernel-paths: mprotect, munmap and mmap (mm/mprotect.c, mm/mmap.c, mm/memory.c's zap), written
// once as generators (src/kernel/step.ts). Kernel.sys_mprotect/sys_munmap/sys_mmap and the
// benchmark call the generated twin (mprotect.fast.ts); `run` and `check` step the generators,
// so another CPU's kernel path (a fault waiting for mmap_lock, reclaim under the PTE lock) and
// every CPU's hardware interleave at each PTE operation, lock and backend operation.
//
// Points: mmap_lock at entry (the syscall blocks while anyone holds it), the PTE lock of each
// table, ptep_get of each entry, each backend operation (the transaction's start and commit,
// ptep_get_and_clear), syscall exit. What runs between them without a point (the backend's own
// steps, lazy MMU mode's batch, the TLB flush's IPIs, the hypervisor) still offers each of its
// steps to the other CPUs' hardware through the machine's step hook.
import type { pte_t } from "../arch/types.js";
import { CTR } from "../machine/ledger.js";
import { FRAME_DATA, type ptep_t } from "../machine/physmem.js";
import type { Kernel, MprotectStats } from "./kernel.js";
import { MM_CP_PROT_NUMA, MM_CP_TRY_CHANGE_WRITABLE, prot_numa_skip } from "./numa-flags.js";
import { vma_page_prot } from "./softdirty.js";
import { at, type KStep, STEP } from "./step.js";
import type { FileArg, Range, Vma } from "./vma.js";

/** x86 tlb_single_page_flush_ceiling: above this many pages a range flush becomes a full flush. */
const FLUSH_CEILING = 33;
/** changePtes' mutant codes (skip-tlb-flush is sys_mprotect's: the loop is unchanged). */
const MUTANT_NONE = 0;
const MUTANT_COMMIT_AFTER_UNLOCK = 1;
const MUTANT_MISSING_COMMIT = 2;

/**
 * The syscall prologue, written once: mmap_write_lock (the point: it blocks while anyone holds
 * mmap_lock), entry accounting, the observer.
 */
export function* syscall_enter(k: Kernel, cpu: number, name: string): KStep {
  yield at(STEP.MMAP_LOCK_WRITE, -1);
  k.current = cpu;
  k.machine.ledger.add(cpu, CTR.syscall);
  k.observer?.syscallEnter?.(cpu, name);
  k.mmapWriteLock(cpu);
}

/** The syscall epilogue: mmap_write_unlock, the return (a point), the observer. */
export function* syscall_exit(k: Kernel, cpu: number, name: string, ret: number): KStep<number> {
  k.mmapWriteUnlock();
  yield at(STEP.SYSCALL_EXIT, -1);
  k.observer?.syscallReturn?.(cpu, name, ret);
  return ret;
}

/**
 * mprotect(addr, len, prot). VMAs are updated first (split/merge), then change_protection runs
 * on each changed piece with one mmu_gather, and the deferred TLB flush completes before the
 * call returns (the property "no stale writable TLB entry after mprotect returns").
 */
export function* sys_mprotect(
  k: Kernel,
  cpu: number,
  addr: number,
  len: number,
  prot: number,
): KStep<number> {
  yield* syscall_enter(k, cpu, "mprotect");
  const st: MprotectStats = { ptesChanged: 0, flushPages: 0, flushFull: false };
  const r = k.as.mprotect(addr, len, prot);
  const gather = { start: Number.POSITIVE_INFINITY, end: 0 };
  // tlb_gather_mmu once the arguments are valid; mprotect_fixup per VMA changed.
  if (r.errno === 0 || r.changes.length > 0) k.machine.ledger.add(cpu, CTR.tlb_gather);
  if (r.changes.length > 0) k.machine.ledger.add(cpu, CTR.vma_walk, r.changes.length);
  for (const ch of r.changes)
    st.ptesChanged += yield* change_protection(
      k,
      cpu,
      ch.vma,
      ch.start,
      ch.end,
      ch.tryChangeWritable ? MM_CP_TRY_CHANGE_WRITABLE : 0,
      gather,
    );
  if (gather.end > 0 && k.mutant !== "skip-tlb-flush") {
    st.flushPages = (gather.end - gather.start) / 4096;
    st.flushFull = st.flushPages > FLUSH_CEILING;
    k.flush_tlb_mm_range(gather.start, gather.end); // tlb_finish_mmu
  }
  k.lastMprotect = st;
  return yield* syscall_exit(k, cpu, "mprotect", r.errno === 0 ? 0 : -r.errno);
}

/** munmap(addr, len): the VMAs, then the entries (zap_pte_range), the flush, the frames. */
export function* sys_munmap(k: Kernel, cpu: number, addr: number, len: number): KStep<number> {
  yield* syscall_enter(k, cpu, "munmap");
  const r = k.as.munmap(addr, len);
  // unmap_region's mmu_gather, and the VMAs detached and freed.
  if (r.errno === 0 && r.unmapped.length > 0) {
    k.machine.ledger.add(cpu, CTR.tlb_gather);
    k.machine.ledger.add(cpu, CTR.vma_unmap, r.unmapped.length);
  }
  if (r.errno === 0) yield* zap_ranges(k, cpu, r.unmapped, false);
  return yield* syscall_exit(k, cpu, "munmap", r.errno === 0 ? 0 : -r.errno);
}

/**
 * mmap(addr, len, prot, flags, fd, offset): anonymous memory, or a file described by `file`
 * (file pages are modelled as memory of the mapping, private or shared); MAP_FIXED over an
 * existing mapping zaps it. Returns the address or -errno.
 */
export function* sys_mmap(
  k: Kernel,
  cpu: number,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  file: FileArg | null,
): KStep<number> {
  yield* syscall_enter(k, cpu, "mmap");
  const r = k.as.mmap(addr, len, prot, flags, file);
  if (r.ok) yield* zap_ranges(k, cpu, r.unmapped, false);
  return yield* syscall_exit(k, cpu, "mmap", r.ok ? r.addr : -r.errno);
}

/**
 * change_protection over [start, end) of `vma` with Linux's cp_flags (MM_CP_TRY_CHANGE_WRITABLE,
 * MM_CP_PROT_NUMA: then the new protection is PAGE_NONE); returns the number of PTEs changed.
 */
export function* change_protection(
  k: Kernel,
  cpu: number,
  vma: Vma,
  start: number,
  end: number,
  cpFlags: number,
  gather: { start: number; end: number },
): KStep<number> {
  const newprot =
    (cpFlags & MM_CP_PROT_NUMA) !== 0
      ? k.arch.vm_get_page_prot(0)
      : vma_page_prot(k.arch, vma.flags, k.writenotifyIgnoresSoftDirty);
  let pages = 0;
  // change_pmd_range granularity: one page table (2 MiB) at a time.
  for (let addr = start; addr < end; ) {
    const ptep = k.walk(addr, false);
    if (ptep < 0) {
      addr = Math.min(end, k.absentExtentEnd(addr));
      continue;
    }
    const next = Math.min(end, (Math.floor(addr / 0x200000) + 1) * 0x200000);
    pages += yield* change_pte_range(k, cpu, vma, ptep, addr, next, newprot, cpFlags, gather);
    addr = next;
  }
  return pages;
}

/**
 * change_pte_range, as in mm/mprotect.c: PTE lock, lazy MMU mode, and for each present entry
 * (or folio batch of entries) start -> pte_modify -> try-change-writable -> commit,
 * accumulating pte_needs_flush. The one loop that `run`, `check`, `replay` and the benchmark
 * use; folio batching and the kernel mutants are variation points of it (changePtes).
 */
export function* change_pte_range(
  k: Kernel,
  cpu: number,
  vma: Vma,
  ptep0: ptep_t,
  start: number,
  end: number,
  newprot: number,
  cpFlags: number,
  gather: { start: number; end: number },
): KStep<number> {
  // VMA objects come in several hidden-class shapes: their fields are read here, where a new
  // shape costs V8 a deoptimization of this short function only, not of the loop.
  const vmFlags = vma.flags;
  k.observer?.frame?.(cpu, "change_pte_range");
  yield at(STEP.LOCK, ptep0);
  k.ptl_acquire(cpu, ptep0);
  k.lazy_mmu_mode_enable();
  const pages = yield* changePtes(
    k,
    cpu,
    vma,
    ptep0,
    start,
    (end - start) / 4096,
    newprot,
    cpFlags,
    vmFlags,
    gather,
  );
  // The lines the walk touched (PTEs, struct pages), by reuse distance: what makes a large
  // call dearer per PTE once they no longer stay in the caches (machine/linecache.ts).
  k.machine.touchMetadata(cpu, ptep0, (end - start) / 4096, k.arch.pte_present, k.arch.pte_pfn);
  // vm_normal_folio per present PTE; with folio batches, counted per batch by folioBatch.
  if (k.maxBatch === 1) k.machine.ledger.add(cpu, CTR.folio_lookup, pages);
  k.lazy_mmu_mode_disable();
  k.ptl_release(cpu, ptep0);
  // The commit-after-unlock mutant commits outside the lock (with the contract checked, the
  // unlock itself has already reported the open transactions).
  const d = k.deferredCommits;
  if (d.length > 0) {
    k.deferredCommits = [];
    for (let j = 0; j < d.length; j += 4) {
      yield at(STEP.PV, d[j]);
      k.ptep_modify_prot_commit(vma, d[j + 1], d[j], d[j + 2] as pte_t, d[j + 3] as pte_t);
    }
  }
  k.observer?.frame?.(cpu, null);
  return pages;
}

/**
 * change_pte_range's loop over the `count` entries from `ptep0` (mapping from `start`), under
 * the PTE lock and in lazy MMU mode; adds the range needing a TLB flush to `gather`. Returns
 * the number of entries changed.
 *
 * Variation points, all in this one loop:
 * - kernel.maxBatch > 1: folio batches (folioBatch reads the following entries, as
 *   folio_pte_batch's ptep_get does, so the checker sees the batch size being decided) go
 *   through modify_prot_start/commit_ptes;
 * - the kernel mutants (missing-commit, commit-after-unlock) replace the commit;
 * - transactionsViaWrappers (tests) uses the wrapper methods for single entries.
 *
 * The hot path (single entries, no mutant) is written for V8 (docs/PERFORMANCE.md):
 * ptep_modify_prot_start/commit are spelled out in line, contract checks then the backend's
 * operation, which is what the two methods do (a test pins that they behave the same).
 * With no scheduler hook installed nothing else runs until the loop ends, so the contract is
 * checked per table (ContractTracker.beginRun) rather than per transaction, every commit
 * still logged for the check at the unlock. With a hook, each start and commit is checked.
 */
function* changePtes(
  k: Kernel,
  cpu: number,
  vma: Vma,
  ptep0: ptep_t,
  start: number,
  count: number,
  newprot: number,
  cpFlags: number,
  vmaFlags: number,
  gather: { start: number; end: number },
): KStep<number> {
  const arch = k.arch;
  const present = arch.pte_present;
  const modify = arch.pte_modify;
  const writable = arch.pte_write;
  const mkwrite = arch.pte_mkwrite;
  const needsFlush = k.pte_needs_flush;
  const m = k.machine;
  const pv = k.pv;
  const c = k.contract;
  const n = count | 0;
  const base = +start;
  const vmFlags = vmaFlags | 0;
  const tryWrite = (cpFlags & MM_CP_TRY_CHANGE_WRITABLE) !== 0;
  // MM_CP_PROT_NUMA (change_prot_numa): entries already PROT_NONE and the zero page are skipped.
  const protNuma = (cpFlags & MM_CP_PROT_NUMA) !== 0;
  const maxBatch = k.maxBatch | 0;
  const mutant =
    k.mutant === "commit-after-unlock"
      ? MUTANT_COMMIT_AFTER_UNLOCK
      : k.mutant === "missing-commit"
        ? MUTANT_MISSING_COMMIT
        : MUTANT_NONE;
  // Single entries in line unless a variation point asks for the wrappers.
  const inlineTxn = k.transactionsViaWrappers !== true;
  // Frame kinds, read once: no frame is allocated while mprotect holds mmap_lock for write.
  const kinds = m.mem.kind;
  const ptl = k.ptlOwner;
  let pages = 0;
  let first = -1; // the entries needing a TLB flush: [first, last]
  let last = -1;
  // The contract log position while the table's transactions run checked per table, or -1.
  let pos =
    c !== null &&
    m.hook === null &&
    inlineTxn &&
    maxBatch === 1 &&
    mutant === MUTANT_NONE &&
    ptl[ptep0 >> 9] === cpu
      ? c.beginRun(cpu, n)
      : -1;
  for (let i = 0; ; ) {
    // Between PTEs, and once after the last, the loop's live state is (position, entries
    // changed, flush range so far): say so to a checker, which may then forget the values
    // read for earlier PTEs (after the last one, nothing read in the loop is needed again).
    if (m.hook !== null) checkpoint(k, cpu, 0, ptep0, i, pages, first, last, gather);
    if (i >= n) break;
    const ptep = ptep0 + i;
    yield at(STEP.PTE_READ, ptep);
    const firstPte = m.pteRead(cpu, ptep); // ptep_get
    if (!present(firstPte) || (protNuma && prot_numa_skip(arch, firstPte))) {
      i++;
      continue;
    }
    const addr = base + i * 4096;
    const nr = maxBatch > 1 ? yield* folioBatch(k, cpu, ptep, firstPte, Math.min(maxBatch, n - i)) : 1;
    // The entry's value read above only decided presence (and the batch size): dead from here,
    // as start reads the entry again. The live state is the loop's plus the batch size.
    if (m.hook !== null) checkpoint(k, cpu, nr, ptep0, i, pages, first, last, gather);
    let oldpte: pte_t;
    yield at(STEP.PV, ptep);
    if (nr === 1 && inlineTxn) {
      // ptep_modify_prot_start (in line, see above)
      if (pos < 0 && c !== null && (ptl[ptep >> 9] !== cpu || !c.start(cpu, ptep))) k.startFailed(ptep, addr);
      oldpte = pv.ptep_modify_prot_start(vma, addr, ptep);
    } else oldpte = k.modify_prot_start_ptes(vma, addr, ptep, nr);
    // ptent = pte_modify(oldpte, newprot), then pte_mkwrite if can_change_pte_writable
    let ptent = modify(oldpte, newprot);
    if (tryWrite && !writable(ptent) && canChangeWritable(k, kinds, vmFlags, ptent)) ptent = mkwrite(ptent);
    if (mutant !== MUTANT_NONE) mutantCommit(k, cpu, mutant, addr, ptep, oldpte, ptent, nr);
    else {
      yield at(STEP.PV, ptep);
      if (nr === 1 && inlineTxn) {
        // ptep_modify_prot_commit (in line, see above)
        if (pos >= 0) c!.runCommit(pos++, ptep, ptent);
        else if (c !== null && (ptl[ptep >> 9] !== cpu || !c.commit(cpu, ptep, ptent)))
          k.commitFailed(ptep, addr);
        pv.ptep_modify_prot_commit(vma, addr, ptep, oldpte, ptent);
      } else k.modify_prot_commit_ptes(vma, addr, ptep, oldpte, ptent, nr);
    }
    if (needsFlush(oldpte, ptent)) {
      if (first < 0) first = i;
      last = i + nr - 1;
    }
    pages += nr;
    i += nr;
  }
  if (pos >= 0) c!.endRun(cpu, pos);
  if (first >= 0) {
    const lo = base + first * 4096;
    const hi = base + (last + 1) * 4096;
    if (lo < gather.start) gather.start = lo;
    if (hi > gather.end) gather.end = hi;
  }
  return pages;
}

/** The kernel mutants' replacement for the commit of `nr` entries from `ptep`. */
function mutantCommit(
  k: Kernel,
  cpu: number,
  mutant: number,
  addr: number,
  ptep: ptep_t,
  oldpte: pte_t,
  ptent: pte_t,
  nr: number,
): void {
  if (mutant === MUTANT_COMMIT_AFTER_UNLOCK) {
    for (let j = 0; j < nr; j++)
      k.deferredCommits.push(
        ptep + j,
        addr + j * 4096,
        k.arch.pte_advance_pfn(oldpte, j),
        k.arch.pte_advance_pfn(ptent, j),
      );
    return;
  }
  if (mutant === MUTANT_MISSING_COMMIT && k.contract !== null) {
    // The mutant forgets the commit; keep the contract tracker quiet about pairing so the
    // checker sees the consequence (data loss), not only the bookkeeping rule.
    for (let j = 0; j < nr; j++) k.contract.commit(cpu, ptep + j, k.machine.peekPte(ptep + j));
  }
}

/**
 * Tell a checker the loop's live state (see StepHook.checkpoint). `site`: 0 at the loop's head
 * (before an entry is read, and after the last), else the batch size of the entry about to be
 * changed (after its presence was decided): the two places never share a key.
 */
function checkpoint(
  k: Kernel,
  cpu: number,
  site: number,
  ptep0: ptep_t,
  i: number,
  pages: number,
  lo: number,
  hi: number,
  gather: { start: number; end: number },
): void {
  const h = k.machine.hook;
  if (h?.checkpoint === undefined) return;
  // The commits awaiting the unlock check are not the loop's: the key takes them from the
  // contract tracker when it is built (a copy here would stay in the key after the unlock).
  h.checkpoint(cpu, [site, ptep0, i, pages, lo, hi, gather.start, gather.end]);
}

/**
 * How many entries from `ptep` map consecutive frames of one folio (mprotect_folio_pte_batch).
 * In a large folio (mTHP) this is Linux 6.17's folio_pte_batch_flags with FPB_RESPECT_WRITE |
 * FPB_RESPECT_SOFT_DIRTY: the run stops at the folio's end, young and dirty are ignored (the
 * batched start gathers them), the write permission is not. Frames that are single-page folios
 * stand in for one when they are consecutive with identical entries (the model's batching
 * before it had folios, kept for the scenarios that batch without mTHP).
 */
function* folioBatch(k: Kernel, cpu: number, ptep: ptep_t, first: pte_t, max: number): KStep<number> {
  // ptep_get of each following entry: a real load, so one step of the checker's, and what it
  // returns (hence the batch size) is part of the checker's state.
  const m = k.machine;
  const arch = k.arch;
  m.ledger.add(cpu, CTR.folio_lookup); // one vm_normal_folio per batch
  const pfn = arch.pte_pfn(first);
  const large = m.mem.kind[pfn] === FRAME_DATA && m.mem.folioNr(pfn) > 1;
  if (large) max = Math.min(max, m.mem.folioHead(pfn) + m.mem.folioNr(pfn) - pfn);
  const ignoreAD = (v: pte_t): pte_t => arch.pte_mkold(arch.pte_mkclean(v));
  const expect = large ? ignoreAD(first) : first;
  let n = 1;
  while (n < max) {
    yield at(STEP.PTE_READ, ptep + n);
    const v = m.pteRead(cpu, ptep + n);
    if ((large ? ignoreAD(v) : v) !== arch.pte_advance_pfn(expect, n)) break;
    n++;
  }
  return n;
}

/**
 * can_change_pte_writable (mm/mprotect.c), for the memory this kernel models, with the
 * frame-kind array passed in (read once per page table by the caller).
 */
export function canChangeWritable(k: Kernel, kinds: Uint8Array, vmFlags: number, pte: pte_t): boolean {
  // Literal VM_* and frame-kind values, not the imported constants: this runs per PTE in
  // mprotect's loop, and each module binding costs V8 a cell load and a check there. Checked
  // against the constants in kernel.test.ts ("canChangeWritable masks").
  const arch = k.arch;
  k.machine.ledger.add(k.current, CTR.can_change_pte_writable);
  if ((vmFlags & 0x2) === 0) return false; // VM_WRITE
  if (arch.pte_protnone(pte)) return false;
  // pte_needs_soft_dirty_wp: tracking armed (VM_SOFTDIRTY, 0x8000000, clear) and the entry
  // soft-clean: the write fault must mark it. (The inverted test is the pre-76aefad628aa bug.)
  if (((vmFlags & 0x8000000) === 0) !== k.softDirtyInverted && arch.pte_soft_dirty?.(pte) === false)
    return false;
  // Private: only exclusive anonymous pages, never the shared zero page, nor a page fork still
  // shares with another mm (PageAnonExclusive). Shared: a clean entry may still need a write fault.
  if ((vmFlags & 0x8) === 0) {
    // !VM_SHARED: !special, FRAME_DATA, not shared by fork
    const pfn = arch.pte_pfn(pte);
    return !arch.pte_special(pte) && kinds[pfn] === 2 && (k.sharedFrames.size === 0 || k.mapcount(pfn) <= 1);
  }
  return arch.pte_dirty(pte);
}

/**
 * zap_pte_range over unmapped ranges: clear the entries, transfer D, flush, then free the frames.
 * `keepPageCache` (madvise(MADV_DONTNEED), zap_page_range_single): shared pages stay in their
 * object, only private ones are freed.
 *
 * A dirty shared (file) page forces the flush while the PTE lock is still held, and its rmap
 * removal waits for that flush (Linux's force_flush and delayed rmap, tlb_flush_rmaps): until the
 * TLBs are flushed another CPU may still write the page through a stale writable entry, so
 * writeback's folio_mkclean must still find the page mapped and wait on this PTE lock. Variants:
 * zap-flush-after-unlock (before 1cf35d47712d, 2014: the gather's flush after the unlock) and
 * zap-rmap-before-flush (2014 to 5df397dec7c4, 2022: flush under the lock, but the page already
 * unmapped from the rmap's point of view, so folio_mkclean does not wait).
 */
export function* zap_ranges(k: Kernel, cpu: number, ranges: readonly Range[], keepPageCache: boolean): KStep {
  if (ranges.length === 0) return;
  const arch = k.arch;
  const freed: number[] = [];
  const forceable = k.mutant !== "zap-flush-after-unlock";
  const delayRmap = forceable && k.mutant !== "zap-rmap-before-flush";
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (const r of ranges) {
    for (let addr = r.start; addr < r.end; ) {
      const ptep0 = k.walk(addr, false);
      if (ptep0 < 0) {
        addr = Math.min(r.end, k.absentExtentEnd(addr));
        continue;
      }
      const next = Math.min(r.end, (Math.floor(addr / 0x200000) + 1) * 0x200000);
      k.observer?.frame?.(cpu, "zap_pte_range");
      yield at(STEP.LOCK, ptep0);
      k.ptl_acquire(cpu, ptep0);
      k.lazy_mmu_mode_enable();
      let forceFlush = false;
      // The lines the walk touches (before the entries are cleared: the struct pages are those
      // of the frames still mapped), by reuse distance, as change_pte_range's.
      k.machine.touchMetadata(cpu, ptep0, (next - addr) / 4096, arch.pte_present, arch.pte_pfn);
      for (let a = addr, p = ptep0; a < next; a += 4096, p++) {
        yield at(STEP.PTE_READ, p);
        const v = k.machine.pteRead(cpu, p);
        if (arch.pte_none(v)) continue;
        yield at(STEP.PV, p);
        const old = k.pv.ptep_get_and_clear(a, p);
        const kept = keepPageCache && r.shared;
        k.observer?.zapped?.(cpu, a, old, kept);
        if (a < lo) lo = a;
        if (a + 4096 > hi) hi = a + 4096;
        const pfn = arch.pte_pfn(old);
        if (!arch.pte_special(old) && arch.pte_present(old)) {
          k.machine.ledger.add(cpu, CTR.folio_lookup); // vm_normal_folio
          if (arch.pte_dirty(old)) {
            k.folioDirty.add(pfn); // folio_mark_dirty
            if (r.shared && forceable) {
              forceFlush = true;
              if (delayRmap) k.delayedRmap.add(pfn);
            }
          }
          // A page fork shares stays with the other mm: drop this mapping only.
          if (k.mapcount(pfn) > 1) k.unmapShared(pfn);
          else if (!kept) freed.push(pfn);
        }
        if (r.shared && !kept) k.shmem.delete(Math.floor(a / 4096));
      }
      k.lazy_mmu_mode_disable();
      if (forceFlush) {
        // tlb_flush_mmu_tlbonly, then tlb_flush_rmaps, before the unlock.
        yield at(STEP.PV, -1);
        k.flush_tlb_mm_range(lo, hi);
        k.delayedRmap.clear();
        // __tlb_reset_range: what is flushed is not flushed again at the end.
        lo = Number.POSITIVE_INFINITY;
        hi = 0;
      }
      k.ptl_release(cpu, ptep0);
      k.observer?.frame?.(cpu, null);
      addr = next;
    }
  }
  if (hi > 0) {
    // tlb_finish_mmu: the gather's flush, after every PTE lock is released.
    yield at(STEP.PV, -1);
    k.flush_tlb_mm_range(lo, hi);
  }
  // Frames are freed only after the flush (mmu_gather): no CPU can still reach them.
  if (freed.length > 0) k.machine.ledger.add(cpu, CTR.folio_free, freed.length);
  for (const pfn of freed) {
    k.folioDirty.delete(pfn);
    k.lazyfree.delete(pfn);
    k.machine.mem.freeFrame(pfn);
  }
}
