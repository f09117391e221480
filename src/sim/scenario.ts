// Scenarios: what to simulate. The schema is the single source of truth for the YAML format,
// the defaults and the error messages (see src/scenario/load.ts for file:line:col reporting).
import { z } from "zod";
import {
  condNames,
  type DescStep,
  isCondError,
  type LitmusVerdict,
  parseCond,
  parseDescStep,
  parseHerdFields,
} from "../arch/arm64/litmus.js";
import { ARCH_HELPER_VARIANT_INFO, ARCH_HELPER_VARIANTS, archMm } from "../arch/registry.js";
import type { ArchMm } from "../arch/types.js";
import { KERNEL_MUTANTS } from "../kernel/kernel.js";
import { type AdviceName, MADVICE, PATH_CALLS, type PathCall } from "../kernel/paths-api.js";
import { CostsSchema } from "./costs.js";

const PROT_RE = /^(none|[rwx]{1,3})$/;

/** "rw", "r", "rwx", "x", "none" -> PROT_* bits. */
export function parseProt(s: string): number {
  if (s === "none") return 0;
  let p = 0;
  for (const ch of s) p |= ch === "r" ? 1 : ch === "w" ? 2 : 4;
  return p;
}
export function protToString(p: number): string {
  if (p === 0) return "none";
  return `${p & 1 ? "r" : ""}${p & 2 ? "w" : ""}${p & 4 ? "x" : ""}`;
}

const prot = z
  .string()
  .regex(PROT_RE, 'a protection is "none" or letters from "rwx", e.g. "rw"')
  .refine((s) => s === "none" || new Set(s).size === s.length, "a protection letter appears twice");

const ident = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "a name is letters, digits, '_' or '-'");

export const RegionSchema = z.strictObject({
  name: ident,
  pages: z.number().int().min(1).max(262144),
  prot: prot.default("rw"),
  shared: z.boolean().default(false),
  /** How pages are first touched before the syscalls: by a write, a read, or not at all. */
  populate: z.enum(["write", "read", "none"]).default("write"),
  /**
   * Place the region at an address aligned to this size (e.g. "64K"), as a program does for an
   * aligned buffer: map `pages` plus the alignment, then unmap the slack before and after.
   */
  align: z.string().optional(),
});

const SIZE_RE = /^(\d+)(K|KB|kB|KiB|M|MB|MiB)$/;

/**
 * A size as "64K", "64kB" (the hugepages-64kB spelling) or "1M": its page order (64K -> 4),
 * or a message saying what is wrong. `what` names the setting in messages.
 */
export function sizeOrder(text: string, what: string): number | string {
  const m = SIZE_RE.exec(text);
  if (m === null) return `${what} "${text}" is not a size: write e.g. 64K (as in hugepages-64kB) or 1M`;
  const bytes = Number(m[1]) * (m[2].startsWith("K") || m[2] === "kB" ? 1024 : 1024 * 1024);
  const pages = bytes / 4096;
  if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0)
    return `${what} ${text} is not a power-of-two number of 4 KiB pages (4K, 8K, 16K, ..., 1M)`;
  return Math.log2(pages);
}

/** A region's alignment in bytes (4096 when it names none; validated by crossCheck). */
export function regionAlign(r: Region): number {
  const o = r.align === undefined ? 0 : sizeOrder(r.align, "");
  return typeof o === "number" ? 4096 * 2 ** o : 4096;
}

/** The orders of `kernel.mthp` (validated by crossCheck), highest first. */
export function mthpOrders(s: Scenario): number[] {
  const m = s.kernel.mthp;
  if (m === undefined) return [];
  const list = typeof m === "string" ? [m] : m;
  return list.map((t) => sizeOrder(t, "")).filter((o): o is number => typeof o === "number");
}

export const SyscallSchema = z.strictObject({
  /**
   * mprotect, munmap, mremap (the whole region onto region `to`), madvise, or kernel work: clear_refs (soft-dirty, whole mm), writeback and
   * reclaim (page by page), change_prot_numa (NUMA hinting entries).
   */
  call: z.enum(["mprotect", "munmap", "mremap", ...PATH_CALLS]),
  /** The region acted on (every call but clear_refs). */
  region: ident.optional(),
  /** First page within the region. */
  offset: z.number().int().min(0).default(0),
  /** Number of pages; default: to the end of the region. */
  pages: z.number().int().min(0).optional(),
  /** mprotect only. */
  prot: prot.optional(),
  /** mremap only: the region the whole region moves onto (MREMAP_MAYMOVE | MREMAP_FIXED). */
  to: ident.optional(),
  /** madvise only: MADV_DONTNEED or MADV_FREE. */
  advice: z.enum(Object.keys(MADVICE) as [AdviceName, ...AdviceName[]]).optional(),
});

