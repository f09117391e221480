// The playground: edit a scenario (YAML, checked as you type with the CLI's file:line:col
// errors), pick backend, seed and exploration, then run or check it in a Web Worker running the
// same core as the CLI, and see the result in the report viewer.

import { yaml } from "@codemirror/lang-yaml";
import { type Diagnostic, linter, lintGutter } from "@codemirror/lint";
import { basicSetup, EditorView } from "codemirror";
import exampleModule from "../../examples/my-backend.mjs?raw";
import litmusDirty from "../../scenarios/litmus/plain-rmw-vs-dirty.yaml?raw";
import suiteC3p2 from "../../scenarios/suite/c3p2.yaml?raw";
import suiteC3p4 from "../../scenarios/suite/c3p4.yaml?raw";
import { allBackends, loadScenarioText } from "../../src/index.js";
import type { LocatedError } from "../../src/scenario/load.js";
import { copyButton, h } from "./dom.js";
import type { Job, Reply } from "./protocol.js";
import "./style.css";
import "./playground.css";
import { renderDocument } from "./document.js";
import { decodeState, encodeState } from "./permalink.js";
import type { CheckDoc } from "./types.js";
import type { ViewerHandle } from "./viewer.js";
import PtesimWorker from "./worker.ts?worker&inline";

const FILE = "scenario.yaml";
/** The value of the backend picker that selects the user's module. */
const MODULE = "module:";
/** A user module's operation that sends no sign of life for this long is stopped. */
const USER_CODE_TIMEOUT_MS = 3000;

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
  const text = view.state.doc.toString();
  const arch = archOfText(text);
  if ([...archSel.options].some((o) => o.value === arch && !o.disabled)) archSel.value = arch;
  const r = loadScenarioText(text, FILE);
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
  h("option", { value: MODULE }, "your module (below)"),
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
// The architecture: the scenario's `arch:` key, where this build's scenario format has it (arm64
// runs in the kernel); the picker edits that line, and follows it as the text changes.
const archKnown = (arch: string) => loadScenarioText(`arch: ${arch}\n${CHECK_DEFAULT}`, "probe").ok;
const ARCH_KEY = archKnown("x86-64");
const archSel = h(
  "select",
  { id: "arch", "data-testid": "arch" },
  h("option", { value: "x86-64" }, "x86-64"),
  archKnown("arm64")
    ? h("option", { value: "arm64" }, "arm64")
    : h("option", { value: "arm64", disabled: true }, "arm64 (not run by this build's kernel yet)"),
);
const ARCH_LINE = /^arch:[^\n]*$/m;
function archOfText(text: string): string {
  return /^arch:\s*["']?([\w-]+)/m.exec(text)?.[1] ?? "x86-64";
}
archSel.addEventListener("change", () => {
  if (!ARCH_KEY) return;
  const text = editor.state.doc.toString();
  const line = `arch: ${archSel.value}`;
  const m = ARCH_LINE.exec(text);
  if (m) editor.dispatch({ changes: { from: m.index, to: m.index + m[0].length, insert: line } });
  else {
    // After the leading comment lines.
    const head = /^(?:#[^\n]*\n)*/.exec(text)?.[0].length ?? 0;
    editor.dispatch({ changes: { from: head, insert: `${line}\n` } });
  }
});
const modeSel = h(
  "select",
  { id: "mode" },
  h("option", { value: "reduced" }, "reduced"),
  h("option", { value: "exhaustive" }, "exhaustive"),
);
const replayIn = h("input", {
  id: "replay",
  type: "text",
  placeholder: "none: the seed's",
  spellcheck: false,
  "data-testid": "replay",
  title: "A replay token (from a check or run of this scenario and backend): Run follows it",
});
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
    onclick: () => download(FILE, editor.state.doc.toString(), "text/yaml"),
  },
  `Save ${FILE}`,
);
const progress = h(
  "span",
  { class: "progress", "data-testid": "progress", role: "status", "aria-live": "polite" },
  "",
);
const result = h("div", { class: "result", "data-testid": "result" });

