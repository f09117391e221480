// The address-space map of the simulated kernel: VMAs and the mmap / munmap / mprotect / brk /
// mremap rules of Linux (mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/mremap.c,
// arch/x86/kernel/sys_x86_64.c of a 6.16+ kernel; mremap as 6.17+), checked call by call against
// the real kernel by src/fidelity/differential.ts (mmap/munmap/mprotect) and
// src/fidelity/remap-differential.ts (brk/mremap).
//
// Pure module: no I/O. VMAs are kept in a sorted array (binary search for lookups). Records are
// immutable: every change replaces the record (keeping its id when Linux keeps the struct), so a
// Vma handed out earlier is a stable snapshot.

import { ChunkedArray } from "./chunked.js";
import { EACCES, EBADF, EEXIST, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from "./errno.js";
import {
  MAP_32BIT,
  MAP_ABOVE4G,
  MAP_ANONYMOUS,
  MAP_DENYWRITE,
  MAP_DROPPABLE,
  MAP_EXECUTABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_TYPE,
  MAP_UNINITIALIZED,
  MMAP_MIN_ADDR,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  TASK_SIZE,
} from "./mman.js";

// VM_* flags (include/linux/mm.h values; all below bit 31 so plain JS bit operations work).
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_PFNMAP = 0x400;
/** Model-internal bit for VM_DROPPABLE (Linux keeps it above bit 31 on 64-bit). */
export const VM_DROPPABLE = 0x800;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_DONTEXPAND = 0x40000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
export const VM_HUGETLB = 0x400000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
/**
 * The whole VMA counts as soft-dirty (new or expanded mappings get it; clear_refs clears it, and
 * only then do the PTEs' soft-dirty bits alone say which pages were written). Merging ignores it.
 */
export const VM_SOFTDIRTY = 0x8000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
/** VMAs with any of these never merge (mm.h VM_SPECIAL). */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

/** What backs a VMA: private anonymous memory (vma_is_anonymous), a shmem object (shared
 * anonymous mapping, memfd, tmpfs), another file, or a special mapping ([vdso], [vvar]...). */
export type VmaKind = "anon" | "shmem" | "file" | "special";

export interface Vma {
  readonly start: number;
  readonly end: number;
  readonly flags: number;
  /** In pages, as Linux: anonymous private VMAs get start >> 12 at creation; file VMAs the file offset. */
  readonly pgoff: number;
  /** 0 = no anon_vma yet; else the identity of the anon_vma (shared between VMAs as in Linux). */
  readonly anonVma: number;
  /** null for anonymous memory (private or [heap]/[stack]); else the name /proc/PID/maps shows. */
  readonly file: string | null;
  /** Identity of the mapped object (Linux vm_file): 0 for anonymous memory. Merging needs equality. */
  readonly fileId: number;
  readonly kind: VmaKind;
  /** Name shown by toMaps() for anonymous VMAs that have one ([heap], [stack], [anon:x]), else null. */
  readonly label: string | null;
  readonly id: number;
}

/** A piece of address space whose page-table entries the kernel must zap. shared: VM_MAYSHARE. */
export interface Range {
  start: number;
  end: number;
  shared: boolean;
}

/** After the VMA update the kernel runs change_protection(vma, start, end); tryChangeWritable is
 * Linux's MM_CP_TRY_CHANGE_WRITABLE (vma_wants_manual_pte_write_upgrade). */
export interface ProtChange {
  start: number;
  end: number;
  vma: Vma;
  tryChangeWritable: boolean;
}

/** populate: Linux would fault the range in after the call (MAP_POPULATE or VM_LOCKED). */
export type MmapResult =
  | { ok: true; addr: number; unmapped: Range[]; populate?: boolean }
  | { ok: false; errno: number };

export interface AddressSpaceOptions {
  /** mm->mmap_base: top of the top-down mmap area. Default: TASK_SIZE - 128 MiB (no ASLR). */
  mmapBase?: number;
  taskSize?: number;
  /** vm.mmap_min_addr. */
  mmapMinAddr?: number;
  /** mm->mmap_legacy_base, used by the bottom-up fallback. Default: PAGE_ALIGN(TASK_SIZE / 3). */
  mmapLegacyBase?: number;
  /** stack_guard_gap in bytes (default 256 pages). */
  stackGuardGap?: number;
  /** vm.overcommit_memory == 2: MAP_NORESERVE is ignored. */
  overcommitNever?: boolean;
  /** CAP_SYS_RAWIO: may map below mmap_min_addr (default false: EPERM). */
  capSysRawio?: boolean;
  /** vm.max_map_count (default 65530). */
  maxMapCount?: number;
  /** mm->start_brk (mm->brk starts equal to it). Default: none, brk() fails until setBrk(). */
  startBrk?: number;
  /** VMAs the mm has but the model does not hold (e.g. mapped before a recording began): they
   * count towards max_map_count. Default 0. */
  unmodelledMapCount?: number;
}

/** What brk() did. Linux returns the new break on success and the unchanged one on failure. */
export interface BrkResult {
  ret: number;
  ok: boolean;
  /** Pieces a shrinking break unmapped (the kernel zaps them). */
  unmapped: Range[];
}

/** One effect of mremap on the page tables, in the order the kernel performs them. */
export type RemapStep =
  /** Unmapped: the destination of MREMAP_FIXED, the tail cut by a shrink, or a moved source. */
  | { kind: "zap"; ranges: Range[] }
  /** move_page_tables: the entries of [from, from + len) move to [to, to + len). */
  | { kind: "move"; from: number; to: number; len: number };

export interface MremapResult {
  /** The (new) address, or -errno. */
  ret: number;
  /** Effects already performed, also when the call failed part-way (MREMAP_FIXED unmaps first). */
  steps: RemapStep[];
  /** The VMA is VM_LOCKED and grew: Linux faults [start, end) in afterwards. */
  populate: { start: number; end: number } | null;
  /** mremap's placeAt range was occupied (the call failed with ENOMEM and changed nothing). */
  placementConflict?: boolean;
}

export interface FileArg {
  name: string;
  offsetPages: number;
  /** The file was opened for writing (default true); else shared mappings lose VM_MAYWRITE. */
  writable?: boolean;
  /** The file was opened for reading (default true); else every mapping of it fails (EACCES). */
  readable?: boolean;
  /** Identity of the open file (Linux compares struct file pointers when merging); default: name. */
  handle?: string | number;
}

const PMD_SIZE = 2 * 1024 * 1024;
/** MAX_LFS_FILESIZE on 64-bit: LLONG_MAX. */
const MAX_LFS_FILESIZE = 2n ** 63n - 1n;
const TWO64 = 2 ** 64;
// LEGACY_MAP_MASK: the flags MAP_SHARED silently accepts and MAP_SHARED_VALIDATE checks against.
const LEGACY_MAP_MASK =
  MAP_SHARED |
  MAP_PRIVATE |
  MAP_FIXED |
  MAP_ANONYMOUS |
  MAP_DENYWRITE |
  MAP_EXECUTABLE |
  MAP_UNINITIALIZED |
  MAP_GROWSDOWN |
  MAP_LOCKED |
  MAP_NORESERVE |
  MAP_POPULATE |
  MAP_NONBLOCK |
  MAP_STACK |
  MAP_HUGETLB;

const SHMEM_ZERO = "/dev/zero (deleted)";
/** VM_DATA_DEFAULT_FLAGS (x86-64, no READ_IMPLIES_EXEC) | VM_ACCOUNT: the flags of brk memory. */
const VM_BRK_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_SOFTDIRTY;
const VM_LOCKED_MASK = VM_LOCKED; // VM_LOCKONFAULT is not modelled

/** PAGE_ALIGN on unsigned long: a length within a page of 2^64 wraps to 0. */
function pageAlign64(x: number): number {
  const a = Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;
  return a >= TWO64 ? 0 : a;
}

type Rec = Vma;

/** struct vma_remap_struct: one mremap operation (or one VMA of a multi-VMA move). */
interface Vrm {
  addr: number;
  oldLen: number;
  newLen: number;
  flags: number;
  newAddr: number;
  delta: number;
  type: "none" | "shrink" | "expand";
  /** The VMA is VM_LOCKED and grows: Linux populates the new part. */
  populate: boolean;
  placeAt: number | undefined;
  steps: RemapStep[];
  conflict: boolean;
}

function pages(v: { start: number; end: number }): number {
  return (v.end - v.start) / PAGE_SIZE;
}

/** calc_vm_prot_bits: unknown bits are ignored (mmap does not validate prot). */
function protToVm(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/** The merge candidate of vma_merge_struct: what a range would look like after the change. */
interface Candidate {
  start: number;
  end: number;
  flags: number;
  pgoff: number;
  fileId: number;
  anonVma: number;
  label: string | null;
}

/** anon_vma_name equality: only [anon:...] names take part in merging. */
function anonName(label: string | null): string | null {
  return label?.startsWith("[anon:") ? label : null;
}

function sameObject(v: Rec, c: Candidate): boolean {
  // is_mergeable_vma: flags equal apart from VM_SOFTDIRTY.
  return (
    ((v.flags ^ c.flags) & ~VM_SOFTDIRTY) === 0 &&
    v.fileId === c.fileId &&
    anonName(v.label) === anonName(c.label)
  );
}

function hex(n: number): string {
  return n.toString(16);
}

export class AddressSpace {
  readonly mmapBase: number;
  readonly taskSize: number;
  /** vm.mmap_min_addr (a replay may lower it to what a recording shows was allowed). */
  mmapMinAddr: number;
  readonly mmapLegacyBase: number;
  readonly stackGuardGap: number;
  readonly overcommitNever: boolean;
  readonly capSysRawio: boolean;
  readonly maxMapCount: number;
  /** See AddressSpaceOptions.unmodelledMapCount (a replay may revise it when a recording shows
   * where the limit really was). */
  unmodelledMapCount: number;

  private list = new ChunkedArray<Rec>();
  private nextId = 1;
  private nextAnonVma = 1;
  private nextFileId = 1;
  private fileIds = new Map<string, number>();
  /** anon_vmas made by anon_vma_fork: a VMA holding one has an anon_vma chain with its parent's
   * (vma_had_uncowed_parents), which changes the merge rules. */
  private forkedAnon = new Set<number>();
  /** mm->start_brk, or null when no program break is set up (brk() then fails). */
  private startBrk_: number | null = null;
  /** mm->brk: the last value brk() accepted (not page-aligned). */
  private brk_ = 0;

  constructor(opts: AddressSpaceOptions = {}) {
    this.taskSize = opts.taskSize ?? TASK_SIZE;
    this.mmapBase = opts.mmapBase ?? this.taskSize - 128 * 1024 * 1024;
    this.mmapMinAddr = opts.mmapMinAddr ?? MMAP_MIN_ADDR;
    this.mmapLegacyBase = opts.mmapLegacyBase ?? Math.ceil(this.taskSize / 3 / PAGE_SIZE) * PAGE_SIZE;
    this.stackGuardGap = opts.stackGuardGap ?? 256 * PAGE_SIZE;
    this.overcommitNever = opts.overcommitNever ?? false;
    this.capSysRawio = opts.capSysRawio ?? false;
    this.maxMapCount = opts.maxMapCount ?? 65530;
    this.unmodelledMapCount = opts.unmodelledMapCount ?? 0;
    if (opts.startBrk !== undefined) this.setBrk(opts.startBrk);
  }
  /**
   * An independent copy (the checker restarts executions from a saved kernel). VMA records are
   * never mutated in place, so copying the list and the file table suffices.
   */
  clone(): AddressSpace {
    const c = Object.create(AddressSpace.prototype) as AddressSpace;
    Object.assign(c, this);
    c.list = this.list.clone();
    c.fileIds = new Map(this.fileIds);
    c.forkedAnon = new Set(this.forkedAnon);
    return c;
  }

  /**
   * Become a copy of `o`, an address space of the same mm saved earlier (Kernel.restore, before
   * every execution of the checker), reusing this one's arrays.
   */
  restoreFrom(o: AddressSpace): void {
    this.mmapMinAddr = o.mmapMinAddr;
    this.unmodelledMapCount = o.unmodelledMapCount;
    this.list.copyFrom(o.list);
    this.nextId = o.nextId;
    this.nextAnonVma = o.nextAnonVma;
    this.nextFileId = o.nextFileId;
    if (this.fileIds.size !== 0 || o.fileIds.size !== 0) this.fileIds = new Map(o.fileIds);
    if (this.forkedAnon.size !== 0 || o.forkedAnon.size !== 0) this.forkedAnon = new Set(o.forkedAnon);
    this.startBrk_ = o.startBrk_;
    this.brk_ = o.brk_;
  }

  /**
   * dup_mmap: the address space of a child of fork() (no CLONE_VM), a copy of this one's VMAs.
   * As Linux: VM_LOCKED is not inherited; a VM_WIPEONFORK VMA starts without an anon_vma; a VMA
   * with an anon_vma gets a new one chained to its parent's (anon_vma_fork), after which it
   * merges only with VMAs sharing that anon_vma. The program break and map count are copied.
   * Page tables are not: the caller decides what the child's page tables hold.
   */
  dup_mmap(): AddressSpace {
    const c = this.clone();
    c.forkedAnon = new Set();
    const remap = new Map<number, number>();
    c.list = ChunkedArray.from(
      this.list.toArray().map((v) => {
        let anonVma = 0;
        if (v.anonVma !== 0 && !(v.flags & VM_WIPEONFORK)) {
          let a = remap.get(v.anonVma);
          if (a === undefined) {
            a = c.nextAnonVma++;
            remap.set(v.anonVma, a);
            c.forkedAnon.add(a);
          }
          anonVma = a;
        }
        return { ...v, flags: v.flags & ~VM_LOCKED_MASK, anonVma };
      }),
    );
    return c;
  }

  /** mm->start_brk (null: not set up). */
  get startBrk(): number | null {
    return this.startBrk_;
  }
  /** mm->brk. */
  get currentBrk(): number {
    return this.brk_;
  }
  /** Set up the program break as exec does (start_brk is page-aligned; brk defaults to it). */
  setBrk(startBrk: number, brk = startBrk): void {
    if (startBrk % PAGE_SIZE !== 0 || brk < startBrk) throw new Error(`setBrk: bad break ${hex(startBrk)}`);
    this.startBrk_ = startBrk;
    this.brk_ = brk;
  }

  // ------------------------------------------------------------------ queries

  /** mm->map_count: the VMAs, modelled or not. */
  get mapCount(): number {
    return this.list.length + this.unmodelledMapCount;
  }

  /** The VMAs that intersect [start, end), sorted (found by binary search: no full copy). */
  vmasIn(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.firstEndAbove(start); i < this.list.length && this.list.get(i).start < end; i++)
      out.push(this.list.get(i));
    return out;
  }

  /** The number of VMAs the model holds. */
  get vmaCount(): number {
    return this.list.length;
  }

  /** The VMAs, sorted by address (a copy). */
  vmas(): readonly Vma[] {
    return this.list.toArray();
  }

  /**
   * clear_refs (CLEAR_REFS_SOFT_DIRTY): clear VM_SOFTDIRTY on every VMA, so that from now on a
   * page counts as soft-dirty only through its PTE. Returns how many VMAs changed.
   */
  clearSoftDirty(): number {
    let n = 0;
    for (let i = 0; i < this.list.length; i++) {
      const v = this.list.get(i);
      if ((v.flags & VM_SOFTDIRTY) === 0) continue;
      this.list.set(i, { ...v, flags: v.flags & ~VM_SOFTDIRTY });
      n++;
    }
    return n;
  }

  /** The VMA containing addr. */
  findVma(addr: number): Vma | undefined {
    const i = this.firstEndAbove(addr);
    const v = this.list.get(i);
    return v !== undefined && v.start <= addr ? v : undefined;
  }

  /** /proc/PID/maps-style lines. */
  toMaps(): string {
    let s = "";
    for (const v of this.list) {
      const perms = vmPerms(v.flags);
      const off = v.kind === "anon" || v.kind === "special" ? 0 : v.pgoff * PAGE_SIZE;
      // get_vma_name: a file first, then vma_is_initial_heap (overlaps [start_brk, brk)).
      const heap =
        v.file === null &&
        v.kind === "anon" &&
        this.startBrk_ !== null &&
        v.start < this.brk_ &&
        v.end > this.startBrk_;
      const name = v.file ?? (heap ? "[heap]" : v.label);
      s += `${hex(v.start).padStart(8, "0")}-${hex(v.end).padStart(8, "0")} ${perms} ${hex(off).padStart(8, "0")} 00:00 0${name === null ? "" : ` ${name}`}\n`;
    }
    return s;
  }

  // ------------------------------------------------------------------ layout set-up

  /**
   * Adds a VMA to an empty part of the space, e.g. from a real process's /proc/PID/maps.
   * file: the maps name, or null. Bracketed names: [heap], [stack] (VM_GROWSDOWN is added) and
   * [anon:x] are anonymous memory; other bracketed names ([vdso], [vvar]...) are special mappings
   * that never merge. A path is a file; "/dev/zero (deleted)" and "/memfd:..." are shmem objects.
   * opts.pgoff defaults to start >> 12 for anonymous memory, else 0; opts.anonVma gives the VMA
   * an anon_vma of its own (it has been written to, as the writable private VMAs of a running
   * process usually have).
   */
  insertOpaque(
    start: number,
    end: number,
    flags: number,
    file: string | null,
    opts: { pgoff?: number; anonVma?: boolean } = {},
  ): void {
    if (start % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0 || end <= start) {
      throw new Error(`insertOpaque: bad range ${hex(start)}-${hex(end)}`);
    }
    const i = this.firstEndAbove(start);
    if (i < this.list.length && this.list.get(i).start < end) {
      throw new Error(`insertOpaque: ${hex(start)}-${hex(end)} overlaps ${hex(this.list.get(i).start)}`);
    }
    let kind: VmaKind;
    let label: string | null = null;
    let fileName: string | null = null;
    let fileId = 0;
    if (file === null || file === "") {
      if (flags & VM_MAYSHARE) {
        kind = "shmem";
        fileName = SHMEM_ZERO;
        fileId = this.nextFileId++;
      } else kind = "anon";
    } else if (file.startsWith("[")) {
      label = file;
      if (file === "[heap]" || file === "[stack]" || file.startsWith("[anon:")) {
        kind = "anon";
        if (file === "[stack]") flags |= VM_GROWSDOWN;
      } else {
        kind = "special";
        flags |= VM_DONTEXPAND;
        fileId = this.nextFileId++;
      }
    } else {
      fileName = file;
      kind = this.isShmemName(file) ? "shmem" : "file";
      fileId = file === SHMEM_ZERO || file.startsWith("/SYSV") ? this.nextFileId++ : this.fileIdFor(file);
    }
    const rec: Rec = {
      start,
      end,
      flags: flags | VM_SOFTDIRTY, // as every mapping made afresh
      pgoff: opts.pgoff ?? (kind === "anon" ? start / PAGE_SIZE : 0),
      anonVma: opts.anonVma === true && !(flags & VM_SHARED) ? this.nextAnonVma++ : 0,
      file: fileName,
      fileId,
      kind,
      label,
      id: this.nextId++,
    };
    this.list.splice(i, 0, rec);
  }

  // ------------------------------------------------------------------ mmap

  mmap(addr: number, len: number, prot: number, flags: number, file?: FileArg | null): MmapResult {
    const fail = (errno: number): MmapResult => ({ ok: false, errno });
    // ksys_mmap_pgoff
    const f: FileArg | null = flags & MAP_ANONYMOUS ? null : (file ?? null);
    if (!(flags & MAP_ANONYMOUS) && f === null) return fail(EBADF);
    if (flags & MAP_HUGETLB) return fail(f !== null ? EINVAL : ENOMEM); // no hugetlbfs / pool modelled
    // do_mmap
    if (len === 0) return fail(EINVAL);
    if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
    if (!(flags & MAP_FIXED)) addr = this.roundHintToMin(addr);
    const alen = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
    if (alen >= TWO64) return fail(ENOMEM); // PAGE_ALIGN wrapped to 0
    if (this.mapCount > this.maxMapCount) return fail(ENOMEM);
    let vm =
      protToVm(prot) |
      (flags & MAP_GROWSDOWN ? VM_GROWSDOWN : 0) |
      (flags & MAP_LOCKED ? VM_LOCKED : 0) |
      (flags & MAP_STACK ? VM_NOHUGEPAGE : 0) |
      VM_MAYREAD |
      VM_MAYWRITE |
      VM_MAYEXEC;

    const where = this.getUnmappedArea(f, addr, alen, flags);
    if (where < 0) return fail(-where);
    addr = where;
    if (flags & MAP_FIXED_NOREPLACE) {
      const i = this.firstEndAbove(addr);
      if (i < this.list.length && this.list.get(i).start < addr + alen) return fail(EEXIST);
    }

    let pgoff: number;
    let kind: VmaKind;
    const type = flags & MAP_TYPE;
    if (f !== null) {
      // file_mmap_ok: the mapping must end below the largest file offset (MAX_LFS_FILESIZE).
      if (BigInt(f.offsetPages) > (MAX_LFS_FILESIZE - BigInt(alen)) >> 12n) return fail(EOVERFLOW);
      // MAP_SHARED falls through to MAP_SHARED_VALIDATE, which falls through to MAP_PRIVATE.
      if (type === MAP_SHARED) flags &= LEGACY_MAP_MASK;
      if (type === MAP_SHARED || type === MAP_SHARED_VALIDATE) {
        if (flags & ~LEGACY_MAP_MASK) return fail(EOPNOTSUPP);
        if (prot & PROT_WRITE && f.writable === false) return fail(EACCES);
        vm |= VM_SHARED | VM_MAYSHARE;
        if (f.writable === false) vm &= ~(VM_MAYWRITE | VM_SHARED);
      } else if (type !== MAP_PRIVATE) return fail(EINVAL);
      if (f.readable === false) return fail(EACCES);
      if (vm & VM_GROWSDOWN) return fail(EINVAL);
      pgoff = f.offsetPages;
      kind = this.isShmemName(f.name) ? "shmem" : "file";
    } else {
      if (type === MAP_SHARED) {
        if (vm & VM_GROWSDOWN) return fail(EINVAL);
        vm |= VM_SHARED | VM_MAYSHARE;
      } else if (type === MAP_DROPPABLE) {
        if (flags & (MAP_LOCKED | MAP_HUGETLB)) return fail(EINVAL);
        if (vm & VM_GROWSDOWN) return fail(EINVAL);
        vm |= VM_DROPPABLE | VM_NORESERVE | VM_WIPEONFORK | VM_DONTDUMP;
      } else if (type !== MAP_PRIVATE) return fail(EINVAL);
      // Shared anonymous memory gets pgoff 0 (a fresh shmem object); private gets addr >> 12.
      pgoff = vm & VM_SHARED ? 0 : addr / PAGE_SIZE;
      kind = vm & VM_SHARED ? "shmem" : "anon";
    }
    if (flags & MAP_NORESERVE && !this.overcommitNever) vm |= VM_NORESERVE;

    const unmapped = this.mmapRegion(addr, alen, vm, pgoff, kind, f);
    if (unmapped === null) return fail(ENOMEM);
    const populate = (vm & VM_LOCKED) !== 0 || (flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE;
    // Populating a private writable mapping write-faults it: that assigns the anon_vma.
    if (populate && (vm & (VM_WRITE | VM_SHARED)) === VM_WRITE) this.setAnonVma(addr);
    return { ok: true, addr, unmapped, populate };
  }

  /** mmap_region / __mmap_region: unmap what is there, then merge with a neighbour or insert. */
  private mmapRegion(
    addr: number,
    len: number,
    vm: number,
    pgoff: number,
    kind: VmaKind,
    f: FileArg | null,
  ): Range[] | null {
    const end = addr + len;
    const unmapped = this.unmapRange(addr, end);
    if (unmapped === null) return null;
    // accountable_mapping
    if ((vm & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE) vm |= VM_ACCOUNT;
    // A new shared anonymous mapping has no file yet when merging is tried: it never merges.
    const fileId =
      f !== null ? this.fileIdFor(f.handle === undefined ? f.name : `${f.name}\0${f.handle}`) : 0;
    const i = this.firstEndAbove(addr); // the VMA after the hole, if any
    // __mmap_region: a new or expanded VMA always gets VM_SOFTDIRTY (a mapping made afresh in
    // place of an old one must read as all soft-dirty).
    vm |= VM_SOFTDIRTY;
    const cand: Candidate = { start: addr, end, flags: vm, pgoff, fileId, anonVma: 0, label: null };
    const merged = this.mergeNewRange(i, cand);
    if (merged >= 0) {
      const v = this.list.get(merged);
      if ((v.flags & VM_SOFTDIRTY) === 0) this.list.set(merged, { ...v, flags: v.flags | VM_SOFTDIRTY });
      return unmapped;
    }
    const rec: Rec = {
      start: addr,
      end,
      flags: vm,
      pgoff,
      anonVma: 0,
      file: f !== null ? f.name : kind === "shmem" ? SHMEM_ZERO : null,
      fileId: f !== null ? fileId : kind === "shmem" ? this.nextFileId++ : 0,
      kind,
      label: null,
      id: this.nextId++,
    };
    this.list.splice(i, 0, rec);
    return unmapped;
  }

  /**
   * vma_merge_new_range for a hole [c.start, c.end) just before list[i] (prev is list[i - 1]).
   * Returns the index of the expanded VMA, or -1 when no merge is possible.
   */
  private mergeNewRange(i: number, c: Candidate): number {
    const prev = i > 0 ? this.list.get(i - 1) : undefined;
    const next = i < this.list.length ? this.list.get(i) : undefined;
    if (c.flags & VM_SPECIAL || (prev === undefined && next === undefined)) return -1;
    const left = prev !== undefined && prev.end === c.start && this.canMergeAfter(prev, c);
    const right =
      next !== undefined &&
      next.start === c.end &&
      this.canMergeBefore(next, c) &&
      (!left || this.anonOk(prev!.anonVma, next.anonVma));
    if (left && right) {
      // vma_expand: dup_anon_vma from next and from the VMA copied from (mremap), if any.
      this.list.set(i - 1, {
        ...prev!,
        end: next!.end,
        anonVma: prev!.anonVma || next!.anonVma || c.anonVma,
      });
      this.list.splice(i, 1);
      return i - 1;
    }
    if (left) {
      this.list.set(i - 1, { ...prev!, end: c.end, anonVma: prev!.anonVma || c.anonVma });
      return i - 1;
    }
    if (right) {
      this.list.set(i, { ...next!, start: c.start, pgoff: c.pgoff, anonVma: next!.anonVma || c.anonVma });
      return i;
    }
    return -1;
  }

  /**
   * is_mergeable_anon_vma (6.16+): equal anon_vmas merge; when only one side has one, they
   * merge unless that anon_vma came from anon_vma_fork (vma_had_uncowed_parents).
   */
  private anonOk(a: number, b: number): boolean {
    if (a === b) return true;
    if (a === 0) return !this.forkedAnon.has(b);
    if (b === 0) return !this.forkedAnon.has(a);
    return false;
  }

  /** can_vma_merge_after: c may extend prev (prev is below c). */
  private canMergeAfter(prev: Rec, c: Candidate): boolean {
    return (
      sameObject(prev, c) && this.anonOk(c.anonVma, prev.anonVma) && prev.pgoff + pages(prev) === c.pgoff
    );
  }

  /** can_vma_merge_before: c may extend next downwards (next is above c). */
  private canMergeBefore(next: Rec, c: Candidate): boolean {
    return (
      sameObject(next, c) &&
      this.anonOk(c.anonVma, next.anonVma) &&
      next.pgoff === c.pgoff + (c.end - c.start) / PAGE_SIZE
    );
  }

  /** round_hint_to_min */
  private roundHintToMin(hint: number): number {
    hint -= hint % PAGE_SIZE;
    if (hint !== 0 && hint < this.mmapMinAddr) return Math.ceil(this.mmapMinAddr / PAGE_SIZE) * PAGE_SIZE;
    return hint;
  }

  /** __get_unmapped_area: an address, or -errno. */
  private getUnmappedArea(f: FileArg | null, addr: number, len: number, flags: number): number {
    if (len > this.taskSize) return -ENOMEM;
    let r: number;
    // Anonymous MAP_SHARED (any type with bit 0) goes through shmem_get_unmapped_area, which, with
    // shmem THP disabled, is the arch allocator; so do files (no THP alignment modelled for them).
    if (f === null && !(flags & MAP_SHARED) && addr === 0 && len % PMD_SIZE === 0) {
      r = this.thpGetUnmappedArea(len, flags);
    } else {
      r = this.archGetUnmappedAreaTopdown(addr, len, flags);
    }
    if (r < 0) return r;
    if (r > this.taskSize - len) return -ENOMEM;
    if (r % PAGE_SIZE !== 0) return -EINVAL;
    if (r < this.mmapMinAddr && !this.capSysRawio) return -EPERM; // security_mmap_addr
    return r;
  }

  /** thp_get_unmapped_area_vmflags for anonymous memory (pgoff 0, no hint): PMD-aligned. */
  private thpGetUnmappedArea(len: number, flags: number): number {
    const padded = this.archGetUnmappedAreaTopdown(0, len + PMD_SIZE, flags);
    if (padded < 0 || padded === 0) return this.archGetUnmappedAreaTopdown(0, len, flags);
    const sub = (PMD_SIZE - (padded % PMD_SIZE)) % PMD_SIZE;
    return sub === 0 ? padded + PMD_SIZE : padded + sub;
  }

  /** arch_get_unmapped_area_topdown (x86-64, 4-level paging: DEFAULT_MAP_WINDOW == TASK_SIZE). */
  private archGetUnmappedAreaTopdown(addr0: number, len: number, flags: number): number {
    if (len > this.taskSize) return -ENOMEM;
    if (flags & MAP_FIXED) return addr0;
    if (!(flags & MAP_32BIT)) {
      let addr = addr0;
      if (addr !== 0) {
        addr -= addr % PAGE_SIZE;
        // mmap_address_hint_valid
        if (addr + len <= this.taskSize) {
          const i = this.firstEndAbove(addr);
          if (i >= this.list.length || addr + len <= this.vmStartGap(this.list.get(i))) return addr;
        }
      }
      const low = flags & MAP_ABOVE4G ? 2 ** 32 : PAGE_SIZE;
      const r = this.unmappedAreaTopdown(len, low, this.mmapBase);
      if (r >= 0) return r;
    }
    return this.archGetUnmappedArea(addr0, len, flags);
  }

  /** arch_get_unmapped_area: the bottom-up allocator (fallback, MAP_32BIT). */
  private archGetUnmappedArea(addr: number, len: number, flags: number): number {
    if (flags & MAP_FIXED) return addr;
    const begin = flags & MAP_32BIT ? 0x40000000 : this.mmapLegacyBase;
    const end = flags & MAP_32BIT ? 0x80000000 : this.taskSize;
    if (len > end) return -ENOMEM;
    if (addr !== 0) {
      addr = Math.ceil(addr / PAGE_SIZE) * PAGE_SIZE;
      const i = this.firstEndAbove(addr);
      if (end - len >= addr && (i >= this.list.length || addr + len <= this.vmStartGap(this.list.get(i))))
        return addr;
    }
    return this.unmappedArea(len, begin, end);
  }

  /** vm_start_gap: a VM_GROWSDOWN VMA keeps stack_guard_gap free below it. */
  private vmStartGap(v: Rec): number {
    if (!(v.flags & VM_GROWSDOWN)) return v.start;
    return Math.max(0, v.start - this.stackGuardGap);
  }

  /** unmapped_area_topdown: the highest gap of `len` bytes in [low, high). */
  private unmappedAreaTopdown(len: number, low: number, high: number): number {
    low = Math.max(low, this.mmapMinAddr);
    for (;;) {
      const n = this.list.length;
      // k: number of VMAs starting below high; the gap above list[k - 1] is the first candidate.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (this.list.get(m).start < high) lo = m + 1;
        else hi = m;
      }
      let found = -1;
      let gapEnd = 0;
      for (let j = lo; j >= 0; j--) {
        const a = j > 0 ? this.list.get(j - 1).end : 0;
        const b = j < n ? this.list.get(j).start : Number.POSITIVE_INFINITY;
        const ge = Math.min(b, high);
        const gs = Math.max(a, low);
        if (ge - gs >= len) {
          found = j;
          gapEnd = ge;
          break;
        }
        if (a <= low) break;
      }
      if (found < 0) return -ENOMEM;
      const next = found < n ? this.list.get(found) : undefined;
      if (next !== undefined && next.flags & VM_GROWSDOWN && this.vmStartGap(next) < gapEnd) {
        high = this.vmStartGap(next);
        continue;
      }
      return gapEnd - len;
    }
  }

  /** unmapped_area: the lowest gap of `len` bytes in [low, high). */
  private unmappedArea(len: number, low: number, high: number): number {
    low = Math.max(low, this.mmapMinAddr);
    for (;;) {
      const n = this.list.length;
      let found = -1;
      let gap = 0;
      for (let j = this.firstEndAbove(low); j <= n; j++) {
        const a = j > 0 ? this.list.get(j - 1).end : 0;
        const b = j < n ? this.list.get(j).start : Number.POSITIVE_INFINITY;
        const gs = Math.max(a, low);
        const ge = Math.min(b, high);
        if (gs >= high) break;
        if (ge - gs >= len) {
          found = j;
          gap = gs;
          break;
        }
      }
      if (found < 0) return -ENOMEM;
      const next = found < n ? this.list.get(found) : undefined;
      if (next !== undefined && next.flags & VM_GROWSDOWN && this.vmStartGap(next) < gap + len - 1) {
        low = next.end;
        continue;
      }
      return gap;
    }
  }

  // ------------------------------------------------------------------ munmap

  munmap(addr: number, len: number): { errno: number; unmapped: Range[] } {
    if (addr % PAGE_SIZE !== 0 || addr > this.taskSize || len > this.taskSize - addr) {
      return { errno: EINVAL, unmapped: [] };
    }
    const end = addr + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
    if (end === addr) return { errno: EINVAL, unmapped: [] };
    const unmapped = this.unmapRange(addr, end);
    return unmapped === null ? { errno: ENOMEM, unmapped: [] } : { errno: 0, unmapped };
  }

  /** Splits the VMAs at the range ends and removes those inside (vms_gather_munmap_vmas).
   * null: ENOMEM, splitting one VMA in two would exceed max_map_count (nothing changed). */
  private unmapRange(start: number, end: number): Range[] | null {
    let i = this.firstEndAbove(start);
    if (i >= this.list.length || this.list.get(i).start >= end) return [];
    if (this.list.get(i).start < start) {
      if (end < this.list.get(i).end && this.mapCount >= this.maxMapCount) return null;
      this.split(i, start, true);
      i++;
    }
    let j = i;
    while (j < this.list.length && this.list.get(j).start < end) {
      if (this.list.get(j).end > end) this.split(j, end, false);
      j++;
    }
    const removed = this.list.splice(i, j - i);
    return removed.map((v) => ({ start: v.start, end: v.end, shared: (v.flags & VM_MAYSHARE) !== 0 }));
  }

  /** __split_vma: the new struct is the lower part if newBelow, else the upper part. */
  private split(i: number, addr: number, newBelow: boolean): void {
    const v = this.list.get(i);
    const lower: Rec = { ...v, end: addr, id: newBelow ? this.nextId++ : v.id };
    const upper: Rec = {
      ...v,
      start: addr,
      pgoff: v.pgoff + (addr - v.start) / PAGE_SIZE,
      id: newBelow ? v.id : this.nextId++,
    };
    this.list.splice(i, 1, lower, upper);
  }

  // ------------------------------------------------------------------ brk

  /**
   * brk(2) (mm/mmap.c): below start_brk, or when the break cannot move, returns the current
   * break unchanged (brk has no errno). Shrinking unmaps [PAGE_ALIGN(brk), PAGE_ALIGN(old brk))
   * and fails if no VMA intersects it; growing needs the range and one page plus
   * stack_guard_gap above it free of other VMAs, and extends the VMA ending at the old break
   * (do_brk_flags, just_expand) or creates an anonymous rw-p VM_ACCOUNT one. RLIMIT_DATA,
   * mlock and overcommit limits are not modelled.
   */
  brk(brk: number): BrkResult {
    const orig = this.brk_;
    const fail: BrkResult = { ret: orig, ok: false, unmapped: [] };
    const startBrk = this.startBrk_;
    if (startBrk === null || brk < startBrk) return fail; // min_brk (brk randomized: start_brk)
    const newbrk = pageAlign64(brk);
    const oldbrk = pageAlign64(orig);
    if (newbrk === oldbrk) {
      this.brk_ = brk;
      return { ret: brk, ok: true, unmapped: [] };
    }
    if (brk <= orig) {
      // Always allow shrinking, if a VMA is there to shrink (vma_find(newbrk, oldbrk)).
      const v = this.list.get(this.firstEndAbove(newbrk));
      if (v === undefined || v.start >= oldbrk) return fail;
      const unmapped = this.unmapRange(newbrk, oldbrk); // do_vmi_align_munmap
      if (unmapped === null) return fail;
      this.brk_ = brk;
      return { ret: brk, ok: true, unmapped };
    }
    // check_brk_limits: get_unmapped_area(NULL, oldbrk, len, 0, MAP_FIXED)
    const len = newbrk - oldbrk;
    if (newbrk === 0 || len > this.taskSize || oldbrk > this.taskSize - len) return fail;
    if (oldbrk < this.mmapMinAddr && !this.capSysRawio) return fail;
    // The next VMA must stay a page (and a stack's guard gap) above the new break.
    const j = this.firstEndAbove(oldbrk);
    const next = this.list.get(j);
    if (
      next !== undefined &&
      next.start < newbrk + PAGE_SIZE + this.stackGuardGap &&
      newbrk + PAGE_SIZE > this.vmStartGap(next)
    )
      return fail;
    // do_brk_flags
    if (this.mapCount > this.maxMapCount) return fail;
    const c: Candidate = {
      start: oldbrk,
      end: newbrk,
      flags: VM_BRK_FLAGS,
      pgoff: oldbrk / PAGE_SIZE,
      fileId: 0,
      anonVma: 0,
      label: null,
    };
    // brkvma = vma_prev_limit(&vmi, start_brk): the VMA below oldbrk if it reaches above start_brk.
    const prev = j > 0 ? this.list.get(j - 1) : undefined;
    if (prev !== undefined && prev.end === oldbrk && prev.end > startBrk && this.canMergeAfter(prev, c)) {
      this.list.set(j - 1, { ...prev, end: newbrk });
    } else {
      this.list.splice(j, 0, {
        start: oldbrk,
        end: newbrk,
        flags: VM_BRK_FLAGS,
        pgoff: oldbrk / PAGE_SIZE,
        anonVma: 0,
        file: null,
        fileId: 0,
        kind: "anon",
        label: null,
        id: this.nextId++,
      });
    }
    this.brk_ = brk;
    return { ret: brk, ok: true, unmapped: [] };
  }

  // ------------------------------------------------------------------ mremap

  /**
   * mremap(2) as mm/mremap.c of Linux 6.17+: shrink in place, grow in place when the space
   * above is free (vma_merge_extend), else move (MREMAP_MAYMOVE) with copy_vma + the page
   * tables + unmapping the source; MREMAP_FIXED unmaps the destination first; MREMAP_DONTUNMAP
   * leaves the source mapped but empty; a MREMAP_FIXED move of unchanged size may span several
   * VMAs (remap_move). The result lists the page-table effects in order (see RemapStep).
   *
   * placeAt: for replaying a recording, where a move that Linux placed itself (no MREMAP_FIXED)
   * went; the decision to move is still the model's. If that range is not free the call fails
   * with ENOMEM and placementConflict, changing nothing.
   */
  mremap(
    addr: number,
    oldLen: number,
    newLen: number,
    flags: number,
    newAddr = 0,
    placeAt?: number,
  ): MremapResult {
    const vrm: Vrm = {
      addr,
      oldLen: pageAlign64(oldLen),
      newLen: pageAlign64(newLen),
      flags,
      newAddr,
      delta: 0,
      type: "none",
      populate: false,
      placeAt,
      steps: [],
      conflict: false,
    };
    const done = (ret: number): MremapResult => ({
      ret,
      steps: vrm.steps,
      populate:
        ret >= 0 && vrm.populate && vrm.newLen > vrm.oldLen
          ? { start: vrm.newAddr + vrm.oldLen, end: vrm.newAddr + vrm.newLen }
          : null,
      ...(vrm.conflict ? { placementConflict: true } : {}),
    });
    const p = this.checkMremapParams(vrm);
    if (p < 0) return done(p);
    // check_map_count_against_split_early: room for two splits by unmapping and two by the move.
    if (this.mapCount + 4 > this.maxMapCount) return done(-ENOMEM);
    if (flags & MREMAP_FIXED && vrm.oldLen === vrm.newLen) return done(this.remapMove(vrm));
    const r = this.checkPrepVma(vrm);
    if (r < 0) return done(r);
    return done(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) ? this.mremapTo(vrm) : this.mremapAt(vrm));
  }

  /** check_mremap_params: what can be checked without looking at the VMAs. 0 or -errno. */
  private checkMremapParams(vrm: Vrm): number {
    const { addr, flags } = vrm;
    if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
    if (addr % PAGE_SIZE !== 0) return -EINVAL;
    if (vrm.newLen === 0) return -EINVAL; // zero, or PAGE_ALIGN wrapped
    if (vrm.newLen > this.taskSize) return -EINVAL;
    if (!(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))) return 0;
    if (vrm.newAddr > this.taskSize - vrm.newLen) return -EINVAL;
    if (vrm.newAddr % PAGE_SIZE !== 0) return -EINVAL;
    if (!(flags & MREMAP_MAYMOVE)) return -EINVAL;
    if (flags & MREMAP_DONTUNMAP && vrm.oldLen !== vrm.newLen) return -EINVAL;
    // vrm_overlaps
    if (addr + vrm.oldLen > vrm.newAddr && vrm.newAddr + vrm.newLen > addr) return -EINVAL;
    return 0;
  }

  /** check_prep_vma for the VMA at vrm.addr. 0 or -errno. */
  private checkPrepVma(vrm: Vrm): number {
    const v = this.findVma(vrm.addr);
    if (v === undefined) return -EFAULT;
    vrm.delta = Math.abs(vrm.oldLen - vrm.newLen);
    vrm.type = vrm.delta === 0 ? "none" : vrm.oldLen > vrm.newLen ? "shrink" : "expand";
    const impliesNew = (vrm.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0;
    if (!impliesNew) vrm.newAddr = vrm.addr;
    if (vrm.type !== "expand" && !impliesNew) return 0; // !vrm_will_map_new
    let oldLen = vrm.oldLen;
    // Duplicating a private mapping with old_len == 0 is refused.
    if (oldLen === 0 && !(v.flags & (VM_SHARED | VM_MAYSHARE))) return -EINVAL;
    if (vrm.flags & MREMAP_DONTUNMAP && v.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EINVAL;
    if (vrm.type === "shrink") oldLen = vrm.newLen; // the cut tail may cross VMA boundaries
    if (oldLen > v.end - vrm.addr) return -EFAULT;
    if (vrm.newLen === oldLen) return 0;
    if (v.flags & VM_LOCKED) vrm.populate = true;
    if (v.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
    return 0; // mlock_future_ok and may_expand_vm (rlimits) are not modelled
  }

  /** mremap_at: resize without a required new address. */
  private mremapAt(vrm: Vrm): number {
    if (vrm.type === "none") return vrm.addr;
    if (vrm.type === "shrink") {
      const r = this.shrinkVma(vrm);
      return r < 0 ? r : vrm.addr;
    }
    // expand_vma
    const v = this.findVma(vrm.addr)!;
    if (v.end - vrm.addr === vrm.oldLen && this.vmaExpandable(v, vrm.delta)) {
      // expand_vma_in_place: vma_merge_extend merges [vm_end, vm_end + delta) into the VMA (and
      // into the next one when it becomes adjacent and compatible).
      const i = this.firstEndAbove(vrm.addr);
      const c: Candidate = {
        start: v.end,
        end: v.end + vrm.delta,
        flags: v.flags,
        pgoff: v.pgoff + pages(v),
        fileId: v.fileId,
        anonVma: v.anonVma,
        label: v.label,
      };
      if (this.mergeNewRange(i + 1, c) < 0) return -ENOMEM;
      return vrm.addr;
    }
    if (!(vrm.flags & MREMAP_MAYMOVE)) return -ENOMEM;
    const r = this.vrmSetNewAddr(vrm);
    if (r < 0) return r;
    return this.moveVma(vrm);
  }

  /** mremap_to: MREMAP_FIXED or MREMAP_DONTUNMAP. */
  private mremapTo(vrm: Vrm): number {
    if (vrm.flags & MREMAP_FIXED) {
      const u = this.munmap(vrm.newAddr, vrm.newLen);
      if (u.unmapped.length > 0) vrm.steps.push({ kind: "zap", ranges: u.unmapped });
      if (u.errno !== 0) return -u.errno;
      if (this.findVma(vrm.addr) === undefined) return -EFAULT;
    }
    if (vrm.type === "shrink") {
      const r = this.shrinkVma(vrm);
      if (r < 0) return r;
      vrm.oldLen = vrm.newLen;
    }
    const r = this.vrmSetNewAddr(vrm);
    if (r < 0) return r;
    return this.moveVma(vrm);
  }

  /** remap_move: MREMAP_FIXED without resizing moves every VMA in the range, keeping the gaps. */
  private remapMove(vrm: Vrm): number {
    const start = vrm.addr;
    const end = vrm.addr + vrm.oldLen;
    const pieces = this.vmasIn(start, end).map((v) => [v.start, v.end]);
    let res = -EFAULT;
    let seen = false;
    let target = vrm.newAddr;
    let lastEnd = 0;
    for (const [vs, ve] of pieces) {
      const a = Math.max(vs, start);
      const len = Math.min(end, ve) - a;
      if (!seen && start < vs) return -EFAULT; // no gap allowed at the start
      const offset = seen ? vs - lastEnd : 0;
      lastEnd = ve;
      const sub: Vrm = {
        ...vrm,
        addr: a,
        oldLen: len,
        newLen: len,
        newAddr: target + offset,
        populate: false,
      };
      let r = this.checkPrepVma(sub);
      if (r === 0) r = this.mremapTo(sub);
      if (r < 0) return r;
      if (!seen) res = r;
      seen = true;
      target = r + len;
    }
    return res;
  }

  /** shrink_vma: unmap [addr + new_len, addr + old_len); the VMA at addr must remain. */
  private shrinkVma(vrm: Vrm): number {
    const u = this.munmap(vrm.addr + vrm.newLen, vrm.delta);
    if (u.unmapped.length > 0) vrm.steps.push({ kind: "zap", ranges: u.unmapped });
    if (u.errno !== 0) return -u.errno;
    return this.findVma(vrm.addr) === undefined ? -EFAULT : 0;
  }

  /** vma_expandable: [vm_end, vm_end + delta) is free and the grown VMA is a valid MAP_FIXED range. */
  private vmaExpandable(v: Rec, delta: number): boolean {
    const end = v.end + delta;
    const i = this.firstEndAbove(v.end);
    if (i < this.list.length && this.list.get(i).start < end) return false;
    return this.getUnmappedArea(null, v.start, end - v.start, MAP_FIXED) >= 0;
  }

  /** vrm_set_new_addr: get_unmapped_area for the moved VMA (or the replay's placeAt). */
  private vrmSetNewAddr(vrm: Vrm): number {
    const v = this.findVma(vrm.addr)!;
    if (vrm.placeAt !== undefined && !(vrm.flags & MREMAP_FIXED)) {
      const i = this.firstEndAbove(vrm.placeAt);
      if (
        vrm.placeAt % PAGE_SIZE !== 0 ||
        vrm.placeAt + vrm.newLen > this.taskSize ||
        (i < this.list.length && this.list.get(i).start < vrm.placeAt + vrm.newLen)
      ) {
        vrm.conflict = true;
        return -ENOMEM;
      }
      vrm.newAddr = vrm.placeAt;
      return 0;
    }
    const file: FileArg | null =
      v.kind === "file" || v.kind === "shmem" ? { name: v.file ?? "", offsetPages: 0 } : null;
    const mapFlags = (vrm.flags & MREMAP_FIXED ? MAP_FIXED : 0) | (v.flags & VM_MAYSHARE ? MAP_SHARED : 0);
    const hint = vrm.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) ? vrm.newAddr : 0;
    const r = this.getUnmappedArea(file, hint, vrm.newLen, mapFlags);
    if (r < 0) return r;
    vrm.newAddr = r;
    return 0;
  }

  /** move_vma: copy_vma at the new address, move the page tables, unmap (or empty) the source. */
  private moveVma(vrm: Vrm): number {
    // prep_move_vma: check_map_count_against_split
    if (this.mapCount + 2 > this.maxMapCount) return -ENOMEM;
    const v = this.findVma(vrm.addr)!;
    const srcStart = v.start;
    const srcEnd = v.end;
    // copy_vma: an anonymous VMA that was never faulted takes the pgoff of its new place.
    let pgoff = v.pgoff + (vrm.addr - v.start) / PAGE_SIZE;
    if (v.kind === "anon" && v.anonVma === 0) pgoff = vrm.newAddr / PAGE_SIZE;
    const to = vrm.newAddr;
    const c: Candidate = {
      start: to,
      end: to + vrm.newLen,
      flags: v.flags,
      pgoff,
      fileId: v.fileId,
      anonVma: v.anonVma,
      label: v.label,
    };
    const i = this.firstEndAbove(to);
    if (this.mergeNewRange(i, c) < 0) {
      this.list.splice(i, 0, { ...v, start: to, end: to + vrm.newLen, pgoff, id: this.nextId++ });
    }
    vrm.steps.push({ kind: "move", from: vrm.addr, to, len: vrm.oldLen });
    if (vrm.flags & MREMAP_DONTUNMAP) {
      // dontunmap_complete: the source keeps its range but loses VM_LOCKED, and its anon_vma
      // when all of it moved.
      const k = this.firstEndAbove(vrm.addr);
      const s = this.list.get(k);
      const whole = vrm.addr === srcStart && vrm.addr + vrm.oldLen === srcEnd && s.start === srcStart;
      this.list.set(k, { ...s, flags: s.flags & ~VM_LOCKED_MASK, anonVma: whole ? 0 : s.anonVma });
    } else {
      // unmap_source_vma (VM_ACCOUNT is cleared for the unmap and restored on what remains);
      // with old_len 0 (duplicating a shared mapping) do_vmi_munmap refuses the empty range.
      const u = vrm.oldLen === 0 ? [] : this.unmapRange(vrm.addr, vrm.addr + vrm.oldLen);
      if (u !== null && u.length > 0) vrm.steps.push({ kind: "zap", ranges: u });
    }
    return to;
  }

  // ------------------------------------------------------------------ mprotect

  mprotect(addr: number, len: number, prot: number): { errno: number; changes: ProtChange[] } {
    const changes: ProtChange[] = [];
    const out = (errno: number) => ({ errno, changes });
    const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
    if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) return out(EINVAL);
    let start = addr;
    if (start % PAGE_SIZE !== 0) return out(EINVAL);
    if (len === 0) return out(0);
    const alen = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
    const end = start + alen;
    if (end >= TWO64) return out(ENOMEM); // end wrapped
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) return out(EINVAL); // arch_validate_prot

    let idx = this.firstEndAbove(start);
    if (idx >= this.list.length || this.list.get(idx).start >= end) return out(ENOMEM);
    const first = this.list.get(idx);
    if (grows & PROT_GROWSDOWN) {
      start = first.start;
      if (!(first.flags & VM_GROWSDOWN)) return out(EINVAL);
    } else {
      if (first.start > start) return out(ENOMEM);
      if (grows & PROT_GROWSUP) return out(EINVAL); // no VM_GROWSUP on x86
    }

    const newProt = protToVm(prot);
    let tmp = first.start;
    let nstart = start;
    let errno = 0;
    while (idx < this.list.length && this.list.get(idx).start < end) {
      const v = this.list.get(idx);
      if (v.start !== tmp) {
        errno = ENOMEM;
        break;
      }
      const newflags = newProt | (v.flags & ~VM_ACCESS_FLAGS);
      // newflags >> 4 puts VM_MAY* where VM_* are
      if (newflags & ~(newflags >> 4) & VM_ACCESS_FLAGS) {
        errno = EACCES;
        break;
      }
      tmp = Math.min(v.end, end);
      const r = this.mprotectFixup(idx, nstart, tmp, newflags, changes);
      if (r < 0) {
        errno = -r;
        break;
      }
      tmp = this.list.get(r).end;
      nstart = tmp;
      idx = r + 1;
    }
    if (errno === 0 && tmp < end) errno = ENOMEM;
    return out(errno);
  }

  /** mprotect_fixup for list[i] over [start, end); returns the index of the resulting VMA, or
   * -errno. */
  private mprotectFixup(
    i: number,
    start: number,
    end: number,
    newflags: number,
    changes: ProtChange[],
  ): number {
    const v = this.list.get(i);
    const oldflags = v.flags;
    if (newflags === oldflags) return i;
    if (newflags & VM_WRITE) {
      // A private mapping becoming writable for the first time is charged (VM_ACCOUNT).
      if (!(oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)))
        newflags |= VM_ACCOUNT;
    } else if (oldflags & VM_ACCOUNT && v.kind === "anon" && v.anonVma === 0) {
      // Nothing faulted in yet: the charge can be dropped.
      newflags &= ~VM_ACCOUNT;
    }
    const r = this.vmaModify(i, start, end, newflags);
    if (r < 0) return r;
    if (this.list.get(r).flags !== newflags) this.list.set(r, { ...this.list.get(r), flags: newflags });
    // A locked private VMA becoming writable is populated (COW broken): that assigns an anon_vma.
    if ((oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED && newflags & VM_WRITE) {
      this.setAnonVma(this.list.get(r).start);
    }
    const res = this.list.get(r);
    changes.push({ start, end, vma: res, tryChangeWritable: this.wantsManualPteWriteUpgrade(res) });
    return r;
  }

  /** vma_wants_manual_pte_write_upgrade: private writable, or shared needing write-notify. */
  private wantsManualPteWriteUpgrade(v: Rec): boolean {
    if (v.flags & VM_SHARED) return (v.flags & VM_WRITE) !== 0 && v.kind === "file"; // shmem needs no writenotify
    return (v.flags & VM_WRITE) !== 0;
  }

  /** vma_modify: merge the changed range with a neighbour, else split it out (split_vma fails
   * with ENOMEM at max_map_count; a first split that succeeded stays). Index or -errno. */
  private vmaModify(i: number, start: number, end: number, newflags: number): number {
    const v = this.list.get(i);
    const c: Candidate = {
      start,
      end,
      flags: newflags,
      pgoff: v.pgoff + (start - v.start) / PAGE_SIZE,
      fileId: v.fileId,
      anonVma: v.anonVma,
      label: v.label,
    };
    const merged = this.mergeExistingRange(i, c);
    if (merged >= 0) return merged;
    if (v.start < start) {
      if (this.mapCount >= this.maxMapCount) return -ENOMEM;
      this.split(i, start, true);
      i++;
    }
    if (this.list.get(i).end > end) {
      if (this.mapCount >= this.maxMapCount) return -ENOMEM;
      this.split(i, end, false);
    }
    return i;
  }

  /** vma_merge_existing_range: list[i] is changing over [c.start, c.end). */
  private mergeExistingRange(i: number, c: Candidate): number {
    const v = this.list.get(i);
    if (c.flags & VM_SPECIAL) return -1;
    const leftSide = c.start === v.start;
    const rightSide = c.end === v.end;
    if (!leftSide && !rightSide) return -1;
    const prev = i > 0 ? this.list.get(i - 1) : undefined;
    const next = i + 1 < this.list.length ? this.list.get(i + 1) : undefined;
    const left = leftSide && prev !== undefined && prev.end === c.start && this.canMergeAfter(prev, c);
    const right =
      rightSide &&
      next !== undefined &&
      next.start === c.end &&
      this.canMergeBefore(next, c) &&
      (!left || this.anonOk(prev!.anonVma, next.anonVma));
    if (!left && !right) return -1;
    const deleteVma = leftSide && rightSide;
    if (left && right) {
      // prev absorbs vma and next
      const anon = prev!.anonVma || (next!.anonVma ? next!.anonVma : v.anonVma);
      this.list.set(i - 1, { ...prev!, end: next!.end, anonVma: anon });
      this.list.splice(i, 2);
      return i - 1;
    }
    if (left) {
      this.list.set(i - 1, { ...prev!, end: c.end, anonVma: prev!.anonVma || v.anonVma });
      if (deleteVma) this.list.splice(i, 1);
      else this.list.set(i, { ...v, start: c.end, pgoff: v.pgoff + (c.end - v.start) / PAGE_SIZE });
      return i - 1;
    }
    // right: next absorbs the range
    const n = next!;
    const moved = (c.end - c.start) / PAGE_SIZE;
    const grown: Rec = { ...n, start: c.start, pgoff: n.pgoff - moved, anonVma: n.anonVma || v.anonVma };
    if (deleteVma) {
      this.list.splice(i, 2, grown);
      return i;
    }
    this.list.set(i, { ...v, end: c.start });
    this.list.set(i + 1, grown);
    return i + 1;
  }

  // ------------------------------------------------------------------ faults

  /**
   * expand_downwards: a fault at `addr` below a VM_GROWSDOWN VMA grows it down to addr's page
   * (a stack growing). Refused, as Linux does, when the VMA above is not growable or when an
   * accessible VMA below (not itself a stack) would come closer than stack_guard_gap. Returns
   * whether the VMA grew (or already covered addr).
   */
  expandDownwards(addr: number): boolean {
    const a = addr - (addr % PAGE_SIZE);
    const i = this.firstEndAbove(a);
    const v = this.list.get(i);
    if (v === undefined || !(v.flags & VM_GROWSDOWN)) return false;
    if (v.start <= a) return true;
    if (a < this.mmapMinAddr) return false;
    const prev = i > 0 ? this.list.get(i - 1) : undefined;
    if (
      prev !== undefined &&
      !(prev.flags & VM_GROWSDOWN) &&
      prev.flags & VM_ACCESS_FLAGS &&
      a - prev.end < this.stackGuardGap
    )
      return false;
    if (prev !== undefined && prev.end > a) return false;
    const grown = (v.start - a) / PAGE_SIZE;
    this.list.set(i, { ...v, start: a, pgoff: v.pgoff - grown });
    return true;
  }

  /**
   * anon_vma_prepare for the VMA containing addr (first write fault in a private VMA): reuses a
   * neighbour's anon_vma when find_mergeable_anon_vma allows (so later mprotects can re-merge),
   * else allocates a new one. No-op for shared VMAs or a VMA that already has one.
   */
  setAnonVma(addr: number): void {
    const i = this.firstEndAbove(addr);
    const v = this.list.get(i);
    if (v === undefined || v.start > addr || v.anonVma !== 0 || v.flags & VM_SHARED) return;
    let anon = 0;
    const next = this.list.get(i + 1);
    if (next !== undefined && next.anonVma !== 0 && this.anonVmaCompatible(v, next)) anon = next.anonVma;
    const prev = i > 0 ? this.list.get(i - 1) : undefined;
    if (anon === 0 && prev !== undefined && prev.anonVma !== 0 && this.anonVmaCompatible(prev, v)) {
      anon = prev.anonVma;
    }
    if (anon === 0) anon = this.nextAnonVma++;
    this.list.set(i, { ...v, anonVma: anon });
  }

  /** anon_vma_compatible: adjacent, same object, flags equal but for access bits, linear pgoff. */
  private anonVmaCompatible(a: Rec, b: Rec): boolean {
    return (
      a.end === b.start &&
      a.fileId === b.fileId &&
      ((a.flags ^ b.flags) & ~VM_ACCESS_FLAGS) === 0 &&
      b.pgoff === a.pgoff + (b.start - a.start) / PAGE_SIZE
    );
  }

  // ------------------------------------------------------------------ helpers

  /** Index of the first VMA with end > addr (find_vma), or list.length. */
  private firstEndAbove(addr: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.list.get(m).end > addr) hi = m;
      else lo = m + 1;
    }
    return lo;
  }

  private fileIdFor(name: string): number {
    let id = this.fileIds.get(name);
    if (id === undefined) {
      id = this.nextFileId++;
      this.fileIds.set(name, id);
    }
    return id;
  }

  private isShmemName(name: string): boolean {
    return (
      name === SHMEM_ZERO ||
      name.startsWith("/memfd:") ||
      name.startsWith("/dev/shm/") ||
      name.startsWith("/SYSV")
    );
  }
}

/** "rwxp"-style permissions of VM flags, as /proc/PID/maps prints them. */
export function vmPerms(flags: number): string {
  return `${flags & VM_READ ? "r" : "-"}${flags & VM_WRITE ? "w" : "-"}${flags & VM_EXEC ? "x" : "-"}${flags & VM_MAYSHARE ? "s" : "p"}`;
}
