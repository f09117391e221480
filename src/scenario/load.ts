// Scenario files: YAML text -> a validated Scenario, or errors located as file:line:col.
// Pure (no file I/O): the CLI reads the file and passes its text.
import {
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "yaml";
import type { z } from "zod";
import type { ArchName } from "../arch/types.js";
import { allBackends, backendArch, getBackend } from "../backends/registry.js";
import type { BackendModule } from "../kernel/pvops.js";
import { crossCheck, type Scenario, ScenarioSchema } from "../sim/scenario.js";
import { describeIssue } from "./describe-issue.js";

export interface LocatedError {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatLocated(e: LocatedError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.message}`;
}

export type LoadResult = { ok: true; scenario: Scenario } | { ok: false; errors: LocatedError[] };

/** Scenario files larger than this are refused before parsing. */
export const MAX_SCENARIO_BYTES = 1 << 20;
/** Deeper nesting of mappings and lists is refused (a scenario needs 4 levels). */
export const MAX_YAML_DEPTH = 64;
/** Alias expansions allowed when building the data (yaml's maxAliasCount: no "billion laughs"). */
export const MAX_YAML_ALIASES = 100;

/** YAML text checked against a zod schema: the data, or every problem located as file:line:col. */
export type LocatedParse<T> =
  | { ok: true; data: T; locate: (path: readonly PropertyKey[]) => { line: number; col: number } }
  | { ok: false; errors: LocatedError[] };

/**
 * Parses YAML `text` (from `file`, for messages) that must be a mapping, and validates it with
 * `schema`; `what` names the document in messages ("scenario", "cost table").
 */
export function parseLocated<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  what: string,
  /** Defaults that depend on other keys, filled into the document's mapping before validation. */
  prepare?: (data: Record<string, unknown>) => void,
): LocatedParse<z.output<S>> {
  if (text.length > MAX_SCENARIO_BYTES)
    return {
      ok: false,
      errors: [{ file, line: 1, col: 1, message: `file is larger than ${MAX_SCENARIO_BYTES} bytes` }],
    };
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const p = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        const message = /call stack/i.test(e.message)
          ? `nesting deeper than the YAML parser can follow (the limit is ${MAX_YAML_DEPTH} levels)`
          : `YAML: ${firstLine(e.message)}`;
        return { file, line: p.line, col: p.col, message };
      }),
    };
  }
  const deep = tooDeep(doc.contents as Node | null, MAX_YAML_DEPTH);
  if (deep !== null)
    return {
      ok: false,
      errors: [{ file, ...lc.linePos(deep), message: `nesting deeper than ${MAX_YAML_DEPTH} levels` }],
    };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    // An alias bomb (or an alias to an anchor defined later): located at the first alias.
    let at = 0;
    visit(doc, {
      Alias(_k, node) {
        at = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    return {
      ok: false,
      errors: [
        {
          file,
          ...lc.linePos(at),
          message: /alias count/i.test(e.message)
            ? `YAML aliases expand to too much data (more than ${MAX_YAML_ALIASES} expansions)`
            : `YAML: ${firstLine(e.message)}`,
        },
      ],
    };
  }
  if (data === null || typeof data !== "object" || Array.isArray(data))
    return {
      ok: false,
      errors: [{ file, line: 1, col: 1, message: `a ${what} is a YAML mapping (key: value lines)` }],
    };
  const locate = (path: readonly PropertyKey[], key?: string): { line: number; col: number } => {
    const node = nodeAt(doc.contents as Node | null, path, key);
    const off = node?.range?.[0] ?? 0;
    return lc.linePos(off);
  };
  prepare?.(data as Record<string, unknown>);
  const parsed = schema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    const errors: LocatedError[] = [];
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) {
          const p = locate(issue.path, k);
          errors.push({ file, ...p, message: `${where(issue.path, k, what)}: unknown key "${k}"` });
        }
        continue;
      }
      const p = locate(issue.path);
      errors.push({
        file,
        ...p,
        message: `${where(issue.path, undefined, what)}: ${describe(issue, schema)}`,
      });
    }
    return { ok: false, errors: sortErrors(errors) };
  }
  return { ok: true, data: parsed.data, locate };
}

export function loadScenarioText(text: string, file: string): LoadResult {
  // The backend defaults to the architecture's own: native on x86-64, arm64 on arm64.
  const r = parseLocated(text, file, ScenarioSchema, "scenario", (d) => {
    if (d.arch === "arm64" && d.backend === undefined) d.backend = "arm64";
  });
  if (!r.ok) return r;
  const cross = [...crossCheck(r.data), ...backendCheck(r.data)];
  if (cross.length > 0)
    return {
      ok: false,
      errors: sortErrors(
        cross.map((c) => ({ file, ...r.locate(c.path), message: `${where(c.path)}: ${c.message}` })),
      ),
    };
  return { ok: true, scenario: withBackendOptions(r.data) };
}

/** Backend names resolve; backendOptions fit the backend's schema. Module paths are checked at load. */
function backendCheck(s: Scenario): { path: (string | number)[]; message: string }[] {
  if (/^[./]|\.m?js$/.test(s.backend)) return [];
  const b = getBackend(s.backend);
  if (b === undefined) return [{ path: ["backend"], message: `unknown backend "${s.backend}"` }];
  const mismatch = archMismatch(b, s.arch);
  if (mismatch !== null) return [{ path: ["backend"], message: mismatch }];
  return checkBackendOptions(b.optionsSchema, s.backendOptions);
}

/** Why backend `b` cannot run a scenario of `arch`, or null if it can. */
export function archMismatch(b: BackendModule, arch: ArchName): string | null {
  const ba = backendArch(b);
  if (ba === arch) return null;
  const others = allBackends(arch).map((x) => x.name);
  return `backend "${b.name}" runs on ${ba}, but the scenario is ${arch} (${arch} backends: ${others.join(", ")})`;
}

function checkBackendOptions(
  schema: import("zod").ZodType | undefined,
  options: Record<string, unknown>,
): { path: (string | number)[]; message: string }[] {
  if (schema === undefined)
    return Object.keys(options).map((k) => ({
      path: ["backendOptions", k],
      message: `this backend takes no option "${k}"`,
    }));
  const r = schema.safeParse(options, { reportInput: true });
  if (r.success) return [];
  return r.error.issues.map((i) => ({
    path: [
      "backendOptions",
      ...(i.path as (string | number)[]),
      ...(i.code === "unrecognized_keys" ? [i.keys[0]] : []),
    ],
    message: i.code === "unrecognized_keys" ? `unknown option "${i.keys.join('", "')}"` : describe(i, schema),
  }));
}

/** Replace backendOptions by the backend schema's parsed value (defaults filled in). */
function withBackendOptions(s: Scenario): Scenario {
  const b = getBackend(s.backend);
  if (b?.optionsSchema === undefined) return s;
  return { ...s, backendOptions: b.optionsSchema.parse(s.backendOptions) as Record<string, unknown> };
}

function sortErrors(e: LocatedError[]): LocatedError[] {
  return e.sort((a, b) => a.line - b.line || a.col - b.col);
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

/** A document path as messages print it ("regions[0].name"); the empty path is the document (`what`). */
export function where(path: readonly PropertyKey[], key?: string, what = "scenario"): string {
  const parts = [...path, ...(key === undefined ? [] : [key])];
  if (parts.length === 0) return what;
  return parts.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`)).join("");
}

