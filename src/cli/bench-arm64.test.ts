// `ptesim bench costs --arch arm64` from the command line: x86's manners (--costs overrides the
// weights, --json with its schema, --out chart, --html page) and its errors (exit 2, located).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ARM64_COSTS } from "../arch/arm64/costs.js";
import { Arm64CostsJson } from "./output-schemas.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ptesim-bench-arm64-"));

function ptesim(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  return { code: r.status, out: r.stdout, err: r.stderr };
}

type Doc = ReturnType<typeof Arm64CostsJson.parse>;
const arm64At = (j: Doc, pages: number) => j.rows.find((r) => r.backend === "arm64" && r.pages === pages)!;

describe("bench costs --arch arm64", () => {
  it("--json: the schema's document, weights with sources, counts from the ledger (TLBI and DSB)", () => {
    const r = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1,512", "--json");
    assert.equal(r.code, 0, r.err);
    const j = Arm64CostsJson.parse(JSON.parse(r.out));
    assert.equal(j.costsFile, null);
    assert.deepEqual(j.pages, [1, 512]);
    assert.ok(j.backends.includes("arm64-contpte"));
    assert.deepEqual(j.weights.dsb_ish, ARM64_COSTS.dsb_ish);
    // One page: flush_tlb_range's DSB ISHST, one TLBI by VA, DSB ISH; 512 pages: one by ASID.
    const one = arm64At(j, 1).counts;
    assert.deepEqual([one.dsb_ishst, one.tlbi_va, one.dsb_ish], [1, 1, 1]);
    assert.equal(arm64At(j, 512).counts.tlbi_asid, 1);
  });

  it("--costs overrides the weights it names, says which it ignores, and changes the cycles", () => {
    const t = join(dir, "arm64.yaml");
    writeFileSync(t, "costs:\n  dsb_ish: 5000\n  syscall: 441\n");
    const a = Arm64CostsJson.parse(
      JSON.parse(ptesim("bench", "costs", "--arch", "arm64", "--pages", "1", "--json").out),
    );
    const r = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1", "--json", "--costs", t);
    assert.equal(r.code, 0, r.err);
    const b = Arm64CostsJson.parse(JSON.parse(r.out));
    assert.equal(b.costsFile, t);
    assert.deepEqual(b.ignored, ["syscall"]);
    assert.equal(b.weights.dsb_ish.cycles, 5000);
    assert.match(b.weights.dsb_ish.source, /arm64\.yaml/);
    const dsb = arm64At(a, 1).counts.dsb_ish ?? 0;
    assert.equal(arm64At(b, 1).cycles - arm64At(a, 1).cycles, dsb * (5000 - ARM64_COSTS.dsb_ish.cycles));
    const text = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1", "--costs", t);
    assert.match(text.out, /weights: ARM64_COSTS with 1 from .*arm64\.yaml/);
    assert.match(text.out, /not charged on arm64 \(ignored\): syscall/);
  });

  it("--out writes the chart, --html the page with the --json document", () => {
    const svg = join(dir, "arm64.svg");
    const html = join(dir, "arm64.html");
    const r = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1,64", "--out", svg, "--html", html);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /chart written to/);
    const s = readFileSync(svg, "utf8");
    assert.match(s, /^<\?xml/);
    assert.match(s, /arm64-contpte/);
    const m = /<script type="application\/json" id="ptesim-data">(.*?)<\/script>/s.exec(
      readFileSync(html, "utf8"),
    );
    assert.ok(m);
    const doc = Arm64CostsJson.parse(JSON.parse(m[1]));
    assert.deepEqual(doc.pages, [1, 64]);
  });

  it("bad input: exit 2 with the reason", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "costs:\n  dsb_ish: -1\n");
    const r = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1", "--costs", bad);
    assert.equal(r.code, 2);
    assert.ok(r.err.includes(`${bad}:2:12: costs.dsb_ish:`), r.err);
    const out = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1", "--out", join(dir, "x.png"));
    assert.equal(out.code, 2);
    assert.match(out.err, /--out names an \.svg file/);
  });
});