/** An access; a litmus scenario's load may name the register it loads into ("r x:0 -> X2"). */
const ACCESS_RE = /^([rwx]|age) ([A-Za-z_][A-Za-z0-9_-]*):(\d+)(?: -> X(\d+))?$/;
/** "mprotect heap r", "mprotect heap:2 none", "mprotect heap:1+3 rw", "munmap heap:0+2", "fork", "child". */
const CALL_RE = /^(mprotect|munmap) ([A-Za-z_][A-Za-z0-9_-]*)(?::(\d+)(?:\+(\d+))?)?(?: (none|[rwx]{1,3}))?$/;
const BARE_RE = /^(fork|child|clear_refs)$/;
/** "mremap src dst": move region src onto region dst (MREMAP_MAYMOVE | MREMAP_FIXED). */
const MREMAP_RE = /^mremap ([A-Za-z_][A-Za-z0-9_-]*) ([A-Za-z_][A-Za-z0-9_-]*)$/;
/** "madvise heap free", "writeback buf:0", "reclaim buf", "change_prot_numa heap:1+2". */
const PATH_RE =
  /^(madvise|writeback|reclaim|change_prot_numa) ([A-Za-z_][A-Za-z0-9_-]*)(?::(\d+)(?:\+(\d+))?)?(?: (dontneed|free))?$/;

/**
 * "w shared:3" -> a write to page 3 of region "shared". "age shared:3" is not an access but a
 * software updater on that CPU: reclaim's ptep_clear_flush_young under the PTE lock (no
 * mmap_lock), which can run between the kernel's PTE-lock sections.
 */
export function parseAccess(
  s: string,
): { kind: "r" | "w" | "x" | "age"; region: string; page: number; reg?: number } | undefined {
  const m = ACCESS_RE.exec(s);
  if (m === null) return undefined;
  return {
    kind: m[1] as "r" | "w" | "x" | "age",
    region: m[2],
    page: Number(m[3]),
    ...(m[4] === undefined ? {} : { reg: Number(m[4]) }),
  };
}

/** One step of a CPU's program: an access (or age), a syscall, fork, or a switch to fork's child. */
export type ProgramStep =
  | { kind: "r" | "w" | "x" | "age"; region: string; page: number; reg?: number }
  /** A litmus scenario's EL1 operation on a descriptor (src/arch/arm64/litmus.ts). */
  | DescStep
  | { kind: "mprotect" | "munmap"; region: string; offset: number; pages: number | undefined; prot?: string }
  | { kind: "fork" | "child" }
  /** mremap of the whole region onto region `to` (which it replaces: MREMAP_FIXED). */
  | { kind: "mremap"; region: string; to: string }
  /** A kernel path of src/kernel/paths.ts (clear_refs has no region). */
  | {
      kind: "path";
      call: PathCall;
      region?: string;
      offset: number;
      pages: number | undefined;
      advice?: AdviceName;
    };

/**
 * A program step from its text: an access ("w heap:0"), "mprotect REGION[:PAGE[+N]] PROT"
 * (PAGE alone: that one page; no PAGE: the whole region), "munmap REGION[:PAGE[+N]]",
 * "mremap REGION DEST" (the whole region moved onto region DEST, which it replaces), "fork"
 * (the CPU's mm is copied into a child's, COW) or "child" (the CPU switches to the child of the
 * last fork, waiting until there is one).
 */
