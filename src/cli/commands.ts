// Typed stages: each command turns options into a result value. No printing here (report.ts).
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { getHeapStatistics } from "node:v8";
import { allBackends, getBackend } from "../backends/registry.js";
import { UserModuleError, userBackendFromModule } from "../backends/user-module.js";
import { type CheckMode, type CheckResult, check, type Symmetry } from "../check/explore.js";
import { decodeReplay, encodeReplay, type ReplayStamp, replayStamp } from "../check/replay.js";
import { ReplayError, replayRun } from "../check/replay-run.js";
import { planShards } from "../check/shards.js";
import type { StateStorage } from "../check/store.js";
import type { BackendModule } from "../kernel/pvops.js";
import { archMismatch, formatLocated, loadScenarioText, MAX_SCENARIO_BYTES } from "../scenario/load.js";
import { archOf, backendIdentityOf, checkDocument, reproduceLine, shellQuote } from "../sim/documents.js";
import type { PropertyName } from "../sim/oracle.js";
import { defaultCheckScenario, defaultScenario, type Scenario } from "../sim/scenario.js";
import { type RunResult, runScenario } from "../sim/simulation.js";
import { checkParallel } from "../workers/pool.js";
import { benchCosts, type CostsTable } from "./costs.js";
import { PtesimError } from "./errors.js";
import { readInput, STDIN, STDIN_LABEL } from "./files.js";
import { userCodeWatch } from "./supervise.js";

export interface ScenarioSource {
  scenario: Scenario;
  /** The file it came from, or null for the built-in default. */
  file: string | null;
}

/** Built-in scenarios, by the name a command line may give instead of a file. */
export const BUILTIN_SCENARIOS: Record<string, () => Scenario> = {
  "builtin:default": defaultScenario,
  "builtin:check": defaultCheckScenario,
};

/** A user's input file (or "-", standard input) as text, at most MAX_SCENARIO_BYTES, else a PtesimError. */
export function readInputFile(file: string, kind: "scenario" | "costs"): string {
  return readInput(file, MAX_SCENARIO_BYTES, kind);
}

export function readScenario(file: string | undefined): ScenarioSource {
  if (file === undefined) return { scenario: defaultScenario(), file: null };
  const builtin = BUILTIN_SCENARIOS[file];
  if (builtin !== undefined) return { scenario: builtin(), file };
  const text = readInput(file, MAX_SCENARIO_BYTES, "scenario");
  const label = file === STDIN ? STDIN_LABEL : file;
  const r = loadScenarioText(text, label);
  if (!r.ok)
    throw new PtesimError(
      "scenario",
      `${label}: invalid scenario (${r.errors.length} error${r.errors.length > 1 ? "s" : ""})`,
      r.errors.map(formatLocated),
      r.errors,
    );
  return { scenario: r.scenario, file };
}

function looksLikePath(s: string): boolean {
  return s.startsWith(".") || s.startsWith("/") || /\.(m?js)$/.test(s);
}

/** A built-in backend by name, or a user module exporting a BackendModule (default or `backend`). */
export async function resolveBackend(spec: string): Promise<BackendModule> {
  if (!looksLikePath(spec)) {
    const b = getBackend(spec);
    if (b === undefined)
      throw new PtesimError(
        "backend",
        `unknown backend "${spec}" (known: ${allBackends()
          .map((x) => x.name)
          .join(", ")}; or a path to a module such as ./my-backend.js)`,
      );
    return b;
  }
  const path = resolve(spec);
  let mod: Record<string, unknown>;
  const watch = userCodeWatch();
  watch?.enter(spec, "load");
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    watch?.leave();
    throw moduleLoadError(spec, path, e);
  } finally {
    watch?.leave();
  }
  let guarded: BackendModule;
  try {
    guarded = userBackendFromModule(mod, spec, watch === undefined ? {} : { watch });
  } catch (e) {
    if (e instanceof UserModuleError) throw new PtesimError("backend", e.message);
    throw e;
  }
  userBackendSpecs.set(guarded, spec);
  return guarded;
}

/**
 * Why a user's backend module did not load, located as file:line:col when possible: a syntax
 * error (Node's message for an ES module has no position, so `node --check` is asked for it) or
 * an exception thrown while the module ran (its first stack frame in that file).
 */
