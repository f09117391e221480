// Cost table files (`ptesim calibrate --out costs.yaml`, read by `--costs FILE`): YAML with the
// cycles per event under `costs:` (the same keys as a scenario's `costs:` section), where each
// weight comes from under `sources:`, and what the calibration measured under `calibration:`.
// Pure: the CLI reads and writes the files.
import { stringify } from "yaml";
import { z } from "zod";
import { COUNTERS, type CounterName } from "../machine/ledger.js";
import { type LocatedError, parseLocated } from "../scenario/load.js";
import { type CostOverrides, CostsSchema } from "../sim/costs.js";
import type { Calibration } from "./calibrate.js";

export const COST_TABLE_SCHEMA = "ptesim.costs/1";

const SourcesSchema = z.strictObject(
  Object.fromEntries(COUNTERS.map((c) => [c, z.string().optional()])) as Record<
    CounterName,
    z.ZodOptional<z.ZodString>
  >,
);

export const CostTableFileSchema = z.strictObject({
  schema: z.literal(COST_TABLE_SCHEMA).optional(),
  description: z.string().optional(),
  costs: CostsSchema,
  sources: SourcesSchema.optional(),
  /** What the calibration measured: kept for the record, not read back as weights. */
  calibration: z.record(z.string(), z.unknown()).optional(),
});
export type CostTableFile = z.output<typeof CostTableFileSchema>;

export type CostTableLoad =
  | { ok: true; costs: CostOverrides; sources: Partial<Record<CounterName, string>>; file: CostTableFile }
  | { ok: false; errors: LocatedError[] };

/** A cost table file's text -> its weights, or every problem located as file:line:col. */
export function loadCostTableText(text: string, file: string): CostTableLoad {
  const r = parseLocated(text, file, CostTableFileSchema, "cost table");
  if (!r.ok) return r;
  return { ok: true, costs: r.data.costs, sources: r.data.sources ?? {}, file: r.data };
}

/** The file `ptesim calibrate` writes. `host` describes the machine (kernel, CPU model). */
export function formatCostTable(c: Calibration, host: Record<string, string | number>, date: string): string {
  const round = (x: number, d = 1) => Number(x.toFixed(d));
  const doc = {
    schema: COST_TABLE_SCHEMA,
    description: `calibrated by 'ptesim calibrate' on ${host.hostname ?? "this machine"} at ${date}`,
    costs: c.costs,
    sources: c.sources,
    calibration: {
      date,
      host,
      clock: { method: c.clock.method, hz: Math.round(c.clock.hz) },
      model: "cycles = sum over counted events of weight * count (src/calibrate/fit.ts)",
      calibrated: c.calibrated,
      statistic: `${c.statistic} call of each size`,
      fit: {
        rmsRelativeError: round(c.fit.rmsRelativeError, 3),
        maxRelativeError: round(c.fit.maxRelativeError, 3),
      },
      kernel: c.sweep.map((r, i) => ({
        pages: r.pages,
        offset: r.offset,
        roNs: round(r.kernelRoNs),
        rwNs: round(r.kernelRwNs),
        roModelRatio: round(c.fit.rows[2 * i].ratio, 3),
        rwModelRatio: round(c.fit.rows[2 * i + 1].ratio, 3),
      })),
      probes: {
        getppidNs: c.extra.getppidNs,
        mprotectLen0Ns: c.extra.mprotectLen0Ns,
        nochangeNs: c.extra.nochangeNs,
        fault: c.extra.fault,
        shootdown: c.extra.shootdown,
        sched: c.extra.sched,
        munmap: c.extra.munmap,
        cold: c.extra.cold.map((r) => ({
          pages: r.pages,
          evictBytes: r.evictBytes,
          extraRoNs: round(r.extraRoNs),
          extraRwNs: round(r.extraRwNs),
          lines: r.lines,
        })),
        coldCyclesPerLine: c.extra.coldCyclesPerLine === null ? null : round(c.extra.coldCyclesPerLine),
      },
      notes: c.notes,
    },
  };
  return `# ptesim cost table: cycles per counted event (what each event is: src/machine/ledger.ts).
# Use it with --costs FILE, or copy entries into a scenario's costs: section.
${stringify(doc, { lineWidth: 0 })}`;
}

/** The machine a table was calibrated on, or the one measuring now (calibrate-command's hostInfo). */
export interface HostRecord {
  hostname?: string;
  kernel?: string;
  cpu?: string;
  cpus?: number;
  /** /proc/cpuinfo's MHz of CPU 0 (rounded). */
  cpuMHz?: number;
  /** The measured TSC rate, Hz (the table's calibration.clock.hz). */
  clockHz?: number;
  /** /proc/sys/kernel/random/boot_id: the same value means the same machine, same boot. */
  bootId?: string;
  date?: string;
}

export interface HostCheck {
  /** What the table records (null: it records no host, e.g. written by hand). */
  table: HostRecord | null;
  here: HostRecord;
  /** What differs, e.g. "kernel 6.18.44 -> 6.19.1" (only fields both sides record). */
  differs: string[];
  /** Same boot of the same machine: true/false by boot id, null when the table records none. */
  sameBoot: boolean | null;
}

/** The host recorded in a cost table file (its calibration: host and clock), if any. */
export function tableHost(file: CostTableFile): HostRecord | null {
  const c = file.calibration;
  if (c === undefined || typeof c.host !== "object" || c.host === null) return null;
  const h = c.host as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const numb = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const clock = typeof c.clock === "object" && c.clock !== null ? (c.clock as Record<string, unknown>) : {};
  const r: HostRecord = {
    hostname: str(h.hostname),
    kernel: str(h.kernel),
    cpu: str(h.cpu),
    cpus: numb(h.cpus),
    cpuMHz: numb(h.cpuMHz),
    clockHz: numb(clock.hz),
    bootId: str(h.bootId),
    date: str(c.date) ?? (c.date instanceof Date ? c.date.toISOString() : undefined),
  };
  for (const k of Object.keys(r) as (keyof HostRecord)[]) if (r[k] === undefined) delete r[k];
  return r;
}

/** Compares the table's host with this one: CPU model, count and clock, kernel, hostname, boot. */
export function checkHost(table: HostRecord | null, here: HostRecord): HostCheck {
  const differs: string[] = [];
  if (table !== null) {
    for (const k of ["cpu", "cpus", "kernel", "hostname"] as const) {
      const a = table[k];
      const b = here[k];
      if (a !== undefined && b !== undefined && a !== b) differs.push(`${k} ${a} -> ${b}`);
    }
    // Clock rates within 0.5% are the same part at the same frequency.
    const near = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined || Math.abs(a - b) <= 0.005 * Math.max(a, b);
    if (!near(table.clockHz, here.clockHz))
      differs.push(
        `TSC ${((table.clockHz ?? 0) / 1e6).toFixed(0)} -> ${((here.clockHz ?? 0) / 1e6).toFixed(0)} MHz`,
      );
    if (!near(table.cpuMHz, here.cpuMHz)) differs.push(`cpu MHz ${table.cpuMHz} -> ${here.cpuMHz}`);
  }
  const sameBoot =
    table?.bootId === undefined || here.bootId === undefined ? null : table.bootId === here.bootId;
  return { table, here, differs, sameBoot };
}
