// The architecture layer: what generic mm code (and the machine) may know about an
// architecture, mirroring Linux's split between mm/ and arch/*/include/asm/pgtable.h.
//
// Everything architecture-specific lives behind these interfaces: the PTE format and its
// printing, the protection map, the kernel's asm/pgtable.h helpers (written against abstract
// step primitives so that every memory access is one schedulable step), TLB maintenance, and
// the hardware page walker with its Access/Dirty rules. src/arch/arm64/ implements them for
// arm64; the x86-64 implementation moves here from src/machine/ and src/kernel/ once the core
// rework that owns those files has landed (see docs/ARCH.md).

/**
 * A page-table entry packed into a double without loss (each architecture documents its
 * packing: 64-bit descriptors do not fit a double, so high flag bits are packed down and
 * physical addresses are limited to 32 bits). Branded so raw numbers do not slip in.
 */
export type pte_t = number & { readonly __pte: unique symbol };

/** A handle to one PTE slot (table slot * 512 + index): Linux's `pte_t *`. */
export type ptep_t = number;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PTRS_PER_PTE = 512;

export type ArchName = "x86-64" | "arm64";

/**
 * Software memory operations on PTEs by the CPU executing kernel code, each one atomic and one
 * schedulable step (the checker may run hardware steps between any two of them). The x86
 * backends already use exactly this shape (BackendContext.read/write/xchg/cmpxchg).
 */
export interface PteStepOps {
  /** READ_ONCE(*ptep). */
  read(ptep: ptep_t): pte_t;
  /** WRITE_ONCE(*ptep, v). */
  write(ptep: ptep_t, v: pte_t): void;
  /** xchg_relaxed: atomically store `v`, return the previous value. */
  xchg(ptep: ptep_t, v: pte_t): pte_t;
  /** cmpxchg_relaxed: store `v` iff the slot holds `expect`; returns the value found. */
  cmpxchg(ptep: ptep_t, expect: pte_t, v: pte_t): pte_t;
}

/**
 * The PTE format and the pure asm/pgtable.h helpers (no memory access): what generic mm code
 * uses to build, inspect and change entries.
 */
export interface ArchPteFormat {
  readonly arch: ArchName;
  /** Entries are all-zero when empty (pte_none). */
  pte_none(v: pte_t): boolean;
  /** Present to software (valid, or PROT_NONE). */
  pte_present(v: pte_t): boolean;
  /** Present to software but not to hardware (NUMA hinting / PROT_NONE encoding). */
  pte_protnone(v: pte_t): boolean;
  /** Valid to the hardware walker. */
  pte_valid(v: pte_t): boolean;
  pte_pfn(v: pte_t): number;
  /** An entry mapping `pfn` with protection `prot` (a pgprot value of this architecture). */
  pfn_pte(pfn: number, prot: number): pte_t;
  pte_dirty(v: pte_t): boolean;
  pte_young(v: pte_t): boolean;
  pte_write(v: pte_t): boolean;
  /** User-executable. */
  pte_user_exec(v: pte_t): boolean;
  pte_special(v: pte_t): boolean;
  pte_mkwrite(v: pte_t): pte_t;
  pte_wrprotect(v: pte_t): pte_t;
  pte_mkdirty(v: pte_t): pte_t;
  pte_mkclean(v: pte_t): pte_t;
  pte_mkyoung(v: pte_t): pte_t;
  pte_mkold(v: pte_t): pte_t;
  pte_mkspecial(v: pte_t): pte_t;
  /**
   * Soft-dirty (CONFIG_HAVE_ARCH_SOFT_DIRTY): whether the entry is soft-dirty, and the entry
   * without it. Absent on architectures without soft-dirty tracking (clear_refs then does nothing).
   */
  pte_soft_dirty?(v: pte_t): boolean;
  pte_clear_soft_dirty?(v: pte_t): pte_t;
  pte_modify(v: pte_t, newprot: number): pte_t;
  /** pte_advance_pfn(v, nr). */
  pte_advance_pfn(v: pte_t, nr: number): pte_t;
  /** Does changing a present entry from `old` to `nw` require a TLB invalidation? */
  pte_needs_flush(old: pte_t, nw: pte_t): boolean;
  /** vm_get_page_prot: VMA flags (VM_READ|VM_WRITE|VM_EXEC|VM_SHARED) -> pgprot. */
  vm_get_page_prot(vmFlags: number): number;
  /** The real 64-bit layout as 16 hex digits. */
  pteToHex(v: pte_t): string;
  /** Parse 16 hex digits of a real 64-bit entry; undefined if it does not fit the packing. */
  pteFromHex(s: string): pte_t | undefined;
  /** One line naming every set field, for timelines ("oa 0x1234 VALID AF RDONLY DBM ..."). */
  pteDescribe(v: pte_t): string;
}