export function parseStep(s: string): ProgramStep | undefined {
  const a = parseAccess(s);
  if (a !== undefined) return a;
  const d = parseDescStep(s);
  if (d !== undefined) return typeof d === "string" ? undefined : d;
  const c = CALL_RE.exec(s);
  if (c !== null) {
    const offset = c[3] === undefined ? 0 : Number(c[3]);
    const pages = c[4] !== undefined ? Number(c[4]) : c[3] !== undefined ? 1 : undefined;
    const kind = c[1] as "mprotect" | "munmap";
    return { kind, region: c[2], offset, pages, ...(c[5] === undefined ? {} : { prot: c[5] }) };
  }
  const r = MREMAP_RE.exec(s);
  if (r !== null) return { kind: "mremap", region: r[1], to: r[2] };
  const b = BARE_RE.exec(s);
  if (b !== null)
    return b[1] === "clear_refs"
      ? { kind: "path", call: "clear_refs", offset: 0, pages: undefined }
      : { kind: b[1] as "fork" | "child" };
  const p = PATH_RE.exec(s);
  if (p === null || (p[1] === "madvise") !== (p[5] !== undefined)) return undefined;
  return {
    kind: "path",
    call: p[1] as PathCall,
    region: p[2],
    offset: p[3] === undefined ? 0 : Number(p[3]),
    pages: p[4] !== undefined ? Number(p[4]) : p[3] !== undefined ? 1 : undefined,
    ...(p[5] === undefined ? {} : { advice: p[5] as AdviceName }),
  };
}

const access = z.string().superRefine((s, ctx) => {
  const d = parseDescStep(s);
  if (typeof d === "string") ctx.addIssue({ code: "custom", message: d });
  else if (parseStep(s) === undefined)
    ctx.addIssue({
      code: "custom",
      message:
        'a program step is an access ("r", "w", "x" or "age", a space and REGION:PAGE, e.g. "w shared:0"), "mprotect REGION[:PAGE[+N]] PROT", "munmap REGION[:PAGE[+N]]", "mremap REGION DEST", "madvise REGION[:PAGE[+N]] dontneed|free", "writeback|reclaim|change_prot_numa REGION[:PAGE[+N]]", "clear_refs", "fork", "child", or in a litmus scenario a descriptor operation ("ldr|str|swp|ldclr|stclr pte REGION:PAGE ...", "ptep_set_access_flags REGION:PAGE (FIELDS)")',
    });
});

const verdict = z.enum(["allowed", "forbidden", "required"]);

/**
 * A litmus test (arm64): the final condition decided over every execution, herd's verdict and
 * the one ptesim expects (src/arch/arm64/litmus.ts has the language, scenarios/litmus/arm64 the tests).
 */
export const LitmusSchema = z.strictObject({
  /** herd's test name (catalogue/aarch64-VMSA/tests/NAME.litmus), or "linux:..." for a kernel-level test. */
  test: z.string().min(1),
  /** herd's verdict (tests/kinds.txt); absent for a kernel-level test herd has no counterpart of. */
  herd: verdict.optional(),
  /** The verdict `ptesim check` must reach. */
  expect: verdict,
  /** Why ptesim's verdict differs from herd's (required when it does). */
  why: z.string().min(1).optional(),
  /**
   * Initial state: "pte_R": the descriptor of region R's page as herd's fields ("(af:0,dbm:1)";
   * herd's defaults for the rest), "R": the value of its first word (default 0). Every location
   * starts with a descriptor (herd's defaults when not given) and empty TLBs.
   */
  init: z.record(z.string(), z.union([z.string(), z.number().int().min(0).max(0x7fffffff)])).default({}),
  /** herd's "exists" condition: some execution ends in it. */
  exists: z.string().min(1).optional(),
  /** herd's "forall" condition: every execution ends in it. */
  forall: z.string().min(1).optional(),
});
export type Litmus = z.output<typeof LitmusSchema>;

/** The quantifier and condition text of a (validated) litmus test. */
export function litmusCondition(l: Litmus): { quantifier: "exists" | "forall"; text: string } {
  return l.exists !== undefined
    ? { quantifier: "exists", text: l.exists }
    : { quantifier: "forall", text: l.forall! };
}
export type { LitmusVerdict };

export const WorkloadSchema = z.strictObject({
  /** Accesses per user CPU. */
  accesses: z.number().int().min(0).max(1_000_000).default(24),
  /** Fraction of accesses that are writes. */
  writeRatio: z.number().min(0).max(1).default(0.5),
  /** At each kernel step, the probability that the scheduler runs a hardware step first (repeatedly). */
  interleave: z.number().min(0).max(0.95).default(0.5),
  /** Which regions user CPUs touch (default: all). */
  regions: z.array(ident).optional(),
});

