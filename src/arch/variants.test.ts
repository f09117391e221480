// Architecture helpers beyond an architecture's name: x86-64's SavedDirty rules (Linux 6.6+,
// X86_FEATURE_USER_SHSTK) and the arch-helper variants the real-bug zoo runs, pinned on single
// entries; and the scenario keys that select them, failing where they make no sense, located.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadScenarioText } from "../scenario/load.js";
import { scenarioArch } from "../sim/scenario.js";
import * as arm64 from "./arm64/pte.js";
import { ARCH_HELPER_VARIANT_INFO, ARCH_HELPER_VARIANTS, ARCHES, archMm } from "./registry.js";
import { PAGE_COPY_EXEC, PAGE_READONLY, PAGE_READONLY_EXEC } from "./x86/pgprot.js";
import * as x86 from "./x86/pte.js";

const { _PAGE_ACCESSED: A, _PAGE_DIRTY: D, _PAGE_PRESENT: P, _PAGE_RW: RW, _PAGE_USER: U } = x86;
const rwDirty = x86.pfn_pte(0x1234, P | RW | U | A | D);

describe("x86-64 SavedDirty rules", () => {
  const plain = archMm("x86-64");
  const sd = archMm("x86-64", { savedDirty: true });
  const shstk = archMm("x86-64", { userShstk: true });
  const noMask = archMm("x86-64", { savedDirty: true, archHelper: "x86-chg-mask-without-saved-dirty" });

  it("without them (the default) the helpers are the plain ones, and the object is X86_ARCH", () => {
    assert.equal(plain, ARCHES["x86-64"]);
    const ro = plain.pte_wrprotect(rwDirty);
    assert.equal(x86.pte_dirty(ro), true, "D stays: Write=0,Dirty=1");
    assert.equal(x86.pte_saved_dirty(ro), false);
  });

  it("pte_wrprotect moves D into SavedDirty (bit 58), pte_mkwrite moves it back; pte_dirty reads both", () => {
    const ro = sd.pte_wrprotect(rwDirty);
    assert.equal(ro & D, 0, "no Write=0,Dirty=1 entry");
    assert.equal(x86.pte_saved_dirty(ro), true);
    assert.equal(x86.pteToHex(ro).slice(0, 3), "040", "hardware bit 58");
    assert.equal(sd.pte_dirty(ro), true);
    assert.equal(sd.pte_write(ro), false);
    assert.equal(sd.pte_mkwrite(ro), rwDirty);
    // A clean entry stays clean either way.
    const clean = x86.pfn_pte(0x1234, P | RW | U | A);
    assert.equal(sd.pte_mkwrite(sd.pte_wrprotect(clean)), clean);
    assert.equal(sd.pte_dirty(sd.pte_mkclean(ro)), false, "pte_mkclean clears _PAGE_DIRTY_BITS");
  });

  it("pte_mkdirty of a read-only entry sets SavedDirty with X86_FEATURE_USER_SHSTK, D without", () => {
    const ro = x86.pfn_pte(0x1234, P | U | A);
    const withShstk = shstk.pte_mkdirty(ro);
    assert.equal(withShstk & D, 0);
    assert.equal(x86.pte_saved_dirty(withShstk), true);
    assert.ok((withShstk & x86._PAGE_SOFT_DIRTY) !== 0, "soft-dirty as always");
    assert.equal(sd.pte_mkdirty(ro) & D, D, "no shadow stacks: Linux sets D");
    assert.equal(shstk.pte_mkdirty(rwDirty), x86.pte_mkdirty(rwDirty), "a writable entry gets D");
  });

  it("pte_modify: writable to read-only saves D; read-only to read-only keeps SavedDirty; back to writable restores D", () => {
    const ro = sd.pte_modify(rwDirty, PAGE_READONLY);
    assert.equal(ro & D, 0);
    assert.equal(x86.pte_saved_dirty(ro), true);
    const rx = sd.pte_modify(ro, PAGE_READONLY_EXEC);
    assert.equal(x86.pte_saved_dirty(rx), true, "_PAGE_CHG_MASK keeps _PAGE_DIRTY_BITS");
    assert.equal(x86.pte_exec(rx), true);
    // PAGE_COPY_EXEC is read-only: the entry becomes writable only through pte_mkwrite.
    const back = sd.pte_mkwrite(sd.pte_modify(rx, PAGE_COPY_EXEC));
    assert.equal(back & D, D);
    assert.equal(x86.pte_saved_dirty(back), false);
    // The plain rules' pte_modify is the mask step alone: same result as before the rules.
    assert.equal(plain.pte_modify(rwDirty, PAGE_READONLY), x86.pte_modify(rwDirty, PAGE_READONLY));
    assert.equal(plain.pte_modify(rwDirty, PAGE_READONLY) & D, D);
  });

  it("the variant x86-chg-mask-without-saved-dirty: the second pte_modify drops the saved state", () => {
    const ro = noMask.pte_modify(rwDirty, PAGE_READONLY);
    assert.equal(x86.pte_saved_dirty(ro), true, "the first change still saves it (D is in the mask)");
    const rx = noMask.pte_modify(ro, PAGE_READONLY_EXEC);
    assert.equal(noMask.pte_dirty(rx), false, "lost");
    assert.equal(x86.pte_pfn(rx), 0x1234);
    assert.deepEqual(
      [noMask.pte_wrprotect(rwDirty), noMask.pte_mkwrite(ro)],
      [sd.pte_wrprotect(rwDirty), sd.pte_mkwrite(ro)],
      "only pte_modify's mask differs",
    );
  });
});

