// Entry of a self-contained report of run, check or bugs (no charting library: a lighter page).
import "./style.css";
import { renderBugs } from "./bugs.js";
import { showEmbedded } from "./embedded.js";
import type { BugsDoc, CheckDoc, RunDoc } from "./types.js";
import { renderCounterexample, stepPermalink } from "./viewer.js";

showEmbedded((app, doc, related) => {
  if (doc.schema === "ptesim.bugs/1") renderBugs(app, doc as BugsDoc, related as Record<string, CheckDoc>);
  else renderCounterexample(app, doc as RunDoc | CheckDoc, stepPermalink());
});