export const ScenarioSchema = z.strictObject({
  name: z.string().default("scenario"),
  description: z.string().optional(),
  seed: z.number().int().min(0).max(0xffffffff).default(1),
  /** The simulated architecture (src/arch/): x86-64, or arm64 with its CPU features. */
  arch: z.enum(["x86-64", "arm64"]).default("x86-64"),
  /**
   * CPU (and kernel) features of the architecture. arm64: FEAT_HAFDBS hardware Access flag (ha)
   * and dirty state (hd) updates (default true), Cortex-A715 erratum 2645198 (the kernel's
   * workaround then applies). x86-64: savedDirty, the SavedDirty rules of Linux 6.6+
   * (write-protecting a dirty entry moves D to software bit 58), and userShstk, a CPU with user
   * shadow stacks (X86_FEATURE_USER_SHSTK; implies savedDirty); both default false. Each
   * architecture rejects the other's (crossCheck).
   */
  features: z
    .strictObject({
      ha: z.boolean().optional(),
      hd: z.boolean().optional(),
      erratum2645198: z.boolean().optional(),
      savedDirty: z.boolean().optional(),
      userShstk: z.boolean().optional(),
      /**
       * Per-CPU ha/hd (index = CPU; null or absent: the defaults above), for heterogeneous
       * systems where some CPUs lack FEAT_HAFDBS.
       */
      perCpu: z
        .array(z.strictObject({ ha: z.boolean(), hd: z.boolean() }).nullable())
        .max(64)
        .optional(),
    })
    .optional(),
  backend: z.string().min(1).default("native"),
  /** Backend options, validated by the backend's own optionsSchema. */
  backendOptions: z.record(z.string(), z.unknown()).default({}),
  /** Cycle costs per counted event, overriding the defaults (see src/sim/costs.ts). */
  costs: CostsSchema.default({}),
  /** CPUs in all: CPU 0 makes the syscalls, CPUs 1.. run the user workload. */
  cpus: z.number().int().min(1).max(64).default(3),
  regions: z.array(RegionSchema).min(1),
  syscalls: z.array(SyscallSchema).default([]),
  workload: WorkloadSchema.default(() => WorkloadSchema.parse({})),
  /**
   * Explicit programs, one list per CPU from CPU 1 (see parseStep: accesses, "age", mprotect,
   * munmap, fork, child); when given they replace the generated workload. The checker needs
   * them (it explores interleavings, not programs).
   */
  programs: z.array(z.array(access).max(64)).optional(),
  /** Clear the Accessed bits (reclaim aging) after populating, so lost A bits can show. */
  age: z.boolean().default(false),
  /** A litmus test (arm64): its condition replaces the oracle's properties. */
  litmus: LitmusSchema.optional(),
  machine: z
    .strictObject({
      /** Default 16 x 4 = 64 entries, the size of an x86 L1 data TLB. */
      tlbSets: z.number().int().min(1).max(4096).default(16),
      tlbWays: z.number().int().min(1).max(64).default(4),
      maxFrames: z.number().int().min(64).max(1048576).default(65536),
    })
    .default(() => ({ tlbSets: 16, tlbWays: 4, maxFrames: 65536 })),
  kernel: z
    .strictObject({
      lazyRules: z.enum(["classic", "nested"]).default("classic"),
      maxBatch: z.number().int().min(1).max(512).default(1),
      /**
       * Anonymous multi-size THP (mTHP): the folio sizes a write fault on private anonymous
       * memory may allocate, highest first, as if /sys/kernel/mm/transparent_hugepage/
       * hugepages-<size>kB/enabled were "always" for each (16K..1M; e.g. "64K" or [64K, 16K]).
       */
      mthp: z.union([z.string(), z.array(z.string()).min(1).max(7)]).optional(),
      /**
       * arm64 only: which pte_needs_flush change_pte_range asks ("asm-generic", Linux 6.17's
       * default: always flush; "arm64", commit c320dbb7c80d after 6.17: no flush from an invalid
       * entry or for software bits; "arm64-broken-ignores-write", broken on purpose).
       */
      pteNeedsFlush: z.enum(["asm-generic", "arm64", "arm64-broken-ignores-write"]).optional(),
      mutant: z.enum(KERNEL_MUTANTS).nullable().default(null),
      /** An arch-helper variant of the scenario's architecture (src/arch/registry.ts), or null. */
      archHelper: z.enum(ARCH_HELPER_VARIANTS).nullable().default(null),
    })
    .default(() => ({ lazyRules: "classic" as const, maxBatch: 1, mutant: null, archHelper: null })),
});

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type Region = z.output<typeof RegionSchema>;
export type SyscallSpec = z.output<typeof SyscallSchema>;

