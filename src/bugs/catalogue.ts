// The real-bug zoo's catalogue: one bug.yaml per historical bug (scenarios/bugs/NAME/bug.yaml),
// validated here, and the rules that decide whether the current model can run an entry and
// whether a checker verdict is the one history says it should be. Pure (no file I/O): the CLI
// reads the files (src/cli/bugs-command.ts). The format is documented in scenarios/bugs/README.md.
import { z } from "zod";
import { ARCH_HELPER_VARIANTS as ARCH_VARIANTS } from "../arch/registry.js";
import { CONTRACT_RULES } from "../kernel/contract.js";
import { KERNEL_MUTANTS } from "../kernel/kernel.js";
import { type LocatedError, parseLocated, where } from "../scenario/load.js";
import { PROPERTIES } from "../sim/oracle.js";

export const BUG_SCHEMA_VERSION = "ptesim.bug/1";

/**
 * What the current model can express, as the capability names entries list in `model.needs`.
 * An entry needing anything else is listed as "not modelled yet". Work that adds a capability
 * (fork, arm64, ...) adds its name here, and the entries needing it become runnable.
 */
export const MODEL_CAPABILITIES: ReadonlySet<string> = new Set([
  "arch:x86-64",
  "xen:pv",
  "kernel:mmap",
  "kernel:munmap",
  "kernel:mprotect",
  "kernel:fault",
  "kernel:lazy-mmu",
  "kernel:reclaim-aging",
  // The kernel paths of src/kernel/paths.ts (#9): clear_refs, madvise, reclaim and writeback,
  // NUMA hinting with migration, and the soft-dirty oracle property.
  "kernel:clear-refs-soft-dirty",
  "kernel:madvise",
  "kernel:madvise-free",
  "kernel:page-mkclean",
  "kernel:reclaim",
  "kernel:numa-hinting",
  "kernel:migration",
  "property:lost-soft-dirty",
  "arch:arm64",
  // arm64 features.perCpu: CPUs with and without FEAT_HAFDBS side by side.
  "hw:mixed-af-dbm-agents",
  // The execution model of #9: every CPU runs its kernel paths at fine grain; the fault path
  // (fault.ts) with ptep_set_access_flags, and fork with COW (syscalls.ts).
  "kernel:fault-on-every-cpu",
  "kernel:ptep_set_access_flags",
  "kernel:fork",
  // x86-64 features.savedDirty / userShstk: the shadow-stack era's SavedDirty rules in
  // pte_wrprotect, pte_mkwrite, pte_mkdirty, pte_dirty and pte_modify (src/arch/x86/pte.ts).
  "x86:saved-dirty-rules",
  // Shared pages with a backing store kept in the page cache across MADV_DONTNEED, written back
  // and evicted by reclaim even when unmapped; zap_pte_range's flush and rmap order.
  "kernel:shared-file-writeback",
  // mremap as a kernel path (src/kernel/mremap.ts): a program step or CPU 0 syscall.
  "kernel:mremap-in-checker",
]);

/**
 * Arch-helper variants (a variation point of pte_modify, pte_wrprotect, ...: src/arch/registry.ts),
 * which a variant's scenario selects with kernel.archHelper.
 */
export const ARCH_HELPER_VARIANTS: readonly string[] = ARCH_VARIANTS;

const HISTORY = ["shipped", "counterfactual", "protocol-mutant", "unconfirmed"] as const;
export type BugHistory = (typeof HISTORY)[number];

const hex = z.string().regex(/^[0-9a-f]{12,40}$/, "a commit id: 12 to 40 lowercase hex digits");
const capability = z
  .string()
  .regex(/^[a-z0-9-]+:[a-z0-9_.-]+$/, 'a capability "kind:name", e.g. "kernel:fork" or "arch:arm64"');
const variantName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lowercase letters, digits and -");

