// strace text -> typed records. Pure (no I/O).
//
// Accepts what `strace [-f] [-y|-yy] [-t|-tt|-ttt|-r] [-T] [-X verbose|raw]
// -e trace=memory[,process][,desc] -o LOG prog` writes: an optional PID column (or "[pid N]"
// prefix when strace writes to a terminal), an optional timestamp, then one of
//   name(args) = result              a call; result is a number, "-1 EXXX (text)" or "?"
//   name(args <unfinished ...>       a call interrupted by another thread's line ...
//   <... name resumed>args) = result ... and its completion
//   --- SIGxxx {...} ---             a signal
//   +++ exited with N +++ / +++ killed by SIGxxx +++   the end of a thread or process
// StraceParser reads a log line by line (a log of any size streams through it) and hands calls
// to its sink in completion order (the order of their result lines), each with the line where it
// started. The memory calls ptesim replays (mmap, munmap, mprotect, brk, mremap), the process
// calls that tell which address space a thread uses (clone, clone3, fork, vfork, execve) and the
// descriptor calls that tell which open file an fd is (open, openat, creat, memfd_create, dup*,
// fcntl F_DUPFD*, close) are decoded into typed arguments; other calls are counted by name.
// A line that cannot be read, or a decoded call whose arguments cannot be read, is reported as
// malformed with its line number; parsing goes on. A last line cut short (the log ends without
// a newline inside a call) is reported as truncated, not malformed. parseStrace collects a whole
// text (for tests and small logs).
import { errnoFromName, errnoName } from "../kernel/errno.js";

/** The memory calls the replay models. */
export const REPLAYED = ["mmap", "munmap", "mprotect", "brk", "mremap"] as const;
export type ReplayedName = (typeof REPLAYED)[number];

export type StraceResult =
  /** A value: an address, 0, a pid... */
  | { kind: "value"; value: number }
  /** -1 with an errno (errno is the number when ptesim knows the name, else 0). */
  | { kind: "error"; errno: number; name: string }
  /** "?": no result (the thread died or the call never returned). */
  | { kind: "none" };

export type Call =
  | {
      name: "mmap";
      addr: number;
      len: number;
      prot: number;
      flags: number;
      fd: number;
      path: string | null;
      offset: number;
    }
  | { name: "munmap"; addr: number; len: number }
  | { name: "mprotect"; addr: number; len: number; prot: number }
  | { name: "brk"; addr: number }
  | { name: "mremap"; addr: number; oldLen: number; newLen: number; flags: number; newAddr: number }
  /** clone/clone3/fork/vfork: the child shares the address space iff CLONE_VM. */
  | { name: "clone"; syscall: string; cloneVm: boolean }
  | { name: "execve"; syscall: string }
  /** open/openat/creat/memfd_create: a new open file; the fd is the result. */
  | {
      name: "open";
      syscall: string;
      path: string | null;
      readable: boolean;
      writable: boolean;
      cloexec: boolean;
    }
  /** dup/dup2/dup3/fcntl(F_DUPFD*): the result fd refers to the same open file as `fd`. */
  | { name: "dup"; syscall: string; fd: number; cloexec: boolean }
  | { name: "close"; fd: number }
  /** Anything else: not replayed, counted by name. */
  | { name: "other"; syscall: string };

export interface SyscallRecord {
  /** 1-based line where the call starts. */
  line: number;
  /** Line of its result (differs from `line` for <unfinished ...> / <... resumed> pairs). */
  endLine: number;
  /** Thread id from the PID column; 0 when the log has none (strace without -f). */
  pid: number;
  call: Call;
  result: StraceResult;
  /** The call as strace printed it (joined across an unfinished/resumed pair). */
  text: string;
}

/** A call left <unfinished ...> (clone-like calls matter: a child may run before it returns). */
export interface PendingCall {
  line: number;
  pid: number;
  name: string;
  args: string;
}

export interface StraceEvent {
  line: number;
  pid: number;
  /** "fault": a page fault (evidence of an access), in `perf trace -F` form. */
  kind: "signal" | "exit" | "fault";
  text: string;
  /** SIGSEGV/SIGBUS (si_addr) and faults: the address accessed. */
  faultAddr?: number;
}

export interface Malformed {
  line: number;
  reason: string;
  text: string;
}