/** A problem found in a scenario, located by its path in the document. */
export interface ScenarioIssue {
  path: (string | number)[];
  message: string;
}

/** The arm64 CPU features of a scenario (the defaults for those it does not name). */
export function arm64Features(s: Scenario): {
  ha: boolean;
  hd: boolean;
  erratum2645198: boolean;
  perCpu?: ({ ha: boolean; hd: boolean } | null)[];
} {
  const f = s.features;
  return {
    ha: f?.ha ?? true,
    hd: f?.hd ?? true,
    erratum2645198: f?.erratum2645198 ?? false,
    ...(f?.perCpu === undefined ? {} : { perCpu: f.perCpu }),
  };
}

/** The architecture object the scenario's kernel and machine run on (features, arch-helper variant). */
export function scenarioArch(s: Scenario): ArchMm {
  return archMm(s.arch, {
    savedDirty: s.features?.savedDirty,
    userShstk: s.features?.userShstk,
    archHelper: s.kernel.archHelper,
  });
}

const ARM64_FEATURES = ["ha", "hd", "erratum2645198", "perCpu"] as const;
const X86_FEATURES = ["savedDirty", "userShstk"] as const;

/** Features of the other architecture, the x86 features' dependency, the arch-helper variant's. */
function crossCheckArch(s: Scenario, issues: ScenarioIssue[]): void {
  const f = s.features ?? {};
  const [wrong, theirs, ours] =
    s.arch === "arm64" ? [X86_FEATURES, "x86-64", ARM64_FEATURES] : [ARM64_FEATURES, "arm64", X86_FEATURES];
  for (const k of wrong)
    if (f[k] !== undefined)
      issues.push({
        path: ["features", k],
        message: `features (${wrong.join(", ")}) are ${theirs} CPU features; this scenario is ${s.arch} (${s.arch === "arm64" ? "" : 'add "arch: arm64"; '}${s.arch} takes ${ours.join(", ")})`,
      });
  if (f.userShstk === true && f.savedDirty === false)
    issues.push({
      path: ["features", "savedDirty"],
      message:
        "userShstk (X86_FEATURE_USER_SHSTK) needs the SavedDirty rules: every kernel with user shadow stacks has them (Linux 6.6+); drop savedDirty: false",
    });
  const v = s.kernel.archHelper;
  if (v === null) return;
  const info = ARCH_HELPER_VARIANT_INFO[v];
  if (info.arch !== s.arch)
    issues.push({
      path: ["kernel", "archHelper"],
      message: `${v} is a variant of ${info.arch}'s ${info.helper}; this scenario is ${s.arch}`,
    });
  else if (v === "x86-chg-mask-without-saved-dirty" && f.savedDirty !== true && f.userShstk !== true)
    issues.push({
      path: ["kernel", "archHelper"],
      message: `${v} changes what pte_modify keeps of the SavedDirty rules, which this scenario does not have: add features: { savedDirty: true } (or userShstk: true)`,
    });
}

