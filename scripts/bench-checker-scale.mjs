#!/usr/bin/env node
// Checker scale benchmark (issue #15): the configs P x U x W (pages x user CPUs x writes each:
// user CPU j writes pages j, j+1, ... mod P; one shared region, read-populated, made read-only by
// one mprotect, as in scenarios/suite/) on native and xen, in every mode:
//
//   reduced, por        one thread, 64-bit fingerprints, value symmetry (the default)
//   por-nosym           por with --symmetry none (concrete values in the key)
//   reduced-exact       one thread, exact keys (memory per state for comparison)
//   por-w2              por on 2 worker threads sharing the fingerprint store
//   por-queue2          por as 16 shards (--shards N) on a BullMQ job queue served by 2
//                       `ptesim worker` processes, where redis-server is installed (a private
//                       one on a free loopback port): the distributed cost, as executions
//                       against one process's, wall (with the coordinator's start-up), CPU of
//                       every process (coordinator by /usr/bin/time, workers by /proc, Redis by
//                       its INFO) and the Redis commands (round trips) of all clients
//   exhaustive          every path (only where it can finish: 3x2x3)
//
// Each run is a fresh process (node running the library's check, as `ptesim check` does), bounded
// by --max-seconds (default 120): states, seconds (wall, and CPU of all threads), peak RSS.
// With `spin` and `cc` on PATH, SPIN's figures for the same configs on the native model of
// bench/spin/gen-promela.mjs (spin -a; cc -O2 -DSAFETY; pan -c1 -m10000 -w24 -n), end to end.
//
// Also per run: executions, decisions per state and how many of them re-walk a prefix (replayed).
//
//   node scripts/bench-checker-scale.mjs [--only 3x2x3,4x3x3] [--modes por,por-w2] [--max-seconds 120]
//     [--backends native,xen] [--shards 16] [--json]
// Needs a build (npm run build).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { genPromela } from "../bench/spin/gen-promela.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({
  options: {
    only: { type: "string" },
    modes: { type: "string" },
    "max-seconds": { type: "string", default: "120" },
    json: { type: "boolean", default: false },
    shards: { type: "string", default: "16" },
    backends: { type: "string" },
  },
});
const MAX_S = Number(opts["max-seconds"]);
const SHARDS = Number(opts.shards);
const CONFIGS = [
  ["3x2x3", ["native", "xen"]],
  ["4x3x3", ["native", "xen"]],
  ["4x3x4", ["native", "xen"]],
  ["5x4x4", ["native"]],
]
  .filter(([c]) => opts.only === undefined || opts.only.split(",").includes(c))
  .map(([c, bs]) => [
    c,
    bs.filter((b) => opts.backends === undefined || opts.backends.split(",").includes(b)),
  ]);
const MODES = [
  { name: "reduced", mode: "reduced", storage: "fingerprint", workers: 1 },
  { name: "por", mode: "por", storage: "fingerprint", workers: 1 },
  { name: "por-nosym", mode: "por", storage: "fingerprint", workers: 1, symmetry: "none" },
  { name: "reduced-exact", mode: "reduced", storage: "exact", workers: 1 },
  { name: "por-w2", mode: "por", storage: "fingerprint", workers: 2 },
  { name: "por-queue2", mode: "por", storage: "fingerprint", workers: 1, queue: true },
  { name: "exhaustive", mode: "exhaustive", storage: "fingerprint", workers: 1, only: ["3x2x3"] },
].filter((m) => opts.modes === undefined || opts.modes.split(",").includes(m.name));

function programs(P, U, W) {
  return Array.from({ length: U }, (_, j) => Array.from({ length: W }, (_, i) => `w buf:${(j + i) % P}`));
}

function scenarioYaml(cfg) {
  const [P, U, W] = cfg.split("x").map(Number);
  const progs = programs(P, U, W)
    .map((p) => `  - [${p.map((a) => `"${a}"`).join(", ")}]`)
    .join("\n");
  return `name: scale-${cfg}\ncpus: ${U + 1}\nregions:\n  - { name: buf, pages: ${P}, prot: rw, shared: true, populate: read }\nsyscalls:\n  - { call: mprotect, region: buf, prot: r }\nprograms:\n${progs}\n`;
}

