// Differential test of src/kernel/vma.ts against the real Linux kernel.
//
// mmops.c performs seeded random sequences of mmap / mprotect / munmap calls and page writes in a
// guarded window of its own address space and prints each call, its result and the window's
// /proc/self/maps lines. This module compiles it with `cc`, runs it, replays every call through a
// fresh AddressSpace built from the process's real layout, and compares call by call: the result
// (address or errno) and the window's VMAs (start, end, rwxs/p, offset of shmem VMAs, and which
// VMAs share one shmem object). At the end of each sequence the whole address space is compared.
//
// This is the I/O edge of the project: it may use node: modules; src/kernel/vma.ts may not.
import { spawnSync } from "node:child_process";
import { errnoName } from "../kernel/errno.js";
import { PAGE_SIZE } from "../kernel/mman.js";
import {
  AddressSpace,
  VM_ACCOUNT,
  VM_EXEC,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type Vma,
  vmPerms,
} from "../kernel/vma.js";
import { compileC, cSource } from "./compile.js";

export interface DifferentialOptions {
  /** Number of sequences (seeds). */
  seeds: number;
  /** Calls per sequence. */
  calls: number;
  /** First seed. */
  from?: number;
  /** Window size in pages (default 512). */
  windowPages?: number;
  /** Sequences per process run of mmops (default 50). */
  perProcess?: number;
  /** Stop at the first divergence (default true). */
  stopAtFirst?: boolean;
  /** Called after each process run with the number of sequences done so far. */
  onProgress?: (done: number) => void;
}

export interface Divergence {
  seed: number;
  /** Index of the call in the sequence; -1 for the end-of-sequence comparison. */
  callIndex: number;
  callText: string;
  reason: string;
  /** The real kernel's lines (window or whole space). */
  linux: string[];
  /** The model's lines. */
  model: string[];
}

export interface DifferentialReport {
  sequences: number;
  calls: number;
  divergences: Divergence[];
  /** Outcome counts such as "mmap ok", "mprotect ENOMEM", "touch". */
  outcomes: Record<string, number>;
  ms: number;
}

// ---------------------------------------------------------------------------- compiling mmops

/** Compiles mmops.c once per process (`cc -O2`, into a temp dir); returns the binary's path.
 * opts.cc: another compiler command (not cached). */
export function compileMmops(opts: { cc?: string } = {}): string {
  return compileC(cSource(import.meta.url, "fidelity", "mmops.c"), "differential", opts);
}