function moduleLoadError(spec: string, path: string, e: unknown): PtesimError {
  const err = e as Error;
  const what = `${err?.name ?? "Error"}: ${String(err?.message ?? e).split("\n")[0]}`;
  let at: { line: number; col: number } | null = null;
  if (err instanceof SyntaxError) {
    const r = spawnSync(process.execPath, ["--check", path], { encoding: "utf8", timeout: 10_000 });
    const lines = (r.stderr ?? "").split("\n");
    const m = /:(\d+)$/.exec(lines[0] ?? "");
    const caret = (lines[2] ?? "").indexOf("^");
    if (m !== null) at = { line: Number(m[1]), col: caret >= 0 ? caret + 1 : 1 };
  } else if (typeof err?.stack === "string") {
    const url = pathToFileURL(path).href.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const m = new RegExp(`${url}:(\\d+):(\\d+)`).exec(err.stack);
    if (m !== null) at = { line: Number(m[1]), col: Number(m[2]) };
  }
  const message = `cannot load backend module: ${what}`;
  if (at === null) return new PtesimError("backend", `${spec}: ${message}`);
  return new PtesimError(
    "backend",
    `${spec}:${at.line}:${at.col}: ${message}`,
    [],
    [{ file: spec, ...at, message }],
  );
}

/**
 * `check --shards N`: the search split into about N subtrees, each named by a stamped decision
 * prefix (the replay token encoding) that `check --shard TOKEN` explores. The coordinator's own
 * part (executions that end above the split) is decided here.
 */
export async function shardsCommand(o: CheckCommandOptions & { count: number }) {
  const { backend, scenario } = await checkInputs(o);
  const mode = o.mode ?? "reduced";
  const plan = planShards(scenario, backend, o.count, {
    mode,
    storage: o.storage ?? "fingerprint",
    ...(o.symmetry === undefined ? {} : { symmetry: o.symmetry }),
  });
  const stamp = stampOf(scenario, backend);
  const shards = plan.shards.map((t) => {
    const p = decodeReplay(t);
    return encodeReplay(typeof p === "string" ? [] : p, stamp);
  });
  return { mode, depth: plan.depth, head: plan.head.verdict, headExecutions: plan.head.executions, shards };
}

/**
 * Threads for a check without --workers: every core (os.availableParallelism(), which honours
 * the process's CPU affinity, e.g. `taskset -c 0 ptesim check`) where threads apply (reduced or
 * por on fingerprints, not one --shard), else 1. A backend module runs in one thread unless
 * --workers says otherwise: only the command's own thread has the watchdog that stops a module
 * call that never returns. `--workers 1` asks for one thread (and so for the same
 * counterexample at every run: with threads, which violation is found first depends on their
 * timing).
 */
export function defaultWorkers(o: CheckCommandOptions, backend: BackendModule): number {
  const mode = o.mode ?? "reduced";
  if (mode === "exhaustive" || (o.storage ?? "fingerprint") === "exact" || o.shard !== undefined) return 1;
  if (userBackendSpecs.has(backend)) return 1;
  return availableParallelism();
}

/** The scenario and backend of a check (the scenario must have explicit programs). */
export async function checkInputs(o: CheckCommandOptions) {
  const source = readScenario(o.file ?? "builtin:check");
  const backend = await resolveBackend(o.backend ?? scenarioBackendSpec(source));
  const scenario = withBackend(source.scenario, backend);
  if (scenario.programs === undefined)
    throw new PtesimError(
      "scenario",
      `${source.file ?? "scenario"}: the checker needs explicit \`programs:\` (one list of accesses per user CPU, e.g. ["w buf:0", "r buf:1"])`,
    );
  return { source, backend, scenario };
}

/** A backend spec that means the same from any thread: module paths made absolute. */
export function absoluteBackendSpec(spec: string): string {
  return looksLikePath(spec) ? resolve(spec) : spec;
}

/** The scenario's `backend:`; a module path in a scenario file is relative to that file. */
export function scenarioBackendSpec(source: ScenarioSource): string {
  const spec = source.scenario.backend;
  if (
    source.file === null ||
    source.file === STDIN ||
    source.file.startsWith("builtin:") ||
    !looksLikePath(spec) ||
    isAbsolute(spec)
  )
    return spec;
  return join(dirname(source.file), spec);
}

