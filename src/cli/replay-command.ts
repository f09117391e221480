// `ptesim replay LOG`: replay a program's memory system calls recorded with
// `strace -f -e trace=memory -o LOG program` on every backend (or one), checking each call's
// outcome against the recorded one. The typed stage (replayCommand) and the printer
// (printReplay) are kept apart like the other commands' (commands.ts / report.ts).

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
import type { Out } from "./report.js";

export const JSON_SCHEMA_REPLAY = "ptesim.replay/2";
/** Divergences printed per backend (all are counted; --json carries the first 200). */
export const PRINTED_DIVERGENCES = 50;

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
}

export interface ReplayOutcome {
  file: string;
  maps: boolean;
  /** Whether the populate policy was chosen with --populate (else the default). */
  populateChosen: boolean;
  result: ReplayResult;
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

/** Read `file` in chunks and hand its lines to `push` (the last flagged when it had no newline). */
function forEachLine(
  file: string,
  push: (line: string, last: boolean) => void,
  onBytes: (n: number) => void,
): void {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    const decoder = new TextDecoder("utf-8");
    let carry = "";
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      const text = carry + decoder.decode(buf.subarray(0, n), { stream: true });
      let at = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", at)) {
        push(text.slice(at, nl), false);
        at = nl + 1;
      }
      carry = text.slice(at);
      onBytes(total);
    }
    carry += decoder.decode();
    if (carry !== "") push(carry, true);
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
  try {
    forEachLine(
      opts.file,
      (line, last) => parser.push(line, last),
      (n) => {
        bytes = n;
      },
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
  if (readable === 0 && result.malformedCount > 0)
    throw new PtesimError("io", `${opts.file}: no line of it reads as strace output`, [
      `first: line ${result.malformed[0].line}: ${result.malformed[0].reason}`,
    ]);
  return { file: opts.file, maps: opts.maps === true, populateChosen: opts.populate !== undefined, result };
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

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function table(rows: string[][]): string[] {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i])))
      .join("  ")
      .trimEnd(),
  );
}

function counts(r: Record<string, number>): string {
  const e = Object.entries(r).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return e.length === 0 ? "none" : e.map(([k, v]) => `${k} ${v}`).join(", ");
}

/** Print a replay: the per-backend table, divergences, and (with maps) the final VMA lists.
 * Bounded: the first divergences, notes and address spaces, then counts. */
