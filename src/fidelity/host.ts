// What the tests against the real kernel need from the host, and what they do without it: skip
// with a one-line reason on a developer's machine, fail when PTESIM_REQUIRE_HOST_TESTS=1 (set by
// .ci/run, so CI can never skip them).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { release } from "node:os";
import { it } from "node:test";

/** cc: a C compiler; linux-6.16: the anon_vma merge rule of 6.16+; thp-not-always: no surprise huge pages. */
export type HostNeed = "cc" | "linux-6.16" | "thp-not-always";

export interface Host {
  platform: string;
  release: string;
  /** The contents of /sys/kernel/mm/transparent_hugepage/enabled (throws if absent). */
  thp: () => string;
  /** Whether `cc` runs. */
  cc: () => boolean;
}

export const THIS_HOST: Host = {
  platform: process.platform,
  release: release(),
  thp: () => readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"),
  cc: () => spawnSync("cc", ["--version"], { stdio: "ignore" }).status === 0,
};

/** What the host lacks of `need` (said as the need: "a C compiler ..."), or null if it has it. */
export function hostLacks(need: HostNeed, host: Host = THIS_HOST): string | null {
  switch (need) {
    case "cc":
      return host.cc() ? null : "a C compiler (`cc`; apt-get install gcc libc6-dev)";
    case "linux-6.16": {
      if (host.platform !== "linux") return `a Linux kernel (this is ${host.platform})`;
      const m = /^(\d+)\.(\d+)/.exec(host.release);
      const ok = m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 16));
      return ok ? null : `Linux 6.16 or later (this is ${host.release})`;
    }
    case "thp-not-always": {
      let mode: string;
      try {
        mode = /\[(\w+)\]/.exec(host.thp())?.[1] ?? "unknown";
      } catch {
        return null; // no THP at all
      }
      return mode === "always" ? 'transparent huge pages not set to "always" (they are)' : null;
    }
  }
}

export const REQUIRE_HOST_TESTS = "PTESIM_REQUIRE_HOST_TESTS";

/**
 * A test that runs only on a host with `needs`: elsewhere it is skipped with the reason, unless
 * PTESIM_REQUIRE_HOST_TESTS=1, where a missing need is a failure.
 */
export function hostIt(
  name: string,
  needs: HostNeed[],
  fn: () => void | Promise<void>,
  host: Host = THIS_HOST,
): void {
  const missing = needs.map((n) => hostLacks(n, host)).filter((r): r is string => r !== null);
  const required = process.env[REQUIRE_HOST_TESTS] === "1";
  if (missing.length === 0) {
    it(name, fn);
    return;
  }
  if (required)
    it(name, () => {
      throw new Error(`${REQUIRE_HOST_TESTS}=1 and the host lacks ${missing.join("; ")}`);
    });
  else it(name, { skip: `needs ${missing.join("; ")}` }, fn);
}
