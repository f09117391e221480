// How the CLI behaves toward a terminal and a person: colour, progress, Ctrl-C.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { hostIt } from "../fidelity/host.js";
import { colorEnabled } from "./report.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const ESC = "\u001b[";
const dir = mkdtempSync(join(tmpdir(), "ptesim-term-"));

/** The environment without the caller's colour settings, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.FORCE_COLOR;
  delete e.NO_COLOR;
  return { ...e, ...extra };
}
function ptesim(args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", env: env(extra) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const VIOLATING = ["run", "--backend", "naive", "--sweep", "300"];
/** An strace log long enough for replay's progress (a report every 4096 calls). */
const LONG_LOG = join(dir, "long.strace");
writeFileSync(
  LONG_LOG,
  "1802  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f84581cc000\n1802  munmap(0x7f84581cc000, 8192) = 0\n".repeat(
    5000,
  ),
);

/** A scenario the checker takes minutes over. */
const BIG = join(dir, "big.yaml");
writeFileSync(
  BIG,
  `cpus: 4
regions:
  - { name: b, pages: 4, prot: rw, shared: true, populate: read }
syscalls:
  - { call: mprotect, region: b, prot: r }
  - { call: mprotect, region: b, prot: rw }
programs:
  - ["w b:0", "w b:1", "w b:2", "w b:3", "r b:0"]
  - ["w b:3", "w b:2", "w b:1", "w b:0", "r b:1"]
  - ["w b:1", "w b:3", "w b:0", "w b:2", "r b:2"]
`,
);

describe("colour", () => {
  it("is decided by FORCE_COLOR, then NO_COLOR, then whether the stream is a terminal", () => {
    assert.equal(colorEnabled(true, {}), true);
    assert.equal(colorEnabled(false, {}), false);
    assert.equal(colorEnabled(true, { TERM: "dumb" }), false);
    assert.equal(colorEnabled(true, { NO_COLOR: "1" }), false);
    assert.equal(colorEnabled(true, { NO_COLOR: "" }), true, "an empty NO_COLOR is unset (no-color.org)");
    assert.equal(colorEnabled(false, { FORCE_COLOR: "1" }), true);
    assert.equal(colorEnabled(false, { FORCE_COLOR: "" }), true);
    assert.equal(colorEnabled(true, { FORCE_COLOR: "0" }), false);
    assert.equal(
      colorEnabled(false, { FORCE_COLOR: "1", NO_COLOR: "1" }),
      true,
      "FORCE_COLOR wins, as in Node",
    );
    assert.equal(colorEnabled(false, { CI: "true" }), false, "CI logs stay plain");
  });
  it("piped output is plain; FORCE_COLOR colours it; NO_COLOR keeps it plain", () => {
    const plain = ptesim(VIOLATING);
    assert.equal(plain.code, 1);
    assert.ok(!plain.out.includes(ESC), "no escape codes in a pipe");
    const forced = ptesim(VIOLATING, { FORCE_COLOR: "1" });
    assert.equal(forced.code, 1);
    assert.ok(forced.out.includes(`${ESC}31m`), "the verdict in red");
    assert.ok(!ptesim(VIOLATING, { NO_COLOR: "1" }).out.includes(ESC));
    const err = ptesim(["run", "--sed"], { FORCE_COLOR: "1" });
    assert.ok(err.err.includes(`${ESC}31m`), "errors are coloured on stderr too");
  });
  for (const args of [
    [
      "replay",
      join(fileURLToPath(new URL("../../", import.meta.url)), "recordings/cc.strace"),
      "--backend",
      "native",
    ],
    ["bench", "costs", "--no-kernel", "--pages", "1,8"],
    ["bugs", "xen-no-preserve-ad"],
  ])
    it(`${args[0]}: coloured when forced, plain in a pipe, the same text either way`, () => {
      const plain = ptesim(args);
      assert.equal(plain.code, 0, plain.err);
      assert.ok(!plain.out.includes(ESC));
      const forced = ptesim(args, { FORCE_COLOR: "1" });
      assert.ok(forced.out.includes(`${ESC}1m`), "headings in bold");
      // (bugs prints each check's time, which differs from run to run)
      const untimed = (t: string) => t.replace(/\d+\.\d{3} s/g, "T s");
      assert.equal(
        untimed(forced.out.replaceAll(new RegExp(`${ESC.replace("[", "\\[")}\\d+m`, "g"), "")),
        untimed(plain.out),
      );
    });
  it("--color always / never wins over the stream and the environment; a bad value is refused", () => {
    const always = ptesim([...VIOLATING, "--color", "always"], { NO_COLOR: "1" });
    assert.equal(always.code, 1);
    assert.ok(always.out.includes(`${ESC}31m`), "coloured in a pipe, despite NO_COLOR");
    const never = ptesim([...VIOLATING, "--color=never"], { FORCE_COLOR: "1" });
    assert.equal(never.code, 1);
    assert.ok(!never.out.includes(ESC) && !never.err.includes(ESC), "plain despite FORCE_COLOR");
    const wrong = ptesim(["run", "--color", "sometimes"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.err, /--color is one of auto, always, never; got "sometimes"/);
    const usage = ptesim(["run", "--sed", "--color", "always"]);
    assert.ok(usage.err.includes(`${ESC}31m`), "usage errors follow --color too");
  });
  it("JSON is never coloured", () => {
    const r = ptesim([...VIOLATING, "--json"], { FORCE_COLOR: "1" });
    assert.ok(!r.out.includes(ESC));
    JSON.parse(r.out);
  });
  const hasScript = spawnSync("script", ["--version"]).status === 0;
  it("on a terminal: colour, and a live progress line rewritten in place", {
    skip: hasScript ? false : "needs `script` (util-linux) to give the command a terminal",
  }, () => {
    const cmd = `${process.execPath} ${MAIN} ${VIOLATING.join(" ")}`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", env: env() });
    assert.equal(r.status, 1, r.stdout);
    assert.ok(r.stdout.includes(`${ESC}31m`), "colour on a terminal");
    assert.match(r.stdout, /\r {2}sweep: \d+\/300 seeds/, "live progress line");
    const nc = spawnSync("script", ["-qec", cmd, "/dev/null"], {
      encoding: "utf8",
      env: env({ NO_COLOR: "1" }),
    });
    assert.ok(!nc.stdout.includes(`${ESC}31m`), "NO_COLOR on a terminal");
  });
});

describe("progress on stderr", () => {
  const every = { PTESIM_PROGRESS_INTERVAL_MS: "0" };
  for (const [args, re] of [
    [["run", "--sweep", "200"], /^ {2}sweep: \d+\/200 seeds, 0 failing/m],
    [["demo", "--seeds", "50"], /^ {2}demo: native: \d+\/50 seeds/m],
    [["replay", LONG_LOG, "--backend", "native"], /^ {2}replay: line \d+/m],
    [["bugs", "xen-no-preserve-ad"], /^ {2}bugs: 1\/1 xen-no-preserve-ad \(buggy\): \d+ states/m],
    [["bench", "costs", "--no-kernel", "--pages", "1,8"], /^ {2}bench costs: 1 measured \(native 1 pages\)/m],
  ] as [string[], RegExp][])
    it(`${args[0]}: lines in a log, none with --quiet; stdout unchanged`, () => {
      const r = ptesim(args, every);
      assert.match(r.err, re);
      const q = ptesim([...args, "--quiet"], every);
      assert.equal(q.err, "");
      // (bugs prints each check's time, which differs from run to run)
      const untimed = (t: string) => t.replace(/\d+\.\d{3} s/g, "T s");
      assert.equal(untimed(q.out), untimed(r.out));
    });
  it("a log gets no line before the interval (default 5 s)", () => {
    const r = ptesim(["run", "--sweep", "20"]);
    assert.equal(r.err, "");
  });
});

/**
 * Start a command, wait for its first progress line, send SIGINT, collect what it prints. With
 * `group`, the signal goes to the command's process group, as a terminal's Ctrl-C does (so the
 * programs it runs get it too).
 */
function interrupt(
  args: string[],
  ready: RegExp,
  group = false,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, ...args], {
      env: env({ PTESIM_PROGRESS_INTERVAL_MS: "0" }),
      detached: group,
    });
    let out = "";
    let err = "";
    let sent = false;
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`no progress within 60 s: ${err}`));
    }, 60_000);
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      err += d;
      if (!sent && ready.test(err)) {
        sent = true;
        if (group && p.pid !== undefined) process.kill(-p.pid, "SIGINT");
        else p.kill("SIGINT");
      }
    });
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** A log the replay takes seconds over (400,000 calls). */
function hugeLog(): string {
  const file = join(dir, "huge.strace");
  writeFileSync(
    file,
    "1802  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f84581cc000\n1802  munmap(0x7f84581cc000, 8192) = 0\n".repeat(
      200_000,
    ),
  );
  return file;
}

