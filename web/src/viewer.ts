// The viewer: shows one CLI document (run, check, replay, costs). A counterexample is drawn as a
// sequence diagram with one lane per CPU (and the hypervisor), locks as spans and TLB flushes as
// arrows; the selected step's PTE is shown bit by bit with each CPU's TLB entry for the page.
// Everything shown comes from the document: nothing here simulates.
import { copyButton, h, hex, s } from "./dom.js";
import type { CheckDoc, RunDoc, TraceEvent } from "./types.js";

export interface ViewerHandle {
  /** Select step `i` (index into the timeline). */
  select(i: number): void;
  destroy(): void;
}

export const noHandle: ViewerHandle = { select() {}, destroy() {} };

// ------------------------------------------------------------------ summary

type Verdict = "violated" | "verified" | "ok" | "incomplete";

function verdictOf(doc: RunDoc | CheckDoc): Verdict {
  return doc.verdict as Verdict;
}

const VERDICT_TEXT: Record<Verdict, string> = {
  violated: "VIOLATED",
  verified: "VERIFIED",
  ok: "OK",
  incomplete: "INCOMPLETE",
};

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function summary(doc: RunDoc | CheckDoc): HTMLElement {
  const v = verdictOf(doc);
  const isCheck = doc.schema === "ptesim.check/1";
  const c = doc as CheckDoc;
  const r = doc as RunDoc;
  const first = isCheck ? null : r.violations[0];
  const property = isCheck ? c.property : first?.property;
  const rule = isCheck ? c.rule : first?.rule;
  const message = isCheck ? c.message : first?.message;
  const facts: [string, string][] = [
    ["scenario", `${doc.scenario}${doc.file ? ` (${doc.file})` : " (built-in)"}`],
    ["backend", doc.backend],
    ["machine", `${doc.machine.arch}, ${doc.machine.cpus} CPUs`],
  ];
  if (isCheck) {
    facts.push(["exploration", c.mode]);
    facts.push(["states", c.states.toLocaleString("en")]);
    facts.push(["executions", `${c.executions.toLocaleString("en")} (${c.completeExecutions} to the end)`]);
    facts.push([
      "time",
      `${fmtMs(c.elapsedMs)} (${Math.round((c.states * 1000) / Math.max(1, c.elapsedMs)).toLocaleString("en")} states/s)`,
    ]);
  } else {
    facts.push(["seed", String(r.seed)]);
    facts.push(["steps", `${r.stats.steps} (${r.stats.kernelSteps} kernel, ${r.stats.userSteps} user)`]);
    if (r.sweep)
      facts.push([
        "sweep",
        `seeds ${r.sweep.firstSeed}..${r.sweep.firstSeed + r.sweep.seeds - 1}: ${r.sweep.failingSeeds} violate a property`,
      ]);
  }
  const repro = isCheck ? c.reproduce : r.reproduce;
  return h(
    "header",
    { class: "summary" },
    h(
      "div",
      { class: "headline" },
      h("span", { class: `verdict verdict-${v}`, "data-testid": "verdict" }, VERDICT_TEXT[v]),
      property ? h("span", { class: "property" }, property, rule ? ` (${rule})` : "") : null,
      v === "verified"
        ? h("span", { class: "property" }, "no interleaving violates any property in these bounds")
        : null,
      v === "incomplete"
        ? h("span", { class: "property" }, `stopped at ${c.reason ?? "a bound"} before deciding`)
        : null,
    ),
    message ? h("p", { class: "message" }, message) : null,
    h("dl", { class: "facts" }, ...facts.map(([k, val]) => h("div", {}, h("dt", {}, k), h("dd", {}, val)))),
    repro
      ? h(
          "div",
          { class: "repro" },
          h("span", { class: "repro-label" }, "reproduce"),
          h("code", { "data-testid": "reproduce" }, repro),
          copyButton(repro),
        )
      : null,
  );
}

// ------------------------------------------------------------------ PTE bits

interface PteBit {
  bit: number;
  name: string;
  title: string;
  /** Names a "drops X" note uses for the state this bit records (arm64 RDONLY: D). */
  lostAs?: readonly string[];
}

/**
 * Per arch, the bits that record a state a "drops X" note names, where the bit's name is not X:
 * arm64 keeps hardware dirty as RDONLY clear (with DBM), software dirty in DIRTY, and A in AF.
 */
