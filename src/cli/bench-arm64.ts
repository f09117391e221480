// `ptesim bench costs --arch arm64`: the stages (cost table file, measurement) and printers (text,
// the `ptesim.bench-costs-arm64/1` document behind --json and --html, the --out chart) of the
// arm64 path, with x86's manners: a cost table from --costs overrides ARM64_COSTS' weights.
import type { z } from "zod";
import { type Arm64CostsRow, benchArm64Costs, formatArm64Costs } from "../arch/arm64/bench.js";
import { ARM64_COSTS, ARM64_EVENTS } from "../arch/arm64/costs.js";
import { allBackends } from "../backends/registry.js";
import type { CounterName } from "../machine/ledger.js";
import { costTable } from "../sim/costs.js";
import { readCostTable } from "./calibrate-command.js";
import { DEFAULT_BENCH_PAGES, renderCostsSvg } from "./costs.js";
import type { Arm64CostsJson } from "./output-schemas.js";
import type { Out } from "./reporter.js";

export const JSON_SCHEMA_BENCH_COSTS_ARM64 = "ptesim.bench-costs-arm64/1";

export interface BenchArm64Outcome {
  rows: Arm64CostsRow[];
  /** The --costs file, or null. */
  costsFile: string | null;
  /** Its weights for the events the arm64 model charges, with their sources. */
  overrides: Partial<Record<CounterName, number>>;
  sources: Partial<Record<CounterName, string>>;
  /** Counters the file sets that the arm64 model does not charge (x86 or Xen events, kernel work). */
  ignored: string[];
}

export function benchArm64Command(o: {
  pages?: readonly number[];
  costsFile?: string;
  onProgress?: (what: string) => void;
}): BenchArm64Outcome {
  const file = o.costsFile === undefined ? null : readCostTable(o.costsFile);
  const overrides: Partial<Record<CounterName, number>> = {};
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(file?.costs ?? {}) as [CounterName, number | undefined][]) {
    if (v === undefined) continue;
    if ((ARM64_EVENTS as readonly string[]).includes(k)) overrides[k] = v;
    else ignored.push(k);
  }
  const rows = benchArm64Costs({
    pages: o.pages ?? DEFAULT_BENCH_PAGES,
    backends: allBackends("arm64"),
    maxBatch: 16,
    costs: overrides,
    ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
  });
  return { rows, costsFile: o.costsFile ?? null, overrides, sources: file?.sources ?? {}, ignored };
}

/** The `ptesim.bench-costs-arm64/1` document. */
export function arm64CostsJson(r: BenchArm64Outcome): z.output<typeof Arm64CostsJson> {
  const weights: Record<string, { cycles: number; source: string }> = {};
  for (const e of ARM64_EVENTS) {
    const v = r.overrides[e];
    weights[e] =
      v === undefined
        ? { ...ARM64_COSTS[e] }
        : { cycles: v, source: `${r.costsFile}: ${r.sources[e] ?? "set by the cost table"}` };
  }
  return {
    schema: JSON_SCHEMA_BENCH_COSTS_ARM64,
    arch: "arm64",
    costsFile: r.costsFile,
    ignored: r.ignored,
    backends: [...new Set(r.rows.map((x) => x.backend))],
    pages: [...new Set(r.rows.map((x) => x.pages))],
    weights,
    rows: r.rows,
  };
}

export function printArm64Costs(r: BenchArm64Outcome, io: Out, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(arm64CostsJson(r), null, 2));
    return;
  }
  const label =
    r.costsFile === null
      ? undefined
      : `ARM64_COSTS with ${Object.keys(r.overrides).length} from ${r.costsFile}`;
  for (const l of formatArm64Costs(r.rows, label)) io.out(l);
  if (r.costsFile !== null) {
    const set = Object.keys(r.overrides);
    io.out(
      `weights from ${r.costsFile}: ${set.length === 0 ? "none the arm64 model charges" : set.map((k) => `${k} ${r.overrides[k as CounterName]}`).join(", ")}`,
    );
    if (r.ignored.length > 0) io.out(`  not charged on arm64 (ignored): ${r.ignored.join(", ")}`);
  }
}

/** The --out chart: cycles per PTE against pages, one line per arm64 backend (x86's renderer). */
export function renderArm64CostsSvg(r: BenchArm64Outcome): string {
  const doc = arm64CostsJson(r);
  return renderCostsSvg({
    costs: costTable(r.overrides),
    backends: doc.backends,
    pages: doc.pages,
    rows: r.rows.map((x) => ({
      backend: x.backend,
      pages: x.pages,
      ptes: x.ptes,
      counters: x.counts,
      cycles: x.cycles,
      cyclesPerPte: x.cyclesPerPte,
    })),
    batch: { backend: "", pages: 0, rows: [] },
    legacyOverSeed: null,
  });
}
