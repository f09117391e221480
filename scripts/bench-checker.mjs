#!/usr/bin/env node
// Checker benchmark: ptesim's checker (reduced mode, in this process) against SPIN, end to end,
// on the suite scenarios/suite/*.yaml, each on the `native` and `naive` backends.
//
//   ptesim  check(scenario, backend, { mode: "reduced" }), timed with performance.now
//   SPIN    generate bench/spin/<scenario>-<backend>.pml (bench/spin/gen-promela.mjs), then
//           spin -a; cc -O2 -DSAFETY -o pan pan.c; ./pan -c1 -m10000 -w20 -n
//           (exhaustive search, partial-order reduction on, stop at the first error; -w20 sizes
//           the hash table for 1M states instead of pan's 128 MB default, collisions are resolved
//           so the search stays exhaustive)
//
// Prints one table and says per row whether the verdicts (and violated properties) agree.
// Options:
//   --json         print the rows as JSON instead of the table
//   --cross-check  also compare the sets of reachable final states (PTE bits, TLBs, written
//                  pages) of both checkers where both verify (untimed extra runs)
//   --keep         keep the temporary directory (printed on stderr)
// Exit status: 0 all verdicts agree, 1 some disagree, 2 spin/cc/dist missing.
// Needs a build: npm run build.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { genPromela } from "../bench/spin/gen-promela.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SUITE_DIR = join(ROOT, "scenarios", "suite");
const PML_DIR = join(ROOT, "bench", "spin");
const BACKENDS = ["native", "naive"];
const PAN_FLAGS = ["-c1", "-m10000", "-w20", "-n"];

const { values: opts } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    "cross-check": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});

// --- tools ------------------------------------------------------------------------------------

function have(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.error === undefined;
}
const missing = [
  ["spin", ["-V"]],
  ["cc", ["--version"]],
]
  .filter(([c, a]) => !have(c, a))
  .map(([c]) => c);
if (missing.length > 0) {
  console.error(`bench-checker: ${missing.join(" and ")} not found on PATH.`);
  console.error("Install SPIN and a C compiler, e.g. on Debian/Ubuntu:");
  console.error("  apt-get update && apt-get install -y spin gcc");
  process.exit(2);
}

let check;
let getBackend;
let loadScenarioText;
try {
  ({ check } = await import("../dist/check/explore.js"));
  ({ getBackend } = await import("../dist/backends/registry.js"));
  ({ loadScenarioText } = await import("../dist/scenario/load.js"));
} catch (e) {
  console.error(`bench-checker: cannot load ptesim from dist/ (${e.message}); run \`npm run build\` first.`);
  process.exit(2);
}

