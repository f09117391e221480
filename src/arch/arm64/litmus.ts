// The litmus language of arm64 scenario files (scenarios/litmus/arm64/*.yaml): herd's descriptor
// fields, the software's descriptor operations, and herd-style final conditions. The tests
// themselves (restatements of the hardware-update family of herdtools7's
// catalogue/aarch64-VMSA, each with herd's verdict and ptesim's) live in those files only; the
// simulator runs them (src/sim/litmus.ts) and `ptesim check` decides them.
//
// herd's descriptor fields map to Linux's bits as: valid = PTE_VALID, af = PTE_AF,
// dbm = PTE_DBM (PTE_WRITE), db ("dirty bit", AP[2] clear) = !PTE_RDONLY. A descriptor written
// as fields takes herd's defaults for the fields it leaves out (valid:1, af:1, db:1, dbm:0).
import type { pte_t } from "../types.js";
import {
  PTE_AF,
  PTE_DBM,
  PTE_NG,
  PTE_RDONLY,
  PTE_SHARED,
  PTE_TYPE_PAGE,
  PTE_USER,
  PTE_VALID,
  pfn_pte,
  pte_pfn,
  pteHas,
} from "./pte.js";

export const HERD_FIELDS = ["valid", "af", "db", "dbm"] as const;
export type HerdField = (typeof HERD_FIELDS)[number];
/** A descriptor described by herd's fields (absent: unspecified). */
export type HerdPte = Partial<Record<HerdField, 0 | 1>>;

/** The descriptor of a page at `pfn` with herd's fields (EL0 read/write, inner shareable, nG). */
export function herdPte(f: HerdPte, pfn: number): pte_t {
  let lo = PTE_TYPE_PAGE | PTE_SHARED | PTE_USER | PTE_NG;
  if ((f.valid ?? 1) === 0) lo &= ~PTE_VALID;
  if ((f.af ?? 1) === 1) lo |= PTE_AF;
  if ((f.db ?? 1) === 0) lo |= PTE_RDONLY;
  return pfn_pte(pfn, lo + ((f.dbm ?? 0) === 1 ? PTE_DBM : 0));
}

/** Whether `v` has every field `f` names. */
export function herdMatches(v: pte_t, f: HerdPte): boolean {
  if (f.valid !== undefined && ((v & PTE_VALID) !== 0 ? 1 : 0) !== f.valid) return false;
  if (f.af !== undefined && ((v & PTE_AF) !== 0 ? 1 : 0) !== f.af) return false;
  if (f.db !== undefined && ((v & PTE_RDONLY) === 0 ? 1 : 0) !== f.db) return false;
  if (f.dbm !== undefined && (pteHas(v, PTE_DBM) ? 1 : 0) !== f.dbm) return false;
  return true;
}

/** `v` as herd writes it: "(af:1,db:0,dbm:1,valid:1)", with its output frame. */
export function herdDescribe(v: pte_t): string {
  const b = (x: boolean) => (x ? 1 : 0);
  return `(af:${b((v & PTE_AF) !== 0)},db:${b((v & PTE_RDONLY) === 0)},dbm:${b(pteHas(v, PTE_DBM))},valid:${b((v & PTE_VALID) !== 0)}) -> pfn 0x${pte_pfn(v).toString(16)}`;
}

/** The bits a clear mask names (LDCLR/STCLR): db is AP[2] inverted, so it cannot be cleared. */
export const CLEARABLE: Readonly<Record<string, number>> = { valid: PTE_VALID, af: PTE_AF, dbm: PTE_DBM };

