// Built-in backends by name. User backends are loaded by the CLI from a module path.
import { ARM64_BACKEND_MODULES } from "../arch/arm64/modules.js";
import type { ArchName } from "../arch/types.js";
import type { BackendModule } from "../kernel/pvops.js";
import { cmpxchgBackend } from "./cmpxchg.js";
import { naiveBackend } from "./naive.js";
import { nativeBackend } from "./native.js";
import { XEN_BACKENDS } from "./xen.js";

const BUILTIN = new Map<string, BackendModule>();

export function registerBackend(b: BackendModule): void {
  BUILTIN.set(b.name, b);
}
registerBackend(nativeBackend);
registerBackend(naiveBackend);
for (const b of XEN_BACKENDS) registerBackend(b);
registerBackend(cmpxchgBackend);
for (const b of ARM64_BACKEND_MODULES) registerBackend(b);

/** The architecture a backend runs on (x86-64 unless it says otherwise). */
export function backendArch(b: BackendModule): ArchName {
  return b.arch ?? "x86-64";
}

export function getBackend(name: string): BackendModule | undefined {
  return BUILTIN.get(name);
}
/** The built-in backends' names, of one architecture or (undefined) of every one. */
export function backendNames(arch?: ArchName): string[] {
  return allBackends(arch ?? null).map((b) => b.name);
}
/**
 * The built-in backends of one architecture (default x86-64: what the demo, the benchmarks and
 * replay run), or of every architecture when `arch` is null.
 */
export function allBackends(arch: ArchName | null = "x86-64"): BackendModule[] {
  const all = [...BUILTIN.values()];
  return arch === null ? all : all.filter((b) => backendArch(b) === arch);
}
