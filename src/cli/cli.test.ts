// The command line as a user meets it: exit codes, messages, no stack traces.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ERROR_CODES } from "./errors.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ptesim-cli-"));

function ptesim(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const GOOD = `cpus: 2
regions:
  - { name: b, pages: 2, prot: rw, shared: true, populate: read }
syscalls:
  - { call: mprotect, region: b, prot: r }
programs:
  - ["w b:0", "w b:1"]
`;

describe("ptesim usage errors", () => {
  it("help exits 0; no command exits 2", () => {
    assert.equal(ptesim("help").code, 0);
    assert.equal(ptesim().code, 2);
  });
  it("unknown command or flag: exit 2 with the reason", () => {
    const a = ptesim("frobnicate");
    assert.equal(a.code, 2);
    assert.match(a.err, /unknown command 'frobnicate'/);
    const b = ptesim("run", "--sed", "3");
    assert.equal(b.code, 2);
    assert.match(b.err, /--sed/);
    assert.equal(ptesim("run", "--seed", "-1").code, 2);
    assert.equal(ptesim("run", "--seed", "abc").code, 2);
    assert.equal(ptesim("demo", "--backend", "x").code, 2);
  });
  it("missing scenario file: exit 2", () => {
    const r = ptesim("run", join(dir, "nope.yaml"));
    assert.equal(r.code, 2);
    assert.match(r.err, /nope\.yaml: cannot read \(ENOENT\)/);
  });
  it("unknown backend: exit 2, listing the known ones", () => {
    const r = ptesim("run", "--backend", "bogus");
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown backend "bogus" \(known: native, naive/);
  });
  it("bad replay token: exit 2", () => {
    assert.equal(ptesim("run", "--replay", "zz").code, 2);
  });
});

describe("help, version and usage errors come from one definition per command", () => {
  const commands = ["demo", "run", "check", "replay", "bench", "bench costs", "backends"];
  it("ptesim help lists every command, the builtin scenarios and the exit codes", () => {
    const h = ptesim("help");
    assert.equal(h.code, 0);
    for (const c of ["demo", "run", "check", "replay", "bench", "backends", "help"])
      assert.match(h.out, new RegExp(`^  ${c} `, "m"), c);
    assert.match(h.out, /builtin:default/);
    assert.match(h.out, /exit codes:/);
    assert.deepEqual(ptesim("--help").out, h.out);
    assert.deepEqual(ptesim("-h").out, h.out);
  });
  for (const c of commands)
    it(`help ${c}, ${c} --help and ${c} -h print the same generated help, exit 0`, () => {
      const words = c.split(" ");
      const a = ptesim("help", ...words);
      assert.equal(a.code, 0, a.err);
      assert.match(a.out, new RegExp(`^Usage: ptesim ${c} `));
      assert.match(a.out, /-h, --help/);
      assert.equal(ptesim(...words, "--help").out, a.out);
      assert.equal(ptesim(...words, "-h").out, a.out);
    });
  it("demo's help names --seeds; run's names the builtin scenarios", () => {
    assert.match(ptesim("help", "demo").out, /--seeds <n>.*\(default: 1000\)/s);
    assert.match(ptesim("help", "run").out, /builtin:default or\s+builtin:check/);
  });
  it("--version prints the package version", () => {
    const v = ptesim("--version");
    assert.equal(v.code, 0);
    assert.match(v.out, /^\d+\.\d+\.\d+\n$/);
  });
  it("mistyped options and commands get a suggestion and exactly one hint, exit 2", () => {
    const a = ptesim("run", "--sed", "3");
    assert.equal(a.code, 2);
    assert.equal(a.err, "ptesim: unknown option '--sed' (did you mean --seed?)\n(see 'ptesim help run')\n");
    const b = ptesim("chek");
    assert.equal(b.code, 2);
    assert.match(b.err, /unknown command 'chek' \(did you mean check\?\)/);
    assert.equal(b.err.match(/ptesim help/g)?.length, 1);
    const c = ptesim("help", "chek");
    assert.equal(c.code, 2);
    assert.match(c.err, /did you mean check\?/);
    const d = ptesim("check", "--mode", "fast");
    assert.equal(d.code, 2);
    assert.match(d.err, /--mode is one of reduced, por, exhaustive; got "fast"/);
  });
  it("stray arguments are rejected, exit 2", () => {
    for (const args of [
      ["run", "builtin:default", "extra"],
      ["demo", "x"],
      ["backends", "x"],
      ["bench", "costs", "x"],
      ["replay"],
    ]) {
      const r = ptesim(...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.out, "");
      assert.match(r.err, /argument/);
    }
  });
  it("no command or a bare group prints help on stderr, exit 2", () => {
    const r = ptesim("bench");
    assert.equal(r.code, 2);
    assert.match(r.err, /costs/);
  });
});

describe("scenario errors are located as file:line:col", () => {
  const cases: [string, string, RegExp][] = [
    ["syntax.yaml", "cpus: [1,\n", /syntax\.yaml:\d+:\d+: YAML:/],
    [
      "unknown-key.yaml",
      GOOD.replace("cpus: 2", "cpus: 2\ncolour: red"),
      /unknown-key\.yaml:2:1: colour: unknown key "colour"/,
    ],
    [
      "bad-prot.yaml",
      GOOD.replace("prot: rw,", "prot: rq,"),
      /bad-prot\.yaml:3:\d+: regions\[0\]\.prot: a protection is/,
    ],
    ["huge.yaml", GOOD.replace("pages: 2", "pages: 1000000000"), /huge\.yaml:3:\d+: regions\[0\]\.pages:/],
    ["negative.yaml", GOOD.replace("cpus: 2", "cpus: -2"), /negative\.yaml:1:7: cpus:/],
    [
      "no-region.yaml",
      GOOD.replace("region: b,", "region: c,"),
      /no-region\.yaml:5:\d+: syscalls\[0\]\.region: no region named "c"/,
    ],
    [
      "page.yaml",
      GOOD.replace('"w b:1"', '"w b:7"'),
      /page\.yaml:7:\d+: programs\[0\]\[1\]: page 7 is past the end/,
    ],
    ["backend.yaml", `backend: nosuch\n${GOOD}`, /backend\.yaml:1:10: backend: unknown backend "nosuch"/],
    [
      "batch0.yaml",
      `backend: xen\nbackendOptions: { batch: 0 }\n${GOOD}`,
      /batch0\.yaml:2:\d+: backendOptions\.batch:/,
    ],
    [
      "feature.yaml",
      `backend: xen\nbackendOptions:\n  features: { warp_drive: true }\n${GOOD}`,
      /feature\.yaml:3:\d+: backendOptions\.features\.warp_drive: unknown option/,
    ],
    ["cost.yaml", `costs: { trap_pt_write: -5 }\n${GOOD}`, /cost\.yaml:1:\d+: costs\.trap_pt_write:/],
    ["not-a-map.yaml", "- 1\n- 2\n", /not-a-map\.yaml:1:1: a scenario is a YAML mapping/],
    // Type mistakes say what was expected and what the file holds.
    [
      "three.yaml",
      GOOD.replace("cpus: 2", "cpus: three"),
      /three\.yaml:1:7: cpus: expected a whole number, got the string "three"$/m,
    ],
    [
      "quoted.yaml",
      GOOD.replace("cpus: 2", 'cpus: "2"'),
      /quoted\.yaml:1:7: cpus: expected a whole number, got the string "2" \(write it without quotes: 2\)/,
    ],
    [
      "fraction.yaml",
      GOOD.replace("cpus: 2", "cpus: 2.5"),
      /fraction\.yaml:1:7: cpus: expected a whole number, got 2\.5$/m,
    ],
    [
      "inf.yaml",
      GOOD.replace("cpus: 2", "cpus: .inf"),
      /inf\.yaml:1:7: cpus: expected a whole number, got \.inf \(infinity\)/,
    ],
    [
      "underscore.yaml",
      GOOD.replace("cpus: 2", "cpus: 1_000"),
      /underscore\.yaml:1:7: cpus: expected a whole number, got the string "1_000" \(YAML 1\.2 numbers have no digit separators: 1000\)/,
    ],
    [
      "yes.yaml",
      `age: yes\n${GOOD}`,
      /yes\.yaml:1:6: age: expected true or false, got the string "yes" \(YAML 1\.2 booleans are true and false\)/,
    ],
    [
      "ratio.yaml",
      `workload: { writeRatio: "half" }\n${GOOD}`,
      /ratio\.yaml:1:\d+: workload\.writeRatio: expected a number, got the string "half"/,
    ],
    ["big.yaml", GOOD.replace("cpus: 2", "cpus: 100"), /big\.yaml:1:7: cpus: must be at most 64, got 100/],
    // YAML limits: located, never "internal error".
    [
      "alias-bomb.yaml",
      `${["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 9 }, (_, i) => `${"bcdefghij"[i]}: &${"bcdefghij"[i]} [${Array(10).fill(`*${"abcdefghi"[i]}`).join(", ")}]`)].join("\n")}\n${GOOD}`,
      /alias-bomb\.yaml:2:\d+: YAML aliases expand to too much data/,
    ],
    [
      "deep.yaml",
      `${GOOD}x: ${"[".repeat(100)}${"]".repeat(100)}\n`,
      /deep\.yaml:8:\d+: nesting deeper than 64 levels/,
    ],
    [
      "very-deep.yaml",
      `cpus: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`,
      /very-deep\.yaml:1:\d+: nesting deeper than the YAML parser can follow/,
    ],
    ["huge-file.yaml", `${GOOD}# ${"x".repeat(1 << 20)}\n`, /huge-file\.yaml: larger than 1048576 bytes/],
  ];
  for (const [name, text, re] of cases)
    it(name, () => {
      const r = ptesim("run", file(name, text));
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
      assert.equal(r.out, "", "nothing half-written on stdout");
    });
});

describe("ptesim run and check", () => {
  it("run: 0 without violation, 1 with one and a command that reproduces it", () => {
    const ok = ptesim("run", file("good.yaml", GOOD));
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /OK: no property violated/);
    const bad = ptesim("run", "--backend", "naive", "--sweep", "300");
    assert.equal(bad.code, 1);
    const cmd = /reproduce: ptesim (run .*)/.exec(bad.out)?.[1];
    assert.ok(cmd, bad.out);
    const again = ptesim(...cmd.split(" "));
    assert.equal(again.code, 1);
  });
  it("check: verified (0), violated (1) with a replay that reproduces it, incomplete (4)", () => {
    const f = file("check.yaml", GOOD.replace("cpus: 2", "cpus: 3").concat('  - ["w b:1", "w b:0"]\n'));
    assert.equal(ptesim("check", f).code, 0);
    const v = ptesim("check", f, "--backend", "naive");
    assert.equal(v.code, 1);
    assert.match(v.out, /VIOLATED: lost-dirty/);
    const cmd = /replay: ptesim (run .*)/.exec(v.out)?.[1];
    assert.ok(cmd, v.out);
    const r = ptesim(...cmd.split(" "));
    assert.equal(r.code, 1);
    assert.match(r.out, /lost-dirty/);
    const suite = fileURLToPath(new URL("../../scenarios/suite/c3p4.yaml", import.meta.url));
    const inc = ptesim("check", suite, "--max-executions", "3");
    assert.equal(inc.code, 4, inc.err);
    assert.match(inc.out, /INCOMPLETE/);
  });
  it("check needs explicit programs", () => {
    const r = ptesim("check", "builtin:default");
    assert.equal(r.code, 2);
    assert.match(r.err, /needs explicit `programs:`/);
  });
  it("--json carries a schema version", () => {
    const r = ptesim("run", "--json");
    assert.equal(JSON.parse(r.out).schema, "ptesim.run/1");
    const c = ptesim("check", "--json");
    assert.equal(JSON.parse(c.out).schema, "ptesim.check/1");
  });
  it("bench costs --out wants an .svg path", () => {
    assert.equal(ptesim("bench", "costs", "--out", join(dir, "x.txt")).code, 2);
  });
});

