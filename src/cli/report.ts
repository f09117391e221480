// All human- and machine-readable output of the CLI. Results go to stdout, progress to stderr.
import { errnoName } from "../kernel/errno.js";
import { checkDocument, JSON_SCHEMA_CHECK, JSON_SCHEMA_RUN, runDocument } from "../sim/documents.js";
import type { RunResult, TraceEvent } from "../sim/simulation.js";

export { JSON_SCHEMA_CHECK, JSON_SCHEMA_RUN };

import type { CheckOutcome, DemoOutcome, RunOutcome, SweepSummary } from "./commands.js";
import { reproduceCommand } from "./commands.js";

export interface Out {
  out(s: string): void;
  err(s: string): void;
}

export function formatTimeline(events: readonly TraceEvent[], max = 60): string[] {
  const lines: string[] = [];
  const shown = events.length > max ? events.slice(events.length - max) : events;
  if (shown.length < events.length)
    lines.push(`  ... ${events.length - shown.length} earlier events omitted`);
  for (const e of shown) {
    const where = e.addr >= 0 ? `0x${e.addr.toString(16)}` : "";
    const pte =
      e.after === undefined
        ? ""
        : e.before !== undefined && e.before !== e.after
          ? `${e.before}  ->  ${e.after}`
          : `= ${e.after}`;
    const note = e.note === undefined ? "" : `   <-- ${e.note}`;
    lines.push(
      `  #${String(e.step).padEnd(5)} CPU${e.cpu}  ${e.actor.padEnd(6)} ${e.what.padEnd(34)} ${where.padEnd(15)} ${pte}${note}`.trimEnd(),
    );
  }
  return lines;
}

function violationLines(r: RunResult): string[] {
  const lines: string[] = [];
  const byProp = new Map<string, number>();
  for (const v of r.violations) byProp.set(v.property, (byProp.get(v.property) ?? 0) + 1);
  lines.push(`VIOLATED: ${[...byProp].map(([p, n]) => `${p} x${n}`).join(", ")}`);
  const first = r.violations[0];
  lines.push(`first: [${first.property}${first.rule ? `/${first.rule}` : ""}] ${first.message}`);
  if (r.timeline.length > 0) {
    lines.push(`interleaving on that page (kernel syscalls included):`);
    lines.push(...formatTimeline(r.timeline));
  }
  return lines;
}

/** The `ptesim.run/1` document. */
export function runJson(o: RunOutcome) {
  return runDocument(o.result, {
    file: o.source.file,
    cpus: o.source.scenario.cpus,
    reproduce: o.reproduce,
    sweep: o.sweep,
  });
}

export function printRun(o: RunOutcome, io: Out, json: boolean): void {
  const r = o.result;
  if (json) {
    io.out(JSON.stringify(runJson(o), null, 2));
    return;
  }
  io.out(
    `scenario ${r.scenario}${o.source.file ? ` (${o.source.file})` : " (built-in)"}, backend ${r.backend}, seed ${r.seed}`,
  );
  for (const s of r.syscalls)
    io.out(
      `  ${s.call}(0x${s.addr.toString(16)}, ${s.pages} pages${s.prot ? `, ${s.prot}` : ""}) = ${s.ret < 0 ? `-1 ${errnoName(s.ret)}` : s.ret}${s.call === "mprotect" ? `  [${s.ptesChanged} PTEs]` : ""}`,
    );
  const st = r.stats;
  io.out(
    `  ${st.steps} steps (${st.kernelSteps} kernel, ${st.userSteps} user); ${st.reads} reads, ${st.writes} writes, ${st.faults} faults, ${st.segv} SIGSEGV`,
  );
  if (o.sweep !== null) io.out(sweepLine(o.backend.name, o.sweep));
  if (r.violations.length === 0) {
    io.out("OK: no property violated");
    return;
  }
  for (const l of violationLines(r)) io.out(l);
  io.out(`reproduce: ${o.reproduce}`);
  if (!o.reproduce.includes("--replay")) io.out(`replay of this interleaving alone: --replay ${o.replay}`);
}

