// `ptesim bench costs`: what one mprotect(PROT_READ) costs per PTE on each backend, from the
// event counts the simulation makes and the cycle table of src/sim/costs.ts; and, for the `xen`
// backend, how that cost depends on the multicall batch size. Pure: no I/O (the CLI writes the
// SVG and prints the table). Deterministic: user CPUs are idle, so counts depend only on inputs.

import { naiveBackend } from "../backends/naive.js";
import { nativeBackend } from "../backends/native.js";
import { xenBackend, xenLegacyBackend } from "../backends/xen.js";
import { mapRegion, populate, warmUp } from "../calibrate/sim-probes.js";
import { PROT_READ } from "../kernel/mman.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { CounterName } from "../machine/ledger.js";
import { type CostOverrides, costTable, cycles } from "../sim/costs.js";

export const DEFAULT_BENCH_PAGES: readonly number[] = [1, 8, 32, 33, 64, 512, 4096, 32768, 262144];
export const DEFAULT_BENCH_BATCHES: readonly number[] = [1, 2, 4, 8, 16, 32, 64];
export const DEFAULT_BATCH_PAGES = 4096;

export interface BenchCostsOptions {
  /** Region sizes in pages (each an mprotect of that many populated pages). */
  pages?: readonly number[];
  /** Backends to compare (default native, naive, xen-legacy, xen). */
  backends?: readonly BackendModule[];
  /** Multicall batch sizes for the second sweep (backend `xen`, option `batch`). */
  batchSizes?: readonly number[];
  /** Pages of the batch-size sweep. */
  batchPages?: number;
  /** Cycle-cost overrides (as a scenario's `costs:`). */
  costs?: CostOverrides;
  /** CPUs (CPU 0 calls mprotect, CPU 1 populates; all are in the mm's CPU mask). Default 3. */
  cpus?: number;
  /** Called after each measurement, e.g. for progress output. */
  onProgress?: (what: string) => void;
  /** Polled before each measurement: true stops the benchmark, which returns the rows so far. */
  shouldStop?: () => boolean;
}

export interface CostsRow {
  backend: string;
  pages: number;
  /** PTEs the mprotect changed (= pages: every page is populated). */
  ptes: number;
  /** Event counts of the mprotect alone. */
  counters: Partial<Record<CounterName, number>>;
  cycles: number;
  cyclesPerPte: number;
}

export interface BatchRow {
  batch: number;
  counters: Partial<Record<CounterName, number>>;
  cycles: number;
  cyclesPerPte: number;
}

export interface CostsTable {
  /** The cycle table used. */
  costs: Record<CounterName, number>;
  backends: string[];
  pages: number[];
  rows: CostsRow[];
  batch: { backend: string; pages: number; rows: BatchRow[] };
  /** xen-legacy / xen cycles per PTE at the largest page count (when both ran). */
  legacyOverSeed: { pages: number; ratio: number } | null;
}

/** Populate `pages` private anonymous pages (CPU 1 writes each), a warm-up pair, then mprotect them read-only. */
function measure(
  backend: BackendModule,
  pages: number,
  cpus: number,
  backendOptions: Record<string, unknown>,
  table: Record<CounterName, number>,
): { counters: Partial<Record<CounterName, number>>; cycles: number; ptes: number } {
  const s = mapRegion(backend, pages, { cpus, backendOptions });
  populate(s, pages, cpus > 1 ? 1 : 0);
  // As the real kernel is measured (probes.c): repeated calls, each finding the lines the one
  // before it touched.
  warmUp(s, pages);
  const { machine: m, kernel: k } = s;
  m.ledger.reset();
  const r = k.sys_mprotect(0, s.addr, pages * 4096, PROT_READ);
  if (r !== 0) throw new Error(`bench: mprotect failed (${r})`);
  return { counters: m.ledger.totals(), cycles: cycles(m.ledger, table), ptes: k.lastMprotect.ptesChanged };
}