export function printReplay(o: ReplayOutcome, io: Out, json: boolean): void {
  const r = o.result;
  if (json) {
    io.out(
      JSON.stringify(
        {
          schema: JSON_SCHEMA_REPLAY,
          file: o.file,
          verdict: replayExitCode(o) === EXIT_OK ? "match" : "diverged",
          populate: r.populate,
          faultsReplayed: r.faultsReplayed,
          populateChosen: o.populateChosen,
          lines: r.lines,
          calls: r.calls,
          unknown: r.unknown,
          malformed: r.malformed,
          malformedCount: r.malformedCount,
          incomplete: r.incomplete,
          incompleteCount: r.incompleteCount,
          truncated: r.truncated,
          spaceCount: r.spaceCount,
          peakLiveSpaces: r.peakLiveSpaces,
          processTracking: r.processTracking,
          fdTracking: r.fdTracking,
          mmapMinAddr: r.mmapMinAddr,
          notes: r.notes,
          notesOmitted: r.notesOmitted,
          backends: r.backends.map((b) => ({
            ...b,
            spaces: b.spaces.map((s) => ({
              ...s,
              maps: o.maps ? s.maps.split("\n").filter((l) => l !== "") : undefined,
            })),
          })),
        },
        null,
        2,
      ),
    );
    return;
  }
  const replayed = r.backends[0]?.syscalls ?? {};
  io.out(
    `${o.file}: ${r.lines} lines, ${Object.values(r.calls).reduce((a, b) => a + b, 0)} calls, ${r.spaceCount} address space(s)${r.spaceCount > 1 ? ` (at most ${r.peakLiveSpaces} at once)` : ""}`,
  );
  io.out(`  replayed: ${counts(replayed)}`);
  if (Object.keys(r.unknown).length > 0) io.out(`  skipped (not modelled): ${counts(r.unknown)}`);
  io.out(
    `  processes: ${r.processTracking ? "followed from the recorded clone/fork/exec calls" : "inferred (record with -e trace=memory,process to follow fork and exec exactly)"}; files: ${r.fdTracking ? "fd table followed from the recorded open/dup/close calls" : "inferred from fds (record with -e trace=memory,process,desc -y for exact file identity)"}`,
  );
  if (r.incompleteCount > 0)
    io.out(
      `  without a result (not replayed): ${r.incomplete.map((x) => `${x.name} at line ${x.line}`).join(", ")}${r.incompleteCount > r.incomplete.length ? `, ... ${r.incompleteCount - r.incomplete.length} more` : ""}`,
    );
  if (r.truncated !== null)
    io.out(`  the log ends inside line ${r.truncated.line} (cut short): ${r.truncated.reason}`);
  const how =
    r.populate === "evidence" && !o.populateChosen
      ? ` (${r.faultsReplayed} page faults in the log)`
      : o.populateChosen
        ? ""
        : " (the default; --populate to change)";
  io.out(`  populate policy: ${r.populate}${how}: ${POPULATE_HELP[r.populate]}`);
  if (r.mmapMinAddr !== 65536) io.out(`  vm.mmap_min_addr: ${r.mmapMinAddr}`);
  for (const m of r.malformed) io.err(`${o.file}:${m.line}: malformed: ${m.reason}`);
  if (r.malformedCount > r.malformed.length)
    io.err(`${o.file}: ... ${r.malformedCount - r.malformed.length} more malformed lines`);
  for (const n of r.notes) io.out(`  note: ${n}`);
  if (r.notesOmitted > 0)
    io.out(`  note: ... and ${r.notesOmitted} more threads taken to share an address space`);

  const xen = r.backends.some(
    (b) => (b.counters.hypercall ?? 0) + (b.counters.trap_pt_write ?? 0) + (b.counters.trap_pt_xchg ?? 0) > 0,
  );
  const head = ["backend", "calls", "mprotect PTEs", "moved PTEs", "touched", "faults", "TLB flushes"];
  if (xen) head.push("traps", "hypercalls", "multicalls");
  head.push("cycles", "divergences");
  const rows: string[][] = [head];
  for (const b of r.backends) {
    const c = b.counters;
    const row = [
      b.backend,
      String(Object.values(b.syscalls).reduce((x, y) => x + y, 0)),
      String(b.ptesMprotect),
      String(b.ptesMoved),
      String(b.pagesTouched),
      String(b.faults),
      String((c.tlb_invlpg ?? 0) + (c.tlb_flush_all ?? 0)),
    ];
    if (xen)
      row.push(
        String((c.trap_pt_write ?? 0) + (c.trap_pt_xchg ?? 0)),
        String(c.hypercall ?? 0),
        String(c.multicall ?? 0),
      );
    row.push(String(Math.round(b.cycles)), b.aborted === null ? String(b.divergenceCount) : "stopped");
    rows.push(row);
  }
  io.out("");
  for (const l of table(rows)) io.out(l);
  if (r.backends.some((b) => b.pagesSkipped > 0))
    io.out(
      `  (pages left unpopulated by the per-call limit: ${r.backends.map((b) => `${b.backend} ${b.pagesSkipped}`).join(", ")})`,
    );

  // Divergences do not depend on the backend (the VMA rules are the same); show the first
  // backend's, and any backend whose list differs.
  const first = r.backends[0];
  const key = (b: (typeof r.backends)[number]) =>
    `${b.divergenceCount}:${b.divergences.map((d) => `${d.line} ${d.got}`).join(";")}`;
  for (const b of r.backends) {
    if (b.aborted !== null)
      io.out(`\n${b.backend}${b.correct ? "" : " [broken on purpose]"}: replay stopped at ${b.aborted}`);
    if (b !== first && key(b) === key(first)) continue;
    if (b.divergenceCount === 0) continue;
    io.out(`\ndivergences${r.backends.length > 1 ? ` (${b === first ? "every backend" : b.backend})` : ""}:`);
    for (const d of b.divergences.slice(0, PRINTED_DIVERGENCES))
      io.out(
        `  line ${d.line} (pid ${d.pid}): ${d.call}: Linux ${d.expected}, ptesim ${d.got}${d.note ? ` (${d.note})` : ""}`,
      );
    const shown = Math.min(b.divergences.length, PRINTED_DIVERGENCES);
    if (b.divergenceCount > shown) io.out(`  ... ${b.divergenceCount - shown} more`);
  }
  if (first !== undefined) {
    io.out("");
    const total = first.spacesAgreeing + first.spacesDiffering;
    if (total > first.spaces.length)
      io.out(
        `address spaces: ${total}, final VMA list agrees with the recording in ${first.spacesAgreeing}, differs in ${first.spacesDiffering}; the first ${first.spaces.length} in detail:`,
      );
    for (const s of first.spaces) {
      const implied = s.implied.reduce((a, x) => a + (x.end - x.start) / 4096, 0);
      const from = s.origin === "fork" ? `fork of ${s.parent}` : s.origin;
      io.out(
        `address space ${s.id} (${from}; thread${s.pids.length > 1 ? "s" : ""} ${s.pids.join(", ")}; lines ${s.firstLine}-${s.lastLine}): ${s.vmas} VMAs` +
          `${s.startBrk === null ? "" : `, brk ${hex(s.startBrk)}..${hex(s.brk)}`}` +
          `${implied > 0 ? `, ${implied} pre-existing pages implied` : ""}; ` +
          (s.mapCheck.length === 0
            ? "final VMA list agrees with the recording"
            : "final VMA list DIFFERS from the recording:"),
      );
      for (const d of s.mapCheck) io.out(`    ${d}`);
      if (o.maps) for (const l of s.maps.split("\n")) if (l !== "") io.out(`    ${l}`);
    }
  }
}
