#!/usr/bin/env node
// ptesim command line: the commands are defined in command-table.ts, parsed by program.ts.
// Exit codes: see PROGRAM.epilogue (0 ok, 1 violated, 2 usage or input, 3 internal, 4 incomplete).
import { COMMANDS, PROGRAM } from "./command-table.js";
import { runCli } from "./program.js";
import type { Out } from "./report.js";
import { supervised } from "./supervise.js";

const io: Out = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
};

// A closed pipe (ptesim ... | head) ends the output quietly, not with a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });

// The command runs in a supervised worker: user backend modules cannot hang it, crash it or end
// it with a false exit 0 (supervise.ts).
const argv = process.argv.slice(2);
supervised(new URL(import.meta.url), argv, io, () => runCli(argv, PROGRAM, COMMANDS, io)).then((code) => {
  process.exitCode = code;
});
