// Builds the viewer with Vite into dist/web/:
//   report-cx.js + .css     the counterexample viewer (run, check), which `--html` inlines
//   report.js + report.css  the same with the charts (replay, bench costs; Chart.js)
//   index.html              the playground, one self-contained page (script, style and worker
//                           inlined), so it opens from disk as well as from `ptesim view`
// Both are IIFE bundles: module scripts and workers do not load from file:// pages.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/web/`;
const quiet = process.argv.includes("--quiet");

async function bundle(entry, name) {
  await build({
    configFile: false,
    root: `${root}web`,
    logLevel: quiet ? "error" : "info",
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
    worker: { format: "iife" },
    build: {
      outDir: out,
      emptyOutDir: false,
      target: "es2022",
      minify: true,
      sourcemap: false,
      reportCompressedSize: false,
      cssCodeSplit: false,
      lib: {
        entry: `${root}web/src/${entry}`,
        name: name.replace(/\W/g, "_"),
        formats: ["iife"],
        fileName: () => `${name}.js`,
        cssFileName: name,
      },
    },
  });
}

const t0 = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await bundle("report-main.ts", "report");
await bundle("report-cx-main.ts", "report-cx");
await bundle("playground-main.ts", "playground");
const js = readFileSync(`${out}playground.js`, "utf8").replace(/<\/script/gi, "<\\/script");
const css = readFileSync(`${out}playground.css`, "utf8");
const html = readFileSync(`${root}web/index.html`, "utf8")
  .replace("/*STYLE*/", () => css)
  .replace("/*SCRIPT*/", () => js);
writeFileSync(`${out}index.html`, html);
rmSync(`${out}playground.js`);
rmSync(`${out}playground.css`);
console.log(
  `web: dist/web/index.html (${html.length} bytes), dist/web/report.js in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