/** Checks that need more than one field (names resolve, ranges fit, prot given for mprotect). */
export function crossCheck(s: Scenario): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  crossCheckArch(s, issues);
  if (s.features?.hd === true && s.features.ha === false)
    issues.push({
      path: ["features", "hd"],
      message:
        "hd (hardware dirty state) needs ha (hardware Access flag): FEAT_HAFDBS has no dirty-only level; set ha: true or hd: false",
    });
  if (s.features?.perCpu !== undefined) {
    if (s.features.perCpu.length > s.cpus)
      issues.push({
        path: ["features", "perCpu"],
        message: `${s.features.perCpu.length} entries for ${s.cpus} CPUs`,
      });
    s.features.perCpu.forEach((f, i) => {
      if (f?.hd && !f.ha)
        issues.push({
          path: ["features", "perCpu", i, "hd"],
          message: `CPU${i}: hd (hardware dirty state) needs ha (FEAT_HAFDBS has no dirty-only level)`,
        });
    });
  }
  if (s.kernel.pteNeedsFlush !== undefined && s.arch !== "arm64")
    issues.push({
      path: ["kernel", "pteNeedsFlush"],
      message: `pteNeedsFlush chooses arm64's hook; this scenario is ${s.arch}, whose pte_needs_flush is its own (add "arch: arm64")`,
    });
  const mthp = s.kernel.mthp;
  (typeof mthp === "string" ? [mthp] : (mthp ?? [])).forEach((t, i) => {
    const path = typeof mthp === "string" ? ["kernel", "mthp"] : ["kernel", "mthp", i];
    const o = sizeOrder(t, "mTHP size");
    if (typeof o === "string") issues.push({ path, message: o });
    else if (o < 2)
      issues.push({
        path,
        message: `mTHP size ${t}: anonymous mTHP starts at 16K (order 2; ${o === 0 ? "4K is the base page" : "Linux has no order-1 anonymous folios"})`,
      });
    else if (o > 8)
      issues.push({
        path,
        message: `mTHP size ${t}: 2M and above are PMD-mapped THP, which ptesim does not model; PTE-mapped sizes are 16K..1M`,
      });
  });
  const names = new Map<string, Region>();
  s.regions.forEach((r, i) => {
    if (r.align !== undefined) {
      const o = sizeOrder(r.align, "align");
      if (typeof o === "string") issues.push({ path: ["regions", i, "align"], message: o });
      else if (o > 9)
        issues.push({
          path: ["regions", i, "align"],
          message: `align ${r.align}: at most 2M (one page table)`,
        });
    }
    if (names.has(r.name))
      issues.push({ path: ["regions", i, "name"], message: `region "${r.name}" is defined twice` });
    names.set(r.name, r);
  });
  const total = s.regions.reduce((a, r) => a + r.pages, 0);
  if (total + 1024 > s.machine.maxFrames)
    issues.push({
      path: ["machine", "maxFrames"],
      message: `${total} pages do not fit in ${s.machine.maxFrames} frames`,
    });
  s.syscalls.forEach((c, i) => {
    if (c.call === "clear_refs") {
      for (const key of ["region", "prot", "advice", "pages", "to"] as const)
        if (c[key] !== undefined)
          issues.push({
            path: ["syscalls", i, key],
            message: `clear_refs acts on the whole mm and takes no ${key}`,
          });
      if (c.offset !== 0)
        issues.push({ path: ["syscalls", i, "offset"], message: "clear_refs takes no offset" });
      return;
    }
    if (c.region === undefined) {
      issues.push({ path: ["syscalls", i], message: `${c.call} needs a region` });
      return;
    }
    const r = names.get(c.region);
    if (r === undefined) {
      issues.push({ path: ["syscalls", i, "region"], message: `no region named "${c.region}"` });
      return;
    }
    if (c.offset > r.pages)
      issues.push({
        path: ["syscalls", i, "offset"],
        message: `offset ${c.offset} is past the end of "${r.name}" (${r.pages} pages)`,
      });
    if (c.pages !== undefined && c.offset + c.pages > r.pages)
      issues.push({
        path: ["syscalls", i, "pages"],
        message: `pages ${c.offset}..${c.offset + c.pages} run past the end of "${r.name}" (${r.pages} pages)`,
      });
    if (c.call === "mprotect" && c.prot === undefined)
      issues.push({ path: ["syscalls", i], message: "mprotect needs a prot" });
    if (c.call !== "mprotect" && c.prot !== undefined)
      issues.push({ path: ["syscalls", i, "prot"], message: `${c.call} takes no prot` });
    if (c.call === "mremap") {
      const d = c.to === undefined ? undefined : names.get(c.to);
      if (c.to === undefined)
        issues.push({ path: ["syscalls", i], message: "mremap needs a destination region (to)" });
      else if (d === undefined)
        issues.push({ path: ["syscalls", i, "to"], message: `no region named "${c.to}"` });
      else if (d === r)
        issues.push({ path: ["syscalls", i, "to"], message: "mremap onto the region itself" });
      else if (d.pages !== r.pages)
        issues.push({
          path: ["syscalls", i, "to"],
          message: `mremap moves "${r.name}" (${r.pages} pages) onto "${d.name}" (${d.pages} pages): give them the same size`,
        });
      if (c.offset !== 0 || c.pages !== undefined)
        issues.push({ path: ["syscalls", i], message: "mremap moves the whole region: no offset or pages" });
    } else if (c.to !== undefined)
      issues.push({ path: ["syscalls", i, "to"], message: `${c.call} takes no destination (to)` });
    if (c.call === "madvise" && c.advice === undefined)
      issues.push({ path: ["syscalls", i], message: 'madvise needs an advice ("dontneed" or "free")' });
    if (c.call !== "madvise" && c.advice !== undefined)
      issues.push({ path: ["syscalls", i, "advice"], message: `${c.call} takes no advice` });
  });
  if (s.programs !== undefined && s.programs.length > s.cpus - 1)
    issues.push({ path: ["programs"], message: `${s.programs.length} programs for ${s.cpus - 1} user CPUs` });
  for (const [c, prog] of (s.programs ?? []).entries())
    for (const [i, a] of prog.entries()) {
      const st = parseStep(a)!;
      const at = ["programs", c, i];
      if (!("region" in st) || st.region === undefined) continue; // fork, child, clear_refs
      const r = names.get(st.region);
      if (r === undefined) {
        issues.push({ path: at, message: `no region named "${st.region}"` });
        continue;
      }
      if (st.kind === "mremap") {
        const d = names.get(st.to);
        if (d === undefined) issues.push({ path: at, message: `no region named "${st.to}"` });
        else if (d === r) issues.push({ path: at, message: "mremap onto the region itself" });
        else if (d.pages !== r.pages)
          issues.push({
            path: at,
            message: `mremap moves "${r.name}" (${r.pages} pages) onto "${d.name}" (${d.pages} pages): give them the same size`,
          });
        continue;
      }
      if ("offset" in st) {
        const end = st.offset + (st.pages ?? r.pages - st.offset);
        if (st.offset >= r.pages || end > r.pages)
          issues.push({
            path: at,
            message: `pages ${st.offset}..${end - 1} run past the end of "${r.name}" (${r.pages} pages)`,
          });
        if (st.pages === 0)
          issues.push({ path: at, message: `${st.kind === "path" ? st.call : st.kind} of 0 pages` });
        if (st.kind === "mprotect" && st.prot === undefined)
          issues.push({ path: at, message: 'mprotect needs a protection, e.g. "mprotect heap r"' });
        if (st.kind === "munmap" && st.prot !== undefined)
          issues.push({ path: at, message: "munmap takes no protection" });
        if (
          "prot" in st &&
          st.prot !== undefined &&
          st.prot !== "none" &&
          new Set(st.prot).size !== st.prot.length
        )
          issues.push({ path: at, message: "a protection letter appears twice" });
      } else if (st.page >= r.pages)
        issues.push({
          path: at,
          message: `page ${st.page} is past the end of "${r.name}" (${r.pages} pages)`,
        });
    }
  s.workload.regions?.forEach((n, i) => {
    if (!names.has(n)) issues.push({ path: ["workload", "regions", i], message: `no region named "${n}"` });
  });
  litmusIssues(s, names, issues);
  return issues;
}

