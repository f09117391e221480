// `ptesim replay LOG`: replay a program's memory system calls recorded with
// `strace -f -e trace=memory -o LOG program` on every backend (or one), checking each call's
// outcome against the recorded one. The typed stage; its printer is in report-replay.ts.

import { closeSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { allBackends } from "../backends/registry.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { CostOverrides } from "../sim/costs.js";
import { StraceParser } from "../strace/parse.js";
import {
  DEFAULT_POPULATE,
  POPULATE_HELP,
  POPULATE_POLICIES,
  type PopulatePolicy,
  Replayer,
  type ReplayProgress,
  type ReplayResult,
} from "../strace/replay.js";
import { resolveBackend } from "./commands.js";
import { EXIT_OK, EXIT_VIOLATION, PtesimError } from "./errors.js";
import { STDIN, stdinToFile } from "./files.js";

export interface ReplayCommandOptions {
  /** The strace log. */
  file: string;
  /** One backend (name or module path); default: every built-in backend. */
  backend?: string;
  /** Populate policy name (see POPULATE_POLICIES); default DEFAULT_POPULATE ("evidence" when
   * the log has page-fault lines). */
  populate?: string;
  /** Show each address space's final VMA list. */
  maps?: boolean;
  /** Cycle weights (from a cost table file, --costs). */
  costs?: CostOverrides;
  /** vm.mmap_min_addr of the recording machine (default 65536, lowered to what the log shows). */
  mmapMinAddr?: number;
  /** vm.max_map_count of the recording machine (default 65530). */
  maxMapCount?: number;
  /** VMAs a program has before its first recorded call (default 12). */
  unmodelledVmas?: number;
  /** Progress lines (default: to stderr every 2 s on a terminal, rewritten in place; every 5 s
   * in a log). */
  onProgress?: (p: ReplayProgress & { elapsedMs: number; bytes: number; totalBytes: number }) => void;
  /** Polled between lines (every few thousand): true stops reading; the result covers the lines read. */
  shouldStop?: () => boolean;
}

export interface ReplayOutcome {
  file: string;
  maps: boolean;
  /** Whether the populate policy was chosen with --populate (else the default). */
  populateChosen: boolean;
  result: ReplayResult;
  /** Stopped by Ctrl-C after this line: the result covers the log up to it. */
  interrupted: { line: number } | null;
}

function defaultProgress(): NonNullable<ReplayCommandOptions["onProgress"]> {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return (p) => {
    if (p.elapsedMs - last < (tty ? 2000 : 5000)) return;
    last = p.elapsedMs;
    const pct = p.totalBytes > 0 ? ` (${Math.round((p.bytes * 100) / p.totalBytes)}%)` : "";
    // Written synchronously: the command may run in a worker thread (supervise.ts) that does
    // not return to its event loop until the replay ends, which would hold back stream writes.
    writeSync(
      2,
      `${tty ? "\r" : ""}  replay: line ${p.line}${pct}, ${p.records} calls, ${p.spaces} address spaces (${p.liveSpaces} live), ${(p.elapsedMs / 1000).toFixed(0)} s${tty ? "   " : "\n"}`,
    );
  };
}

/** Lines between two polls of shouldStop. */
const STOP_POLL_LINES = 4096;

/**
 * Read `file` in chunks and hand its lines to `push` (the last flagged when it had no newline).
 * Returns the number of the last line handed over when `stop` ended the reading early, else null.
 */
function forEachLine(
  file: string,
  push: (line: string, last: boolean) => void,
  onBytes: (n: number) => void,
  stop: () => boolean,
): number | null {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    const decoder = new TextDecoder("utf-8");
    let carry = "";
    let total = 0;
    let lines = 0;
    for (;;) {
      if (stop()) return lines;
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      const text = carry + decoder.decode(buf.subarray(0, n), { stream: true });
      let at = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", at)) {
        push(text.slice(at, nl), false);
        at = nl + 1;
        if (++lines % STOP_POLL_LINES === 0 && stop()) return lines;
      }
      carry = text.slice(at);
      onBytes(total);
    }
    carry += decoder.decode();
    if (carry !== "") push(carry, true);
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Whether the log has page-fault lines (`perf trace -F` form), by a byte search. */
function hasFaultLines(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    const needle = Buffer.from("fault [");
    let tail = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return false;
      const chunk = Buffer.concat([tail, buf.subarray(0, n)]);
      if (chunk.indexOf(needle) >= 0) return true;
      tail = chunk.subarray(Math.max(0, chunk.length - needle.length));
    }
  } finally {
    closeSync(fd);
  }
}

