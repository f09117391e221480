// Built-in backends by name. User backends are loaded by the CLI from a module path.
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

export function getBackend(name: string): BackendModule | undefined {
  return BUILTIN.get(name);
}
export function backendNames(): string[] {
  return [...BUILTIN.keys()];
}
export function allBackends(): BackendModule[] {
  return [...BUILTIN.values()];
}
