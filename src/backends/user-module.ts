// A user's backend module (its exports) turned into a guarded BackendModule: the checks of the
// exported object's documented fields, then the guard (src/backends/guard.ts). Pure, so the CLI
// (which imports the module from a path) and the browser playground (from the module's text)
// accept and refuse exactly the same modules.
import type { BackendModule } from "../kernel/pvops.js";
import { type GuardOptions, guardBackend } from "./guard.js";

/** The exported backend is not what the interface documents: the user's mistake. */
export class UserModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserModuleError";
  }
}

/** The backend `mod` exports (default or `backend`), checked and guarded; `spec` names it. */
export function userBackendFromModule(
  mod: Record<string, unknown>,
  spec: string,
  opts: GuardOptions = {},
): BackendModule {
  const b = (mod.default ?? mod.backend) as Partial<BackendModule> | undefined;
  if (b === undefined || b === null || typeof b !== "object")
    throw new UserModuleError(
      `${spec}: the module exports no backend (export default { name, description, correct, create })`,
    );
  for (const [k, t] of [
    ["name", "string"],
    ["create", "function"],
  ] as const)
    if (typeof b[k] !== t) throw new UserModuleError(`${spec}: the exported backend's "${k}" must be a ${t}`);
  for (const [k, t] of [
    ["description", "string"],
    ["correct", "boolean"],
    ["stateless", "boolean"],
  ] as const)
    if (b[k] !== undefined && typeof b[k] !== t)
      throw new UserModuleError(`${spec}: the exported backend's "${k}" must be a ${t}`);
  if (b.arch !== undefined && b.arch !== "x86-64" && b.arch !== "arm64")
    throw new UserModuleError(
      `${spec}: the exported backend's "arch" must be "x86-64" or "arm64", got ${JSON.stringify(b.arch)}`,
    );
  const schema = b.optionsSchema as { safeParse?: unknown } | undefined;
  if (schema !== undefined && (schema === null || typeof schema.safeParse !== "function"))
    throw new UserModuleError(`${spec}: the exported backend's "optionsSchema" must be a zod schema`);
  // Every documented field is honoured; the operations run behind the guard (user mistakes are
  // the user's).
  return guardBackend(
    {
      name: b.name!,
      description: b.description ?? `user backend from ${spec}`,
      correct: b.correct !== false,
      create: b.create!,
      ...(b.arch === undefined ? {} : { arch: b.arch }),
      ...(b.stateless === undefined ? {} : { stateless: b.stateless }),
      ...(b.optionsSchema === undefined ? {} : { optionsSchema: b.optionsSchema }),
    },
    spec,
    opts,
  );
}
