// The distributed check: shard result files merged on the command line, shards on a BullMQ job
// queue served by two `ptesim worker` processes, and the shared store of --workers growing.
// The queue test needs Redis: PTESIM_REDIS_URL (.ci/run starts Debian's redis-server and sets
// it), else a redis-server of its own on a free loopback port if the binary is installed, else
// it skips (and fails under PTESIM_REQUIRE_HOST_TESTS=1, as in CI).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Job, Queue, Worker } from "bullmq";
import { getBackend } from "../backends/registry.js";
import { check } from "../check/explore.js";
import { exploreShard, planShards } from "../check/shards.js";
import { SharedFingerprintStore } from "../check/store.js";
import { loadScenarioText } from "../scenario/load.js";
import { KeyBuffer } from "../sim/key-buffer.js";
import type { Scenario } from "../sim/scenario.js";
import { checkParallel } from "./pool.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "dist/cli/main.js");
const C3P2 = "scenarios/suite/c3p2.yaml";

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", cwd: ROOT, timeout: 120_000 });
const statesOf = (out: string) => Number(/(\d+) states,/.exec(out)?.[1]);
const finalsOf = (out: string) => Number(/(\d+) distinct final states/.exec(out)?.[1]);
const executionsOf = (out: string) => Number(/(\d+) executions/.exec(out)?.[1]);

function scenario(rel: string): Scenario {
  const file = join(ROOT, rel);
  const r = loadScenarioText(readFileSync(file, "utf8"), file);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.scenario;
}

describe("check --shard ... --shard-result and check --merge", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ptesim-merge-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("merging every shard's file gives the single process's verdict, states and final states; a missing one gives INCOMPLETE naming it", () => {
    const args = [C3P2, "--backend", "xen", "--mode", "por"];
    const one = cli("check", ...args, "--workers", "1");
    assert.equal(one.status, 0, one.stderr);
    const sh = cli("check", ...args, "--shards", "6");
    assert.equal(sh.status, 0, sh.stderr);
    const tokens = sh.stdout.trim().split("\n");
    assert.ok(tokens.length >= 2, sh.stdout);
    const files = tokens.map((t, i) => {
      const f = join(dir, `s${i}.json`);
      const r = cli("check", ...args, "--shard", t, "--shard-result", f);
      assert.equal(r.status, 0, r.stderr);
      return f;
    });
    const merged = cli("check", ...args, "--merge", ...files);
    assert.equal(merged.status, 0, merged.stderr);
    assert.match(merged.stdout, /VERIFIED/);
    assert.equal(statesOf(merged.stdout), statesOf(one.stdout));
    assert.equal(finalsOf(merged.stdout), finalsOf(one.stdout));

    const part = cli("check", ...args, "--merge", ...files.slice(1));
    assert.equal(part.status, 4, part.stderr);
    assert.match(part.stdout, /INCOMPLETE: shard results missing/);
    assert.ok(part.stderr.includes(tokens[0]), part.stderr);
  });

  it("a merge refuses files that are not shard results, or from another scenario, naming the file (exit 2)", () => {
    const junk = join(dir, "junk.json");
    writeFileSync(junk, JSON.stringify({ schema: "ptesim.check/1" }));
    const r = cli("check", C3P2, "--backend", "native", "--merge", junk);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /junk\.json: not a shard result/);
    const sh = cli("check", C3P2, "--backend", "native", "--shards", "2");
    const f = join(dir, "n.json");
    assert.equal(
      cli("check", C3P2, "--backend", "native", "--shard", sh.stdout.split("\n")[0], "--shard-result", f)
        .status,
      0,
    );
    const other = cli("check", "scenarios/suite/c2p2.yaml", "--backend", "native", "--merge", f);
    assert.equal(other.status, 2);
    assert.match(other.stderr, /n\.json: shard token: this token was recorded on another scenario/);
    const mixed = cli("check", C3P2, "--merge", f, "--queue", "redis://127.0.0.1:1");
    assert.equal(mixed.status, 2);
    assert.match(mixed.stderr, /--merge and --queue do not go together/);
  });
});

