// Errors as data: every failure the CLI reports has a stable code and an exit status.
export const EXIT_OK = 0;
export const EXIT_VIOLATION = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;
/** `check` stopped at a bound before deciding. */
export const EXIT_INCOMPLETE = 4;

export type ErrorCode =
  | "usage" // bad command line
  | "scenario" // invalid scenario file
  | "costs" // invalid cost table file (--costs)
  | "probe" // a real-kernel probe could not be built or run (ptesim calibrate)
  | "io" // cannot read a file
  | "backend" // unknown backend or a backend module that does not load
  | "replay" // malformed replay token
  | "internal"; // a bug in ptesim

export class PtesimError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra lines (e.g. one per located scenario error). */
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = "PtesimError";
  }
  get exitCode(): number {
    return this.code === "internal" ? EXIT_INTERNAL : EXIT_USAGE;
  }
}