/** A litmus test's checks: arm64, its condition, its locations and programs (see LitmusSchema). */
function litmusIssues(s: Scenario, names: Map<string, Region>, issues: ScenarioIssue[]): void {
  const l = s.litmus;
  for (const [c, prog] of (s.programs ?? []).entries())
    for (const [i, a] of prog.entries()) {
      const st = parseStep(a)!;
      if (l === undefined && (st.kind === "desc" || ("reg" in st && st.reg !== undefined)))
        issues.push({
          path: ["programs", c, i],
          message: `${st.kind === "desc" ? "descriptor operations" : "registers (-> Xn)"} belong to litmus scenarios (add a "litmus:" section)`,
        });
      else if (st.kind !== "desc" && "reg" in st && st.reg !== undefined && st.kind !== "r")
        issues.push({ path: ["programs", c, i], message: `only a load names a register, not "${st.kind}"` });
      else if ("reg" in st && st.reg !== undefined && st.reg > 30)
        issues.push({ path: ["programs", c, i], message: `X${st.reg}: registers are X0..X30` });
    }
  if (l === undefined) return;
  if (s.arch !== "arm64")
    issues.push({
      path: ["litmus"],
      message: 'litmus tests are arm64 (herd\'s aarch64-VMSA): add "arch: arm64"',
    });
  if ((l.exists === undefined) === (l.forall === undefined))
    issues.push({ path: ["litmus"], message: 'a litmus test has one condition: "exists" or "forall"' });
  if (l.herd !== undefined && l.herd !== l.expect && l.why === undefined)
    issues.push({
      path: ["litmus", "why"],
      message: `expect (${l.expect}) differs from herd (${l.herd}): say why`,
    });
  if (s.syscalls.length > 0)
    issues.push({
      path: ["syscalls"],
      message: "a litmus test has no syscalls: its programs are P0, P1, ... (CPUs 1, 2, ...)",
    });
  if (s.programs === undefined) issues.push({ path: ["litmus"], message: "a litmus test needs programs" });
  s.regions.forEach((r, i) => {
    if (r.pages !== 1)
      issues.push({ path: ["regions", i, "pages"], message: "a litmus location is a one-page region" });
    if (r.populate === "none" || (!r.shared && r.populate === "read"))
      issues.push({
        path: ["regions", i, "populate"],
        message: "a litmus location needs a page of its own: shared with populate: read, or populate: write",
      });
  });
  for (const [k, v] of Object.entries(l.init)) {
    const loc = k.startsWith("pte_") ? k.slice(4) : k;
    if (!names.has(loc)) {
      issues.push({ path: ["litmus", "init", k], message: `no region named "${loc}"` });
      continue;
    }
    if (k.startsWith("pte_")) {
      const f =
        typeof v === "string" ? parseHerdFields(v) : 'a descriptor is given as fields, e.g. "(af:0,dbm:1)"';
      if (typeof f === "string") issues.push({ path: ["litmus", "init", k], message: f });
    } else if (typeof v !== "number")
      issues.push({
        path: ["litmus", "init", k],
        message: `${k} is a location: its initial value is a number`,
      });
  }
  for (const q of ["exists", "forall"] as const) {
    const text = l[q];
    if (text === undefined) continue;
    const c = parseCond(text);
    if (isCondError(c)) {
      issues.push({ path: ["litmus", q], message: `column ${c.col} of the condition: ${c.message}` });
      continue;
    }
    const { locs, procs } = condNames(c);
    for (const loc of locs)
      if (!names.has(loc))
        issues.push({ path: ["litmus", q], message: `the condition names "${loc}": no such region` });
    for (const p of procs)
      if (p >= (s.programs?.length ?? 0))
        issues.push({
          path: ["litmus", q],
          message: `the condition names P${p}: there are ${s.programs?.length ?? 0} programs`,
        });
  }
}