export interface RunOptions {
  file?: string;
  backend?: string;
  seed?: number;
  /** Follow this replay token instead of the seeded interleaving. */
  replay?: string;
  /** Run this many consecutive seeds from the starting seed. */
  sweep?: number;
  /** A sweep's progress: seeds done so far, and of those failing. */
  onProgress?: (done: number, failing: number) => void;
  /** Polled between seeds of a sweep: true stops it (Ctrl-C); the summary says so. */
  shouldStop?: () => boolean;
}

export interface SweepSummary {
  /** Seeds run (fewer than `requested` when interrupted). */
  seeds: number;
  requested: number;
  interrupted: boolean;
  /** The run of the first seed (what is shown when no seed fails). */
  firstRun: RunResult | null;
  firstSeed: number;
  failingSeeds: number;
  byProperty: Partial<Record<PropertyName, number>>;
  /** The first failing run, if any. */
  firstFailure: RunResult | null;
  /** The first run whose first violation is of each property. */
  firstByProperty: Partial<Record<PropertyName, RunResult>>;
}

export interface RunOutcome {
  source: ScenarioSource;
  backend: BackendModule;
  result: RunResult;
  sweep: SweepSummary | null;
  /** The command line that reproduces `result`. */
  reproduce: string;
  /** The stamped replay token of `result`'s interleaving alone. */
  replay: string;
}

/** User backends by the spec they were loaded from (a path), for commands that reproduce runs. */
const userBackendSpecs = new WeakMap<BackendModule, string>();

/** What `--backend` must say to get `b` again: its path for a module, else its name. */
export function backendArg(b: BackendModule): string {
  return userBackendSpecs.get(b) ?? b.name;
}

/** The identity a replay token is stamped with: a module never passes for a built-in. */
export function backendIdentity(b: BackendModule): string {
  return backendIdentityOf(userBackendSpecs.has(b) ? "module" : "builtin", b.name);
}

/** The stamp of replay tokens for this scenario (as run, seed included) and backend. */
export function stampOf(scenario: Scenario, b: BackendModule): ReplayStamp {
  return replayStamp(scenario, backendIdentity(b));
}

export { shellQuote };

/** The command that reproduces a run: it works as printed (paths quoted, module paths kept). */
export function reproduceCommand(
  file: string | null,
  backend: BackendModule,
  seed: number,
  replay?: string,
): string {
  return reproduceLine(file, backendArg(backend), seed, replay);
}

/** The scenario with `backend` in charge: its backendOptions re-checked against that backend's schema. */
export function withBackend(s: Scenario, backend: BackendModule): Scenario {
  const mismatch = archMismatch(backend, s.arch);
  if (mismatch !== null) throw new PtesimError("usage", mismatch);
  if (backend.name === s.backend || backend.optionsSchema === undefined)
    return { ...s, backend: backend.name };
  const r = backend.optionsSchema.safeParse(s.backendOptions);
  if (!r.success)
    throw new PtesimError(
      "usage",
      `the scenario's backendOptions do not suit backend "${backend.name}": ${r.error.issues.map((i) => `${i.path.join(".") || "backendOptions"}: ${i.message}`).join("; ")}`,
    );
  return { ...s, backend: backend.name, backendOptions: r.data as Record<string, unknown> };
}

export async function runCommand(o: RunOptions): Promise<RunOutcome> {
  const source = readScenario(o.file);
  const backend = await resolveBackend(o.backend ?? scenarioBackendSpec(source));
  const base: Scenario = {
    ...withBackend(source.scenario, backend),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
  };
  if (o.replay !== undefined) {
    if (o.sweep !== undefined) throw new PtesimError("usage", "--replay and --sweep do not go together");
    let result: RunResult;
    try {
      result = replayRun(base, backend, o.replay, stampOf(base, backend));
    } catch (e) {
      if (e instanceof ReplayError) throw new PtesimError("replay", e.message);
      throw e;
    }
    return {
      source,
      backend,
      result,
      sweep: null,
      reproduce: reproduceCommand(source.file, backend, base.seed, o.replay),
      replay: o.replay,
    };
  }
  if (o.sweep === undefined) {
    const result = runScenario(base, backend);
    return {
      source,
      backend,
      result,
      sweep: null,
      reproduce: reproduceCommand(source.file, backend, base.seed),
      replay: encodeReplay(result.choices, stampOf(base, backend)),
    };
  }
  const summary = sweep(base, backend, o.sweep, o.onProgress, o.shouldStop);
  // Every seed ran once: the result shown is the first failure, else the first seed's run.
  const result = summary.firstFailure ?? summary.firstRun ?? runScenario(base, backend);
  return {
    source,
    backend,
    result,
    sweep: summary,
    reproduce: reproduceCommand(source.file, backend, result.seed),
    replay: encodeReplay(result.choices, stampOf({ ...base, seed: result.seed }, backend)),
  };
}

