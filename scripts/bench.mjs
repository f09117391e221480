// `npm run bench`: the benchmarks, each printing figures (no pass/fail). Run after a build.
//   1. mprotect of 1 GiB (262,144 present PTEs, read-only and back, native backend, user CPUs
//      idle): the simulator's cost per PTE and peak memory, beside the real Linux kernel's cost
//      per PTE measured in the same run by a small C program (bench/real-mprotect.c), and the ratio.
//   2. The checker against SPIN on the suite scenarios/suite/*.yaml (skipped, with the install
//      command, when `spin` is not installed).
//   3. The cost model: cycles per PTE on every backend, and the native model beside the real
//      kernel measured in the same run (`ptesim bench costs`).
// Options: --pages N --reps R (section 1), --only mprotect|checker|costs.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measureRealKernel } from "./real-kernel.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let opts;
try {
  opts = parseArgs({
    options: { pages: { type: "string" }, reps: { type: "string" }, only: { type: "string" } },
    strict: true,
  }).values;
} catch (e) {
  console.error(`bench: ${e.message}`);
  process.exit(2);
}
const pages = Number(opts.pages ?? 262144);
const reps = Number(opts.reps ?? 20);
if (!Number.isSafeInteger(pages) || pages < 1 || pages > 1 << 20 || !Number.isSafeInteger(reps) || reps < 1) {
  console.error("bench: --pages takes 1..1048576 and --reps a positive integer");
  process.exit(2);
}
const only = opts.only;
if (only !== undefined && !["mprotect", "checker", "costs"].includes(only)) {
  console.error(`bench: --only is mprotect, checker or costs, got "${only}"`);
  process.exit(2);
}

function node(args) {
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(" ")} exited with ${r.status}`);
  return r.stdout;
}

if (only === undefined || only === "mprotect") {
  console.log(
    `== mprotect of ${pages} populated 4 KiB pages, read-only and back, ${reps} reps (best / median per PTE)`,
  );
  // Interleave the two measurements so machine noise hits both alike.
  const sim = [];
  const real = [];
  for (let round = 0; round < 3; round++) {
    sim.push(
      JSON.parse(node(["scripts/bench-sim-mprotect.mjs", "--pages", String(pages), "--reps", String(reps)])),
    );
    real.push(await measureRealKernel({ pages, reps }));
  }
  const best = (xs, k) => Math.min(...xs.map((x) => x[k]));
  const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const sBest = best(sim, "bestNsPerPte");
  const sMed = med(sim, "medianNsPerPte");
  const rBest = best(real, "bestNsPerPte");
  const rMed = med(real, "medianNsPerPte");
  const rss = Math.max(...sim.map((s) => s.maxRssKb));
  console.log(
    `  simulator (native backend): ${sBest.toFixed(1)} / ${sMed.toFixed(1)} ns per PTE, peak RSS ${(rss / 1024).toFixed(0)} MB (simulated memory ${(sim[0].simBytes / 1048576).toFixed(1)} MB)`,
  );
  console.log(
    `  real Linux kernel (${real[0].cc}): ${rBest.toFixed(1)} / ${rMed.toFixed(1)} ns per PTE, THP in range ${real[0].thpKb} kB`,
  );
  console.log(
    `  simulator / kernel: ${(sBest / rBest).toFixed(2)}x best, ${(sMed / rMed).toFixed(2)}x median (target: <= 0.5x, < 100 MB)`,
  );
}

if (only === undefined || only === "checker") {
  console.log("\n== checker: ptesim check vs SPIN on scenarios/suite (end to end, wall time)");
  const have = spawnSync("spin", ["-V"], { encoding: "utf8" });
  if (have.error !== undefined) console.log("  skipped: SPIN is not installed (apt-get install -y spin)");
  else process.stdout.write(node(["scripts/bench-checker.mjs"]));
  console.log(
    "\n== checker scale (issue #15): configs pages x user CPUs x writes, every mode, fresh processes",
  );
  process.stdout.write(node(["scripts/bench-checker-scale.mjs"]));
}

if (only === undefined || only === "costs") {
  console.log(
    "\n== cost model: cycles per PTE by backend (default cost table, src/sim/costs.ts), native vs real kernel",
  );
  process.stdout.write(node(["dist/cli/main.js", "bench", "costs"]));
}
