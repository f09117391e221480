// Replay of a recorded program's memory system calls through ptesim's kernel, once per backend.
// Pure: takes parsed records (parse.ts), returns results; no I/O.
//
// For each backend a fresh Machine + Kernel is made per address space of the recording (see
// spaces.ts for how threads and processes are told apart). Every replayed call (mmap, munmap,
// mprotect, brk, mremap) goes through the kernel's syscall path, and its outcome (address, 0,
// new break, or -errno) is compared with the recorded one; each mismatch is a divergence with
// its line number.
//
// Following the recording:
// - Placement: a mapping Linux placed itself (mmap without MAP_FIXED, an mremap move without
//   MREMAP_FIXED) is put where the recording says it went: mmap runs as MAP_FIXED at the
//   recorded address after checking that the model has nothing there (a divergence if it has);
//   mremap gets the address as its placement (AddressSpace.mremap placeAt) and still decides
//   itself whether to grow in place or move.
// - Files: strace does not record which file an fd is (except with -y, whose path is used);
//   a file mapping is memory of its size, private or shared, named by its path or "fd:N". A
//   mapping of an fd without MAP_FIXED starts a new file identity for that fd (a new struct file:
//   Linux merges VMAs of one open file only); MAP_FIXED mappings of the fd reuse it.
// - Memory that existed before the recording started (the executable, ld.so, the stack, vdso)
//   is unknown. When an mprotect the recording shows succeeding covers memory the model lacks
//   (ld.so protecting its own and the executable's RELRO), and no earlier recorded call
//   determined that range, the missing pieces are inserted as pre-existing private rw memory
//   named "(pre-existing)" and listed as implied. Holes the recording itself determined are never
//   filled, and nothing else is implied (an mremap of memory the model lacks is a divergence).
// - The program break: the first brk(NULL) of an address space gives start_brk.
// - A call the model performs but Linux refused is undone when possible (a new mmap without
//   MAP_FIXED is unmapped) so the replay keeps following the recording.
//
// Populating pages (strace does not record memory accesses) follows a policy:
//   touch  (default) every page that becomes accessible, by mmap, brk growth, mremap growth, or
//          an mprotect of a page that has no PTE yet, is accessed once: written if writable,
//          else read (PROT_NONE pages are not accessed);
//   read   the same pages, each read once (private pages then map the zero page);
//   write  only the writable ones, written once;
//   none   no accesses.
// At most maxTouchPages pages are accessed per call (the rest are counted as skipped). Linux's
// own populate (MAP_POPULATE, MAP_LOCKED, a VM_LOCKED mremap growth) is always done.

import { populateRange, type RemapStats, sys_brk, sys_mremap } from "../kernel/brk-mremap.js";
import { EEXIST, EINVAL, errnoName } from "../kernel/errno.js";
import { Kernel, VM_FAULT_SIGSEGV } from "../kernel/kernel.js";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_POPULATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mman.js";
import type { BackendModule } from "../kernel/pvops.js";
import {
  type AddressSpace,
  type FileArg,
  VM_EXEC,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_READ,
  VM_WRITE,
  vmPerms,
} from "../kernel/vma.js";
import { COUNTERS, type CounterName } from "../machine/ledger.js";
import { ACCESS_READ, ACCESS_WRITE, Machine } from "../machine/machine.js";
import { OutOfFramesError } from "../machine/physmem.js";
import { type CostOverrides, costTable, cycles } from "../sim/costs.js";
import { IntervalMap } from "./intervals.js";
import type { Call, ParsedLog, SyscallRecord } from "./parse.js";
import { assignSpaces, type SpaceAssignment, type SpaceInfo } from "./spaces.js";

export const POPULATE_POLICIES = ["touch", "read", "write", "none"] as const;
export type PopulatePolicy = (typeof POPULATE_POLICIES)[number];

