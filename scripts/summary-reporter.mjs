// node:test reporter: one line per file, full details for each failure, and a last line
// "N passed, N failed, N skipped" (the plain closing line our CI reads). Skipped tests get a
// line each with the reason.
import { relative } from "node:path";
import { inspect } from "node:util";

export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  for await (const event of source) {
    const d = event.data;
    switch (event.type) {
      case "test:pass":
        if (d.details?.type === "suite") break;
        if (d.skip || d.todo) {
          skipped++;
          // One line each, with the reason (e.g. what the host lacks).
          yield `- skipped: ${d.name}${typeof d.skip === "string" ? `: ${d.skip}` : ""}\n`;
        } else passed++;
        break;
      case "test:fail": {
        if (d.details?.type === "suite" && d.details?.error?.failureType === "subtestsFailed") break;
        failed++;
        const where = d.file ? `${relative(process.cwd(), d.file)}:${d.line ?? "?"}` : "";
        const err = d.details?.error;
        const cause = err?.cause ?? err;
        failures.push(`FAIL ${d.name}  (${where})\n${inspect(cause, { depth: 4 })}\n`);
        yield `✗ ${d.name}\n`;
        break;
      }
      case "test:diagnostic":
        if (/^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(d.message)) break;
        yield `# ${d.message}\n`;
        break;
      case "test:stderr":
      case "test:stdout":
        yield d.message;
        break;
      default:
        break;
    }
  }
  if (failures.length > 0) yield `\n${failures.join("\n")}\n`;
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
