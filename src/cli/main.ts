#!/usr/bin/env node
import { renameSync, writeFileSync } from "node:fs";
// ptesim command line. Exit codes: 0 no violation, 1 a property was violated, 2 bad usage or
// input, 3 internal error.
import { parseArgs } from "node:util";
import { allBackends } from "../backends/registry.js";
import { checkCommand, demoCommand, runCommand } from "./commands.js";
import { benchCosts, formatCostsTable, renderCostsSvg } from "./costs.js";
import {
  EXIT_INCOMPLETE,
  EXIT_INTERNAL,
  EXIT_OK,
  EXIT_USAGE,
  EXIT_VIOLATION,
  PtesimError,
} from "./errors.js";
import { printReplay, replayCommand, replayExitCode } from "./replay-command.js";
import { type Out, printCheck, printDemo, printRun } from "./report.js";

const USAGE = `usage: ptesim <command> [options]

commands:
  demo                         run the built-in scenario on every backend and compare
  run [scenario.yaml]          run a scenario (default: the built-in one) once, or over --sweep seeds
      --backend NAME|PATH      backend name (see 'ptesim backends') or a module path
      --seed N                 seed (default: the scenario's)
      --sweep N                run N consecutive seeds starting at --seed; report the first failure
      --json                   machine-readable result on stdout
      --replay TOKEN           follow a recorded interleaving (from a failing run or check)
  check [scenario.yaml]        explore every interleaving of the scenario (default: a built-in one)
      --backend NAME|PATH      backend name or module path
      --mode reduced|exhaustive  state-caching exploration (default) or every path (the reference)
      --max-executions N       stop after N executions: verdict INCOMPLETE
      --max-seconds S          stop after S seconds: verdict INCOMPLETE
      --json                   machine-readable result on stdout
  replay LOG                   replay the memory syscalls of a real program recorded with
                               strace -f -e trace=memory -o LOG program; checks every outcome
      --backend NAME|PATH      one backend (default: every built-in one)
      --populate POLICY        how pages get touched: touch (default), read, write, none
      --maps                   print the final VMA list in /proc/PID/maps format
      --json                   machine-readable result on stdout
  bench costs                  mprotect cost per PTE on every backend (traps, hypercalls, cycles)
      --out FILE.svg           also write the chart
      --json                   the table as JSON
  backends                     list the built-in backends
  help                         this text

exit codes: 0 no violation (check: verified), 1 a property was violated, 2 bad usage or input,
            3 internal error, 4 check incomplete (a bound was reached first)`;

const io: Out = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
};

