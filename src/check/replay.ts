// Replay paths: the decisions of a run (which agent moved at each point where several could),
// encoded as a short token that `ptesim run --replay TOKEN` turns back into the same run.
import type { Decider } from "../sim/simulation.js";

const PREFIX = "r1.";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Token format r1.<base64url>: each choice is an agent id 0..63 (one character); runs of the
 * same agent longer than 3 are written as "~" + count (base64url, 1-2 chars) + agent.
 */
export function encodeReplay(choices: readonly number[]): string {
  let out = PREFIX;
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

export function decodeReplay(token: string): number[] | string {
  if (!token.startsWith(PREFIX)) return `a replay token starts with "${PREFIX}"`;
  const body = token.slice(PREFIX.length);
  const out: number[] = [];
  for (let i = 0; i < body.length; ) {
    if (body[i] === "~") {
      if (i + 3 >= body.length) return `malformed run at character ${PREFIX.length + i + 1}`;
      const hi = ALPHABET.indexOf(body[i + 1] ?? "");
      const lo = ALPHABET.indexOf(body[i + 2] ?? "");
      const a = ALPHABET.indexOf(body[i + 3] ?? "");
      if (hi < 0 || lo < 0 || a < 0) return `malformed run at character ${PREFIX.length + i + 1}`;
      for (let k = 0; k < hi * 64 + lo; k++) out.push(a);
      i += 4;
      continue;
    }
    const a = ALPHABET.indexOf(body[i]);
    if (a < 0) return `unexpected character "${body[i]}" at ${PREFIX.length + i + 1}`;
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