describe("the README stays true to the CLI", () => {
  const readme = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");
  it("lists every command and option that help prints", () => {
    const help = ptesim("help").out;
    const list = help.slice(help.indexOf("Commands:"), help.indexOf("\n\n", help.indexOf("Commands:")));
    const commands = [...list.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
    assert.ok(commands.length >= 7, help);
    for (const c of commands) {
      const words = c === "bench" ? ["bench", "costs"] : [c];
      assert.match(
        readme,
        new RegExp(`^${words.join(" ")} `, "m"),
        `README lacks the command ${words.join(" ")}`,
      );
      if (c === "help") continue;
      for (const m of ptesim("help", ...words).out.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm))
        assert.ok(readme.includes(m[1]), `README lacks ${words.join(" ")} ${m[1]}`);
    }
  });
  it("documents every exit code help names", () => {
    const codes = [...ptesim("help").out.matchAll(/^ {2}(\d+) {2,}/gm)].map((m) => m[1]);
    assert.deepEqual(codes, ["0", "1", "2", "3", "4", "5", "130"]);
    for (const c of codes) assert.match(readme, new RegExp(`^\\| ${c} \\|`, "m"), `exit code ${c}`);
  });
  it("documents every error code with its exit status", () => {
    for (const code of Object.keys(ERROR_CODES))
      assert.match(
        readme,
        new RegExp(`^\\| \`${code}\` \\| .* \\| .*\\d+.* \\|$`, "m"),
        `error code ${code}`,
      );
  });
  it("each command's README entry lists its own options", () => {
    const block = readme.slice(
      readme.indexOf("```\ndemo [options]"),
      readme.indexOf("```", readme.indexOf("```\ndemo [options]") + 4),
    );
    const footer = block.slice(block.indexOf("every command:"));
    const quietLine = footer.split("\n").find((l) => l.includes("--quiet")) ?? "";
    const sections = new Map<string, string>();
    let current = "";
    for (const line of block.slice(0, block.indexOf("every command:")).split("\n")) {
      const m = /^([a-z]+(?: costs)?) /.exec(line);
      if (m) current = m[1];
      if (current) sections.set(current, `${sections.get(current) ?? ""}${line}\n`);
    }
    for (const [name, text] of sections) {
      if (name === "help") continue;
      for (const m of ptesim("help", ...name.split(" ")).out.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)) {
        const flag = m[1];
        if (flag === "--json" || flag === "--help" || flag === "--color")
          assert.ok(footer.includes(flag), flag);
        else if (flag === "--quiet")
          assert.ok(quietLine.includes(name), `README's --quiet line lacks ${name}`);
        else assert.ok(text.includes(flag), `README's entry for ${name} lacks ${flag}`);
      }
    }
    assert.ok(sections.size >= 10, [...sections.keys()].join(" "));
  });
  it("names every published JSON schema", () => {
    for (const f of readdirSync(fileURLToPath(new URL("../../schemas/", import.meta.url))))
      assert.ok(readme.includes(`schemas/${f}`), f);
  });
});
