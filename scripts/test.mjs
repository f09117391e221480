// Runs every compiled test file under dist/ with node's test runner and a reporter whose
// last line is "N passed, N failed". Extra arguments are passed through as name patterns
// (node --test-name-pattern), e.g. `npm test -- oracle`.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const files = readdirSync(dist, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".test.js"))
  .sort()
  .map((f) => join(dist, f));
if (files.length === 0) {
  console.error("test: no compiled test files under dist/ (did the build run?)");
  process.exit(2);
}
const patterns = process.argv.slice(2).flatMap((p) => ["--test-name-pattern", p]);
const reporter = new URL("./summary-reporter.mjs", import.meta.url).href;
const r = spawnSync(
  process.execPath,
  ["--test", `--test-reporter=${reporter}`, "--test-reporter-destination=stdout", ...patterns, ...files],
  { stdio: "inherit", cwd: root },
);
process.exit(r.status ?? 3);
