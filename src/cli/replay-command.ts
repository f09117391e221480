// `ptesim replay LOG`: replay a program's memory system calls recorded with
// `strace -f -e trace=memory -o LOG program` on every backend (or one), checking each call's
// outcome against the recorded one. The typed stage (replayCommand) and the printer
// (printReplay) are kept apart like the other commands' (commands.ts / report.ts).

import { allBackends } from "../backends/registry.js";
import type { BackendModule } from "../kernel/pvops.js";
import { parseStrace } from "../strace/parse.js";
import {
  POPULATE_HELP,
  POPULATE_POLICIES,
  type PopulatePolicy,
  type ReplayResult,
  replay,
} from "../strace/replay.js";
import { resolveBackend } from "./commands.js";
import { EXIT_OK, EXIT_VIOLATION, PtesimError } from "./errors.js";
import { readInput } from "./files.js";
import type { Out } from "./report.js";

export const JSON_SCHEMA_REPLAY = "ptesim.replay/1";
/** Logs larger than this are refused (strace logs of memory calls are small). */
export const MAX_LOG_BYTES = 256 * 1024 * 1024;

export interface ReplayCommandOptions {
  /** The strace log. */
  file: string;
  /** One backend (name or module path); default: every built-in backend. */
  backend?: string;
  /** Populate policy name (see POPULATE_POLICIES); default "touch". */
  populate?: string;
  /** Show each address space's final VMA list. */
  maps?: boolean;
  /** Called before each backend's replay. */
  onProgress?: (backend: string, index: number, of: number) => void;
  /** Polled between backends: true stops the replay (Ctrl-C); the outcome says how far it got. */
  shouldStop?: () => boolean;
}

export interface ReplayOutcome {
  file: string;
  maps: boolean;
  result: ReplayResult;
  /** Set when stopped early: "N of M backends". */
  interrupted?: string;
}

export async function replayCommand(opts: ReplayCommandOptions): Promise<ReplayOutcome> {
  const policy = opts.populate ?? "touch";
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
  const text = readInput(opts.file, MAX_LOG_BYTES);
  const log = parseStrace(text);
  if (log.records.length === 0 && log.malformed.length > 0 && log.malformed.length === log.lines)
    throw new PtesimError("io", `${opts.file}: no line of it reads as strace output`, [
      `first: line ${log.malformed[0].line}: ${log.malformed[0].reason}`,
    ]);
  // One backend at a time, so progress can be shown and Ctrl-C can stop between backends.
  const parts: ReplayResult[] = [];
  for (const [i, b] of backends.entries()) {
    if (opts.shouldStop?.() === true) break;
    opts.onProgress?.(b.name, i, backends.length);
    parts.push(replay(log, { backends: [b], populate: policy as PopulatePolicy }));
  }
  if (parts.length === 0)
    throw new PtesimError("interrupted", "interrupted before the first backend's replay");
  const result: ReplayResult = { ...parts[0], backends: parts.flatMap((p) => p.backends) };
  return {
    file: opts.file,
    maps: opts.maps === true,
    result,
    ...(parts.length < backends.length
      ? { interrupted: `${parts.length} of ${backends.length} backends` }
      : {}),
  };
}

/**
 * 0 when every replayed call's outcome matched the recording, else 1. A backend meant to be
 * correct that stops the replay (e.g. breaks the transaction contract) also makes it 1; one of
 * the deliberately broken teaching backends doing so is reported but expected.
 */
export function replayExitCode(o: ReplayOutcome): number {
  return o.result.backends.some((b) => b.divergences.length > 0 || (b.aborted !== null && b.correct))
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

/** Print a replay: the per-backend table, divergences, and (with maps) the final VMA lists. */
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
          lines: r.lines,
          calls: r.calls,
          unknown: r.unknown,
          malformed: r.malformed,
          incomplete: r.incomplete,
          notes: r.notes,
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
    `${o.file}: ${r.lines} lines, ${Object.values(r.calls).reduce((a, b) => a + b, 0)} calls, ${r.spaces.length} address space(s)`,
  );
  io.out(`  replayed: ${counts(replayed)}`);
  if (Object.keys(r.unknown).length > 0) io.out(`  skipped (not modelled): ${counts(r.unknown)}`);
  if (r.incomplete.length > 0)
    io.out(
      `  without a result (not replayed): ${r.incomplete.map((x) => `${x.name} at line ${x.line}`).join(", ")}`,
    );
  io.out(`  populate policy: ${r.populate} (${POPULATE_HELP[r.populate]})`);
  for (const m of r.malformed) io.err(`${o.file}:${m.line}: malformed: ${m.reason}`);
  for (const n of r.notes) io.out(`  note: ${n}`);

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
    row.push(String(Math.round(b.cycles)), b.aborted === null ? String(b.divergences.length) : "stopped");
    rows.push(row);
  }
  io.out("");
  for (const l of table(rows)) io.out(l);

  // Divergences do not depend on the backend (the VMA rules are the same); show the first
  // backend's, and any backend whose list differs.
  const first = r.backends[0];
  const key = (b: (typeof r.backends)[number]) => b.divergences.map((d) => `${d.line} ${d.got}`).join(";");
  for (const b of r.backends) {
    if (b.aborted !== null)
      io.out(`\n${b.backend}${b.correct ? "" : " [broken on purpose]"}: replay stopped at ${b.aborted}`);
    if (b !== first && key(b) === key(first)) continue;
    if (b.divergences.length === 0) continue;
    io.out(`\ndivergences${r.backends.length > 1 ? ` (${b === first ? "every backend" : b.backend})` : ""}:`);
    for (const d of b.divergences.slice(0, 50))
      io.out(
        `  line ${d.line} (pid ${d.pid}): ${d.call}: Linux ${d.expected}, ptesim ${d.got}${d.note ? ` (${d.note})` : ""}`,
      );
    if (b.divergences.length > 50) io.out(`  ... ${b.divergences.length - 50} more`);
  }
  if (first !== undefined) {
    io.out("");
    for (const s of first.spaces) {
      const implied = s.implied.reduce((a, x) => a + (x.end - x.start) / 4096, 0);
      io.out(
        `address space ${s.id} (${s.origin}; thread${s.pids.length > 1 ? "s" : ""} ${s.pids.join(", ")}; lines ${s.firstLine}-${s.lastLine}): ${s.maps.split("\n").filter((l) => l !== "").length} VMAs` +
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
