// The printer of `ptesim replay`: the per-backend table, divergences and address spaces as text
// (coloured on a terminal), or one `ptesim.replay/2` document (output-schemas.ts: ReplayJson).
// The stage it prints is replayCommand (replay-command.ts).
import type { z } from "zod";
import { POPULATE_HELP } from "../strace/replay.js";
import { EXIT_OK } from "./errors.js";
import type { ReplayJson } from "./output-schemas.js";
import { type ReplayOutcome, replayExitCode } from "./replay-command.js";
import { colorsOf, type Out } from "./reporter.js";

export const JSON_SCHEMA_REPLAY = "ptesim.replay/2";
/** Divergences printed per backend (all are counted; --json carries the first 200). */
export const PRINTED_DIVERGENCES = 50;

/** The `ptesim.replay/2` document. */
export function replayJson(o: ReplayOutcome): z.output<typeof ReplayJson> {
  const r = o.result;
  return {
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
    interrupted: o.interrupted,
    backends: r.backends.map(({ spaces, ...b }) => ({
      ...b,
      spaces: spaces.map(({ maps, ...s }) => ({
        ...s,
        ...(o.maps ? { maps: maps.split("\n").filter((l) => l !== "") } : {}),
      })),
    })),
  };
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
    io.out(JSON.stringify(replayJson(o), null, 2));
    return;
  }
  const k = colorsOf(io);
  const replayed = r.backends[0]?.syscalls ?? {};
  io.out(
    `${k.bold(o.file)}: ${r.lines} lines, ${Object.values(r.calls).reduce((a, b) => a + b, 0)} calls, ${r.spaceCount} address space(s)${r.spaceCount > 1 ? ` (at most ${r.peakLiveSpaces} at once)` : ""}`,
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
  if (o.interrupted !== null)
    io.out(
      k.yellow(
        `  interrupted (Ctrl-C) after line ${o.interrupted.line}: the figures below cover the log up to there`,
      ),
    );
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
  const lines = table(rows);
  io.out(k.bold(lines[0]));
  r.backends.forEach((b, i) => {
    const l = lines[i + 1];
    io.out(
      b.aborted !== null && b.correct
        ? k.red(l)
        : b.divergenceCount > 0 || b.aborted !== null
          ? k.yellow(l)
          : l,
    );
  });
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
      io.out(
        `\n${k.bold(b.backend)}${b.correct ? "" : k.dim(" [broken on purpose]")}: ${(b.correct ? k.red : k.yellow)(`replay stopped at ${b.aborted}`)}`,
      );
    if (b !== first && key(b) === key(first)) continue;
    if (b.divergenceCount === 0) continue;
    io.out(
      `\n${k.bold(k.red("divergences"))}${r.backends.length > 1 ? ` (${b === first ? "every backend" : b.backend})` : ""}:`,
    );
    for (const d of b.divergences.slice(0, PRINTED_DIVERGENCES))
      io.out(
        `  line ${d.line} (pid ${d.pid}): ${d.call}: Linux ${k.green(d.expected)}, ptesim ${k.red(d.got)}${d.note ? k.dim(` (${d.note})`) : ""}`,
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
            ? k.green("final VMA list agrees with the recording")
            : k.red("final VMA list DIFFERS from the recording:")),
      );
      for (const d of s.mapCheck) io.out(`    ${d}`);
      if (o.maps) for (const l of s.maps.split("\n")) if (l !== "") io.out(`    ${l}`);
    }
  }
}
