// Which populate policy makes `ptesim replay` end with the VMAs Linux ends with, measured on the
// differential harness's random sequences (mmops.c): each sequence's calls are written as the
// strace log they would give (`strace -e trace=memory,desc`: the page writes mmops makes are
// not in it, as strace cannot see them), replayed with each policy, and the window's final VMA
// list (start, end, permissions) is compared with the real one. Touching a page gives its VMA an
// anon_vma, which changes later merges: the policy that guesses the accesses best wins. With the
// accesses themselves ("evidence": the page writes replayed where they happened), every sequence
// must agree.
//
// I/O edge: compiles and runs mmops.c.

import { allBackends } from "../backends/registry.js";
import { errnoName } from "../kernel/errno.js";
import { parseStrace } from "../strace/parse.js";
import { POPULATE_POLICIES, type PopulatePolicy, replay } from "../strace/replay.js";
import { compileMmops, runMmops } from "./differential.js";

export interface PolicyScore {
  policy: PopulatePolicy;
  /** Sequences whose final window VMA list differs from Linux's. */
  differing: number;
  /** Replayed calls whose outcome differs from Linux's. */
  divergences: number;
}

export interface PolicyReport {
  sequences: number;
  scores: PolicyScore[];
}

interface Sequence {
  /** As strace records it (no page accesses). */
  log: string;
  /** With the page writes as `perf trace -F` fault lines (the evidence policy's input). */
  withFaults: string;
  lo: number;
  hi: number;
  /** Linux's final VMAs in the window: "start-end perms". */
  final: string[];
}

const h = (s: string) => Number.parseInt(s, 16);

function result(r: string, isMmap: boolean): string {
  if (r.startsWith("-")) return `-1 ${errnoName(Number(r.slice(1)))} (error)`;
  return isMmap ? `0x${r}` : "0";
}

/** The sequences of an mmops transcript as strace logs. */
export function sequencesOf(transcript: string): Sequence[] {
  const out: Sequence[] = [];
  let cur: Sequence | null = null;
  let lines: string[] = [];
  let touches: string[] = [];
  for (const line of transcript.split("\n")) {
    const tag = line[0];
    const rest = line.slice(2);
    if (tag === "S") {
      lines = ['1 memfd_create("ptesim", 0) = 3', '1 openat(AT_FDCWD, "/proc/self/fd/3", O_RDONLY) = 4'];
      touches = [];
      cur = { log: "", withFaults: "", lo: 0, hi: 0, final: [] };
    } else if (cur === null) continue;
    else if (tag === "G") {
      const p = rest.split(" ");
      cur.lo = h(p[1]);
      cur.hi = h(p[2]);
    } else if (tag === "C") {
      const p = rest.split(" ");
      const r = p[p.length - 1];
      switch (p[1]) {
        case "mmap": {
          const [addr, len, prot, flags, fd, off] = p.slice(2, 8);
          const a = h(addr) === 0 ? "NULL" : `0x${addr}`;
          const f = fd === "-" ? "-1" : fd === "m" ? "3" : "4";
          lines.push(`1 mmap(${a}, ${h(len)}, 0x${prot}, 0x${flags}, ${f}, 0x${off}) = ${result(r, true)}`);
          break;
        }
        case "mprotect":
          lines.push(`1 mprotect(0x${p[2]}, ${h(p[3])}, 0x${p[4]}) = ${result(r, false)}`);
          break;
        case "munmap":
          lines.push(`1 munmap(0x${p[2]}, ${h(p[3])}) = ${result(r, false)}`);
          break;
        default:
          // touch: strace does not see it; `perf trace -F all` would show the fault.
          touches.push(`1 minfault [do_touch+0x0] => 0x${p[2]} (d.)`);
          lines.push(touches[touches.length - 1]);
      }
    } else if (tag === "F") {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(rest);
      if (m !== null && h(m[2]) > cur.lo && h(m[1]) < cur.hi) cur.final.push(`${m[1]}-${m[2]} ${m[3]}`);
    } else if (tag === "X") {
      cur.withFaults = `${lines.join("\n")}\n`;
      cur.log = `${lines.filter((l) => !l.includes("minfault")).join("\n")}\n`;
      out.push(cur);
      cur = null;
    }
  }
  return out;
}

/** Scores each populate policy over `seeds` sequences of `calls` calls from seed `from`. */
export function measurePolicies(seeds: number, calls = 60, from = 1): PolicyReport {
  const bin = compileMmops();
  const seqs = sequencesOf(runMmops(bin, from, seeds, calls, 512));
  const native = allBackends().filter((b) => b.name === "native");
  const scores: PolicyScore[] = POPULATE_POLICIES.map((policy) => {
    let differing = 0;
    let divergences = 0;
    for (const s of seqs) {
      const text = policy === "evidence" ? s.withFaults : s.log;
      const r = replay(parseStrace(text), { backends: native, populate: policy });
      const b = r.backends[0];
      divergences += b.divergenceCount;
      const model = b.spaces[0].maps
        .split("\n")
        .map((l) => /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(l))
        .filter((m) => m !== null && h(m[2]) > s.lo && h(m[1]) < s.hi)
        .map(
          (m) =>
            `${Number.parseInt(m![1], 16).toString(16)}-${Number.parseInt(m![2], 16).toString(16)} ${m![3]}`,
        );
      const real = s.final.map((x) => {
        const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(x)!;
        return `${h(m[1]).toString(16)}-${h(m[2]).toString(16)} ${m[3]}`;
      });
      if (model.length !== real.length || model.some((x, i) => x !== real[i])) differing++;
    }
    return { policy, differing, divergences };
  });
  return { sequences: seqs.length, scores };
}

// `node dist/fidelity/populate-policy.js [SEEDS] [CALLS]`: print the scores.
if (process.argv[1]?.endsWith("populate-policy.js")) {
  const seeds = Number(process.argv[2] ?? 300);
  const calls = Number(process.argv[3] ?? 60);
  const r = measurePolicies(seeds, calls);
  console.log(`${r.sequences} sequences of ${calls} calls (mmops seeds 1..${seeds}):`);
  for (const s of r.scores)
    console.log(
      `  ${s.policy.padEnd(6)} final VMA list differs in ${String(s.differing).padStart(4)}, call outcomes diverge ${s.divergences}`,
    );
}
