// The command-line framework: every command is one `CommandSpec` (name, arguments, options,
// handler), and commander turns the list into the parser, the generated help, suggestions for
// mistyped names and the usage errors. Commands live in command-table.ts; adding a command or an
// option is one entry there.
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { BackendError } from "../backends/guard.js";
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, PtesimError } from "./errors.js";
import type { Reporter } from "./report.js";
import { COLOR_WHEN, colorFlag } from "./reporter.js";

/** What a handler gets besides its arguments and options. */
export interface Context {
  /** All output goes through it (report.ts); io.json and io.quiet are the command's flags. */
  io: Reporter;
  /** The command's `--json` was given. */
  json: boolean;
}

export interface ArgSpec {
  /** As commander writes it: `<log>` (required) or `[scenario]` (optional). */
  name: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** One line, shown in the command list. */
  summary: string;
  /** More text for `ptesim help NAME`, after the options. */
  details?: string;
  args?: ArgSpec[];
  options?: Option[];
  /** Commands taking a --json flag (added by the framework, one wording for all). */
  json?: boolean;
  /** Commands that show progress on stderr, and so take -q/--quiet. */
  progress?: boolean;
  subcommands?: CommandSpec[];
  /** The handler: returns the exit code. Absent for a command that only groups subcommands. */
  run?: (
    args: (string | undefined)[],
    opts: Record<string, unknown>,
    cx: Context,
  ) => Promise<number> | number;
}

/** An option: flags and help as commander writes them, with an optional value parser or choices. */
export function opt(
  flags: string,
  help: string,
  extra: { parse?: (v: string) => unknown; choices?: readonly string[]; default?: [unknown, string] } = {},
): Option {
  const o = new Option(flags, help);
  if (extra.choices !== undefined) o.choices(extra.choices);
  if (extra.parse !== undefined) o.argParser(extra.parse);
  if (extra.default !== undefined) o.default(extra.default[0], extra.default[1]);
  return o;
}

/** A parser for a whole number in min..max (commander reports a throw as a usage error). */
export function intArg(min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`must be in ${min}..${max}, got ${v}`);
    return n;
  };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

export interface ProgramInfo {
  name: string;
  summary: string;
  /** Text after the command list in `ptesim help`. */
  epilogue: string;
}

/**
 * Build the commander program. `exitCode` receives the handler's result; every commander
 * outcome (help shown, bad option, unknown command) surfaces as a thrown CommanderError.
 */
function build(info: ProgramInfo, specs: CommandSpec[], cx: Context, result: { code: number }): Command {
  const program = new Command(info.name)
    .description(info.summary)
    .version(packageVersion(), "-V, --version", "print the version")
    .helpOption("-h, --help", "show help for a command")
    .helpCommand("help [command]", "show help for a command (ptesim help run)")
    .addHelpText("after", `\n${info.epilogue}`);
  const configure = (c: Command): Command =>
    c
      .exitOverride()
      .configureOutput({
        writeOut: (s) => cx.io.out(s.replace(/\n$/, "")),
        writeErr: (s) => cx.io.err(s.replace(/\n$/, "")),
        // Errors are reported once, by runCli, as text or JSON.
        outputError: () => {},
      })
      .showSuggestionAfterError(true)
      .helpOption("-h, --help", "show this help");
  configure(program);
  const add = (parent: Command, spec: CommandSpec, path: string): void => {
    const c = configure(new Command(spec.name)).description(spec.summary);
    for (const a of spec.args ?? []) c.argument(a.name, a.help);
    for (const o of spec.options ?? []) c.addOption(o);
    if (spec.run !== undefined)
      c.addOption(
        new Option(
          "--color <when>",
          "colour: on a terminal only, or always, or never (wins over NO_COLOR, FORCE_COLOR)",
        )
          .choices(COLOR_WHEN)
          .default("auto"),
      );
    if (spec.json === true) c.option("--json", "machine-readable output (errors too) on stdout");
    if (spec.progress === true) c.option("-q, --quiet", "no progress on stderr");
    if (spec.details !== undefined) c.addHelpText("after", `\n${spec.details}`);
    if (spec.subcommands !== undefined) c.helpCommand(false);
    for (const s of spec.subcommands ?? []) add(c, s, `${path} ${spec.name}`);
    const run = spec.run;
    if (run !== undefined)
      c.action(async (...a: unknown[]) => {
        const self = a[a.length - 1] as Command;
        const opts = self.opts();
        cx.json = cx.io.json = opts.json === true;
        cx.io.quiet = opts.quiet === true;
        result.code = await run(self.processedArgs as (string | undefined)[], opts, cx);
      });
    parent.addCommand(c);
  };
  for (const s of specs) add(program, s, info.name);
  return program;
}