/** Parse "(af:1,db:0)" (parentheses optional); a message on error. */
export function parseHerdFields(s: string): HerdPte | string {
  const t = s.trim();
  const body = t.startsWith("(") && t.endsWith(")") ? t.slice(1, -1) : t;
  const out: HerdPte = {};
  if (body.trim() === "") return out;
  for (const part of body.split(",")) {
    const m = /^\s*([a-z]+)\s*:\s*([01])\s*$/.exec(part);
    if (m === null) return `"${part.trim()}" is not a descriptor field (FIELD:0 or FIELD:1)`;
    if (!(HERD_FIELDS as readonly string[]).includes(m[1]))
      return `"${m[1]}" is not a descriptor field (${HERD_FIELDS.join(", ")})`;
    if (out[m[1] as HerdField] !== undefined) return `field "${m[1]}" is given twice`;
    out[m[1] as HerdField] = Number(m[2]) as 0 | 1;
  }
  return out;
}

/** herd fields packed in 8 bits: 2 bits a field, 0 unspecified, 1 = 0, 2 = 1 (program steps). */
export function packFields(f: HerdPte): number {
  let n = 0;
  HERD_FIELDS.forEach((k, i) => {
    const v = f[k];
    if (v !== undefined) n |= (v + 1) << (2 * i);
  });
  return n;
}
export function unpackFields(n: number): HerdPte {
  const out: HerdPte = {};
  HERD_FIELDS.forEach((k, i) => {
    const v = (n >> (2 * i)) & 3;
    if (v !== 0) out[k] = (v - 1) as 0 | 1;
  });
  return out;
}

// ---- the software's descriptor operations (program steps of a litmus scenario) ----

/** EL1 operations on a page's descriptor, one instruction each (herd's P1 in this family). */
export const DESC_OPS = ["ldr", "str", "swp", "ldclr", "stclr", "ptep_set_access_flags"] as const;
export type DescOp = (typeof DESC_OPS)[number];

export interface DescStep {
  kind: "desc";
  op: DescOp;
  region: string;
  page: number;
  /** str, swp, ptep_set_access_flags: the descriptor written (fields). */
  fields?: HerdPte;
  /** ldclr, stclr: the bits cleared (CLEARABLE names). */
  clear?: string[];
  /** ldr, swp, ldclr: the register the old descriptor goes to. */
  reg?: number;
}

const DESC_RE =
  /^(ldr|str|swp|ldclr|stclr) pte ([A-Za-z_][A-Za-z0-9_-]*):(\d+)(?: (\([^)]*\)|[a-z]+(?:\|[a-z]+)*))?(?: -> X(\d+))?$/;
const HELPER_RE = /^(ptep_set_access_flags) ([A-Za-z_][A-Za-z0-9_-]*):(\d+) (\([^)]*\))$/;

/**
 * "ldr pte x:0 -> X8", "str pte x:0 (af:0,valid:0)", "swp pte x:0 (valid:0) -> X8",
 * "ldclr pte x:0 valid -> X0", "stclr pte x:0 dbm", "ptep_set_access_flags x:0 (af:1,db:0,dbm:1)";
 * a message when the text is one of these with a wrong operand, undefined when it is none.
 */
export function parseDescStep(s: string): DescStep | string | undefined {
  const h = HELPER_RE.exec(s);
  if (h !== null) {
    const f = parseHerdFields(h[4]);
    if (typeof f === "string") return f;
    return { kind: "desc", op: "ptep_set_access_flags", region: h[2], page: Number(h[3]), fields: f };
  }
  const m = DESC_RE.exec(s);
  if (m === null) return undefined;
  const op = m[1] as DescOp;
  const st: DescStep = { kind: "desc", op, region: m[2], page: Number(m[3]) };
  const operand = m[4];
  const writes = op === "str" || op === "swp";
  const clears = op === "ldclr" || op === "stclr";
  if (writes) {
    if (operand === undefined || !operand.startsWith("("))
      return `${op} needs the descriptor it writes, e.g. "${op} pte ${st.region}:${st.page} (valid:0)"`;
    const f = parseHerdFields(operand);
    if (typeof f === "string") return f;
    st.fields = f;
  } else if (clears) {
    if (operand === undefined || operand.startsWith("("))
      return `${op} needs the bits it clears, e.g. "${op} pte ${st.region}:${st.page} valid" (valid, af, dbm; join with |)`;
    const bits = operand.split("|");
    const bad = bits.find((b) => CLEARABLE[b] === undefined);
    if (bad !== undefined)
      return `"${bad}" cannot be cleared (valid, af, dbm${bad === "db" ? "; db is AP[2] inverted: write the descriptor instead" : ""})`;
    st.clear = bits;
  } else if (operand !== undefined) return `ldr takes no operand, only "-> Xn"`;
  const loads = op === "ldr" || op === "swp" || op === "ldclr";
  if (m[5] !== undefined) {
    if (!loads) return `${op} loads nothing: no "-> X${m[5]}"`;
    const r = Number(m[5]);
    if (r > 30) return `X${r}: registers are X0..X30`;
    st.reg = r;
  } else if (op === "ldr") return `ldr needs its register, e.g. "ldr pte ${st.region}:${st.page} -> X8"`;
  return st;
}

