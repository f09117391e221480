// Entry of the self-contained report: the document is embedded in the page (see src/cli/html-report.ts).
import "./style.css";
import type { AnyDoc } from "./types.js";
import { renderDocument } from "./viewer.js";

const app = document.getElementById("app")!;
const data = document.getElementById("ptesim-data");
try {
  const doc = JSON.parse(data?.textContent ?? "null") as AnyDoc | null;
  if (doc === null) throw new Error("no document embedded");
  renderDocument(app, doc);
} catch (e) {
  app.textContent = `This report could not be shown: ${(e as Error).message}`;
}