function sweepLine(name: string, s: SweepSummary): string {
  const props = Object.entries(s.byProperty)
    .map(([p, n]) => `${p} in ${n}`)
    .join(", ");
  return `  seeds ${s.firstSeed}..${s.firstSeed + s.seeds - 1}: ${s.failingSeeds}/${s.seeds} violate a property${props ? ` (${props})` : ""} [${name}]`;
}

export function printDemo(d: DemoOutcome, io: Out): void {
  const sc = d.scenario;
  io.out(`ptesim demo: ${sc.description ?? sc.name}`);
  io.out(
    `  ${sc.cpus} CPUs; regions: ${sc.regions.map((r) => `${r.name} (${r.pages} pages, ${r.shared ? "shared" : "private"}, populated by ${r.populate})`).join(", ")}; A bits aged first`,
  );
  io.out(
    `  syscalls on CPU0: ${sc.syscalls.map((c) => `${c.call}(${c.region}${c.prot ? `, ${c.prot}` : ""})`).join(", ")}`,
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
    io.out(
      `  ${backend.name.padEnd(w)}  ${(backend.correct ? "" : "[broken]").padEnd(8)}  ${String(summary.failingSeeds).padStart(5)}/${summary.seeds}${props ? `  (${props})` : ""}`,
    );
  }
  for (const { backend, summary } of d.rows) {
    if (summary.firstFailure === null) continue;
    // Show the headline failure: a lost dirty bit when there is one.
    const f = summary.firstByProperty["lost-dirty"] ?? summary.firstFailure;
    io.out("");
    io.out(`${backend.name}: seed ${f.seed}`);
    for (const l of violationLines(f)) io.out(l);
    io.out(`reproduce: ${reproduceCommand(null, backend, f.seed)}`);
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
          .filter(([k]) =>
            ["trap_pt_write", "trap_pt_xchg", "hypercall", "multicall", "mmu_update"].includes(k),
          )
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
      );
    io.out("  (more: ptesim bench costs)");
  }
}

function rate(n: number, ms: number): string {
  if (ms <= 0) return "-";
  const r = (n * 1000) / ms;
  return r >= 10000 ? `${(r / 1000).toFixed(0)}k` : r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0);
}

/** The `ptesim.check/1` document. */
export function checkJson(o: CheckOutcome) {
  return checkDocument(o.result, {
    scenario: o.source.scenario.name,
    file: o.source.file,
    backend: o.backend.name,
    mode: o.mode,
    cpus: o.source.scenario.cpus,
    reproduce: o.reproduce,
  });
}

function mib(bytes: number): string {
  return bytes < 2 ** 20 ? `${Math.ceil(bytes / 1024)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export function printCheck(o: CheckOutcome, io: Out, json: boolean): void {
  const r = o.result;
  const sc = o.source.scenario;
  if (json) {
    io.out(JSON.stringify(checkJson(o), null, 2));
    return;
  }
  const users = sc.programs?.length ?? 0;
  const accesses = sc.programs?.reduce((a, p) => a + p.length, 0) ?? 0;
  io.out(
    `check ${sc.name}${o.source.file ? ` (${o.source.file})` : " (built-in)"}, backend ${o.backend.name}, ${o.mode} exploration`,
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
  if (r.verdict === "verified") {
    io.out("VERIFIED: no interleaving violates any property in these bounds");
    return;
  }
  if (r.verdict === "incomplete") {
    io.out(
      `INCOMPLETE: stopped at ${r.reason === "max-steps" ? "the per-execution step budget (1,000,000 steps)" : `--${r.reason}`} before exploring every interleaving; nothing violated so far, nothing verified`,
    );
    return;
  }
  const cx = r.counterexample;
  io.out(`VIOLATED: ${cx.property}${cx.rule ? ` (${cx.rule})` : ""}`);
  io.out(`  ${cx.message}`);
  io.out(`interleaving (shortened; events on 0x${cx.addr.toString(16)} and syscall boundaries):`);
  for (const l of formatTimeline(cx.timeline, 200)) io.out(l);
  io.out(`replay: ${o.reproduce}`);
}