// ---- herd-style final conditions ----

export type Cond =
  | { t: "and" | "or"; a: Cond; b: Cond }
  | { t: "not"; a: Cond }
  | { t: "fault"; proc: number; loc: string }
  | { t: "data"; loc: string; value: number }
  | { t: "pte"; loc: string; fields: HerdPte }
  | { t: "reg"; proc: number; reg: number; value: number | HerdPte };

/** What a condition is evaluated on: one execution's final state. */
export interface LitmusObservation {
  /** The value of location `loc` (its page's first word). */
  data(loc: string): number;
  /** The descriptor of `loc`. */
  pte(loc: string): pte_t;
  /** Whether program `proc`'s access to `loc` faulted. */
  fault(proc: number, loc: string): boolean;
  /** Register `reg` of program `proc` (0 when never written). */
  reg(proc: number, reg: number): number;
}

export function evalCond(c: Cond, o: LitmusObservation): boolean {
  switch (c.t) {
    case "and":
      return evalCond(c.a, o) && evalCond(c.b, o);
    case "or":
      return evalCond(c.a, o) || evalCond(c.b, o);
    case "not":
      return !evalCond(c.a, o);
    case "fault":
      return o.fault(c.proc, c.loc);
    case "data":
      return o.data(c.loc) === c.value;
    case "pte":
      return herdMatches(o.pte(c.loc) as pte_t, c.fields);
    case "reg": {
      const v = o.reg(c.proc, c.reg);
      return typeof c.value === "number" ? v === c.value : herdMatches(v as pte_t, c.value);
    }
  }
}

/** The locations (region names) and programs a condition names. */
export function condNames(c: Cond, locs: Set<string> = new Set(), procs: Set<number> = new Set()) {
  switch (c.t) {
    case "and":
    case "or":
      condNames(c.a, locs, procs);
      condNames(c.b, locs, procs);
      break;
    case "not":
      condNames(c.a, locs, procs);
      break;
    case "fault":
      locs.add(c.loc);
      procs.add(c.proc);
      break;
    case "data":
    case "pte":
      locs.add(c.loc);
      break;
    case "reg":
      procs.add(c.proc);
      break;
  }
  return { locs, procs };
}

/** A parse error at a column (1-based) of the condition. */
export interface CondError {
  col: number;
  message: string;
}

/**
 * Parse a herd condition: atoms `x=1`, `pte_x=(af:1,db:0)`, `1:X8=(valid:0)`, `0:X2=1`,
 * `fault(P0,x)`; `~`, `/\` (and), `\/` (or), parentheses. `/\` binds tighter than `\/`.
 */
