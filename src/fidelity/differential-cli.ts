// Hand-run entry point of the differential test:
//   node dist/fidelity/differential-cli.js [--seeds N] [--calls M] [--from S] [--window P]
//                                          [--per-process K] [--all]
// Exit status 0 when the model matched Linux on every call, 1 on a divergence, 2 on bad usage.
import { formatDivergence, runDifferential } from "./differential.js";

function usage(msg: string): never {
  process.stderr.write(
    `${msg}\nusage: differential-cli [--seeds N] [--calls M] [--from S] [--window PAGES] [--per-process K] [--all]\n`,
  );
  process.exit(2);
}

const opts = { seeds: 1000, calls: 60, from: 1, windowPages: 512, perProcess: 50, stopAtFirst: true };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--all") {
    opts.stopAtFirst = false;
    continue;
  }
  const v = Number(args[++i]);
  if (!Number.isInteger(v) || v < 0) usage(`bad value for ${a}: ${args[i]}`);
  if (a === "--seeds") opts.seeds = v;
  else if (a === "--calls") opts.calls = v;
  else if (a === "--from") opts.from = v;
  else if (a === "--window") opts.windowPages = v;
  else if (a === "--per-process") opts.perProcess = Math.max(1, v);
  else usage(`unknown option ${a}`);
}

const r = runDifferential({
  ...opts,
  onProgress: (done) => {
    if (process.stderr.isTTY) process.stderr.write(`\r${done}/${opts.seeds} sequences`);
  },
});
if (process.stderr.isTTY) process.stderr.write("\n");
for (const d of r.divergences) process.stdout.write(`${formatDivergence(d)}\n\n`);
const outcomes = Object.entries(r.outcomes)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([k, n]) => `${k}: ${n}`)
  .join(", ");
process.stdout.write(
  `${r.sequences} sequences, ${r.calls} calls, ${r.divergences.length} divergence(s), ${(r.ms / 1000).toFixed(1)} s\n${outcomes}\n`,
);
process.exit(r.divergences.length === 0 ? 0 : 1);