export interface ParsedLog {
  /** Calls in completion order. */
  records: SyscallRecord[];
  events: StraceEvent[];
  malformed: Malformed[];
  /** Calls that started but never completed in the log (<unfinished ...> without resume). */
  incomplete: { line: number; pid: number; name: string }[];
  /** Calls by syscall name, replayed or not. */
  byName: Record<string, number>;
  /** Calls neither replayed nor used to follow processes, by name. */
  unknown: Record<string, number>;
  lines: number;
  /** The last line, if the log ended inside it. */
  truncated: Malformed | null;
}

// ------------------------------------------------------------------------------- constants

const PROT: Record<string, number> = {
  PROT_NONE: 0,
  PROT_READ: 0x1,
  PROT_WRITE: 0x2,
  PROT_EXEC: 0x4,
  PROT_SEM: 0x8,
  PROT_GROWSDOWN: 0x01000000,
  PROT_GROWSUP: 0x02000000,
};
const MAP: Record<string, number> = {
  MAP_FILE: 0,
  MAP_SHARED: 0x01,
  MAP_PRIVATE: 0x02,
  MAP_SHARED_VALIDATE: 0x03,
  MAP_DROPPABLE: 0x08,
  MAP_FIXED: 0x10,
  MAP_ANONYMOUS: 0x20,
  MAP_ANON: 0x20,
  MAP_32BIT: 0x40,
  MAP_ABOVE4G: 0x80,
  MAP_GROWSDOWN: 0x100,
  MAP_DENYWRITE: 0x800,
  MAP_EXECUTABLE: 0x1000,
  MAP_LOCKED: 0x2000,
  MAP_NORESERVE: 0x4000,
  MAP_POPULATE: 0x8000,
  MAP_NONBLOCK: 0x10000,
  MAP_STACK: 0x20000,
  MAP_HUGETLB: 0x40000,
  MAP_SYNC: 0x80000,
  MAP_FIXED_NOREPLACE: 0x100000,
  MAP_UNINITIALIZED: 0x4000000,
};
const MREMAP: Record<string, number> = { MREMAP_MAYMOVE: 1, MREMAP_FIXED: 2, MREMAP_DONTUNMAP: 4 };

/** MAP_HUGE_2MB and friends: log2(size) << MAP_HUGE_SHIFT (26). */
function hugeFlag(s: string): number | undefined {
  const m = /^MAP_HUGE_(\d+)(KB|MB|GB)$/.exec(s);
  if (m === null) return undefined;
  const bytes = Number(m[1]) * (m[2] === "KB" ? 2 ** 10 : m[2] === "MB" ? 2 ** 20 : 2 ** 30);
  const log = Math.log2(bytes);
  return Number.isInteger(log) ? log * 2 ** 26 : undefined;
}

// ------------------------------------------------------------------------------- values

/** An unsigned number as strace prints it (NULL, decimal, 0x hex, 0 octal); undefined if not one.
 * Values above 2^53 lose precision (they only occur as invalid arguments). */
export function parseNumber(s: string): number | undefined {
  const t = s.trim();
  if (t === "NULL") return 0;
  if (/^0x[0-9a-fA-F]+$/.test(t)) return Number(BigInt(t));
  if (/^-?\d+$/.test(t)) {
    const n = BigInt(t);
    return Number(n < 0n ? n + 2n ** 64n : n); // -1 as an unsigned long
  }
  return undefined;
}