const VariantSchema = z.strictObject({
  /** A built-in backend name or a module path (relative to the bug's directory). */
  backend: z.string().min(1).optional(),
  /** A scenario file for this variant only (relative to the bug's directory). */
  scenario: z.string().min(1).optional(),
  /** A kernel variant: a kernel mutant, which the variant's scenario must set in kernel.mutant. */
  kernel: variantName.optional(),
  /** An arch-helper variant, which the variant's scenario must set in kernel.archHelper. */
  archHelper: variantName.optional(),
});
export type BugVariant = z.output<typeof VariantSchema>;

const CommitRef = z.strictObject({
  repo: z.string().min(1),
  commit: hex.nullable(),
  title: z.string().min(1).nullable(),
  author: z.string().min(1).nullable().optional(),
  date: z.string().min(1).nullable().optional(),
});

export const BugSchema = z.strictObject({
  schema: z.literal(BUG_SCHEMA_VERSION),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lowercase letters, digits and -"),
  title: z.string().min(1),
  history: z.enum(HISTORY),
  history_note: z.string().min(1).optional(),
  year: z.number().int().min(1960).max(2100).nullable(),
  arch: z.string().min(1),
  system: z.string().min(1),
  property: z.string().regex(/^[a-z][a-z-]*$/, "a property name such as lost-dirty"),
  rule: z.string().min(1).optional(),
  fix: CommitRef,
  fixes: z.strictObject({ commit: hex.nullable(), title: z.string().min(1).nullable() }).optional(),
  related: z
    .array(z.strictObject({ repo: z.string().min(1), commit: hex.nullable(), title: z.string().min(1) }))
    .optional(),
  /** For every fact above that is given: was it checked against a source? */
  verified: z.record(z.string(), z.boolean()),
  sources: z.array(z.strictObject({ where: z.string().min(1), what: z.string().min(1) })).min(1),
  explanation: z.string().min(80, "explain the race in a few sentences"),
  model: z.strictObject({
    needs: z.array(capability),
    /** How the model expresses (or would express) the bug. */
    restated: z.string().min(1),
    /** The scenario both variants are checked on (relative to the bug's directory). */
    scenario: z.string().min(1).optional(),
    buggy: VariantSchema,
    fixed: VariantSchema,
    /** Bound on each variant's check (default 60). */
    maxSeconds: z.number().int().min(1).max(3600).optional(),
  }),
});
export type Bug = z.output<typeof BugSchema>;

export type BugLoadResult = { ok: true; bug: Bug } | { ok: false; errors: LocatedError[] };

/** Parse and validate one bug.yaml; `dirName` is the name of the directory holding it. */
export function loadBugText(text: string, file: string, dirName: string): BugLoadResult {
  const r = parseLocated(text, file, BugSchema, "bug entry");
  if (!r.ok) return r;
  const problems = crossCheckBug(r.data, dirName);
  if (problems.length > 0)
    return {
      ok: false,
      errors: problems
        .map((c) => ({
          file,
          ...r.locate(c.path),
          message: `${where(c.path, undefined, "bug entry")}: ${c.message}`,
        }))
        .sort((a, b) => a.line - b.line || a.col - b.col),
    };
  return { ok: true, bug: r.data };
}

/** A problem found after schema validation, at a path inside the entry. */
interface PathProblem {
  path: readonly (string | number)[];
  message: string;
}

/** The facts an entry states, by the key its `verified:` map uses for each. */
export function factKeys(b: Bug): string[] {
  const keys = ["title", "arch"];
  if (b.year !== null) keys.push("year");
  for (const f of ["commit", "title", "author", "date"] as const)
    if (b.fix[f] !== null && b.fix[f] !== undefined) keys.push(`fix.${f}`);
  if (b.fixes !== undefined)
    for (const f of ["commit", "title"] as const) if (b.fixes[f] !== null) keys.push(`fixes.${f}`);
  b.related?.forEach((r, i) => {
    if (r.commit !== null) keys.push(`related.${i}.commit`);
    keys.push(`related.${i}.title`);
  });
  return keys;
}