export const POPULATE_HELP: Record<PopulatePolicy, string> = {
  touch:
    "every page that becomes accessible (mmap, brk or mremap growth, mprotect of a page without a PTE) is accessed once: written if writable, else read",
  read: "the same pages, each read once",
  write: "only the writable ones among them, each written once",
  none: "no accesses (only MAP_POPULATE/MAP_LOCKED populate)",
};

export interface ReplayOptions {
  backends: readonly BackendModule[];
  populate?: PopulatePolicy;
  /** Accesses per call at most (default 65536 pages: 256 MiB). */
  maxTouchPages?: number;
  /** CPUs of each simulated machine (default 1; all calls run on CPU 0). */
  cpus?: number;
  costs?: CostOverrides;
  /** Replay only the calls whose result line is at most this (default: all). */
  untilLine?: number;
}

export interface Divergence {
  line: number;
  pid: number;
  /** The call as recorded. */
  call: string;
  /** The recorded outcome, e.g. "0x7f12345000", "0", "-ENOMEM". */
  expected: string;
  /** The model's outcome. */
  got: string;
  /** What the replay did about it, or why it happened. */
  note?: string;
}

/** A piece of memory the replay inferred to exist before the recording started. */
export interface Implied {
  start: number;
  end: number;
  line: number;
}

export interface SpaceReport {
  id: number;
  origin: SpaceInfo["origin"];
  pids: number[];
  firstLine: number;
  lastLine: number;
  startBrk: number | null;
  brk: number;
  implied: Implied[];
  /** Final VMA list in /proc/PID/maps format. */
  maps: string;
  /** Differences between the final VMA list and the map the recorded outcomes imply ([] = agrees). */
  mapCheck: string[];
}

export interface BackendReplay {
  backend: string;
  /** Whether the backend is meant to be correct (BackendModule.correct). */
  correct: boolean;
  /** Replayed calls by name. */
  syscalls: Record<string, number>;
  /** PTEs changed by mprotect (change_pte_range transactions). */
  ptesMprotect: number;
  /** PTEs moved by mremap. */
  ptesMoved: number;
  /** Pages accessed by the populate policy, and pages the per-call limit left out. */
  pagesTouched: number;
  pagesSkipped: number;
  /** Page faults taken by those accesses (#PF), plus pages Linux's populate faulted in. */
  faults: number;
  populated: number;
  counters: Partial<Record<CounterName, number>>;
  cycles: number;
  divergences: Divergence[];
  spaces: SpaceReport[];
  /** The replay stopped early (e.g. the backend threw); null if it finished. */
  aborted: string | null;
}

export interface ReplayResult {
  lines: number;
  /** Calls in the log, replayed or not, by name. */
  calls: Record<string, number>;
  /** Calls neither replayed nor used to follow processes, by name (skipped). */
  unknown: Record<string, number>;
  malformed: ParsedLog["malformed"];
  /** Calls without a result in the log ("= ?", or <unfinished ...> never resumed): skipped. */
  incomplete: ParsedLog["incomplete"];
  signals: number;
  exits: number;
  populate: PopulatePolicy;
  /** How threads were attributed to address spaces where that was a guess. */
  notes: string[];
  spaces: SpaceInfo[];
  backends: BackendReplay[];
}

const DEFAULT_MAX_TOUCH = 65536;
const PRE_EXISTING = "(pre-existing)";
const IMPLIED_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}
/** A syscall outcome as text: address/0/break, or -ERRNO. */
function outcome(v: number, name: string): string {
  if (v < 0) return `-${errnoName(-v)}`;
  return name === "munmap" || name === "mprotect" ? String(v) : hex(v);
}

/** One address space of the recording, in one backend's run. */
interface Space {
  info: SpaceInfo;
  machine: Machine;
  kernel: Kernel;
  as: AddressSpace;
  /** Ranges some replayed call determined (mapped, unmapped, moved): never implied. */
  known: IntervalMap<true>;
  implied: Implied[];
  /** fd -> file identity generation. */
  files: Map<number, number>;
  nextFile: number;
  brkSet: boolean;
}