/** A log read from standard input is kept in a temporary file of at most this size. */
const STDIN_LOG_LIMIT = 256 * 1024 * 1024;

export async function replayCommand(opts: ReplayCommandOptions): Promise<ReplayOutcome> {
  // "-": standard input, saved to a temporary file (the log is read twice); reported as "-".
  if (opts.file !== STDIN) return replayFile(opts);
  const saved = stdinToFile(STDIN_LOG_LIMIT);
  try {
    const o = await replayFile({ ...opts, file: saved.path });
    return { ...o, file: STDIN };
  } finally {
    saved.cleanup();
  }
}

async function replayFile(opts: ReplayCommandOptions): Promise<ReplayOutcome> {
  const policy = opts.populate ?? DEFAULT_POPULATE;
  if (!(POPULATE_POLICIES as readonly string[]).includes(policy))
    throw new PtesimError(
      "usage",
      `--populate is one of ${POPULATE_POLICIES.join(", ")}; got "${policy}"`,
      POPULATE_POLICIES.map((p) => `  ${p.padEnd(6)} ${POPULATE_HELP[p]}`),
    );
  let backends: BackendModule[];
  if (opts.backend === undefined) backends = allBackends();
  else {
    const named = allBackends().filter((b) => b.name === opts.backend);
    backends = named.length > 0 ? named : [await resolveBackend(opts.backend)];
  }
  let totalBytes: number;
  try {
    const st = statSync(opts.file);
    if (!st.isFile()) throw new PtesimError("io", `${opts.file}: not a regular file`);
    totalBytes = st.size;
  } catch (e) {
    if (e instanceof PtesimError) throw e;
    throw new PtesimError(
      "io",
      `${opts.file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const progress = opts.onProgress ?? defaultProgress();
  const faultEvidence = opts.populate === undefined && hasFaultLines(opts.file);
  const t0 = performance.now();
  let bytes = 0;
  const replayer = new Replayer({
    backends,
    ...(opts.populate === undefined ? { faultEvidence } : { populate: policy as PopulatePolicy }),
    ...(opts.mmapMinAddr === undefined ? {} : { mmapMinAddr: opts.mmapMinAddr }),
    ...(opts.maxMapCount === undefined ? {} : { maxMapCount: opts.maxMapCount }),
    ...(opts.unmodelledVmas === undefined ? {} : { unmodelledVmas: opts.unmodelledVmas }),
    ...(opts.costs === undefined ? {} : { costs: opts.costs }),
    onProgress: (p) => progress({ ...p, elapsedMs: performance.now() - t0, bytes, totalBytes }),
  });
  const parser = new StraceParser(replayer);
  let readable = 0;
  let stoppedAt: number | null = null;
  try {
    stoppedAt = forEachLine(
      opts.file,
      (line, last) => parser.push(line, last),
      (n) => {
        bytes = n;
      },
      opts.shouldStop ?? (() => false),
    );
  } catch (e) {
    throw new PtesimError(
      "io",
      `${opts.file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  parser.end();
  const result = replayer.finish(parser);
  if (process.stderr.isTTY === true && opts.onProgress === undefined && performance.now() - t0 > 2000)
    writeSync(2, "\n");
  readable = Object.values(result.calls).reduce((a, b) => a + b, 0) + result.exits + result.signals;
  if (readable === 0 && result.malformedCount > 0 && stoppedAt === null)
    throw new PtesimError("io", `${opts.file}: no line of it reads as strace output`, [
      `first: line ${result.malformed[0].line}: ${result.malformed[0].reason}`,
    ]);
  return {
    file: opts.file,
    maps: opts.maps === true,
    populateChosen: opts.populate !== undefined,
    result,
    interrupted: stoppedAt === null ? null : { line: stoppedAt },
  };
}

/**
 * 0 when every replayed call's outcome matched the recording, else 1. A backend meant to be
 * correct that stops the replay (e.g. breaks the transaction contract) also makes it 1; one of
 * the deliberately broken teaching backends doing so is reported but expected.
 */
export function replayExitCode(o: ReplayOutcome): number {
  return o.result.backends.some((b) => b.divergenceCount > 0 || (b.aborted !== null && b.correct))
    ? EXIT_VIOLATION
    : EXIT_OK;
}
