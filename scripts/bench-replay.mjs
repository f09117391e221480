#!/usr/bin/env node
// Replay speed and memory on generated logs (after `npm run build`):
//   node scripts/bench-replay.mjs [--vmas 1000,10000,65000] [--calls 30000]
//        [--processes 0|N] [--parallel 8] [--backend native] [--populate none]
// For each VMA count: a log that grows one process to that many VMAs and then makes --calls
// calls at that size (scripts/gen-strace.mjs vmas); with --processes N, also a build log of N
// processes (gen-strace.mjs build). Each replay runs in a fresh process; printed: calls, seconds,
// calls per second and peak resident memory. The logs are written to a temporary directory and
// removed afterwards. Machines are shared and noisy: compare figures from one run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    vmas: { type: "string", default: "1000,10000,65000" },
    calls: { type: "string", default: "30000" },
    processes: { type: "string", default: "0" },
    parallel: { type: "string", default: "8" },
    backend: { type: "string", default: "native" },
    populate: { type: "string", default: "none" },
  },
});
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const gen = here("./gen-strace.mjs");
const replayModule = here("../dist/cli/replay-command.js");
const dir = mkdtempSync(join(tmpdir(), "ptesim-bench-replay-"));

// The child: replay one file, print {calls, ms, rssMb, divergences, spaces, peakLive}.
const child = `
const { replayCommand } = await import(${JSON.stringify(replayModule)});
const [file, backend, populate] = process.argv.slice(1);
const t0 = performance.now();
const o = await replayCommand({ file, backend, populate, onProgress: () => {} });
const ms = performance.now() - t0;
const b = o.result.backends[0];
const calls = Object.values(b.syscalls).reduce((a, x) => a + x, 0);
console.log(JSON.stringify({ calls, ms, rssMb: process.resourceUsage().maxRSS / 1024, divergences: b.divergenceCount, spaces: o.result.spaceCount, peakLive: o.result.peakLiveSpaces }));
`;

function measure(label, genArgs) {
  const file = join(dir, "log.strace");
  const g = spawnSync(process.execPath, [gen, ...genArgs, "-o", file], { encoding: "utf8" });
  if (g.status !== 0) throw new Error(`gen-strace failed: ${g.stderr}`);
  const r = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", child, file, values.backend, values.populate],
    { encoding: "utf8", maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`replay failed: ${r.stderr}`);
  const m = JSON.parse(r.stdout.trim().split("\n").pop());
  console.log(
    `${label.padEnd(28)} ${String(m.calls).padStart(9)} calls ${(m.ms / 1000).toFixed(1).padStart(7)} s ${String(Math.round((m.calls * 1000) / m.ms)).padStart(7)} calls/s  peak RSS ${Math.round(m.rssMb)} MB  divergences ${m.divergences}${m.spaces > 1 ? `  address spaces ${m.spaces} (at most ${m.peakLive} live)` : ""}`,
  );
  rmSync(file, { force: true });
}

try {
  console.log(`replay on ${values.backend}, populate ${values.populate}:`);
  for (const n of values.vmas.split(",").filter((x) => x !== ""))
    measure(`${Number(n).toLocaleString("en")} VMAs`, ["vmas", "--vmas", n, "--calls", values.calls]);
  if (Number(values.processes) > 0)
    measure(`${Number(values.processes).toLocaleString("en")} processes`, [
      "build",
      "--processes",
      values.processes,
      "--parallel",
      values.parallel,
    ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
