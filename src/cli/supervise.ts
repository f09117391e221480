// Every command runs in a worker thread, supervised from the main thread. The main thread only
// writes the worker's output and watches it; it loads nothing of the simulator (the worker does).
//
// Why a worker:
//   - Ctrl-C: the simulator's loops are synchronous, so a SIGINT handler on the thread running
//     them would never run. Here the main thread gets the signal and sets a flag in shared
//     memory that the loops poll (io.interrupted()): they stop and print what they have (a
//     sweep's seeds done, check's INCOMPLETE with its figures), exit 130. A second Ctrl-C, or a
//     command that does not stop within STOP_GRACE_MS, ends the worker at once.
//   - Bounded user code (a backend module is the user's JavaScript, run in our process): the
//     guard (src/backends/guard.ts) marks in shared memory when the module's code is entered and
//     left; a watchdog terminates the worker when one call (or the module's loading) has not
//     returned for USER_CODE_TIMEOUT_MS, and reports the module and operation. A worker that ends
//     without saying it finished was ended by the module (process.exit in a worker ends only
//     that thread): an error, exit 2. The worker's heap is bounded (resourceLimits,
//     --max-memory): running out is reported as such (check: INCOMPLETE, exit 4), not as a crash.
//   - Output: the worker's lines come here as messages, in order, and are written to stdout and
//     stderr; a closed pipe (EPIPE) or a full disk (ENOSPC) ends the command quietly, exit 5.
// The core stays pure: it only calls the UserCodeWatch and the interrupted() it is given.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { UserCodeWatch } from "../backends/guard.js";
import {
  EXIT_INCOMPLETE,
  EXIT_INTERNAL,
  EXIT_INTERRUPTED,
  EXIT_OUTPUT,
  EXIT_USAGE,
  PtesimError,
} from "./errors.js";
import { colorFlag, Reporter, type Terminal, type Write } from "./reporter.js";

/**
 * How long one call into a user module (or its loading) may run before it is stopped: 10 s, or
 * PTESIM_USER_CODE_TIMEOUT_MS from the environment (tests use a short one).
 */
export function userCodeTimeoutMs(): number {
  const v = Number(process.env.PTESIM_USER_CODE_TIMEOUT_MS);
  return Number.isInteger(v) && v >= 100 ? v : 10_000;
}
/** Default heap bound of the worker (MB): --max-memory overrides it. */
export const DEFAULT_MAX_MEMORY_MB = 4096;
/** After the first Ctrl-C, how long a command may take to stop and report before it is ended. */
export const STOP_GRACE_MS = 3000;

/** Shared memory: [0] 1 while user code runs; [1] ms since start when it was entered; [2] 1 once Ctrl-C. */
const IN_USER_CODE = 0;
const ENTERED_AT = 1;
const STOP = 2;

interface WorkerInput {
  state: SharedArrayBuffer;
  t0: number;
  term: Terminal;
}
type WorkerMessage =
  | { kind: "out"; fd: 1 | 2; text: string }
  | { kind: "enter"; module: string; operation: string }
  | { kind: "done"; code: number }
  | { kind: "exit"; code: number | string };

let watch: UserCodeWatch | undefined;

/** The watch the guard should report to (undefined outside a supervised worker). */
export function userCodeWatch(): UserCodeWatch | undefined {
  return watch;
}

function post(m: WorkerMessage): void {
  parentPort?.postMessage(m);
}

/** Inside the worker: connect the watch to the supervisor. */
function connectWatch(state: Int32Array, t0: number): void {
  let last = "";
  watch = {
    enter(module, operation) {
      const what = `${module}\u0000${operation}`;
      // Names travel by message (rarely: only when they change); the clock by shared memory.
      if (what !== last) {
        last = what;
        post({ kind: "enter", module, operation });
      }
      Atomics.store(state, ENTERED_AT, Date.now() - t0);
      Atomics.store(state, IN_USER_CODE, 1);
    },
    leave() {
      Atomics.store(state, IN_USER_CODE, 0);
    },
  };
}

/** `--max-memory N` (MB) from the command line, if given (validated again by the command). */
function maxMemoryMb(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = a === "--max-memory" ? argv[i + 1] : a.startsWith("--max-memory=") ? a.slice(13) : undefined;
    if (v !== undefined && /^\d+$/.test(v)) return Math.max(64, Number(v));
  }
  return DEFAULT_MAX_MEMORY_MB;
}

/** The worker's side: run the command with a Reporter whose lines go to the supervisor. */
async function runInWorker(run: (io: Reporter) => Promise<number>): Promise<number> {
  const d = workerData as WorkerInput;
  const state = new Int32Array(d.state);
  connectWatch(state, d.t0);
  // process.exit in a worker ends only this thread; say so first, so the supervisor can tell.
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) => {
    post({ kind: "exit", code: code ?? 0 });
    return exit(code ?? undefined);
  }) as typeof process.exit;
  const io = new Reporter((fd, text) => post({ kind: "out", fd, text }), d.term);
  io.interrupted = () => Atomics.load(state, STOP) !== 0;
  const code = await run(io);
  post({ kind: "done", code });
  return code;
}

/**
 * Run the command line `argv`: in the main thread, start `script` (the entry point) in a worker
 * and supervise it, returning the exit code; in that worker, call `run` with the Reporter.
 */
