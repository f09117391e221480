// A zod issue in a YAML document, said the way a person reads the document: what was expected,
// and what the document holds there ("cpus: expected a whole number, got the string \"three\"").
// Pure: used by the scenario loader (and by any YAML document checked against a zod schema).
import type { z } from "zod";

/** The value at `path` of `root`, or `missing` when the path does not exist. */
const MISSING = Symbol("missing");
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object" || !(seg in (v as object))) return MISSING;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

interface Def {
  type?: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  valueType?: z.ZodType;
  checks?: { _zod?: { def?: { format?: string; check?: string } } }[];
  format?: string;
}
function def(s: z.ZodType | undefined): Def | undefined {
  return (s as unknown as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

/** The schema at `path` below `root`, looking through defaults, optionals and pipes. */
function schemaAt(root: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  const unwrap = () => {
    for (let d = def(s); d?.innerType !== undefined || (d?.type === "pipe" && d.in); d = def(s))
      s = d.innerType ?? d.in;
  };
  for (const seg of path) {
    unwrap();
    const d = def(s);
    if (d === undefined) return undefined;
    if (d.type === "object" && typeof seg === "string") s = d.shape?.[seg];
    else if (d.type === "array" && typeof seg === "number") s = d.element;
    else if (d.type === "record") s = d.valueType;
    else return undefined;
  }
  unwrap();
  return s;
}

/** True for a number schema that only takes whole numbers (z.number().int()). */
function wantsInteger(s: z.ZodType | undefined): boolean {
  const d = def(s);
  if (d?.type !== "number") return false;
  if (d.format === "safeint" || d.format === "int32" || d.format === "uint32") return true;
  return (d.checks ?? []).some((c) => /int/.test(c._zod?.def?.format ?? ""));
}

const EXPECTED: Record<string, string> = {
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  string: "a string",
  array: "a list",
  object: "a mapping (key: value)",
  record: "a mapping (key: value)",
};

/** A value as a person would name it in a YAML file. */
export function describeValue(v: unknown): string {
  if (v === null) return "nothing (null)";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return ".nan (not a number)";
    if (v === Number.POSITIVE_INFINITY) return ".inf (infinity)";
    if (v === Number.NEGATIVE_INFINITY) return "-.inf (minus infinity)";
    return String(v);
  }
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === "object") return "a mapping";
  return String(v);
}

/** A hint for the usual YAML slips: quoted numbers, digit separators, yes/no booleans. */
function hint(expected: string, v: unknown): string {
  if (typeof v !== "string") return "";
  if ((expected === "number" || expected === "int") && /^[-+]?\d+(\.\d+)?$/.test(v.trim()))
    return ` (write it without quotes: ${v.trim()})`;
  if ((expected === "number" || expected === "int") && /^[-+]?\d{1,3}(_\d{3})+$/.test(v))
    return ` (YAML 1.2 numbers have no digit separators: ${v.replaceAll("_", "")})`;
  if (expected === "boolean" && /^(yes|no|on|off|y|n)$/i.test(v))
    return " (YAML 1.2 booleans are true and false)";
  return "";
}

/**
 * The message for one issue (without the path). `data` is the document as parsed; `root` the
 * schema it was checked against (to tell a whole number from any number).
 */
export function describeIssue(issue: z.core.$ZodIssue, data: unknown, root: z.ZodType): string {
  const got =
    "input" in issue && issue.input !== undefined ? issue.input : valueAt(data, issue.path as PropertyKey[]);
  switch (issue.code) {
    case "invalid_type": {
      const int = issue.expected === "int" || wantsInteger(schemaAt(root, issue.path as PropertyKey[]));
      const expected = int ? "int" : issue.expected;
      const want = EXPECTED[expected] ?? expected;
      if (got === MISSING || got === undefined) return `missing (expected ${want})`;
      return `expected ${want}, got ${describeValue(got)}${hint(expected, got)}`;
    }
    case "too_big":
    case "too_small": {
      const bound = issue.code === "too_big" ? issue.maximum : issue.minimum;
      const what = issue.origin === "array" ? " items" : issue.origin === "string" ? " characters" : "";
      const size = Array.isArray(got) ? got.length : typeof got === "string" ? got.length : got;
      const word =
        issue.inclusive === false
          ? issue.code === "too_big"
            ? "less than"
            : "more than"
          : issue.code === "too_big"
            ? "at most"
            : "at least";
      return `must be ${word} ${String(bound)}${what}, got ${got === MISSING ? "nothing" : describeValue(size)}`;
    }
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${got === MISSING ? "nothing" : describeValue(got)}`;
    default:
      return issue.message;
  }
}