function describe(issue: z.core.$ZodIssue, root: z.ZodType = ScenarioSchema): string {
  return describeIssue(issue, undefined, root);
}

/** The offset of the first node nested deeper than `max` collections, or null. */
function tooDeep(root: Node | null, max: number): number | null {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [n, depth] = stack.pop()!;
    if (isPair(n)) {
      stack.push([n.key, depth], [n.value, depth]);
      continue;
    }
    if (!isCollection(n)) continue;
    if (depth >= max) return n.range?.[0] ?? 0;
    for (const item of n.items) stack.push([item, depth + 1]);
  }
  return null;
}

/** The YAML node at `path` (or the key node of `key` inside it); the deepest existing ancestor otherwise. */
function nodeAt(root: Node | null, path: readonly PropertyKey[], key?: string): Node | null {
  let node: Node | null = root;
  for (const seg of path) {
    if (node === null) return null;
    let next: Node | null = null;
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      next = pair ? ((pair.value as Node | null) ?? (pair.key as Node)) : null;
    } else if (isSeq(node) && typeof seg === "number") next = (node.items[seg] as Node | undefined) ?? null;
    if (next === null) return node;
    node = next;
  }
  if (key !== undefined && node !== null && isMap(node)) {
    const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
    if (pair) return pair.key as Node;
  }
  return node;
}
