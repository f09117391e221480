// Charts of `bench costs` and `replay` documents, drawn with Chart.js; every chart has the same
// numbers as a table beside it (readable without colour, and by screen readers).
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Title,
  Tooltip,
} from "chart.js";
import { h } from "./dom.js";
import type { Arm64CostsDoc, CostsDoc, ReplayDoc } from "./types.js";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Title,
  Tooltip,
);
Chart.defaults.animation = false;
Chart.defaults.plugins.legend.labels.usePointStyle = true;
Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";

// Okabe-Ito: distinguishable with colour-vision deficiencies; points differ in shape too.
const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const SHAPES = ["circle", "rect", "triangle", "rectRot", "star", "crossRot", "cross"] as const;

function chartBox(title: string, id: string): { box: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = h("canvas", { id, role: "img", "aria-label": title });
  return {
    box: h(
      "figure",
      { class: "chart" },
      h("figcaption", {}, title),
      h("div", { class: "chart-area" }, canvas),
    ),
    canvas,
  };
}

function table(head: string[], rows: (string | number)[][], caption: string): HTMLElement {
  return h(
    "details",
    { class: "table-wrap" },
    h("summary", {}, `${caption} (table)`),
    h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, ...head.map((x) => h("th", {}, x)))),
      h(
        "tbody",
        {},
        ...rows.map((r) =>
          h("tr", {}, ...r.map((x) => h("td", {}, typeof x === "number" ? x.toLocaleString("en") : x))),
        ),
      ),
    ),
  );
}

/** Log axes: label the powers of ten only (1, 10, 100, 1k, ...). */
const decades = {
  callback: (v: string | number) => {
    const n = Number(v);
    const l = Math.log10(n);
    if (n <= 0 || Math.abs(l - Math.round(l)) > 1e-9) return "";
    return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
  },
};

/** The events x86's page shows per backend (the Xen paths' costs). */
const XEN_EVENTS = [
  "trap_pt_write",
  "trap_pt_xchg",
  "hypercall",
  "multicall",
  "mmu_update_fast",
  "mmu_update_slow",
  "ipi",
];

/**
 * The arm64 costs page: x86's cycles-per-PTE chart and events over the arm64 ledger events, then
 * the weights with their sources (every one an assumption unless a --costs file set it).
 */
export function renderArm64Costs(root: HTMLElement, doc: Arm64CostsDoc): void {
  const events = Object.keys(doc.weights).filter((k) => doc.rows.some((r) => (r.counts[k] ?? 0) > 0));
  renderCosts(
    root,
    {
      schema: "ptesim.bench-costs/1",
      backends: doc.backends,
      pages: doc.pages,
      rows: doc.rows.map((r) => ({ ...r, counters: r.counts })),
      batch: { backend: "", pages: 0, rows: [] },
      legacyOverSeed: null,
    },
    {
      events,
      what: `arm64: mprotect(PROT_READ) over populated pages, weights ${doc.costsFile === null ? "ARM64_COSTS (assumptions)" : `from ${doc.costsFile}`}`,
    },
  );
  root.append(
    table(
      ["event", "cycles", "source"],
      Object.entries(doc.weights).map(([k, w]) => [k, w.cycles, w.source]),
      `Weights${doc.ignored.length > 0 ? ` (not charged on arm64: ${doc.ignored.join(", ")})` : ""}`,
    ),
  );
}

