// Replay paths: the decisions of a run (which agent moved at each point where several could),
// encoded as a short token that `ptesim run --replay TOKEN` turns back into the same run.
import type { Decider } from "../sim/simulation.js";

const PREFIX = "r1.";
/** Stamped tokens: r2.<scenario hash>.<backend hash>.<body>, the body as in r1. */
const PREFIX2 = "r2.";
/** Longest token accepted (characters) and most decisions it may expand to. */
export const MAX_REPLAY_TOKEN_CHARS = 1_000_000;
export const MAX_REPLAY_DECISIONS = 10_000_000;

/** 32-bit FNV-1a of a string, as base36 (short, stable, not cryptographic). */
function fnv1a(s: string, chars: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36).padStart(7, "0").slice(-chars);
}

/** What a stamped token is tied to: a scenario (with its seed) and a backend. */
export interface ReplayStamp {
  scenario: string;
  backend: string;
}

/**
 * The stamp of `scenario` (every field that shapes the run, seed included; not its name or
 * description, nor the backend field) and a backend identity such as "builtin:native" or
 * "module:my-backend".
 */
export function replayStamp(scenario: object, backendId: string): ReplayStamp {
  const { name: _n, description: _d, backend: _b, ...rest } = scenario as Record<string, unknown>;
  return { scenario: fnv1a(JSON.stringify(rest), 6), backend: fnv1a(backendId, 4) };
}
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Token format r1.<base64url>: each choice is an agent id 0..63 (one character); runs of the
 * same agent longer than 3 are written as "~" + count (base64url, 1-2 chars) + agent.
 */
export function encodeReplay(choices: readonly number[], stamp?: ReplayStamp): string {
  let out = stamp === undefined ? PREFIX : `${PREFIX2}${stamp.scenario}.${stamp.backend}.`;
  for (let i = 0; i < choices.length; ) {
    const a = choices[i];
    if (a < 0 || a > 63 || !Number.isInteger(a)) throw new RangeError(`agent id ${a} cannot be encoded`);
    let n = 1;
    while (i + n < choices.length && choices[i + n] === a && n < 4095) n++;
    if (n > 3) out += `~${ALPHABET[n >> 6]}${ALPHABET[n & 63]}${ALPHABET[a]}`;
    else out += ALPHABET[a].repeat(n);
    i += n;
  }
  return out;
}

/**
 * The decisions of a token, or what is wrong with it. With `expect`, only a stamped token of
 * that scenario and backend is accepted.
 */
export function decodeReplay(token: string, expect?: ReplayStamp): number[] | string {
  if (token.length > MAX_REPLAY_TOKEN_CHARS)
    return `a replay token has at most ${MAX_REPLAY_TOKEN_CHARS} characters (this one has ${token.length})`;
  let start = PREFIX.length;
  if (token.startsWith(PREFIX2)) {
    const m = /^r2\.([0-9a-z]{6})\.([0-9a-z]{4})\./.exec(token);
    if (m === null) return `a stamped replay token starts with "r2.<6 characters>.<4 characters>."`;
    if (expect !== undefined && m[1] !== expect.scenario)
      return "this token was recorded on another scenario (or seed): run it with the scenario and --seed printed beside it";
    if (expect !== undefined && m[2] !== expect.backend)
      return "this token was recorded with another backend: run it with the --backend printed beside it";
    start = m[0].length;
  } else if (expect !== undefined) return `a replay token starts with "${PREFIX2}" (the ones ptesim prints)`;
  else if (!token.startsWith(PREFIX)) return `a replay token starts with "${PREFIX}"`;
  const body = token.slice(start);
  const PREFIX_LEN = start;
  const out: number[] = [];
  for (let i = 0; i < body.length; ) {
    if (body[i] === "~") {
      if (i + 3 >= body.length) return `malformed run at character ${PREFIX_LEN + i + 1}`;
      const hi = ALPHABET.indexOf(body[i + 1] ?? "");
      const lo = ALPHABET.indexOf(body[i + 2] ?? "");
      const a = ALPHABET.indexOf(body[i + 3] ?? "");
      if (hi < 0 || lo < 0 || a < 0) return `malformed run at character ${PREFIX_LEN + i + 1}`;
      if (out.length + hi * 64 + lo > MAX_REPLAY_DECISIONS)
        return `a replay token expands to at most ${MAX_REPLAY_DECISIONS} decisions`;
      for (let k = 0; k < hi * 64 + lo; k++) out.push(a);
      i += 4;
      continue;
    }
    const a = ALPHABET.indexOf(body[i]);
    if (a < 0) return `unexpected character "${body[i]}" at ${PREFIX_LEN + i + 1}`;
    if (out.length >= MAX_REPLAY_DECISIONS)
      return `a replay token expands to at most ${MAX_REPLAY_DECISIONS} decisions`;
    out.push(a);
    i++;
  }
  return out;
}

/** A choice the replayed path names is not possible here: the token belongs to another run. */
export class ReplayMismatch extends Error {
  constructor(
    readonly decision: number,
    readonly wanted: number,
    readonly enabled: readonly number[],
  ) {
    const who = (e: number) => (e === 0 ? "the kernel" : `CPU${e}`);
    super(
      wanted < 0
        ? `replay diverged at decision ${decision}: the token has ended but ${enabled.map(who).join(", ")} can still move (wrong scenario, backend or token?)`
        : `replay diverged at decision ${decision}: the token chooses ${who(wanted)}, but only ${enabled.map(who).join(", ")} can move (wrong scenario, backend or token?)`,
    );
    this.name = "ReplayMismatch";
  }
}

/**
 * Follows a recorded path. Strict: a choice that is not enabled, or a path that runs out while
 * decisions remain, is a ReplayMismatch. Lenient (for counterexample minimisation): such
 * choices are skipped, and past the end the kernel moves first, then the lowest CPU.
 */
export class ReplayDecider implements Decider {
  private pos = 0;
  private decisions = 0;
  constructor(
    private readonly path: readonly number[],
    private readonly strict: boolean,
  ) {}
  choose(enabled: readonly number[]): number {
    this.decisions++;
    while (this.pos < this.path.length) {
      const want = this.path[this.pos++];
      if (enabled.includes(want)) return want;
      if (this.strict) throw new ReplayMismatch(this.decisions, want, enabled);
    }
    if (this.strict) throw new ReplayMismatch(this.decisions, -1, enabled);
    return enabled[0];
  }
  /** Whether the whole path was used. */
  get exhausted(): boolean {
    return this.pos >= this.path.length;
  }
}