// The user's backend module: the text `ptesim check --backend ./FILE` would load.
const moduleFileIn = h("input", {
  id: "module-file",
  type: "text",
  value: "my-backend.mjs",
  spellcheck: false,
  "aria-label": "Module file name",
  "data-testid": "module-file",
});
const moduleUpload = h("input", {
  type: "file",
  accept: ".mjs,.js,text/javascript",
  class: "visually-hidden",
  id: "module-upload",
  "data-testid": "module-upload",
});
const moduleHost = h("div", { class: "editor module-editor", "data-testid": "module-editor" });
const moduleBox = h(
  "details",
  { class: "pg-module", "data-testid": "module" },
  h(
    "summary",
    {},
    "Your backend module (JavaScript, as ",
    h("code", {}, "--backend ./FILE.mjs"),
    " loads it)",
  ),
  h(
    "p",
    { class: "muted small" },
    "One self-contained ES module exporting { name, create(ctx) } (README: Bring your own backend). It runs in the worker behind the same guard as on the command line: a throw, a bad value or an endless retry loop is reported as the module's mistake, and an operation that stops answering for ",
    `${USER_CODE_TIMEOUT_MS / 1000} s is stopped.`,
  ),
  h(
    "div",
    { class: "pg-editor-head" },
    h("label", { class: "field" }, h("span", {}, "File name"), moduleFileIn),
    h(
      "div",
      { class: "pg-buttons" },
      h("button", { type: "button", class: "small", onclick: () => moduleUpload.click() }, "Open a file…"),
      moduleUpload,
      h(
        "button",
        {
          type: "button",
          class: "small",
          onclick: () => setModuleText(exampleModule),
        },
        "The example",
      ),
      h(
        "button",
        {
          type: "button",
          class: "small",
          title: "Save the module under its file name: the reproduce commands name it",
          onclick: () => download(moduleFile(), moduleEditor.state.doc.toString(), "text/javascript"),
        },
        "Save the module",
      ),
    ),
  ),
  moduleHost,
);

function moduleFile(): string {
  const f = moduleFileIn.value.trim().replace(/^.*[\\/]/, "");
  return /^[\w.@+-]+\.m?js$/.test(f) ? f : "my-backend.mjs";
}

