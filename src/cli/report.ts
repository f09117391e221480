// All output of the CLI goes through here and reporter.ts: the printers of each command's results
// (text with colour on a terminal, or one JSON document of a published schema with --json). The
// Reporter they print to (reporter.ts) knows the terminal, the flags, progress and errors.

import pc from "picocolors";
import type { Colors } from "picocolors/types.js";
import type { z } from "zod";
import type { ArchName } from "../arch/types.js";
import { errnoName } from "../kernel/errno.js";
import { archOf, JSON_SCHEMA_CHECK, JSON_SCHEMA_RUN, litmusDocument, runDocument } from "../sim/documents.js";
import type { RunResult, TraceEvent } from "../sim/simulation.js";

export { JSON_SCHEMA_CHECK, JSON_SCHEMA_RUN };

import type { CheckOutcome, DemoOutcome, RunOutcome, SweepSummary } from "./commands.js";
import { checkOutcomeDocument, reproduceCommand } from "./commands.js";
import { BackendsJson, CheckJson, DemoJson, RunJson } from "./output-schemas.js";
import type { Reporter } from "./reporter.js";

export type { Out, Progress, Terminal, Write } from "./reporter.js";
export { colorEnabled, Reporter } from "./reporter.js";

export function formatTimeline(
  events: readonly TraceEvent[],
  max = 60,
  c: Colors = pc.createColors(false),
): string[] {
  const lines: string[] = [];
  const shown = events.length > max ? events.slice(events.length - max) : events;
  if (shown.length < events.length)
    lines.push(c.dim(`  ... ${events.length - shown.length} earlier events omitted`));
  for (const e of shown) {
    const where = e.addr >= 0 ? `0x${e.addr.toString(16)}` : "";
    const pte =
      e.after === undefined
        ? ""
        : e.before !== undefined && e.before !== e.after
          ? `${e.before}  ->  ${e.after}`
          : `= ${e.after}`;
    const note = e.note === undefined ? "" : `   ${c.bold(c.red(`<-- ${e.note}`))}`;
    lines.push(
      `  ${c.dim(`#${String(e.step).padEnd(5)}`)} CPU${e.cpu}  ${e.actor.padEnd(6)} ${e.what.padEnd(34)} ${where.padEnd(15)} ${pte}`.trimEnd() +
        note,
    );
  }
  return lines;
}

function violationLines(r: RunResult, c: Colors): string[] {
  const lines: string[] = [];
  const byProp = new Map<string, number>();
  for (const v of r.violations) byProp.set(v.property, (byProp.get(v.property) ?? 0) + 1);
  lines.push(c.bold(c.red(`VIOLATED: ${[...byProp].map(([p, n]) => `${p} x${n}`).join(", ")}`)));
  const first = r.violations[0];
  lines.push(`first: [${first.property}${first.rule ? `/${first.rule}` : ""}] ${first.message}`);
  if (r.timeline.length > 0) {
    lines.push(`interleaving on that page (kernel syscalls included):`);
    lines.push(...formatTimeline(r.timeline, 60, c));
  }
  return lines;
}

function sweepJson(s: SweepSummary): z.output<typeof RunJson>["sweep"] & object {
  return {
    seeds: s.seeds,
    firstSeed: s.firstSeed,
    failingSeeds: s.failingSeeds,
    byProperty: s.byProperty,
    firstFailure: s.firstFailure?.seed ?? null,
    firstByProperty: Object.fromEntries(Object.entries(s.firstByProperty).map(([p, r]) => [p, r.seed])),
    interrupted: s.interrupted,
  };
}

/** The `ptesim.run/1` document (the builder the playground uses too, plus the sweep's figures). */
export function runJson(o: RunOutcome): z.output<typeof RunJson> {
  return {
    ...runDocument(o.result, {
      file: o.source.file,
      cpus: o.source.scenario.cpus,
      arch: archOf(o.source.scenario),
      reproduce: o.reproduce,
      sweep: null,
    }),
    sweep: o.sweep === null ? null : sweepJson(o.sweep),
  } as z.output<typeof RunJson>;
}

export function printRun(o: RunOutcome, io: Reporter): void {
  const r = o.result;
  const { c } = io;
  if (io.json) {
    io.document(RunJson, runJson(o));
    return;
  }
  io.out(
    `scenario ${c.bold(r.scenario)}${o.source.file ? ` (${o.source.file})` : " (built-in)"}, backend ${c.bold(r.backend)}, seed ${r.seed}`,
  );
  for (const s of r.syscalls)
    io.out(
      `  ${s.cpu === undefined ? "" : `CPU${s.cpu}: `}${s.call === "fork" ? "fork()" : `${s.call}(0x${s.addr.toString(16)}, ${s.pages} pages${s.prot ? `, ${s.prot}` : ""})`} = ${s.ret < 0 ? `-1 ${errnoName(s.ret)}` : s.ret}${s.call === "mprotect" ? `  [${s.ptesChanged} PTEs]` : ""}`,
    );
  const st = r.stats;
  io.out(
    `  ${st.steps} steps (${st.kernelSteps} kernel, ${st.userSteps} user); ${st.reads} reads, ${st.writes} writes, ${st.faults} faults, ${st.segv} SIGSEGV`,
  );
  if (o.sweep !== null) io.out(sweepLine(o.backend.name, o.sweep, c));
  if (r.violations.length === 0) {
    io.out(c.green(o.sweep?.interrupted ? "OK so far: no property violated" : "OK: no property violated"));
    return;
  }
  for (const l of violationLines(r, c)) io.out(l);
  io.out(`reproduce: ${c.cyan(o.reproduce)}`);
  if (!o.reproduce.includes("--replay"))
    io.out(c.dim(`replay of this interleaving alone: --replay ${o.replay}`));
}

