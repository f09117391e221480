// Debian's Chromium driven by playwright-core (no browser download): for the browser tests and
// scripts/screenshots.mjs. The flags keep a headless Chromium off the (closed) network.
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** A fresh headless Chromium with its own profile directory `profile`. */
export function launchChromium(
  profile: string,
  viewport = { width: 1280, height: 800 },
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
