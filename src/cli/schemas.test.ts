// The published JSON Schemas (schemas/) are the zod types' (output-schemas.ts), and what the
// commands print with --json validates against them: with a JSON Schema validator (Ajv, draft
// 2020-12) on the committed files, and with the zod types themselves.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { hostIt } from "../fidelity/host.js";
import { jsonSchemaText, OUTPUT_SCHEMAS } from "./output-schemas.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "dist/cli/main.js");
const NAMES = Object.keys(OUTPUT_SCHEMAS) as (keyof typeof OUTPUT_SCHEMAS)[];
const committed = (name: string) => readFileSync(join(ROOT, "schemas", name), "utf8");

const ajv = new Ajv2020({ strict: true, allErrors: true });
const validators = Object.fromEntries(NAMES.map((n) => [n, ajv.compile(JSON.parse(committed(n)))]));

function json(args: string[]): { code: number | null; doc: Record<string, unknown> } {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  const r = spawnSync(process.execPath, [MAIN, ...args, "--json"], { encoding: "utf8", env });
  assert.ok(r.stdout.trim().startsWith("{"), `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return { code: r.status, doc: JSON.parse(r.stdout) as Record<string, unknown> };
}

/** Validate against the committed file (Ajv) and the zod type it was generated from. */
function validates(name: keyof typeof OUTPUT_SCHEMAS, doc: unknown): void {
  const v = validators[name];
  assert.ok(v(doc), `${name}: ${ajv.errorsText(v.errors)}`);
  const z = OUTPUT_SCHEMAS[name].safeParse(doc);
  assert.ok(z.success, `${name}: ${z.success ? "" : z.error.message}`);
}

describe("JSON schemas", () => {
  for (const name of NAMES)
    it(`schemas/${name} is the one generated from the zod type (npm run schemas)`, () => {
      assert.equal(committed(name), jsonSchemaText(name), `schemas/${name} is stale: run npm run schemas`);
    });

  const dir = mkdtempSync(join(tmpdir(), "ptesim-schemas-"));
  const check = join(dir, "check.yaml");
  writeFileSync(
    check,
    `cpus: 3
regions:
  - { name: b, pages: 2, prot: rw, shared: true, populate: read }
syscalls:
  - { call: mprotect, region: b, prot: r }
programs:
  - ["w b:0", "w b:1"]
  - ["w b:1", "w b:0"]
`,
  );
  // A backend module that takes memory without end: the supervisor's bound stops it.
  const hog = join(dir, "hog.mjs");
  writeFileSync(
    hog,
    `import { nativeBackend } from ${JSON.stringify(join(ROOT, "dist/backends/native.js"))};
const hoard = [];
export default { ...nativeBackend, name: "hog", create() { for (;;) hoard.push(new Array(1e6).fill(1.5)); } };
`,
  );
  const cases: [keyof typeof OUTPUT_SCHEMAS, string[], number][] = [
    ["run.schema.json", ["run"], 0],
    ["run.schema.json", ["run", "--backend", "naive", "--sweep", "300"], 1],
    ["run.schema.json", ["run", "--sweep", "3", "--seed", "4294967294"], 0],
    ["check.schema.json", ["check", check], 0],
    ["check.schema.json", ["check", check, "--backend", "naive"], 1],
    ["check.schema.json", ["check", check, "--max-executions", "2"], 4],
    ["replay.schema.json", ["replay", join(ROOT, "recordings/cc.strace"), "--backend", "xen"], 0],
    ["replay.schema.json", ["replay", join(ROOT, "recordings/python.strace"), "--maps"], 0],
    ["shards.schema.json", ["check", check, "--shards", "4"], 0],
    ["bench-costs.schema.json", ["bench", "costs", "--no-kernel"], 0],
    ["demo.schema.json", ["demo", "--seeds", "30"], 0],
    ["backends.schema.json", ["backends"], 0],
    ["bugs.schema.json", ["bugs", "xen-no-preserve-ad"], 0],
    ["error.schema.json", ["run", "--sed", "1"], 2],
    ["error.schema.json", ["frobnicate"], 2],
    ["error.schema.json", ["run", join(dir, "missing.yaml")], 2],
    ["error.schema.json", ["check", "builtin:default"], 2],
    ["error.schema.json", ["check", "--backend", hog, "--max-memory", "64"], 4],
  ];
  for (const [name, args, code] of cases)
    it(`ptesim ${args.map((a) => a.replace(dir, "DIR").replace(ROOT, "")).join(" ")} --json validates against ${name}`, () => {
      const r = json(args);
      assert.equal(r.code, code);
      validates(name, r.doc);
      if (name === "error.schema.json")
        assert.equal(r.doc.exitCode, code, "the document's exitCode is the process's");
      assert.match(String(r.doc.schema), new RegExp(`^ptesim\\.${name.replace(".schema.json", "")}/\\d+$`));
    });

  hostIt(
    "ptesim calibrate --quick --pages 1,8,64 --json validates against calibrate.schema.json",
    ["cc"],
    () => {
      const r = json(["calibrate", "--quick", "--pages", "1,8,64"]);
      assert.equal(r.code, 0);
      validates("calibrate.schema.json", r.doc);
      assert.equal(r.doc.schema, "ptesim.calibrate/1");
    },
  );

  it("a located scenario error carries file, line and col in its JSON", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync(check, "utf8").replace("cpus: 3", "cpus: 3\ncolour: red"));
    const r = json(["run", bad]);
    assert.equal(r.code, 2);
    validates("error.schema.json", r.doc);
    assert.equal(r.doc.code, "scenario");
    assert.equal(r.doc.file, bad);
    assert.equal(r.doc.line, 2);
    assert.equal(r.doc.col, 1);
    assert.ok(Array.isArray(r.doc.errors));
  });
});