describe("arm64 pte_wrprotect variant", () => {
  const hwDirty = arm64.pte_mkwrite(arm64.pfn_pte(0x42, arm64.PTE_VALID + arm64.PTE_USER + arm64.PTE_AF));
  it("the real pte_wrprotect moves hardware dirty into PTE_DIRTY; the variant drops it", () => {
    assert.equal(arm64.pte_hw_dirty(hwDirty), true);
    assert.equal(arm64.pte_sw_dirty(hwDirty), false);
    const real = ARCHES.arm64.pte_wrprotect(hwDirty);
    assert.equal(arm64.pte_dirty(real), true);
    assert.equal(arm64.pte_write(real), false);
    const v = archMm("arm64", { archHelper: "arm64-wrprotect-drops-hw-dirty" });
    const dropped = v.pte_wrprotect(hwDirty);
    assert.equal(v.pte_dirty(dropped), false, "no dirty state left");
    assert.equal(dropped, arm64.clear_pte_bit(real, arm64.PTE_DIRTY), "otherwise the same entry");
    assert.equal(v.pte_modify, ARCHES.arm64.pte_modify, "only pte_wrprotect differs");
  });
  it("arm64-mkdirty-sets-hw-writable: pte_mkdirty, and pte_modify through it, leave a write-protected entry writable to the MMU", () => {
    const v = archMm("arm64", { archHelper: "arm64-mkdirty-sets-hw-writable" });
    const ro = ARCHES.arm64.pte_wrprotect(hwDirty); // read-only, software-dirty
    assert.equal(arm64.pte_rdonly(ARCHES.arm64.pte_mkdirty(ro)), true, "the real one: still read-only");
    assert.equal(arm64.pte_rdonly(v.pte_mkdirty(ro)), false, "the variant: AP[2] clear, writable");
    assert.equal(v.pte_write(v.pte_mkdirty(ro)), false, "though not PTE_WRITE");
    const newprot = arm64.pte_pgprot(ro);
    assert.equal(arm64.pte_rdonly(ARCHES.arm64.pte_modify(hwDirty, newprot)), true);
    assert.equal(
      arm64.pte_rdonly(v.pte_modify(hwDirty, newprot)),
      false,
      "mprotect(PROT_READ) leaves it writable",
    );
    assert.equal(v.pte_mkdirty(hwDirty), ARCHES.arm64.pte_mkdirty(hwDirty), "a writable entry: the same");
  });
  it("every variant names its architecture and helper, and another architecture's is refused", () => {
    for (const n of ARCH_HELPER_VARIANTS) {
      const info = ARCH_HELPER_VARIANT_INFO[n];
      assert.ok(n.startsWith(info.arch === "x86-64" ? "x86-" : `${info.arch}-`), n);
      assert.throws(
        () => archMm(info.arch === "arm64" ? "x86-64" : "arm64", { archHelper: n }),
        /is for .*, not/,
      );
    }
  });
});

