// Input and output hygiene: standard input, broken or full stdout, atomic --out, user modules
// that do not load, seeds at the top of their range, sweeps that run exactly N seeds.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runCommand } from "./commands.js";
import { checkOutputPath, readInput, writeFileAtomic } from "./files.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ptesim-hygiene-"));

function ptesim(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    ...(input === undefined ? {} : { input }),
  });
  assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+\)?\n/, "no stack trace");
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("- reads standard input", () => {
  const suite = readFileSync(join(ROOT, "scenarios/suite/c2p2.yaml"), "utf8");
  it("run - and check - read the scenario from stdin", () => {
    const a = ptesim(["check", "-"], suite);
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /VERIFIED/);
    const b = ptesim(["run", "-", "--backend", "naive", "--json"], suite);
    assert.equal(JSON.parse(b.out).file, "-");
  });
  it("replay - reads the strace log from stdin", () => {
    const log = readFileSync(join(ROOT, "recordings/cc.strace"), "utf8");
    const r = ptesim(["replay", "-", "--backend", "native"], log);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /280 lines/);
  });
  it("errors in stdin are located as <stdin>:line:col", () => {
    const r = ptesim(["run", "-"], "cpus: three\nregions: []\n");
    assert.equal(r.code, 2);
    assert.match(r.err, /<stdin>:1:7: cpus: expected a whole number, got the string "three"/);
  });
  it("standard input larger than the limit is refused, located", () => {
    const r = ptesim(["run", "-", "--json"], "#".repeat((1 << 20) + 10));
    assert.equal(r.code, 2);
    const doc = JSON.parse(r.out);
    assert.deepEqual([doc.file, doc.line, doc.col], ["<stdin>", 1, 1]);
    assert.match(doc.message, /larger than 1048576 bytes/);
  });
  it("readInput stops reading at the limit", () => {
    const f = join(dir, "big.txt");
    writeFileSync(f, "x".repeat(2000));
    assert.equal(readInput(f, 5000), "x".repeat(2000));
    assert.throws(() => readInput(f, 1000), /larger than 1000 bytes/);
    assert.throws(() => readInput(dir, 1000), /is a directory/);
  });
});

describe("output errors end quietly with exit 5", () => {
  it("a full device (> /dev/full): one line on stderr, exit 5", {
    skip: !existsSync("/dev/full") && "no /dev/full",
  }, () => {
    const full = (args: string[]) => {
      const fd = openSync("/dev/full", "w");
      try {
        return spawnSync(process.execPath, [MAIN, ...args], {
          encoding: "utf8",
          stdio: ["ignore", fd, "pipe"],
        });
      } finally {
        closeSync(fd);
      }
    };
    const r = full(["run"]);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stderr, "ptesim: cannot write the results to stdout (ENOSPC)\n");
    const inproc = full(["backends"]);
    assert.equal(inproc.status, 5, "the same for a command run on the main thread");
  });
  it("a closed pipe (ptesim ... | head): nothing on stderr, exit 5", async () => {
    for (const args of [["run"], ["backends"], ["help"]]) {
      const p = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      p.stdout.destroy();
      let err = "";
      p.stderr.on("data", (d) => {
        err += d;
      });
      const code = await new Promise((resolve) => p.on("close", resolve));
      assert.equal(code, 5, `${args}: ${err}`);
      assert.equal(err, "");
    }
  });
});