// The child: load the scenario, run the check, print one JSON line with its figures.
const CHILD = `
const [file, backend, mode, storage, workers, maxSeconds, symmetry] = process.argv.slice(1);
const { readFileSync } = await import("node:fs");
const root = ${JSON.stringify(ROOT)};
const { check } = await import(root + "/dist/check/explore.js");
const { checkParallel } = await import(root + "/dist/workers/pool.js");
const { getBackend } = await import(root + "/dist/backends/registry.js");
const { loadScenarioText } = await import(root + "/dist/scenario/load.js");
const s = loadScenarioText(readFileSync(file, "utf8"), file).scenario;
const t = performance.now();
const r = Number(workers) > 1
  ? await checkParallel(s, getBackend(backend), backend, { workers: Number(workers), mode, symmetry, maxSeconds: Number(maxSeconds) })
  : check(s, getBackend(backend), { mode, storage, symmetry, maxSeconds: Number(maxSeconds), now: () => performance.now() });
const wallMs = performance.now() - t;
const cpu = process.cpuUsage();
const ru = process.resourceUsage();
console.log(JSON.stringify({ verdict: r.verdict, states: r.states, executions: r.executions, wallMs,
  decisions: r.transitions, replayedDecisions: r.replayedDecisions, replayMs: r.replayMs, checkMs: r.elapsedMs,
  cpuMs: (cpu.user + cpu.system) / 1000, peakRssMb: ru.maxRSS / 1024, storeBytes: r.storeBytes,
  collisionProbability: r.collisionProbability, finals: r.distinctFinalStates }));
`;

function runOne(file, backend, m) {
  const p = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      CHILD,
      file,
      backend,
      m.mode,
      m.storage,
      String(m.workers),
      String(MAX_S),
      m.symmetry ?? "values",
    ],
    { encoding: "utf8", maxBuffer: 16 << 20 },
  );
  if (p.status !== 0) return { error: (p.stderr || p.stdout).split("\n").slice(-5).join(" ") };
  return JSON.parse(p.stdout.trim().split("\n").pop());
}

/** A private redis-server and two `ptesim worker` processes, started on first use. */
let queue = null;
async function startQueue() {
  if (queue !== null) return queue;
  if (!have("redis-server", ["--version"])) {
    queue = { error: "redis-server not installed" };
    return queue;
  }
  const port = 20000 + (process.pid % 20000);
  const redis = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() === "PONG")
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const workers = [0, 1].map(() =>
    spawn(
      process.execPath,
      [join(ROOT, "dist/cli/main.js"), "worker", "--queue", url, "--concurrency", "1", "-q"],
      {
        stdio: "ignore",
      },
    ),
  );
  queue = { url, port, redis, workers };
  // Warm up: the workers load their modules and start their thread before the first measured
  // run (their start-up is not the distributed search's cost).
  const tiny = join(tmp, "warm-up.yaml");
  writeFileSync(tiny, scenarioYaml("2x1x2"));
  spawnSync(
    process.execPath,
    [join(ROOT, "dist/cli/main.js"), "check", tiny, "--queue", url, "--shards", "4", "-q"],
    {
      encoding: "utf8",
    },
  );
  return queue;
}
function stopQueue() {
  if (queue === null || queue.error !== undefined) return;
  for (const w of queue.workers) w.kill("SIGINT");
  queue.redis.kill("SIGTERM");
}

/** utime + stime of a live process and all its threads, in milliseconds (Linux /proc). */
function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}
/** Peak resident set of a live process (VmHWM), in MB. */
function procPeakMb(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** Redis's own counters: commands processed (every client's round trips) and its CPU. */
function redisInfo(port) {
  const out = spawnSync("redis-cli", ["-p", String(port), "info"], { encoding: "utf8" }).stdout ?? "";
  const num = (k) => Number(new RegExp(`^${k}:([\\d.]+)`, "m").exec(out)?.[1] ?? Number.NaN);
  return {
    commands: num("total_commands_processed"),
    cpuMs: (num("used_cpu_user") + num("used_cpu_sys")) * 1000,
  };
}

