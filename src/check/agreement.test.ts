// The mode-agreement matrix, generated: every shipped scenario (litmus, suite, the mutant
// scenario with each kernel mutant, arm64) x every built-in backend of both architectures (an
// x86-64 scenario runs on an arm64 backend as its arm64 restatement: same regions, syscalls and
// programs on the arm64 machine with HA and HD) x kernel variants (maxBatch 1 and
// 4, classic and nested lazy rules, with and without an aging step, with a third CPU). Reduced,
// POR (sleep sets) and exhaustive exploration must give the same verdict and, when verified, the same set of
// final states. The product is too large for CI, so a fixed-seed sample is taken, covering every
// scenario, backend and variant value; combinations whose exhaustive reference exceeds a bound
// are skipped. What was covered is printed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { allBackends, backendArch } from "../backends/registry.js";
import { KERNEL_MUTANTS } from "../kernel/kernel.js";
import { PATH_MUTANTS } from "../kernel/paths-api.js";
import type { BackendModule } from "../kernel/pvops.js";
import { loadScenarioText } from "../scenario/load.js";
import { parseAccess, type Scenario } from "../sim/scenario.js";
import { check } from "./explore.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Combinations checked per CI run, and the bound on the exhaustive reference. */
const SAMPLE = 72;
const MAX_REFERENCE_EXECUTIONS = 8_000;

/**
 * A scenario whose exhaustive reference is too large, shrunk to fit: its first syscalls and the
 * first access of each program (what the two modes must agree on does not depend on size).
 */
function shrink(s: Scenario): Scenario {
  return {
    ...s,
    syscalls: s.syscalls.slice(0, 3),
    programs: (s.programs ?? []).map((p) => p.slice(0, 1)),
  };
}

interface Variant {
  maxBatch: 1 | 4;
  lazyRules: "classic" | "nested";
  aging: boolean;
  threeCpus: boolean;
}

function scenarios(): { name: string; s: Scenario }[] {
  const out: { name: string; s: Scenario }[] = [];
  for (const d of ["litmus", "suite", "mutants", "transitions", "arm64"])
    for (const f of readdirSync(join(ROOT, "scenarios", d))
      .filter((x) => x.endsWith(".yaml"))
      .sort()) {
      const file = join(ROOT, "scenarios", d, f);
      const r = loadScenarioText(readFileSync(file, "utf8"), file);
      if (!r.ok) throw new Error(`${file}: ${r.errors.map((e) => e.message).join("; ")}`);
      out.push({ name: `${d}/${f}`, s: r.scenario });
      if (d === "mutants")
        // change_pte_range's mutants; the kernel paths' variants have their own litmus scenarios.
        for (const m of KERNEL_MUTANTS.filter((x) => !(PATH_MUTANTS as readonly string[]).includes(x)))
          out.push({
            name: `${d}/${f}+${m}`,
            s: { ...r.scenario, kernel: { ...r.scenario.kernel, mutant: m } },
          });
    }
  return out;
}

/** The scenario under a variant, or null when the variant changes nothing (already 3 CPUs). */
function apply(s: Scenario, v: Variant): Scenario | null {
  const programs = (s.programs ?? []).map((p) => p.slice());
  let cpus = s.cpus;
  if (v.threeCpus) {
    if (cpus >= 3) return null;
    // A third CPU that reads what the first one touches.
    programs.push((programs[0] ?? []).map((a) => `r ${a.split(" ")[1]}`));
    cpus = 3;
  }
  if (v.aging) {
    const first = parseAccess(programs[0]?.[0] ?? "");
    if (first === undefined) return null;
    programs[0].push(`age ${first.region}:${first.page}`);
  }
  return { ...s, cpus, programs, kernel: { ...s.kernel, maxBatch: v.maxBatch, lazyRules: v.lazyRules } };
}

function variants(): Variant[] {
  const out: Variant[] = [];
  for (const maxBatch of [1, 4] as const)
    for (const lazyRules of ["classic", "nested"] as const)
      for (const aging of [false, true])
        for (const threeCpus of [false, true]) out.push({ maxBatch, lazyRules, aging, threeCpus });
  return out;
}

const vname = (v: Variant) =>
  `batch${v.maxBatch}/${v.lazyRules}${v.aging ? "/aging" : ""}${v.threeCpus ? "/3cpu" : ""}`;