function sweepLine(name: string, s: SweepSummary, c: Colors): string {
  const props = Object.entries(s.byProperty)
    .map(([p, n]) => `${p} in ${n}`)
    .join(", ");
  const last = (s.firstSeed + s.seeds - 1) % 2 ** 32;
  const range =
    s.seeds === 0
      ? "no seeds"
      : `seeds ${s.firstSeed}..${last}${last < s.firstSeed ? " (wrapping from 4294967295 to 0)" : ""}`;
  const count = `${s.failingSeeds}/${s.seeds}`;
  return `  ${range}: ${s.failingSeeds > 0 ? c.red(count) : count} violate a property${props ? ` (${props})` : ""} [${name}]${s.interrupted ? c.yellow(` (interrupted after ${s.seeds} of ${s.requested} seeds)`) : ""}`;
}

const DEMO_COUNTERS = ["trap_pt_write", "trap_pt_xchg", "hypercall", "multicall", "mmu_update"];

export function printDemo(d: DemoOutcome, io: Reporter): void {
  const sc = d.scenario;
  const { c } = io;
  const headline = (s: SweepSummary) => s.firstByProperty["lost-dirty"] ?? s.firstFailure;
  if (io.json) {
    io.document(DemoJson, {
      schema: "ptesim.demo/1",
      scenario: sc.name,
      seeds: d.seeds,
      rows: d.rows.map(({ backend, summary }) => {
        const f = headline(summary);
        return {
          backend: backend.name,
          correct: backend.correct,
          sweep: sweepJson(summary),
          firstFailure:
            f === null
              ? null
              : {
                  seed: f.seed,
                  violations: f.violations,
                  reproduce: reproduceCommand(null, backend, f.seed),
                },
        };
      }),
      costs: d.costs.rows,
    });
    return;
  }
  io.out(`${c.bold("ptesim demo:")} ${sc.description ?? sc.name}`);
  io.out(
    `  ${sc.cpus} CPUs; regions: ${sc.regions.map((r) => `${r.name} (${r.pages} pages, ${r.shared ? "shared" : "private"}, populated by ${r.populate})`).join(", ")}; A bits aged first`,
  );
  io.out(
    `  syscalls on CPU0: ${sc.syscalls.map((x) => `${x.call}(${x.region}${x.prot ? `, ${x.prot}` : ""})`).join(", ")}`,
  );
  io.out(
    `  every backend runs the same ${d.seeds} seeded interleavings of those syscalls with the user CPUs' accesses\n`,
  );
  const w = Math.max(...d.rows.map((r) => r.backend.name.length), 7);
  io.out(`  ${"backend".padEnd(w)}  ${"".padEnd(8)}  seeds violating a property`);
  for (const { backend, summary } of d.rows) {
    const props = Object.entries(summary.byProperty)
      .map(([p, n]) => `${p} in ${n}`)
      .join(", ");
    const count = `${String(summary.failingSeeds).padStart(5)}/${summary.seeds}`;
    io.out(
      `  ${backend.name.padEnd(w)}  ${c.dim((backend.correct ? "" : "[broken]").padEnd(8))}  ${summary.failingSeeds === 0 ? c.green(count) : backend.correct ? c.bold(c.red(count)) : c.yellow(count)}${props ? `  (${props})` : ""}${summary.interrupted ? c.yellow("  (interrupted)") : ""}`,
    );
  }
  for (const { backend, summary } of d.rows) {
    const f = headline(summary);
    if (f === null) continue;
    // Show the headline failure: a lost dirty bit when there is one.
    io.out("");
    io.out(`${c.bold(backend.name)}: seed ${f.seed}`);
    for (const l of violationLines(f, c)) io.out(l);
    io.out(`reproduce: ${c.cyan(reproduceCommand(null, backend, f.seed))}`);
  }
  const row = d.costs.rows.filter((r) => r.pages === 512);
  if (row.length > 0) {
    io.out("");
    io.out(
      "cost of one mprotect(PROT_READ) over 512 populated pages (default cycle table, src/sim/costs.ts):",
    );
    for (const r of row)
      io.out(
        `  ${r.backend.padEnd(w)} ${r.cyclesPerPte.toFixed(0).padStart(7)} cycles/PTE  ${Object.entries(
          r.counters,
        )
          .filter(([k]) => DEMO_COUNTERS.includes(k))
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
      );
    io.out(c.dim("  (more: ptesim bench costs)"));
  }
}

export function printBackends(
  list: readonly { name: string; arch?: ArchName; description: string; correct: boolean }[],
  io: Reporter,
): void {
  const rows = list.map(({ name, arch, description, correct }) => ({
    name,
    arch: arch ?? ("x86-64" as const),
    description,
    correct,
  }));
  if (io.json) {
    io.document(BackendsJson, { schema: "ptesim.backends/1", backends: rows });
    return;
  }
  const w = Math.max(...rows.map((b) => b.name.length)) + 2;
  for (const b of rows)
    io.out(`${(b.correct ? io.c.bold : io.c.yellow)(b.name.padEnd(w))} ${b.arch.padEnd(7)} ${b.description}`);
}

/** A rate per second, short: 950, 9.5k, 95k. */
export function rate(n: number, ms: number): string {
  if (ms <= 0) return "-";
  const r = (n * 1000) / ms;
  return r >= 10000 ? `${(r / 1000).toFixed(0)}k` : r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0);
}

/** The `ptesim.check/1` document (the builder the playground uses too). */
export function checkJson(o: CheckOutcome): z.output<typeof CheckJson> {
  return checkOutcomeDocument(o) as z.output<typeof CheckJson>;
}

function mib(bytes: number): string {
  return bytes < 2 ** 20 ? `${Math.ceil(bytes / 1024)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export function printCheck(o: CheckOutcome, io: Reporter): void {
  const r = o.result;
  const sc = o.source.scenario;
  const { c } = io;
  if (io.json) {
    io.document(CheckJson, checkJson(o));
    return;
  }
  const users = sc.programs?.length ?? 0;
  const accesses = sc.programs?.reduce((a, p) => a + p.length, 0) ?? 0;
  io.out(
    `check ${c.bold(sc.name)}${o.source.file ? ` (${o.source.file})` : " (built-in)"}, backend ${c.bold(o.backend.name)}, ${o.mode} exploration`,
  );
  io.out(
    `  bounds: ${sc.syscalls.length} syscall(s) on CPU0, ${users} user CPU(s) with ${accesses} access(es), ${sc.regions.reduce((a, x) => a + x.pages, 0)} page(s)`,
  );
  io.out(
    `  ${r.states} states, ${r.executions} executions (${r.completeExecutions} to the end, ${r.distinctFinalStates} distinct final states), ${r.transitions} decisions in ${(r.elapsedMs / 1000).toFixed(2)} s (${rate(r.states, r.elapsedMs)} states/s)`,
  );
  if (o.mode !== "exhaustive")
    io.out(
      r.storage === "fingerprint"
        ? `  states stored as 64-bit fingerprints: ${mib(r.storeBytes)}; probability that a collision hid a state: ${r.collisionProbability.toExponential(1)} (--storage exact rules it out)`
        : `  states stored exactly: about ${mib(r.storeBytes)} (${Math.round(r.storeBytes / Math.max(1, r.states))} bytes a state)`,
    );
  io.out(
    r.symmetry === "values"
      ? "  value symmetry: states (and final states) that differ only in which write's value sits where count once (--symmetry none keeps values apart)"
      : `  no value symmetry: states keyed on concrete values${sc.litmus !== undefined ? " (a litmus scenario's conditions compare values)" : ""}`,
  );
  if (sc.litmus !== undefined && r.verdict !== "incomplete") {
    const l = litmusDocument(sc.litmus, r.verdict);
    const mark = l.verdict === l.expected ? c.green("as expected") : c.red(`expected ${l.expected}`);
    io.out(
      `  litmus ${c.bold(l.test)} (${l.quantifier} ${l.condition}): ${c.bold(l.verdict!.toUpperCase())}, ${mark}${l.herd === null ? "" : `; herd: ${l.herd}`}`,
    );
  }
  if (r.verdict === "verified") {
    io.out(c.bold(c.green("VERIFIED: no interleaving violates any property in these bounds")));
    return;
  }
  if (r.verdict === "incomplete") {
    const why =
      r.reason === "interrupted"
        ? "interrupted (Ctrl-C)"
        : r.reason === "max-steps"
          ? "stopped at the per-execution step budget (1,000,000 steps)"
          : r.reason === "missing-shards"
            ? "shard results missing from the merge (listed above)"
            : `stopped at --${r.reason}`;
    io.out(
      `${c.bold(c.yellow("INCOMPLETE:"))} ${why} before exploring every interleaving; nothing violated so far, nothing verified`,
    );
    return;
  }
  const cx = r.counterexample;
  io.out(c.bold(c.red(`VIOLATED: ${cx.property}${cx.rule ? ` (${cx.rule})` : ""}`)));
  io.out(`  ${cx.message}`);
  io.out(`interleaving (shortened; events on 0x${cx.addr.toString(16)} and syscall boundaries):`);
  for (const l of formatTimeline(cx.timeline, 200, c)) io.out(l);
  io.out(`replay: ${c.cyan(o.reproduce ?? "")}`);
}