function download(name: string, text: string, type: string): void {
  const a = h("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

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
      moduleBox,
    ),
    h(
      "div",
      { class: "pg-side" },
      h(
        "div",
        { class: "pg-controls" },
        field("Architecture", archSel),
        field("Backend", backendSel),
        field("Seed (run)", seedIn),
        field("Exploration", modeSel),
        field("Max seconds", maxSecIn),
        field("Replay token (run)", replayIn),
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
const moduleEditor = new EditorView({
  doc: exampleModule,
  parent: moduleHost,
  extensions: [basicSetup, EditorView.lineWrapping],
});
function setModuleText(text: string): void {
  moduleEditor.dispatch({ changes: { from: 0, to: moduleEditor.state.doc.length, insert: text } });
}
moduleUpload.addEventListener("change", () => {
  const f = moduleUpload.files?.[0];
  if (f === undefined) return;
  moduleFileIn.value = f.name;
  void f.text().then((t) => {
    setModuleText(t);
    backendSel.value = MODULE;
    moduleBox.open = true;
  });
});
backendSel.addEventListener("change", () => {
  if (backendSel.value === MODULE) moduleBox.open = true;
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
    module:
      backendSel.value === MODULE ? { file: moduleFile(), text: moduleEditor.state.doc.toString() } : null,
    replay: kind === "run" && replayIn.value.trim() !== "" ? replayIn.value.trim() : null,
  };
  worker = new PtesimWorker();
  setBusy(true);
  viewer?.destroy();
  viewer = null;
  result.replaceChildren();
  progress.textContent = kind === "check" ? "Checking…" : "Running…";
  // A user module's code may never return without calling a primitive (the guard's step budget
  // cannot see that): the worker then falls silent, and is ended here.
  let lastSign = performance.now();
  let lastOp = "load";
  if (job.module !== null) {
    const spec = `./${job.module.file}`;
    watchdog = setInterval(() => {
      if (performance.now() - lastSign < USER_CODE_TIMEOUT_MS) return;
      finish();
      showFailure(
        lastOp === "load"
          ? `backend ${spec}: loading the module did not return within ${USER_CODE_TIMEOUT_MS / 1000} s (stopped)`
          : `backend ${spec}: ${lastOp} did not return within ${USER_CODE_TIMEOUT_MS / 1000} s (stopped; ${lastOp} is the operation last reported by the worker)`,
        "module",
      );
    }, 250);
  }
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const r = ev.data;
    lastSign = performance.now();
    if (r.type === "alive") {
      lastOp = r.op;
      return;
    }
    if (r.type === "progress") {
      progress.textContent = `Checking… ${r.states.toLocaleString("en")} states, ${r.executions.toLocaleString("en")} executions, ${(r.elapsedMs / 1000).toFixed(1)} s`;
      return;
    }
    finish();
    if (r.type === "invalid") {
      showErrors(r.errors);
      progress.textContent = "The scenario has errors.";
    } else if (r.type === "failed") {
      showFailure(r.message, r.user);
    } else {
      progress.textContent = `Done in ${(r.ms / 1000).toFixed(2)} s.`;
      viewer?.destroy();
      viewer = renderDocument(result, r.doc);
      const token =
        r.doc.schema === "ptesim.check/1" ? (r.doc as CheckDoc).replay : (job.replay ?? undefined);
      result.prepend(resultLink(job, token ?? null));
    }
  };
  worker.onerror = (e) => {
    finish();
    showFailure(e.message);
  };
  worker.postMessage(job);
}

/** A link that opens the playground on this job, replaying `token` if any. */
function resultLink(job: Job, token: string | null): HTMLElement {
  const href = `${location.href.replace(/#.*$/, "")}${encodeState({
    scenario: job.text,
    backend: job.module === null ? job.backend : MODULE,
    seed: job.seed,
    mode: job.mode,
    replay: token,
    module: job.module,
  })}`;
  return h(
    "p",
    { class: "permalink" },
    h(
      "a",
      { href, "data-testid": "permalink" },
      token === null ? "Link to this scenario" : "Link to this interleaving",
    ),
    token === null
      ? " (opens the playground with this scenario and backend)"
      : " (opens the playground and replays this interleaving)",
    " ",
    copyButton(href, "Copy link"),
  );
}

/** A failure, in the progress line and as an alert in the result area. */
function showFailure(message: string, user?: "module" | "token"): void {
  const who = user === "token" ? "Replay token" : user ? "Your module" : null;
  progress.textContent = who ? `${who}: a problem (below).` : `Failed: ${message}`;
  viewer?.destroy();
  viewer = null;
  result.replaceChildren(
    h(
      "p",
      { class: "error", role: "alert", "data-testid": "failure" },
      h("strong", {}, `${who ?? "Failed"}: `),
      message,
    ),
  );
}

let watchdog: ReturnType<typeof setInterval> | undefined;
function finish(): void {
  if (watchdog !== undefined) clearInterval(watchdog);
  watchdog = undefined;
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

// A link's state (#s=...): the scenario, backend or module, seed, exploration; with a replay
// token, run it at once.
function fromAddress(): void {
  let st: ReturnType<typeof decodeState>;
  try {
    st = decodeState(location.hash);
  } catch (e) {
    showFailure((e as Error).message);
    return;
  }
  if (st === null) return;
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: st.scenario } });
  if ([...backendSel.options].some((o) => o.value === st.backend)) backendSel.value = st.backend;
  seedIn.value = st.seed === null ? "" : String(st.seed);
  if (st.mode === "reduced" || st.mode === "exhaustive") modeSel.value = st.mode;
  replayIn.value = st.replay ?? "";
  if (st.module !== null) {
    moduleFileIn.value = st.module.file;
    setModuleText(st.module.text);
    moduleBox.open = true;
  }
  const r = loadScenarioText(st.scenario, FILE);
  showErrors(r.ok ? [] : r.errors);
  if (st.replay !== null && r.ok) start("run");
}
fromAddress();
window.addEventListener("hashchange", fromAddress);
