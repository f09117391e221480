// The playground: edit a scenario (YAML, checked as you type with the CLI's file:line:col
// errors), pick backend, seed and exploration, then run or check it in a Web Worker running the
// same core as the CLI, and see the result in the report viewer.

import { yaml } from "@codemirror/lang-yaml";
import { type Diagnostic, linter, lintGutter } from "@codemirror/lint";
import { basicSetup, EditorView } from "codemirror";
import litmusDirty from "../../scenarios/litmus/plain-rmw-vs-dirty.yaml?raw";
import suiteC3p2 from "../../scenarios/suite/c3p2.yaml?raw";
import suiteC3p4 from "../../scenarios/suite/c3p4.yaml?raw";
import { allBackends, loadScenarioText } from "../../src/index.js";
import type { LocatedError } from "../../src/scenario/load.js";
import { h } from "./dom.js";
import type { Job, Reply } from "./protocol.js";
import "./style.css";
import "./playground.css";
import { renderDocument } from "./document.js";
import type { ViewerHandle } from "./viewer.js";
import PtesimWorker from "./worker.ts?worker&inline";

const FILE = "scenario.yaml";

const CHECK_DEFAULT = `# The scenario of 'ptesim check' without a file (builtin:check).
name: check-default
description: "Two user CPUs write two shared pages (writable and clean, cached in their TLBs) while CPU 0 makes them read-only."
cpus: 3                # CPU 0 makes the syscalls, CPUs 1 and 2 run the programs
regions:
  - { name: buf, pages: 2, prot: rw, shared: true, populate: read }
syscalls:
  - { call: mprotect, region: buf, prot: r }
programs:
  - ["w buf:0", "w buf:1"]
  - ["w buf:1", "w buf:0"]
`;

const EXAMPLES: Record<string, string> = {
  "builtin:check (2 writers vs mprotect)": CHECK_DEFAULT,
  "litmus: plain RMW vs dirty": litmusDirty,
  "suite: 3 CPUs x 2 pages": suiteC3p2,
  "suite: 3 CPUs x 4 pages": suiteC3p4,
};

const app = document.getElementById("app")!;
const state = { errors: [] as LocatedError[] };

function locatedDiagnostics(view: EditorView, errors: LocatedError[]): Diagnostic[] {
  const doc = view.state.doc;
  return errors.map((e) => {
    const line = doc.line(Math.min(Math.max(1, e.line), doc.lines));
    const from = Math.min(line.from + Math.max(0, e.col - 1), line.to);
    return { from, to: Math.max(from, line.to), severity: "error", message: e.message };
  });
}

const errorList = h("ul", { class: "yaml-errors", "data-testid": "yaml-errors", "aria-live": "polite" });
function showErrors(errors: LocatedError[]): void {
  state.errors = errors;
  errorList.replaceChildren(
    ...(errors.length === 0
      ? [h("li", { class: "ok" }, "✓ scenario is valid")]
      : errors.map((e) =>
          h(
            "li",
            { class: "err", "data-line": e.line, "data-col": e.col },
            h(
              "button",
              { type: "button", class: "link", title: "Go to this line", onclick: () => goTo(e.line, e.col) },
              `${e.file}:${e.line}:${e.col}`,
            ),
            `: ${e.message}`,
          ),
        )),
  );
  runBtn.disabled = checkBtn.disabled = errors.length > 0 || busy;
}

function validate(view: EditorView): Diagnostic[] {
  const r = loadScenarioText(view.state.doc.toString(), FILE);
  const errors = r.ok ? [] : r.errors;
  showErrors(errors);
  return locatedDiagnostics(view, errors);
}

function goTo(line: number, col: number): void {
  const doc = editor.state.doc;
  const l = doc.line(Math.min(Math.max(1, line), doc.lines));
  const pos = Math.min(l.from + Math.max(0, col - 1), l.to);
  editor.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  editor.focus();
}

// Controls.
const exampleSel = h(
  "select",
  { id: "example", "aria-label": "Example scenario" },
  ...Object.keys(EXAMPLES).map((k) => h("option", { value: k }, k)),
);
const backendSel = h(
  "select",
  { id: "backend", "data-testid": "backend" },
  ...allBackends().map((b) => h("option", { value: b.name }, `${b.name}${b.correct ? "" : " (broken)"}`)),
);
backendSel.value = "naive";
const seedIn = h("input", {
  id: "seed",
  type: "number",
  min: 0,
  max: 4294967295,
  placeholder: "scenario's",
  inputmode: "numeric",
});
const modeSel = h(
  "select",
  { id: "mode" },
  h("option", { value: "reduced" }, "reduced"),
  h("option", { value: "exhaustive" }, "exhaustive"),
);
const maxSecIn = h("input", { id: "max-seconds", type: "number", min: 1, max: 3600, value: 60 });
const runBtn = h(
  "button",
  { type: "button", "data-testid": "run", title: "One seeded random interleaving (ptesim run)" },
  "Run",
);
const checkBtn = h(
  "button",
  { type: "button", class: "primary", "data-testid": "check", title: "Every interleaving (ptesim check)" },
  "Check",
);
const stopBtn = h("button", { type: "button", "data-testid": "stop", disabled: true }, "Stop");
const saveBtn = h(
  "button",
  {
    type: "button",
    class: "small",
    title: `Save the editor's text as ${FILE}: the reproduce commands name that file`,
    onclick: () => {
      const a = h("a", {
        href: URL.createObjectURL(new Blob([editor.state.doc.toString()], { type: "text/yaml" })),
        download: FILE,
      });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    },
  },
  `Save ${FILE}`,
);
const progress = h(
  "span",
  { class: "progress", "data-testid": "progress", role: "status", "aria-live": "polite" },
  "",
);
const result = h("div", { class: "result", "data-testid": "result" });

