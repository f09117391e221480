// User code in the CLI (issue #8): a backend module's mistakes, hangs, exits and memory use end
// with a clear message naming the module and the operation and a documented exit code, never a
// crash, a hang or a false exit 0; printed reproduce commands run; the README's "Break it"
// walkthrough works end to end.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../examples/my-backend.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ptesim user code-"));

function ptesim(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    cwd: dir,
    env: { ...process.env, PTESIM_USER_CODE_TIMEOUT_MS: "1500", ...env },
    timeout: 60_000,
  });
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  assert.doesNotMatch(r.stderr, /internal error/, "not blamed on ptesim");
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A module from the example backend with one operation's body replaced. */
function variant(name: string, op: string, body: string, extra = ""): string {
  const text = `import base from ${JSON.stringify(EXAMPLE)};
${extra}
export default { ...base, name: ${JSON.stringify(name)}, create(ctx) {
  const o = base.create(ctx);
  return { ...o, ${op}(...args) { ${body} } };
} };
`;
  writeFileSync(join(dir, `${name}.mjs`), text);
  return `./${name}.mjs`;
}

describe("user backends: mistakes are the user's (exit 2, module, operation, problem)", () => {
  const cases: { name: string; op: string; body: string; want: RegExp }[] = [
    {
      name: "throws",
      op: "ptep_modify_prot_commit",
      body: 'throw new Error("oops");',
      want: /commit threw: oops/,
    },
    {
      name: "nan",
      op: "ptep_modify_prot_start",
      body: "return NaN;",
      want: /start returned NaN, which is not a PTE value/,
    },
    { name: "undef", op: "ptep_modify_prot_start", body: "return undefined;", want: /returned undefined/ },
    {
      name: "string",
      op: "ptep_modify_prot_start",
      body: 'return "0x1";',
      want: /returned the string "0x1"/,
    },
    {
      name: "outside",
      op: "ptep_modify_prot_commit",
      body: "ctx.write(1e9, args[4]);",
      want: /called ctx.write with 1000000000, which is not a page-table entry/,
    },
    {
      name: "badvalue",
      op: "ptep_modify_prot_commit",
      body: "ctx.write(args[2], -1);",
      want: /called ctx.write with -1, which is not a PTE value/,
    },
    {
      name: "retry-forever",
      op: "ptep_modify_prot_commit",
      body: "for (;;) ctx.cmpxchg(args[2], args[3] + 1, args[4]);",
      // The step budget, or (in check, where each step costs more) the watchdog, whichever first.
      want: /commit did not return within (10000 steps|1\.5 s)/,
    },
    { name: "young", op: "ptep_test_and_clear_young", body: "return 1;", want: /returned 1, not a boolean/ },
    {
      name: "corrupts-vma",
      op: "ptep_modify_prot_start",
      body: "args[0].flags = 0; return ctx.read(args[2]);",
      want: /start threw: TypeError: Cannot assign to read only property 'flags'/,
    },
  ];
  for (const c of cases)
    for (const cmd of ["check", "run"])
      it(`${c.name} (${cmd})`, () => {
        const m = variant(c.name, c.op, c.body);
        const scenario =
          c.op === "ptep_test_and_clear_young" ? "scenarios/litmus/aging-vs-rmw.yaml" : "builtin:check";
        const r = ptesim([
          cmd,
          scenario.startsWith("builtin")
            ? scenario
            : fileURLToPath(new URL(`../../${scenario}`, import.meta.url)),
          "--backend",
          m,
        ]);
        assert.equal(r.code, 2, r.err + r.out);
        assert.match(r.err, new RegExp(`backend \\./${c.name}\\.mjs: `));
        assert.match(r.err, c.want);
      });
});

