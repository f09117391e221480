// The JSON documents of `ptesim run` and `ptesim check` (README: "JSON output"), built from
// results by pure code so that the CLI, the HTML report and the browser playground emit the
// same thing. Versioning: within `ptesim.run/1` and `ptesim.check/1` fields are only ever added
// (the viewer's `machine`, and per timeline event `beforeHex`/`afterHex`, `tlb`, `locks`, `path`
// and `target`); a field that changes meaning or goes away bumps the version.

import { archByName, DEFAULT_ARCH } from "../arch/registry.js";
import type { ArchName } from "../arch/types.js";
import type { CheckMode, CheckResult } from "../check/explore.js";
import { scenarioLitmusVerdict } from "./litmus.js";
import { type Litmus, litmusCondition } from "./scenario.js";
import type { RunResult } from "./simulation.js";

export const JSON_SCHEMA_RUN = "ptesim.run/1";
export const JSON_SCHEMA_CHECK = "ptesim.check/1";

/** The identity replay tokens are stamped with (check/replay.ts replayStamp), by kind and name. */
export function backendIdentityOf(kind: "builtin" | "module", name: string): string {
  return `${kind}:${name}`;
}

/** `s` as one POSIX shell word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/**
 * The command that runs `file` (null: the built-in default) again with this backend (as
 * `--backend` must say it: a name, or a module's path) and seed, and a replay token if any.
 */
export function reproduceLine(
  file: string | null,
  backendArg: string,
  seed: number,
  replay?: string,
): string {
  return `ptesim run${file ? ` ${shellQuote(file)}` : ""} --backend ${shellQuote(backendArg)} --seed ${seed}${replay === undefined ? "" : ` --replay ${replay}`}`;
}

/** A scenario's architecture: its `arch` key where the scenario format has one, else the default. */
export function archOf(scenario: object): ArchName {
  return (scenario as { arch?: unknown }).arch === "arm64" ? "arm64" : DEFAULT_ARCH;
}

/** What the viewer needs beyond the text report: the arch, its PTE layout and the CPUs. */
export function machineDocument(cpus: number, arch: ArchName = DEFAULT_ARCH) {
  return { arch, cpus, pteBits: archByName(arch).pteBits };
}

export interface SweepDocumentInput {
  seeds: number;
  firstSeed: number;
  failingSeeds: number;
  byProperty: Record<string, number>;
  firstFailure: RunResult | null;
}

/** The `ptesim.run/1` document. */
export function runDocument(
  r: RunResult,
  o: {
    file: string | null;
    cpus: number;
    reproduce: string;
    sweep: SweepDocumentInput | null;
    arch?: ArchName;
  },
) {
  return {
    schema: JSON_SCHEMA_RUN,
    scenario: r.scenario,
    file: o.file,
    backend: r.backend,
    seed: r.seed,
    verdict: r.violations.length > 0 ? "violated" : "ok",
    violations: r.violations,
    syscalls: r.syscalls,
    stats: r.stats,
    counters: r.counters,
    sweep: o.sweep === null ? null : { ...o.sweep, firstFailure: o.sweep.firstFailure?.seed ?? null },
    timeline: r.timeline,
    reproduce: o.reproduce,
    machine: machineDocument(o.cpus, o.arch),
  };
}

/** The `ptesim.check/1` document. */
/** A litmus scenario's verdicts for the check document. */
export function litmusDocument(l: Litmus, verdict: string) {
  const { quantifier, text } = litmusCondition(l);
  return {
    test: l.test,
    quantifier,
    condition: text,
    verdict: verdict === "verified" || verdict === "violated" ? scenarioLitmusVerdict(l, verdict) : null,
    herd: l.herd ?? null,
    expected: l.expect,
  };
}

export function checkDocument(
  r: CheckResult,
  o: {
    scenario: string;
    file: string | null;
    backend: string;
    mode: CheckMode;
    cpus: number;
    reproduce: string | null;
    arch?: ArchName;
    litmus?: Litmus;
  },
) {
  const { finalStates: _f, ...stats } = r as typeof r & { finalStates?: unknown };
  const base = {
    schema: JSON_SCHEMA_CHECK,
    scenario: o.scenario,
    file: o.file,
    backend: o.backend,
    mode: o.mode,
    verdict: r.verdict,
    executions: stats.executions,
    completeExecutions: stats.completeExecutions,
    states: stats.states,
    transitions: stats.transitions,
    distinctFinalStates: stats.distinctFinalStates,
    elapsedMs: Math.round(stats.elapsedMs),
    storage: stats.storage,
    symmetry: stats.symmetry,
    storeBytes: stats.storeBytes,
    collisionProbability: stats.collisionProbability,
    machine: machineDocument(o.cpus, o.arch),
    ...(o.litmus === undefined ? {} : { litmus: litmusDocument(o.litmus, r.verdict) }),
  };
  if (r.verdict === "violated") {
    const cx = r.counterexample;
    return {
      ...base,
      property: cx.property,
      rule: cx.rule ?? null,
      message: cx.message,
      addr: cx.addr,
      replay: cx.replay,
      reproduce: o.reproduce,
      timeline: cx.timeline,
    };
  }
  return { ...base, ...(r.verdict === "incomplete" ? { reason: r.reason } : {}) };
}
