#!/usr/bin/env node
// ptesim command line: the commands are defined in command-table.ts, parsed by program.ts, and
// all output goes through reporter.ts and report.ts. The command runs in a worker supervised by
// this thread (supervise.ts: Ctrl-C, bounded user code, output errors). Exit codes: see
// PROGRAM.epilogue.
import { supervised } from "./supervise.js";

const argv = process.argv.slice(2);
supervised(new URL(import.meta.url), argv, async (io) => {
  // Loaded in the worker only: the supervising thread stays light.
  const [{ COMMANDS, PROGRAM }, { runCli }] = await Promise.all([
    import("./command-table.js"),
    import("./program.js"),
  ]);
  return runCli(argv, PROGRAM, COMMANDS, io);
}).then((code) => {
  process.exitCode = code;
});
