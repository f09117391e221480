// The architectures ptesim simulates, by the name scenarios and documents use.
import { ARM64_ARCH } from "./arm64/arch.js";
import type { ArchMm, ArchName } from "./types.js";
import { X86_ARCH } from "./x86/format.js";

export const ARCHES: Readonly<Record<ArchName, ArchMm>> = { "x86-64": X86_ARCH, arm64: ARM64_ARCH };
export const ARCH_NAMES: readonly ArchName[] = ["x86-64", "arm64"];
/** What a scenario without an `arch:` key simulates. */
export const DEFAULT_ARCH: ArchName = "x86-64";

export function archByName(name: ArchName): ArchMm {
  return ARCHES[name];
}
