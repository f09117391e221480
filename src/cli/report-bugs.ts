// The printer of `ptesim bugs`: the catalogue's table, the replay commands and a summary line as
// text (coloured on a terminal), or one `ptesim.bugs/1` document (output-schemas.ts: BugsJson).
// The stage it prints is bugsCommand (bugs-command.ts).
import type { z } from "zod";
import type { BugStatus, BugsOutcome, VariantRun } from "./bugs-command.js";
import type { BugsJson } from "./output-schemas.js";
import { colorsOf, type Out } from "./reporter.js";

export const JSON_SCHEMA_BUGS = "ptesim.bugs/1";

export interface BugsSummary {
  entries: number;
  runnable: number;
  behave: number;
  misbehave: number;
  notModelled: number;
  /** Runnable entries Ctrl-C kept from being checked. */
  unchecked: number;
}

export function summarize(o: BugsOutcome): BugsSummary {
  const n = (s: BugStatus) => o.rows.filter((r) => r.status === s).length;
  return {
    entries: o.rows.length + o.runnable - n("behaves") - n("misbehaves"),
    runnable: o.runnable,
    behave: n("behaves"),
    misbehave: n("misbehaves"),
    notModelled: n("not-modelled"),
    unchecked: o.runnable - n("behaves") - n("misbehaves"),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

function verdictCell(v: VariantRun): string {
  if (v.verdict === "violated") return `VIOLATED ${v.property}`;
  return v.verdict.toUpperCase();
}

/** The table `ptesim bugs` prints, then the replay commands, then one summary line. */
export function formatBugs(o: BugsOutcome, io: Pick<Out, "c"> = {}): string[] {
  const k = colorsOf(io);
  const head = ["bug", "year", "arch", "property", "buggy", "states", "time", "fixed", "states", "time", ""];
  const table: string[][] = [head];
  for (const r of o.rows) {
    const b = r.bug;
    const base = [b.name, b.year === null ? "?" : String(b.year), b.arch, b.property];
    if (r.buggy === null || r.fixed === null) {
      table.push([...base, "-", "", "", "-", "", "", `not modelled yet: needs ${r.missing.join(", ")}`]);
      continue;
    }
    table.push([
      ...base,
      verdictCell(r.buggy),
      String(r.buggy.states),
      seconds(r.buggy.elapsedMs),
      verdictCell(r.fixed),
      String(r.fixed.states),
      seconds(r.fixed.elapsedMs),
      r.status === "behaves" ? "ok" : "MISBEHAVES",
    ]);
  }
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const right = new Set([5, 6, 8, 9]);
  // Padded first, then coloured (escape codes take no columns).
  const paint = (c: string, i: number, row: number): string => {
    if (c.trim() === "") return c;
    if (row === 0) return k.bold(c);
    if (i === 4 || i === 7)
      return c.startsWith("VIOLATED") ? k.red(c) : c.startsWith("VERIFIED") ? k.green(c) : c;
    if (i === head.length - 1)
      return c === "ok" ? k.green(c) : c === "MISBEHAVES" ? k.bold(k.red(c)) : k.dim(c);
    return c;
  };
  const lines = table.map((row, n) =>
    row
      .map((c, i) =>
        paint(i === row.length - 1 ? c : right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]), i, n),
      )
      .join("  ")
      .trimEnd(),
  );
  const replays = o.rows.filter((r) => r.buggy?.reproduce);
  if (replays.length > 0) {
    lines.push("", "replay the buggy variants' counterexamples:");
    for (const r of replays) lines.push(`  ${r.bug.name}: ${k.cyan(r.buggy!.reproduce!)}`);
  }
  const bad = o.rows.filter((r) => r.status === "misbehaves");
  if (bad.length > 0) {
    lines.push("", k.bold(k.red("misbehaving entries:")));
    for (const r of bad) for (const p of r.problems) lines.push(`  ${r.bug.name}: ${p}`);
  }
  const s = summarize(o);
  lines.push(
    "",
    `${s.runnable} runnable: ${k.green(`${s.behave} behave`)} (buggy found, fix verified), ${(s.misbehave > 0 ? k.red : (x: string) => x)(`${s.misbehave} misbehave`)}${s.unchecked > 0 ? `, ${k.yellow(`${s.unchecked} not checked (interrupted)`)}` : ""}; ${s.notModelled} not modelled yet (listed, not counted as passes); ${s.entries} ${s.entries === 1 ? "entry" : "entries"} in all`,
  );
  return lines;
}

/**
 * The check documents (`ptesim.check/1`) of the buggy variants' counterexamples, by entry name:
 * what `bugs --html` embeds beside the `ptesim.bugs/1` document to draw each timeline.
 */
export function bugsCounterexamples(o: BugsOutcome): Record<string, NonNullable<VariantRun["document"]>> {
  const out: Record<string, NonNullable<VariantRun["document"]>> = {};
  for (const r of o.rows) if (r.buggy?.document) out[r.bug.name] = r.buggy.document;
  return out;
}

/** `ptesim bugs --json` (schema ptesim.bugs/1). */
export function bugsJson(o: BugsOutcome): z.output<typeof BugsJson> {
  const variant = (v: VariantRun | null) => {
    if (v === null) return null;
    const { document: _d, ...rest } = v;
    return { ...rest, elapsedMs: Math.round(v.elapsedMs) };
  };
  return {
    schema: JSON_SCHEMA_BUGS,
    dir: o.dir,
    summary: summarize(o),
    interrupted: o.interrupted,
    bugs: o.rows.map((r) => ({
      name: r.bug.name,
      title: r.bug.title,
      year: r.bug.year,
      history: r.bug.history,
      arch: r.bug.arch,
      system: r.bug.system,
      property: r.bug.property,
      rule: r.bug.rule ?? null,
      fix: {
        repo: r.bug.fix.repo,
        commit: r.bug.fix.commit,
        title: r.bug.fix.title,
        ...(r.bug.fix.author === undefined ? {} : { author: r.bug.fix.author }),
        ...(r.bug.fix.date === undefined ? {} : { date: r.bug.fix.date }),
      },
      provenance: {
        historyNote: r.bug.history_note ?? null,
        fixes: r.bug.fixes ?? null,
        related: r.bug.related ?? [],
        verified: r.bug.verified,
        sources: r.bug.sources,
        explanation: r.bug.explanation,
        restated: r.bug.model.restated,
        needs: r.bug.model.needs,
      },
      status: r.status,
      missing: r.missing,
      problems: r.problems,
      buggy: variant(r.buggy),
      fixed: variant(r.fixed),
    })),
  };
}

export function printBugs(o: BugsOutcome, io: Out, json: boolean): void {
  if (json) io.out(JSON.stringify(bugsJson(o), null, 2));
  else for (const l of formatBugs(o, io)) io.out(l);
}