const LOST_AS: Record<string, Record<string, readonly string[]>> = {
  arm64: { RDONLY: ["D"], DIRTY: ["D"], AF: ["A"] },
};

function bitSet(hexValue: string, bit: number): boolean {
  return ((BigInt(`0x${hexValue}`) >> BigInt(bit)) & 1n) === 1n;
}

/** The frame number: x86-64 PFN bits 12..51, arm64 output address bits 12..47. */
function pfnOf(hexValue: string, arch: string): number {
  const mask = arch === "arm64" ? 0xfffffffffn : 0xffffffffffn;
  return Number((BigInt(`0x${hexValue}`) >> 12n) & mask);
}

/** The bits a step's note says were lost ("drops D", "drops A and D"). */
function droppedBits(e: TraceEvent): string[] {
  const m = /^drops (.*)$/.exec(e.note ?? "");
  return m ? m[1].split(" and ") : [];
}

function pteBits(
  bits: readonly PteBit[],
  value: string | undefined,
  before: string | undefined,
  lost: string[],
) {
  if (value === undefined)
    return h("p", { class: "muted", "data-testid": "pte-bits", "data-pte": "none" }, "No PTE recorded yet.");
  return h(
    "div",
    {
      class: "pte-bits",
      "data-testid": "pte-bits",
      "data-pte": value,
      role: "list",
      "aria-label": "PTE bits",
    },
    ...bits.map((b) => {
      const on = bitSet(value, b.bit);
      const was = before === undefined ? on : bitSet(before, b.bit);
      const change = on === was ? "" : on ? "set" : "cleared";
      // A bit named by the note is lost; so is a bit standing for the named state (arm64's
      // RDONLY for D) if it changed here, or if none of the bits standing for it did.
      const standsFor = (b.lostAs ?? []).filter((x) => lost.includes(x));
      const isLost =
        lost.includes(b.name) ||
        (b.name === "US" && lost.includes("U")) ||
        (standsFor.length > 0 &&
          (change !== "" ||
            !bits.some(
              (o) =>
                o !== b &&
                (o.lostAs ?? []).some((x) => standsFor.includes(x)) &&
                before !== undefined &&
                bitSet(value, o.bit) !== bitSet(before, o.bit),
            )));
      return h(
        "div",
        {
          class: `bit ${on ? "on" : "off"}${isLost ? " lost" : ""}${change ? ` changed-${change}` : ""}`,
          role: "listitem",
          title: `bit ${b.bit}: ${b.title}`,
          "data-bit": b.name,
          "data-set": on ? "1" : "0",
        },
        h("span", { class: "bit-name" }, b.name),
        h("span", { class: "bit-value" }, on ? "1" : "0"),
        isLost
          ? h("span", { class: "bit-flag" }, "LOST")
          : change
            ? h("span", { class: "bit-flag" }, change)
            : null,
      );
    }),
  );
}

// ------------------------------------------------------------------ counterexample

interface Row {
  e: TraceEvent;
  lane: number;
  /** The PTE of the page after this step (hex), if known by then. */
  pte: string | undefined;
  /** Before this step. */
  prevPte: string | undefined;
  /** Every CPU's TLB entry for the page after this step, if known. */
  tlb: (string | null)[] | undefined;
}

function isHypervisorStep(e: TraceEvent): boolean {
  return e.path?.some((f) => f.startsWith("xen: ")) === true;
}

function laneLabel(lane: number, cpus: number, hv: boolean): string {
  if (hv && lane === cpus) return "Xen hypervisor";
  return lane === 0 ? "CPU0 (syscalls)" : `CPU${lane} (user)`;
}