describe("x86 features and arch-helper variants in scenarios", () => {
  const base = "regions:\n  - { name: p, pages: 1 }\n";
  const load = (text: string) => loadScenarioText(text, "t.yaml");
  const errors = (text: string) => {
    const r = load(text);
    assert.ok(!r.ok, "rejected");
    return r.errors.map((e) => [e.line, e.col, e.message.replace(/^.*?: /, "")] as const);
  };

  it("takes savedDirty and userShstk on x86-64 and builds the architecture from them", () => {
    const r = load(
      `features: { userShstk: true }\nkernel: { archHelper: x86-chg-mask-without-saved-dirty }\n${base}`,
    );
    assert.ok(r.ok, r.ok ? "" : r.errors[0].message);
    const a = scenarioArch(r.scenario);
    assert.equal(a.arch, "x86-64");
    const ro = a.pte_modify(rwDirty, PAGE_READONLY);
    assert.equal(x86.pte_saved_dirty(ro), true, "the rules are on");
    assert.equal(a.pte_dirty(a.pte_modify(ro, PAGE_READONLY_EXEC)), false, "and the variant too");
    const d = load(base);
    assert.ok(d.ok && scenarioArch(d.scenario) === ARCHES["x86-64"]);
  });

  it("rejects x86 features on arm64 and arm64 features on x86-64, at their keys", () => {
    assert.deepEqual(
      errors(`features:\n  savedDirty: true\n${base}`.replace("features", "arch: arm64\nfeatures")),
      [
        [
          3,
          15,
          "features (savedDirty, userShstk) are x86-64 CPU features; this scenario is arm64 (arm64 takes ha, hd, erratum2645198, perCpu)",
        ],
      ],
    );
    const e = errors(`features:\n  userShstk: true\n  hd: false\n${base}`);
    assert.deepEqual(
      e.map((x) => x[0]),
      [3],
    );
    assert.match(
      e[0][2],
      /arm64 CPU features; this scenario is x86-64 \(add "arch: arm64"; x86-64 takes savedDirty, userShstk\)/,
    );
  });

  it("rejects userShstk with savedDirty: false, and an arch-helper variant that cannot apply", () => {
    assert.deepEqual(errors(`features: { userShstk: true, savedDirty: false }\n${base}`), [
      [
        1,
        42,
        "userShstk (X86_FEATURE_USER_SHSTK) needs the SavedDirty rules: every kernel with user shadow stacks has them (Linux 6.6+); drop savedDirty: false",
      ],
    ]);
    const noRules = errors(`kernel:\n  archHelper: x86-chg-mask-without-saved-dirty\n${base}`);
    assert.equal(noRules[0][0], 2);
    assert.match(
      noRules[0][2],
      /SavedDirty rules, which this scenario does not have: add features: \{ savedDirty: true \}/,
    );
    const otherArch = errors(`arch: arm64\nkernel:\n  archHelper: x86-chg-mask-without-saved-dirty\n${base}`);
    assert.deepEqual(
      otherArch.map((x) => [x[0], x[2]]),
      [[3, "x86-chg-mask-without-saved-dirty is a variant of x86-64's pte_modify; this scenario is arm64"]],
    );
    const unknown = errors(`kernel: { archHelper: pte-mkyoung-backwards }\n${base}`);
    assert.equal(unknown[0][0], 1);
    assert.match(unknown[0][2], /x86-chg-mask-without-saved-dirty/, "lists the variants");
  });
});
