// The viewer in a real browser: Debian's Chromium driven by playwright-core (no browser
// download). Needs `npm run build:web` (built here if missing) and /usr/bin/chromium (or
// $CHROMIUM); without a browser these tests are skipped, except in CI where they fail.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import * as arm64pte from "../arch/arm64/pte.js";
import type { pte_t as PteT } from "../arch/types.js";
import { machineDocument } from "../sim/documents.js";
import { CHROMIUM, launchChromium } from "./chromium.js";
import { renderHtmlReport } from "./html-report.js";
import { startView } from "./view-command.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "dist/cli/main.js");
const haveBrowser = existsSync(CHROMIUM);
const skip =
  !haveBrowser && !process.env.CI ? `no browser at ${CHROMIUM} (apt-get install -y chromium)` : false;
const dir = mkdtempSync(join(tmpdir(), "ptesim-view-"));

function ptesim(...args: string[]) {
  return ptesimIn(process.cwd(), ...args);
}
function ptesimIn(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** x86 bit positions the viewer labels (a separate decoding from the viewer's). */
const BITS: Record<string, number> = { P: 0, RW: 1, US: 2, A: 5, D: 6, NX: 63 };
function bitsOf(hex: string): Record<string, string> {
  const v = BigInt(`0x${hex}`);
  return Object.fromEntries(Object.entries(BITS).map(([n, b]) => [n, String((v >> BigInt(b)) & 1n)]));
}
/** The same bits read from the CLI's text description ("pfn 0x7 P RO U A NX"). */
function bitsOfDescription(d: string): Record<string, string> {
  const w = d.split(" ");
  return {
    P: w.includes("P") ? "1" : "0",
    RW: w.includes("RW") ? "1" : "0",
    US: w.includes("U") ? "1" : "0",
    A: w.includes("A") ? "1" : "0",
    D: w.includes("D") ? "1" : "0",
    NX: w.includes("NX") ? "1" : "0",
  };
}

async function shownBits(page: Page): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of Object.keys(BITS))
    out[n] = (await page.getAttribute(`[data-testid=pte-bits] [data-bit="${n}"]`, "data-set")) ?? "?";
  return out;
}

interface Ev {
  step: number;
  what: string;
  addr: number;
  after?: string;
  afterHex?: string;
  note?: string;
}

