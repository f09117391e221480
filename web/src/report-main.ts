// Entry of a self-contained report of replay or bench costs (with Chart.js); see src/cli/html-report.ts.
import "./style.css";
import { renderDocument } from "./document.js";
import { showEmbedded } from "./embedded.js";
import { stepPermalink } from "./viewer.js";

showEmbedded((app, doc, related) => renderDocument(app, doc, related, stepPermalink()));