/** Run the cost benchmark. Deterministic; 262,144 pages on 4 backends takes a few seconds. */
export function benchCosts(opts: BenchCostsOptions = {}): CostsTable {
  const pages = [...(opts.pages ?? DEFAULT_BENCH_PAGES)];
  const backends = [...(opts.backends ?? [nativeBackend, naiveBackend, xenLegacyBackend, xenBackend])];
  const batchSizes = [...(opts.batchSizes ?? DEFAULT_BENCH_BATCHES)];
  const batchPages = opts.batchPages ?? DEFAULT_BATCH_PAGES;
  const cpus = opts.cpus ?? 3;
  for (const n of [...pages, batchPages])
    if (!Number.isInteger(n) || n < 1 || n > 262144)
      throw new RangeError(`pages must be in 1..262144, got ${n}`);
  for (const b of batchSizes)
    if (!Number.isInteger(b) || b < 1 || b > 4096)
      throw new RangeError(`batch sizes must be in 1..4096, got ${b}`);
  const table = costTable(opts.costs ?? {});
  const rows: CostsRow[] = [];
  const stop = () => opts.shouldStop?.() === true;
  for (const b of backends)
    for (const n of pages) {
      if (stop()) break;
      const r = measure(b, n, cpus, {}, table);
      rows.push({
        backend: b.name,
        pages: n,
        ptes: r.ptes,
        counters: r.counters,
        cycles: r.cycles,
        cyclesPerPte: r.cycles / n,
      });
      opts.onProgress?.(`${b.name} ${n} pages`);
    }
  const batchRows: BatchRow[] = [];
  for (const batch of batchSizes) {
    if (stop()) break;
    const r = measure(xenBackend, batchPages, cpus, { batch }, table);
    opts.onProgress?.(`xen batch ${batch}`);
    batchRows.push({ batch, counters: r.counters, cycles: r.cycles, cyclesPerPte: r.cycles / batchPages });
  }
  const top = Math.max(...pages);
  const at = (name: string) => rows.find((r) => r.backend === name && r.pages === top);
  const l = at("xen-legacy");
  const s = at("xen");
  return {
    costs: table,
    backends: backends.map((b) => b.name),
    pages,
    rows,
    batch: { backend: "xen", pages: batchPages, rows: batchRows },
    legacyOverSeed: l && s ? { pages: top, ratio: l.cyclesPerPte / s.cyclesPerPte } : null,
  };
}

/** Text styles (picocolors' Colors): the CLI passes its reporter's, for a terminal. */
interface Styles {
  bold(s: string): string;
}
const PLAIN: Styles = { bold: (s) => s };