describe("--workers: threads on one shared store", () => {
  it("a store that fills up is replaced by a larger one and the search restarts: same states as one thread", async () => {
    const s = scenario(C3P2);
    const b = getBackend("xen")!;
    const one = check(s, b, { mode: "por", collectFinalStates: true });
    const two = await checkParallel(s, b, "xen", {
      workers: 2,
      mode: "por",
      initialStates: 64,
      collectFinalStates: true,
    });
    assert.equal(two.verdict, "verified");
    assert.equal(two.states, one.states);
    assert.deepEqual([...(two.finalStates ?? [])].sort(), [...(one.finalStates ?? [])].sort());
    const fixed = await checkParallel(s, b, "xen", { workers: 2, mode: "por", maxStates: 64 });
    assert.equal(fixed.verdict, "incomplete");
    assert.equal(fixed.verdict === "incomplete" && fixed.reason, "max-memory");
  });
  it("the shared store keeps sleep sets as their intersection (payload stored complemented)", () => {
    const st = new SharedFingerprintStore(64);
    const a = KeyBuffer.of(1, 2);
    const b = KeyBuffer.of(2, 1);
    assert.equal(st.visit(a, 0b1011), -1);
    assert.equal(st.visit(a, 0b0110), 0b1011);
    assert.equal(st.visit(a, 0), 0b0010);
    assert.equal(st.visit(a, 0x7fffffff), 0);
    assert.equal(st.visit(b, 0x7fffffff), -1);
    assert.equal(st.visit(b, 0x7fffffff), 0x7fffffff);
    // Fingerprints with a zero half (or both: stored as (0, 1)) are found again like any other.
    const fps = [
      [0, 0],
      [0, 5],
      [5, 0],
      [0xffffffff, 0],
      [0x80000000, 0x80000000],
      [7, 9],
    ];
    for (const [hi, lo] of fps) assert.equal(st.visitFp(hi, lo, 3), -1, `${hi}:${lo}`);
    for (const [hi, lo] of fps) assert.equal(st.visitFp(hi, lo, 1), 3, `${hi}:${lo}`);
    assert.equal(st.visitFp(0, 1, 0), 1);
    const stored = st.fingerprints();
    const pairs = new Set<string>();
    for (let i = 0; i < stored.length; i += 2) pairs.add(`${stored[i]}:${stored[i + 1]}`);
    for (const [hi, lo] of fps)
      assert.ok(pairs.has(hi === 0 && lo === 0 ? "0:1" : `${hi}:${lo}`), `${hi}:${lo}`);
    assert.equal(st.size, 2 + fps.length);
  });
});

