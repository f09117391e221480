// The documents the viewer shows: the CLI's JSON, typed from the same builders.
import type { checkDocument, runDocument } from "../../src/sim/documents.js";
import type { TraceEvent } from "../../src/sim/simulation.js";
import type { BackendReplay, ReplayResult } from "../../src/strace/replay.js";

export type { TraceEvent };
export type RunDoc = ReturnType<typeof runDocument>;
export type CheckDoc = ReturnType<typeof checkDocument> & {
  property?: string;
  rule?: string | null;
  message?: string;
  addr?: number;
  replay?: string;
  reproduce?: string | null;
  timeline?: TraceEvent[];
  reason?: string;
};

export interface CostsRow {
  backend: string;
  pages: number;
  ptes: number;
  counters: Record<string, number>;
  cycles: number;
  cyclesPerPte: number;
}
/** The `ptesim.bench-costs/1` document (only the fields drawn). */
export interface CostsDoc {
  schema: "ptesim.bench-costs/1";
  native?: {
    rows: {
      pages: number;
      direction: "ro" | "rw";
      modelCyclesPerPte: number;
      kernelCyclesPerPte: number | null;
      ratio: number | null;
    }[];
  };
  backends: string[];
  pages: number[];
  rows: CostsRow[];
  batch: {
    backend: string;
    pages: number;
    rows: { batch: number; cyclesPerPte: number; [k: string]: unknown }[];
  };
  legacyOverSeed: { pages: number; ratio: number } | null;
}

/** The `ptesim.replay/2` document (printReplay): the replay result with each space's maps as lines. */
export type ReplayDoc = Pick<ReplayResult, "lines" | "calls" | "notes" | "populate"> & {
  schema: "ptesim.replay/2";
  file: string;
  verdict: "match" | "diverged";
  backends: (Omit<BackendReplay, "counters"> & { counters: Record<string, number> })[];
};

/** The `ptesim.bench-costs-arm64/1` document (only the fields drawn). */
export interface Arm64CostsDoc {
  schema: "ptesim.bench-costs-arm64/1";
  costsFile: string | null;
  ignored: string[];
  backends: string[];
  pages: number[];
  weights: Record<string, { cycles: number; source: string }>;
  rows: {
    backend: string;
    pages: number;
    ptes: number;
    counts: Record<string, number>;
    cycles: number;
    cyclesPerPte: number;
  }[];
}

export type AnyDoc = RunDoc | CheckDoc | CostsDoc | Arm64CostsDoc | ReplayDoc | BugsDoc;

/** One variant's check in the `ptesim.bugs/1` document. */
export interface BugVariantDoc {
  backend: string;
  scenario: string;
  verdict: "verified" | "violated" | "incomplete";
  property: string | null;
  rule: string | null;
  states: number;
  executions: number;
  elapsedMs: number;
  reproduce: string | null;
}

/** The `ptesim.bugs/1` document (src/cli/bugs-command.ts BugsJson). */
export interface BugsDoc {
  schema: "ptesim.bugs/1";
  dir: string;
  summary: { entries: number; runnable: number; behave: number; misbehave: number; notModelled: number };
  bugs: {
    name: string;
    title: string;
    year: number | null;
    history: string;
    arch: string;
    system: string;
    property: string;
    rule: string | null;
    fix: {
      repo: string;
      commit: string | null;
      title: string | null;
      author?: string | null;
      date?: string | null;
    };
    provenance?: {
      historyNote: string | null;
      fixes: { commit: string | null; title: string | null } | null;
      related: { repo: string; commit: string | null; title: string }[];
      verified: Record<string, boolean>;
      sources: { where: string; what: string }[];
      explanation: string;
      restated: string;
      needs: string[];
    };
    status: "behaves" | "misbehaves" | "not-modelled";
    missing: string[];
    problems: string[];
    buggy: BugVariantDoc | null;
    fixed: BugVariantDoc | null;
  }[];
}