function shortWhat(e: TraceEvent): string {
  if (e.actor === "init") return e.what.startsWith("TLB") ? "initial state" : e.what;
  return e.what.replace(/^(\w+)\((0x[0-9a-f]+), /, "$1(…, ");
}

export interface CounterexampleOptions {
  /** The step shown first (default 0; clamped to the timeline). */
  initialStep?: number;
  /** Told the index of every step selected (e.g. to keep it in the address). */
  onSelect?: (i: number) => void;
}

export function renderCounterexample(
  root: HTMLElement,
  doc: RunDoc | CheckDoc,
  opts: CounterexampleOptions = {},
): ViewerHandle {
  root.append(summary(doc));
  const timeline: TraceEvent[] = (doc as CheckDoc).timeline ?? [];
  if (timeline.length === 0) {
    if (doc.schema === "ptesim.run/1") root.append(runFacts(doc as RunDoc));
    return noHandle;
  }
  const machine = doc.machine;
  const cpus = machine.cpus;
  const bits: PteBit[] = machine.pteBits.map((b) => ({ ...b, lostAs: LOST_AS[machine.arch]?.[b.name] }));
  const page =
    doc.schema === "ptesim.check/1"
      ? ((doc as CheckDoc).addr ?? -1)
      : ((doc as RunDoc).violations[0]?.addr ?? -1);
  const hv = timeline.some(isHypervisorStep);
  const lanes = cpus + (hv ? 1 : 0);

  // The PTE and TLB of the page carried forward from the last step that recorded them.
  const rows: Row[] = [];
  let pte: string | undefined;
  let tlb: (string | null)[] | undefined;
  for (const e of timeline) {
    const prev = pte;
    if (e.addr === page && e.afterHex !== undefined) pte = e.afterHex;
    if (e.addr === page && e.tlb !== undefined) tlb = e.tlb;
    rows.push({ e, lane: hv && isHypervisorStep(e) ? cpus : e.cpu, pte, prevPte: prev, tlb });
  }
  const violating = (() => {
    const i = rows.findIndex((r) => r.e.addr === page && droppedBits(r.e).length > 0);
    if (i >= 0) return i;
    // Otherwise the last step that changed the page's PTE.
    for (let j = rows.length - 1; j >= 0; j--) if (rows[j].e.addr === page && rows[j].e.afterHex) return j;
    return rows.length - 1;
  })();

  // Controls.
  const slider = h("input", {
    type: "range",
    min: 0,
    max: rows.length - 1,
    value: 0,
    id: "step-slider",
    "aria-label": "Step",
    "data-testid": "step-slider",
  });
  const label = h("span", { class: "step-label", "aria-live": "polite", "data-testid": "step-label" });
  const btn = (text: string, title: string, act: () => void, testid: string) =>
    h("button", { type: "button", title, "data-testid": testid, onclick: act }, text);
  const controls = h(
    "nav",
    { class: "stepper", "aria-label": "Step through the interleaving" },
    btn("« First", "First step (Home)", () => select(0), "first"),
    btn("◀ Prev", "Previous step (← or k)", () => select(cur - 1), "prev"),
    slider,
    btn("Next ▶", "Next step (→ or j)", () => select(cur + 1), "next"),
    btn("Last »", "Last step (End)", () => select(rows.length - 1), "last"),
    btn(
      "Go to the violating step (v)",
      "The step that loses the bit (v)",
      () => select(violating),
      "goto-violation",
    ),
    label,
  );
  slider.addEventListener("input", () => select(Number(slider.value)));

  const diagram = h("div", { class: "diagram", tabindex: 0, "aria-label": "Sequence diagram" });
  const details = h("aside", { class: "details", "aria-live": "polite", "data-testid": "details" });
  root.append(
    h(
      "section",
      { class: "cx" },
      h("h2", { class: "section-title" }, `Interleaving on the page ${hex(page)} (${rows.length} steps)`),
      controls,
      h("div", { class: "cx-grid" }, diagram, details),
    ),
  );

  // Diagram geometry.
  const LANE_W = lanes >= 5 ? 130 : lanes === 4 ? 155 : 190;
  const ROW_H = 30;
  const TOP = 44;
  const LEFT = 46;
  const width = LEFT + lanes * LANE_W + 40;
  const height = TOP + rows.length * ROW_H + 10;
  const maxChars = Math.floor((LANE_W - 20) / 6.6);
  const laneX = (l: number) => LEFT + l * LANE_W + LANE_W / 2;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": `Sequence diagram: ${lanes} lanes, ${rows.length} steps`,
    class: "seq",
  });
  svg.append(
    s(
      "defs",
      {},
      s(
        "marker",
        {
          id: "arrow",
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto",
        },
        s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }),
      ),
    ),
  );
  const band = s("rect", { x: 0, y: TOP, width, height: ROW_H, class: "sel-band" });
  svg.append(band);
  for (let l = 0; l < lanes; l++) {
    svg.append(s("line", { x1: laneX(l), x2: laneX(l), y1: TOP - 8, y2: height, class: "lane" }));
    svg.append(
      s(
        "text",
        { x: laneX(l), y: 18, class: `lane-label${hv && l === cpus ? " hv" : ""}`, "text-anchor": "middle" },
        laneLabel(l, cpus, hv),
      ),
    );
  }
  // Lock spans: one bar per (CPU, lock kind) per run of consecutive steps holding it.
  const lockKinds: [RegExp, string, number][] = [
    [/^mmap_lock \(write\): CPU(\d+)/, "lock-mmap", -20],
    [/^PTE lock: CPU(\d+)/, "lock-ptl", -14],
    [/^lazy MMU mode: CPU(\d+)/, "lock-lazy", -8],
  ];
  for (const [re, cls, dx] of lockKinds) {
    for (let c = 0; c < cpus; c++) {
      let startRow = -1;
      const close = (end: number) => {
        if (startRow < 0) return;
        const y0 = TOP + startRow * ROW_H + 4;
        const title = s(
          "title",
          {},
          `${cls === "lock-mmap" ? "mmap_lock held for write" : cls === "lock-ptl" ? "PTE lock held" : "lazy MMU mode"} by CPU${c}`,
        );
        svg.append(
          s(
            "rect",
            { x: laneX(c) + dx, y: y0, width: 5, height: (end - startRow) * ROW_H - 8, class: cls },
            title,
          ),
        );
        startRow = -1;
      };
      rows.forEach((r, i) => {
        const held = (r.e.locks ?? []).some((x) => {
          const m = re.exec(x);
          return m !== null && Number(m[1]) === c;
        });
        if (held && startRow < 0) startRow = i;
        if (!held) close(i);
      });
      close(rows.length);
    }
  }
  const rowEls: SVGGElement[] = [];
  rows.forEach((r, i) => {
    const y = TOP + i * ROW_H;
    const cy = y + ROW_H / 2;
    const g = s("g", { class: `ev actor-${r.e.actor}`, "data-step": i });
    g.append(s("text", { x: 6, y: cy + 4, class: "stepno" }, `#${r.e.step}`));
    const x = laneX(r.lane);
    const drops = droppedBits(r.e);
    if (r.e.target !== undefined && r.e.target !== r.e.cpu) {
      // A flush of another CPU's TLB: an arrow from the initiator to the target.
      const x1 = laneX(hv && isHypervisorStep(r.e) ? cpus : r.e.cpu);
      const x2 = laneX(r.e.target);
      g.append(
        s("line", {
          x1,
          y1: cy,
          x2: x2 + (x2 > x1 ? -4 : 4),
          y2: cy,
          class: "ipi",
          "marker-end": "url(#arrow)",
        }),
      );
      g.append(
        s(
          "text",
          { x: (x1 + x2) / 2, y: cy - 4, class: "ipi-label", "text-anchor": "middle" },
          r.e.what.replace(/ on CPU\d+/, ""),
        ),
      );
    } else {
      if (hv && r.lane === cpus) {
        g.append(s("line", { x1: laneX(r.e.cpu), y1: cy, x2: x - LANE_W / 2 + 8, y2: cy, class: "hv-link" }));
      }
      const w = LANE_W - 16;
      g.append(
        s("rect", {
          x: x - w / 2,
          y: y + 4,
          width: w,
          height: ROW_H - 8,
          rx: 4,
          class: `box${drops.length > 0 ? " drops" : ""}${r.e.afterHex !== undefined && r.e.addr === page ? " pte-change" : ""}`,
        }),
      );
      const text = `${hv && r.lane === cpus ? `CPU${r.e.cpu}: ` : ""}${shortWhat(r.e)}`;
      g.append(
        s(
          "text",
          { x, y: cy + 4, "text-anchor": "middle", class: "box-text" },
          text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text,
        ),
      );
      if (drops.length > 0)
        g.append(s("text", { x: x + w / 2 + 3, y: cy + 4, class: "drops-label" }, `✗ ${drops.join("+")}`));
    }
    g.append(
      s(
        "title",
        {},
        `#${r.e.step} CPU${r.e.cpu} ${r.e.actor}: ${r.e.what}${r.e.note ? ` (${r.e.note})` : ""}`,
      ),
    );
    g.addEventListener("click", () => select(i));
    rowEls.push(g);
    svg.append(g);
  });
  diagram.append(svg);
  diagram.append(
    h(
      "div",
      { class: "legend" },
      h("span", { class: "lg lg-mmap" }, "mmap_lock (write)"),
      h("span", { class: "lg lg-ptl" }, "PTE lock"),
      h("span", { class: "lg lg-lazy" }, "lazy MMU mode"),
      h("span", { class: "lg lg-ipi" }, "TLB flush by IPI / hypercall"),
      h("span", { class: "lg lg-drops" }, "✗ store that loses a bit"),
    ),
  );

  // The same steps as text (screen readers, copy and paste): the CLI's timeline lines.
  const textItems = rows.map((r, i) =>
    h(
      "li",
      {},
      h("button", { type: "button", class: "link", onclick: () => select(i) }, `#${r.e.step}`),
      ` CPU${r.e.cpu} ${r.e.actor} ${r.e.what}${r.e.addr >= 0 ? ` ${hex(r.e.addr)}` : ""}${
        r.e.after === undefined
          ? ""
          : r.e.before !== undefined && r.e.before !== r.e.after
            ? `  ${r.e.before} -> ${r.e.after}`
            : `  = ${r.e.after}`
      }`,
      r.e.note ? h("span", { class: "note" }, `  <-- ${r.e.note}`) : null,
    ),
  );
  root
    .querySelector(".cx")
    ?.append(
      h("details", { class: "steps-text" }, h("summary", {}, "The steps as text"), h("ol", {}, ...textItems)),
    );

  let cur = -1;
  function select(i: number): void {
    i = Math.max(0, Math.min(rows.length - 1, i));
    if (i === cur) return;
    cur = i;
    slider.value = String(i);
    label.textContent = `Step ${i + 1} of ${rows.length} (event #${rows[i].e.step})`;
    band.setAttribute("y", String(TOP + i * ROW_H));
    for (const g of rowEls) g.classList.toggle("selected", Number(g.dataset.step) === i);
    textItems.forEach((li, j) => {
      if (j === i) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
    const bandTop = TOP + i * ROW_H;
    if (bandTop < diagram.scrollTop + TOP || bandTop + ROW_H > diagram.scrollTop + diagram.clientHeight)
      diagram.scrollTop = Math.max(0, bandTop - diagram.clientHeight / 2);
    details.replaceChildren(...stepDetails(rows[i], i === violating));
    opts.onSelect?.(i);
  }

  function stepDetails(r: Row, isViolation: boolean): Node[] {
    const e = r.e;
    const lost = droppedBits(e);
    const out: Node[] = [];
    out.push(
      h(
        "h3",
        { "data-testid": "step-title" },
        `#${e.step} · CPU${e.cpu} · ${e.actor}`,
        isViolation ? h("span", { class: "tag tag-bad" }, "violating step") : null,
      ),
    );
    out.push(
      h("p", { class: "what" }, e.what, e.note ? h("strong", { class: "note" }, ` — ${e.note}`) : null),
    );
    if (e.path !== undefined)
      out.push(
        h(
          "ol",
          { class: "path", "aria-label": "Code path" },
          ...e.path.map((f) => h("li", { class: f.startsWith("xen: ") ? "hv" : "" }, f)),
        ),
      );
    out.push(h("h4", {}, `PTE of ${hex(page)} after this step`));
    out.push(pteBits(bits, r.pte, r.prevPte, lost));
    if (r.pte !== undefined)
      out.push(
        h(
          "p",
          { class: "pte-text", "data-testid": "pte-text" },
          `pfn ${hex(pfnOf(r.pte, machine.arch))} · 0x${r.pte}`,
          e.addr === page && e.before !== undefined && e.after !== undefined
            ? h("span", { class: "muted" }, ` · was ${e.before}, now ${e.after}`)
            : e.addr === page && e.after !== undefined
              ? h("span", { class: "muted" }, ` · ${e.after}`)
              : null,
        ),
      );
    const cont = bits.find((b) => b.name === "CONT");
    if (machine.arch === "arm64" && cont !== undefined && r.pte !== undefined && bitSet(r.pte, cont.bit))
      out.push(contBlock(page));
    if (lost.length > 0)
      out.push(
        h(
          "p",
          { class: "lost-note", role: "note" },
          `This store loses ${lost.join(" and ")}: ${lost.length > 1 ? "bits" : "a bit"} the MMU set after the kernel read the PTE ${lost.length > 1 ? "are" : "is"} overwritten with a value computed from that earlier read.`,
        ),
      );
    out.push(h("h4", {}, `TLB entries for ${hex(page)}`));
    out.push(
      h(
        "table",
        { class: "tlb", "data-testid": "tlb" },
        h("thead", {}, h("tr", {}, h("th", {}, "CPU"), h("th", {}, "entry"))),
        h(
          "tbody",
          {},
          ...Array.from({ length: cpus }, (_, c) =>
            h(
              "tr",
              {},
              h("td", {}, `CPU${c}`),
              h("td", {}, r.tlb === undefined ? "unknown" : (r.tlb[c] ?? "none")),
            ),
          ),
        ),
      ),
    );
    out.push(h("h4", {}, "Locks held"));
    const locks = e.locks ?? [];
    out.push(
      locks.length === 0
        ? h("p", { class: "muted" }, "none")
        : h("ul", { class: "locks" }, ...locks.map((l) => h("li", {}, l))),
    );
    return out;
  }

  const onKey = (ev: KeyboardEvent) => {
    const t = ev.target as HTMLElement | null;
    if (t !== null && (t.closest(".cm-editor") || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName))) {
      if (t !== slider) return;
    }
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    let handled = true;
    if (ev.key === "ArrowRight" || ev.key === "j") select(cur + 1);
    else if (ev.key === "ArrowLeft" || ev.key === "k") select(cur - 1);
    else if (ev.key === "Home") select(0);
    else if (ev.key === "End") select(rows.length - 1);
    else if (ev.key === "v") select(violating);
    else handled = false;
    if (handled) ev.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  select(opts.initialStep ?? 0);
  return {
    select,
    destroy: () => document.removeEventListener("keydown", onKey),
  };
}

/** arm64 contpte: the 16-entry, 64 KiB aligned block this page's entry belongs to. */
function contBlock(page: number): HTMLElement {
  const base = page - (page % 0x10000);
  const index = Math.floor((page - base) / 4096);
  return h(
    "div",
    { class: "cont-block", "data-testid": "cont-block", role: "note" },
    h(
      "p",
      {},
      h("strong", {}, "Contiguous (CONT): "),
      `entry ${index + 1} of 16 in the 64 KiB block ${hex(base)}–${hex(base + 0xffff)}; a TLB may cache the whole block as one entry, so the kernel changes the block with break-before-make (contpte).`,
    ),
    h(
      "ol",
      { class: "cont-cells", "aria-label": "The block's 16 entries" },
      ...Array.from({ length: 16 }, (_, i) =>
        h("li", i === index ? { class: "this", "aria-current": "true", title: "this page" } : {}, String(i)),
      ),
    ),
  );
}

function runFacts(doc: RunDoc): HTMLElement {
  return h(
    "section",
    { class: "facts-block" },
    h("h2", { class: "section-title" }, "System calls"),
    h(
      "ul",
      {},
      ...doc.syscalls.map((c) =>
        h(
          "li",
          {},
          `${c.call}(${hex(c.addr)}, ${c.pages} pages${c.prot ? `, ${c.prot}` : ""}) = ${c.errno ?? c.ret}`,
        ),
      ),
    ),
    h("h2", { class: "section-title" }, "Counters"),
    h(
      "p",
      {},
      Object.entries(doc.counters)
        .map(([k, v]) => `${k} ${v}`)
        .join(" · "),
    ),
  );
}

/** A report page's step in its address (#step=N): opened at that step, kept as one steps. */
export function stepPermalink(): CounterexampleOptions {
  const m = /(?:^#|&)step=(\d+)/.exec(location.hash);
  return {
    ...(m ? { initialStep: Number(m[1]) } : {}),
    onSelect: (i) => {
      const want = `#step=${i}`;
      if (location.hash !== want) history.replaceState(null, "", want);
    },
  };
}
