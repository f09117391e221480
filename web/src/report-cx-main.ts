// Entry of a self-contained report of run or check (no charting library: a lighter page).
import "./style.css";
import { showEmbedded } from "./embedded.js";
import type { CheckDoc, RunDoc } from "./types.js";
import { renderCounterexample } from "./viewer.js";

showEmbedded((app, doc) => renderCounterexample(app, doc as RunDoc | CheckDoc));