/** Kinds of user access the walker serves. */
export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_EXEC = 2;

/**
 * The page-table memory the hardware walker reads and updates. Hardware updates (A/D) are
 * atomic read-modify-writes of one descriptor; the walker makes them with `hwCmpxchg` inside
 * one atomic hardware step.
 */
export interface DescriptorMemory {
  /** The value in a slot, without side effects. */
  peek(ptep: ptep_t): pte_t;
  /** Hardware's atomic compare-and-swap on a descriptor; returns the value found. */
  hwCmpxchg(ptep: ptep_t, expect: pte_t, v: pte_t): pte_t;
  /** The slot of entry `idx` of the table in frame `pfn`, or -1 if that frame is no table. */
  slot(pfn: number, idx: number): ptep_t;
}

/** One PTE bit by position, as timelines and the viewer draw it (Linux's names). */
export interface PteBitName {
  readonly bit: number;
  readonly name: string;
  readonly title: string;
}

/**
 * Everything generic mm code (src/kernel, the oracle, state keys and timelines) may know about
 * an architecture: the PTE format and its helpers, plus the few arch hooks Linux's mm/ calls
 * (access_error of the fault path, the table-entry flags pte_alloc installs) and what the
 * checker's oracle and printing need (which changes the hardware may make on its own, which
 * user access an entry grants, TLB entry flags as text). One object per architecture.
 */
export interface ArchMm extends ArchPteFormat {
  /** Flags of the table entry pte_alloc installs (x86 _PAGE_TABLE; arm64 PMD_TYPE_TABLE). */
  readonly tableFlags: number;
  /** PTE bits by position, for timelines and the viewer. */
  readonly pteBits: readonly PteBitName[];
  /** The fault (the machine's per-CPU fault record) was caused by a write: FAULT_FLAG_WRITE. */
  fault_is_write(err: number): boolean;
  /** access_error: the VMA's flags forbid the access that faulted (the fault is a SIGSEGV). */
  access_error(err: number, vmFlags: number): boolean;
  /** A fault the kernel cannot resolve (it kills the task), named, or null for an ordinary one. */
  fault_fatal(err: number): string | null;
  /** The fault record of a user access of `kind` (ACCESS_*) to an empty entry. */
  fault_error(kind: number): number;
  /**
   * `after` differs from `before` by no more than the hardware's own updates (Access/Dirty
   * setting) and software aging (clearing the access flag): what an entry outside a syscall's
   * range may undergo while the syscall runs.
   */
  pte_hw_update_only(before: pte_t, after: pte_t): boolean;
  /** The two entries grant the same user access (valid, PROT_NONE, user, execute). */
  pte_same_access(a: pte_t, b: pte_t): boolean;
  /** A TLB entry's cached flags (as the machine's TLB of this architecture holds them) as text. */
  tlb_flags_describe(flags: number): string;
  /** A TLB entry with these flags lets writes complete without a walk. */
  tlb_writable(flags: number): boolean;
}