/** The built-in default scenario: what `ptesim demo` and `ptesim run` without a file use. */
export const DEFAULT_SCENARIO: ScenarioInput = {
  name: "default",
  description:
    "Two user CPUs read and write a shared buffer and a private heap while CPU 0 makes them read-only and back with mprotect.",
  seed: 1,
  cpus: 3,
  regions: [
    { name: "shared", pages: 8, prot: "rw", shared: true, populate: "read" },
    { name: "heap", pages: 8, prot: "rw", shared: false, populate: "write" },
  ],
  syscalls: [
    { call: "mprotect", region: "shared", prot: "r" },
    { call: "mprotect", region: "shared", prot: "rw" },
    { call: "mprotect", region: "heap", prot: "r" },
    { call: "mprotect", region: "heap", prot: "rw" },
  ],
  workload: { accesses: 48, writeRatio: 0.6, interleave: 0.6 },
  age: true,
};

export function defaultScenario(): Scenario {
  return ScenarioSchema.parse(DEFAULT_SCENARIO);
}

/** The built-in scenario of `ptesim check` without a file: small enough to decide in a second. */
export const DEFAULT_CHECK_SCENARIO: ScenarioInput = {
  name: "check-default",
  description:
    "Two user CPUs write two shared pages (writable and clean, cached in their TLBs) while CPU 0 makes them read-only.",
  cpus: 3,
  regions: [{ name: "buf", pages: 2, prot: "rw", shared: true, populate: "read" }],
  syscalls: [{ call: "mprotect", region: "buf", prot: "r" }],
  programs: [
    ["w buf:0", "w buf:1"],
    ["w buf:1", "w buf:0"],
  ],
};

export function defaultCheckScenario(): Scenario {
  return ScenarioSchema.parse(DEFAULT_CHECK_SCENARIO);
}
