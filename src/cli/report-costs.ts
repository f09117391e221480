// The printers of `ptesim calibrate` and `ptesim bench costs`: text (coloured on a terminal) or
// one JSON document of a published schema (output-schemas.ts: CalibrateJson, CostsJson). The
// stages that produce what they print are in calibrate-command.ts.
import type { z } from "zod";
import type { NativeComparison, OpRow } from "../calibrate/compare.js";
import type { HostCheck, HostRecord } from "../calibrate/table-file.js";
import { COUNTERS } from "../machine/ledger.js";
import type { BenchCostsOutcome, CalibrateOutcome } from "./calibrate-command.js";
import { formatCostsTable } from "./costs.js";
import type { CalibrateJson, CostsJson } from "./output-schemas.js";
import { colorsOf, type Out } from "./reporter.js";

export const JSON_SCHEMA_CALIBRATE = "ptesim.calibrate/1";
export const JSON_SCHEMA_BENCH_COSTS = "ptesim.bench-costs/1";

/** How far a calibrated model may be from the kernel on its own machine (the #16 goal). */
const GOOD_RATIO = 0.25;

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
const pct = (r: number) => `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(0)}%`;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const spreadText = (x: number) => `${(x * 100).toFixed(0)}%`;

/** The `ptesim.calibrate/1` document. */
export function calibrateJson(o: CalibrateOutcome): z.output<typeof CalibrateJson> {
  const c = o.calibration;
  const e = c.extra;
  return {
    schema: JSON_SCHEMA_CALIBRATE,
    date: o.date,
    host: {
      hostname: String(o.host.hostname),
      kernel: String(o.host.kernel),
      cpu: String(o.host.cpu),
      cpus: Number(o.host.cpus),
      ...(o.host.loadAverage === undefined ? {} : { loadAverage: String(o.host.loadAverage) }),
    },
    clock: c.clock,
    statistic: c.statistic,
    costs: c.costs,
    sources: c.sources,
    calibrated: c.calibrated,
    fit: c.fit,
    sweep: c.sweep,
    probes: {
      getppidNs: e.getppidNs,
      mprotectLen0Ns: e.mprotectLen0Ns,
      nochangeNs: e.nochangeNs,
      fault: e.fault,
      shootdown: e.shootdown,
      munmap: e.munmap,
      sched: e.sched,
      cold: e.cold,
      coldCyclesPerLine: e.coldCyclesPerLine,
    },
    notes: c.notes,
    out: o.out,
  };
}

export function printCalibrate(o: CalibrateOutcome, io: Out, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(calibrateJson(o), null, 2));
    return;
  }
  const c = o.calibration;
  const k = colorsOf(io);
  const ratio = (r: number, w: number) => {
    const s = pct(r).padStart(w);
    return Math.abs(r - 1) <= GOOD_RATIO ? k.green(s) : k.yellow(s);
  };
  io.out(
    `${k.bold("calibrate:")} ${o.host.cpu}, ${o.host.cpus} CPUs, Linux ${o.host.kernel}, load average ${o.host.loadAverage}`,
  );
  io.out(`clock: ${(c.clock.hz / 1e9).toFixed(3)} GHz, ${c.clock.method}`);
  const sc = c.extra.sched;
  if (sc !== null)
    io.out(
      sc.policy === "fifo"
        ? `probes ran as SCHED_FIFO pinned to CPU ${sc.cpu} (no normal task preempts a timed call)`
        : k.yellow(`probes ran in the normal class (${sc.why}): other tasks preempt the timed calls`),
    );
  io.out("");
  io.out(k.bold("weights (cycles per event):"));
  for (const w of c.calibrated)
    io.out(`  ${w.padEnd(24)} ${k.bold(String(c.costs[w]).padStart(7))}  ${k.dim(c.sources[w])}`);
  io.out(
    k.dim(
      `  (every other weight keeps its default, an assumption: ${COUNTERS.filter((w) => !c.calibrated.includes(w)).join(", ")})`,
    ),
  );
  io.out("");
  io.out(
    k.bold(
      `mprotect, cycles per PTE: the calibrated native model beside the real kernel (${c.statistic} of each size)`,
    ),
  );
  io.out(
    `${"pages".padStart(8)}${"model ro".padStart(11)}${"kernel ro".padStart(11)}${"".padStart(7)}${"model rw".padStart(11)}${"kernel rw".padStart(11)}`,
  );
  c.sweep.forEach((r, i) => {
    const ro = c.fit.rows[2 * i];
    const rw = c.fit.rows[2 * i + 1];
    io.out(
      `${String(r.pages).padStart(8)}${fmt(ro.model / r.pages).padStart(11)}${fmt(ro.measured / r.pages).padStart(11)}${ratio(ro.ratio, 7)}${fmt(rw.model / r.pages).padStart(11)}${fmt(rw.measured / r.pages).padStart(11)}${ratio(rw.ratio, 7)}`,
    );
  });
  const worst = c.fit.maxRelativeError;
  io.out(
    `fit: rms relative error ${(c.fit.rmsRelativeError * 100).toFixed(1)}%, worst ${(worst <= GOOD_RATIO ? k.green : k.yellow)(`${(worst * 100).toFixed(1)}%`)}`,
  );
  io.out("");
  const e = c.extra;
  io.out(
    `syscall probes (median ns): getppid ${fmt(e.getppidNs)}, mprotect of length 0 ${fmt(e.mprotectLen0Ns)}, mprotect changing nothing ${fmt(e.nochangeNs)}`,
  );
  io.out(
    `faults (ns per page): first write ${fmt(e.fault.writeNs)}, first read ${fmt(e.fault.readNs)}, write after read (write-protect fault) ${fmt(e.fault.wpNs)}`,
  );
  const sd = e.shootdown;
  io.out(
    `shootdown: one-page mprotect ro / rw ${fmt(sd.alone_ro_ns)} / ${fmt(sd.alone_rw_ns)} ns alone, ${fmt(sd.remote_ro_ns)} / ${fmt(sd.remote_rw_ns)} ns while a reader runs on CPU ${sd.remote_cpu}${sd.pinned ? " (pinned)" : " (not pinned)"} (${sd.kept} of ${sd.reps} calls with the reader running throughout)`,
  );
  if (e.munmap.length > 0)
    io.out(
      `munmap of populated pages (median ns): ${e.munmap.map((m) => `${m.pages}: ${fmt(m.medianNs)}`).join(", ")}`,
    );
  if (e.cold.length > 0)
    io.out(
      `cold probe (mprotect after reading ${(e.cold[0].evictBytes / 2 ** 20).toFixed(0)} MiB, less warm, ${c.statistic} of each): ${e.cold.map((r) => `${r.pages} pages +${fmt(r.extraRoNs / r.pages)} / +${fmt(r.extraRwNs / r.pages)} ns per PTE (ro / rw)`).join(", ")}; a metadata line from memory: ${e.coldCyclesPerLine === null ? "undecided" : `${e.coldCyclesPerLine.toFixed(0)} cycles`}`,
    );
  for (const n of c.notes) io.out(k.yellow(`note: ${n}`));
  if (o.out !== null) io.out(`cost table written to ${o.out} (use it with ${k.cyan(`--costs ${o.out}`)})`);
}

