// Any CLI document to its view: counterexamples (run, check) and charts (replay, bench costs).

import { renderBugs } from "./bugs.js";
import { renderArm64Costs, renderCosts, renderReplay } from "./charts.js";
import { h } from "./dom.js";
import type { AnyDoc, Arm64CostsDoc, BugsDoc, CheckDoc, CostsDoc, ReplayDoc, RunDoc } from "./types.js";
import { type CounterexampleOptions, noHandle, renderCounterexample, type ViewerHandle } from "./viewer.js";

export function renderDocument(
  root: HTMLElement,
  doc: AnyDoc,
  related: Record<string, AnyDoc> = {},
  opts: CounterexampleOptions = {},
): ViewerHandle {
  root.replaceChildren();
  switch (doc.schema) {
    case "ptesim.bugs/1":
      return renderBugs(root, doc as BugsDoc, related as Record<string, CheckDoc>);
    case "ptesim.bench-costs/1":
      renderCosts(root, doc as CostsDoc);
      return noHandle;
    case "ptesim.bench-costs-arm64/1":
      renderArm64Costs(root, doc as Arm64CostsDoc);
      return noHandle;
    case "ptesim.replay/2":
      renderReplay(root, doc as ReplayDoc);
      return noHandle;
    case "ptesim.run/1":
    case "ptesim.check/1":
      return renderCounterexample(root, doc as RunDoc | CheckDoc, opts);
    default:
      root.append(
        h(
          "p",
          { class: "error", role: "alert" },
          `Unknown document schema "${(doc as { schema: string }).schema}".`,
        ),
      );
      return noHandle;
  }
}