describe("user backends that hang, exit or never load cannot end with exit 0", () => {
  it("an endless loop without a primitive call is stopped by the watchdog (check, run)", () => {
    const m = variant("spin", "ptep_modify_prot_start", "for (;;) {}");
    for (const cmd of ["check", "run"]) {
      const r = ptesim([cmd, "builtin:check", "--backend", m]);
      assert.equal(r.code, 2);
      assert.match(r.err, /backend \.\/spin\.mjs: ptep_modify_prot_start did not return within 1\.5 s/);
    }
  });
  it("process.exit(0) in an operation or while loading is an error", () => {
    const a = variant("exit-op", "ptep_modify_prot_start", "process.exit(0);");
    const r = ptesim(["check", "--backend", a]);
    assert.equal(r.code, 2);
    assert.match(r.err, /ended ptesim \(process\.exit\(0\) in ptep_modify_prot_start\)/);
    const b = variant("exit-load", "ptep_modify_prot_start", "return 0;", "process.exit(0);");
    const r2 = ptesim(["check", "--backend", b]);
    assert.equal(r2.code, 2);
    assert.match(r2.err, /process\.exit\(0\) while loading/);
  });
  it("a module whose loading never settles, or loops while loading, is an error", () => {
    writeFileSync(join(dir, "await.mjs"), "await new Promise(() => {});\nexport default {};\n");
    const r = ptesim(["check", "--backend", "./await.mjs"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /never finished loading/);
    writeFileSync(join(dir, "spin-load.mjs"), "for (;;) {}\n");
    const r2 = ptesim(["run", "--backend", "./spin-load.mjs"]);
    assert.equal(r2.code, 2);
    assert.match(r2.err, /loading the module did not return/);
  });
  it("check --max-memory turns a search too large for memory into INCOMPLETE (exit 4)", () => {
    writeFileSync(
      join(dir, "big.yaml"),
      `cpus: 4
regions:
  - { name: b, pages: 6, prot: rw, shared: true, populate: read }
syscalls:
  - { call: mprotect, region: b, prot: r }
  - { call: mprotect, region: b, prot: rw }
programs:
  - ["w b:0", "w b:1", "r b:2", "w b:3"]
  - ["w b:4", "w b:5", "r b:0", "w b:1"]
  - ["w b:2", "w b:3", "r b:4", "w b:5"]
`,
    );
    // Exact keys: the store grows by hundreds of bytes a state (fingerprints would fit).
    const r = ptesim(["check", "big.yaml", "--storage", "exact", "--max-memory", "80", "--json"]);
    assert.equal(r.code, 4, r.err);
    const j = JSON.parse(r.out) as { verdict: string; reason: string };
    assert.deepEqual([j.verdict, j.reason], ["incomplete", "max-memory"]);
  });
});

describe("documented module fields are honoured", () => {
  it("stateless: true explores as many states as the identical built-in cmpxchg", () => {
    const m = join(dir, "stateless.mjs");
    writeFileSync(
      m,
      `import base from ${JSON.stringify(EXAMPLE)};\nexport default { ...base, name: "stateless-example", stateless: true };\n`,
    );
    const user = JSON.parse(ptesim(["check", "--backend", "./stateless.mjs", "--json"]).out) as {
      states: number;
    };
    const plain = JSON.parse(ptesim(["check", "--backend", EXAMPLE, "--json"]).out) as { states: number };
    const builtin = JSON.parse(ptesim(["check", "--backend", "cmpxchg", "--json"]).out) as { states: number };
    assert.ok(user.states < plain.states, `${user.states} < ${plain.states}`);
    assert.ok(
      Math.abs(user.states - builtin.states) <= builtin.states * 0.1,
      `${user.states} ~ ${builtin.states}`,
    );
  });
  it("a bad field type is reported, naming the field", () => {
    writeFileSync(
      join(dir, "badfield.mjs"),
      `export default { name: "x", create() {}, stateless: "yes" };\n`,
    );
    const r = ptesim(["check", "--backend", "./badfield.mjs"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /"stateless" must be a boolean/);
  });
});

describe("reproduce commands run as printed", () => {
  const shell = (cmd: string) =>
    spawnSync("sh", ["-c", cmd.replace(/^ptesim /, `"${process.execPath}" "${MAIN}" `)], {
      encoding: "utf8",
      cwd: dir,
      timeout: 60_000,
    });
  it("the README's Break it walkthrough, end to end, from a path with spaces", () => {
    mkdirSync(join(dir, "my dir"), { recursive: true });
    const path = join(dir, "my dir", "my-backend.mjs");
    copyFileSync(EXAMPLE, path);
    const ok = ptesim(["check", "--backend", "./my dir/my-backend.mjs"]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /VERIFIED/);
    const src = readFileSync(path, "utf8");
    assert.match(src, /const want = setLow\(pte, seen & A_D\);/);
    writeFileSync(path, src.replace("const want = setLow(pte, seen & A_D);", "const want = pte;"));
    const bad = ptesim(["check", "--backend", "./my dir/my-backend.mjs"]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /VIOLATED: lost-dirty/);
    const line = /^replay: (ptesim .*)$/m.exec(bad.out)?.[1];
    assert.ok(line !== undefined, "a replay line");
    assert.match(line, /--backend '\.\/my dir\/my-backend\.mjs'/);
    const again = shell(line);
    assert.equal(again.status, 1, again.stderr);
    assert.match(again.stdout, /lost-dirty/);
  });
  it("a token is refused on another backend or scenario, saying which; trailing junk and huge tokens too", () => {
    const bad = variant("forgets-ad", "ptep_modify_prot_commit", "ctx.write(args[2], args[4]);");
    const r = ptesim(["check", "--backend", bad]);
    assert.equal(r.code, 1);
    const token = /--replay (\S+)/.exec(r.out)?.[1];
    assert.ok(token);
    const other = ptesim(["run", "builtin:check", "--backend", "native", "--replay", token]);
    assert.equal(other.code, 2);
    assert.match(other.err, /recorded with another backend/);
    const otherSc = ptesim(["run", "builtin:default", "--backend", bad, "--replay", token]);
    assert.equal(otherSc.code, 2);
    assert.match(otherSc.err, /recorded on another scenario/);
    const junk = ptesim(["run", "builtin:check", "--backend", bad, "--replay", `${token}AAAB`]);
    assert.equal(junk.code, 2);
    assert.match(junk.err, /trailing/);
    const huge = ptesim([
      "run",
      "builtin:check",
      "--backend",
      "native",
      "--replay",
      `r1.${"~__A".repeat(30000)}`,
    ]);
    assert.equal(huge.code, 2);
    assert.match(huge.err, /at most 10000000 decisions|starts with "r2\."/);
  });
  it("a module named like a built-in replays the module, not the built-in", () => {
    const fake = variant("native", "ptep_modify_prot_commit", "ctx.write(args[2], args[4]);");
    const r = ptesim(["check", "--backend", fake]);
    assert.equal(r.code, 1);
    assert.match(r.out, /--backend \.\/native\.mjs /);
  });
});

describe("demo and backends run", () => {
  it("backends lists every built-in; demo runs on every backend", () => {
    const b = ptesim(["backends"]);
    assert.equal(b.code, 0);
    for (const n of ["native", "cmpxchg", "xen", "xen-legacy", "naive"])
      assert.match(b.out, new RegExp(`^${n} `, "m"));
    const d = ptesim(["demo", "--seeds", "20"]);
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /naive/);
  });
});