export function formatComparison(c: NativeComparison, kernelNote: string | null, k = colorsOf({})): string[] {
  const out: string[] = [];
  out.push(
    k.bold(
      `native model vs real kernel: mprotect cycles per PTE, one CPU, the kernel's ${c.statistic} call of each size`,
    ),
  );
  if (c.clock !== null)
    out.push(`  kernel ns -> cycles: ${(c.clock.hz / 1e9).toFixed(3)} GHz, ${c.clock.method}`);
  if (kernelNote !== null) out.push(k.yellow(`  real kernel ${kernelNote}`));
  out.push(
    `${"pages".padStart(8)}${"model ro".padStart(11)}${"kernel ro".padStart(11)}${"ratio".padStart(8)}${"spread".padStart(8)}${"model rw".padStart(11)}${"kernel rw".padStart(11)}${"ratio".padStart(8)}${"spread".padStart(8)}`,
  );
  const sizes = [...new Set(c.rows.map((r) => r.pages))];
  const cell = (v: number | null, w: number, f: (x: number) => string) =>
    (v === null ? "-" : f(v)).padStart(w);
  const ratio = (v: number | null) => {
    const s = cell(v, 8, (x) => `${x.toFixed(2)}x`);
    return v === null ? s : Math.abs(v - 1) <= GOOD_RATIO ? k.green(s) : k.yellow(s);
  };
  for (const n of sizes) {
    const ro = c.rows.find((r) => r.pages === n && r.direction === "ro");
    const rw = c.rows.find((r) => r.pages === n && r.direction === "rw");
    if (ro === undefined || rw === undefined) continue;
    out.push(
      `${String(n).padStart(8)}${cell(ro.modelCyclesPerPte, 11, fmt)}${cell(ro.kernelCyclesPerPte, 11, fmt)}${ratio(ro.ratio)}${cell(ro.spread, 8, spreadText)}${cell(rw.modelCyclesPerPte, 11, fmt)}${cell(rw.kernelCyclesPerPte, 11, fmt)}${ratio(rw.ratio)}${cell(rw.spread, 8, spreadText)}`,
    );
  }
  if (c.rows.some((r) => r.spread !== null))
    out.push(
      k.dim(
        "  spread: the kernel's calls' interquartile range over the figure compared (a busy or unsettled machine widens it)",
      ),
    );
  if (c.worst !== null)
    out.push(
      `worst |model/kernel - 1|: ${(c.worst <= GOOD_RATIO ? k.green : k.yellow)(`${(c.worst * 100).toFixed(0)}%`)} (goal for a calibrated table on its machine: <= ${GOOD_RATIO * 100}%)`,
    );
  return out;
}

