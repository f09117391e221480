// The user's files: input from a path or "-" (standard input) with a size limit; output written
// atomically. Errors name the file and the reason (never a stack trace).
import {
  closeSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { type ErrorCode, PtesimError } from "./errors.js";

/** The argument that means standard input. */
export const STDIN = "-";
/** How standard input is named in messages. */
export const STDIN_LABEL = "<stdin>";

/**
 * The text of `path` ("-": standard input, read to its end). Larger than `maxBytes`: a located
 * error (line 1, col 1) with code `tooBigCode`.
 */
export function readInput(path: string, maxBytes: number, tooBigCode: ErrorCode = "io"): string {
  const label = path === STDIN ? STDIN_LABEL : path;
  const tooBig = () => {
    const message = `larger than ${maxBytes} bytes, the limit for this input`;
    return new PtesimError(
      tooBigCode,
      `${label}: ${message}`,
      [],
      [{ file: label, line: 1, col: 1, message }],
    );
  };
  let fd: number;
  try {
    if (path === STDIN) {
      // A fresh descriptor for /dev/stdin reads blocking even if fd 0 was made non-blocking.
      try {
        fd = openSync("/dev/stdin", "r");
      } catch {
        fd = 0;
      }
    } else {
      const st = statSync(path);
      if (st.isDirectory()) throw new PtesimError("io", `${path}: is a directory, not a file`);
      if (st.isFile() && st.size > maxBytes) throw tooBig();
      fd = openSync(path, "r");
    }
  } catch (e) {
    if (e instanceof PtesimError) throw e;
    throw new PtesimError(
      "io",
      `${label}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  // Read in chunks up to the limit (a pipe or a device has no size to check first).
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
        if ((e as NodeJS.ErrnoException).code === "EOF") break;
        throw new PtesimError(
          "io",
          `${label}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooBig();
    }
  } finally {
    if (fd !== 0) closeSync(fd);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function cannotWrite(path: string, e: unknown): PtesimError {
  return new PtesimError(
    "io",
    `${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
  );
}

/** Fail early (before long work) if `path` cannot be an output file: a directory, or no such folder. */
export function checkOutputPath(path: string): void {
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(path);
  } catch {}
  if (st?.isDirectory()) throw new PtesimError("io", `${path}: is a directory; an output file was expected`);
  let dir: ReturnType<typeof statSync>;
  try {
    dir = statSync(dirname(path));
  } catch (e) {
    throw cannotWrite(path, e);
  }
  if (!dir.isDirectory()) throw new PtesimError("io", `${path}: ${dirname(path)} is not a directory`);
}

/**
 * Write `text` to `path` through a temporary file beside it and a rename: a reader never sees
 * a half-written file, and a failure (full disk, a directory in the way) leaves nothing behind.
 */
export function writeFileAtomic(path: string, text: string): void {
  checkOutputPath(path);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, text, { flag: "wx" });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw cannotWrite(path, e);
  }
}

/**
 * Standard input saved to a temporary file (for readers that need a path or read twice), at most
 * `maxBytes`; `cleanup` removes it.
 */
export function stdinToFile(maxBytes: number): { path: string; cleanup: () => void } {
  const text = readInput(STDIN, maxBytes);
  const dir = mkdtempSync(join(tmpdir(), "ptesim-stdin-"));
  const path = join(dir, "stdin");
  writeFileSync(path, text);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
