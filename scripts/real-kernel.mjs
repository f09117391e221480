// The real-kernel half of the benchmark: compiles bench/real-mprotect.c with `cc -O2`, runs it and
// returns what it measured, so the simulator's cost per PTE can be set beside real Linux's in the
// same run. See bench/real-mprotect.c for what is timed and how.
//
//   import { measureRealKernel } from "./real-kernel.mjs";
//   const { bestNsPerPte } = await measureRealKernel({ pages: 262144, reps: 20 });
//
// Run directly it prints a table: node scripts/real-kernel.mjs [--pages N] [--reps R]
import { execFile } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL("../bench/real-mprotect.c", import.meta.url));
const DEFAULT_PAGES = 262144;
const DEFAULT_REPS = 20;

/** @type {Promise<{ binary: string, cc: string }> | undefined} */
let built;
/** Measurements run one at a time: two at once would each slow the other. */
let queue = Promise.resolve();

function describeFailure(what, err) {
  const stderr = typeof err?.stderr === "string" ? err.stderr.trim() : "";
  const how = err?.signal ? `killed by ${err.signal}` : `exit status ${err?.code}`;
  return `${what} failed (${how})${stderr ? `:\n${stderr}` : ""}`;
}

async function build() {
  let cc;
  try {
    const { stdout } = await run("cc", ["--version"]);
    cc = stdout.split("\n")[0].trim();
  } catch (err) {
    if (err?.code === "ENOENT") {
      throw new Error(
        "real-kernel: `cc` was not found on PATH; a C compiler is needed to measure real mprotect",
      );
    }
    throw new Error(describeFailure("real-kernel: `cc --version`", err));
  }
  const dir = mkdtempSync(join(tmpdir(), "ptesim-real-kernel-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, "real-mprotect");
  try {
    await run("cc", ["-O2", "-o", binary, SOURCE]);
  } catch (err) {
    throw new Error(describeFailure(`real-kernel: compiling ${SOURCE} with \`cc -O2\``, err));
  }
  return { binary, cc };
}

function checkCount(name, value) {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`real-kernel: ${name} must be a positive integer, got ${value}`);
  }
}

function field(json, key, stdout) {
  const v = json?.[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`real-kernel: the program's output has no numeric "${key}": ${stdout.trim()}`);
  }
  return v;
}

async function measure(pages, reps) {
  if (!built) {
    built = build();
    built.catch(() => {
      built = undefined; // let a later call retry, e.g. after a compiler is installed
    });
  }
  const { binary, cc } = await built;
  let stdout;
  try {
    ({ stdout } = await run(binary, [String(pages), String(reps)], { maxBuffer: 1 << 20 }));
  } catch (err) {
    throw new Error(describeFailure(`real-kernel: ${binary} ${pages} ${reps}`, err));
  }
  let json;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error(`real-kernel: the program printed something that is not JSON: ${stdout.trim()}`);
  }
  return {
    pages: field(json, "pages", stdout),
    reps: field(json, "reps", stdout),
    bestNsPerPte: field(json, "best_ns_per_pte", stdout),
    medianNsPerPte: field(json, "median_ns_per_pte", stdout),
    maxRssKb: field(json, "maxrss_kb", stdout),
    thpKb: field(json, "thp_kb", stdout),
    cc,
  };
}

/**
 * Times mprotect(PROT_READ) and mprotect(PROT_READ|PROT_WRITE) over `pages` populated 4 KiB
 * anonymous pages, `reps` times each; a cost per PTE is one call's time / pages.
 * @param {{ pages?: number, reps?: number }} [options]
 * @returns {Promise<{ pages: number, reps: number, bestNsPerPte: number, medianNsPerPte: number,
 *   maxRssKb: number, thpKb: number, cc: string }>} `cc` is the first line of `cc --version`.
 */
export async function measureRealKernel({ pages = DEFAULT_PAGES, reps = DEFAULT_REPS } = {}) {
  checkCount("pages", pages);
  checkCount("reps", reps);
  const result = queue.then(() => measure(pages, reps));
  queue = result.catch(() => {});
  return result;
}

function parseCli(argv) {
  const usage = "usage: node scripts/real-kernel.mjs [--pages N] [--reps R]";
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { pages: { type: "string" }, reps: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`real-kernel: ${err.message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const count = (name, text, fallback) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
      console.error(`real-kernel: --${name} must be a positive integer, got "${text}"\n${usage}`);
      process.exit(2);
    }
    return n;
  };
  return {
    pages: count("pages", values.pages, DEFAULT_PAGES),
    reps: count("reps", values.reps, DEFAULT_REPS),
  };
}

async function main() {
  const { pages, reps } = parseCli(process.argv.slice(2));
  let r;
  try {
    r = await measureRealKernel({ pages, reps });
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
  const int = (n) => n.toLocaleString("en-US");
  const size = (bytes) =>
    bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  const rows = [
    ["pages", `${int(r.pages)} (${size(r.pages * 4096)} of 4 KiB pages)`],
    ["reps", `${int(r.reps)} (${int(2 * r.reps)} mprotect calls)`],
    ["best ns/PTE", r.bestNsPerPte.toFixed(2)],
    ["median ns/PTE", r.medianNsPerPte.toFixed(2)],
    ["max RSS", `${int(r.maxRssKb)} kB`],
    ["THP in range", `${int(r.thpKb)} kB`],
    ["compiler", r.cc],
  ];
  console.log("real kernel: mprotect(PROT_READ) / mprotect(PROT_READ|PROT_WRITE)");
  for (const [k, v] of rows) console.log(`  ${k.padEnd(14)} ${v}`);
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
