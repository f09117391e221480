// The host requirements of the real-kernel tests: skipped with a reason where the host lacks
// them, a failure where PTESIM_REQUIRE_HOST_TESTS=1 (CI), and counted in the closing line.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Host, hostLacks } from "./host.js";

const GOOD: Host = {
  platform: "linux",
  release: "6.18.4-generic",
  thp: () => "always [madvise] never\n",
  cc: () => true,
};

describe("host requirements", () => {
  it("are read from the kernel release, the THP setting and cc", () => {
    for (const n of ["cc", "linux-6.16", "thp-not-always"] as const) assert.equal(hostLacks(n, GOOD), null);
    assert.match(hostLacks("cc", { ...GOOD, cc: () => false })!, /a C compiler/);
    assert.match(
      hostLacks("linux-6.16", { ...GOOD, release: "6.15.9" })!,
      /Linux 6\.16 or later \(this is 6\.15\.9\)/,
    );
    assert.equal(hostLacks("linux-6.16", { ...GOOD, release: "7.0.1" }), null);
    assert.match(hostLacks("linux-6.16", { ...GOOD, platform: "darwin" })!, /this is darwin/);
    assert.match(hostLacks("thp-not-always", { ...GOOD, thp: () => "[always] madvise never" })!, /"always"/);
    const noThp = () => {
      throw new Error("ENOENT");
    };
    assert.equal(hostLacks("thp-not-always", { ...GOOD, thp: noThp }), null);
  });

  const root = fileURLToPath(new URL("../../", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "ptesim-host-"));
  const fixture = join(dir, "fixture.test.mjs");
  writeFileSync(
    fixture,
    `import { hostIt } from ${JSON.stringify(new URL("./host.js", import.meta.url).href)};
import { it } from "node:test";
const noCc = { platform: "linux", release: "6.18.0", thp: () => "[never]", cc: () => false };
it("plain", () => {});
hostIt("needs cc", ["cc"], () => {}, noCc);
`,
  );
  const run = (env: Record<string, string>) => {
    const e = { ...process.env, ...env };
    if (env.PTESIM_REQUIRE_HOST_TESTS === undefined) delete e.PTESIM_REQUIRE_HOST_TESTS;
    delete e.NODE_TEST_CONTEXT; // a test run of its own, not a part of this one
    return spawnSync(
      process.execPath,
      ["--test", `--test-reporter=${join(root, "scripts/summary-reporter.mjs")}`, fixture],
      { encoding: "utf8", env: e },
    );
  };
  it("a host without cc: skipped with a one-line reason, counted in the closing line", () => {
    const r = run({});
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /^- skipped: needs cc: needs a C compiler/m);
    assert.match(r.stdout, /^1 passed, 0 failed, 1 skipped$/m);
  });
  it("PTESIM_REQUIRE_HOST_TESTS=1 (CI): the same test fails, saying why", () => {
    const r = run({ PTESIM_REQUIRE_HOST_TESTS: "1" });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /PTESIM_REQUIRE_HOST_TESTS=1 and the host lacks a C compiler/);
    assert.match(r.stdout, /^1 passed, 1 failed, 0 skipped$/m);
  });
  it(".ci/run makes the host tests mandatory", () => {
    assert.match(readFileSync(join(root, ".ci/run"), "utf8"), /^export PTESIM_REQUIRE_HOST_TESTS=1$/m);
  });
});
