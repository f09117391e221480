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

export type ErrorCode =
  | "usage" // bad command line
  | "scenario" // invalid scenario file
  | "costs" // invalid cost table file (--costs)
  | "probe" // a real-kernel probe could not be built or run (ptesim calibrate)
  | "io" // cannot read or write a file
  | "backend" // unknown backend or a backend module that does not load
  | "replay" // malformed replay token
  | "output" // stdout closed or full
  | "interrupted" // stopped by Ctrl-C before anything could be shown
  | "internal"; // a bug in ptesim

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
  ) {
    super(message);
    this.name = "PtesimError";
  }
  get exitCode(): number {
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
