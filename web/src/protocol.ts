// Messages between the playground page and its Web Worker.
import type { LocatedError } from "../../src/scenario/load.js";
import type { CheckDoc, RunDoc } from "./types.js";

export interface Job {
  kind: "run" | "check";
  text: string;
  file: string;
  backend: string;
  /** Seed override (run), or null for the scenario's. */
  seed: number | null;
  mode: "reduced" | "exhaustive";
  maxSeconds: number;
  /** Run: follow this replay token instead of the seeded interleaving. */
  replay: string | null;
  /** A user's backend module (its file name and text), used instead of `backend` when given. */
  module: { file: string; text: string } | null;
}

export type Reply =
  | { type: "progress"; executions: number; states: number; elapsedMs: number }
  | { type: "invalid"; errors: LocatedError[] }
  /** `user`: the mistake is in the user's module or replay token, not the playground's. */
  | { type: "failed"; message: string; user?: "module" | "token" }
  /** The worker is alive: sent when a user module's operation is entered (throttled). */
  | { type: "alive"; op: string }
  | { type: "done"; doc: RunDoc | CheckDoc; ms: number };