/** Strip commander's "error: " prefix, name the option first, keep any suggestion on the line. */
function commanderMessage(e: CommanderError): string {
  const m = e.message.replace(/^error: /, "").replace(/\n\(Did you mean (.*)\?\)$/, " (did you mean $1?)");
  const bad = /^option '(-[^ ']+)[^']*' argument '(.*)' is invalid\. (.*)$/s.exec(m);
  if (bad === null) return m.trim();
  const [, name, got, why] = bad;
  const choices = /^Allowed choices are (.*)\.$/.exec(why);
  return choices === null ? `${name}: ${why}` : `${name} is one of ${choices[1]}; got "${got}"`;
}

/** `help run` -> the path of the command it names, for the hint after a usage error. */
function commandPath(argv: string[], specs: CommandSpec[]): string {
  const words: string[] = [];
  let level = specs;
  for (const a of argv) {
    const s = level.find((x) => x.name === a);
    if (s === undefined) break;
    words.push(a);
    level = s.subcommands ?? [];
  }
  return words.join(" ");
}

function findSpec(path: string[], specs: CommandSpec[]): CommandSpec | undefined {
  let level = specs;
  let found: CommandSpec | undefined;
  for (const w of path) {
    found = level.find((x) => x.name === w);
    if (found === undefined) return undefined;
    level = found.subcommands ?? [];
  }
  return found;
}

function helpHint(path: string): string {
  return `(see 'ptesim help${path ? ` ${path}` : ""}')`;
}

/** Parse argv, run the command, report any failure; returns the exit code. */
export async function runCli(
  argv: string[],
  info: ProgramInfo,
  specs: CommandSpec[],
  io: Reporter,
): Promise<number> {
  const dashdash = argv.indexOf("--");
  // Known before parsing, so a usage error is reported as JSON too.
  io.json = (dashdash < 0 ? argv : argv.slice(0, dashdash)).includes("--json");
  io.setColor(colorFlag(argv));
  const cx: Context = { io, json: io.json };
  // `ptesim help bench costs` is `ptesim bench costs --help`; an unknown name is parsed as a
  // command so commander reports it with a suggestion.
  if (argv[0] === "help" && argv.length > 1) {
    const rest = argv.slice(1);
    const known = commandPath(rest, specs)
      .split(" ")
      .filter((w) => w !== "").length;
    const level = known === 0 ? specs : (findSpec(rest.slice(0, known), specs)?.subcommands ?? []);
    argv =
      known < rest.length && level.length > 0
        ? rest.slice(0, known + 1)
        : [...rest.slice(0, known), "--help"];
  }
  const result = { code: EXIT_OK };
  const program = build(info, specs, cx, result);
  try {
    await program.parseAsync(argv, { from: "user" });
    return result.code;
  } catch (thrown) {
    let e = thrown;
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT_OK;
      // Help shown because a command was missing (`ptesim`, `ptesim bench`).
      if (e.code === "commander.help") return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      const path = commandPath(argv, specs);
      io.error(new PtesimError("usage", commanderMessage(e)), helpHint(path));
      return EXIT_USAGE;
    }
    // A user backend's mistake is the user's (exit 2), named by module, operation and problem.
    if (e instanceof BackendError) e = new PtesimError("backend", e.message);
    if (e instanceof PtesimError) {
      io.error(e, e.code === "usage" ? helpHint(commandPath(argv, specs)) : null);
      return e.exitCode;
    }
    io.error(
      new PtesimError("internal", `internal error: ${(e as Error)?.message ?? String(e)}`, [
        `please report it with the command line that triggered it: ptesim ${argv.join(" ")}`,
        ...(process.env.PTESIM_DEBUG ? [String((e as Error)?.stack)] : []),
      ]),
      null,
    );
    return EXIT_INTERNAL;
  }
}