export function sweep(
  base: Scenario,
  backend: BackendModule,
  n: number,
  onProgress?: (done: number, failing: number) => void,
  shouldStop?: () => boolean,
): SweepSummary {
  const s: SweepSummary = {
    seeds: 0,
    requested: n,
    interrupted: false,
    firstRun: null,
    firstSeed: base.seed,
    failingSeeds: 0,
    byProperty: {},
    firstFailure: null,
    firstByProperty: {},
  };
  for (let i = 0; i < n; i++) {
    if (shouldStop?.() === true) {
      s.interrupted = true;
      break;
    }
    const seed = (base.seed + i) >>> 0;
    // Timelines without details, except the first run (shown when no seed fails); the runs kept
    // are re-run with them (same seed, same run).
    const r = runScenario({ ...base, seed }, backend, i === 0 ? {} : { details: false });
    s.seeds++;
    if (i === 0) s.firstRun = r;
    if (r.violations.length > 0) {
      s.failingSeeds++;
      const seen = new Set(r.violations.map((v) => v.property));
      for (const p of seen) s.byProperty[p] = (s.byProperty[p] ?? 0) + 1;
      const p = r.violations[0].property;
      if (s.firstFailure === null || s.firstByProperty[p] === undefined) {
        const full = runScenario({ ...base, seed }, backend);
        if (s.firstFailure === null) s.firstFailure = full;
        if (s.firstByProperty[p] === undefined) s.firstByProperty[p] = full;
      }
    }
    onProgress?.(i + 1, s.failingSeeds);
  }
  return s;
}

export interface DemoOutcome {
  scenario: Scenario;
  seeds: number;
  rows: { backend: BackendModule; summary: SweepSummary }[];
  /** The cost model on a 512-page mprotect. */
  costs: CostsTable;
}

/** The demo: the default scenario over a range of seeds on every built-in backend. */
export function demoCommand(
  seeds: number,
  onProgress?: (backend: string, done: number) => void,
  shouldStop?: () => boolean,
): DemoOutcome {
  const scenario = defaultScenario();
  const rows: DemoOutcome["rows"] = [];
  for (const backend of allBackends()) {
    if (shouldStop?.() === true) break;
    const summary = sweep(
      withBackend(scenario, backend),
      backend,
      seeds,
      (d) => onProgress?.(backend.name, d),
      shouldStop,
    );
    rows.push({ backend, summary });
  }
  const costs = benchCosts({ pages: [512], batchSizes: [] });
  return { scenario, seeds, rows, costs };
}

export interface CheckCommandOptions {
  file?: string;
  backend?: string;
  mode?: CheckMode;
  maxExecutions?: number;
  maxSeconds?: number;
  /** The memory bound (MB) of the whole command; the search stops (INCOMPLETE) at 85% of it. */
  maxMemoryMb?: number;
  /** executions: absent with --workers (the threads count theirs only at the end). */
  onProgress?: (p: { executions?: number; states: number; elapsedMs: number }) => void;
  /** Polled between executions: true stops with verdict incomplete, reason "interrupted". */
  shouldStop?: () => boolean;
  /** Visited-state storage (default fingerprint). */
  storage?: StateStorage;
  /** Value symmetry of the state keys (default "values"; a litmus scenario always "none"). */
  symmetry?: Symmetry;
  /** Worker threads sharing one visited store (reduced and por modes; default 1). */
  workers?: number;
  /** Explore only the subtree below this shard (a stamped prefix token from --shards). */
  shard?: string;
  /** Keep the visited store and final states in the result (to save a shard's result). */
  keepStore?: boolean;
}

