// The Reporter: where all CLI output goes. Results on stdout (text, with colour on a terminal,
// or one JSON document with --json), progress and errors on stderr. It knows the terminal
// (colour), the flags (--json, --quiet) and whether the user asked to stop (Ctrl-C). Light on
// purpose (no simulator imports): the supervising thread uses it too. The printers of each
// command's results are in report.ts.
import pc from "picocolors";
import type { Colors } from "picocolors/types.js";
import type { z } from "zod";
import type { PtesimError } from "./errors.js";
import type { ErrorJson } from "./output-schemas.js";

/** Where lines go (the minimal interface the printers of other modules use). */
export interface Out {
  out(s: string): void;
  err(s: string): void;
  /** Colours for stdout (the Reporter's; absent: plain text). */
  readonly c?: Colors;
}

const PLAIN = pc.createColors(false);

/** The colours a printer uses for `io` (plain when it has none, e.g. a test's collector). */
export function colorsOf(io: { readonly c?: Colors }): Colors {
  return io.c ?? PLAIN;
}

/** Facts about the process's surroundings, read once at start-up (tests pass their own). */
export interface Terminal {
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * Colour on or off for a stream: FORCE_COLOR (anything but "0"/"false") turns it on and wins, as
 * in Node itself; NO_COLOR (non-empty) turns it off; else colour on a terminal whose TERM is not
 * "dumb". CI=true does not turn it on (logs stay plain).
 */
export function colorEnabled(isTTY: boolean, env: Terminal["env"]): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return isTTY && env.TERM !== "dumb";
}

/** `--color WHEN`: on a terminal only (auto), or whatever the streams are. */
export const COLOR_WHEN = ["auto", "always", "never"] as const;
export type ColorWhen = (typeof COLOR_WHEN)[number];

/**
 * The `--color` of a command line, read before parsing (so that usage errors and the supervisor's
 * own messages follow it too); undefined when absent or not a valid value (the parser reports it).
 */
export function colorFlag(argv: readonly string[]): ColorWhen | undefined {
  const end = argv.indexOf("--");
  const args = end < 0 ? argv : argv.slice(0, end);
  let when: string | undefined;
  args.forEach((a, i) => {
    if (a === "--color") when = args[i + 1];
    else if (a.startsWith("--color=")) when = a.slice("--color=".length);
  });
  return (COLOR_WHEN as readonly string[]).includes(when ?? "") ? (when as ColorWhen) : undefined;
}

/** A live status line for long work: rewritten in place on a terminal, a line every few seconds in a log. */
export interface Progress {
  /** The current state; shown now or later, as the medium allows. */
  update(text: string): void;
  /** A new stage of the work: shown at once, also in a log (a few per command at most). */
  stage(text: string): void;
  /** Remove the live line (a terminal) before the results are printed. */
  done(): void;
}

const NO_PROGRESS: Progress = { update: () => {}, stage: () => {}, done: () => {} };

/** Raw writes to stdout (1) or stderr (2); the Reporter adds the newlines. */
export type Write = (fd: 1 | 2, text: string) => void;

export class Reporter implements Out {
  /** Colours for stdout and for stderr (each on only if that stream is a terminal, or forced). */
  c: Colors;
  ce: Colors;
  json = false;
  quiet = false;
  /** Set when the user asked to stop (Ctrl-C): long loops poll it and return what they have. */
  interrupted: () => boolean = () => false;
  constructor(
    private readonly write: Write,
    readonly term: Terminal,
    /** Milliseconds between progress lines when stderr is not a terminal. */
    private readonly logEveryMs = Number(term.env.PTESIM_PROGRESS_INTERVAL_MS ?? 5000),
  ) {
    this.c = pc.createColors(colorEnabled(term.stdoutIsTTY, term.env));
    this.ce = pc.createColors(colorEnabled(term.stderrIsTTY, term.env));
  }
  /** `--color WHEN` overrides the environment (FORCE_COLOR, NO_COLOR) and the terminal test. */
  setColor(when: ColorWhen | undefined): void {
    if (when === undefined) return;
    const on = (isTTY: boolean) =>
      when === "always" ? true : when === "never" ? false : colorEnabled(isTTY, this.term.env);
    this.c = pc.createColors(on(this.term.stdoutIsTTY));
    this.ce = pc.createColors(on(this.term.stderrIsTTY));
  }
  out(s: string): void {
    this.write(1, `${s}\n`);
  }
  err(s: string): void {
    this.write(2, `${s}\n`);
  }
  /** One JSON document on stdout. The type ties it to its published schema (output-schemas.ts). */
  document<T extends z.ZodType>(_schema: T, doc: z.output<T>): void {
    this.out(JSON.stringify(doc, null, 2));
  }
  /** A progress line (nothing with --quiet). */
  progress(): Progress {
    if (this.quiet) return NO_PROGRESS;
    const tty = this.term.stderrIsTTY;
    const t0 = performance.now();
    let last = t0;
    let shown = false;
    const show = (text: string, t: number) => {
      last = t;
      if (tty) {
        shown = true;
        this.write(2, `\r  ${text}\u001b[K`);
      } else this.err(`  ${text}`);
    };
    return {
      update: (text) => {
        const t = performance.now();
        // On a terminal at most 10 redraws a second (the line cleared to its end each time).
        if (tty ? !shown || t - last >= 100 : t - last >= this.logEveryMs) show(text, t);
      },
      stage: (text) => show(text, performance.now()),
      done: () => {
        if (shown) this.write(2, "\r\u001b[K");
        shown = false;
      },
    };
  }
  /** A failure, once: a JSON document on stdout with --json (and the text on stderr either way). */
  error(e: PtesimError, hint: string | null): void {
    if (this.json) {
      const first = e.locations[0];
      const doc: z.output<typeof ErrorJson> = {
        schema: "ptesim.error/1",
        code: e.code,
        message: e.message,
        ...(first === undefined ? {} : { file: first.file, line: first.line, col: first.col }),
        ...(e.locations.length > 0 ? { errors: e.locations } : {}),
        ...(e.details.length > 0 && e.locations.length === 0 ? { details: e.details } : {}),
        exitCode: e.exitCode,
      };
      this.out(JSON.stringify(doc, null, 2));
    }
    const { ce } = this;
    this.err(`${ce.bold(ce.red("ptesim:"))} ${e.message}`);
    for (const d of e.details) this.err(d);
    if (hint !== null) this.err(ce.dim(hint));
  }
}