/** A flags word: names joined by "|", numbers, or "0"; a comment such as "/* MAP_??? *\/" is dropped. */
export function parseFlags(s: string, table: Record<string, number>): number | undefined {
  const t = s.replace(/\/\*.*?\*\//g, "").trim();
  if (t === "") return undefined;
  let v = 0;
  for (const part of t.split("|")) {
    const p = part.trim();
    const known = table[p] ?? (table === MAP ? hugeFlag(p) : undefined);
    const n = known ?? parseNumber(p);
    if (n === undefined) return undefined;
    v += n - (v & n); // bitwise OR without 32-bit truncation for the small values involved
  }
  return v;
}

/**
 * The end (index of the closing ">") of an strace -y/-yy decoration opened at `open` ("<"):
 * brackets nest ("3</dev/null<char 1:3>>") and the "->" of a socket's endpoints does not close.
 * -1 if unterminated.
 */
function decorationEnd(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "<") depth++;
    else if (c === ">" && s[i - 1] !== "-") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/**
 * "3", "-1", "3</path/to/file>" (strace -y), "3</memfd:x>(deleted)", "3</dev/null<char 1:3>>"
 * (-yy: the device or socket detail is dropped): the fd and the path.
 */
export function parseFd(s: string): { fd: number; path: string | null } | undefined {
  const t = s.trim();
  const m = /^(-?\d+)/.exec(t);
  if (m === null) return undefined;
  const fd = Number(m[1]);
  if (m[0].length === t.length) return { fd, path: null };
  if (t[m[0].length] !== "<") return undefined;
  const end = decorationEnd(t, m[0].length);
  if (end < 0) return undefined;
  let path = t.slice(m[0].length + 1, end);
  const tail = t.slice(end + 1).trim();
  // -yy appends "<char 1:3>" or similar inside; sockets and pipes keep their "type:[...]" name.
  const inner = path.indexOf("<");
  if (inner > 0 && path.endsWith(">")) path = path.slice(0, inner);
  if (tail === "(deleted)") path = `${path} (deleted)`;
  else if (tail !== "") return undefined;
  return { fd, path };
}

/** Split a call's argument text at top-level commas (quotes, (), [], {} and -y's <path> respected). */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === "\\" && i + 1 < s.length) cur += s[++i];
      else if (c === '"') quote = false;
      continue;
    }
    if (c === "<" && /\d/.test(s[i - 1] ?? "")) {
      // strace -y: "3</path>" (a path may hold commas and brackets)
      const e = decorationEnd(s, i);
      if (e > 0) {
        cur += s.slice(i, e + 1);
        i = e;
        continue;
      }
    }
    if (c === '"') quote = true;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== "" || out.length > 0) out.push(cur.trim());
  return out;
}

/**
 * Index just past the ")" closing an argument list whose "(" is before `from` at `depth` 1, or
 * -1 if the text ends first. Quotes and nested brackets are respected.
 */
function closeParen(s: string, from: number): number {
  let depth = 1;
  let quote = false;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === '"') quote = false;
      continue;
    }
    if (c === "<" && /\d/.test(s[i - 1] ?? "")) {
      const e = decorationEnd(s, i);
      if (e > 0) {
        i = e;
        continue;
      }
    }
    if (c === '"') quote = true;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** The text after "=": a value, "-1 EXXX (text)", or "?" (optionally followed by " <0.0001>"). */
function parseResult(s: string): StraceResult | undefined {
  const t = s.replace(/\s+<[\d.]+>\s*$/, "").trim();
  if (t.startsWith("?")) return { kind: "none" };
  const err = /^-1\s+(E[A-Z0-9]+)\b/.exec(t);
  if (err !== null) return { kind: "error", errno: errnoFromName(err[1]) ?? 0, name: err[1] };
  const raw = /^-1\s+\(errno (\d+)\)/.exec(t); // -X raw
  if (raw !== null) return { kind: "error", errno: Number(raw[1]), name: errnoName(Number(raw[1])) };
  const m = /^(-?\d+|0x[0-9a-fA-F]+)(\s|<|$)/.exec(t);
  if (m === null) return undefined;
  const v = parseNumber(m[1]);
  return v === undefined ? undefined : { kind: "value", value: v };
}

