// `ptesim bugs`: check every entry of the real-bug zoo (scenarios/bugs/NAME/bug.yaml) with the
// checker `ptesim check` uses, its buggy variant (must be VIOLATED with the entry's property) and
// its fixed variant (must be VERIFIED). Entries whose model needs are not met yet are listed, not
// run. The catalogue rules are in src/bugs/catalogue.ts; this module reads files and runs checks.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import {
  type Bug,
  type BugVariant,
  judgeBuggy,
  judgeFixed,
  loadBugText,
  missingModel,
  type VariantVerdict,
} from "../bugs/catalogue.js";
import { formatLocated, MAX_SCENARIO_BYTES } from "../scenario/load.js";
import type { checkDocument } from "../sim/documents.js";
import {
  checkCommand,
  checkOutcomeDocument,
  readScenario,
  resolveBackend,
  type ScenarioSource,
  scenarioBackendSpec,
} from "./commands.js";
import { PtesimError } from "./errors.js";

export const JSON_SCHEMA_BUGS = "ptesim.bugs/1";

/** The catalogue shipped with ptesim (dist/cli/ -> scenarios/bugs). */
export const DEFAULT_BUGS_DIR = fileURLToPath(new URL("../../scenarios/bugs/", import.meta.url));

const DEFAULT_MAX_SECONDS = 60;

export interface CatalogueEntry {
  bug: Bug;
  /** The entry's directory. */
  dir: string;
}

