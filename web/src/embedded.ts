// A report page embeds its document in <script type="application/json" id="ptesim-data">.
import type { AnyDoc } from "./types.js";

export function showEmbedded(render: (app: HTMLElement, doc: AnyDoc) => void): void {
  const app = document.getElementById("app")!;
  try {
    const doc = JSON.parse(document.getElementById("ptesim-data")?.textContent ?? "null") as AnyDoc | null;
    if (doc === null) throw new Error("no document embedded");
    render(app, doc);
  } catch (e) {
    app.textContent = `This report could not be shown: ${(e as Error).message}`;
  }
}
