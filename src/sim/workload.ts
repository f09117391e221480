// The workload: what each CPU runs. A CPU's program is a list of steps: user accesses (one
// hardware step each: MMU, TLB, A/D; a fault enters the kernel's fault path on that CPU),
// reclaim's aging of a page, and kernel work (mprotect, munmap, mremap, fork, a switch to
// fork's child). Built from a scenario's `syscalls` (CPU 0) and `programs` (CPU 1..), or generated
// from its `workload` by a seeded generator.
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";
import { CLEARABLE, DESC_OPS, type DescStep, packFields } from "../arch/arm64/litmus.js";
import { MADVICE, PATH_CALLS, type PathCall } from "../kernel/paths-api.js";
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE } from "../machine/machine.js";
import { parseProt, parseStep, type Scenario } from "./scenario.js";

/** Program step kinds beyond the accesses (ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC). */
export const OP_AGE = 3;
export const OP_MPROTECT = 4;
export const OP_MUNMAP = 5;
export const OP_FORK = 6;
export const OP_CHILD = 7;
/** The kernel paths of src/kernel/paths.ts: OP_PATH + their index in PATH_CALLS. */
export const OP_PATH = 8;
/**
 * mremap(addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dest) of a whole region onto another:
 * `value` holds (dest - addr) / 4096 (a page count fits where a write keeps its value).
 */
export const OP_MREMAP = 63;

/**
 * A litmus scenario's descriptor operation (one EL1 instruction, or ptep_set_access_flags):
 * OP_DESC + its index in DESC_OPS; the step's `value` holds the packed herd fields (or clear
 * mask), its `len` the register + 1 (0: none).
 */
export const OP_DESC = 64;

/** The kernel path a step kind runs (OP_PATH + i), or undefined. */
export function pathCallOf(kind: number): PathCall | undefined {
  return kind >= OP_PATH && kind < OP_PATH + PATH_CALLS.length ? PATH_CALLS[kind - OP_PATH] : undefined;
}

/** Whether a step kind is kernel work run as a kernel path on its CPU. */
export function isKernelOp(kind: number): boolean {
  return kind === OP_MPROTECT || kind === OP_MUNMAP || kind === OP_FORK || kind >= OP_PATH;
}

/** The packed operand of a descriptor step: herd fields, or the bits a clear names (CLEARABLE order). */
function descOperand(st: DescStep): number {
  if (st.fields !== undefined) return packFields(st.fields);
  let m = 0;
  for (const b of st.clear ?? []) m |= 1 << Object.keys(CLEARABLE).indexOf(b);
  return m;
}

/** A CPU's program, compactly: 22 bytes a step, so million-step workloads stay small. */
export class Program {
  readonly addr: Float64Array;
  readonly kind: Uint8Array;
  readonly value: Int32Array;
  /** mprotect/munmap: the length in bytes; a litmus load or descriptor step: its register + 1. */
  readonly len: Float64Array;
  /** mprotect: PROT_* bits; madvise: the advice (MADV_*). */
  readonly prot: Int8Array;
  constructor(readonly length: number) {
    this.addr = new Float64Array(length);
    this.kind = new Uint8Array(length);
    this.value = new Int32Array(length);
    this.len = new Float64Array(length);
    this.prot = new Int8Array(length);
  }
  set(i: number, addr: number, kind: number, value: number, len = 0, prot = 0): void {
    this.addr[i] = addr;
    this.kind[i] = kind;
    this.value[i] = value;
    this.len[i] = len;
    this.prot[i] = prot;
  }
}

/**
 * The value a write by CPU `c` at step `i` stores: distinct across CPUs and steps, never 0 (in a
 * litmus scenario herd's 1: its conditions compare values).
 */
export function writeValue(c: number, i: number, kind: number): number {
  return kind === ACCESS_WRITE ? (c << 24) | ((i + 1) & 0xffffff) : 0;
}

export function unit(rng: RandomGenerator): number {
  return (rng.next() >>> 0) / 4294967296;
}
export function uniform(rng: RandomGenerator, n: number): number {
  return Math.floor(unit(rng) * n);
}

/**
 * Every CPU's program: CPU 0 runs the scenario's `syscalls`, CPUs 1.. the explicit `programs`
 * (which may mix accesses and kernel work) or accesses generated from `rng` by `workload`.
 */