const OP_TEXT: Record<OpRow["op"], string> = {
  munmap: "munmap, per PTE",
  "fault-read": "first read (zero page), per fault",
  "fault-write": "first write (new folio), per fault",
  "fault-wp": "write after read (copy), per fault",
};

/** munmap and the faults: the model beside the kernel. */
export function formatOps(rows: readonly OpRow[], k = colorsOf({})): string[] {
  if (rows.length === 0) return [];
  const out = [
    k.bold("native model vs real kernel: munmap and page faults, cycles (same events, same table)"),
  ];
  out.push(
    `${"".padEnd(36)}${"pages".padStart(7)}${"model".padStart(9)}${"kernel".padStart(9)}${"ratio".padStart(8)}${"spread".padStart(8)}`,
  );
  for (const r of rows) {
    const ratio = r.ratio === null ? "-" : `${r.ratio.toFixed(2)}x`;
    const good = r.ratio !== null && Math.abs(r.ratio - 1) <= GOOD_RATIO;
    out.push(
      `  ${OP_TEXT[r.op].padEnd(34)}${String(r.pages).padStart(7)}${fmt(r.modelCycles).padStart(9)}${(r.kernelCycles === null ? "-" : fmt(r.kernelCycles)).padStart(9)}${(good ? k.green : k.yellow)(ratio.padStart(8))}${(r.spread === null ? "-" : spreadText(r.spread)).padStart(8)}`,
    );
  }
  return out;
}

/** Where the table was calibrated against where it is used now. */
export function formatHost(h: HostCheck, k = colorsOf({})): string[] {
  const t = h.table;
  const desc = (x: HostRecord) =>
    `${x.cpu ?? "?"}${x.clockHz === undefined ? "" : ` ${(x.clockHz / 1e9).toFixed(3)} GHz`}, ${x.cpus ?? "?"} CPUs, Linux ${x.kernel ?? "?"}, host ${x.hostname ?? "?"}`;
  if (t === null) return [k.yellow("cost table: records no host it was calibrated on")];
  const out = [
    `cost table calibrated on: ${desc(t)}${t.date === undefined ? "" : `, ${t.date}`}`,
    `this host:                ${desc(h.here)}`,
  ];
  if (h.differs.length > 0)
    out.push(
      k.yellow(
        `  the host differs (${h.differs.join("; ")}): the table was not calibrated here; goal elsewhere: within 50%`,
      ),
    );
  else
    out.push(
      `  same CPU, clock, kernel and host name; ${h.sameBoot === true ? "same boot (boot id): the same machine" : h.sameBoot === false ? "another boot (boot id): the same machine rebooted or another instance of its kind" : "the table records no boot id: the same machine or another instance of its kind, cannot tell"}`,
    );
  return out;
}

/** The `ptesim.bench-costs/1` document. */
export function benchCostsJson(o: BenchCostsOutcome): z.output<typeof CostsJson> {
  return {
    schema: JSON_SCHEMA_BENCH_COSTS,
    costsFile: o.costsFile,
    ...o.table,
    sources: o.sources,
    native: {
      clock: o.comparison.clock,
      statistic: o.comparison.statistic,
      kernelNote: o.kernelNote,
      rows: o.comparison.rows,
      worst: o.comparison.worst,
      ops: o.ops,
      sched: o.sched,
      loadAverage: o.loadAverage,
    },
    host: o.host,
    interrupted: o.interrupted,
  };
}

export function printBenchCosts(o: BenchCostsOutcome, io: Out, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(benchCostsJson(o), null, 2));
    return;
  }
  const k = colorsOf(io);
  io.out(
    `weights: ${o.costsFile === null ? "the defaults (src/sim/costs.ts)" : `${o.costsFile}, defaults for the rest`}`,
  );
  for (const l of formatCostsTable(o.table, k)) io.out(l);
  io.out("");
  if (o.host !== null) for (const l of formatHost(o.host, k)) io.out(l);
  if (o.sched !== null || o.loadAverage !== null)
    io.out(
      `real kernel measured ${o.sched === null ? "" : o.sched.policy === "fifo" ? `as SCHED_FIFO pinned to CPU ${o.sched.cpu}` : `in the normal class (${o.sched.why})`}${o.loadAverage === null ? "" : `, load average ${o.loadAverage}`}`,
    );
  for (const l of formatComparison(o.comparison, o.kernelNote, k)) io.out(l);
  const ops = formatOps(o.ops, k);
  if (ops.length > 0) for (const l of ["", ...ops]) io.out(l);
  if (o.interrupted)
    io.out(
      k.yellow(
        `interrupted (Ctrl-C) after ${plural(o.table.rows.length + o.table.batch.rows.length, "measurement")}: the table shows those ("-": not measured)`,
      ),
    );
}