async function runQueued(file, backend, m) {
  const q = await startQueue();
  if (q.error !== undefined) return { error: q.error };
  const w0 = q.workers.map((w) => procCpuMs(w.pid));
  const r0 = redisInfo(q.port);
  const timeFile = join(tmp, "time.txt");
  const t = performance.now();
  // The coordinator under /usr/bin/time: its CPU (it plans the shards and merges them).
  const p = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "%U %S %M",
      "-o",
      timeFile,
      process.execPath,
      join(ROOT, "dist/cli/main.js"),
      "check",
      file,
      "--backend",
      backend,
      "--mode",
      m.mode,
      "--queue",
      q.url,
      "--shards",
      String(SHARDS),
      "--max-seconds",
      String(MAX_S),
      "--json",
      "-q",
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  const wallMs = performance.now() - t;
  let j;
  try {
    j = JSON.parse(p.stdout);
  } catch {
    return { error: (p.stderr || p.stdout).split("\n").slice(-5).join(" ") };
  }
  const [u, sy, rssKb] = readFileSync(timeFile, "utf8").trim().split("\n").pop().split(" ").map(Number);
  const coordinatorMs = (u + sy) * 1000;
  const workersMs = q.workers.reduce((a, w, i) => a + (procCpuMs(w.pid) - w0[i]), 0);
  const r1 = redisInfo(q.port);
  return {
    verdict: j.verdict,
    states: j.states,
    executions: j.executions,
    wallMs,
    cpuMs: coordinatorMs + workersMs + (r1.cpuMs - r0.cpuMs),
    coordinatorMs,
    workersMs,
    redisCpuMs: r1.cpuMs - r0.cpuMs,
    // (Minus the one INFO that read the counter.)
    redisCommands: r1.commands - r0.commands - 1,
    peakRssMb: Math.max(rssKb / 1024, ...q.workers.map((w) => procPeakMb(w.pid))),
    finals: j.distinctFinalStates,
  };
}

function have(cmd, args) {
  return spawnSync(cmd, args, { encoding: "utf8" }).error === undefined;
}

function runSpin(cfg, dir) {
  const [P, U, W] = cfg.split("x").map(Number);
  const t = performance.now();
  writeFileSync(
    join(dir, "model.pml"),
    genPromela({
      name: `s${cfg.replaceAll("x", "_")}`,
      cpus: U + 1,
      pages: P,
      programs: programs(P, U, W),
      backend: "native",
    }),
  );
  for (const [cmd, args] of [
    ["spin", ["-a", "model.pml"]],
    ["cc", ["-O2", "-DSAFETY", "-o", "pan", "pan.c"]],
  ]) {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) return { error: `${cmd} failed: ${r.stderr}` };
  }
  const pan = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M", "./pan", "-c1", "-m10000", "-w24", "-n"], {
    cwd: dir,
    encoding: "utf8",
    timeout: MAX_S * 1000,
  });
  const out = `${pan.stdout}${pan.stderr}`;
  const num = (re) => {
    const m = re.exec(out);
    return m === null ? null : Number(m[1]);
  };
  return {
    verdict: pan.error !== undefined ? "timeout" : num(/errors: (\d+)/) === 0 ? "verified" : "violated",
    states: num(/(\d+) states, stored/),
    wallMs: performance.now() - t,
    peakRssMb: (num(/MAXRSS (\d+)/) ?? 0) / 1024,
  };
}

const tmp = mkdtempSync(join(tmpdir(), "ptesim-scale-"));
const rows = [];
const spinOk = have("spin", ["-V"]) && have("cc", ["--version"]);
try {
  for (const [cfg, backends] of CONFIGS) {
    const file = join(tmp, `${cfg}.yaml`);
    writeFileSync(file, scenarioYaml(cfg));
    for (const backend of backends)
      for (const m of MODES) {
        if (m.only !== undefined && !m.only.includes(cfg)) continue;
        const r = m.queue ? await runQueued(file, backend, m) : runOne(file, backend, m);
        rows.push({ config: cfg, backend, mode: m.name, ...r });
        if (!opts.json) printRow(rows[rows.length - 1]);
      }
    if (spinOk) {
      const dir = join(tmp, `spin-${cfg}`);
      spawnSync("mkdir", ["-p", dir]);
      const r = runSpin(cfg, dir);
      rows.push({ config: cfg, backend: "native", mode: "SPIN", ...r });
      if (!opts.json) printRow(rows[rows.length - 1]);
    }
  }
} finally {
  stopQueue();
  rmSync(tmp, { recursive: true, force: true });
}
if (!spinOk && !opts.json)
  console.log("  (SPIN not measured: `spin` or `cc` not on PATH; apt-get install -y spin gcc)");
