// Differential test of AddressSpace.brk and AddressSpace.mremap (src/kernel/vma.ts) against the
// real kernel, in the manner of differential.ts: remapops.c performs seeded random sequences of
// anonymous mmap / munmap / mprotect / touch / brk / mremap calls in a guarded window and in the
// program-break area and prints every call, its result and the areas' /proc/self/maps lines; the
// same calls are replayed through an AddressSpace built from the process's real layout and
// compared call by call (result, and each area line's start, end, permissions and name, so the
// [heap] label too). An mremap move that Linux placed itself (no MREMAP_FIXED) is placed where
// Linux put it (placeAt): the decision to move is the model's, the spot is the kernel's.
//
// I/O edge: compiles and runs a C program.
import { spawnSync } from "node:child_process";
import { errnoName } from "../kernel/errno.js";
import { MREMAP_FIXED } from "../kernel/mman.js";
import type { AddressSpace } from "../kernel/vma.js";
import { compileC, cSource } from "./compile.js";
import { addressSpaceFromMaps, parseMapsLine } from "./differential.js";

export interface RemapDivergence {
  seed: number;
  call: string;
  reason: string;
  linux: string[];
  model: string[];
}

export interface RemapReport {
  sequences: number;
  calls: number;
  /** Outcome counts such as "mremap ok", "brk fail", "mremap EFAULT". */
  outcomes: Record<string, number>;
  divergences: RemapDivergence[];
}

export function compileRemapops(): string {
  return compileC(cSource(import.meta.url, "fidelity", "remapops.c"), "remap differential");
}

const h = (s: string): number => Number.parseInt(s, 16);

function result(s: string): number {
  return s.startsWith("-") ? -Number(s.slice(1)) : h(s);
}

function fmt(v: number): string {
  return v < 0 ? `-${errnoName(-v)}` : `0x${v.toString(16)}`;
}

/** "start-end perms name" of the lines intersecting the areas. */
function areaLines(lines: string[], inAreas: (s: number, e: number) => boolean): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const m = parseMapsLine(l);
    if (inAreas(m.start, m.end))
      out.push(`${m.start.toString(16)}-${m.end.toString(16)} ${m.perms} ${m.name}`);
  }
  return out;
}

function modelLines(as: AddressSpace): string[] {
  return as
    .toMaps()
    .split("\n")
    .filter((l) => l !== "");
}

/** Runs seeds [from, from + seeds) of `calls` calls each and compares. */
export function runRemapDifferential(opts: {
  seeds: number;
  calls: number;
  from?: number;
  stopAtFirst?: boolean;
}): RemapReport {
  const bin = compileRemapops();
  const from = opts.from ?? 0;
  const rep: RemapReport = { sequences: 0, calls: 0, outcomes: {}, divergences: [] };
  const perRun = 50;
  for (let s = from; s < from + opts.seeds; s += perRun) {
    const n = Math.min(perRun, from + opts.seeds - s);
    const r = spawnSync(bin, [String(s), String(n), String(opts.calls)], {
      encoding: "utf8",
      maxBuffer: 1 << 30,
    });
    if (r.status !== 0)
      throw new Error(`remapops ${s} ${n} ${opts.calls} failed: ${r.stdout.slice(-300)} ${r.stderr}`);
    compare(r.stdout, rep, opts.stopAtFirst ?? true);
    if (rep.divergences.length > 0 && (opts.stopAtFirst ?? true)) break;
  }
  return rep;
}

function compare(output: string, rep: RemapReport, stopAtFirst: boolean): void {
  const lines = output.split("\n");
  let i = 0;
  while (i < lines.length) {
    if (!lines[i].startsWith("S ")) {
      i++;
      continue;
    }
    const seed = Number(lines[i].slice(2));
    i++;
    const full: string[] = [];
    while (lines[i].startsWith("M ")) full.push(lines[i++].slice(2));
    const [ws, we, sb, brk, he, minAddr] = lines[i++].slice(2).split(" ").map(h);
    const inAreas = (s: number, e: number) => (e > ws && s < we) || (e > sb && s < he);
    const as = addressSpaceFromMaps(full.map(parseMapsLine), minAddr);
    as.setBrk(sb, brk);
    rep.sequences++;
    let diverged = false;
    while (i < lines.length && lines[i].startsWith("C ")) {
      const callText = lines[i++].slice(2);
      const win: string[] = [];
      while (i < lines.length && lines[i].startsWith("W ")) win.push(lines[i++].slice(2));
      if (diverged) continue;
      rep.calls++;
      const [, op, ...rest] = callText.split(" ");
      const eq = rest.indexOf("=");
      const args = rest.slice(0, eq).map(h);
      const real = result(rest[eq + 1]);
      let got: number;
      switch (op) {
        case "mmap": {
          const r = as.mmap(args[0], args[1], args[2], args[3]);
          got = r.ok ? r.addr : -r.errno;
          break;
        }
        case "munmap":
          got = -as.munmap(args[0], args[1]).errno;
          break;
        case "mprotect":
          got = -as.mprotect(args[0], args[1], args[2]).errno;
          break;
        case "touch":
          if (real === 0) as.setAnonVma(args[0]);
          got = real;
          break;
        case "brk":
          got = as.brk(args[0]).ret;
          break;
        case "mremap": {
          const [addr, oldLen, newLen, flags, newAddr] = args;
          const placeAt = real >= 0 && real !== addr && !(flags & MREMAP_FIXED) ? real : undefined;
          got = as.mremap(addr, oldLen, newLen, flags, newAddr, placeAt).ret;
          break;
        }
        default:
          throw new Error(`remap differential: unknown op ${op}`);
      }
      const key = `${op} ${real >= 0 ? (op === "brk" && real !== args[0] ? "fail" : "ok") : errnoName(-real)}`;
      rep.outcomes[key] = (rep.outcomes[key] ?? 0) + 1;
      const linux = areaLines(win, inAreas);
      const model = areaLines(modelLines(as), inAreas);
      let reason = "";
      if (got !== real && !(real === 0 && got === 0))
        reason = `result: Linux ${fmt(real)}, model ${fmt(got)}`;
      else if (linux.join("\n") !== model.join("\n")) reason = "the areas' VMAs differ";
      if (reason !== "") {
        rep.divergences.push({ seed, call: callText, reason, linux, model });
        diverged = true;
        if (stopAtFirst) return;
      }
    }
    // End of sequence: the whole address space.
    const fin: string[] = [];
    while (i < lines.length && lines[i].startsWith("F ")) fin.push(lines[i++].slice(2));
    if (!diverged) {
      const all = () => true;
      const linux = areaLines(fin, all).filter((l) => !l.includes("[vsyscall]") && !l.includes("[stack]"));
      const model = areaLines(modelLines(as), all).filter((l) => !l.includes("[stack]"));
      if (linux.join("\n") !== model.join("\n")) {
        rep.divergences.push({
          seed,
          call: "(end of sequence)",
          reason: "the address spaces differ",
          linux,
          model,
        });
        if (stopAtFirst) return;
      }
    }
  }
}

export function formatRemapDivergence(d: RemapDivergence): string {
  const lines = [`seed ${d.seed}: ${d.call}: ${d.reason}`, "  Linux:"];
  for (const l of d.linux) lines.push(`    ${l}`);
  lines.push("  model:");
  for (const l of d.model) lines.push(`    ${l}`);
  return lines.join("\n");
}
