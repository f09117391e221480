// A report page embeds its document in <script type="application/json" id="ptesim-data">, and
// related documents (bugs: each counterexample's check document) in "ptesim-related".
import type { AnyDoc } from "./types.js";

export function showEmbedded(
  render: (app: HTMLElement, doc: AnyDoc, related: Record<string, AnyDoc>) => void,
): void {
  const app = document.getElementById("app")!;
  try {
    const doc = JSON.parse(document.getElementById("ptesim-data")?.textContent ?? "null") as AnyDoc | null;
    if (doc === null) throw new Error("no document embedded");
    const related = JSON.parse(document.getElementById("ptesim-related")?.textContent ?? "{}") as Record<
      string,
      AnyDoc
    >;
    render(app, doc, related);
  } catch (e) {
    app.textContent = `This report could not be shown: ${(e as Error).message}`;
  }
}