/** The table as text lines: cycles per PTE by pages and backend, key counters, the batch sweep. */
export function formatCostsTable(t: CostsTable, k: Styles = PLAIN): string[] {
  const out: string[] = [];
  const w = Math.max(10, ...t.backends.map((b) => b.length + 1));
  out.push(k.bold("cycles per PTE, mprotect(PROT_READ) of populated private pages (user CPUs idle)"));
  out.push(`${"pages".padStart(8)}${t.backends.map((b) => b.padStart(w)).join("")}`);
  for (const n of t.pages) {
    const cells = t.backends.map((b) => {
      const r = t.rows.find((x) => x.backend === b && x.pages === n);
      return (r === undefined ? "-" : fmt(r.cyclesPerPte)).padStart(w);
    });
    out.push(`${String(n).padStart(8)}${cells.join("")}`);
  }
  const top = Math.max(...t.pages);
  out.push("");
  out.push(`events at ${top} pages:`);
  for (const b of t.backends) {
    const r = t.rows.find((x) => x.backend === b && x.pages === top);
    if (r === undefined) continue;
    const c = Object.entries(r.counters)
      .filter(([k]) => k !== "pte_read")
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    out.push(`  ${b}: ${c}`);
  }
  out.push("");
  out.push(k.bold(`${t.batch.backend}, ${t.batch.pages} pages, by multicall batch size:`));
  out.push(`${"batch".padStart(8)}${"cycles/PTE".padStart(12)}${"multicalls".padStart(12)}`);
  for (const r of t.batch.rows)
    out.push(
      `${String(r.batch).padStart(8)}${fmt(r.cyclesPerPte).padStart(12)}${String(r.counters.multicall ?? 0).padStart(12)}`,
    );
  if (t.legacyOverSeed !== null)
    out.push(
      "",
      `xen-legacy / xen at ${t.legacyOverSeed.pages} pages: ${k.bold(`${t.legacyOverSeed.ratio.toFixed(2)}x`)}`,
    );
  return out;
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

// ---------------------------------------------------------------- SVG

const COLORS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

interface Axis {
  log: boolean;
  min: number;
  max: number;
  ticks: number[];
  label: (v: number) => string;
  title: string;
}

function logTicks(min: number, max: number, base: number): number[] {
  const t: number[] = [];
  for (let v = base ** Math.floor(Math.log(min) / Math.log(base) + 1e-9); v <= max * (1 + 1e-9); v *= base)
    if (v >= min * (1 - 1e-9)) t.push(v);
  return t;
}

function niceLinearTicks(max: number): number[] {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((s) => s >= raw) ?? 10 * p;
  const t: number[] = [0];
  while (t[t.length - 1] < max) t.push(t.length * step);
  return t;
}

function short(v: number): string {
  if (v >= 1e6 && v % 1e6 === 0) return `${v / 1e6}M`;
  if (v >= 1e3 && v % 1e3 === 0) return `${v / 1e3}k`;
  if (v >= 1024 && Number.isInteger(Math.log2(v))) return `${v / 1024}Ki`;
  return Number.isInteger(v) ? String(v) : v.toPrecision(2);
}

/** One line chart in a box at (x0, y0) of size w x h. */
function chart(
  x0: number,
  y0: number,
  w: number,
  h: number,
  title: string,
  xa: Axis,
  ya: Axis,
  series: Series[],
): string {
  const L = 70;
  const R = 150;
  const T = 34;
  const B = 46;
  const pw = w - L - R;
  const ph = h - T - B;
  const sx = (v: number) =>
    x0 +
    L +
    (xa.log ? Math.log(v / xa.min) / Math.log(xa.max / xa.min) : (v - xa.min) / (xa.max - xa.min)) * pw;
  const sy = (v: number) =>
    y0 +
    T +
    ph -
    (ya.log ? Math.log(v / ya.min) / Math.log(ya.max / ya.min) : (v - ya.min) / (ya.max - ya.min)) * ph;
  const o: string[] = [];
  o.push(
    `<text x="${x0 + L + pw / 2}" y="${y0 + 20}" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );
  o.push(`<rect x="${x0 + L}" y="${y0 + T}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  for (const v of xa.ticks) {
    const x = sx(v).toFixed(1);
    o.push(`<line x1="${x}" y1="${y0 + T}" x2="${x}" y2="${y0 + T + ph}" stroke="#ddd"/>`);
    o.push(
      `<text x="${x}" y="${y0 + T + ph + 16}" text-anchor="middle" font-size="11">${esc(xa.label(v))}</text>`,
    );
  }
  for (const v of ya.ticks) {
    const y = sy(v).toFixed(1);
    o.push(`<line x1="${x0 + L}" y1="${y}" x2="${x0 + L + pw}" y2="${y}" stroke="#ddd"/>`);
    o.push(
      `<text x="${x0 + L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${esc(ya.label(v))}</text>`,
    );
  }
  o.push(
    `<text x="${x0 + L + pw / 2}" y="${y0 + h - 10}" text-anchor="middle" font-size="12">${esc(xa.title)}</text>`,
  );
  o.push(
    `<text x="${x0 + 16}" y="${y0 + T + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 16} ${y0 + T + ph / 2})">${esc(ya.title)}</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    o.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(" ")}"/>`);
    for (const [x, y] of s.points)
      o.push(
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${short(x)} -> ${fmt(y)} cycles/PTE`)}</title></circle>`,
      );
    const ly = y0 + T + 10 + i * 18;
    o.push(
      `<line x1="${x0 + L + pw + 12}" y1="${ly}" x2="${x0 + L + pw + 32}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
    );
    o.push(
      `<text x="${x0 + L + pw + 37}" y="${ly}" dominant-baseline="middle" font-size="12">${esc(s.name)}</text>`,
    );
  });
  return o.join("\n");
}

/** A standalone SVG: cycles/PTE against pages (log-log) per backend, and against batch size. */
export function renderCostsSvg(t: CostsTable): string {
  const W = 820;
  const H1 = 420;
  const H2 = 340;
  const series: Series[] = t.backends.map((b, i) => ({
    name: b,
    color: COLORS[i % COLORS.length],
    points: t.rows
      .filter((r) => r.backend === b && r.cyclesPerPte > 0)
      .sort((x, y) => x.pages - y.pages)
      .map((r) => [r.pages, r.cyclesPerPte] as [number, number]),
  }));
  const ys = t.rows.map((r) => r.cyclesPerPte).filter((v) => v > 0);
  const yMin = ys.length ? 10 ** Math.floor(Math.log10(Math.min(...ys))) : 1;
  const yMax = ys.length ? 10 ** Math.ceil(Math.log10(Math.max(...ys))) : 10;
  const xMin = Math.min(...t.pages, 1);
  const xMax = Math.max(...t.pages, 2);
  const c1 = chart(
    0,
    0,
    W,
    H1,
    "mprotect(PROT_READ): cycles per PTE",
    {
      log: true,
      min: xMin,
      max: xMax,
      ticks: logTicks(xMin, xMax, 8),
      label: short,
      title: "pages (log scale)",
    },
    {
      log: true,
      min: yMin,
      max: yMax === yMin ? yMin * 10 : yMax,
      ticks: logTicks(yMin, yMax, 10),
      label: short,
      title: "cycles per PTE (log scale)",
    },
    series,
  );
  const br = t.batch.rows;
  let c2 = "";
  if (br.length > 0) {
    const bMin = Math.min(...br.map((r) => r.batch));
    const bMax = Math.max(...br.map((r) => r.batch), bMin * 2);
    const yTop = Math.max(...br.map((r) => r.cyclesPerPte)) * 1.1;
    const yt = niceLinearTicks(yTop);
    c2 = chart(
      0,
      H1,
      W,
      H2,
      `${t.batch.backend}, ${t.batch.pages} pages: cycles per PTE by multicall batch size`,
      {
        log: true,
        min: bMin,
        max: bMax,
        ticks: logTicks(bMin, bMax, 2),
        label: short,
        title: "PTE updates per multicall (log scale)",
      },
      { log: false, min: 0, max: yt[yt.length - 1], ticks: yt, label: short, title: "cycles per PTE" },
      [
        {
          name: t.batch.backend,
          color:
            COLORS[
              t.backends.indexOf(t.batch.backend) >= 0
                ? t.backends.indexOf(t.batch.backend) % COLORS.length
                : 3
            ],
          points: br.map((r) => [r.batch, r.cyclesPerPte] as [number, number]),
        },
      ],
    );
  }
  const note =
    t.legacyOverSeed === null
      ? ""
      : `<text x="${W / 2}" y="${H1 + H2 + 16}" text-anchor="middle" font-size="12">xen-legacy / xen at ${t.legacyOverSeed.pages} pages: ${t.legacyOverSeed.ratio.toFixed(2)}x (cycle table of src/sim/costs.ts)</text>`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H1 + H2 + 28}" viewBox="0 0 ${W} ${H1 + H2 + 28}" font-family="sans-serif">`,
    `<title>ptesim bench costs</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    c1,
    c2,
    note,
    `</svg>`,
    "",
  ].join("\n");
}