export function parseCond(src: string): Cond | CondError {
  let i = 0;
  const fail = (message: string): CondError => ({ col: i + 1, message });
  const ws = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const ident = /[A-Za-z_][A-Za-z0-9_-]*/y;
  const num = /\d+/y;
  const take = (re: RegExp): string | null => {
    re.lastIndex = i;
    const m = re.exec(src);
    if (m === null) return null;
    i += m[0].length;
    return m[0];
  };
  const fieldsAt = (): HerdPte | CondError => {
    const close = src.indexOf(")", i);
    if (close < 0) return fail('unclosed "(" of descriptor fields');
    const f = parseHerdFields(src.slice(i, close + 1));
    if (typeof f === "string") return fail(f);
    i = close + 1;
    return f;
  };
  type R = Cond | CondError;
  const isErr = (r: unknown): r is CondError => typeof r === "object" && r !== null && "col" in r;
  const atom = (): R => {
    ws();
    if (src[i] === "~") {
      i++;
      const a = atom();
      return isErr(a) ? a : { t: "not", a };
    }
    if (src[i] === "(") {
      i++;
      const a = or();
      if (isErr(a)) return a;
      ws();
      if (src[i] !== ")") return fail('expected ")"');
      i++;
      return a;
    }
    const p = take(num);
    if (p !== null) {
      if (src[i] !== ":" || src[i + 1] !== "X")
        return fail(`expected ":X" after ${p} (a register, e.g. 1:X8)`);
      i += 2;
      const r = take(num);
      if (r === null) return fail("expected a register number");
      ws();
      if (src[i] !== "=") return fail('expected "="');
      i++;
      ws();
      if (src[i] === "(") {
        const f = fieldsAt();
        return isErr(f) ? f : { t: "reg", proc: Number(p), reg: Number(r), value: f };
      }
      const v = take(num);
      if (v === null) return fail("expected a value or descriptor fields");
      return { t: "reg", proc: Number(p), reg: Number(r), value: Number(v) };
    }
    const start = i;
    const name = take(ident);
    if (name === null) return fail("expected a condition");
    ws();
    if (name === "fault" && src[i] === "(") {
      i++;
      ws();
      if (src[i] !== "P") return fail("expected P<n>, the faulting program");
      i++;
      const n = take(num);
      if (n === null) return fail("expected the program's number");
      ws();
      if (src[i] !== ",") return fail('expected ","');
      i++;
      ws();
      const loc = take(ident);
      if (loc === null) return fail("expected a location");
      ws();
      if (src[i] !== ")") return fail('expected ")"');
      i++;
      return { t: "fault", proc: Number(n), loc };
    }
    if (src[i] !== "=") {
      i = start;
      return fail(`expected "=" after ${name}`);
    }
    i++;
    ws();
    if (name.startsWith("pte_")) {
      if (src[i] !== "(") return fail("expected descriptor fields, e.g. (af:1,db:0)");
      const f = fieldsAt();
      return isErr(f) ? f : { t: "pte", loc: name.slice(4), fields: f };
    }
    const v = take(num);
    if (v === null) return fail(`expected the value of ${name}`);
    return { t: "data", loc: name, value: Number(v) };
  };
  // A left-associative chain of `operand op operand ...` (herd's /\ and \/).
  const chain = (t: "and" | "or", op: string, operand: () => R): R => {
    let a = operand();
    for (;;) {
      if (isErr(a)) return a;
      ws();
      if (!src.startsWith(op, i)) return a;
      i += op.length;
      const b = operand();
      if (isErr(b)) return b;
      a = { t, a, b };
    }
  };
  const and = (): R => chain("and", "/\\", atom);
  const or = (): R => chain("or", "\\/", and);
  const c = or();
  if (isErr(c)) return c;
  ws();
  if (i < src.length) return fail(`unexpected "${src.slice(i, i + 10)}"`);
  return c;
}

export function isCondError(c: Cond | CondError): c is CondError {
  return "col" in c;
}

// ---- verdicts ----

export type LitmusVerdict = "allowed" | "forbidden" | "required";

/**
 * The litmus verdict from the checker's: the property checked is "the exists condition is
 * never reached" (violated = Allowed, verified = Forbidden) or "the forall condition holds at
 * the end of every execution" (verified = Required, violated = Allowed: some execution misses it).
 */
export function litmusVerdict(
  quantifier: "exists" | "forall",
  checked: "verified" | "violated",
): LitmusVerdict {
  if (quantifier === "exists") return checked === "violated" ? "allowed" : "forbidden";
  return checked === "verified" ? "required" : "allowed";
}
