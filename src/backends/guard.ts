// User backends run behind a guard: their mistakes are reported as theirs (BackendError naming
// the module, the operation and what was wrong), never as a ptesim bug or as a verdict.
//   - an operation that throws, or returns a value that is not what the interface promises
//     (a PTE value, a boolean for ptep_test_and_clear_young);
//   - a primitive called with a slot that is not a page-table entry, or a value that is not a
//     PTE (a pte_t is an integer in [0, 2^44): bits 0-31, then bits 52-63 packed at 32-43);
//   - an operation that does not return within a budget of steps (a retry loop that never
//     ends): each primitive and hypervisor call is one step;
//   - an exception of the simulator's own (the checker's scheduling, a contract breach raised
//     in a primitive) swallowed by the module's code.
// Regions (VMAs) reach the module as frozen copies: it cannot corrupt the kernel's.
// Built-in backends are not guarded (the hot path stays as it is). Pure: no I/O.

import type { BackendContext, BackendModule, PvMmuOps } from "../kernel/pvops.js";
import type { Vma } from "../kernel/vma.js";
import type { ptep_t } from "../machine/physmem.js";
import type { pte_t } from "../machine/pte.js";

/** Steps (primitive or hypervisor calls) one backend operation may take (default). */
export const DEFAULT_OPERATION_STEP_BUDGET = 10_000;

/** A user backend did something wrong. */
export class BackendError extends Error {
  constructor(
    /** The module (its path, or the backend's name). */
    readonly module: string,
    /** The operation, e.g. "ptep_modify_prot_commit". */
    readonly operation: string,
    /** What was wrong. */
    readonly problem: string,
  ) {
    super(`backend ${module}: ${operation} ${problem}`);
    this.name = "BackendError";
  }
}

/** Packed PTE values stay below 2^44 on x86-64 (12 high bits at 32..43), 2^48 on arm64 (16). */
const PTE_LIMIT = 2 ** 44;
const ARM64_PTE_LIMIT = 2 ** 48;

/** Whether `v` is a pte_t value (see the header); `limit` 2^48 for arm64's packing. */
export function isPteValue(v: unknown, limit = PTE_LIMIT): v is pte_t {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < limit;
}

function describe(v: unknown): string {
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  if (v === null || v === undefined) return String(v);
  if (typeof v === "bigint") return `the bigint ${v}n (a pte_t is a number)`;
  return `a${typeof v === "object" ? "n object" : ` ${typeof v}`}`;
}

const OPS_RETURNING_PTE = new Set(["ptep_modify_prot_start", "modify_prot_start_ptes", "ptep_get_and_clear"]);
const OPS_RETURNING_BOOL = new Set(["ptep_test_and_clear_young", "ptep_set_access_flags"]);
const REQUIRED_OPS = [
  "ptep_modify_prot_start",
  "ptep_modify_prot_commit",
  "set_pte_at",
  "ptep_get_and_clear",
  "ptep_test_and_clear_young",
  "arch_enter_lazy_mmu_mode",
  "arch_leave_lazy_mmu_mode",
  "arch_flush_lazy_mmu_mode",
  "flush_tlb_multi",
] as const;
const OPTIONAL_OPS = [
  "set_ptes",
  "ptep_set_access_flags",
  "modify_prot_start_ptes",
  "modify_prot_commit_ptes",
  "context_switch",
  "stateKey",
] as const;

export interface GuardOptions {
  /** Steps one operation may take before it is a BackendError (default 10,000). */
  stepBudget?: number;
  /**
   * Told when the module's code is entered and left (outermost calls only): a watchdog outside
   * this thread can then stop code that never returns without calling a primitive.
   */
  watch?: UserCodeWatch;
}

export interface UserCodeWatch {
  enter(module: string, operation: string): void;
  leave(): void;
}

/** The state shared by one guarded instance's operations and context. */
class Guard {
  /** The operation running now ("" between operations), and its steps so far. */
  op = "";
  steps = 0;
  /** An exception of the simulator's that passed through the module's code, if any. */
  inFlight: unknown = null;
  constructor(
    readonly module: string,
    readonly budget: number,
  ) {}
  fail(problem: string, op = this.op || "create"): never {
    throw new BackendError(this.module, op, problem);
  }
  step(): void {
    if (++this.steps > this.budget)
      this.fail(`did not return within ${this.budget} steps (a retry loop that never ends?)`);
  }
  /** Run a simulator call made by the module's code, remembering what it throws. */
  through<T>(f: () => T): T {
    try {
      this.step();
      return f();
    } catch (e) {
      this.inFlight = e;
      throw e;
    }
  }
}