/** Write via a temporary file and rename, so a failure never leaves a half-written result. */
function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    throw new PtesimError(
      "io",
      `${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

function intOpt(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new PtesimError("usage", `--${name} takes a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new PtesimError("usage", `--${name} must be in ${min}..${max}, got ${v}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    io.out(USAGE);
    return cmd === undefined ? EXIT_USAGE : EXIT_OK;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        backend: { type: "string" },
        seed: { type: "string" },
        sweep: { type: "string" },
        seeds: { type: "string" },
        json: { type: "boolean" },
        replay: { type: "string" },
        mode: { type: "string" },
        "max-executions": { type: "string" },
        "max-seconds": { type: "string" },
        out: { type: "string" },
        maps: { type: "boolean" },
        populate: { type: "string" },
      },
    });
  } catch (e) {
    throw new PtesimError("usage", (e as Error).message);
  }
  const { values, positionals } = parsed;
  const only = (allowed: string[]) => {
    for (const k of Object.keys(values))
      if (!allowed.includes(k)) throw new PtesimError("usage", `'ptesim ${cmd}' does not take --${k}`);
  };
  switch (cmd) {
    case "demo": {
      only(["seeds"]);
      if (positionals.length > 0) throw new PtesimError("usage", "'ptesim demo' takes no arguments");
      const seeds = intOpt(values.seeds as string | undefined, "seeds", 1, 100000) ?? 1000;
      const t0 = Date.now();
      const d = demoCommand(seeds, (b, n) => {
        if (n === seeds) io.err(`  ${b}: ${n} seeds done (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      });
      printDemo(d, io);
      const correctFailed = d.rows.some((r) => r.backend.correct && r.summary.failingSeeds > 0);
      return correctFailed ? EXIT_VIOLATION : EXIT_OK;
    }
    case "run": {
      only(["backend", "seed", "sweep", "json", "replay"]);
      if (positionals.length > 1)
        throw new PtesimError("usage", "'ptesim run' takes at most one scenario file");
      const o = await runCommand({
        ...(positionals[0] === undefined ? {} : { file: positionals[0] }),
        ...(values.backend === undefined ? {} : { backend: values.backend as string }),
        ...(values.seed === undefined ? {} : { seed: intOpt(values.seed as string, "seed", 0, 0xffffffff)! }),
        ...(values.sweep === undefined
          ? {}
          : { sweep: intOpt(values.sweep as string, "sweep", 1, 10_000_000)! }),
        ...(values.replay === undefined ? {} : { replay: values.replay as string }),
      });
      printRun(o, io, values.json === true);
      return o.result.violations.length > 0 ? EXIT_VIOLATION : EXIT_OK;
    }
    case "check": {
      only(["backend", "mode", "max-executions", "max-seconds", "json"]);
      if (positionals.length > 1)
        throw new PtesimError("usage", "'ptesim check' takes at most one scenario file");
      const mode = values.mode as string | undefined;
      if (mode !== undefined && mode !== "reduced" && mode !== "exhaustive")
        throw new PtesimError("usage", `--mode is "reduced" or "exhaustive", got "${mode}"`);
      let progressShown = false;
      const o = await checkCommand({
        ...(positionals[0] === undefined ? {} : { file: positionals[0] }),
        ...(values.backend === undefined ? {} : { backend: values.backend as string }),
        ...(mode === undefined ? {} : { mode }),
        ...(values["max-executions"] === undefined
          ? {}
          : { maxExecutions: intOpt(values["max-executions"] as string, "max-executions", 1, 1e12)! }),
        ...(values["max-seconds"] === undefined
          ? {}
          : { maxSeconds: intOpt(values["max-seconds"] as string, "max-seconds", 1, 1e7)! }),
        onProgress: (p) => {
          progressShown = true;
          // On a terminal one line rewritten in place; in a log, one line per report.
          const tty = process.stderr.isTTY === true;
          process.stderr.write(
            `${tty ? "\r" : ""}  ${p.states} states, ${p.executions} executions, ${(p.elapsedMs / 1000).toFixed(0)} s (${Math.round((p.states * 1000) / Math.max(1, p.elapsedMs))} states/s)${tty ? "   " : "\n"}`,
          );
        },
      });
      if (progressShown && process.stderr.isTTY === true) process.stderr.write("\n");
      printCheck(o, io, values.json === true);
      return o.result.verdict === "verified"
        ? EXIT_OK
        : o.result.verdict === "violated"
          ? EXIT_VIOLATION
          : EXIT_INCOMPLETE;
    }
    case "replay": {
      only(["backend", "maps", "populate", "json"]);
      if (positionals.length !== 1)
        throw new PtesimError("usage", "'ptesim replay' takes one strace log file");
      const o = await replayCommand({
        file: positionals[0],
        ...(values.backend === undefined ? {} : { backend: values.backend as string }),
        ...(values.populate === undefined ? {} : { populate: values.populate as string }),
        maps: values.maps === true,
      });
      printReplay(o, io, values.json === true);
      return replayExitCode(o);
    }
    case "bench": {
      only(["out", "json"]);
      if (positionals.length !== 1 || positionals[0] !== "costs")
        throw new PtesimError(
          "usage",
          "'ptesim bench' takes one subcommand: costs (whole benchmarks: npm run bench)",
        );
      const out = values.out as string | undefined;
      if (out !== undefined && !out.endsWith(".svg"))
        throw new PtesimError("usage", `--out names an .svg file, got "${out}"`);
      const tty = process.stderr.isTTY === true;
      const table = benchCosts({ onProgress: (w) => tty && process.stderr.write(`\r  ${w}`.padEnd(60)) });
      if (tty) process.stderr.write(`${"\r".padEnd(61)}\r`);
      if (out !== undefined) writeFileAtomic(out, renderCostsSvg(table));
      if (values.json === true) io.out(JSON.stringify(table, null, 2));
      else {
        for (const l of formatCostsTable(table)) io.out(l);
        if (out !== undefined) io.out(`chart written to ${out}`);
      }
      return EXIT_OK;
    }
    case "backends": {
      only([]);
      for (const b of allBackends()) io.out(`${b.name.padEnd(27)} ${b.description}`);
      return EXIT_OK;
    }
    default:
      throw new PtesimError("usage", `unknown command "${cmd}" (try 'ptesim help')`);
  }
}

// A closed pipe (ptesim ... | head) ends the output quietly, not with a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof PtesimError) {
      io.err(`ptesim: ${e.message}`);
      for (const d of e.details) io.err(d);
      if (e.code === "usage") io.err("(see 'ptesim help')");
      process.exitCode = e.exitCode;
      return;
    }
    io.err(`ptesim: internal error: ${(e as Error)?.message ?? String(e)}`);
    io.err(
      `please report it with the command line that triggered it: ptesim ${process.argv.slice(2).join(" ")}`,
    );
    if (process.env.PTESIM_DEBUG) io.err(String((e as Error)?.stack));
    process.exitCode = EXIT_INTERNAL;
  },
);

export { EXIT_USAGE, EXIT_VIOLATION };