/** Run a command in `cwd`, time it, throw with its output on failure. */
function run(cmd, args, cwd) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  const ms = performance.now() - t;
  if (r.error !== undefined) throw r.error;
  return { ms, status: r.status, out: `${r.stdout}${r.stderr}` };
}
function mustRun(cmd, args, cwd) {
  const r = run(cmd, args, cwd);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}) in ${cwd}:\n${r.out}`);
  return r;
}

// --- the suite --------------------------------------------------------------------------------

function loadSuite() {
  const files = readdirSync(SUITE_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  return files.map((f) => {
    const path = join(SUITE_DIR, f);
    const r = loadScenarioText(readFileSync(path, "utf8"), path);
    if (!r.ok) throw new Error(`${path}: ${JSON.stringify(r.errors)}`);
    const s = r.scenario;
    if (s.regions.length !== 1 || s.syscalls.length !== 1 || s.syscalls[0].call !== "mprotect")
      throw new Error(`${path}: the Promela generator models one region and one mprotect`);
    return { id: basename(f, ".yaml"), scenario: s };
  });
}

function modelSpec(id, s, backend, extra = {}) {
  return { name: id, cpus: s.cpus, pages: s.regions[0].pages, programs: s.programs ?? [], backend, ...extra };
}

// --- ptesim -----------------------------------------------------------------------------------

/** ptesim end to end, as a user runs it: a fresh `ptesim check --json` process, wall time. */
function runPtesim(id, backend) {
  const t = performance.now();
  const p = spawnSync(
    process.execPath,
    [
      join(ROOT, "dist", "cli", "main.js"),
      "check",
      join(SUITE_DIR, `${id}.yaml`),
      "--backend",
      backend,
      "--json",
    ],
    { encoding: "utf8" },
  );
  const ms = performance.now() - t;
  if (p.status !== 0 && p.status !== 1) throw new Error(`ptesim check failed (${p.status}): ${p.stderr}`);
  const r = JSON.parse(p.stdout);
  return {
    verdict: r.verdict,
    property: r.verdict === "violated" ? r.property : null,
    states: r.states,
    executions: r.executions,
    ms,
    checkMs: r.elapsedMs,
  };
}

// --- SPIN -------------------------------------------------------------------------------------

/** Which property a pan assertion text belongs to (the generator's assertions are distinct). */
function propertyOf(panOut) {
  const m = /assertion violated (.*) \(at depth/.exec(panOut);
  if (m !== null) return m[1].includes("written") ? "lost-dirty" : "stale-writable-tlb";
  if (/pan:\d+: invalid end state/.test(panOut)) return "deadlock";
  return "unknown";
}

function parsePan(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m === null ? null : Number(m[1]);
  };
  const errors = num(/errors: (\d+)/);
  if (errors === null) throw new Error(`cannot parse pan output:\n${out}`);
  const truncated = /max search depth too small/.test(out);
  return {
    verdict: errors > 0 ? "violated" : truncated ? "incomplete" : "verified",
    property: errors > 0 ? propertyOf(out) : null,
    states: num(/(\d+) states, stored/),
    transitions: num(/(\d+) transitions/),
    depth: num(/depth reached (\d+)/),
    stateVector: num(/State-vector (\d+) byte/),
  };
}

/** Generate, compile and run one model in `dir`; every phase timed. */
function runSpin(spec, dir, pmlCopy) {
  mkdirSync(dir, { recursive: true });
  const t = performance.now();
  const text = genPromela(spec);
  writeFileSync(join(dir, "model.pml"), text);
  const genMs = performance.now() - t;
  if (pmlCopy !== undefined) writeFileSync(pmlCopy, text);
  const spinA = mustRun("spin", ["-a", "model.pml"], dir);
  const cc = mustRun("cc", ["-O2", "-DSAFETY", "-o", "pan", "pan.c"], dir);
  const pan = run("./pan", PAN_FLAGS, dir);
  return { ...parsePan(pan.out), genMs, spinAMs: spinA.ms, ccMs: cc.ms, runMs: pan.ms, out: pan.out };
}

// --- final-state cross-check ------------------------------------------------------------------

// Both sides abstracted to the model's view: per page the PTE bits P RW A D (1 2 4 8), per user
// CPU and page the TLB entry bits valid rw dirty (1 2 4), and the bitmask of written pages.
const PTE_P = 1 << 0;
const PTE_RW = 1 << 1;
const PTE_A = 1 << 5;
const PTE_D = 1 << 6;
const TLBF_RW = 1;
const TLBF_DIRTY = 8;

function ptesimFinals(s, backend) {
  const r = check(s, getBackend(backend), { mode: "reduced", collectFinalStates: true });
  const C = s.cpus;
  const P = s.regions[0].pages;
  const per = 4 + C; // Simulation.stateKey: pte, data, expected, oracle bits, one TLB entry per CPU
  const out = new Set();
  for (const key of r.finalStates) {
    const v = key.split(",").map(Number);
    const pte = [];
    const tlb = [];
    let written = 0;
    for (let i = 0; i < P; i++) {
      const x = v[i * per];
      pte.push((x & PTE_P) | (x & PTE_RW) | (x & PTE_A ? 4 : 0) | (x & PTE_D ? 8 : 0));
      if (v[i * per + 3] & 1) written |= 1 << i;
    }
    for (let u = 1; u < C; u++)
      for (let i = 0; i < P; i++) {
        const t = v[i * per + 4 + u];
        tlb.push(t === -1 ? 0 : 1 | (t & TLBF_RW ? 2 : 0) | (t & TLBF_DIRTY ? 4 : 0));
      }
    out.add(`${pte.join(" ")} | ${tlb.join(" ")} | ${written}`);
  }
  return out;
}

function spinFinals(spec, dir) {
  const r = runSpin({ ...spec, printFinal: true }, dir);
  const out = new Set();
  for (const line of r.out.split("\n")) if (line.startsWith("FINAL ")) out.add(line.slice(6).trim());
  return out;
}

function compareFinals(a, b) {
  const onlyA = [...a].filter((x) => !b.has(x));
  const onlyB = [...b].filter((x) => !a.has(x));
  return { ptesim: a.size, spin: b.size, equal: onlyA.length === 0 && onlyB.length === 0, onlyA, onlyB };
}

// --- main -------------------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), "ptesim-spin-"));
const rows = [];
try {
  mkdirSync(PML_DIR, { recursive: true });
  for (const { id, scenario } of loadSuite()) {
    for (const backend of BACKENDS) {
      const name = `${id}-${backend}`;
      const p = runPtesim(id, backend);
      const spec = modelSpec(id, scenario, backend);
      const s = runSpin(spec, join(tmp, name), join(PML_DIR, `${name}.pml`));
      const compileMs = s.genMs + s.spinAMs + s.ccMs;
      const totalMs = compileMs + s.runMs;
      const agree = p.verdict === s.verdict && p.property === s.property;
      const row = {
        scenario: id,
        backend,
        ptesim: p,
        spin: {
          verdict: s.verdict,
          property: s.property,
          states: s.states,
          transitions: s.transitions,
          depth: s.depth,
          stateVectorBytes: s.stateVector,
          genMs: s.genMs,
          spinAMs: s.spinAMs,
          ccMs: s.ccMs,
          compileMs,
          runMs: s.runMs,
          totalMs,
        },
        spinOverPtesim: totalMs / p.ms,
        agree,
      };
      if (opts["cross-check"] && p.verdict === "verified" && s.verdict === "verified")
        row.finalStates = compareFinals(
          ptesimFinals(scenario, backend),
          spinFinals(spec, join(tmp, `${name}-final`)),
        );
      rows.push(row);
    }
  }
} finally {
  if (opts.keep) console.error(`bench-checker: kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}