function guardedContext(g: Guard, ctx: BackendContext, validPtep: (p: number) => boolean): BackendContext {
  const limit = ctx.arm64 === undefined ? PTE_LIMIT : ARM64_PTE_LIMIT;
  const a = ctx.arm64;
  const slot = (what: string, p: unknown): ptep_t => {
    if (typeof p !== "number" || !validPtep(p))
      g.fail(
        `called ctx.${what} with ${describe(p)}, which is not a page-table entry (writes outside the page tables)`,
      );
    return p;
  };
  const value = (what: string, v: unknown): pte_t => {
    if (!isPteValue(v, limit)) g.fail(`called ctx.${what} with ${describe(v)}, which is not a PTE value`);
    return v;
  };
  return {
    ncpus: ctx.ncpus,
    options: ctx.options,
    currentCpu: () => ctx.currentCpu(),
    count: (c) => ctx.count(c),
    validPtep: (p) => validPtep(p),
    read: (p) => g.through(() => ctx.read(slot("read", p))),
    write: (p, v) => g.through(() => ctx.write(slot("write", p), value("write", v))),
    xchg: (p, v) => g.through(() => ctx.xchg(slot("xchg", p), value("xchg", v))),
    cmpxchg: (p, e, v) =>
      g.through(() => ctx.cmpxchg(slot("cmpxchg", p), value("cmpxchg", e), value("cmpxchg", v))),
    nativeFlushTlbMulti: (cpus, range) => g.through(() => ctx.nativeFlushTlbMulti(cpus, range)),
    ...(a === undefined
      ? {}
      : {
          arm64: {
            erratum2645198: a.erratum2645198,
            mm_tlb_flush_pending: () => a.mm_tlb_flush_pending(),
            folio_pfn: (pfn: number) => a.folio_pfn(pfn),
            folio_nr_pages: (pfn: number) => a.folio_nr_pages(pfn),
            tlbi_va: (va: number, last: boolean) => {
              if (typeof va !== "number" || !Number.isInteger(va) || va < 0)
                g.fail(`called ctx.arm64.tlbi_va with ${describe(va)}, which is not a virtual address`);
              g.through(() => a.tlbi_va(va, last === true));
            },
            tlbi_asid: () => g.through(() => a.tlbi_asid()),
            dsb: (kind: "ish" | "ishst") => {
              if (kind !== "ish" && kind !== "ishst")
                g.fail(`called ctx.arm64.dsb with ${describe(kind)}, which is not "ish" or "ishst"`);
              g.through(() => a.dsb(kind));
            },
          },
        }),
    createHypervisor: (opts) => {
      const hv = g.through(() => ctx.createHypervisor(opts));
      // Every hypervisor call is a step too, and what it throws is the simulator's.
      return new Proxy(hv, {
        get(target, key) {
          const v = Reflect.get(target, key, target);
          return typeof v === "function"
            ? (...args: unknown[]) => g.through(() => (v as (...a: unknown[]) => unknown).apply(target, args))
            : v;
        },
      });
    },
  };
}

/** A copy of a VMA the module cannot use to change the kernel's. */
function frozenVma(vma: Vma): Vma {
  return Object.freeze(Object.assign(Object.create(Object.getPrototypeOf(vma)), vma)) as Vma;
}

/**
 * `b` (loaded from `module`) behind the guard. The context's `validPtep` tells which slots are
 * page-table entries.
 */
export function guardBackend(b: BackendModule, module: string, opts: GuardOptions = {}): BackendModule {
  const budget = opts.stepBudget ?? DEFAULT_OPERATION_STEP_BUDGET;
  const watch = opts.watch;
  return {
    ...b,
    create(ctx: BackendContext): PvMmuOps {
      const g = new Guard(module, budget);
      const limit = ctx.arm64 === undefined ? PTE_LIMIT : ARM64_PTE_LIMIT;
      const valid =
        ctx.validPtep === undefined ? (p: number) => Number.isInteger(p) && p >= 0 : ctx.validPtep.bind(ctx);
      let ops: PvMmuOps | undefined;
      watch?.enter(module, "create");
      try {
        ops = b.create(guardedContext(g, ctx, valid));
      } catch (e) {
        if (e instanceof BackendError) throw e;
        g.fail(`threw: ${errorText(e)}`, "create");
      } finally {
        watch?.leave();
      }
      if (ops === null || typeof ops !== "object")
        return g.fail(`returned ${describe(ops)}, not the PvMmuOps object`, "create");
      const impl: PvMmuOps = ops;
      for (const k of REQUIRED_OPS)
        if (typeof (impl as unknown as Record<string, unknown>)[k] !== "function")
          g.fail(`returned operations without ${k}()`, "create");
      const out: Record<string, unknown> = { name: typeof impl.name === "string" ? impl.name : b.name };
      for (const k of [...REQUIRED_OPS, ...OPTIONAL_OPS]) {
        const f = (impl as unknown as Record<string, unknown>)[k];
        if (typeof f !== "function") continue;
        out[k] = (...args: unknown[]) => {
          // Nested calls (a backend calling its own operation) count against the outer one.
          const outer = g.op;
          if (outer === "") {
            g.op = k;
            g.steps = 0;
            g.inFlight = null;
            watch?.enter(module, k);
          }
          if (args.length > 0 && typeof args[0] === "object" && args[0] !== null && k.includes("modify_prot"))
            args[0] = frozenVma(args[0] as Vma);
          let r: unknown;
          try {
            r = (f as (...a: unknown[]) => unknown).apply(impl, args);
          } catch (e) {
            if (outer === "") {
              g.op = "";
              watch?.leave();
            }
            if (e instanceof BackendError || e === g.inFlight) throw e;
            throw new BackendError(module, k, `threw: ${errorText(e)}`);
          }
          if (outer === "") {
            g.op = "";
            watch?.leave();
          }
          if (g.inFlight !== null) {
            const e = g.inFlight;
            g.inFlight = null;
            if (e instanceof BackendError) throw e;
            throw new BackendError(
              module,
              k,
              `caught and ignored an exception of the simulator's (${errorText(e)}); let it propagate`,
            );
          }
          if (OPS_RETURNING_PTE.has(k) && !isPteValue(r, limit))
            throw new BackendError(module, k, `returned ${describe(r)}, which is not a PTE value`);
          if (OPS_RETURNING_BOOL.has(k) && typeof r !== "boolean")
            throw new BackendError(module, k, `returned ${describe(r)}, not a boolean`);
          if (k === "stateKey" && typeof r !== "string")
            throw new BackendError(module, k, `returned ${describe(r)}, not a string`);
          return r;
        };
      }
      return out as unknown as PvMmuOps;
    },
  };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name === "Error" ? "" : `${e.name}: `}${e.message.split("\n")[0]}`;
  return describe(e);
}
