// Errors as data: every failure the CLI reports has a stable code and an exit status.
export const EXIT_OK = 0;
export const EXIT_VIOLATION = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;
/** `check` stopped at a bound before deciding. */
export const EXIT_INCOMPLETE = 4;
/** The results could not be written: stdout closed (EPIPE) or its device full (ENOSPC). */
export const EXIT_OUTPUT = 5;
/** Stopped by Ctrl-C (SIGINT), after printing what was done: 128 + SIGINT, as shells report it. */
export const EXIT_INTERRUPTED = 130;

/** Every error's stable code, with what it means (the README's table; the JSON schema's enum). */
export const ERROR_CODES = {
  usage: "bad command line: unknown command or option, stray argument, bad option value",
  scenario: "invalid scenario or bug catalogue file (located: file:line:col)",
  costs: "invalid cost table file (--costs; located)",
  probe: "a real-kernel probe could not be built or run (ptesim calibrate)",
  io: "a file cannot be read or written, or is not what it should be",
  backend: "unknown backend, or a backend module that does not load, throws, hangs or exits",
  replay: "malformed replay token, or one recorded on another scenario or backend",
  queue: "the job queue (check --queue, worker) cannot be reached, or a worker failed on a shard",
  memory: "the command ran out of memory (its bound: --max-memory)",
  output: "stdout closed (EPIPE) or its disk full (ENOSPC)",
  interrupted: "stopped by Ctrl-C before anything could be shown",
  internal: "a bug in ptesim",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A place in an input file (1-based line and column). */
export interface Location {
  file: string;
  line: number;
  col: number;
  message: string;
}

export class PtesimError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra lines (e.g. one per located scenario error). */
    readonly details: string[] = [],
    /** Where in the input, when known (a scenario's errors, a backend module's syntax error). */
    readonly locations: Location[] = [],
    /** The exit status, where it is not the code's usual one (check out of memory: 4). */
    private readonly exit?: number,
  ) {
    super(message);
    this.name = "PtesimError";
  }
  get exitCode(): number {
    if (this.exit !== undefined) return this.exit;
    switch (this.code) {
      case "internal":
        return EXIT_INTERNAL;
      case "output":
        return EXIT_OUTPUT;
      case "interrupted":
        return EXIT_INTERRUPTED;
      default:
        return EXIT_USAGE;
    }
  }
}