export function buildPrograms(
  s: Scenario,
  regionAddr: ReadonlyMap<string, number>,
  rng: RandomGenerator,
): Program[] {
  const out: Program[] = [];
  const region = (name: string) => s.regions.find((r) => r.name === name)!;
  const calls = new Program(s.syscalls.length);
  s.syscalls.forEach((sc, i) => {
    // clear_refs has no region: it acts on the whole mm.
    const pages = sc.region === undefined ? 0 : (sc.pages ?? region(sc.region).pages - sc.offset);
    const addr = sc.region === undefined ? 0 : regionAddr.get(sc.region)! + sc.offset * 4096;
    if (sc.call === "mremap") {
      calls.set(i, addr, OP_MREMAP, (regionAddr.get(sc.to!)! - addr) / 4096, pages * 4096);
      return;
    }
    const kind =
      sc.call === "mprotect"
        ? OP_MPROTECT
        : sc.call === "munmap"
          ? OP_MUNMAP
          : OP_PATH + PATH_CALLS.indexOf(sc.call);
    const arg = sc.prot !== undefined ? parseProt(sc.prot) : sc.advice !== undefined ? MADVICE[sc.advice] : 0;
    calls.set(i, addr, kind, 0, pages * 4096, arg);
  });
  out.push(calls);
  if (s.programs !== undefined) {
    for (let c = 1; c < s.cpus; c++) {
      const steps = s.programs[c - 1] ?? [];
      const prog = new Program(steps.length);
      steps.forEach((text, i) => {
        const st = parseStep(text)!;
        switch (st.kind) {
          case "fork":
            prog.set(i, 0, OP_FORK, 0);
            return;
          case "child":
            prog.set(i, 0, OP_CHILD, 0);
            return;
          case "mremap": {
            const from = regionAddr.get(st.region)!;
            const to = regionAddr.get(st.to)!;
            prog.set(i, from, OP_MREMAP, (to - from) / 4096, region(st.region).pages * 4096);
            return;
          }
          case "desc":
            prog.set(
              i,
              regionAddr.get(st.region)! + st.page * 4096,
              OP_DESC + DESC_OPS.indexOf(st.op),
              descOperand(st),
              st.reg === undefined ? 0 : st.reg + 1,
            );
            return;
          case "path": {
            const pages = st.region === undefined ? 0 : (st.pages ?? region(st.region).pages - st.offset);
            const addr = st.region === undefined ? 0 : regionAddr.get(st.region)! + st.offset * 4096;
            const arg = st.advice === undefined ? 0 : MADVICE[st.advice];
            prog.set(i, addr, OP_PATH + PATH_CALLS.indexOf(st.call), 0, pages * 4096, arg);
            return;
          }
          case "mprotect":
          case "munmap": {
            const pages = st.pages ?? region(st.region).pages - st.offset;
            const addr = regionAddr.get(st.region)! + st.offset * 4096;
            const prot = st.prot === undefined ? 0 : parseProt(st.prot);
            prog.set(i, addr, st.kind === "mprotect" ? OP_MPROTECT : OP_MUNMAP, 0, pages * 4096, prot);
            return;
          }
          default: {
            const kind =
              st.kind === "w"
                ? ACCESS_WRITE
                : st.kind === "x"
                  ? ACCESS_EXEC
                  : st.kind === "age"
                    ? OP_AGE
                    : ACCESS_READ;
            const value = s.litmus !== undefined && kind === ACCESS_WRITE ? 1 : writeValue(c, i, kind);
            prog.set(
              i,
              regionAddr.get(st.region)! + st.page * 4096,
              kind,
              value,
              st.reg === undefined ? 0 : st.reg + 1,
            );
          }
        }
      });
      out.push(prog);
    }
    return out;
  }
  const names = s.workload.regions ?? s.regions.map((r) => r.name);
  const pages: number[] = [];
  for (const n of names) {
    const base = regionAddr.get(n)!;
    for (let i = 0; i < region(n).pages; i++) pages.push(base + i * 4096);
  }
  for (let c = 1; c < s.cpus; c++) {
    const prog = new Program(s.workload.accesses);
    for (let i = 0; i < s.workload.accesses; i++) {
      const addr = pages[uniform(rng, pages.length)];
      const kind = unit(rng) < s.workload.writeRatio ? ACCESS_WRITE : ACCESS_READ;
      prog.set(i, addr, kind, writeValue(c, i, kind));
    }
    out.push(prog);
  }
  return out;
}
