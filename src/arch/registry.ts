// The architectures ptesim simulates, by the name scenarios and documents use, and the
// arch-helper variants (the real-bug zoo's deliberate bugs in asm/pgtable.h helpers).
import { ARM64_ARCH } from "./arm64/arch.js";
import { pte_mkdirty_sets_hw_writable, pte_wrprotect_drops_hw_dirty, pteModifyWith } from "./arm64/pte.js";
import type { ArchMm, ArchName } from "./types.js";
import { X86_ARCH, x86Arch } from "./x86/format.js";
import { X86_DEFAULT_RULES } from "./x86/pte.js";

export const ARCHES: Readonly<Record<ArchName, ArchMm>> = { "x86-64": X86_ARCH, arm64: ARM64_ARCH };
export const ARCH_NAMES: readonly ArchName[] = ["x86-64", "arm64"];
/** What a scenario without an `arch:` key simulates. */
export const DEFAULT_ARCH: ArchName = "x86-64";

export function archByName(name: ArchName): ArchMm {
  return ARCHES[name];
}

/**
 * Arch-helper variants: one helper of one architecture with a variation point set the other
 * way (each is a parameter of that helper's one definition, never a second copy of it). A
 * scenario selects one with `kernel.archHelper`.
 */
export const ARCH_HELPER_VARIANTS = [
  "x86-chg-mask-without-saved-dirty",
  "arm64-wrprotect-drops-hw-dirty",
  "arm64-mkdirty-sets-hw-writable",
] as const;
export type ArchHelperVariant = (typeof ARCH_HELPER_VARIANTS)[number];

export const ARCH_HELPER_VARIANT_INFO: Readonly<
  Record<ArchHelperVariant, { arch: ArchName; helper: string; what: string }>
> = {
  "x86-chg-mask-without-saved-dirty": {
    arch: "x86-64",
    helper: "pte_modify",
    what: "_PAGE_CHG_MASK without _PAGE_SAVED_DIRTY: pte_modify drops a write-protected entry's saved dirty state (needs the SavedDirty rules)",
  },
  "arm64-wrprotect-drops-hw-dirty": {
    arch: "arm64",
    helper: "pte_wrprotect",
    what: "pte_wrprotect clears write permission without first moving hardware dirty (DBM) into PTE_DIRTY",
  },
  "arm64-mkdirty-sets-hw-writable": {
    arch: "arm64",
    helper: "pte_mkdirty",
    what: "pte_mkdirty clears PTE_RDONLY (hardware dirty, so writable to the MMU) even on a write-protected entry; pte_modify re-applies dirtiness with it",
  },
};

/** What selects an architecture's helpers beyond its name. */
export interface ArchOptions {
  /** x86-64: the SavedDirty rules of Linux 6.6+ (default false). */
  savedDirty?: boolean;
  /** x86-64: X86_FEATURE_USER_SHSTK (implies the SavedDirty rules). */
  userShstk?: boolean;
  /** An arch-helper variant of this architecture, or none. */
  archHelper?: ArchHelperVariant | null;
}

/**
 * The architecture object generic mm code runs on: `archByName(name)` unless the options
 * change a helper. A variant of another architecture is a RangeError (scenarios report it
 * with its place first).
 */
export function archMm(name: ArchName, o: ArchOptions = {}): ArchMm {
  const v = o.archHelper ?? null;
  if (v !== null && ARCH_HELPER_VARIANT_INFO[v].arch !== name)
    throw new RangeError(`arch-helper variant ${v} is for ${ARCH_HELPER_VARIANT_INFO[v].arch}, not ${name}`);
  if (name === "arm64") {
    if (v === "arm64-wrprotect-drops-hw-dirty")
      return { ...ARM64_ARCH, pte_wrprotect: pte_wrprotect_drops_hw_dirty };
    if (v === "arm64-mkdirty-sets-hw-writable")
      return {
        ...ARM64_ARCH,
        pte_mkdirty: pte_mkdirty_sets_hw_writable,
        pte_modify: (pte, prot) => pteModifyWith(pte, prot, pte_mkdirty_sets_hw_writable),
      };
    return ARM64_ARCH;
  }
  const userShstk = o.userShstk ?? X86_DEFAULT_RULES.userShstk;
  return x86Arch({
    savedDirty: (o.savedDirty ?? X86_DEFAULT_RULES.savedDirty) || userShstk,
    userShstk,
    chgMaskSavedDirty: v !== "x86-chg-mask-without-saved-dirty",
  });
}