const field = (label: string, el: HTMLElement) => h("label", { class: "field" }, h("span", {}, label), el);

app.append(
  h(
    "header",
    { class: "pg-header" },
    h("h1", {}, "ptesim playground"),
    h(
      "p",
      { class: "muted" },
      "Edit a scenario, then run one seeded interleaving or check every interleaving. The simulator runs here, in your browser, in a Web Worker: the same code as the ptesim command line.",
    ),
  ),
);
const editorHost = h("div", { class: "editor", "data-testid": "editor" });
app.append(
  h(
    "section",
    { class: "pg-top" },
    h(
      "div",
      { class: "pg-editor" },
      h("div", { class: "pg-editor-head" }, field("Example", exampleSel), saveBtn),
      editorHost,
    ),
    h(
      "div",
      { class: "pg-side" },
      h(
        "div",
        { class: "pg-controls" },
        field("Backend", backendSel),
        field("Seed (run)", seedIn),
        field("Exploration", modeSel),
        field("Max seconds", maxSecIn),
      ),
      h("div", { class: "pg-buttons" }, runBtn, checkBtn, stopBtn),
      progress,
      h("h2", { class: "section-title" }, "Scenario errors"),
      errorList,
      h(
        "p",
        { class: "muted small" },
        "Keys: ← → step, Home/End, v: the violating step (when the focus is not in the editor).",
      ),
    ),
  ),
);
app.append(result);

const editor = new EditorView({
  doc: CHECK_DEFAULT,
  parent: editorHost,
  extensions: [
    basicSetup,
    yaml(),
    lintGutter(),
    linter((view) => validate(view), { delay: 250 }),
    EditorView.lineWrapping,
  ],
});
exampleSel.addEventListener("change", () => {
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: EXAMPLES[exampleSel.value] } });
});

// The worker: a fresh one per job, so Stop can simply terminate it.
let worker: Worker | null = null;
let busy = false;
let viewer: ViewerHandle | null = null;

function setBusy(b: boolean): void {
  busy = b;
  runBtn.disabled = checkBtn.disabled = b || state.errors.length > 0;
  stopBtn.disabled = !b;
}

function start(kind: Job["kind"]): void {
  if (busy) return;
  const seed = seedIn.value.trim() === "" ? null : Number(seedIn.value);
  if (seed !== null && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    progress.textContent = "Seed: a whole number 0..4294967295";
    return;
  }
  const job: Job = {
    kind,
    text: editor.state.doc.toString(),
    file: FILE,
    backend: backendSel.value,
    seed,
    mode: modeSel.value as Job["mode"],
    maxSeconds: Math.max(1, Number(maxSecIn.value) || 60),
  };
  worker = new PtesimWorker();
  setBusy(true);
  progress.textContent = kind === "check" ? "Checking…" : "Running…";
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const r = ev.data;
    if (r.type === "progress") {
      progress.textContent = `Checking… ${r.states.toLocaleString("en")} states, ${r.executions.toLocaleString("en")} executions, ${(r.elapsedMs / 1000).toFixed(1)} s`;
      return;
    }
    finish();
    if (r.type === "invalid") {
      showErrors(r.errors);
      progress.textContent = "The scenario has errors.";
    } else if (r.type === "failed") {
      progress.textContent = `Failed: ${r.message}`;
    } else {
      progress.textContent = `Done in ${(r.ms / 1000).toFixed(2)} s.`;
      viewer?.destroy();
      viewer = renderDocument(result, r.doc);
    }
  };
  worker.onerror = (e) => {
    finish();
    progress.textContent = `Failed: ${e.message}`;
  };
  worker.postMessage(job);
}

function finish(): void {
  worker?.terminate();
  worker = null;
  setBusy(false);
}

runBtn.addEventListener("click", () => start("run"));
checkBtn.addEventListener("click", () => start("check"));
stopBtn.addEventListener("click", () => {
  if (!busy) return;
  finish();
  progress.textContent = "Stopped.";
});
setBusy(false);
