// Compiling the C programs that measure the real kernel (mmops.c, remapops.c, calibrate's
// probes.c): `cc -O2` into a temporary directory removed at exit, once per process and program.
// I/O edge: uses node: modules.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A C program could not be built: no compiler, or the compiler failed. */
export class CompileError extends Error {
  constructor(
    message: string,
    /** True when the compiler itself is missing (`cc` not on PATH). */
    readonly noCompiler: boolean,
  ) {
    super(message);
    this.name = "CompileError";
  }
}

/**
 * The path of a C source shipped in src/<dir>/: next to the compiled module (`moduleUrl`, its
 * import.meta.url) if copied there, else in the source tree (dist/<dir>/ -> src/<dir>/).
 */
export function cSource(moduleUrl: string, dir: string, file: string): string {
  const candidates = [
    fileURLToPath(new URL(`./${file}`, moduleUrl)),
    fileURLToPath(new URL(`../../src/${dir}/${file}`, moduleUrl)),
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new CompileError(`${file} not found (looked at ${candidates.join(", ")})`, false);
}

const cache = new Map<string, string>();

/**
 * Compiles `source` with `cc -O2 [extra flags]` (once per process for the default compiler) and
 * returns the binary's path. `what` prefixes error messages.
 */
export function compileC(
  source: string,
  what: string,
  opts: { cc?: string; flags?: readonly string[] } = {},
): string {
  const cc = opts.cc ?? "cc";
  const flags = opts.flags ?? [];
  const key = `${source}\0${flags.join(" ")}`;
  const hit = cc === "cc" ? cache.get(key) : undefined;
  if (hit !== undefined) return hit;
  const name = basename(source).replace(/\.c$/, "");
  const dir = mkdtempSync(join(tmpdir(), `ptesim-${name}-`));
  const bin = join(dir, name);
  const r = spawnSync(cc, ["-O2", ...flags, "-o", bin, source], { encoding: "utf8" });
  if (r.error !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new CompileError(
      code === "ENOENT"
        ? `${what}: no C compiler: \`${cc}\` is not on PATH (install gcc and libc6-dev, as .ci/run does)`
        : `${what}: cannot run ${cc}: ${r.error.message}`,
      code === "ENOENT",
    );
  }
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new CompileError(`${what}: ${cc} failed on ${source}:\n${r.stderr}`, false);
  }
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  if (cc === "cc") cache.set(key, bin);
  return bin;
}
