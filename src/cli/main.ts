#!/usr/bin/env node
// ptesim command line: the commands are defined in command-table.ts, parsed by program.ts, and all
// output goes through report.ts. Exit codes: see PROGRAM.epilogue.
//
// Commands that can run long run on a worker thread while this thread only writes their output
// and listens for Ctrl-C: the simulator's loops are synchronous, and a signal handler on the
// thread running them would never get to run. The first Ctrl-C sets a flag the loops poll (they
// stop and print what they have); a second one, or a command that does not stop within a few
// seconds, ends the worker at once.
//
// This thread imports nothing heavy before it knows where the command runs: the worker loads the
// simulator, and loading it twice would double the start-up time.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OUTPUT } from "./errors.js";
import type { Terminal, Write } from "./report.js";

/** Run the command line with `write` as its output, on this thread. */
async function runHere(
  argv: string[],
  write: Write,
  term: Terminal,
  interrupted?: () => boolean,
): Promise<number> {
  const [{ COMMANDS, PROGRAM }, { runCli }, { Reporter }] = await Promise.all([
    import("./command-table.js"),
    import("./program.js"),
    import("./report.js"),
  ]);
  const io = new Reporter(write, term);
  if (interrupted !== undefined) io.interrupted = interrupted;
  return runCli(argv, PROGRAM, COMMANDS, io);
}

/** Commands run on a worker (interruptible); the rest (help, backends) run here. */
const LONG_RUNNING = new Set(["demo", "run", "check", "replay", "bench"]);
/** After the first Ctrl-C, how long a command may take to stop and report before it is ended. */
const STOP_GRACE_MS = 3000;

interface WorkerInput {
  argv: string[];
  term: Terminal;
  stop: SharedArrayBuffer;
}
type WorkerMessage = { fd: 1 | 2; text: string } | { exit: number };

function main(): void {
  const argv = process.argv.slice(2);
  const term: Terminal = {
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
  };
  let outputBroken = false;
  const write: Write = (fd, text) => {
    if (!outputBroken) (fd === 1 ? process.stdout : process.stderr).write(text);
  };
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

  if (!LONG_RUNNING.has(argv[0] ?? "")) {
    runHere(argv, write, term).then((code) => {
      process.exitCode = code;
    });
    return;
  }
  const stop = new SharedArrayBuffer(4);
  const input: WorkerInput = { argv, term: { ...term, env: { ...process.env } }, stop };
  const worker = new Worker(new URL(import.meta.url), { workerData: input });
  let exit: number | null = null;
  worker.on("message", (m: WorkerMessage) => {
    if ("exit" in m) exit = m.exit;
    else write(m.fd, m.text);
  });
  worker.on("error", (e) => {
    write(2, `ptesim: internal error: ${e?.message ?? String(e)}\n`);
    exit = EXIT_INTERNAL;
  });
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      Atomics.store(new Int32Array(stop), 0, 1);
      if (term.stderrIsTTY) write(2, "\r\u001b[Kstopping (Ctrl-C again to quit at once)\n");
      setTimeout(() => {
        write(2, "ptesim: interrupted (the command did not stop in time)\n");
        exit = EXIT_INTERRUPTED;
        void worker.terminate();
      }, STOP_GRACE_MS).unref();
    } else {
      write(2, "ptesim: interrupted\n");
      exit = EXIT_INTERRUPTED;
      void worker.terminate();
    }
  };
  process.on("SIGINT", onSigint);
  worker.on("exit", (code) => {
    process.off("SIGINT", onSigint);
    process.exitCode = exit ?? (code === 0 ? EXIT_INTERNAL : code);
  });
}

function inWorker(): void {
  const input = workerData as WorkerInput;
  const stop = new Int32Array(input.stop);
  runHere(
    input.argv,
    (fd, text) => parentPort!.postMessage({ fd, text } satisfies WorkerMessage),
    input.term,
    () => Atomics.load(stop, 0) !== 0,
  ).then((code) => {
    parentPort!.postMessage({ exit: code } satisfies WorkerMessage);
  });
}

if (isMainThread) main();
else inWorker();
