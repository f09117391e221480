// `ptesim view [--port N]`: serves the playground (dist/web/index.html, built by
// `npm run build:web`) on 127.0.0.1 until interrupted. The page is self-contained, so the server
// only hands it out; the simulation runs in the browser.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { PtesimError } from "./errors.js";
import type { Out } from "./report.js";

export const DEFAULT_VIEW_PORT = 8737;

export function playgroundHtml(): string {
  try {
    return readFileSync(new URL("../web/index.html", import.meta.url), "utf8");
  } catch {
    throw new PtesimError(
      "io",
      "the playground is not built (dist/web/index.html missing): run 'npm run build:web' once, then try again",
    );
  }
}

/** Start serving; resolves once listening (port 0: any free port) with the server and its URL. */
export function startView(port: number, io: Out): Promise<{ server: Server; url: string }> {
  const page = playgroundHtml();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/" || path === "/index.html") {
      res.writeHead(200, {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy":
          "default-src 'none'; script-src 'unsafe-inline' blob:; worker-src blob:; style-src 'unsafe-inline'; img-src data:",
      });
      res.end(req.method === "HEAD" ? undefined : page);
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new PtesimError(
          "usage",
          e.code === "EADDRINUSE"
            ? `port ${port} on 127.0.0.1 is in use: pick another with --port N`
            : `cannot listen on 127.0.0.1:${port} (${e.code ?? e.message})`,
        ),
      ),
    );
    server.listen(port, "127.0.0.1", () => {
      const addr = server.address();
      const url = `http://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : port}/`;
      io.out(`ptesim playground: ${url}  (Ctrl-C stops it)`);
      resolve({ server, url });
    });
  });
}