describe("--out writes atomically and leaves nothing behind", () => {
  it("a directory as the target: exit 2 before any work, no stray file", () => {
    const d = join(dir, "out");
    mkdirSync(join(d, "chart.svg"), { recursive: true });
    const r = ptesim(["bench", "costs", "--out", join(d, "chart.svg")]);
    assert.equal(r.code, 2);
    assert.match(r.err, /chart\.svg: is a directory; an output file was expected/);
    assert.deepEqual(readdirSync(d), ["chart.svg"]);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".tmp-")),
      [],
    );
  });
  it("--html too: a directory or a missing folder is refused before the run, nothing left", () => {
    const d = join(dir, "html");
    mkdirSync(join(d, "r.html"), { recursive: true });
    const r = ptesim(["check", "--html", join(d, "r.html")]);
    assert.equal(r.code, 2);
    assert.match(r.err, /r\.html: is a directory; an output file was expected/);
    assert.doesNotMatch(r.out, /VERIFIED|VIOLATED/, "refused before checking");
    assert.deepEqual(readdirSync(d), ["r.html"]);
    const m = ptesim(["run", "--html", join(d, "no", "r.html")]);
    assert.equal(m.code, 2);
    assert.match(m.err, /r\.html: cannot write \(ENOENT\)/);
  });
  it("a missing folder: exit 2", () => {
    const r = ptesim(["bench", "costs", "--out", join(dir, "no", "such", "x.svg")]);
    assert.equal(r.code, 2);
    assert.match(r.err, /x\.svg: cannot write \(ENOENT\)/);
  });
  it("writeFileAtomic replaces the file whole and leaves no temporary file, also on failure", () => {
    const d = join(dir, "atomic");
    mkdirSync(d);
    const f = join(d, "a.svg");
    writeFileAtomic(f, "one");
    writeFileAtomic(f, "two");
    assert.equal(readFileSync(f, "utf8"), "two");
    assert.deepEqual(readdirSync(d), ["a.svg"]);
    assert.throws(() => writeFileAtomic(d, "x"), /is a directory/);
    assert.throws(() => writeFileAtomic(join(f, "inside.svg"), "x"), /a\.svg is not a directory/);
    assert.throws(() => checkOutputPath(join(d, "none", "x.svg")), /ENOENT/);
    assert.deepEqual(readdirSync(d), ["a.svg"]);
  });
});

describe("backend modules that do not load are located", () => {
  it("a syntax error: file:line:col", () => {
    const f = join(dir, "syntax-backend.mjs");
    writeFileSync(f, 'export default {\n  name: "x",\n  create( {\n};\n');
    const r = ptesim(["run", "--backend", f, "--json"]);
    assert.equal(r.code, 2);
    const doc = JSON.parse(r.out);
    assert.equal(doc.code, "backend");
    assert.deepEqual([doc.file, doc.line, doc.col], [f, 4, 2]);
    assert.match(r.err, /syntax-backend\.mjs:4:2: cannot load backend module: SyntaxError: Unexpected token/);
  });
  it("an exception while the module runs: the line that threw", () => {
    const f = join(dir, "throw-backend.mjs");
    writeFileSync(f, 'export default { name: "x", create() {} };\nnull.boom;\n');
    const r = ptesim(["check", "--backend", f]);
    assert.equal(r.code, 2);
    assert.match(r.err, /throw-backend\.mjs:2:\d+: cannot load backend module: TypeError/);
  });
});

describe("seeds and sweeps", () => {
  it("seeds near 2^32 print as they run, wrapping to 0", () => {
    const r = ptesim(["run", "--seed", "4294967294", "--sweep", "4", "--json"]);
    const doc = JSON.parse(r.out);
    assert.equal(doc.seed, 4294967294);
    assert.equal(doc.sweep.firstSeed, 4294967294);
    const t = ptesim(["run", "--seed", "4294967294", "--sweep", "4"]);
    assert.match(t.out, /seeds 4294967294\.\.1 \(wrapping from 4294967295 to 0\): 0\/4/);
    assert.match(ptesim(["run", "--seed", "4294967295"]).out, /seed 4294967295$/m);
  });
  it("a sweep without failures runs exactly N seeds", async () => {
    const f = join(dir, "counting-backend.mjs");
    const registry = pathToFileURL(join(ROOT, "dist/backends/registry.js")).href;
    writeFileSync(
      f,
      `import { getBackend } from ${JSON.stringify(registry)};
const native = getBackend("native");
export default { ...native, name: "counting", create(ctx) { globalThis.ptesimRuns = (globalThis.ptesimRuns ?? 0) + 1; return native.create(ctx); } };
`,
    );
    const g = globalThis as { ptesimRuns?: number };
    g.ptesimRuns = 0;
    const one = await runCommand({ backend: f });
    const perRun = g.ptesimRuns;
    assert.ok(perRun > 0 && one.result.violations.length === 0);
    g.ptesimRuns = 0;
    const o = await runCommand({ backend: f, sweep: 7 });
    assert.equal(o.sweep?.seeds, 7);
    assert.equal(o.sweep?.failingSeeds, 0);
    assert.equal(g.ptesimRuns, 7 * perRun, "7 runs, not 8");
  });
});
