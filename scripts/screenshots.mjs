// Screenshots of the viewer for the README (docs/*.png), in Debian's Chromium at 1280x800:
//   npm run build && npm run build:web && node scripts/screenshots.mjs
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const { launchChromium } = await import(pathToFileURL(join(root, "dist/cli/chromium.js")).href);
const tmp = mkdtempSync(join(tmpdir(), "ptesim-shots-"));
const docs = join(root, "docs");
mkdirSync(docs, { recursive: true });
const cli = (...args) =>
  spawnSync(process.execPath, [join(root, "dist/cli/main.js"), ...args], { encoding: "utf8" });
cli("check", "--backend", "naive", "--html", join(tmp, "check.html"));
cli("check", "--backend", "xen-broken-no-preserve-ad", "--html", join(tmp, "xen.html"));
cli("bench", "costs", "--html", join(tmp, "costs.html"));
cli("bugs", "--html", join(tmp, "bugs.html"));

const ctx = await launchChromium(join(tmp, "profile"));
const page = await ctx.newPage();
async function shot(url, out, prepare, size = { width: 1280, height: 800 }) {
  await page.setViewportSize(size);
  await page.goto(url);
  if (prepare) await prepare();
  await page.waitForTimeout(200);
  await page.screenshot({ path: join(docs, out) });
  console.log(`docs/${out}`);
}
// The report at the store that loses D.
await shot(
  pathToFileURL(join(tmp, "check.html")).href,
  "report.png",
  async () => {
    await page.click("[data-testid=goto-violation]");
  },
  { width: 1280, height: 960 },
);
await shot(pathToFileURL(join(tmp, "xen.html")).href, "report-xen.png", async () => {
  await page.click("[data-testid=goto-violation]");
  await page.evaluate(() => document.querySelector(".cx")?.scrollIntoView());
});
await shot(
  pathToFileURL(join(tmp, "check.html")).href,
  "report-narrow.png",
  async () => {
    await page.click("[data-testid=goto-violation]");
  },
  { width: 420, height: 900 },
);
await shot(pathToFileURL(join(tmp, "costs.html")).href, "costs.png", null, { width: 1280, height: 900 });
// The playground after a check.
await shot(pathToFileURL(join(root, "dist/web/index.html")).href, "playground.png", async () => {
  await page.selectOption("[data-testid=backend]", "naive");
  await page.click("[data-testid=check]");
  await page.waitForSelector("[data-testid=result] [data-testid=verdict]");
});
await shot(pathToFileURL(join(root, "dist/web/index.html")).href, "playground-error.png", async () => {
  await page.click("[data-testid=editor] .cm-content");
  await page.keyboard.press("Control+End");
  await page.keyboard.type('\nprograms: [["w buf:7"]]');
  await page.waitForSelector("[data-testid=yaml-errors] li.err");
  await page.waitForSelector(".cm-lint-marker-error");
  await page.mouse.move(0, 0);
});
// The bug zoo, on the Xen entry at its violating step.
await shot(
  `${pathToFileURL(join(tmp, "bugs.html")).href}#bug=xen-no-preserve-ad`,
  "bugs.png",
  async () => {
    await page.click("[data-testid=bug-counterexample] [data-testid=goto-violation]");
  },
  { width: 1280, height: 1400 },
);
// A user module that never returns from ptep_modify_prot_start, stopped by the watchdog.
await shot(
  pathToFileURL(join(root, "dist/web/index.html")).href,
  "playground-module.png",
  async () => {
    await page.selectOption("[data-testid=backend]", "module:");
    // Replace the module with the example whose start spins.
    await page.click("[data-testid=module-editor] .cm-content");
    await page.keyboard.press("Control+A");
    const example = readFileSync(join(root, "examples/my-backend.mjs"), "utf8");
    await page.keyboard.insertText(example.replace("return ctx.read(ptep);", "for (;;) {} // never returns"));
    await page.click("[data-testid=check]");
    await page.waitForSelector("[data-testid=failure]", { timeout: 15000 });
    await page.evaluate(() => window.scrollTo(0, 0));
  },
  { width: 1280, height: 1000 },
);
await ctx.close();
rmSync(tmp, { recursive: true, force: true });
