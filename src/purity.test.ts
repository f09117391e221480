// The simulated machine, kernel, backends, hypervisor, checker and scenario code must run in a
// browser unchanged: no node: imports, and no imports of the Node-side folders (cli, fidelity).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL(".", import.meta.url)); // dist/ at run time
const PURE = ["arch", "machine", "kernel", "backends", "xen", "sim", "check", "scenario", "strace", "bugs"];

it("the core has no node: imports and does not reach into cli/ or fidelity/", () => {
  const offenders: string[] = [];
  for (const dir of PURE) {
    let files: string[];
    try {
      files = readdirSync(join(SRC, dir), { recursive: true }).map(String);
    } catch {
      continue;
    }
    for (const f of files) {
      if (!f.endsWith(".js") || f.endsWith(".test.js")) continue;
      const text = readFileSync(join(SRC, dir, f), "utf8");
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g))
        if (m[1].startsWith("node:") || /(^|\/)(cli|fidelity)\//.test(m[1]))
          offenders.push(`${dir}/${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(offenders, []);
  const index = readFileSync(join(SRC, "index.js"), "utf8");
  assert.doesNotMatch(index, /["']node:/);
});
