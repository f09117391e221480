// `ptesim bugs`: check every entry of the real-bug zoo (scenarios/bugs/NAME/bug.yaml) with the
// checker `ptesim check` uses, its buggy variant (must be VIOLATED with the entry's property) and
// its fixed variant (must be VERIFIED). Entries whose model needs are not met yet are listed, not
// run. The catalogue rules are in src/bugs/catalogue.ts; this module reads files and runs checks.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
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
  /** The entries checked (or listed as not modelled); without those Ctrl-C kept from finishing. */
  rows: BugRow[];
  /** Stopped by Ctrl-C: runnable entries after the last finished one were not checked. */
  interrupted: boolean;
  /** Runnable entries selected (checked or not). */
  runnable: number;
}

export interface BugsOptions {
  dir?: string;
  /** Entries to run (default: all). Unknown names are a usage error. */
  names?: string[];
  /** Override every entry's bound on each variant's check. */
  maxSeconds?: number;
  /** The command's memory bound (MB), as `check --max-memory`. */
  maxMemoryMb?: number;
  /** Which entry and variant is being checked (index counts the runnable entries from 0), and the check's figures. */
  onProgress?: (p: BugsProgress) => void;
  /** Polled by each check (and between them): true stops; the outcome holds the entries finished. */
  shouldStop?: () => boolean;
}

export interface BugsProgress {
  name: string;
  variant: "buggy" | "fixed";
  index: number;
  total: number;
  states: number;
  elapsedMs: number;
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
  const helper = source.scenario.kernel.archHelper;
  if (helper !== (v.archHelper ?? null))
    throw new PtesimError(
      "scenario",
      `${e.bug.name}: the ${which} variant ${v.archHelper === undefined ? "names no arch-helper variant" : `is arch-helper variant "${v.archHelper}"`} but ${source.file} sets kernel.archHelper: ${helper ?? "null"}`,
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

/** A variant's check, or null when Ctrl-C stopped it before a verdict. */
async function runVariant(
  p: PreparedVariant,
  maxSeconds: number,
  o: BugsOptions,
  progress: (x: { states: number; elapsedMs: number }) => void,
): Promise<VariantRun | null> {
  // One thread: the zoo's checks are small (threads' start-up would dominate) and each
  // variant's counterexample and figures must be the same at every run.
  const c = await checkCommand({
    file: p.source.file!,
    backend: p.spec,
    workers: 1,
    maxSeconds,
    ...(o.maxMemoryMb === undefined ? {} : { maxMemoryMb: o.maxMemoryMb }),
    onProgress: progress,
    ...(o.shouldStop === undefined ? {} : { shouldStop: o.shouldStop }),
  });
  const r = c.result;
  if (r.verdict === "incomplete" && r.reason === "interrupted") return null;
  const cx = r.verdict === "violated" ? r.counterexample : null;
  return {
    backend: c.backend.name,
    scenario: p.source.file!,
    verdict: r.verdict,
    property: cx?.property ?? null,
    rule: cx?.rule ?? null,
    states: r.states,
    executions: r.executions,
    elapsedMs: r.elapsedMs,
    reproduce: c.reproduce,
    document: cx === null ? null : checkOutcomeDocument(c),
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
  const total = plans.filter((p) => p.buggy !== null).length;
  let index = 0;
  let interrupted = false;
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
    if (interrupted || o.shouldStop?.() === true) {
      interrupted = true;
      continue;
    }
    const bound = o.maxSeconds ?? p.e.bug.model.maxSeconds ?? DEFAULT_MAX_SECONDS;
    const at = { name: p.e.bug.name, index, total };
    const progress = (variant: "buggy" | "fixed") => (x: { states: number; elapsedMs: number }) =>
      o.onProgress?.({ ...at, variant, states: x.states, elapsedMs: x.elapsedMs });
    progress("buggy")({ states: 0, elapsedMs: 0 });
    const buggy = await runVariant(p.buggy, bound, o, progress("buggy"));
    const fixed = buggy === null ? null : await runVariant(p.fixed, bound, o, progress("fixed"));
    index++;
    // Stopped inside this entry's checks: it is not judged (neither pass nor failure).
    if (buggy === null || fixed === null) {
      interrupted = true;
      continue;
    }
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
  return { dir: displayPath(dir), rows, interrupted, runnable: total };
}