export interface CheckOutcome {
  source: ScenarioSource;
  backend: BackendModule;
  mode: CheckMode;
  result: CheckResult;
  /** For a violation: the command that replays it. */
  reproduce: string | null;
}

/** A check outcome's `ptesim.check/1` document (`check --json`, `bugs --html`). */
export function checkOutcomeDocument(o: CheckOutcome) {
  return checkDocument(o.result, {
    scenario: o.source.scenario.name,
    file: o.source.file,
    backend: o.backend.name,
    mode: o.mode,
    cpus: o.source.scenario.cpus,
    arch: archOf(o.source.scenario),
    reproduce: o.reproduce,
    ...(o.source.scenario.litmus === undefined ? {} : { litmus: o.source.scenario.litmus }),
  });
}

export async function checkCommand(o: CheckCommandOptions): Promise<CheckOutcome> {
  const { source, backend, scenario } = await checkInputs(o);
  const mode = o.mode ?? "reduced";
  const storage = o.storage ?? "fingerprint";
  const workers = o.workers ?? defaultWorkers(o, backend);
  if (workers > 1 && (mode === "exhaustive" || storage === "exact"))
    throw new PtesimError(
      "usage",
      `--workers ${workers} needs --mode reduced or por with fingerprint storage (the threads share one fingerprint store)`,
    );
  let prefix: number[] | undefined;
  if (o.shard !== undefined) {
    const p = decodeReplay(o.shard, stampOf(scenario, backend));
    if (typeof p === "string") throw new PtesimError("usage", `--shard: ${p}`);
    if (workers > 1)
      throw new PtesimError("usage", "--shard explores one subtree in one thread: drop --workers");
    prefix = p;
  }
  const maxMemoryBytes = o.maxMemoryMb === undefined ? undefined : o.maxMemoryMb * 0.85 * 2 ** 20;
  const result =
    workers > 1
      ? await checkParallel(
          scenario,
          backend,
          absoluteBackendSpec(o.backend ?? scenarioBackendSpec(source)),
          {
            workers,
            mode: mode as "reduced" | "por",
            ...(o.symmetry === undefined ? {} : { symmetry: o.symmetry }),
            ...(o.maxSeconds === undefined ? {} : { maxSeconds: o.maxSeconds }),
            ...(o.maxExecutions === undefined ? {} : { maxExecutions: o.maxExecutions }),
            ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }),
            ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
            ...(o.shouldStop === undefined ? {} : { shouldStop: o.shouldStop }),
          },
        )
      : check(scenario, backend, {
          mode,
          storage,
          ...(o.symmetry === undefined ? {} : { symmetry: o.symmetry }),
          ...(prefix === undefined ? {} : { prefix }),
          ...(o.keepStore === true ? { keepStore: true, collectFinalStates: true } : {}),
          ...(o.maxExecutions === undefined ? {} : { maxExecutions: o.maxExecutions }),
          ...(o.maxSeconds === undefined ? {} : { maxSeconds: o.maxSeconds }),
          ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes, memoryUsed: heapUsed }),
          now: () => performance.now(),
          ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
          ...(o.shouldStop === undefined ? {} : { shouldStop: o.shouldStop }),
        });
  return finishOutcome(source, backend, scenario, mode, result);
}

/** A check's outcome: a violation's token stamped for the scenario and backend, and the command that replays it. */
export function finishOutcome(
  source: ScenarioSource,
  backend: BackendModule,
  scenario: Scenario,
  mode: CheckMode,
  result: CheckResult,
): CheckOutcome {
  if (result.verdict === "violated")
    result.counterexample.replay = encodeReplay(result.counterexample.choices, stampOf(scenario, backend));
  const reproduce =
    result.verdict === "violated"
      ? reproduceCommand(source.file, backend, scenario.seed, result.counterexample.replay)
      : null;
  return { source, backend, mode, result, reproduce };
}

/**
 * The V8 heap in use (process.memoryUsage().heapUsed without the resident-set read that
 * memoryUsage also makes: a file read the checker paid every 64 executions, 2% of its time).
 */
function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}
