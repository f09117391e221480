// The calibrated native model against the real kernel over repeated runs (no pass/fail): how far
// apart they are at each size (mprotect both directions, munmap, the three faults), as the
// minimum, median and maximum over runs with the median spread of the kernel's calls, and the
// machine's load average beside each run. Run after a build:
//
//   node scripts/costs-runs.mjs [--runs N] [--costs FILE] [--calibrate]
//
// Each run measures the real kernel again (`ptesim bench costs --json`, the mprotect sweep) and
// sets the cost table beside it: FILE if given, else the defaults. With --calibrate, each run
// first calibrates (`ptesim calibrate --json`) and the table it fits is the one compared in that
// run (in sample), and the first run's table is also compared in every later run (out of sample).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "dist", "cli", "main.js");
let opts;
try {
  opts = parseArgs({
    options: { runs: { type: "string" }, costs: { type: "string" }, calibrate: { type: "boolean" } },
    strict: true,
  }).values;
} catch (e) {
  console.error(`costs-runs: ${e.message}`);
  process.exit(2);
}
const runs = Number(opts.runs ?? 5);
if (!Number.isSafeInteger(runs) || runs < 1 || runs > 100) {
  console.error("costs-runs: --runs takes 1..100");
  process.exit(2);
}

function ptesim(args) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.error(`costs-runs: ptesim ${args.join(" ")} exited ${r.status}\n${r.stderr}`);
    process.exit(1);
  }
  return JSON.parse(r.stdout);
}

const dir = mkdtempSync(join(tmpdir(), "ptesim-costs-runs-"));
/** ratios[label][pages] = [ratio per run]; spreads likewise (the kernel's interquartile range) */
const ratios = {};
const spreads = {};
const add = (label, pages, dir, r, spread = null) => {
  const key = `${label} ${dir}`;
  ratios[key] ??= {};
  ratios[key][pages] ??= [];
  spreads[key] ??= {};
  spreads[key][pages] ??= [];
  if (r !== null) ratios[key][pages].push(r);
  if (spread !== null) spreads[key][pages].push(spread);
};
let first = opts.costs ?? null;
try {
  for (let i = 0; i < runs; i++) {
    const load = loadavg()[0].toFixed(1);
    let line = `run ${i + 1}: load average ${load}`;
    if (opts.calibrate) {
      const out = join(dir, `run${i + 1}.yaml`);
      const c = ptesim(["calibrate", "--json", "--out", out]);
      c.sweep.forEach((s, j) => {
        add("calibrate (in sample)", s.pages, "mprotect ro", c.fit.rows[2 * j].ratio);
        add("calibrate (in sample)", s.pages, "mprotect rw", c.fit.rows[2 * j + 1].ratio);
      });
      line += `, calibrate worst ${(c.fit.maxRelativeError * 100).toFixed(0)}%`;
      if (first === null) first = out;
    }
    if (first !== null || !opts.calibrate) {
      const b = ptesim(["bench", "costs", "--json", ...(first === null ? [] : ["--costs", first])]);
      const label = first === null ? "defaults" : `table ${first === opts.costs ? first : "of run 1"}`;
      for (const r of b.native.rows) add(label, r.pages, `mprotect ${r.direction}`, r.ratio, r.spread);
      for (const r of b.native.ops ?? []) add(label, r.pages, r.op, r.ratio, r.spread);
      line += `, bench costs worst ${b.native.worst === null ? "-" : `${(b.native.worst * 100).toFixed(0)}%`}`;
      if (b.native.sched) line += `, probes ${b.native.sched.policy}`;
      if (b.host && b.host.differs.length > 0) line += `, table's host differs: ${b.host.differs.join("; ")}`;
    }
    console.log(`${line}, load after ${loadavg()[0].toFixed(1)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const q = (v, f) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor(f * s.length))];
};
const fx = (x) => (x === null ? "-" : `${x.toFixed(2)}x`);
for (const [key, bySize] of Object.entries(ratios)) {
  console.log("");
  console.log(
    `model / kernel, ${key}: min / median / max over ${runs} runs; median of the kernel's spread (interquartile range / figure)`,
  );
  let worst = 0;
  for (const [pages, v] of Object.entries(bySize)) {
    const lo = q(v, 0);
    const med = v.length === 0 ? null : q(v, 0.5);
    const hi = q(v, 1);
    if (med !== null) worst = Math.max(worst, Math.abs(med - 1));
    const sp = q(spreads[key]?.[pages] ?? [], 0.5);
    console.log(
      `${pages.padStart(8)}  ${fx(lo).padStart(6)} ${fx(med).padStart(6)} ${fx(hi).padStart(6)}  ${sp === null ? "" : `${(sp * 100).toFixed(0)}%`.padStart(5)}`,
    );
  }
  console.log(`worst |median - 1|: ${(worst * 100).toFixed(0)}%`);
}