function crossCheckBug(b: Bug, dirName: string): PathProblem[] {
  const p: PathProblem[] = [];
  if (b.name !== dirName) p.push({ path: ["name"], message: `must equal the directory's name "${dirName}"` });
  const facts = factKeys(b);
  for (const k of facts)
    if (b.verified[k] === undefined)
      p.push({ path: ["verified"], message: `says nothing about "${k}" (true or false)` });
  for (const k of Object.keys(b.verified))
    if (!facts.includes(k))
      p.push({ path: ["verified", k], message: `"${k}" is not a fact this entry states` });
  const known = (PROPERTIES as readonly string[]).includes(b.property);
  if (!known && !b.model.needs.includes(`property:${b.property}`))
    p.push({
      path: ["property"],
      message: `"${b.property}" is not a checker property (${PROPERTIES.join(", ")}); a new one must be listed in model.needs as "property:${b.property}"`,
    });
  if (b.rule !== undefined) {
    if (b.property !== "transaction-contract")
      p.push({ path: ["rule"], message: "a rule goes only with property transaction-contract" });
    else if (!(CONTRACT_RULES as readonly string[]).includes(b.rule))
      p.push({ path: ["rule"], message: `unknown contract rule (${CONTRACT_RULES.join(", ")})` });
  }
  if (b.history === "shipped" && b.fix.commit === null)
    p.push({ path: ["fix", "commit"], message: "a shipped bug names the commit that fixed it" });
  if (b.model.needs.length === 0 && b.model.scenario === undefined)
    p.push({ path: ["model", "scenario"], message: "an entry with no unmet needs names its scenario" });
  return p;
}

/**
 * Why the current model cannot run this entry (empty: it can): capabilities it needs that the
 * model lacks, and variants naming kernel or arch-helper variants that do not exist.
 */
export function missingModel(b: Bug): string[] {
  const missing = b.model.needs.filter((n) => !MODEL_CAPABILITIES.has(n));
  for (const v of [b.model.buggy, b.model.fixed]) {
    if (v.kernel !== undefined && !(KERNEL_MUTANTS as readonly string[]).includes(v.kernel))
      missing.push(`kernel variant ${v.kernel}`);
    if (v.archHelper !== undefined && !ARCH_HELPER_VARIANTS.includes(v.archHelper))
      missing.push(`arch-helper variant ${v.archHelper}`);
  }
  if (missing.length === 0 && b.model.scenario === undefined) missing.push("a scenario");
  return [...new Set(missing)];
}

/** A checker result, reduced to what the zoo judges and reports. */
export interface VariantVerdict {
  verdict: "verified" | "violated" | "incomplete";
  property: string | null;
  rule: string | null;
  states: number;
  executions: number;
  elapsedMs: number;
}

/** The buggy variant must be found: VIOLATED with the entry's property (and rule, if any). */
export function judgeBuggy(b: Bug, v: VariantVerdict): string | null {
  if (v.verdict === "incomplete") return "buggy variant: INCOMPLETE (bound reached before a verdict)";
  if (v.verdict === "verified") return "buggy variant: VERIFIED, the bug was not found";
  if (v.property !== b.property) return `buggy variant: VIOLATED ${v.property}, expected ${b.property}`;
  if (b.rule !== undefined && v.rule !== b.rule)
    return `buggy variant: VIOLATED ${v.property} (${v.rule ?? "no rule"}), expected rule ${b.rule}`;
  return null;
}

/** The fixed variant must be VERIFIED. */
export function judgeFixed(v: VariantVerdict): string | null {
  if (v.verdict === "verified") return null;
  if (v.verdict === "incomplete") return "fixed variant: INCOMPLETE (bound reached before a verdict)";
  return `fixed variant: VIOLATED ${v.property}${v.rule ? ` (${v.rule})` : ""}`;
}
