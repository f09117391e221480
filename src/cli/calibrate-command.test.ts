// `ptesim calibrate`, `bench costs` and `--costs FILE` from the command line: the wiring, the
// outputs' shape and the errors (exit 2, located, no stack trace). Calibration runs the real
// probes (needs `cc`, as the differential tests do) with --quick and a short sweep.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadCostTableText } from "../calibrate/table-file.js";
import { hostIt } from "../fidelity/host.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ptesim-calibrate-"));

function ptesim(...args: string[]) {
  return ptesimEnv(process.env, ...args);
}
function ptesimEnv(env: NodeJS.ProcessEnv, ...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", env });
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("ptesim calibrate", () => {
  hostIt(
    "measures the kernel, writes a cost table that --costs reads, and bench costs sets model beside kernel",
    ["cc"],
    () => {
      const out = join(dir, "costs.yaml");
      const c = ptesim("calibrate", "--quick", "--pages", "1,8,33,34,64,512", "--out", out);
      assert.equal(c.code, 0, c.err);
      assert.match(c.out, /^clock: \d\.\d{3} GHz, (rdtsc against CLOCK_MONOTONIC|\/proc\/cpuinfo)/m);
      assert.match(c.out, /^ {2}folio_lookup +\d+ +fitted: least squares over mprotect at 6 sizes/m);
      assert.match(c.out, /^ {2}syscall +\d+ +measured: getppid\(\)/m);
      assert.match(c.out, /cost table written to /);
      const loaded = loadCostTableText(readFileSync(out, "utf8"), out);
      assert.ok(loaded.ok);
      assert.ok((loaded.costs.folio_lookup ?? 0) > 0);

      const b = ptesim("bench", "costs", "--costs", out, "--pages", "1,64", "--json");
      assert.equal(b.code, 0, b.err);
      const j = JSON.parse(b.out);
      assert.equal(j.schema, "ptesim.bench-costs/1");
      assert.equal(j.costs.folio_lookup, loaded.costs.folio_lookup);
      assert.match(j.sources.folio_lookup, /costs\.yaml: fitted/);
      assert.deepEqual(
        j.native.rows.map((r: { pages: number; direction: string }) => `${r.pages} ${r.direction}`),
        ["1 ro", "1 rw", "64 ro", "64 rw"],
      );
      for (const r of j.native.rows) {
        assert.ok(r.modelCyclesPerPte > 0 && r.kernelCyclesPerPte > 0 && r.kernelNsPerPte > 0);
        assert.ok(Math.abs(r.ratio - r.modelCyclesPerPte / r.kernelCyclesPerPte) < 1e-9);
      }
    },
  );

  it("without a C compiler: calibrate exits 2 saying so, bench costs goes on without the kernel", () => {
    const env = { ...process.env, PATH: join(dir, "no-such-dir") };
    const c = ptesimEnv(env, "calibrate", "--quick", "--pages", "1,8,64");
    assert.equal(c.code, 2);
    assert.match(c.err, /no C compiler: `cc` is not on PATH/);
    const b = ptesimEnv(env, "bench", "costs", "--pages", "1");
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /real kernel not measured: .*no C compiler/);
  });

  it("rejects a non-YAML --out and stray arguments", () => {
    const a = ptesim("calibrate", "--out", join(dir, "c.txt"));
    assert.equal(a.code, 2);
    assert.match(a.err, /--out names a \.yaml file/);
    assert.equal(ptesim("calibrate", "extra").code, 2);
    const few = ptesim("calibrate", "--pages", "1,64");
    assert.equal(few.code, 2);
    assert.match(few.err, /--pages needs at least 3 sizes to fit 5 weights, got 2/);
    assert.equal(ptesim("calibrate", "--seed", "1").code, 2);
    assert.equal(existsSync(join(dir, "c.txt")), false);
  });
});

describe("bench costs and --costs", () => {
  it("without a kernel measurement: the defaults, model figures only", () => {
    const r = ptesim("bench", "costs", "--no-kernel", "--pages", "1,33,34");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^weights: the defaults/m);
    assert.match(r.out, /native model vs real kernel/);
    assert.match(r.out, /real kernel not measured \(--no-kernel\)/);
    assert.match(r.out, /^ {6}33 +\d+ +- +- /m);
  });

  it("a cost table changes the cycles of bench costs and replay", () => {
    const t = file("folio.yaml", "costs:\n  folio_lookup: 1000\n");
    const a = JSON.parse(ptesim("bench", "costs", "--no-kernel", "--pages", "64", "--json").out);
    const b = JSON.parse(
      ptesim("bench", "costs", "--no-kernel", "--pages", "64", "--json", "--costs", t).out,
    );
    const native = (j: { rows: { backend: string; cyclesPerPte: number }[] }) =>
      j.rows.find((r) => r.backend === "native")?.cyclesPerPte ?? 0;
    assert.ok(native(b) > native(a) + 800, `${native(a)} -> ${native(b)}`);
    const log = fileURLToPath(new URL("../../recordings/cc.strace", import.meta.url));
    const cycles = (...extra: string[]) =>
      JSON.parse(ptesim("replay", log, "--backend", "native", "--json", ...extra).out).backends[0].cycles;
    assert.ok(cycles("--costs", t) > cycles());
  });

  it("bad cost tables: exit 2, every problem located", () => {
    const t = file("bad.yaml", "costs:\n  ipi: -5\n  nonsense: 3\nextra: 1\n");
    for (const args of [
      ["bench", "costs", "--no-kernel", "--pages", "1", "--costs", t],
      ["replay", fileURLToPath(new URL("../../recordings/cc.strace", import.meta.url)), "--costs", t],
    ]) {
      const r = ptesim(...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.err, /invalid cost table \(3 errors\)/);
      assert.ok(r.err.includes(`${t}:2:8: costs.ipi:`));
      assert.ok(r.err.includes(`${t}:3:3: costs.nonsense: unknown key "nonsense"`));
      assert.ok(r.err.includes(`${t}:4:1: extra: unknown key "extra"`));
    }
    const missing = ptesim("bench", "costs", "--costs", join(dir, "nope.yaml"));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /nope\.yaml: cannot read \(ENOENT\)/);
    const pages = ptesim("bench", "costs", "--pages", "0,5");
    assert.equal(pages.code, 2);
    assert.match(pages.err, /--pages takes page counts in 1\.\.262144/);
  });
});
