// `--html FILE`: one self-contained HTML page (no network, opens from disk) showing a command's
// JSON document in the viewer. The viewer is built by `npm run build:web` (web/, Vite) into
// dist/web/ (report-cx.* for run and check, report.* with the charts); this module only
// inlines them with the document.
import { readFileSync } from "node:fs";
import { PtesimError } from "./errors.js";
import { checkOutputPath, writeFileAtomic } from "./files.js";
import { opt } from "./program.js";
import type { Out } from "./report.js";

/** The kinds of document the viewer shows, by their `schema` field. */
export const REPORT_SCHEMAS = [
  "ptesim.run/1",
  "ptesim.check/1",
  "ptesim.replay/2",
  "ptesim.bench-costs/1",
  "ptesim.bench-costs-arm64/1",
  "ptesim.bugs/1",
] as const;

const WEB_DIR = new URL("../web/", import.meta.url);

function readBuilt(name: string): string {
  try {
    return readFileSync(new URL(name, WEB_DIR), "utf8");
  } catch {
    throw new PtesimError(
      "io",
      `the HTML viewer is not built (${name} missing under dist/web/): run 'npm run build:web' once, then try again`,
    );
  }
}

/** JSON inside <script>: `<` escaped so that no "</script>" or "<!--" in a string ends it. */
function scriptJson(doc: unknown): string {
  return JSON.stringify(doc)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot" }[c]};`);
}

/**
 * The page: the viewer's script and style inlined, the document in a JSON script element, and
 * `related` documents (e.g. `bugs`: each buggy variant's `ptesim.check/1` counterexample, by
 * entry name) in a second one.
 */
export function renderHtmlReport(
  doc: { schema: string; [k: string]: unknown },
  related?: Record<string, { schema: string }>,
): string {
  // Counterexamples need no charting library: a lighter page.
  const bundle = ["ptesim.run/1", "ptesim.check/1", "ptesim.bugs/1"].includes(doc.schema)
    ? "report-cx"
    : "report";
  const js = readBuilt(`${bundle}.js`);
  const css = readBuilt(`${bundle}.css`);
  const title = `ptesim ${doc.schema.replace(/^ptesim\.|\/\d+$/g, "")}${typeof doc.scenario === "string" ? `: ${doc.scenario}` : ""}${typeof doc.backend === "string" ? ` (${doc.backend})` : ""}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ptesim">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
</head>
<body>
<div id="app"><noscript>This report needs JavaScript; the same data is in the JSON below.</noscript></div>
<script type="application/json" id="ptesim-data">${scriptJson(doc)}</script>
${related === undefined ? "" : `<script type="application/json" id="ptesim-related">${scriptJson(related)}</script>\n`}<script>${js.replace(/<\/script/gi, "<\\/script")}</script>
</body>
</html>
`;
}

/** Write the page atomically (a temporary file renamed), so a failure leaves no half page and no temporary file. */
export function writeHtmlReport(
  file: string,
  doc: { schema: string; [k: string]: unknown },
  io?: Out,
  related?: Record<string, { schema: string }>,
): void {
  const html = renderHtmlReport(doc, related);
  writeFileAtomic(file, html);
  io?.err(`report written to ${file} (${html.length} bytes)`);
}

/** A command's JSON document, taken from its own JSON printer (so --html and --json never differ). */
export function jsonOf<T>(print: (o: T, io: Out, json: boolean) => void, o: T): { schema: string } {
  const lines: string[] = [];
  print(o, { out: (s) => lines.push(s), err: () => {} }, true);
  return JSON.parse(lines.join("\n")) as { schema: string };
}

/** The option, for a command's `options` in command-table.ts. */
export const htmlOpt = opt("--html <file>", "also write a self-contained HTML report (opens from disk)", {
  // A directory in the way or a missing folder is refused before the work, not after it.
  parse: (v) => {
    checkOutputPath(v);
    return v;
  },
});

/** `--html FILE` from a command's JSON document builder (run, check). */
export function htmlDocument(file: unknown, doc: () => { schema: string }, io: Out): void {
  if (typeof file === "string") writeHtmlReport(file, doc(), io);
}

/** `--html FILE` for any command with a JSON printer: the one line each command's handler adds. */
export function htmlOption<T>(
  file: unknown,
  print: (o: T, io: Out, json: boolean) => void,
  o: T,
  io: Out,
): void {
  if (typeof file === "string") writeHtmlReport(file, jsonOf(print, o), io);
}
