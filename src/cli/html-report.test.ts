// --html: one self-contained page per command (no network), written atomically; ptesim view.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { renderHtmlReport } from "./html-report.js";
import { startView } from "./view-command.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "dist/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "ptesim-html-"));

function ptesim(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The embedded document of a report page. */
function embedded(html: string): { schema: string; [k: string]: unknown } {
  const m = /<script type="application\/json" id="ptesim-data">(.*?)<\/script>/s.exec(html);
  assert.ok(m, "the page embeds its document");
  return JSON.parse(m[1]);
}

describe("--html reports", () => {
  before(() => {
    if (!existsSync(join(ROOT, "dist/web/report-cx.js"))) {
      const b = spawnSync(process.execPath, [join(ROOT, "web/build.mjs"), "--quiet"], {
        encoding: "utf8",
        cwd: ROOT,
      });
      assert.equal(b.status, 0, b.stderr);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("check --html embeds exactly the --json document, and loads nothing from the network", () => {
    const file = join(dir, "check.html");
    const r = ptesim("check", "--backend", "naive", "--json", "--html", file);
    assert.equal(r.code, 1);
    const html = readFileSync(file, "utf8");
    const doc = embedded(html);
    const json = JSON.parse(r.out);
    delete json.elapsedMs;
    delete doc.elapsedMs;
    assert.deepEqual(doc, json);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|url\(\s*["']?https?:/i);
    assert.match(r.err, /report written to .*check\.html \(\d+ bytes\)/);
  });

  it("a document cannot end its script element early", () => {
    const html = renderHtmlReport({ schema: "ptesim.run/1", scenario: "</script><script>alert(1)</script>" });
    assert.equal(html.split("</script>").length - 1, 2, "only the page's own two script elements close");
    assert.equal(embedded(html).scenario, "</script><script>alert(1)</script>");
  });

  it("run, replay and bench costs take --html too", () => {
    const run = join(dir, "run.html");
    assert.equal(ptesim("run", "--backend", "native", "--html", run).code, 0);
    assert.equal(embedded(readFileSync(run, "utf8")).schema, "ptesim.run/1");
    const replay = join(dir, "replay.html");
    assert.equal(
      ptesim("replay", join(ROOT, "recordings/cc.strace"), "--backend", "xen", "--html", replay).code,
      0,
    );
    assert.equal(embedded(readFileSync(replay, "utf8")).schema, "ptesim.replay/2");
  });

  it("bugs --html embeds the --json document and, per buggy variant found, the check document of its counterexample", () => {
    const file = join(dir, "bugs.html");
    const r = ptesim("bugs", "xen-no-preserve-ad", "xen-lazy-batch-after-unlock", "--json", "--html", file);
    assert.equal(r.code, 0, r.err);
    const html = readFileSync(file, "utf8");
    const doc = JSON.parse(r.out) as {
      bugs: { name: string; buggy: { scenario: string; backend: string; reproduce: string } }[];
    };
    assert.deepEqual(embedded(html), doc);
    const m = /<script type="application\/json" id="ptesim-related">(.*?)<\/script>/s.exec(html);
    assert.ok(m, "the counterexamples are embedded");
    const related = JSON.parse(m[1]) as Record<
      string,
      { schema: string; timeline: unknown[]; reproduce: string }
    >;
    assert.deepEqual(Object.keys(related).sort(), ["xen-lazy-batch-after-unlock", "xen-no-preserve-ad"]);
    for (const b of doc.bugs) {
      const cx = related[b.name];
      // The same document `ptesim check` prints for that variant in one thread (as `bugs`
      // checks), bar the time taken.
      const own = JSON.parse(
        ptesim("check", b.buggy.scenario, "--backend", b.buggy.backend, "--workers", "1", "--json").out,
      ) as {
        elapsedMs: number;
      };
      assert.deepEqual({ ...cx, elapsedMs: 0 }, { ...own, elapsedMs: 0 });
      assert.equal(cx.reproduce, b.buggy.reproduce);
    }
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/i);
  });

  it("an unwritable --html path is the user's error (exit 2) and leaves nothing behind", () => {
    const bad = join(dir, "missing-dir", "x.html");
    const r = ptesim("check", "--backend", "naive", "--html", bad);
    assert.equal(r.code, 2);
    assert.match(r.err, /missing-dir\/x\.html: cannot write \(ENOENT\)/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".tmp-")),
      [],
    );
    assert.equal(ptesim("demo", "--html", join(dir, "d.html")).code, 2);
  });
});

describe("ptesim view", () => {
  it("serves the playground on 127.0.0.1 only; other paths 404", async () => {
    const lines: string[] = [];
    const { server, url } = await startView(0, { out: (s) => lines.push(s), err: (s) => lines.push(s) });
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>ptesim playground<\/title>/);
      assert.equal((await fetch(`${url}etc/passwd`)).status, 404);
      assert.equal((await fetch(url, { method: "POST" })).status, 405);
      // A second server on the same port: a clear usage error.
      const port = Number(new URL(url).port);
      await assert.rejects(
        startView(port, { out: () => {}, err: () => {} }),
        /port \d+ on 127\.0\.0\.1 is in use/,
      );
    } finally {
      server.close();
    }
  });
  it("`ptesim view --port 0` serves from the command line until stopped", async () => {
    const child = spawn(process.execPath, [MAIN, "view", "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d) => {
          out += String(d);
          const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
          if (m) resolve(m[0]);
        });
        child.once("exit", (code) => reject(new Error(`ptesim view exited (${code}) before serving`)));
      });
      const r = await fetch(url);
      assert.equal(r.status, 200);
      assert.match(await r.text(), /ptesim playground/);
    } finally {
      child.kill();
    }
  });
  it("bad --port is a usage error", () => {
    const r = ptesim("view", "--port", "99999");
    assert.equal(r.code, 2);
    assert.match(r.err, /--port: must be in 0\.\.65535/);
  });
});