export async function supervised(
  script: URL,
  argv: string[],
  run: (io: Reporter) => Promise<number>,
): Promise<number> {
  if (!isMainThread) return runInWorker(run);
  const term: Terminal = {
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: { ...process.env },
  };
  let outputBroken = false;
  const write: Write = (fd, text) => {
    if (!outputBroken) (fd === 1 ? process.stdout : process.stderr).write(text);
  };
  // The supervisor's own reports (a module that hangs, memory, Ctrl-C) go through a Reporter too.
  const io = new Reporter(write, term);
  io.setColor(colorFlag(argv));
  const dashdash = argv.indexOf("--");
  io.json = (dashdash < 0 ? argv : argv.slice(0, dashdash)).includes("--json");

  const timeout = userCodeTimeoutMs();
  const state = new Int32Array(new SharedArrayBuffer(12));
  const t0 = Date.now();
  const memMb = maxMemoryMb(argv);
  const worker = new Worker(script, {
    argv,
    workerData: { state: state.buffer, t0, term } satisfies WorkerInput,
    resourceLimits: { maxOldGenerationSizeMb: memMb },
    env: process.env,
  });
  // A closed pipe (ptesim ... | head) or a full disk ends the command quietly with EXIT_OUTPUT:
  // no stack trace, and not the "violated" code.
  for (const stream of [process.stdout, process.stderr])
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (outputBroken) return;
      outputBroken = true;
      if (e.code !== "EPIPE" && stream === process.stdout)
        try {
          process.stderr.write(`ptesim: cannot write the results to stdout (${e.code ?? e.message})\n`);
        } catch {}
      process.exit(EXIT_OUTPUT);
    });

  let current = { module: "", operation: "" };
  let done: number | null = null;
  let stopped: { error: PtesimError; code: number } | null = null;
  let exitCalled: number | string | null = null;
  worker.on("message", (m: WorkerMessage) => {
    if (m.kind === "out") write(m.fd, m.text);
    else if (m.kind === "enter") current = { module: m.module, operation: m.operation };
    else if (m.kind === "done") done = m.code;
    else if (m.kind === "exit") exitCalled = m.code;
  });
  const timer = setInterval(() => {
    if (Atomics.load(state, IN_USER_CODE) !== 1) return;
    const since = Atomics.load(state, ENTERED_AT);
    if (Date.now() - t0 - since < timeout) return;
    stopped = {
      error: new PtesimError(
        "backend",
        `backend ${current.module}: ${current.operation === "load" ? "loading the module" : current.operation} did not return within ${timeout / 1000} s (an endless loop in synchronous code, or a load that never settles?); stopped`,
      ),
      code: EXIT_USAGE,
    };
    void worker.terminate();
  }, 100);

  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    const now = () => {
      stopped ??= { error: new PtesimError("interrupted", "interrupted"), code: EXIT_INTERRUPTED };
      void worker.terminate();
    };
    if (interrupts > 1) return now();
    Atomics.store(state, STOP, 1);
    if (term.stderrIsTTY) write(2, "\r\u001b[Kstopping (Ctrl-C again to quit at once)\n");
    setTimeout(() => {
      stopped ??= {
        error: new PtesimError(
          "interrupted",
          `interrupted (the command did not stop within ${STOP_GRACE_MS / 1000} s)`,
        ),
        code: EXIT_INTERRUPTED,
      };
      void worker.terminate();
    }, STOP_GRACE_MS).unref();
  };
  process.on("SIGINT", onSigint);

  let error: Error | null = null;
  worker.on("error", (e) => {
    error = e;
  });
  const exit = await new Promise<number>((res) => worker.on("exit", res));
  clearInterval(timer);
  process.off("SIGINT", onSigint);
  if (done !== null) return done;
  const s = stopped as { error: PtesimError; code: number } | null;
  if (s !== null) {
    io.error(s.error, null);
    return s.code;
  }
  const e = error as (Error & { code?: string }) | null;
  if (e?.code === "ERR_WORKER_OUT_OF_MEMORY") {
    const code = argv[0] === "check" ? EXIT_INCOMPLETE : EXIT_USAGE;
    io.error(
      new PtesimError(
        "memory",
        `${argv[0] === "check" ? "INCOMPLETE: " : ""}ran out of memory (limit ${memMb} MB: --max-memory)${current.module ? ` while running backend ${current.module}` : ""}`,
        [],
        [],
        code,
      ),
      null,
    );
    return code;
  }
  if (e !== null) {
    io.error(new PtesimError("internal", `internal error: ${e.message}`), null);
    return EXIT_INTERNAL;
  }
  if (Atomics.load(state, IN_USER_CODE) === 1 && current.operation === "load" && exitCalled === null) {
    io.error(
      new PtesimError(
        "backend",
        `backend ${current.module}: the module never finished loading (a top-level await that never settles?)`,
      ),
      null,
    );
    return EXIT_USAGE;
  }
  io.error(
    new PtesimError(
      "backend",
      `${current.module ? `backend ${current.module}` : "a backend module"} ended ptesim (process.exit(${String(exitCalled ?? exit)})${current.operation === "load" ? " while loading" : current.operation ? ` in ${current.operation}` : ""}) before the command finished`,
    ),
    null,
  );
  return EXIT_USAGE;
}