/** A free loopback port (closed again: redis-server binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
}

const haveRedisServer = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).status === 0;
const required = process.env.PTESIM_REQUIRE_HOST_TESTS === "1";
const canRun = process.env.PTESIM_REDIS_URL !== undefined || haveRedisServer || required;

describe("check --queue with two ptesim worker processes (BullMQ on Redis)", {
  skip: !canRun && "no Redis: set PTESIM_REDIS_URL or install redis-server",
}, () => {
  let url = process.env.PTESIM_REDIS_URL ?? "";
  let redis: ChildProcess | null = null;
  const workers: ChildProcess[] = [];
  const logs: string[] = [];
  // One queue name per run of this file: a Redis shared with anything else is left alone.
  const queueName = `ptesim-test-${process.pid}`;
  before(async () => {
    if (url === "") {
      assert.ok(haveRedisServer, "redis-server is not installed (apt-get install redis-server)");
      const port = await freePort();
      redis = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        {
          stdio: "ignore",
        },
      );
      url = `redis://127.0.0.1:${port}`;
      for (let i = 0; i < 50; i++) {
        if (
          spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() === "PONG"
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (let i = 0; i < 2; i++) {
      const w = spawn(
        process.execPath,
        [
          MAIN,
          "worker",
          "--queue",
          url,
          "--queue-name",
          queueName,
          "--concurrency",
          "1",
          "--idle-exit",
          "60",
        ],
        { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
      );
      logs[i] = "";
      w.stderr?.on("data", (d) => {
        logs[i] += String(d);
      });
      workers.push(w);
    }
  });
  after(async () => {
    for (const w of workers) w.kill("SIGINT");
    await Promise.all(
      workers.map((w) => (w.exitCode !== null ? null : new Promise((r) => w.once("exit", r)))),
    );
    // Leave a shared Redis as it was: this file's queue goes.
    const q = new Queue(queueName, { connection: { url } });
    await q.obliterate({ force: true });
    await q.close();
    redis?.kill("SIGTERM");
  });
  const coordinatorOn = (name: string, ...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [MAIN, "check", ...args, "--queue", url, "--queue-name", name], {
        cwd: ROOT,
      });
      let stdout = "";
      let stderr = "";
      c.stdout.on("data", (d) => {
        stdout += String(d);
      });
      c.stderr.on("data", (d) => {
        stderr += String(d);
      });
      c.on("exit", (status) => resolve({ status, stdout, stderr }));
    });

  it("the workers' merged result equals the single process's verdict, states and final states, with fewer executions than shards with a store each", async () => {
    const args = [C3P2, "--backend", "xen", "--mode", "por"];
    const one = cli("check", ...args, "--workers", "1");
    const q = await coordinator(...args, "--shards", "8");
    assert.equal(q.status, 0, `${q.stderr}\nworkers:\n${logs.join("\n")}`);
    assert.match(q.stdout, /VERIFIED/);
    assert.equal(statesOf(q.stdout), statesOf(one.stdout));
    assert.equal(finalsOf(q.stdout), finalsOf(one.stdout));
    assert.match(q.stderr, /shard\(s\) explored on the queue by [12] worker\(s\)/);
    // The same plan's shards, each on a store of its own (what the workers did before they
    // kept a store per check and shared completed shards' states): the coordinator's count of
    // executions (the plan's plus every shard's) must be below that. Counts, not timings:
    // whichever worker took which shard, each thread reuses its own earlier shards' states.
    const s = scenario(C3P2);
    const b = getBackend("xen")!;
    const plan = planShards(s, b, 8, { mode: "por", storage: "fingerprint" });
    const apart =
      plan.head.executions +
      plan.shards.reduce(
        (a, sh) => a + exploreShard(s, b, sh, { mode: "por", storage: "fingerprint" }).executions,
        0,
      );
    assert.ok(
      executionsOf(q.stdout) < apart,
      `${executionsOf(q.stdout)} executions on the queue, ${apart} with a store per shard`,
    );
  });

  it("a violation found by a worker comes back with a counterexample whose printed command replays it", async () => {
    const q = await coordinator(C3P2, "--backend", "naive", "--mode", "por", "--shards", "8");
    assert.equal(q.status, 1, q.stderr);
    const property = /VIOLATED: (\S+)/.exec(q.stdout)?.[1];
    assert.ok(property, q.stdout);
    const token = /--replay (\S+)/.exec(q.stdout)?.[1];
    assert.ok(token, q.stdout);
    const replay = cli("run", C3P2, "--backend", "naive", "--replay", token);
    assert.equal(replay.status, 1, replay.stderr);
    assert.ok(replay.stdout.includes(property), replay.stdout);
  });

  const coordinator = (...args: string[]) => coordinatorOn(queueName, ...args);

  it("a job started twice (its first worker lost it) makes the coordinator check again sharing only completed shards' states: same verdict and states", async () => {
    // A queue of its own: a stand-in worker (this test) takes one job and gives it back
    // unfinished, as a worker that stalls does; a real worker then runs every job.
    const name = `${queueName}-retry`;
    const args = [C3P2, "--backend", "xen", "--mode", "por"];
    const one = cli("check", ...args, "--workers", "1");
    const pending = coordinatorOn(name, ...args, "--shards", "8");
    const rogue = new Worker(name, null, { connection: { url }, autorun: false });
    let real: ChildProcess | null = null;
    try {
      let job: Job | undefined;
      for (let i = 0; i < 600 && job === undefined; i++) {
        job = await rogue.getNextJob("rogue");
        if (job === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(job, "the coordinator queued no job");
      await job.moveToWait("rogue");
      real = spawn(
        process.execPath,
        [MAIN, "worker", "--queue", url, "--queue-name", name, "--concurrency", "1", "--idle-exit", "60"],
        { cwd: ROOT, stdio: "ignore" },
      );
      const q = await pending;
      assert.equal(q.status, 0, q.stderr);
      assert.match(
        q.stderr,
        /1 shard\(s\) were started twice .*: checked again sharing only completed shards' states/,
      );
      assert.match(q.stdout, /VERIFIED/);
      assert.equal(statesOf(q.stdout), statesOf(one.stdout));
      assert.equal(finalsOf(q.stdout), finalsOf(one.stdout));
    } finally {
      await rogue.close(true);
      if (real !== null) {
        real.kill("SIGINT");
        if (real.exitCode === null) await new Promise((r) => real?.once("exit", r));
      }
      const qq = new Queue(name, { connection: { url } });
      await qq.obliterate({ force: true });
      await qq.close();
    }
  });

  it("an unreachable queue is a clear error (exit 2), not a hang", () => {
    const r = cli("check", C3P2, "--queue", "redis://127.0.0.1:1", "--shards", "2");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot reach the job queue at redis:\/\/127\.0\.0\.1:1/);
    const bad = cli("worker", "--queue", "http://example");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--queue: expected a redis:\/\/ or rediss:\/\/ URL/);
  });
});