if (opts.json) console.log(JSON.stringify(rows, null, 2));
else {
  // 1 -> 2 workers, within this run.
  for (const [cfg, backends] of CONFIGS)
    for (const b of backends) {
      const one = rows.find((r) => r.config === cfg && r.backend === b && r.mode === "por");
      const two = rows.find((r) => r.config === cfg && r.backend === b && r.mode === "por-w2");
      if (one?.verdict === "verified" && two?.verdict === "verified")
        console.log(
          `  ${cfg} ${b}: por 1 -> 2 workers: wall ${(one.wallMs / two.wallMs).toFixed(2)}x, CPU of all threads ${(two.cpuMs / one.cpuMs).toFixed(2)}x the single thread's, executions ${(two.executions / one.executions).toFixed(2)}x`,
        );
      const qd = rows.find((r) => r.config === cfg && r.backend === b && r.mode === "por-queue2");
      if (one?.verdict === "verified" && qd?.verdict === "verified")
        console.log(
          `  ${cfg} ${b}: por on the queue (2 worker processes, ${SHARDS} shards): executions ${(qd.executions / one.executions).toFixed(2)}x one process's (work repeated across shards), wall time ${(qd.wallMs / one.wallMs).toFixed(2)}x, CPU time of all processes ${(qd.cpuMs / one.cpuMs).toFixed(2)}x (coordinator ${(qd.coordinatorMs / 1000).toFixed(1)} s, workers ${(qd.workersMs / 1000).toFixed(1)} s, redis ${(qd.redisCpuMs / 1000).toFixed(1)} s), ${qd.redisCommands} Redis commands, states ${qd.states === one.states ? "equal" : `${qd.states} vs ${one.states}`}`,
        );
    }
}

/** Executions, and decisions per state (all, and those re-taken to return to a stack node). */
function perState(r) {
  if (r.redisCommands !== undefined)
    return ` ${r.executions} exec, ${r.redisCommands} Redis commands, CPU: coordinator ${(r.coordinatorMs / 1000).toFixed(1)} s, workers ${(r.workersMs / 1000).toFixed(1)} s, redis ${(r.redisCpuMs / 1000).toFixed(1)} s`;
  if (!r.states || r.decisions === undefined) return "";
  const replayed =
    typeof r.replayedDecisions === "number"
      ? `, ${(r.replayedDecisions / r.states).toFixed(1)} replayed`
      : "";
  const share =
    typeof r.replayMs === "number" && r.checkMs > 0
      ? `, ${Math.round((100 * r.replayMs) / r.checkMs)}% of the time restoring and replaying`
      : "";
  return ` ${r.executions} exec, ${(r.decisions / r.states).toFixed(1)} decisions/state${replayed}${share}`;
}

function printRow(r) {
  const c = (s, n) => String(s).padEnd(n);
  if (r.error !== undefined) {
    console.log(`  ${c(r.config, 6)} ${c(r.backend, 7)} ${c(r.mode, 14)} error: ${r.error}`);
    return;
  }
  // (Threads share a table allocated up front: its bytes per state mean nothing.)
  const bps =
    r.storeBytes && r.states && !r.mode.includes("-w")
      ? ` ${c(`${Math.round(r.storeBytes / r.states)} B/state`, 13)}`
      : ` ${c("", 13)}`;
  console.log(
    `  ${c(r.config, 6)} ${c(r.backend, 7)} ${c(r.mode, 14)} ${c(r.verdict, 10)} ${c(`${r.states ?? "?"} states`, 16)} ${c(`${(r.wallMs / 1000).toFixed(1)} s`, 9)}${r.cpuMs === undefined ? c("", 14) : c(` cpu ${(r.cpuMs / 1000).toFixed(1)} s`, 14)} ${r.peakRssMb ? `peak ${r.peakRssMb.toFixed(0)} MB` : "(peak RSS: workers not measured)"}${bps}${perState(r)}`,
  );
}
