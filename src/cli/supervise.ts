// Bounded user code, at the CLI edge. A backend module is the user's JavaScript, run in our
// process: it may loop forever without calling a primitive, never finish loading, call
// process.exit, or exhaust memory. None of that may end ptesim with exit 0, a hang or a V8
// crash. So the command runs in a worker thread, supervised from the main thread:
//   - the guard (src/backends/guard.ts) marks in shared memory when the module's code is
//     entered and left; a watchdog terminates the worker when one call (or the module's
//     loading) has not returned for USER_CODE_TIMEOUT_MS, and reports the module and operation;
//   - the worker says when the command has finished; a worker that ends without saying so was
//     ended by the module (process.exit in a worker ends only that thread): an error, exit 2;
//   - the worker's heap is bounded (resourceLimits, --max-memory): running out is reported as
//     such (check: INCOMPLETE, exit 4), not as a crash.
// The core stays pure: it only calls the UserCodeWatch it is given.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { UserCodeWatch } from "../backends/guard.js";
import { EXIT_INCOMPLETE, EXIT_USAGE, PtesimError } from "./errors.js";
import { type Context, reportError } from "./program.js";
import type { Out } from "./report.js";

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

interface Shared {
  /** [0]: 1 while user code runs; [1]: ms since the worker started when it was entered. */
  state: Int32Array;
}

let watch: UserCodeWatch | undefined;

/** The watch the guard should report to (undefined outside a supervised worker). */
export function userCodeWatch(): UserCodeWatch | undefined {
  return watch;
}

/** Inside the worker: connect the watch to the supervisor. */
function connectWatch(shared: Shared, t0: number): void {
  let last = "";
  watch = {
    enter(module, operation) {
      const what = `${module}\u0000${operation}`;
      // Names travel by message (rarely: only when they change); the clock by shared memory.
      if (what !== last) {
        last = what;
        parentPort?.postMessage({ kind: "enter", module, operation });
      }
      Atomics.store(shared.state, 1, Date.now() - t0);
      Atomics.store(shared.state, 0, 1);
    },
    leave() {
      Atomics.store(shared.state, 0, 0);
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

/**
 * Run `body` (the whole command) supervised. In the main thread: start this same script in a
 * worker and watch it; in the worker: run `body` and report its exit code.
 */
export async function supervised(
  script: URL,
  argv: string[],
  io: Out,
  body: () => Promise<number>,
): Promise<number> {
  if (!isMainThread) {
    const d = workerData as { state: SharedArrayBuffer; t0: number };
    connectWatch({ state: new Int32Array(d.state) }, d.t0);
    // process.exit in a worker ends only this thread; say so first, so the supervisor can tell.
    const exit = process.exit.bind(process);
    process.exit = ((code?: number | string | null) => {
      parentPort?.postMessage({ kind: "exit", code: code ?? 0 });
      return exit(code ?? undefined);
    }) as typeof process.exit;
    const code = await body();
    parentPort?.postMessage({ kind: "done", code });
    return code;
  }
  const timeout = userCodeTimeoutMs();
  const state = new Int32Array(new SharedArrayBuffer(8));
  const t0 = Date.now();
  const memMb = maxMemoryMb(argv);
  const worker = new Worker(script, {
    argv,
    workerData: { state: state.buffer, t0 },
    resourceLimits: { maxOldGenerationSizeMb: memMb },
    env: process.env,
  });
  const cx: Context = { io, json: argv.includes("--json") };
  let current = { module: "", operation: "" };
  let done: number | null = null;
  let stopped: PtesimError | null = null;
  let stoppedCode = EXIT_USAGE;
  let exitCalled: unknown = null;
  worker.on("message", (m: { kind: string; module?: string; operation?: string; code?: number }) => {
    if (m.kind === "enter") current = { module: m.module ?? "", operation: m.operation ?? "" };
    else if (m.kind === "done") done = m.code ?? 0;
    else if (m.kind === "exit") exitCalled = m.code;
  });
  const timer = setInterval(() => {
    if (Atomics.load(state, 0) !== 1) return;
    const since = Atomics.load(state, 1);
    if (Date.now() - t0 - since < timeout) return;
    stopped = new PtesimError(
      "backend",
      `backend ${current.module}: ${current.operation === "load" ? "loading the module" : current.operation} did not return within ${timeout / 1000} s (an endless loop in synchronous code, or a load that never settles?); stopped`,
    );
    void worker.terminate();
  }, 100);
  let error: Error | null = null;
  worker.on("error", (e) => {
    error = e;
  });
  const exit = await new Promise<number>((res) => worker.on("exit", res));
  clearInterval(timer);
  if (stopped !== null) {
    reportError(stopped, cx, null);
    return stoppedCode;
  }
  if (done !== null) return done;
  const e = error as (Error & { code?: string }) | null;
  if (e?.code === "ERR_WORKER_OUT_OF_MEMORY") {
    stoppedCode = argv[0] === "check" ? EXIT_INCOMPLETE : EXIT_USAGE;
    reportError(
      new PtesimError(
        "backend",
        `${argv[0] === "check" ? "INCOMPLETE: " : ""}ran out of memory (limit ${memMb} MB: --max-memory)${current.module ? ` while running backend ${current.module}` : ""}`,
      ),
      cx,
      null,
    );
    return stoppedCode;
  }
  if (e !== null) {
    reportError(new PtesimError("internal", `internal error: ${e.message}`), cx, null);
    return 3;
  }
  if (Atomics.load(state, 0) === 1 && current.operation === "load" && exitCalled === null) {
    reportError(
      new PtesimError(
        "backend",
        `backend ${current.module}: the module never finished loading (a top-level await that never settles?)`,
      ),
      cx,
      null,
    );
    return EXIT_USAGE;
  }
  reportError(
    new PtesimError(
      "backend",
      `${current.module ? `backend ${current.module}` : "a backend module"} ended ptesim (process.exit(${String(exitCalled ?? exit)})${current.operation === "load" ? " while loading" : current.operation ? ` in ${current.operation}` : ""}) before the command finished`,
    ),
    cx,
    null,
  );
  return EXIT_USAGE;
}