/** Decode the arguments of a call; a string is the reason they could not be decoded. */
export function decodeCall(name: string, argText: string): Call | string {
  const a = splitArgs(argText);
  const num = (i: number, what: string): number => {
    const v = a[i] === undefined ? undefined : parseNumber(a[i]);
    if (v === undefined) throw new DecodeError(`${name}: ${what} "${a[i] ?? ""}" is not a number`);
    return v;
  };
  const flags = (i: number, table: Record<string, number>, what: string): number => {
    const v = a[i] === undefined ? undefined : parseFlags(a[i], table);
    if (v === undefined) throw new DecodeError(`${name}: cannot read ${what} "${a[i] ?? ""}"`);
    return v;
  };
  const want = (n: number) => {
    if (a.length < n) throw new DecodeError(`${name}: ${a.length} arguments, expected ${n}`);
  };
  try {
    switch (name) {
      case "mmap": {
        want(6);
        const fd = parseFd(a[4]);
        if (fd === undefined) throw new DecodeError(`mmap: cannot read fd "${a[4]}"`);
        return {
          name,
          addr: num(0, "addr"),
          len: num(1, "length"),
          prot: flags(2, PROT, "prot"),
          flags: flags(3, MAP, "flags"),
          fd: fd.fd,
          path: fd.path,
          offset: num(5, "offset"),
        };
      }
      case "munmap":
        want(2);
        return { name, addr: num(0, "addr"), len: num(1, "length") };
      case "mprotect":
        want(3);
        return { name, addr: num(0, "addr"), len: num(1, "length"), prot: flags(2, PROT, "prot") };
      case "brk":
        want(1);
        return { name, addr: num(0, "addr") };
      case "mremap":
        want(4);
        return {
          name,
          addr: num(0, "old_address"),
          oldLen: num(1, "old_size"),
          newLen: num(2, "new_size"),
          flags: flags(3, MREMAP, "flags"),
          newAddr: a.length > 4 ? num(4, "new_address") : 0,
        };
      case "clone":
      case "clone3":
      case "fork":
      case "vfork":
        return { name: "clone", syscall: name, cloneVm: name === "vfork" || cloneVm(argText) };
      case "execve":
      case "execveat":
        return { name: "execve", syscall: name };
      case "open":
      case "openat":
      case "creat":
      case "memfd_create": {
        const at = name === "openat" ? 1 : 0;
        want(at + 1);
        const path = unquote(a[at]);
        if (name === "memfd_create")
          return {
            name: "open",
            syscall: name,
            path: path === null ? null : `/memfd:${path}`,
            readable: true,
            writable: true,
            cloexec: /MFD_CLOEXEC/.test(a[1] ?? ""),
          };
        if (name === "creat")
          return { name: "open", syscall: name, path, readable: false, writable: true, cloexec: false };
        const fl = a[at + 1] ?? "O_RDONLY";
        const n = parseNumber(fl.replace(/\/\*.*?\*\//g, ""));
        const acc = n !== undefined ? n & 3 : /O_RDWR/.test(fl) ? 2 : /O_WRONLY/.test(fl) ? 1 : 0;
        return {
          name: "open",
          syscall: name,
          path,
          readable: acc !== 1,
          writable: acc !== 0,
          cloexec: /O_CLOEXEC/.test(fl) || (n !== undefined && (n & 0o2000000) !== 0),
        };
      }
      case "dup":
      case "dup2":
      case "dup3": {
        want(1);
        const fd = parseFd(a[0]);
        if (fd === undefined) throw new DecodeError(`${name}: cannot read fd "${a[0]}"`);
        return {
          name: "dup",
          syscall: name,
          fd: fd.fd,
          cloexec: name === "dup3" && /O_CLOEXEC/.test(a[2] ?? ""),
        };
      }
      case "fcntl":
      case "fcntl64": {
        if (a.length >= 2 && /^F_DUPFD/.test(a[1])) {
          const fd = parseFd(a[0]);
          if (fd === undefined) throw new DecodeError(`${name}: cannot read fd "${a[0]}"`);
          return { name: "dup", syscall: name, fd: fd.fd, cloexec: a[1] === "F_DUPFD_CLOEXEC" };
        }
        return { name: "other", syscall: name };
      }
      case "close": {
        want(1);
        const fd = parseFd(a[0]);
        if (fd === undefined) throw new DecodeError(`close: cannot read fd "${a[0]}"`);
        return { name: "close", fd: fd.fd };
      }
      default:
        return { name: "other", syscall: name };
    }
  } catch (e) {
    if (e instanceof DecodeError) return e.message;
    throw e;
  }
}

class DecodeError extends Error {}

const CLONE_VM = 0x100;

/** Whether clone's flags hold CLONE_VM: by name, or (-X raw) by the number's bit. */
function cloneVm(argText: string): boolean {
  if (/\bCLONE_VM\b/.test(argText)) return true;
  const m = /flags=(0x[0-9a-fA-F]+|\d+)/.exec(argText);
  if (m === null) return false;
  return (Number(BigInt(m[1]) & BigInt(CLONE_VM)) & CLONE_VM) !== 0;
}

/** A quoted string argument ("..." possibly followed by "..." when strace cut it), or null. */
function unquote(s: string | undefined): string | null {
  if (s === undefined) return null;
  const m = /^"((?:[^"\\]|\\.)*)"/.exec(s.trim());
  return m === null ? null : m[1].replace(/\\(.)/g, "$1");
}