describe("mode agreement: reduced == por == exhaustive over a generated matrix", () => {
  const scs = scenarios();
  const bs = allBackends(null);
  // x86-64 scenarios run on every backend (restated for arm64 ones), arm64 ones on arm64 only.
  const fits = (s: Scenario, b: BackendModule) => s.arch === "x86-64" || backendArch(b) === s.arch;
  const vs = variants();
  const product: { sc: number; b: number; v: number }[] = [];
  for (let sc = 0; sc < scs.length; sc++)
    for (let v = 0; v < vs.length; v++)
      if (apply(scs[sc].s, vs[v]) !== null)
        for (let b = 0; b < bs.length; b++) if (fits(scs[sc].s, bs[b])) product.push({ sc, b, v });
  // Fixed-seed shuffle, then keep the first SAMPLE, after one combination per scenario, per
  // backend and per variant (so each appears at least once).
  const rng = xoroshiro128plus(0x8a11);
  for (let i = product.length - 1; i > 0; i--) {
    const j = (rng.next() >>> 0) % (i + 1);
    [product[i], product[j]] = [product[j], product[i]];
  }
  const picked: typeof product = [];
  const need = (key: (c: (typeof product)[number]) => number, n: number) => {
    for (let k = 0; k < n; k++)
      if (!picked.some((c) => key(c) === k)) {
        const c = product.find((x) => key(x) === k && !picked.includes(x));
        if (c !== undefined) picked.push(c);
      }
  };
  need((c) => c.sc, scs.length);
  need((c) => c.b, bs.length);
  need((c) => c.v, vs.length);
  for (const c of product) if (picked.length < SAMPLE && !picked.includes(c)) picked.push(c);

  it(`${picked.length} of ${product.length} combinations (${scs.length} scenarios x ${bs.length} backends x ${vs.length} variants)`, () => {
    const t0 = Date.now();
    let compared = 0;
    const skipped: string[] = [];
    const shrunk: string[] = [];
    const failures: string[] = [];
    for (const c of picked) {
      const label = `${scs[c.sc].name} on ${bs[c.b].name} [${vname(vs[c.v])}]`;
      const b = bs[c.b];
      let s = apply(scs[c.sc].s, vs[c.v])!;
      if (backendArch(b) !== s.arch) s = { ...s, arch: backendArch(b), backend: b.name, backendOptions: {} };
      const reference = (x: Scenario) =>
        check(x, b, {
          mode: "exhaustive",
          collectFinalStates: true,
          minimize: false,
          maxExecutions: MAX_REFERENCE_EXECUTIONS,
        });
      let full = reference(s);
      if (full.verdict === "incomplete") {
        s = shrink(s);
        full = reference(s);
        shrunk.push(label);
      }
      if (full.verdict === "incomplete") {
        skipped.push(`${label}: reference over ${MAX_REFERENCE_EXECUTIONS} executions even shrunk`);
        continue;
      }
      compared++;
      // reduced and por (sleep sets with state caching) each against the reference.
      for (const mode of ["reduced", "por"] as const) {
        const red = check(s, b, { mode, collectFinalStates: true, minimize: false });
        if (red.verdict !== full.verdict) {
          failures.push(`${label}: ${mode} ${red.verdict}, exhaustive ${full.verdict}`);
          continue;
        }
        // A violated search stops at its first violation, which the two orders of cutting may
        // reach through different paths: the verdict must agree, the first property need not.
        if (red.verdict === "violated") continue;
        const a = [...(red.finalStates ?? [])].sort();
        const e = [...(full.finalStates ?? [])].sort();
        if (a.length !== e.length || a.some((x, i) => x !== e[i]))
          failures.push(`${label}: ${a.length} final states ${mode}, ${e.length} exhaustive`);
      }
    }
    console.log(
      `# mode agreement: ${compared} combinations compared (${shrunk.length} shrunk to fit the reference), ${skipped.length} skipped, in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    for (const x of picked)
      console.log(
        `#   ${scs[x.sc].name} on ${bs[x.b].name} [${vname(vs[x.v])}]${shrunk.includes(`${scs[x.sc].name} on ${bs[x.b].name} [${vname(vs[x.v])}]`) ? " (shrunk)" : ""}`,
      );
    for (const sk of skipped) console.log(`#   skipped ${sk}`);
    assert.deepEqual(failures, []);
    assert.ok(compared >= picked.length / 2, `only ${compared} of ${picked.length} compared`);
  });
});

// The arm64 litmus tests (scenarios/litmus/arm64) are small enough to take whole rather than
// sampled: each on every arm64 backend, at both batch sizes (a third CPU or an aging step would
// make it another test).
describe("mode agreement on the arm64 litmus tests: every test x arm64 backend", () => {
  const dir = join(ROOT, "scenarios/litmus/arm64");
  const files = readdirSync(dir)
    .filter((x) => x.endsWith(".yaml"))
    .sort();
  const bs = allBackends("arm64");
  it(`${files.length} tests x ${bs.length} backends x maxBatch 1, 4: same verdicts and final states`, () => {
    const failures: string[] = [];
    let compared = 0;
    for (const f of files) {
      const file = join(dir, f);
      const r = loadScenarioText(readFileSync(file, "utf8"), file);
      if (!r.ok) throw new Error(`${file}: ${r.errors.map((e) => e.message).join("; ")}`);
      for (const b of bs)
        for (const maxBatch of [1, 4]) {
          const s: Scenario = { ...r.scenario, kernel: { ...r.scenario.kernel, maxBatch } };
          const opts = { collectFinalStates: true, minimize: false } as const;
          const full = check(s, b, { ...opts, mode: "exhaustive" });
          for (const mode of ["reduced", "por"] as const) {
            const got = check(s, b, { ...opts, mode });
            const label = `${f} on ${b.name} [batch${maxBatch}] ${mode}`;
            if (got.verdict !== full.verdict)
              failures.push(`${label}: ${got.verdict}, exhaustive ${full.verdict}`);
            else if (got.verdict === "verified") {
              const a = [...(got.finalStates ?? [])].sort();
              const e = [...(full.finalStates ?? [])].sort();
              if (a.join("|") !== e.join("|"))
                failures.push(`${label}: ${a.length} final states, exhaustive ${e.length}`);
            }
          }
          compared++;
        }
    }
    assert.deepEqual(failures, []);
    assert.equal(compared, files.length * bs.length * 2);
  });
});
