// `ptesim bugs` as a user runs it: the whole shipped zoo, its JSON, its replay commands, and the
// exit codes for a misbehaving entry, a broken catalogue and unknown names.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { BugsJson } from "./output-schemas.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUGS = join(ROOT, "scenarios/bugs");

function ptesim(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", cwd: ROOT });
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A catalogue in a temporary directory: the given entries, each a bug.yaml and its scenario. */
function catalogue(entries: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "ptesim-bugs-"));
  const scenario = readFileSync(join(BUGS, "xen-no-preserve-ad/scenario.yaml"), "utf8");
  for (const [name, yaml] of Object.entries(entries)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "bug.yaml"), yaml);
    writeFileSync(join(dir, name, "scenario.yaml"), scenario);
  }
  return dir;
}
const entry = (name: string) =>
  readFileSync(join(BUGS, "xen-no-preserve-ad/bug.yaml"), "utf8").replace(
    "name: xen-no-preserve-ad",
    `name: ${name}`,
  );

/** `ptesim bugs --json` on the shipped zoo, run once for the tests that read it. */
let zooJson: { code: number | null; out: string } | undefined;
const zoo = () => {
  zooJson ??= ptesim("bugs", "--json");
  return zooJson;
};

describe("ptesim bugs", () => {
  it("runs the whole zoo: every runnable entry behaves, the rest are listed as not modelled yet", () => {
    const r = ptesim("bugs");
    assert.equal(r.code, 0, r.out + r.err);
    for (const n of [
      "xen-2008-plain-rmw",
      "xen-no-preserve-ad",
      "xen-lazy-batch-after-unlock",
      "freebsd-pmap-protect-fork",
      "softdirty-write-notify",
      "mprotect-softdirty-writable",
      "numa-migration-flush-race",
      "arm64-dbm-set-access-flags",
      "x86-saved-dirty-chg-mask",
      "loongarch-ptw-wrprotect",
      "sparc64-mkdirty-hw-writable",
      "zap-flush-under-ptl",
      "mremap-flush-before-unlock",
      "mremap-page-cleaning-race",
    ])
      assert.match(r.out, new RegExp(`^${n} .* VIOLATED .* VERIFIED .* ok$`, "m"), n);
    assert.match(
      r.out,
      /^14 runnable: 14 behave .*, 0 misbehave; \d+ not modelled yet \(listed, not counted as passes\)/m,
    );
  });

  it("--json: schema ptesim.bugs/1, a row per entry, counts that add up", () => {
    const r = zoo();
    assert.equal(r.code, 0);
    const j = JSON.parse(r.out);
    assert.equal(j.schema, "ptesim.bugs/1");
    const shape = BugsJson.strict().safeParse(j);
    assert.ok(shape.success, shape.success ? "" : shape.error.message);
    const s = j.summary;
    assert.equal(s.entries, j.bugs.length);
    assert.equal(s.runnable + s.notModelled, s.entries);
    assert.equal(s.behave + s.misbehave, s.runnable);
    for (const b of j.bugs) {
      assert.ok(["behaves", "misbehaves", "not-modelled"].includes(b.status));
      if (b.status === "not-modelled") {
        assert.ok(b.missing.length > 0);
        assert.equal(b.buggy, null);
        continue;
      }
      assert.equal(b.buggy.verdict, "violated");
      assert.equal(b.buggy.property, b.property);
      assert.equal(b.fixed.verdict, "verified");
      for (const k of ["states", "executions", "elapsedMs"]) assert.equal(typeof b.buggy[k], "number");
      assert.match(b.buggy.reproduce, /^ptesim run scenarios\/(bugs|litmus)\/.* --replay r\d+\./);
    }
  });

  it("each printed replay command reproduces its bug", () => {
    const j = JSON.parse(zoo().out);
    for (const b of j.bugs.filter((x: { buggy: unknown }) => x.buggy !== null)) {
      const args = (b.buggy.reproduce as string).split(" ").slice(1);
      const r = ptesim(...args);
      assert.equal(r.code, 1, `${b.name}: ${r.err}`);
      assert.match(r.out, new RegExp(`VIOLATED: ${b.property}`));
    }
  });

  it("NAME... selects entries; an unknown name is a usage error", () => {
    const r = ptesim("bugs", "xen-no-preserve-ad", "--json");
    assert.deepEqual(
      JSON.parse(r.out).bugs.map((b: { name: string }) => b.name),
      ["xen-no-preserve-ad"],
    );
    const u = ptesim("bugs", "no-such-bug");
    assert.equal(u.code, 2);
    assert.match(u.err, /unknown bug "no-such-bug" \(known: /);
  });

  it("an entry whose buggy variant is not found misbehaves: exit 1, and the table says why", () => {
    const dir = catalogue({
      "never-found": entry("never-found").replace(
        "buggy: { backend: xen-broken-no-preserve-ad }",
        "buggy: { backend: xen }",
      ),
    });
    const r = ptesim("bugs", "--dir", dir);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^never-found .* VERIFIED .* MISBEHAVES$/m);
    assert.match(r.out, /never-found: buggy variant: VERIFIED, the bug was not found/);
    assert.match(r.out, /0 behave .*, 1 misbehave/);
  });

  it("a broken catalogue is an input error (exit 2) naming file, line and problem", () => {
    const dir = catalogue({
      "bad-entry": entry("bad-entry").replace("arch: x86-64", "arch: x86-64\nflavour: odd"),
    });
    const r = ptesim("bugs", "--dir", dir);
    assert.equal(r.code, 2);
    assert.match(r.err, /bad-entry\/bug\.yaml:\d+:1: flavour: unknown key "flavour"/);
    const missing = catalogue({
      "no-scenario-file": entry("no-scenario-file").replace("scenario: scenario.yaml", "scenario: gone.yaml"),
    });
    const m = ptesim("bugs", "--dir", missing);
    assert.equal(m.code, 2);
    assert.match(m.err, /gone\.yaml: cannot read \(ENOENT\)/);
    assert.equal(ptesim("bugs", "--dir", join(dir, "nope")).code, 2);
    const weird = catalogue({});
    mkdirSync(join(weird, "odd", "bug.yaml"), { recursive: true });
    const w = ptesim("bugs", "--dir", weird);
    assert.equal(w.code, 2);
    assert.match(w.err, /odd\/bug\.yaml: not a regular file/);
  });

  it("an arch-helper variant its scenario does not select is an input error (the replay would not reproduce it)", () => {
    const dir = catalogue({
      "helper-mismatch": entry("helper-mismatch").replace(
        "buggy: { backend: xen-broken-no-preserve-ad }",
        "buggy: { backend: xen-broken-no-preserve-ad, archHelper: x86-chg-mask-without-saved-dirty }",
      ),
    });
    const r = ptesim("bugs", "--dir", dir);
    assert.equal(r.code, 2, r.out);
    assert.match(
      r.err,
      /helper-mismatch: the buggy variant is arch-helper variant "x86-chg-mask-without-saved-dirty" but .*scenario\.yaml sets kernel\.archHelper: null/,
    );
  });
});
