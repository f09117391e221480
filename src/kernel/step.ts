// The execution model's one idea: a kernel path is written once, as a generator that yields a
// scheduling point before each step another CPU could observe or be blocked by (a PTE memory
// operation, a lock, a TLB flush, a backend operation, syscall entry and exit).
//
//   export function* handle_pte_fault(k: Kernel, cpu: number, ...): KStep<number> {
//     yield at(STEP.PTE_READ, ptep);            // the point ...
//     const entry = k.machine.pteRead(cpu, ptep); // ... then the step, executed when resumed
//     ...
//     return yield* do_anonymous_page(k, cpu, ...); // another path
//   }
//
// The scheduler (src/sim/cpus.ts) runs every CPU's path as such a generator: between two points
// a path runs alone, so any CPU can be inside a kernel path and every path interleaves at each
// point with every other CPU's kernel and hardware steps. A CPU whose pending point is a lock
// another CPU holds is simply not enabled (no spinning states).
//
// The fast path (the 1 GiB benchmark, `replay`, setup) must not pay for generators: for every
// source file with a line starting `// @kernel-paths`, scripts/gen-fast.mjs emits a plain twin `*.fast.ts`
// with the points removed, `yield*` dropped and `function*` made `function` (KStep<T> -> T).
// One source, two compilations: no loop is written twice.
//
// Rules for a paths module: start a line with that comment; keep only paths (and small
// helpers) in it; write points as statements of their own, `yield at(kind, arg);`, whose
// operand is pure (the twin drops it); type paths as KStep<T>; call paths in other paths
// modules through their `./x.js` import (the twin rewrites it to `./x.fast.js`).
import { STEP } from "../machine/machine.js";

/** A kernel path: yields encoded points (see `at`), returns T. Its fast twin returns T directly. */
export type KStep<T = void> = Generator<number, T, void>;

/**
 * The scheduling point before a step of `kind` (STEP.*) on `arg`: the PTE slot of a PTE memory
 * operation or PTE lock, the CPU a flush targets, the mm of an mmap_lock operation, else -1.
 * Encoded in one number (no allocation per point).
 */
export function at(kind: number, arg: number): number {
  return (arg + 1) * 16 + kind;
}

/** The STEP kind of an encoded point. */
export function pointKind(p: number): number {
  return p % 16;
}

/** The argument of an encoded point. */
export function pointArg(p: number): number {
  return Math.floor(p / 16) - 1;
}

/** Drive a path to completion with no scheduler (tests; the fast path uses the twin instead). */
export function runToEnd<T>(g: KStep<T>): T {
  for (;;) {
    const r = g.next();
    if (r.done === true) return r.value;
  }
}

export { STEP };