describe("Ctrl-C (SIGINT) stops cleanly and reports what was done", () => {
  it("run --sweep: the seeds done so far, exit 130", async () => {
    const r = await interrupt(["run", "--sweep", "10000000"], /sweep: \d+\/10000000/);
    assert.equal(r.code, 130, r.err);
    const m =
      /seeds 1\.\.(\d+): 0\/(\d+) violate a property \[native\] \(interrupted after (\d+) of 10000000 seeds\)/.exec(
        r.out,
      );
    assert.ok(m, r.out);
    assert.equal(Number(m[1]), Number(m[2]));
    assert.equal(m[2], m[3]);
    assert.match(r.out, /OK so far/);
  });
  it("run --sweep --json: a valid document saying interrupted", async () => {
    const r = await interrupt(["run", "--sweep", "10000000", "--json"], /sweep: \d+/);
    assert.equal(r.code, 130);
    const doc = JSON.parse(r.out);
    assert.equal(doc.sweep.interrupted, true);
    assert.ok(doc.sweep.seeds > 0 && doc.sweep.seeds < 10000000);
  });
  it("check: INCOMPLETE with the figures so far", async () => {
    const r = await interrupt(["check", BIG, "--mode", "exhaustive"], /check: \d+ states/);
    assert.equal(r.code, 130, r.err);
    assert.match(r.out, /^ {2}\d+ states, \d+ executions/m);
    assert.match(r.out, /INCOMPLETE: interrupted \(Ctrl-C\)/);
  });
  it("check --workers 2: the threads stop; INCOMPLETE with the shared store's states", async () => {
    const r = await interrupt(["check", BIG, "--workers", "2", "--json"], /check: [1-9]\d* states/);
    assert.equal(r.code, 130, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.verdict, "incomplete");
    assert.equal(doc.reason, "interrupted");
    assert.ok(doc.states > 0);
  });
  it("replay: the table of the log read so far, exit 130", async () => {
    const r = await interrupt(["replay", hugeLog(), "--backend", "native"], /replay: line \d+/);
    assert.equal(r.code, 130, r.err);
    const m = /interrupted \(Ctrl-C\) after line (\d+): the figures below cover the log up to there/.exec(
      r.out,
    );
    assert.ok(m, r.out);
    const calls = /^native +(\d+) /m.exec(r.out);
    assert.ok(calls, r.out);
    assert.equal(calls[1], m[1], "one call a line, each replayed");
    assert.ok(Number(m[1]) < 400_000);
  });
  it("replay --json: a valid document with the line it stopped at", async () => {
    const r = await interrupt(["replay", hugeLog(), "--backend", "native", "--json"], /replay: line \d+/);
    assert.equal(r.code, 130, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.schema, "ptesim.replay/2");
    assert.equal(doc.interrupted.line, doc.lines);
    assert.equal(doc.backends[0].syscalls.mmap + doc.backends[0].syscalls.munmap, doc.lines);
  });
  it("bench costs: the rows measured so far, the rest '-', no chart written", async () => {
    const svg = join(dir, "partial.svg");
    const r = await interrupt(["bench", "costs", "--no-kernel", "--out", svg], /bench costs: 1 measured/);
    assert.equal(r.code, 130, r.err);
    assert.match(r.out, /^ {7}1 +\d+ +- +- +-$/m, "the first measurement, the others not made");
    assert.match(r.out, /interrupted \(Ctrl-C\) after \d+ measurements?: the table shows those/);
    assert.match(r.out, /chart not written \(interrupted\)/);
    assert.equal(existsSync(svg), false);
  });
  it("bugs: the entries finished, the rest counted as not checked", async () => {
    const r = await interrupt(["bugs", "--json"], /bugs: 1\/\d+ /);
    assert.equal(r.code, 130, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.interrupted, true);
    const s = doc.summary;
    assert.ok(s.unchecked > 0);
    assert.equal(s.behave + s.misbehave + s.unchecked, s.runnable);
    assert.equal(
      doc.bugs.filter((b: { status: string }) => b.status !== "not-modelled").length,
      s.behave + s.misbehave,
    );
  });
  hostIt(
    "calibrate (Ctrl-C on a terminal reaches the probe too): no table written, exit 130",
    ["cc"],
    async () => {
      const out = join(dir, "stopped.yaml");
      const r = await interrupt(
        ["calibrate", "--quick", "--pages", "1,8,64", "--out", out],
        /calibrate: measuring/,
        true,
      );
      assert.equal(r.code, 130, r.err);
      // Either the probe got the signal and calibrate stopped, or (a signal sent the instant
      // before cc or the probe started) the supervisor ended it after its grace period.
      assert.match(
        r.err,
        /calibrate interrupted \(Ctrl-C\) before it finished; .*stopped\.yaml not written|interrupted \(the command did not stop within 3 s\)/,
      );
      assert.equal(existsSync(out), false);
    },
  );
  const built = existsSync(fileURLToPath(new URL("../web/index.html", import.meta.url)));
  it("view --json: the address as a document; Ctrl-C stops the server at once, exit 130", {
    skip: built ? false : "needs the playground built (npm run build:web)",
  }, async () => {
    const p = spawn(process.execPath, [MAIN, "view", "--port", "0", "--json"], { env: env() });
    let out = "";
    let err = "";
    p.stderr.on("data", (d) => {
      err += d;
    });
    const doc = await new Promise<{ schema: string; url: string }>((resolve, reject) => {
      p.stdout.on("data", (d) => {
        out += d;
        try {
          resolve(JSON.parse(out));
        } catch {}
      });
      p.on("close", () => reject(new Error(`view ended: ${out}${err}`)));
    });
    assert.equal(doc.schema, "ptesim.view/1");
    const page = await fetch(doc.url);
    assert.equal(page.status, 200);
    const code = await new Promise<number | null>((resolve) => {
      p.on("close", resolve);
      p.kill("SIGINT");
    });
    assert.equal(code, 130);
    assert.doesNotMatch(err, /did not stop/);
  });
});