/** Replay parsed records on each backend. */
export function replay(log: ParsedLog, opts: ReplayOptions): ReplayResult {
  const populate = opts.populate ?? "touch";
  const assign = assignSpaces(log);
  const backends = opts.backends.map((b) => replayOn(b, log, assign, opts, populate));
  return {
    lines: log.lines,
    calls: log.byName,
    unknown: log.unknown,
    malformed: log.malformed,
    incomplete: [
      ...log.incomplete,
      ...log.records
        .filter((r) => r.result.kind === "none" && r.call.name !== "other")
        .map((r) => ({ line: r.line, pid: r.pid, name: r.call.name })),
    ].sort((a, b) => a.line - b.line),
    signals: log.events.filter((e) => e.kind === "signal").length,
    exits: log.events.filter((e) => e.kind === "exit").length,
    populate,
    notes: assign.notes,
    spaces: assign.spaces,
    backends,
  };
}

function backendOptions(b: BackendModule): Record<string, unknown> {
  if (b.optionsSchema === undefined) return {};
  const r = b.optionsSchema.safeParse({});
  return r.success ? (r.data as Record<string, unknown>) : {};
}

function replayOn(
  backend: BackendModule,
  log: ParsedLog,
  assign: SpaceAssignment,
  opts: ReplayOptions,
  policy: PopulatePolicy,
): BackendReplay {
  const cpu = 0;
  const maxTouch = opts.maxTouchPages ?? DEFAULT_MAX_TOUCH;
  const out: BackendReplay = {
    backend: backend.name,
    correct: backend.correct,
    syscalls: {},
    ptesMprotect: 0,
    ptesMoved: 0,
    pagesTouched: 0,
    pagesSkipped: 0,
    faults: 0,
    populated: 0,
    counters: {},
    cycles: 0,
    divergences: [],
    spaces: [],
    aborted: null,
  };
  const spaces: (Space | undefined)[] = [];
  const bopts = backendOptions(backend);

  const makeSpace = (info: SpaceInfo): Space => {
    const machine = new Machine({ cpus: opts.cpus ?? 1 });
    const kernel = new Kernel(machine, backend, { backendOptions: bopts });
    const sp: Space = {
      info,
      machine,
      kernel,
      as: kernel.as,
      known: new IntervalMap<true>(),
      implied: [],
      files: new Map(),
      nextFile: 1,
      brkSet: false,
    };
    const parent = info.parent === null ? undefined : spaces[info.parent];
    if (info.origin === "fork" && parent !== undefined) {
      // fork: the child starts with a copy of the parent's VMAs (page tables are not copied).
      for (const v of parent.as.vmas()) {
        sp.as.insertOpaque(v.start, v.end, v.flags, v.file ?? v.label, {
          pgoff: v.pgoff,
          anonVma: v.anonVma !== 0,
        });
        sp.known.set(v.start, v.end, true);
      }
      if (parent.as.startBrk !== null) {
        sp.as.setBrk(parent.as.startBrk, parent.as.currentBrk);
        sp.brkSet = true;
      }
    }
    return sp;
  };

  const diverge = (r: SyscallRecord, expected: string, got: string, note?: string) => {
    out.divergences.push({
      line: r.line,
      pid: r.pid,
      call: r.text,
      expected,
      got,
      ...(note === undefined ? {} : { note }),
    });
  };

  /** Access the pages of [start, end) by the policy; `onlyNew`: skip pages that have a PTE. */
  const touch = (sp: Space, start: number, end: number, onlyNew: boolean) => {
    if (policy === "none") return;
    let n = 0;
    for (let a = start; a < end; a += PAGE_SIZE) {
      const v = sp.as.findVma(a);
      if (v === undefined) continue;
      const writable = (v.flags & VM_WRITE) !== 0;
      const accessible = (v.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
      let kind: number;
      if (policy === "touch") {
        if (!accessible) continue;
        kind = writable ? ACCESS_WRITE : ACCESS_READ;
      } else if (policy === "read") {
        if (!accessible) continue;
        kind = ACCESS_READ;
      } else {
        if (!writable) continue;
        kind = ACCESS_WRITE;
      }
      if (onlyNew && sp.kernel.peekPte(a) !== 0) continue;
      if (n >= maxTouch) {
        out.pagesSkipped++;
        continue;
      }
      n++;
      access(sp, a, kind);
    }
    out.pagesTouched += n;
  };

  /** One user access, with the fault handled (and retried) as the CPU and kernel would. */
  const access = (sp: Space, a: number, kind: number) => {
    const m = sp.machine;
    for (let tries = 0; tries < 4; tries++) {
      if (m.access(cpu, a, kind, 1)) return;
      if (sp.kernel.handle_mm_fault(cpu, a, m.cpus[cpu].pfError) === VM_FAULT_SIGSEGV) {
        throw new Error(`populate: SIGSEGV at ${hex(a)} (the VMA allows the access)`);
      }
    }
    throw new Error(`populate: access at ${hex(a)} keeps faulting`);
  };

  /** Insert pre-existing memory for the parts of [start, end) that no recorded call determined. */
  const imply = (sp: Space, r: SyscallRecord, start: number, end: number) => {
    for (const hole of vmaGaps(sp.as, start, end)) {
      for (const g of sp.known.gaps(hole.start, hole.end)) {
        sp.as.insertOpaque(g.start, g.end, IMPLIED_FLAGS, PRE_EXISTING, { anonVma: true });
        sp.known.set(g.start, g.end, true);
        sp.implied.push({ start: g.start, end: g.end, line: r.line });
        touch(sp, g.start, g.end, false);
      }
    }
  };

  const fileFor = (sp: Space, c: Extract<Call, { name: "mmap" }>): FileArg => {
    let gen = sp.files.get(c.fd);
    if (gen === undefined || !(c.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
      gen = sp.nextFile++;
      sp.files.set(c.fd, gen);
    }
    return {
      name: c.path ?? `fd:${c.fd}`,
      offsetPages: Math.floor(c.offset / PAGE_SIZE),
      handle: `${c.fd}#${gen}`,
    };
  };

  const replayCall = (sp: Space, r: SyscallRecord): void => {
    const k = sp.kernel;
    const c = r.call;
    const rec = r.result;
    const expected = rec.kind === "value" ? rec.value : rec.kind === "error" ? -rec.errno : Number.NaN;
    const ok = rec.kind === "value";
    const check = (got: number, note?: string) => {
      if (rec.kind === "error" && rec.errno === 0) {
        // An errno ptesim does not know by name: any failure matches.
        if (got >= 0) diverge(r, `-${rec.name}`, outcome(got, c.name), note);
        return;
      }
      if (got !== expected) diverge(r, outcome(expected, c.name), outcome(got, c.name), note);
    };
    switch (c.name) {
      case "mmap": {
        const anon = (c.flags & MAP_ANONYMOUS) !== 0;
        const file = anon ? null : fileFor(sp, c);
        const len = pageAlign(c.len);
        if (c.offset % PAGE_SIZE !== 0) {
          check(-EINVAL); // arch sys_mmap: offset not page-aligned
          return;
        }
        if (ok) {
          const at = expected;
          let flags = c.flags;
          let addr = c.addr;
          if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
            const inTheWay = sp.as.vmas().filter((v) => v.start < at + len && v.end > at);
            if (inTheWay.length > 0)
              diverge(
                r,
                hex(at),
                `-${errnoName(EEXIST)}`,
                `Linux placed the mapping where the model still maps ${inTheWay.map((v) => `${hex(v.start)}-${hex(v.end)}`).join(", ")}; replaced to follow the recording`,
              );
            flags |= MAP_FIXED;
            addr = at;
          }
          const got = k.sys_mmap(cpu, addr, c.len, c.prot, flags, file);
          check(got);
          if (got < 0) return;
          sp.known.set(got, got + len, true);
          const kernelPopulate =
            (c.flags & MAP_LOCKED) !== 0 || (c.flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE;
          if (kernelPopulate) out.populated += populateRange(k, cpu, got, got + len);
          else touch(sp, got, got + len, false);
        } else {
          const got = k.sys_mmap(cpu, c.addr, c.len, c.prot, c.flags, file);
          if (got >= 0 && !(c.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
            k.sys_munmap(cpu, got, c.len);
            check(got, "the model's mapping was unmapped again to follow the recording");
          } else check(got);
        }
        return;
      }
      case "munmap": {
        const got = k.sys_munmap(cpu, c.addr, c.len);
        check(got);
        if (got === 0) sp.known.set(c.addr, c.addr + pageAlign(c.len), true);
        return;
      }
      case "mprotect": {
        const len = pageAlign(c.len);
        if (ok) imply(sp, r, c.addr, c.addr + len);
        const got = k.sys_mprotect(cpu, c.addr, c.len, c.prot);
        out.ptesMprotect += k.lastMprotect.ptesChanged;
        check(got);
        if (got === 0 && c.prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) touch(sp, c.addr, c.addr + len, true);
        return;
      }
      case "brk": {
        if (!sp.brkSet) {
          sp.brkSet = true;
          if (ok && (c.addr === 0 || c.addr !== expected)) {
            // The first call of a fresh program: the answer is start_brk (page-aligned at exec).
            const start = Math.floor(expected / PAGE_SIZE) * PAGE_SIZE;
            sp.as.setBrk(start, expected);
          } else if (ok) {
            // A program that moves its break before asking for it: the base is unknown.
            sp.as.setBrk(Math.floor(expected / PAGE_SIZE) * PAGE_SIZE, expected);
            diverge(r, hex(expected), hex(expected), "break base unknown: taken as this call's result");
            return;
          }
        }
        const before = sp.as.currentBrk;
        const got = sys_brk(k, cpu, c.addr);
        check(got);
        const after = sp.as.currentBrk;
        if (after !== before) {
          const lo = pageAlign(Math.min(before, after));
          const hi = pageAlign(Math.max(before, after));
          sp.known.set(lo, hi, true);
          if (after > before) touch(sp, lo, hi, false);
        }
        return;
      }
      case "mremap": {
        const oldLen = pageAlign(c.oldLen);
        const newLen = pageAlign(c.newLen);
        const stats: RemapStats = { ptesMoved: 0, flushPages: 0, populated: 0 };
        const placeAt = ok && expected !== c.addr && !(c.flags & MREMAP_FIXED) ? expected : undefined;
        let conflict = false;
        let got = sys_mremap(k, cpu, c.addr, c.oldLen, c.newLen, c.flags, c.newAddr, {
          ...(placeAt === undefined ? {} : { placeAt }),
          stats,
          onPlacementConflict: () => {
            conflict = true;
          },
        });
        out.ptesMoved += stats.ptesMoved;
        out.populated += stats.populated;
        if (conflict) {
          diverge(
            r,
            hex(expected),
            outcome(got, c.name),
            `Linux moved the mapping to ${hex(expected)}, where the model still maps something; moved there with MREMAP_FIXED to follow the recording`,
          );
          got = sys_mremap(
            k,
            cpu,
            c.addr,
            c.oldLen,
            c.newLen,
            c.flags | MREMAP_MAYMOVE | MREMAP_FIXED,
            expected,
            {
              stats,
            },
          );
          out.ptesMoved += stats.ptesMoved;
        } else check(got);
        if (got >= 0) {
          sp.known.set(c.addr, c.addr + oldLen, true);
          sp.known.set(got, got + newLen, true);
          if (newLen > oldLen && stats.populated === 0) touch(sp, got + oldLen, got + newLen, false);
        }
        return;
      }
      default:
        return;
    }
  };

  const limit = opts.untilLine ?? Number.POSITIVE_INFINITY;
  for (let i = 0; i < log.records.length; i++) {
    const r = log.records[i];
    if (r.endLine > limit) break;
    const c = r.call;
    if (c.name === "other" || c.name === "clone" || c.name === "execve") continue;
    if (r.result.kind === "none") continue; // no outcome recorded: the call is not replayed
    const id = assign.spaceOf[i];
    let sp = spaces[id];
    if (sp === undefined) {
      sp = makeSpace(assign.spaces[id]);
      spaces[id] = sp;
    }
    out.syscalls[c.name] = (out.syscalls[c.name] ?? 0) + 1;
    try {
      replayCall(sp, r);
    } catch (e) {
      if (e instanceof OutOfFramesError) {
        out.aborted = `line ${r.line}: ${e.message} (try --populate none)`;
      } else out.aborted = `line ${r.line}: ${(e as Error).message}`;
      break;
    }
  }

  const table = costTable(opts.costs);
  const totals = new Float64Array(COUNTERS.length);
  for (const sp of spaces) {
    if (sp === undefined) continue;
    for (let i = 0; i < COUNTERS.length; i++) totals[i] += sp.machine.ledger.total(i);
    out.cycles += cycles(sp.machine.ledger, table);
    out.spaces.push({
      id: sp.info.id,
      origin: sp.info.origin,
      pids: sp.info.pids,
      firstLine: sp.info.firstLine,
      lastLine: sp.info.lastLine,
      startBrk: sp.as.startBrk,
      brk: sp.as.currentBrk,
      implied: sp.implied,
      maps: sp.as.toMaps(),
      mapCheck: [],
    });
  }
  COUNTERS.forEach((c, i) => {
    if (totals[i] !== 0) out.counters[c] = totals[i];
  });
  out.faults = out.counters.page_fault ?? 0;
  // The final VMA lists against what the recorded outcomes imply.
  const expectedMaps = impliedMaps(log, assign, opts.untilLine);
  for (const s of out.spaces) {
    const sp = spaces[s.id]!;
    s.mapCheck = compareMaps(sp.as, expectedMaps.get(s.id) ?? new IntervalMap<string>(), sp.known);
  }
  return out;
}

/** The parts of [start, end) that no VMA of `as` covers. */
function vmaGaps(as: AddressSpace, start: number, end: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let at = start;
  for (const v of as.vmas()) {
    if (v.end <= at) continue;
    if (v.start >= end) break;
    if (v.start > at) out.push({ start: at, end: v.start });
    at = v.end;
  }
  if (at < end) out.push({ start: at, end });
  return out;
}

// ---------------------------------------------------------------------------------- implied maps

function protPerms(prot: number, shared: boolean): string {
  return `${prot & PROT_READ ? "r" : "-"}${prot & PROT_WRITE ? "w" : "-"}${prot & PROT_EXEC ? "x" : "-"}${shared ? "s" : "p"}`;
}

/**
 * What the recording alone implies about each address space, page by page ("rwxp" per page):
 * the recorded successful calls applied in order with plain interval arithmetic (no VMA rules):
 * mmap sets its range, munmap clears it, mprotect sets the rights (a page no call determined
 * counts as pre-existing), brk sets or clears the heap between the old and new break, mremap
 * moves its pages to the recorded address (keeping their rights; growth takes the rights of the
 * moved range's last page) and clears the source unless MREMAP_DONTUNMAP.
 */
export function impliedMaps(
  log: ParsedLog,
  assign: SpaceAssignment,
  untilLine?: number,
): Map<number, IntervalMap<string>> {
  const maps = new Map<number, IntervalMap<string>>();
  const brks = new Map<number, number>();
  const limit = untilLine ?? Number.POSITIVE_INFINITY;
  for (let i = 0; i < log.records.length; i++) {
    const r = log.records[i];
    if (r.endLine > limit) break;
    if (r.result.kind !== "value") continue;
    const id = assign.spaceOf[i];
    let m = maps.get(id);
    if (m === undefined) {
      m = new IntervalMap<string>();
      const parent = assign.spaces[id].parent;
      if (assign.spaces[id].origin === "fork" && parent !== null)
        for (const iv of (maps.get(parent) ?? new IntervalMap<string>()).intervals())
          m.set(iv.start, iv.end, iv.value);
      maps.set(id, m);
    }
    const c = r.call;
    const v = r.result.value;
    switch (c.name) {
      case "mmap": {
        const t = c.flags & MAP_TYPE;
        m.set(v, v + pageAlign(c.len), protPerms(c.prot, t === MAP_SHARED || t === MAP_SHARED_VALIDATE));
        break;
      }
      case "munmap":
        m.set(c.addr, c.addr + pageAlign(c.len), undefined);
        break;
      case "mprotect": {
        const end = c.addr + pageAlign(c.len);
        for (const g of m.gaps(c.addr, end)) m.set(g.start, g.end, "rw-p");
        for (const iv of m.slice(c.addr, end))
          m.set(iv.start, iv.end, protPerms(c.prot, iv.value.endsWith("s")));
        break;
      }
      case "brk": {
        const old = brks.get(id);
        brks.set(id, v);
        if (old === undefined || old === v) break;
        const lo = pageAlign(Math.min(old, v));
        const hi = pageAlign(Math.max(old, v));
        m.set(lo, hi, v > old ? "rw-p" : undefined);
        break;
      }
      case "mremap": {
        const oldLen = pageAlign(c.oldLen);
        const newLen = pageAlign(c.newLen);
        for (const g of m.gaps(c.addr, c.addr + Math.max(oldLen, PAGE_SIZE))) m.set(g.start, g.end, "rw-p");
        const keep = Math.min(oldLen, newLen);
        const moved = m.slice(c.addr, c.addr + keep);
        const last = m.get(c.addr + Math.max(keep, PAGE_SIZE) - PAGE_SIZE) ?? "rw-p";
        if (oldLen > newLen) m.set(c.addr + newLen, c.addr + oldLen, undefined);
        if (v !== c.addr || c.flags & MREMAP_FIXED) {
          if (!(c.flags & MREMAP_DONTUNMAP)) m.set(c.addr, c.addr + keep, undefined);
          m.set(v, v + newLen, undefined);
          for (const iv of moved) m.set(v + (iv.start - c.addr), v + (iv.end - c.addr), iv.value);
        }
        if (newLen > oldLen) m.set(v + oldLen, v + newLen, last);
        break;
      }
      default:
        break;
    }
  }
  return maps;
}

/** Compare the model's VMAs with the implied map, page-wise; differences as text (at most 10). */
function compareMaps(as: AddressSpace, implied: IntervalMap<string>, known: IntervalMap<true>): string[] {
  const model = new IntervalMap<string>();
  for (const v of as.vmas()) model.set(v.start, v.end, vmPerms(v.flags));
  const a = model.intervals();
  const b = implied.intervals();
  // Walk both lists over the union of their boundaries.
  const cuts = new Set<number>();
  for (const x of [...a, ...b]) {
    cuts.add(x.start);
    cuts.add(x.end);
  }
  const pts = [...cuts].sort((x, y) => x - y);
  const diffs: string[] = [];
  for (let i = 0; i + 1 < pts.length && diffs.length < 10; i++) {
    const s = pts[i];
    const e = pts[i + 1];
    const mv = model.get(s);
    const iv = implied.get(s);
    if (mv === iv) continue;
    // Memory the model took over from a fork parent but the recording never touched is not compared.
    if (iv === undefined && known.get(s) === undefined) continue;
    diffs.push(`${hex(s)}-${hex(e)}: model ${mv ?? "unmapped"}, recording implies ${iv ?? "unmapped"}`);
  }
  return diffs;
}