describe("viewer in Chromium", { skip }, () => {
  let ctx: BrowserContext;
  let profile: string;
  const errors: string[] = [];

  before(async () => {
    if (!existsSync(join(ROOT, "dist/web/report-cx.js")) || !existsSync(join(ROOT, "dist/web/index.html"))) {
      const b = spawnSync(process.execPath, [join(ROOT, "web/build.mjs"), "--quiet"], {
        encoding: "utf8",
        cwd: ROOT,
      });
      assert.equal(b.status, 0, `web build failed: ${b.stderr}`);
    }
    profile = mkdtempSync(join(tmpdir(), "ptesim-chromium-"));
    ctx = await launchChromium(profile);
    ctx.on("page", (p) => {
      p.on("pageerror", (e) => errors.push(e.message));
    });
  });
  after(async () => {
    await ctx?.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("report of the naive counterexample: the violating store shows the CLI's PTE bits, D lost", async () => {
    const html = join(dir, "naive.html");
    const r = ptesim("check", "--backend", "naive", "--json", "--html", html);
    assert.equal(r.code, 1, r.err);
    const doc = JSON.parse(r.out) as { timeline: Ev[]; addr: number; reproduce: string };
    const store = doc.timeline.find((e) => e.note === "drops D");
    assert.ok(store?.afterHex && store.after, "the CLI's timeline has the store that drops D");
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(html).href);
    assert.equal(await page.textContent("[data-testid=verdict]"), "VIOLATED");
    assert.equal(await page.textContent("[data-testid=reproduce]"), doc.reproduce);
    // Step there with the keyboard, one step at a time, from the first step.
    const index = doc.timeline.indexOf(store);
    await page.locator("body").click({ position: { x: 5, y: 5 } });
    for (let i = 0; i < index; i++) await page.keyboard.press("ArrowRight");
    assert.match((await page.textContent("[data-testid=step-title]")) ?? "", new RegExp(`^#${store.step} `));
    assert.equal(await page.getAttribute("[data-testid=pte-bits]", "data-pte"), store.afterHex);
    assert.deepEqual(await shownBits(page), bitsOf(store.afterHex));
    assert.deepEqual(await shownBits(page), bitsOfDescription(store.after));
    const d = page.locator('[data-testid=pte-bits] [data-bit="D"]');
    assert.match((await d.getAttribute("class")) ?? "", /\blost\b/);
    assert.match((await d.textContent()) ?? "", /LOST/, "the lost bit is marked in text, not only colour");
    // The path down to the backend's commit, and the slider and buttons agree.
    assert.match(
      (await page.textContent("[data-testid=details]")) ?? "",
      /change_pte_range.*naive: ptep_modify_prot_commit/s,
    );
    assert.equal(await page.inputValue("[data-testid=step-slider]"), String(index));
    await page.click("[data-testid=prev]");
    await page.click("[data-testid=goto-violation]");
    assert.equal(await page.getAttribute("[data-testid=pte-bits]", "data-pte"), store.afterHex);
    await page.close();
  });

  it("bench costs --arch arm64 --html: the cycles and events charts, the rows and the weights with their sources", async () => {
    const html = join(dir, "arm64-costs.html");
    const r = ptesim("bench", "costs", "--arch", "arm64", "--pages", "1,64", "--html", html);
    assert.equal(r.code, 0, r.err);
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(html).href);
    await page.locator("#chart-pages").waitFor();
    assert.equal(await page.locator("#chart-events").count(), 1);
    const text = (await page.textContent("body")) ?? "";
    assert.match(text, /arm64: mprotect\(PROT_READ\)/);
    // The tables: rows with the arm64 events, and every weight's source.
    assert.match(text, /Cycles per PTE and events/);
    assert.match(text, /dsb_ish.*1,000.*DSB ISH after TLBIs.*assumption/s);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it("report of a run counterexample, at a narrow width", async () => {
    const html = join(dir, "run.html");
    const r = ptesim("run", "--backend", "naive", "--sweep", "300", "--json", "--html", html);
    assert.equal(r.code, 1, r.err);
    const doc = JSON.parse(r.out) as { timeline: Ev[] };
    const store = doc.timeline.find((e) => e.note?.startsWith("drops"));
    assert.ok(store?.afterHex);
    const page = await ctx.newPage();
    await page.setViewportSize({ width: 420, height: 800 });
    await page.goto(pathToFileURL(html).href);
    await page.click("[data-testid=goto-violation]");
    assert.equal(await page.getAttribute("[data-testid=pte-bits]", "data-pte"), store.afterHex);
    assert.deepEqual(await shownBits(page), bitsOf(store.afterHex));
    const overflow = (await page.evaluate(
      "document.documentElement.scrollWidth - window.innerWidth",
    )) as number;
    assert.ok(overflow <= 1, `no horizontal page scroll at 420 px (overflow ${overflow} px)`);
    await page.close();
  });

  it("report of a replay: a Chart.js chart and the per-backend table", async () => {
    const html = join(dir, "replay.html");
    const r = ptesim("replay", join(ROOT, "recordings/cc.strace"), "--json", "--html", html);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { backends: { backend: string }[] };
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(html).href);
    assert.equal(await page.textContent("[data-testid=verdict]"), "MATCH");
    const box = await page.locator("canvas#chart-replay").boundingBox();
    assert.ok(box !== null && box.width > 200 && box.height > 100, "the chart is drawn");
    assert.deepEqual(
      await page.locator("table.data tbody tr td:first-child").allTextContents(),
      doc.backends.map((b) => b.backend),
    );
    await page.close();
  });

  it("bugs --html: every entry with its verdicts and provenance; a counterexample stepped to its lost bit; permalinks", async () => {
    const html = join(dir, "bugs.html");
    const r = ptesim("bugs", "--json", "--html", html);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as {
      bugs: {
        name: string;
        status: string;
        fix: { commit: string | null };
        buggy: {
          verdict: string;
          property: string | null;
          reproduce: string | null;
          scenario: string;
          backend: string;
        } | null;
        fixed: { verdict: string } | null;
        provenance: { sources: { where: string }[] };
      }[];
    };
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(html).href);
    assert.equal(await page.textContent("[data-testid=verdict]"), "ALL BEHAVE");
    assert.deepEqual(
      await page
        .locator("[data-testid=bugs-table] tbody tr")
        .evaluateAll((rows) => rows.map((tr) => tr.getAttribute("data-bug"))),
      doc.bugs.map((b) => b.name),
      "one row per catalogue entry, in the document's order",
    );
    // Choose an entry with the keyboard: its verdicts, fix and sources are shown.
    const want = doc.bugs.find((b) => b.name === "xen-no-preserve-ad");
    assert.ok(want?.buggy && want.fixed && want.fix.commit);
    await page.focus('[data-testid=bugs-table] button[data-bug="xen-no-preserve-ad"]');
    await page.keyboard.press("Enter");
    const entry = page.locator("[data-testid=bug-entry]");
    assert.match(
      (await entry.locator("[data-testid=bug-title]").textContent()) ?? "",
      /MMU_PT_UPDATE_PRESERVE_AD/,
    );
    assert.equal(
      await entry.locator("[data-testid=verdict-buggy]").textContent(),
      `VIOLATED ${want.buggy.property}`,
    );
    assert.equal(await entry.locator("[data-testid=verdict-fixed]").textContent(), "VERIFIED");
    assert.equal(await entry.locator("[data-testid=reproduce-buggy]").textContent(), want.buggy.reproduce);
    assert.match(
      (await entry.locator("[data-testid=bug-fix]").textContent()) ?? "",
      new RegExp(want.fix.commit.slice(0, 12)),
    );
    assert.equal(await entry.locator("[data-testid=bug-sources] li").count(), want.provenance.sources.length);
    // Its counterexample: the check's timeline, stepped to the store that loses D.
    const cx = JSON.parse(
      ptesim("check", want.buggy.scenario, "--backend", want.buggy.backend, "--workers", "1", "--json").out,
    ) as { timeline: Ev[] };
    const store = cx.timeline.find((e) => e.note === "drops D");
    assert.ok(store?.afterHex);
    await page.click("[data-testid=bug-counterexample] [data-testid=goto-violation]");
    assert.equal(
      await page.getAttribute("[data-testid=bug-counterexample] [data-testid=pte-bits]", "data-pte"),
      store.afterHex,
    );
    assert.deepEqual(await shownBits(page), bitsOf(store.afterHex));
    // The address names the entry and the step: opening it shows the same.
    const url = page.url();
    assert.match(url, new RegExp(`#bug=xen-no-preserve-ad&step=${cx.timeline.indexOf(store)}$`));
    const again = await ctx.newPage();
    await again.goto(url);
    assert.equal(await again.getAttribute("[data-testid=pte-bits]", "data-pte"), store.afterHex);
    assert.match((await again.textContent("[data-testid=bug-title]")) ?? "", /MMU_PT_UPDATE_PRESERVE_AD/);
    // Usable on a narrow window: the table scrolls in its box, the page does not.
    await again.setViewportSize({ width: 420, height: 800 });
    const overflow = (await again.evaluate(
      "document.documentElement.scrollWidth - window.innerWidth",
    )) as number;
    assert.ok(overflow <= 1, `no horizontal page scroll at 420 px (overflow ${overflow} px)`);
    // An entry the model cannot express yet says what it needs, and has no counterexample.
    const nm = doc.bugs.find((b) => b.status === "not-modelled");
    assert.ok(nm);
    await again.click(`[data-testid=bugs-table] button[data-bug="${nm.name}"]`);
    assert.equal(await again.textContent("[data-testid=bug-status]"), "not modelled yet");
    assert.equal(await again.locator("[data-testid=bug-counterexample]").count(), 0);
    await again.close();
    await page.close();
  });

  it("arm64 layout (a fixture from src/arch/arm64's own helpers): descriptor bits, hardware dirty lost on RDONLY, the contpte block", async () => {
    // An arm64 shared writable page in a contpte block: clean (RDONLY with DBM), then the
    // hardware marks it dirty by clearing RDONLY, then a kernel store from a stale read sets
    // RDONLY again: hardware dirty lost. Values and texts come from the arm64 format itself.
    const a = arm64pte;
    const clean = a.pte_mkcont(a.pfn_pte(0x1234, a.PAGE_SHARED));
    const dirty = a.fromParts(a.lo32(clean) & ~a.PTE_RDONLY, a.hi16(clean));
    const addr = 0x7f0000013000; // entry 4 of its 64 KiB block
    const ev = (
      step: number,
      cpu: number,
      actor: string,
      what: string,
      before: PteT | null,
      after: PteT,
      note?: string,
    ) => ({
      step,
      cpu,
      actor,
      what,
      addr,
      ...(before === null ? {} : { before: a.pteDescribe(before), beforeHex: a.pteToHex(before) }),
      after: a.pteDescribe(after),
      afterHex: a.pteToHex(after),
      ...(note ? { note } : {}),
      tlb: [null, "block 64K pfn 0x1230 RW D"],
      locks: cpu === 0 ? ["mmap_lock (write): CPU0", "PTE lock: CPU0"] : [],
      path: cpu === 0 ? ["mprotect", "change_pte_range", "arm64: ptep_modify_prot_commit"] : undefined,
    });
    const timeline = [
      ev(1, 0, "init", "initial state", null, clean),
      ev(2, 0, "kernel", "read", clean, clean),
      ev(3, 1, "mmu", "clears RDONLY (hardware dirty)", clean, dirty),
      ev(4, 0, "kernel", "write", dirty, clean, "drops D"),
    ];
    const doc = {
      schema: "ptesim.check/1",
      scenario: "arm64-fixture",
      file: null,
      backend: "arm64-broken",
      mode: "reduced",
      verdict: "violated",
      executions: 3,
      completeExecutions: 3,
      states: 12,
      transitions: 14,
      distinctFinalStates: 2,
      elapsedMs: 5,
      machine: machineDocument(2, "arm64"),
      property: "lost-dirty",
      rule: null,
      message: "written but clean",
      addr,
      replay: "r2.x",
      reproduce: "ptesim run x.yaml --backend arm64-broken --seed 1 --replay r2.x",
      timeline,
    };
    const html = join(dir, "arm64.html");
    writeFileSync(html, renderHtmlReport(doc));
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(html).href);
    await page.click("[data-testid=goto-violation]");
    assert.equal(await page.getAttribute("[data-testid=pte-bits]", "data-pte"), a.pteToHex(clean));
    // Every drawn bit is the descriptor's bit at that position (decoded here independently).
    const v = BigInt(`0x${a.pteToHex(clean)}`);
    const positions: Record<string, number> = {
      VALID: 0,
      USER: 6,
      RDONLY: 7,
      AF: 10,
      nG: 11,
      DBM: 51,
      CONT: 52,
      PXN: 53,
      UXN: 54,
      DIRTY: 55,
    };
    for (const [name, bit] of Object.entries(positions))
      assert.equal(
        await page.getAttribute(`[data-testid=pte-bits] [data-bit="${name}"]`, "data-set"),
        String((v >> BigInt(bit)) & 1n),
        name,
      );
    // The lost D is shown on RDONLY (set again by the store), in text.
    const ro = page.locator('[data-testid=pte-bits] [data-bit="RDONLY"]');
    assert.match((await ro.getAttribute("class")) ?? "", /\blost\b/);
    assert.match((await ro.textContent()) ?? "", /LOST/);
    assert.doesNotMatch(
      (await page.locator('[data-testid=pte-bits] [data-bit="DIRTY"]').getAttribute("class")) ?? "",
      /\blost\b/,
    );
    // The contpte block: entry 4 (index 3) of 16.
    assert.match(
      (await page.textContent("[data-testid=cont-block]")) ?? "",
      /entry 4 of 16 in the 64 KiB block 0x7f0000010000/,
    );
    assert.equal(await page.textContent("[data-testid=cont-block] li[aria-current]"), "3");
    assert.match((await page.textContent("[data-testid=pte-text]")) ?? "", /^pfn 0x1234 /);
    await page.close();
  });

  it("playground served by `ptesim view`: YAML error at its line, then check VIOLATED and VERIFIED", async () => {
    const lines: string[] = [];
    let server: Server | undefined;
    try {
      const v = await startView(0, { out: (s) => lines.push(s), err: (s) => lines.push(s) });
      server = v.server;
      const page = await ctx.newPage();
      await page.goto(v.url);
      await page.waitForSelector("[data-testid=yaml-errors] li.ok");
      // Add an unknown key on a new last line: the error names that line, in the list and the gutter.
      await page.click("[data-testid=editor] .cm-content");
      await page.keyboard.press("Control+End");
      const lastLine = await page.locator("[data-testid=editor] .cm-line").count();
      await page.keyboard.type("\ncolour: red");
      const err = page.locator("[data-testid=yaml-errors] li.err").first();
      await err.waitFor();
      assert.equal(await err.getAttribute("data-line"), String(lastLine + 1));
      assert.match(
        (await err.textContent()) ?? "",
        new RegExp(`^scenario\\.yaml:${lastLine + 1}:1: .*colour`),
      );
      await page.waitForSelector(".cm-lint-marker-error");
      assert.equal(await page.isDisabled("[data-testid=check]"), true, "no check of an invalid scenario");
      // Remove it again, then check with a broken and a correct backend.
      for (let i = 0; i < "\ncolour: red".length; i++) await page.keyboard.press("Backspace");
      await page.waitForSelector("[data-testid=yaml-errors] li.ok");
      await page.selectOption("[data-testid=backend]", "naive");
      await page.click("[data-testid=check]");
      await page.waitForSelector("[data-testid=result] [data-testid=verdict]");
      assert.equal(await page.textContent("[data-testid=result] [data-testid=verdict]"), "VIOLATED");
      assert.match((await page.textContent("[data-testid=progress]")) ?? "", /^Done/);
      // The worker runs the CLI's code: the same counterexample, the same stamped replay token.
      // One thread, as the playground checks: the same counterexample.
      const cli = JSON.parse(ptesim("check", "--backend", "naive", "--workers", "1", "--json").out) as {
        replay: string;
      };
      assert.equal(
        await page.textContent("[data-testid=result] [data-testid=reproduce]"),
        `ptesim run scenario.yaml --backend naive --seed 1 --replay ${cli.replay}`,
      );
      await page.click("[data-testid=goto-violation]");
      assert.equal(await page.getAttribute('[data-testid=pte-bits] [data-bit="D"]', "data-set"), "0");
      await page.selectOption("[data-testid=backend]", "xen");
      await page.click("[data-testid=check]");
      await page.locator("[data-testid=result] [data-testid=verdict]", { hasText: /^VERIFIED$/ }).waitFor();
      await page.close();
    } finally {
      server?.close();
    }
    assert.match(lines.join("\n"), /ptesim playground: http:\/\/127\.0\.0\.1:\d+\//);
  });

  it("the static playground opens from disk, runs in its worker and stops on demand", async () => {
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(join(ROOT, "dist/web/index.html")).href);
    await page.waitForSelector("[data-testid=yaml-errors] li.ok");
    await page.selectOption("[data-testid=backend]", "native");
    await page.click("[data-testid=run]");
    await page.waitForSelector("[data-testid=result] [data-testid=verdict]");
    assert.equal(await page.textContent("[data-testid=result] [data-testid=verdict]"), "OK");
    // The arch picker: x86-64 here; arm64 once this build's kernel runs it (the scenario's arch: key).
    assert.equal(await page.inputValue("[data-testid=arch]"), "x86-64");
    assert.match((await page.textContent("[data-testid=result]")) ?? "", /x86-64, 3 CPUs/);
    const arm64 = page.locator('[data-testid=arch] option[value="arm64"]');
    if (await arm64.isDisabled())
      assert.match((await arm64.textContent()) ?? "", /not run by this build's kernel yet/);
    else {
      await page.selectOption("[data-testid=arch]", "arm64");
      assert.match((await page.textContent("[data-testid=editor]")) ?? "", /arch: arm64/);
      await page.click("[data-testid=run]");
      await page.locator("[data-testid=result]", { hasText: /arm64, 3 CPUs/ }).waitFor();
      await page.selectOption("[data-testid=arch]", "x86-64");
    }
    // A long exhaustive check, stopped: the page says so and is usable again.
    await page.selectOption("#example", { index: 3 });
    await page.selectOption("#mode", "exhaustive");
    await page.click("[data-testid=check]");
    await page.waitForSelector("[data-testid=stop]:not([disabled])");
    await page.click("[data-testid=stop]");
    assert.equal(await page.textContent("[data-testid=progress]"), "Stopped.");
    assert.equal(await page.isDisabled("[data-testid=check]"), false);
    await page.close();
  });

  it("playground: a user backend module runs in the worker; its mistakes and hangs are reported, never hang the page", async () => {
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(join(ROOT, "dist/web/index.html")).href);
    await page.waitForSelector("[data-testid=yaml-errors] li.ok");
    await page.selectOption("[data-testid=backend]", "module:");
    const example = readFileSync(join(ROOT, "examples/my-backend.mjs"), "utf8");
    const setModule = async (text: string) => {
      await page.click("[data-testid=module-editor] .cm-content");
      await page.keyboard.press("Control+A");
      await page.keyboard.insertText(text);
    };
    const verdict = "[data-testid=result] [data-testid=verdict]";
    const check = async () => {
      await page.click("[data-testid=check]");
      await page.waitForSelector(`${verdict}, [data-testid=failure]`);
    };
    // The example as shipped: VERIFIED, as `ptesim check --backend ./examples/my-backend.mjs` says.
    await check();
    assert.equal(await page.textContent(verdict), "VERIFIED");
    // Broken (commit forgets the A/D bits seen): VIOLATED, with the CLI's replay token for that module.
    const broken = example.replace("const want = setLow(pte, seen & A_D);", "const want = pte;");
    assert.notEqual(broken, example);
    await setModule(broken);
    await check();
    assert.equal(await page.textContent(verdict), "VIOLATED");
    writeFileSync(join(dir, "my-backend.mjs"), broken);
    writeFileSync(join(dir, "scenario.yaml"), "");
    const cli = JSON.parse(ptesimIn(dir, "check", "--backend", "./my-backend.mjs", "--json").out) as {
      replay: string;
    };
    assert.equal(
      await page.textContent("[data-testid=result] [data-testid=reproduce]"),
      `ptesim run scenario.yaml --backend ./my-backend.mjs --seed 1 --replay ${cli.replay}`,
    );
    // The result's link opens the playground on the same module and replays that interleaving.
    const href = await page.getAttribute("[data-testid=result] [data-testid=permalink]", "href");
    assert.ok(href?.includes("#s="), "a link");
    const linked = await ctx.newPage();
    await linked.goto(href!);
    await linked.waitForSelector(verdict);
    assert.equal(await linked.textContent(verdict), "VIOLATED");
    assert.equal(
      await linked.textContent("[data-testid=result] [data-testid=reproduce]"),
      `ptesim run scenario.yaml --backend ./my-backend.mjs --seed 1 --replay ${cli.replay}`,
    );
    const replayed = JSON.parse(
      ptesimIn(dir, "run", "builtin:check", "--backend", "./my-backend.mjs", "--replay", cli.replay, "--json")
        .out,
    ) as { timeline: Ev[] };
    const drop = replayed.timeline.find((e) => e.note?.startsWith("drops"));
    assert.ok(drop?.afterHex);
    await linked.click("[data-testid=goto-violation]");
    assert.equal(await linked.getAttribute("[data-testid=pte-bits]", "data-pte"), drop.afterHex);
    // A damaged token is the user's mistake, said so.
    await linked.fill("[data-testid=replay]", `${cli.replay}AAAB`);
    await linked.click("[data-testid=run]");
    await linked.waitForSelector("[data-testid=failure]");
    assert.match(
      (await linked.textContent("[data-testid=failure]")) ?? "",
      /^Replay token: bad replay token/,
    );
    await linked.close();
    // Mistakes are the module's, named as the CLI names them.
    const cases: [string, RegExp][] = [
      [
        example.replace("return ctx.read(ptep);", 'throw new Error("oops");'),
        /^Your module: backend \.\/my-backend\.mjs: ptep_modify_prot_start threw: .*oops/,
      ],
      [
        example.replace("return ctx.read(ptep);", "for (;;) {}"),
        /ptep_modify_prot_start did not return within 3 s/,
      ],
      [`for (;;) {}\n${example}`, /loading the module did not return within 3 s/],
      [
        example.replace("create(ctx) {", "create(ctx) {{"),
        /my-backend\.mjs.*: the module does not load: SyntaxError/,
      ],
      [`import x from "./other.mjs";\n${example}`, /self-contained module, and this one imports another/],
      ['export default { name: "x" };', /the exported backend's "create" must be a function/],
    ];
    for (const [text, want] of cases) {
      await setModule(text);
      await check();
      assert.match((await page.textContent("[data-testid=failure]")) ?? "", want);
      assert.equal(await page.isDisabled("[data-testid=check]"), false, "the page is usable again");
    }
    await page.close();
  });

  it("no page raised an uncaught error", () => {
    assert.deepEqual(errors, []);
  });
});