if (opts.json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  const v = (x) => (x.verdict === "violated" ? `violated:${x.property}` : x.verdict);
  const ms = (x) => x.toFixed(0);
  const head = [
    "scenario",
    "backend",
    "ptesim verdict",
    "states",
    "execs",
    "ms",
    "SPIN verdict",
    "states",
    "compile ms",
    "run ms",
    "total ms",
    "SPIN/ptesim",
    "agree",
  ];
  if (opts["cross-check"]) head.push("final states");
  const table = rows.map((r) => {
    const cells = [
      r.scenario,
      r.backend,
      v(r.ptesim),
      String(r.ptesim.states),
      String(r.ptesim.executions),
      ms(r.ptesim.ms),
      v(r.spin),
      String(r.spin.states),
      ms(r.spin.compileMs),
      ms(r.spin.runMs),
      ms(r.spin.totalMs),
      `${r.spinOverPtesim.toFixed(2)}x`,
      r.agree ? "yes" : "NO",
    ];
    if (opts["cross-check"])
      cells.push(
        r.finalStates === undefined
          ? "-"
          : r.finalStates.equal
            ? `${r.finalStates.spin} equal`
            : `DIFFER ${r.finalStates.ptesim}/${r.finalStates.spin}`,
      );
    return cells;
  });
  const width = head.map((h, c) => Math.max(h.length, ...table.map((t) => t[c].length)));
  const left = new Set([0, 1, 2, 6, 12, 13]);
  const fmt = (cells) =>
    cells
      .map((x, c) => (left.has(c) ? x.padEnd(width[c]) : x.padStart(width[c])))
      .join("  ")
      .trimEnd();
  console.log(fmt(head));
  console.log(width.map((w) => "-".repeat(w)).join("  "));
  for (const t of table) console.log(fmt(t));
  console.log(
    `\nptesim: \`ptesim check FILE --backend B --json\` in a fresh process, wall time (node start-up included);` +
      ` states = distinct states at decision points.` +
      `\nSPIN ${spinVersion()}: compile = generate + spin -a + cc -O2 -DSAFETY; run = ./pan ${PAN_FLAGS.join(" ")}` +
      ` (states stored, partial-order reduction on). SPIN/ptesim = SPIN total ms / ptesim ms.`,
  );
  const bad = rows.filter((r) => !r.agree).length;
  console.log(bad === 0 ? "All verdicts agree." : `${bad} row(s) DISAGREE.`);
}
process.exit(rows.every((r) => r.agree && (r.finalStates?.equal ?? true)) ? 0 : 1);

function spinVersion() {
  const m = /Spin Version (\S+)/.exec(spawnSync("spin", ["-V"], { encoding: "utf8" }).stdout ?? "");
  return m === null ? "" : m[1];
}