export function renderCosts(
  root: HTMLElement,
  doc: CostsDoc,
  opts: { events?: string[]; what?: string } = {},
): void {
  const events = opts.events ?? XEN_EVENTS;
  root.append(
    h(
      "header",
      { class: "summary" },
      h(
        "div",
        { class: "headline" },
        h("span", { class: "verdict verdict-ok" }, "COSTS"),
        h("span", { class: "property" }, opts.what ?? "mprotect(PROT_READ) over populated pages"),
      ),
      doc.legacyOverSeed
        ? h(
            "p",
            { class: "message" },
            `At ${doc.legacyOverSeed.pages.toLocaleString("en")} pages xen-legacy costs ${doc.legacyOverSeed.ratio.toFixed(1)}x the cycles per PTE of xen (the batched PRESERVE_AD path).`,
          )
        : null,
    ),
  );
  const grid = h("div", { class: "charts" });
  root.append(grid);
  const a = chartBox("Cycles per PTE by pages changed (log scales)", "chart-pages");
  grid.append(a.box);
  new Chart(a.canvas, {
    type: "line",
    data: {
      datasets: doc.backends.map((b, i) => ({
        label: b,
        data: doc.rows.filter((r) => r.backend === b).map((r) => ({ x: r.pages, y: r.cyclesPerPte })),
        borderColor: COLOURS[i % COLOURS.length],
        backgroundColor: COLOURS[i % COLOURS.length],
        pointStyle: SHAPES[i % SHAPES.length],
        pointRadius: 4,
      })),
    },
    options: {
      maintainAspectRatio: false,
      scales: {
        x: { type: "logarithmic", title: { display: true, text: "pages" }, ticks: decades },
        y: { type: "logarithmic", title: { display: true, text: "cycles per PTE" }, ticks: decades },
      },
    },
  });
  const tables: HTMLElement[] = [];
  tables.push(
    table(
      ["backend", "pages", "cycles/PTE", ...events],
      doc.rows.map((r) => [
        r.backend,
        r.pages,
        Math.round(r.cyclesPerPte),
        ...events.map((k) => r.counters[k] ?? 0),
      ]),
      "Cycles per PTE and events",
    ),
  );
  if (doc.batch.rows.length > 0) {
    const b = chartBox(
      `Cycles per PTE by multicall batch size (${doc.batch.backend}, ${doc.batch.pages.toLocaleString("en")} pages)`,
      "chart-batch",
    );
    grid.append(b.box);
    new Chart(b.canvas, {
      type: "line",
      data: {
        datasets: [
          {
            label: doc.batch.backend,
            data: doc.batch.rows.map((r) => ({ x: r.batch, y: r.cyclesPerPte })),
            borderColor: COLOURS[3],
            backgroundColor: COLOURS[3],
            pointRadius: 4,
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        scales: {
          x: { type: "logarithmic", title: { display: true, text: "entries per multicall" } },
          y: { type: "linear", title: { display: true, text: "cycles per PTE" } },
        },
      },
    });
    tables.push(
      table(
        ["batch", "cycles/PTE"],
        doc.batch.rows.map((r) => [r.batch, Math.round(r.cyclesPerPte)]),
        "Batch size",
      ),
    );
  }
  const measured = (doc.native?.rows ?? []).filter(
    (r) => r.direction === "ro" && r.kernelCyclesPerPte !== null,
  );
  if (measured.length > 0) {
    const k = chartBox(
      "native: the model beside the real kernel, mprotect(PROT_READ), cycles per PTE",
      "chart-kernel",
    );
    grid.append(k.box);
    new Chart(k.canvas, {
      type: "line",
      data: {
        datasets: [
          {
            label: "model (native)",
            data: measured.map((r) => ({ x: r.pages, y: r.modelCyclesPerPte })),
            borderColor: COLOURS[0],
            backgroundColor: COLOURS[0],
            pointStyle: SHAPES[0],
          },
          {
            label: "real kernel (this machine)",
            data: measured.map((r) => ({ x: r.pages, y: r.kernelCyclesPerPte as number })),
            borderColor: COLOURS[6],
            backgroundColor: COLOURS[6],
            pointStyle: SHAPES[1],
            borderDash: [6, 4],
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        scales: {
          x: { type: "logarithmic", title: { display: true, text: "pages" }, ticks: decades },
          y: { type: "logarithmic", title: { display: true, text: "cycles per PTE" }, ticks: decades },
        },
      },
    });
    tables.push(
      table(
        ["pages", "model cycles/PTE", "kernel cycles/PTE", "model / kernel"],
        measured.map((r) => [
          r.pages,
          Math.round(r.modelCyclesPerPte),
          Math.round(r.kernelCyclesPerPte as number),
          (r.ratio ?? 0).toFixed(2),
        ]),
        "Model against the real kernel",
      ),
    );
  }
  const largest = Math.max(...doc.pages);
  const c = chartBox(`Events at ${largest.toLocaleString("en")} pages (log scale)`, "chart-events");
  grid.append(c.box);
  const atLargest = doc.rows.filter((r) => r.pages === largest);
  new Chart(c.canvas, {
    type: "bar",
    data: {
      labels: events,
      datasets: atLargest.map((r, i) => ({
        label: r.backend,
        data: events.map((k) => r.counters[k] ?? 0),
        backgroundColor: COLOURS[doc.backends.indexOf(r.backend) % COLOURS.length] ?? COLOURS[i],
      })),
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { type: "logarithmic", min: 1, title: { display: true, text: "count" }, ticks: decades } },
    },
  });
  // The figures behind the charts (built above, never shown before).
  root.append(...tables);
}

export function renderReplay(root: HTMLElement, doc: ReplayDoc): void {
  const diverged = doc.verdict === "diverged";
  root.append(
    h(
      "header",
      { class: "summary" },
      h(
        "div",
        { class: "headline" },
        h(
          "span",
          { class: `verdict verdict-${diverged ? "violated" : "verified"}`, "data-testid": "verdict" },
          diverged ? "DIVERGED" : "MATCH",
        ),
        h("span", { class: "property" }, `replay of ${doc.file}`),
      ),
      h(
        "p",
        { class: "message" },
        `${doc.lines.toLocaleString("en")} lines; calls: ${Object.entries(doc.calls)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}; pages populated by "${doc.populate}".`,
      ),
      ...doc.notes.map((n) => h("p", { class: "muted" }, n)),
    ),
  );
  const grid = h("div", { class: "charts" });
  root.append(grid);
  const c = chartBox("Cycles per backend (log scale)", "chart-replay");
  grid.append(c.box);
  new Chart(c.canvas, {
    type: "bar",
    data: {
      labels: doc.backends.map((b) => b.backend),
      datasets: [
        {
          label: "cycles",
          data: doc.backends.map((b) => b.cycles),
          backgroundColor: doc.backends.map((_, i) => COLOURS[i % COLOURS.length]),
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { type: "logarithmic", ticks: decades } },
    },
  });
  const keys = ["trap_pt_write", "trap_pt_xchg", "hypercall", "multicall", "mmu_update", "ipi", "page_fault"];
  grid.append(
    h(
      "table",
      { class: "data" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "backend"),
          h("th", {}, "PTEs (mprotect)"),
          h("th", {}, "faults"),
          ...keys.map((k) => h("th", {}, k)),
          h("th", {}, "cycles"),
          h("th", {}, "divergences"),
        ),
      ),
      h(
        "tbody",
        {},
        ...doc.backends.map((b) =>
          h(
            "tr",
            {},
            h("td", {}, b.backend),
            h("td", {}, b.ptesMprotect.toLocaleString("en")),
            h("td", {}, b.faults.toLocaleString("en")),
            ...keys.map((k) => h("td", {}, (b.counters[k] ?? 0).toLocaleString("en"))),
            h("td", {}, b.cycles.toLocaleString("en")),
            h("td", {}, String(b.divergences.length)),
          ),
        ),
      ),
    ),
  );
  for (const b of doc.backends)
    if (b.divergences.length > 0)
      grid.append(
        h(
          "details",
          { class: "table-wrap" },
          h("summary", {}, `${b.backend}: ${b.divergences.length} divergences`),
          h("pre", {}, b.divergences.map((d) => JSON.stringify(d)).join("\n")),
        ),
      );
}