// ------------------------------------------------------------------------------- lines

const PID_RE = /^(?:\[pid\s+(\d+)\]|(\d+))\s+/;
const TIME_RE = /^(?:\d\d:\d\d:\d\d(?:\.\d+)?|\d+\.\d+)\s+/;
const NAME_RE = /^([a-z_][a-z0-9_]*)\(/;
/** A page fault as `perf trace -F all` prints it: "[time (dur): comm/PID ]minfault [ip] => 0xADDR (d.)". */
const FAULT_RE =
  /^(?:(?:[\d.]+\s+)?\(\s*[\d.]+\s+ms\):\s+\S*\/(\d+)\s+)?(?:maj|min)fault \[[^\]]*\] => (0x[0-9a-fA-F]+)\b/;
const SI_ADDR_RE = /^--- SIG(?:SEGV|BUS) \{.*\bsi_addr=(0x[0-9a-fA-F]+|NULL)/;

/** Where StraceParser sends what it reads, in log order (calls in completion order). */
export interface StraceSink {
  record(r: SyscallRecord): void;
  event(e: StraceEvent): void;
  malformed?(m: Malformed): void;
  /** A clone-like call went <unfinished ...>: its child may appear before it returns. */
  unfinished?(p: PendingCall): void;
}

/** Reads strace output one line at a time; see the file comment. */
export class StraceParser {
  lines = 0;
  readonly byName: Record<string, number> = {};
  readonly unknown: Record<string, number> = {};
  readonly incomplete: { line: number; pid: number; name: string }[] = [];
  /** The log's last line, cut short, if it was (not counted as malformed). */
  truncated: Malformed | null = null;
  /** Unfinished calls by pid (a thread has at most one call in flight). */
  private readonly pending = new Map<number, PendingCall>();

  constructor(private readonly sink: StraceSink) {}

  /** Calls in flight now, by pid. */
  pendingCalls(): ReadonlyMap<number, PendingCall> {
    return this.pending;
  }

  /** The next line (without its newline). `last`: the log ended without a newline after it. */
  push(text: string, last = false): void {
    const lineNo = ++this.lines;
    const raw = text.endsWith("\r") ? text.slice(0, -1) : text;
    const bad = (reason: string) => {
      const m = { line: lineNo, reason, text: raw };
      if (last) this.truncated = m;
      else this.sink.malformed?.(m);
    };
    let rest = raw.trimStart(); // -r pads its relative timestamps
    if (rest === "" || rest.startsWith("strace: ")) return; // strace's own notices
    let pid = 0;
    const pm = PID_RE.exec(rest);
    if (pm !== null) {
      pid = Number(pm[1] ?? pm[2]);
      rest = rest.slice(pm[0].length);
    }
    const tm = TIME_RE.exec(rest);
    if (tm !== null) rest = rest.slice(tm[0].length);

    if (rest.startsWith("+++ ")) {
      if (!/\+\+\+\s*$/.test(rest)) bad("unterminated +++ line");
      else {
        const p = this.pending.get(pid);
        if (p !== undefined) {
          this.incomplete.push({ line: p.line, pid, name: p.name });
          this.pending.delete(pid);
        }
        this.sink.event({ line: lineNo, pid, kind: "exit", text: rest });
      }
      return;
    }
    if (rest.startsWith("--- ")) {
      if (!/---\s*$/.test(rest)) bad("unterminated --- line");
      else {
        const f = SI_ADDR_RE.exec(rest);
        const e: StraceEvent = { line: lineNo, pid, kind: "signal", text: rest };
        if (f !== null) e.faultAddr = parseNumber(f[1]) ?? 0;
        this.sink.event(e);
      }
      return;
    }
    const fault = FAULT_RE.exec(rest);
    if (fault !== null) {
      if (fault[1] !== undefined && pm === null) pid = Number(fault[1]);
      this.sink.event({
        line: lineNo,
        pid,
        kind: "fault",
        text: rest,
        faultAddr: parseNumber(fault[2]) ?? 0,
      });
      return;
    }
    const resumed = /^<\.\.\. ([a-z_][a-z0-9_]*) resumed>(.*)$/.exec(rest);
    if (resumed !== null) {
      const p = this.pending.get(pid);
      if (p === undefined || p.name !== resumed[1]) {
        bad(`"${resumed[1]} resumed" without a matching <unfinished ...> call of pid ${pid}`);
        return;
      }
      const tail = resumed[2];
      const close = closeParen(tail, 0);
      const eq = close < 0 ? null : /^\s*=\s*(.*)$/.exec(tail.slice(close));
      if (close < 0 || eq === null) {
        if (last) {
          this.truncated = { line: lineNo, reason: `the resumed ${p.name} call is cut short`, text: raw };
          return; // still pending: counted as incomplete at the end
        }
        this.pending.delete(pid);
        bad(`cannot find the end of the resumed ${p.name} call`);
        return;
      }
      this.pending.delete(pid);
      const args = `${p.args}${tail.slice(0, close - 1)}`;
      this.finish({ ...p, args }, lineNo, eq[1], `${p.name}(${args}) = ${eq[1]}`);
      return;
    }
    const nm = NAME_RE.exec(rest);
    if (nm === null) {
      bad("not a system call, signal or exit line");
      return;
    }
    const name = nm[1];
    const body = rest.slice(nm[0].length);
    const unf = /\s*<unfinished \.\.\.>\s*$/.exec(body);
    if (unf !== null) {
      const prev = this.pending.get(pid);
      if (prev !== undefined) this.incomplete.push({ line: prev.line, pid, name: prev.name });
      const p: PendingCall = { line: lineNo, pid, name, args: body.slice(0, unf.index) };
      this.pending.set(pid, p);
      if (name === "clone" || name === "clone3" || name === "fork" || name === "vfork")
        this.sink.unfinished?.(p);
      return;
    }
    const close = closeParen(body, 0);
    const eq = close < 0 ? null : /^\s*=\s*(.*)$/.exec(body.slice(close));
    if (close < 0 || eq === null) {
      if (last) {
        this.truncated = { line: lineNo, reason: `${name}: the log ends inside this call`, text: raw };
        this.incomplete.push({ line: lineNo, pid, name });
      } else bad(`${name}: no ") = result"`);
      return;
    }
    this.finish(
      { line: lineNo, pid, name, args: body.slice(0, close - 1) },
      lineNo,
      eq[1],
      `${name}(${body}`,
    );
  }

  /** The end of the log: calls still in flight are incomplete. */
  end(): void {
    for (const p of this.pending.values()) this.incomplete.push({ line: p.line, pid: p.pid, name: p.name });
    this.pending.clear();
    this.incomplete.sort((a, b) => a.line - b.line);
  }

  private finish(p: PendingCall, endLine: number, resultText: string, joined: string): void {
    const result = parseResult(resultText);
    if (result === undefined) {
      this.sink.malformed?.({
        line: endLine,
        reason: `cannot read the result "${resultText.trim()}"`,
        text: joined,
      });
      return;
    }
    const call = decodeCall(p.name, p.args);
    if (typeof call === "string") {
      this.sink.malformed?.({ line: p.line, reason: call, text: joined });
      return;
    }
    this.byName[p.name] = (this.byName[p.name] ?? 0) + 1;
    if (call.name === "other") this.unknown[p.name] = (this.unknown[p.name] ?? 0) + 1;
    this.sink.record({ line: p.line, endLine, pid: p.pid, call, result, text: joined });
  }
}

/** Parse a whole strace log held in memory. */
export function parseStrace(text: string): ParsedLog {
  const records: SyscallRecord[] = [];
  const events: StraceEvent[] = [];
  const malformed: Malformed[] = [];
  const parser = new StraceParser({
    record: (r) => records.push(r),
    event: (e) => events.push(e),
    malformed: (m) => malformed.push(m),
  });
  const lines = text.split("\n");
  const endsWithNewline = lines.length > 0 && lines[lines.length - 1] === "";
  if (endsWithNewline) lines.pop();
  for (let i = 0; i < lines.length; i++) parser.push(lines[i], !endsWithNewline && i === lines.length - 1);
  parser.end();
  return {
    records,
    events,
    malformed,
    incomplete: parser.incomplete,
    byName: parser.byName,
    unknown: parser.unknown,
    lines: parser.lines,
    truncated: parser.truncated,
  };
}