export function runMmops(bin: string, first: number, n: number, calls: number, windowPages: number): string {
  const r = spawnSync(bin, [String(first), String(n), String(calls), String(windowPages)], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (r.error !== undefined) throw new Error(`differential: cannot run mmops: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(
      `differential: mmops ${first} ${n} ${calls} exited with ${r.status ?? r.signal}: ${r.stdout.slice(-500)}`,
    );
  }
  return r.stdout;
}

// ---------------------------------------------------------------------------- parsing

interface MapsLine {
  start: number;
  end: number;
  perms: string;
  offset: number;
  inode: number;
  name: string;
}

function h(s: string): number {
  return Number.parseInt(s, 16);
}

/** Parses a /proc/PID/maps line. */
export function parseMapsLine(line: string): MapsLine {
  const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/.exec(line);
  if (m === null) throw new Error(`differential: bad maps line: ${line}`);
  return { start: h(m[1]), end: h(m[2]), perms: m[3], offset: h(m[4]), inode: Number(m[5]), name: m[6] };
}

/** VM flags a maps line implies for insertOpaque: VM_MAY* all set, VM_ACCOUNT for private writable. */
export function flagsFromPerms(perms: string): number {
  let f = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (perms[0] === "r") f |= VM_READ;
  if (perms[1] === "w") f |= VM_WRITE;
  if (perms[2] === "x") f |= VM_EXEC;
  if (perms[3] === "s") f |= VM_SHARED | VM_MAYSHARE;
  else if (f & VM_WRITE) f |= VM_ACCOUNT;
  return f;
}

/** Builds an AddressSpace holding a real process's layout; mmapBase is the top of the mmap area
 * (the end of the highest mapping below the stack: the dynamic loader, mapped first at exec). */
export function addressSpaceFromMaps(lines: MapsLine[], mmapMinAddr: number): AddressSpace {
  const user = lines.filter((l) => l.name !== "[vsyscall]" && l.end <= 2 ** 47);
  const stack = user.find((l) => l.name === "[stack]");
  let base = 0;
  for (const l of user)
    if (l !== stack && (stack === undefined || l.end <= stack.start)) base = Math.max(base, l.end);
  const as = new AddressSpace({ mmapBase: base, mmapMinAddr });
  for (const l of user) {
    const file = l.name === "" ? null : l.name;
    const isFile = file !== null && !file.startsWith("[");
    // Writable private VMAs of a running process have been written to: they have an anon_vma.
    const written = l.perms[1] === "w" && l.perms[3] === "p";
    as.insertOpaque(l.start, l.end, flagsFromPerms(l.perms), file, {
      pgoff: isFile ? l.offset / PAGE_SIZE : undefined,
      anonVma: written,
    });
  }
  return as;
}

interface WinLine {
  start: number;
  end: number;
  perms: string;
  offset: number;
  kind: string;
  inode: number;
}

function parseWinLine(s: string): WinLine {
  const [range, perms, off, kind, inode] = s.split(" ");
  const [a, b] = range.split("-");
  return { start: h(a), end: h(b), perms, offset: h(off), kind, inode: Number(inode) };
}

function fmtWin(l: { start: number; end: number; perms: string; offset: number; kind: string }): string {
  return `${l.start.toString(16)}-${l.end.toString(16)} ${l.perms} ${l.offset.toString(16)} ${l.kind}`;
}

function modelKind(v: Vma): string {
  if (v.kind === "anon") return "a";
  if (v.file === "/dev/zero (deleted)") return "z";
  if (v.file?.startsWith("/memfd:")) return "m";
  return "?";
}

function modelWin(v: Vma): WinLine {
  const off = v.kind === "shmem" || v.kind === "file" ? v.pgoff * PAGE_SIZE : 0;
  return {
    start: v.start,
    end: v.end,
    perms: vmPerms(v.flags),
    offset: off,
    kind: modelKind(v),
    inode: v.fileId,
  };
}

// ---------------------------------------------------------------------------- replay

interface SeqState {
  seed: number;
  maps: MapsLine[];
  as?: AddressSpace;
  guardLo: number;
  guardHi: number;
  memfdName: string;
  lastCall: string;
  lastIndex: number;
  pendingWin: WinLine[] | null;
  finalMaps: MapsLine[];
  /** real inode <-> model fileId, to check that the same VMAs share a shmem object. */
  inodeToModel: Map<number, number>;
  modelToInode: Map<number, number>;
  failed: boolean;
}

class Replayer {
  /** What was checked so far, as a report taking `ms`. */
  report(ms: number): DifferentialReport {
    return {
      sequences: this.sequences,
      calls: this.calls,
      divergences: this.divergences,
      outcomes: this.outcomes,
      ms,
    };
  }

  readonly divergences: Divergence[] = [];
  readonly outcomes: Record<string, number> = {};
  sequences = 0;
  calls = 0;
  private st: SeqState | undefined;

  constructor(private readonly stopAtFirst: boolean) {}

  get stop(): boolean {
    return this.stopAtFirst && this.divergences.length > 0;
  }

  private count(key: string): void {
    this.outcomes[key] = (this.outcomes[key] ?? 0) + 1;
  }

  private diverge(reason: string, linux: string[], model: string[], index?: number, text?: string): void {
    const st = this.st!;
    st.failed = true;
    this.divergences.push({
      seed: st.seed,
      callIndex: index ?? st.lastIndex,
      callText: text ?? st.lastCall,
      reason,
      linux,
      model,
    });
  }

  feed(output: string): void {
    let pos = 0;
    while (pos < output.length && !this.stop) {
      let nl = output.indexOf("\n", pos);
      if (nl < 0) nl = output.length;
      const line = output.slice(pos, nl);
      pos = nl + 1;
      this.line(line);
    }
  }

  private line(line: string): void {
    const tag = line[0];
    const rest = line.slice(2);
    if (tag === "S") {
      const [seed] = rest.split(" ");
      this.st = {
        seed: Number(seed),
        maps: [],
        guardLo: 0,
        guardHi: 0,
        memfdName: "",
        lastCall: "(start)",
        lastIndex: -1,
        pendingWin: null,
        finalMaps: [],
        inodeToModel: new Map(),
        modelToInode: new Map(),
        failed: false,
      };
      return;
    }
    const st = this.st;
    if (st === undefined) {
      if (line.startsWith("FATAL")) throw new Error(`differential: mmops: ${line}`);
      return;
    }
    switch (tag) {
      case "M":
        st.maps.push(parseMapsLine(rest));
        return;
      case "G": {
        const [glo, , , ghi, minAddr, ...name] = rest.split(" ");
        st.guardLo = h(glo);
        st.guardHi = h(ghi);
        st.memfdName = name.join(" ");
        st.as = addressSpaceFromMaps(st.maps, h(minAddr));
        return;
      }
      case "C":
        this.flushWin();
        if (!st.failed) this.call(rest);
        return;
      case "W":
        if (st.pendingWin === null) st.pendingWin = [];
        st.pendingWin.push(parseWinLine(rest));
        return;
      case "F":
        this.flushWin();
        st.finalMaps.push(parseMapsLine(rest));
        return;
      case "X":
        this.flushWin();
        if (!st.failed) this.finalCompare();
        this.sequences++;
        this.st = undefined;
        return;
      default:
        if (line.startsWith("FATAL")) throw new Error(`differential: mmops: ${line}`);
    }
  }

  private call(text: string): void {
    const st = this.st!;
    const as = st.as!;
    const parts = text.split(" ");
    const index = Number(parts[0]);
    const op = parts[1];
    const expected = parts[parts.length - 1];
    st.lastIndex = index;
    st.lastCall = parts.slice(1).join(" ");
    st.pendingWin = [];
    this.calls++;
    let got: string;
    switch (op) {
      case "mmap": {
        const [addr, len, prot, flags, fd, off] = parts.slice(2, 8);
        const file =
          fd === "-"
            ? null
            : { name: st.memfdName, offsetPages: h(off) / PAGE_SIZE, writable: fd === "m", handle: fd };
        const r = as.mmap(h(addr), h(len), h(prot), h(flags), file);
        got = r.ok ? r.addr.toString(16) : `-${r.errno}`;
        break;
      }
      case "mprotect": {
        const [start, len, prot] = parts.slice(2, 5);
        const r = as.mprotect(h(start), h(len), h(prot));
        got = r.errno === 0 ? "0" : `-${r.errno}`;
        if (r.errno !== 0 && r.changes.length > 0) this.count("mprotect error after changes");
        if (r.changes.length > 1) this.count("mprotect over several VMAs");
        break;
      }
      case "munmap": {
        const [start, len] = parts.slice(2, 4);
        const r = as.munmap(h(start), h(len));
        got = r.errno === 0 ? "0" : `-${r.errno}`;
        break;
      }
      case "touch":
        as.setAnonVma(h(parts[2]));
        got = "0";
        break;
      default:
        throw new Error(`differential: unknown call ${text}`);
    }
    this.count(`${op} ${expected.startsWith("-") ? errnoName(Number(expected.slice(1))) : "ok"}`);
    if (got !== expected) {
      const fmt = (r: string) => (r.startsWith("-") ? `${errnoName(Number(r.slice(1)))}` : `0x${r}`);
      this.diverge(
        `result: linux ${fmt(expected)}, model ${fmt(got)}`,
        this.windowOfModel(),
        this.windowOfModel(),
      );
      st.pendingWin = null; // the window lines still come; the model's are reported above
    }
  }

  private windowOfModel(): string[] {
    const st = this.st!;
    return st
      .as!.vmas()
      .filter((v) => v.end > st.guardLo && v.start < st.guardHi)
      .map((v) => fmtWin(modelWin(v)));
  }

  private flushWin(): void {
    const st = this.st;
    if (st === undefined || st.pendingWin === null) return;
    const real = st.pendingWin;
    st.pendingWin = null;
    if (st.failed) return;
    const model = st
      .as!.vmas()
      .filter((v) => v.end > st.guardLo && v.start < st.guardHi)
      .map(modelWin);
    const a = real.map(fmtWin);
    const b = model.map(fmtWin);
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
      this.diverge("window VMAs differ", a, b);
      return;
    }
    // Shared anonymous memory: VMAs showing one inode must be one model object, and vice versa.
    // (memfd VMAs are keyed by open file, not inode, so they are not checked this way.)
    for (let i = 0; i < real.length; i++) {
      if (real[i].kind !== "z") continue;
      const ri = real[i].inode;
      const mi = model[i].inode;
      const m1 = st.inodeToModel.get(ri);
      const m2 = st.modelToInode.get(mi);
      if ((m1 !== undefined && m1 !== mi) || (m2 !== undefined && m2 !== ri)) {
        this.diverge(`shmem object identity differs at ${fmtWin(real[i])} (inode ${ri})`, a, b);
        return;
      }
      st.inodeToModel.set(ri, mi);
      st.modelToInode.set(mi, ri);
    }
  }

  private finalCompare(): void {
    const st = this.st!;
    const skip = (name: string) => name === "[vsyscall]" || name === "[stack]";
    const a = st.finalMaps
      .filter((l) => !skip(l.name))
      .map((l) => `${l.start.toString(16)}-${l.end.toString(16)} ${l.perms}`);
    const b = st
      .as!.vmas()
      .filter((v) => v.label !== "[stack]")
      .map((v) => `${v.start.toString(16)}-${v.end.toString(16)} ${vmPerms(v.flags)}`);
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
      this.diverge("whole address space differs at the end of the sequence", a, b, -1, "(end of sequence)");
    }
  }
}

/** Replays an mmops transcript (its standard output) through the model. */
export function replayTranscript(output: string, stopAtFirst = true): DifferentialReport {
  const t0 = Date.now();
  const rp = new Replayer(stopAtFirst);
  rp.feed(output);
  return rp.report(Date.now() - t0);
}

/** Runs the differential test; throws only for infrastructure problems (no cc, mmops crash). */
export function runDifferential(opts: DifferentialOptions): DifferentialReport {
  const t0 = Date.now();
  const bin = compileMmops();
  const from = opts.from ?? 1;
  const per = Math.max(1, opts.perProcess ?? 50);
  const windowPages = opts.windowPages ?? 512;
  const rp = new Replayer(opts.stopAtFirst ?? true);
  for (let s = from; s < from + opts.seeds && !rp.stop; s += per) {
    const n = Math.min(per, from + opts.seeds - s);
    rp.feed(runMmops(bin, s, n, opts.calls, windowPages));
    opts.onProgress?.(s - from + n);
  }
  return rp.report(Date.now() - t0);
}

/** A readable account of one divergence. */
export function formatDivergence(d: Divergence): string {
  const width = Math.max(20, ...d.linux.map((l) => l.length));
  const rows: string[] = [];
  const n = Math.max(d.linux.length, d.model.length);
  for (let i = 0; i < n; i++) {
    const a = d.linux[i] ?? "";
    const b = d.model[i] ?? "";
    rows.push(`  ${a === b ? " " : "!"} ${a.padEnd(width)} | ${b}`);
  }
  return [
    `seed ${d.seed}, call ${d.callIndex}: ${d.callText}`,
    `  ${d.reason}`,
    `    ${"linux".padEnd(width)} | model`,
    ...rows,
    `  reproduce: node dist/fidelity/differential-cli.js --from ${d.seed} --seeds 1 --calls ${Math.max(d.callIndex + 1, 1)}`,
  ].join("\n");
}