/** Every NAME/bug.yaml under `dir`, validated; all problems reported together (exit 2). */
export function loadCatalogue(dir: string): CatalogueEntry[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new PtesimError("io", `${dir}: not a directory`);
    names = readdirSync(dir).sort();
  } catch (e) {
    if (e instanceof PtesimError) throw e;
    throw new PtesimError(
      "io",
      `${dir}: cannot read the bug catalogue (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const entries: CatalogueEntry[] = [];
  const errors: string[] = [];
  for (const name of names) {
    const file = join(dir, name, "bug.yaml");
    if (!existsSync(file)) continue;
    const r = loadBugText(readEntry(file), displayPath(file), name);
    if (r.ok) entries.push({ bug: r.bug, dir: join(dir, name) });
    else errors.push(...r.errors.map(formatLocated));
  }
  if (errors.length > 0)
    throw new PtesimError(
      "scenario",
      `${displayPath(dir)}: invalid bug catalogue (${errors.length} error${errors.length > 1 ? "s" : ""})`,
      errors,
    );
  if (entries.length === 0)
    throw new PtesimError("io", `${displayPath(dir)}: no NAME/bug.yaml entries in this directory`);
  return entries;
}

/** A bug.yaml's text; unreadable or oversized files are the user's input errors (exit 2). */
function readEntry(file: string): string {
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new PtesimError("io", `${displayPath(file)}: not a regular file`);
    if (st.size > MAX_SCENARIO_BYTES)
      throw new PtesimError("scenario", `${displayPath(file)}: larger than ${MAX_SCENARIO_BYTES} bytes`);
    return readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof PtesimError) throw e;
    throw new PtesimError(
      "io",
      `${displayPath(file)}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

/** A path as a user can paste it: relative to the working directory when it is below it. */
function displayPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? p : rel;
}

export interface VariantRun extends VariantVerdict {
  backend: string;
  scenario: string;
  /** For a violation: the command that replays the counterexample. */
  reproduce: string | null;
  /**
   * For a violation: the check's `ptesim.check/1` document (with the counterexample's timeline),
   * for `bugs --html`; not part of `bugs --json`, which stays small.
   */
  document: ReturnType<typeof checkDocument> | null;
}

export type BugStatus = "behaves" | "misbehaves" | "not-modelled";

export interface BugRow {
  bug: Bug;
  status: BugStatus;
  /** not-modelled: what the model lacks. */
  missing: string[];
  buggy: VariantRun | null;
  fixed: VariantRun | null;
  /** misbehaves: why (buggy not found, fix not verified). */
  problems: string[];
}

export interface BugsOutcome {
  dir: string;
  rows: BugRow[];
}

export interface BugsOptions {
  dir?: string;
  /** Entries to run (default: all). Unknown names are a usage error. */
  names?: string[];
  /** Override every entry's bound on each variant's check. */
  maxSeconds?: number;
  /** The command's memory bound (MB), as `check --max-memory`. */
  maxMemoryMb?: number;
  onProgress?: (name: string, variant: "buggy" | "fixed") => void;
}

interface PreparedVariant {
  source: ScenarioSource;
  /** The backend as `ptesim check --backend` takes it (a name, or a module path). */
  spec: string;
}

/** Resolve a variant's scenario file and backend, so a broken entry fails before anything runs. */
async function prepareVariant(e: CatalogueEntry, v: BugVariant, which: string): Promise<PreparedVariant> {
  const rel = v.scenario ?? e.bug.model.scenario;
  if (rel === undefined)
    throw new PtesimError("scenario", `${e.bug.name}: the ${which} variant has no scenario`);
  const source = readScenario(displayPath(resolve(e.dir, rel)));
  if (source.scenario.programs === undefined)
    throw new PtesimError(
      "scenario",
      `${source.file}: the ${which} variant of ${e.bug.name} is checked, so its scenario needs explicit \`programs:\``,
    );
  const mutant = source.scenario.kernel.mutant;
  if (mutant !== (v.kernel ?? null))
    throw new PtesimError(
      "scenario",
      `${e.bug.name}: the ${which} variant ${v.kernel === undefined ? "names no kernel variant" : `is kernel variant "${v.kernel}"`} but ${source.file} sets kernel.mutant: ${mutant ?? "null"}`,
    );
  const spec =
    v.backend === undefined
      ? scenarioBackendSpec(source)
      : /^[./]|\.m?js$/.test(v.backend) // a module path, as the CLI tells them from names
        ? displayPath(resolve(e.dir, v.backend))
        : v.backend;
  await resolveBackend(spec); // fails early for an unknown backend or a module that does not load
  return { source, spec };
}

async function runVariant(p: PreparedVariant, maxSeconds: number, maxMemoryMb?: number): Promise<VariantRun> {
  const o = await checkCommand({
    file: p.source.file!,
    backend: p.spec,
    maxSeconds,
    ...(maxMemoryMb === undefined ? {} : { maxMemoryMb }),
  });
  const r = o.result;
  const cx = r.verdict === "violated" ? r.counterexample : null;
  return {
    backend: o.backend.name,
    scenario: p.source.file!,
    verdict: r.verdict,
    property: cx?.property ?? null,
    rule: cx?.rule ?? null,
    states: r.states,
    executions: r.executions,
    elapsedMs: r.elapsedMs,
    reproduce: o.reproduce,
    document: cx === null ? null : checkOutcomeDocument(o),
  };
}

export async function bugsCommand(o: BugsOptions): Promise<BugsOutcome> {
  const dir = resolve(o.dir ?? DEFAULT_BUGS_DIR);
  const all = loadCatalogue(dir);
  let selected = all;
  if (o.names !== undefined && o.names.length > 0) {
    const byName = new Map(all.map((e) => [e.bug.name, e]));
    const unknown = o.names.filter((n) => !byName.has(n));
    if (unknown.length > 0)
      throw new PtesimError(
        "usage",
        `unknown bug${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")} (known: ${all.map((e) => e.bug.name).join(", ")})`,
      );
    selected = [...new Set(o.names)].map((n) => byName.get(n)!);
  }
  const plans = await Promise.all(
    selected.map(async (e) => {
      const missing = missingModel(e.bug);
      if (missing.length > 0) return { e, missing, buggy: null, fixed: null };
      return {
        e,
        missing,
        buggy: await prepareVariant(e, e.bug.model.buggy, "buggy"),
        fixed: await prepareVariant(e, e.bug.model.fixed, "fixed"),
      };
    }),
  );
  const rows: BugRow[] = [];
  for (const p of plans) {
    if (p.buggy === null || p.fixed === null) {
      rows.push({
        bug: p.e.bug,
        status: "not-modelled",
        missing: p.missing,
        buggy: null,
        fixed: null,
        problems: [],
      });
      continue;
    }
    const bound = o.maxSeconds ?? p.e.bug.model.maxSeconds ?? DEFAULT_MAX_SECONDS;
    o.onProgress?.(p.e.bug.name, "buggy");
    const buggy = await runVariant(p.buggy, bound, o.maxMemoryMb);
    o.onProgress?.(p.e.bug.name, "fixed");
    const fixed = await runVariant(p.fixed, bound, o.maxMemoryMb);
    const problems = [judgeBuggy(p.e.bug, buggy), judgeFixed(fixed)].filter((x): x is string => x !== null);
    rows.push({
      bug: p.e.bug,
      status: problems.length === 0 ? "behaves" : "misbehaves",
      missing: [],
      buggy,
      fixed,
      problems,
    });
  }
  // Results first, then what the model cannot express yet; each group in catalogue order.
  rows.sort((a, b) => Number(a.status === "not-modelled") - Number(b.status === "not-modelled"));
  return { dir: displayPath(dir), rows };
}

export interface BugsSummary {
  entries: number;
  runnable: number;
  behave: number;
  misbehave: number;
  notModelled: number;
}

export function summarize(o: BugsOutcome): BugsSummary {
  const n = (s: BugStatus) => o.rows.filter((r) => r.status === s).length;
  return {
    entries: o.rows.length,
    runnable: n("behaves") + n("misbehaves"),
    behave: n("behaves"),
    misbehave: n("misbehaves"),
    notModelled: n("not-modelled"),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

function verdictCell(v: VariantRun): string {
  if (v.verdict === "violated") return `VIOLATED ${v.property}`;
  return v.verdict.toUpperCase();
}

/** The table `ptesim bugs` prints, then the replay commands, then one summary line. */
export function formatBugs(o: BugsOutcome): string[] {
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
  const lines = table.map((row) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd(),
  );
  const replays = o.rows.filter((r) => r.buggy?.reproduce);
  if (replays.length > 0) {
    lines.push("", "replay the buggy variants' counterexamples:");
    for (const r of replays) lines.push(`  ${r.bug.name}: ${r.buggy!.reproduce}`);
  }
  const bad = o.rows.filter((r) => r.status === "misbehaves");
  if (bad.length > 0) {
    lines.push("", "misbehaving entries:");
    for (const r of bad) for (const p of r.problems) lines.push(`  ${r.bug.name}: ${p}`);
  }
  const s = summarize(o);
  lines.push(
    "",
    `${s.runnable} runnable: ${s.behave} behave (buggy found, fix verified), ${s.misbehave} misbehave; ${s.notModelled} not modelled yet (listed, not counted as passes); ${s.entries} ${s.entries === 1 ? "entry" : "entries"} in all`,
  );
  return lines;
}

const VariantJson = z.object({
  backend: z.string(),
  scenario: z.string().describe("the scenario file checked"),
  verdict: z.enum(["verified", "violated", "incomplete"]),
  property: z.string().nullable().describe("violated: the property found"),
  rule: z.string().nullable().describe("transaction-contract: the rule found"),
  states: z.number().int(),
  executions: z.number().int(),
  elapsedMs: z.number().int(),
  reproduce: z.string().nullable().describe("violated: the command that replays the counterexample"),
});

/** The shape of `ptesim bugs --json` (documented in scenarios/bugs/README.md). */
export const BugsJson = z.object({
  schema: z.literal(JSON_SCHEMA_BUGS),
  dir: z.string().describe("the catalogue directory"),
  summary: z.object({
    entries: z.number().int(),
    runnable: z.number().int(),
    behave: z.number().int().describe("buggy variant VIOLATED with the entry's property, fix VERIFIED"),
    misbehave: z.number().int(),
    notModelled: z.number().int().describe("listed, not run, not counted as passes"),
  }),
  bugs: z.array(
    z.object({
      name: z.string(),
      title: z.string(),
      year: z.number().int().nullable(),
      history: z.enum(["shipped", "counterfactual", "protocol-mutant", "unconfirmed"]),
      arch: z.string(),
      system: z.string(),
      property: z.string(),
      rule: z.string().nullable(),
      fix: z.object({
        repo: z.string(),
        commit: z.string().nullable(),
        title: z.string().nullable(),
        author: z.string().nullable().optional(),
        date: z.string().nullable().optional(),
      }),
      provenance: z
        .object({
          historyNote: z.string().nullable().describe("how sure the history is, and why"),
          fixes: z
            .object({ commit: z.string().nullable(), title: z.string().nullable() })
            .nullable()
            .describe("the commit that introduced the bug, when known"),
          related: z.array(z.object({ repo: z.string(), commit: z.string().nullable(), title: z.string() })),
          verified: z
            .record(z.string(), z.boolean())
            .describe("for each fact given: whether it was checked against a source"),
          sources: z.array(z.object({ where: z.string(), what: z.string() })),
          explanation: z.string().describe("the race, in a few sentences"),
          restated: z.string().describe("how the model expresses the bug"),
          needs: z.array(z.string()).describe("model capabilities the entry needs"),
        })
        .optional()
        .describe("the catalogue entry's provenance (added within ptesim.bugs/1)"),
      status: z.enum(["behaves", "misbehaves", "not-modelled"]),
      missing: z.array(z.string()).describe("not-modelled: unmet needs and missing variants"),
      problems: z.array(z.string()).describe("misbehaves: why"),
      buggy: VariantJson.nullable(),
      fixed: VariantJson.nullable(),
    }),
  ),
});
export type BugsJson = z.output<typeof BugsJson>;

/**
 * The check documents (`ptesim.check/1`) of the buggy variants' counterexamples, by entry name:
 * what `bugs --html` embeds beside the `ptesim.bugs/1` document to draw each timeline.
 */
export function bugsCounterexamples(o: BugsOutcome): Record<string, ReturnType<typeof checkDocument>> {
  const out: Record<string, ReturnType<typeof checkDocument>> = {};
  for (const r of o.rows) if (r.buggy?.document) out[r.bug.name] = r.buggy.document;
  return out;
}

/** `ptesim bugs --json` (schema ptesim.bugs/1). */
export function bugsJson(o: BugsOutcome): BugsJson {
  const variant = (v: VariantRun | null) => {
    if (v === null) return null;
    const { document: _d, ...rest } = v;
    return { ...rest, elapsedMs: Math.round(v.elapsedMs) };
  };
  return {
    schema: JSON_SCHEMA_BUGS,
    dir: o.dir,
    summary: summarize(o),
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
