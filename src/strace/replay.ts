// Replay of a recorded program's memory system calls through ptesim's kernel, on every backend
// at once. Pure: records and events go in (from StraceParser, streamed, or a parsed log), a
// result comes out; no I/O.
//
// The log streams through once: each record is replayed on every backend in turn, each backend
// keeping its own simulated Machine + Kernel per live address space of the recording (spaces.ts
// tells which address space a call runs in, and when one is created, forked or freed). An
// address space's state is freed when its last thread exits or execs, after its counters and
// final VMA check are folded into the totals: memory follows the live processes, not the log.
// Every replayed call (mmap, munmap, mprotect, brk, mremap) goes through the kernel's syscall
// path and its outcome (address, 0, new break, or -errno) is compared with the recorded one.
// Reports are bounded: the first divergences, notes and address spaces in detail, then counts.
//
// Following the recording:
// - Placement: a mapping Linux placed itself (mmap without MAP_FIXED, an mremap move without
//   MREMAP_FIXED) is put where the recording says it went (MAP_FIXED after checking the model
//   has nothing there; mremap's placeAt).
// - fork: the child's VMAs are a copy of the parent's at the fork (AddressSpace.dup_mmap); its
//   page tables start empty (the copy of page tables is not modelled). exec starts afresh.
// - Files (a file mapping is memory of its size, private or shared): which open file an fd is
//   decides merging (Linux merges VMAs of one struct file only). With descriptor calls in the log
//   (trace=desc or %file: open, openat, creat, memfd_create, dup*, fcntl F_DUPFD*, close) the fd
//   table is followed: dup'ed fds are one file, each open is a new one with its access mode
//   (EACCES), a closed fd is bad (EBADF). Else an fd is one file as long as its -y path stays
//   the same; without -y, a non-MAP_FIXED mapping of an fd at offset 0 starts a new file (the
//   dynamic loader's pattern: one open per library). With -y, an fd printed without a path was
//   not open (EBADF).
// - Memory that existed before the recording (the executable, ld.so, the stack, vdso): when a
//   successful mprotect covers memory the model lacks and no recorded call determined that range,
//   the missing pieces are inserted as pre-existing private rw memory ("implied"); directly
//   below a VM_GROWSDOWN VMA the VMA grows instead (a stack grew by a fault strace cannot see).
//   Such VMAs count towards max_map_count: an exec'd program starts with `unmodelledVmas`
//   unmodelled ones (revised when the recording shows the limit was reached earlier or later).
// - mmap_min_addr: 65536, or --mmap-min-addr, lowered to the lowest address the recording shows
//   a mapping at.
// - A call the model performs but Linux refused is undone when possible (a new mmap is
//   unmapped again) so the replay keeps following the recording.
//
// Populating pages (strace does not record memory accesses) follows a policy; see POPULATE_HELP.
// At most maxTouchPages pages are accessed per call (the rest are counted as skipped).

import { populateRange, type RemapStats, sys_brk, sys_mremap } from "../kernel/brk-mremap.js";
import { EBADF, EEXIST, EINVAL, ENOMEM, errnoName } from "../kernel/errno.js";
import { Kernel } from "../kernel/kernel.js";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_POPULATE,
  MMAP_MIN_ADDR,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
} from "../kernel/mman.js";
import type { BackendModule } from "../kernel/pvops.js";
import {
  AddressSpace,
  type FileArg,
  VM_EXEC,
  VM_GROWSDOWN,
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
import { ImpliedMap } from "./implied.js";
import { IntervalMap } from "./intervals.js";
import type {
  Call,
  Malformed,
  ParsedLog,
  PendingCall,
  StraceEvent,
  StraceSink,
  SyscallRecord,
} from "./parse.js";
import { type SpaceInfo, SpaceTracker } from "./spaces.js";

export const POPULATE_POLICIES = ["read", "touch", "write", "none", "evidence"] as const;
export type PopulatePolicy = (typeof POPULATE_POLICIES)[number];

/** The default: of the guessing policies, the one whose final VMA lists match Linux's most
 * often on the differential harness's sequences (read and none tie; read also gives mprotect
 * present PTEs to work on). See src/fidelity/populate-policy.ts and recordings/README.md. */
export const DEFAULT_POPULATE: PopulatePolicy = "read";

export const POPULATE_HELP: Record<PopulatePolicy, string> = {
  read: "every page that becomes accessible (mmap, brk or mremap growth, mprotect of a page without a PTE) is read once (private pages map the zero page: no anon_vma, as when a program has not written them yet)",
  touch:
    "the same pages, each accessed once: written if writable (which gives its VMA an anon_vma and changes later merges), else read",
  write: "only the writable ones among them, each written once",
  none: "no accesses (only MAP_POPULATE/MAP_LOCKED populate)",
  evidence:
    'only the pages the log\'s page-fault lines name (`perf trace -F all` form: "minfault [ip] => 0xADDR"), where they occur; chosen by itself when the log has such lines',
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
  /** The log has page-fault lines: unless `populate` is given, they are the only accesses
   * replayed ("evidence") from the start. (replay() finds out itself; a streaming caller tells.) */
  faultEvidence?: boolean;
  /** vm.mmap_min_addr (default 65536, lowered to what the recording shows). */
  mmapMinAddr?: number;
  /** vm.max_map_count (default 65530). */
  maxMapCount?: number;
  /** VMAs an exec'd program has before its first recorded call (default 12). */
  unmodelledVmas?: number;
  /** Divergences kept per backend, and address spaces reported in detail (default 200 / 20). */
  maxDivergences?: number;
  maxSpaceReports?: number;
  /** Called about every 4096 records (a progress line for long logs). */
  onProgress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  line: number;
  records: number;
  liveSpaces: number;
  spaces: number;
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
  /** "pre-existing": inserted; "stack": a VM_GROWSDOWN VMA grown down to it. */
  kind: "pre-existing" | "stack";
}

export interface SpaceReport {
  id: number;
  origin: SpaceInfo["origin"];
  parent: number | null;
  pids: number[];
  firstLine: number;
  lastLine: number;
  startBrk: number | null;
  brk: number;
  implied: Implied[];
  vmas: number;
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
  /** The first divergences (maxDivergences); divergenceCount counts them all. */
  divergences: Divergence[];
  divergenceCount: number;
  /** Address spaces in detail: the first maxSpaceReports, then (up to as many) any that differ. */
  spaces: SpaceReport[];
  spacesAgreeing: number;
  spacesDiffering: number;
  /** The replay stopped early (e.g. the backend threw); null if it finished. */
  aborted: string | null;
}

export interface ReplayResult {
  lines: number;
  /** Calls in the log, replayed or not, by name. */
  calls: Record<string, number>;
  /** Calls neither replayed nor used to follow processes or files, by name (skipped). */
  unknown: Record<string, number>;
  malformed: Malformed[];
  malformedCount: number;
  /** Calls without a result in the log ("= ?", or <unfinished ...> never resumed): skipped. */
  incomplete: { line: number; pid: number; name: string }[];
  incompleteCount: number;
  /** The log's last line, if the log ended inside it. */
  truncated: Malformed | null;
  signals: number;
  exits: number;
  populate: PopulatePolicy;
  /** Page-fault lines of the log replayed as accesses (populate "evidence"). */
  faultsReplayed: number;
  /** Address spaces in the recording, and the most alive at once. */
  spaceCount: number;
  peakLiveSpaces: number;
  /** The log had process calls (fork/exec followed exactly) / descriptor calls (fds followed). */
  processTracking: boolean;
  fdTracking: boolean;
  /** vm.mmap_min_addr the replay ended with. */
  mmapMinAddr: number;
  /** How threads were attributed to address spaces where that was a guess (first 20). */
  notes: string[];
  notesOmitted: number;
  backends: BackendReplay[];
}

const DEFAULT_MAX_TOUCH = 65536;
const PRE_EXISTING = "(pre-existing)";
const IMPLIED_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
/** An exec'd dynamic program's VMAs before its first call: the executable's and ld.so's
 * segments (4 + 5), [stack], [vvar], [vvar_vclock], [vdso] (recordings/*.maps). */
const DEFAULT_UNMODELLED_VMAS = 12;
const KEEP_LIST = 20;

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

/** An open file of the recording (Linux's struct file). */
interface OpenFile {
  id: number;
  path: string | null;
  readable: boolean;
  writable: boolean;
}

/** One address space of the recording: what the recording says, shared by all backends. */
interface SpaceState {
  info: SpaceInfo;
  implied: ImpliedMap;
  /** The fd table (followed when the log has descriptor calls). */
  fds: Map<number, { file: OpenFile; cloexec: boolean }>;
  /** fds seen closed (EBADF until opened again). */
  closed: Set<number>;
  /** Without descriptor calls: fd -> the key of its current file. */
  guessed: Map<number, string>;
  /** Per backend (index as ReplayOptions.backends): the model, or null once that backend stopped. */
  per: (ModelSpace | null)[];
}

/** One address space in one backend's run. */
interface ModelSpace {
  machine: Machine;
  kernel: Kernel;
  /** Ranges some replayed call determined (mapped, unmapped, moved): never implied. */
  known: IntervalMap<true>;
  implied: Implied[];
  brkSet: boolean;
}

interface Run {
  backend: BackendModule;
  bopts: Record<string, unknown>;
  out: BackendReplay;
  totals: Float64Array;
}

function backendOptions(b: BackendModule): Record<string, unknown> {
  if (b.optionsSchema === undefined) return {};
  const r = b.optionsSchema.safeParse({});
  return r.success ? (r.data as Record<string, unknown>) : {};
}

/** The parts of [start, end) that no VMA of `as` covers. */
function vmaGaps(as: AddressSpace, start: number, end: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let at = start;
  for (const v of as.vmasIn(start, end)) {
    if (v.start > at) out.push({ start: at, end: v.start });
    at = v.end;
  }
  if (at < end) out.push({ start: at, end });
  return out;
}

/** Replays a recording on every backend as its records and events stream in. */
export class Replayer implements StraceSink {
  private policy: PopulatePolicy;
  private readonly policyChosen: boolean;
  private faultsReplayed = 0;
  private readonly maxTouch: number;
  private readonly limit: number;
  private readonly maxDiv: number;
  private readonly maxSpaces: number;
  private readonly unmodelled: number;
  private readonly table: ReturnType<typeof costTable>;
  private readonly runs: Run[];
  private readonly tracker: SpaceTracker;
  private readonly states = new Map<number, SpaceState>();
  private minAddr: number;
  private fdTracking = false;
  private yMode = false;
  private nextFile = 1;
  private records = 0;
  private lastLine = 0;
  private peakLive = 0;
  private signals = 0;
  private exits = 0;
  private malformedList: Malformed[] = [];
  private malformedCount = 0;
  private noResult: { line: number; pid: number; name: string }[] = [];

  constructor(private readonly opts: ReplayOptions) {
    this.policy = opts.populate ?? (opts.faultEvidence === true ? "evidence" : DEFAULT_POPULATE);
    this.policyChosen = opts.populate !== undefined;
    this.maxTouch = opts.maxTouchPages ?? DEFAULT_MAX_TOUCH;
    this.limit = opts.untilLine ?? Number.POSITIVE_INFINITY;
    this.maxDiv = opts.maxDivergences ?? 200;
    this.maxSpaces = opts.maxSpaceReports ?? KEEP_LIST;
    this.unmodelled = opts.unmodelledVmas ?? DEFAULT_UNMODELLED_VMAS;
    this.minAddr = opts.mmapMinAddr ?? MMAP_MIN_ADDR;
    this.table = costTable(opts.costs);
    this.runs = opts.backends.map((backend) => ({
      backend,
      bopts: backendOptions(backend),
      totals: new Float64Array(COUNTERS.length),
      out: {
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
        divergenceCount: 0,
        spaces: [],
        spacesAgreeing: 0,
        spacesDiffering: 0,
        aborted: null,
      },
    }));
    this.tracker = new SpaceTracker({
      created: (info, parent, execFrom) => this.created(info, parent, execFrom),
      freed: (info) => this.freed(info),
    });
  }

  // ------------------------------------------------------------------ sink

  unfinished(p: PendingCall): void {
    if (p.line <= this.limit) this.tracker.unfinished(p);
  }

  malformed(m: Malformed): void {
    this.malformedCount++;
    if (this.malformedList.length < KEEP_LIST) this.malformedList.push(m);
  }

  event(e: StraceEvent): void {
    if (e.line > this.limit) return;
    if (e.kind === "fault") {
      // Evidence of an access: from now on the only accesses replayed are the evidenced ones.
      if (!this.policyChosen) this.policy = "evidence";
      const s = this.tracker.spaceOfPid(e.pid);
      const st = s === undefined ? undefined : this.states.get(s.id);
      if (st === undefined || e.faultAddr === undefined) return;
      this.faultsReplayed++;
      for (let b = 0; b < this.runs.length; b++) {
        const ms = st.per[b];
        if (ms === null || this.runs[b].out.aborted !== null) continue;
        try {
          this.accessEvidence(this.runs[b], ms, e.faultAddr);
        } catch (err) {
          this.runs[b].out.aborted = `line ${e.line}: ${(err as Error).message}`;
          this.dropBackend(b);
        }
      }
      return;
    }
    if (e.kind === "signal") this.signals++;
    else this.exits++;
    this.tracker.event(e);
  }

  /** A page fault the log shows: the page is accessed (written if its VMA is writable), a stack
   * grows to it; an address no VMA allows is ignored (the program got SIGSEGV). */
  private accessEvidence(run: Run, ms: ModelSpace, addr: number): void {
    const as = ms.kernel.as;
    const page = addr - (addr % PAGE_SIZE);
    let v = as.findVma(page);
    if (v === undefined && as.expandDownwards(page)) v = as.findVma(page);
    if (v === undefined || !(v.flags & (VM_READ | VM_WRITE | VM_EXEC))) return;
    this.access(ms, page, v.flags & VM_WRITE ? ACCESS_WRITE : ACCESS_READ);
    run.out.pagesTouched++;
  }

  record(r: SyscallRecord): void {
    if (r.endLine > this.limit) return;
    this.lastLine = r.endLine;
    if (++this.records % 4096 === 0)
      this.opts.onProgress?.({
        line: r.endLine,
        records: this.records,
        liveSpaces: this.tracker.liveSpaces,
        spaces: this.tracker.total,
      });
    const c = r.call;
    if (c.name === "other") return;
    const s = this.tracker.spaceFor(r);
    if (this.tracker.liveSpaces > this.peakLive) this.peakLive = this.tracker.liveSpaces;
    const st = this.states.get(s.id)!;
    switch (c.name) {
      case "open":
      case "dup":
      case "close":
        this.followFds(st, r);
        break;
      case "clone":
      case "execve":
        break;
      default:
        if (r.result.kind === "none") {
          if (this.noResult.length < KEEP_LIST)
            this.noResult.push({ line: r.line, pid: r.pid, name: c.name });
          break;
        }
        if (c.name === "mmap" && c.path !== null) this.yMode = true;
        st.implied.apply(r);
        this.lowerMinAddr(r);
        for (let b = 0; b < this.runs.length; b++) {
          const ms = st.per[b];
          if (ms === null || this.runs[b].out.aborted !== null) continue;
          this.replayOn(b, st, ms, r);
        }
    }
    this.tracker.after(r, s);
  }

  /** The end of the log (the parser's counts complete the result). */
  finish(log: Pick<ParsedLog, "lines" | "byName" | "unknown" | "incomplete" | "truncated">): ReplayResult {
    this.tracker.end();
    for (const run of this.runs) {
      COUNTERS.forEach((c, i) => {
        if (run.totals[i] !== 0) run.out.counters[c] = run.totals[i];
      });
      run.out.faults = run.out.counters.page_fault ?? 0;
      run.out.spaces.sort((a, b) => a.id - b.id);
    }
    const incomplete = [...log.incomplete.filter((x) => x.line <= this.limit), ...this.noResult].sort(
      (a, b) => a.line - b.line,
    );
    return {
      lines: log.lines,
      calls: log.byName,
      unknown: log.unknown,
      malformed: this.malformedList,
      malformedCount: this.malformedCount,
      incomplete: incomplete.slice(0, KEEP_LIST),
      incompleteCount: incomplete.length,
      truncated: log.truncated,
      signals: this.signals,
      exits: this.exits,
      populate: this.policy,
      faultsReplayed: this.faultsReplayed,
      spaceCount: this.tracker.total,
      peakLiveSpaces: this.peakLive,
      processTracking: this.tracker.processTracking,
      fdTracking: this.fdTracking,
      mmapMinAddr: this.minAddr,
      notes: this.tracker.notes,
      notesOmitted: this.tracker.notesOmitted,
      backends: this.runs.map((r) => r.out),
    };
  }

  // ------------------------------------------------------------------ address spaces

  private newAs(): AddressSpace {
    return new AddressSpace({
      mmapMinAddr: this.minAddr,
      ...(this.opts.maxMapCount === undefined ? {} : { maxMapCount: this.opts.maxMapCount }),
      unmodelledMapCount: this.unmodelled,
    });
  }

  private created(info: SpaceInfo, parent: SpaceInfo | null, execFrom: SpaceInfo | null): void {
    const ps = parent === null ? undefined : this.states.get(parent.id);
    const from = execFrom === null ? undefined : this.states.get(execFrom.id);
    const st: SpaceState = {
      info,
      implied: ps?.implied.copy() ?? new ImpliedMap(),
      fds: new Map(),
      closed: new Set(ps?.closed ?? from?.closed ?? []),
      guessed: new Map(ps?.guessed ?? from?.guessed ?? []),
      per: [],
    };
    // fork copies the fd table; exec keeps it but for close-on-exec fds.
    for (const [fd, e] of ps?.fds ?? []) st.fds.set(fd, e);
    for (const [fd, e] of from?.fds ?? []) if (!e.cloexec) st.fds.set(fd, e);
    this.runs.forEach((run, b) => {
      const pm = ps?.per[b];
      if (run.out.aborted !== null || (ps !== undefined && (pm === null || pm === undefined))) {
        st.per.push(null);
        return;
      }
      const machine = new Machine({ cpus: this.opts.cpus ?? 1 });
      const kernel = new Kernel(machine, run.backend, { backendOptions: run.bopts });
      const ms: ModelSpace = { machine, kernel, known: new IntervalMap<true>(), implied: [], brkSet: false };
      if (pm !== undefined && pm !== null) {
        kernel.as = pm.kernel.as.dup_mmap();
        for (const iv of pm.known.intervals()) ms.known.set(iv.start, iv.end, true);
        ms.brkSet = pm.brkSet;
      } else kernel.as = this.newAs();
      st.per.push(ms);
    });
    this.states.set(info.id, st);
  }

  private freed(info: SpaceInfo): void {
    const st = this.states.get(info.id);
    if (st === undefined) return;
    this.states.delete(info.id);
    this.runs.forEach((run, b) => {
      const ms = st.per[b];
      if (ms === null || ms === undefined) return;
      const out = run.out;
      const ledger = ms.machine.ledger;
      for (let i = 0; i < COUNTERS.length; i++) run.totals[i] += ledger.total(i);
      out.cycles += cycles(ledger, this.table);
      const as = ms.kernel.as;
      const mapCheck = compareMaps(as, st.implied);
      if (mapCheck.length === 0) out.spacesAgreeing++;
      else out.spacesDiffering++;
      // The first spaces of the log in detail, and the first that differ.
      const detailed = info.id < this.maxSpaces;
      const differing = mapCheck.length > 0 && out.spacesDiffering <= this.maxSpaces;
      if (detailed || differing)
        out.spaces.push({
          id: info.id,
          origin: info.origin,
          parent: info.parent,
          pids: info.pids,
          firstLine: info.firstLine,
          lastLine: info.lastLine,
          startBrk: as.startBrk,
          brk: as.currentBrk,
          implied: ms.implied.slice(0, KEEP_LIST),
          vmas: as.vmaCount,
          maps: as.toMaps(),
          mapCheck,
        });
    });
  }

  // ------------------------------------------------------------------ files

  private followFds(st: SpaceState, r: SyscallRecord): void {
    const c = r.call;
    if (r.result.kind !== "value") return;
    this.fdTracking = true;
    const fd = r.result.value;
    if (c.name === "open") {
      const file: OpenFile = {
        id: this.nextFile++,
        path: c.path,
        readable: c.readable,
        writable: c.writable,
      };
      st.fds.set(fd, { file, cloexec: c.cloexec });
      st.closed.delete(fd);
    } else if (c.name === "dup") {
      const e = st.fds.get(c.fd);
      st.closed.delete(fd);
      if (e !== undefined) st.fds.set(fd, { file: e.file, cloexec: c.cloexec });
      else {
        // An fd opened before the recording: the duplicate is the same (unknown) file.
        const file: OpenFile = { id: this.nextFile++, path: null, readable: true, writable: true };
        st.fds.set(c.fd, { file, cloexec: false });
        st.fds.set(fd, { file, cloexec: c.cloexec });
      }
    } else if (c.name === "close") {
      st.fds.delete(c.fd);
      st.guessed.delete(c.fd);
      st.closed.add(c.fd);
    }
  }

  /** The file an mmap maps, or null for a bad fd (EBADF). */
  private fileFor(st: SpaceState, c: Extract<Call, { name: "mmap" }>): FileArg | null {
    const offsetPages = Math.floor(c.offset / PAGE_SIZE);
    if (c.fd < 0 || st.closed.has(c.fd) || (this.yMode && c.path === null && !st.fds.has(c.fd))) return null;
    const e = st.fds.get(c.fd);
    if (e !== undefined)
      return {
        name: c.path ?? e.file.path ?? `fd:${c.fd}`,
        offsetPages,
        handle: `file#${e.file.id}`,
        readable: e.file.readable,
        writable: e.file.writable,
      };
    let key = st.guessed.get(c.fd);
    const fixed = (c.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
    const fresh =
      c.path !== null ? key !== `${c.fd}:${c.path}` : key === undefined || (!fixed && c.offset === 0);
    if (fresh) {
      key = c.path !== null ? `${c.fd}:${c.path}` : `${c.fd}#${this.nextFile++}`;
      st.guessed.set(c.fd, key);
    }
    return { name: c.path ?? `fd:${c.fd}`, offsetPages, handle: key! };
  }

  /** A mapping the recording shows below mmap_min_addr: the sysctl was lower (root, or set). */
  private lowerMinAddr(r: SyscallRecord): void {
    const c = r.call;
    if (c.name !== "mmap" || r.result.kind !== "value") return;
    const v = r.result.value;
    if (v >= this.minAddr) return;
    this.minAddr = v;
    for (const st of this.states.values())
      for (const ms of st.per) if (ms !== null) ms.kernel.as.mmapMinAddr = v;
  }

  // ------------------------------------------------------------------ one call on one backend

  private replayOn(b: number, st: SpaceState, ms: ModelSpace, r: SyscallRecord): void {
    const run = this.runs[b];
    const out = run.out;
    const name = r.call.name;
    out.syscalls[name] = (out.syscalls[name] ?? 0) + 1;
    try {
      this.replayCall(run, st, ms, r);
    } catch (e) {
      out.aborted =
        e instanceof OutOfFramesError
          ? `line ${r.line}: ${e.message} (try --populate none)`
          : `line ${r.line}: ${(e as Error).message}`;
      this.dropBackend(b);
    }
  }

  /** A backend stopped: its address spaces are dropped, their counters kept. */
  private dropBackend(b: number): void {
    const run = this.runs[b];
    for (const st of this.states.values()) {
      const ms = st.per[b];
      if (ms === null || ms === undefined) continue;
      for (let i = 0; i < COUNTERS.length; i++) run.totals[i] += ms.machine.ledger.total(i);
      run.out.cycles += cycles(ms.machine.ledger, this.table);
      st.per[b] = null;
    }
  }

  private diverge(run: Run, r: SyscallRecord, expected: string, got: string, note?: string): void {
    const out = run.out;
    out.divergenceCount++;
    if (out.divergences.length < this.maxDiv)
      out.divergences.push({
        line: r.line,
        pid: r.pid,
        call: r.text,
        expected,
        got,
        ...(note === undefined ? {} : { note }),
      });
  }

  /** One user access, with the fault handled (and retried) as the CPU and kernel would. */
  private access(ms: ModelSpace, a: number, kind: number): void {
    if (!ms.kernel.faultin(0, a, kind, 1))
      throw new Error(`populate: SIGSEGV at ${hex(a)} (the VMA allows the access)`);
  }

  /**
   * Access the pages of [start, end) by the policy, at most maxTouch of them (the others are
   * counted as skipped without being visited); `onlyNew`: skip pages that have a PTE.
   */
  private touch(run: Run, ms: ModelSpace, start: number, end: number, onlyNew: boolean): void {
    const policy = this.policy;
    if (policy === "none" || policy === "evidence") return;
    let n = 0;
    for (const v of ms.kernel.as.vmasIn(start, end)) {
      const writable = (v.flags & VM_WRITE) !== 0;
      const accessible = (v.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
      if (policy === "write" ? !writable : !accessible) continue;
      const kind = policy === "write" || (policy === "touch" && writable) ? ACCESS_WRITE : ACCESS_READ;
      const lo = Math.max(start, v.start);
      const hi = Math.min(end, v.end);
      for (let a = lo; a < hi; a += PAGE_SIZE) {
        if (n >= this.maxTouch) {
          run.out.pagesSkipped += (hi - a) / PAGE_SIZE; // an upper bound with onlyNew
          break;
        }
        if (onlyNew && ms.kernel.peekPte(a) !== 0) continue;
        n++;
        this.access(ms, a, kind);
      }
    }
    run.out.pagesTouched += n;
  }

  /** Insert pre-existing memory for the parts of [start, end) that no recorded call determined. */
  private imply(run: Run, ms: ModelSpace, r: SyscallRecord, start: number, end: number, prot: number): void {
    const as = ms.kernel.as;
    const lo = Math.max(start, PAGE_SIZE);
    const hi = Math.min(end, as.taskSize);
    for (const hole of vmaGaps(as, lo, hi).reverse()) {
      // A stack that grew by faults strace does not show: the VM_GROWSDOWN VMA above grows down.
      const above = as.findVma(hole.end);
      if (above !== undefined && above.start === hole.end && above.flags & VM_GROWSDOWN) {
        if (as.expandDownwards(hole.start)) {
          ms.implied.push({ start: hole.start, end: hole.end, line: r.line, kind: "stack" });
          continue;
        }
      }
      for (const g of ms.known.gaps(hole.start, hole.end)) {
        const label = prot & PROT_GROWSDOWN && g.end === hole.end ? "[stack]" : PRE_EXISTING;
        as.insertOpaque(g.start, g.end, IMPLIED_FLAGS, label, { anonVma: true });
        ms.known.set(g.start, g.end, true);
        ms.implied.push({ start: g.start, end: g.end, line: r.line, kind: "pre-existing" });
        this.touch(run, ms, g.start, g.end, false);
      }
    }
  }

  /**
   * The recording says a call failed for lack of map count (ENOMEM) where the model had room, or
   * succeeded where the model had none, near the limit: the number of VMAs the model does not
   * hold (unmodelledMapCount) was off. Revise it to the nearest value that agrees with Linux
   * (mmap fails when map_count > max_map_count, a split when map_count >= max_map_count, mremap
   * when map_count + 4 > max_map_count). Returns whether it changed.
   */
  private reviseMapCount(ms: ModelSpace, r: SyscallRecord, got: number, before: number): boolean {
    const as = ms.kernel.as;
    const rec = r.result;
    const list = before - as.unmodelledMapCount;
    if (Math.abs(as.maxMapCount - before) > 128) return false;
    const name = r.call.name;
    // The smallest map_count at which this call fails for lack of room.
    const failsAt =
      name === "mmap" ? as.maxMapCount + 1 : name === "mremap" ? as.maxMapCount - 3 : as.maxMapCount;
    const old = as.unmodelledMapCount;
    if (rec.kind === "error" && rec.errno === ENOMEM && got >= 0)
      as.unmodelledMapCount = Math.max(old, failsAt - list);
    else if (rec.kind === "value" && got === -ENOMEM)
      as.unmodelledMapCount = Math.max(0, Math.min(old, failsAt - 1 - list));
    return as.unmodelledMapCount !== old;
  }

  private replayCall(run: Run, st: SpaceState, ms: ModelSpace, r: SyscallRecord): void {
    const k = ms.kernel;
    const as = k.as;
    const c = r.call;
    const rec = r.result;
    const expected = rec.kind === "value" ? rec.value : rec.kind === "error" ? -rec.errno : Number.NaN;
    const ok = rec.kind === "value";
    const check = (got: number, note?: string) => {
      if (rec.kind === "error" && rec.errno === 0) {
        // An errno ptesim does not know by name: any failure matches.
        if (got >= 0) this.diverge(run, r, `-${rec.name}`, outcome(got, c.name), note);
        return;
      }
      if (got !== expected) this.diverge(run, r, outcome(expected, c.name), outcome(got, c.name), note);
    };
    const mapCountBefore = as.mapCount;
    const revised = (got: number) => {
      if (!this.reviseMapCount(ms, r, got, mapCountBefore)) return undefined;
      return `the VMAs mapped before the recording were miscounted: now taken as ${as.unmodelledMapCount}`;
    };
    switch (c.name) {
      case "mmap": {
        const anon = (c.flags & MAP_ANONYMOUS) !== 0;
        const file = anon ? null : this.fileFor(st, c);
        const len = pageAlign(c.len);
        if (c.offset % PAGE_SIZE !== 0) {
          check(-EINVAL); // arch sys_mmap: offset not page-aligned
          return;
        }
        if (!anon && file === null) {
          check(-EBADF);
          return;
        }
        if (ok) {
          const at = expected;
          let flags = c.flags;
          let addr = c.addr;
          if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
            const inTheWay = as.vmasIn(at, at + len);
            if (inTheWay.length > 0)
              this.diverge(
                run,
                r,
                hex(at),
                `-${errnoName(EEXIST)}`,
                `Linux placed the mapping where the model still maps ${inTheWay
                  .slice(0, 3)
                  .map((v) => `${hex(v.start)}-${hex(v.end)}`)
                  .join(", ")}${inTheWay.length > 3 ? ", ..." : ""}; replaced to follow the recording`,
              );
            flags |= MAP_FIXED;
            addr = at;
          }
          let got = k.sys_mmap(0, addr, c.len, c.prot, flags, file);
          if (got < 0) {
            const note = revised(got);
            if (note !== undefined) got = k.sys_mmap(0, addr, c.len, c.prot, flags, file);
            check(got, note);
          } else check(got);
          if (got < 0) return;
          ms.known.set(got, got + len, true);
          const kernelPopulate =
            (c.flags & MAP_LOCKED) !== 0 || (c.flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE;
          if (kernelPopulate) {
            const pages = Math.min(len / PAGE_SIZE, this.maxTouch);
            run.out.populated += populateRange(k, 0, got, got + pages * PAGE_SIZE);
            run.out.pagesSkipped += len / PAGE_SIZE - pages;
          } else this.touch(run, ms, got, got + len, false);
        } else {
          const got = k.sys_mmap(0, c.addr, c.len, c.prot, c.flags, file);
          if (got >= 0) {
            k.sys_munmap(0, got, c.len);
            check(got, revised(got) ?? "the model's mapping was unmapped again to follow the recording");
          } else check(got);
        }
        return;
      }
      case "munmap": {
        let got = k.sys_munmap(0, c.addr, c.len);
        const note = got !== expected ? revised(got) : undefined;
        if (note !== undefined && got < 0) got = k.sys_munmap(0, c.addr, c.len);
        check(got, note);
        if (ok) ms.known.set(c.addr, c.addr + pageAlign(c.len), true);
        return;
      }
      case "mprotect": {
        const len = pageAlign(c.len);
        if (ok) this.imply(run, ms, r, c.addr, c.addr + len, c.prot);
        let got = k.sys_mprotect(0, c.addr, c.len, c.prot);
        run.out.ptesMprotect += k.lastMprotect.ptesChanged;
        const note = got !== expected ? revised(got) : undefined;
        if (note !== undefined && got < 0) {
          got = k.sys_mprotect(0, c.addr, c.len, c.prot);
          run.out.ptesMprotect += k.lastMprotect.ptesChanged;
        }
        check(got, note);
        if (got === 0 && c.prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
          this.touch(run, ms, c.addr, c.addr + len, true);
        return;
      }
      case "brk": {
        if (!ms.brkSet) {
          ms.brkSet = true;
          if (ok && (c.addr === 0 || c.addr !== expected)) {
            // The first call of a fresh program: the answer is start_brk (page-aligned at exec).
            as.setBrk(Math.floor(expected / PAGE_SIZE) * PAGE_SIZE, expected);
          } else if (ok) {
            // A program that moves its break before asking for it: the base is unknown.
            as.setBrk(Math.floor(expected / PAGE_SIZE) * PAGE_SIZE, expected);
            this.diverge(
              run,
              r,
              hex(expected),
              hex(expected),
              "break base unknown: taken as this call's result",
            );
            return;
          }
        }
        const before = as.currentBrk;
        const got = sys_brk(k, 0, c.addr);
        check(got);
        const after = as.currentBrk;
        if (after !== before) {
          const lo = pageAlign(Math.min(before, after));
          const hi = pageAlign(Math.max(before, after));
          ms.known.set(lo, hi, true);
          if (after > before) this.touch(run, ms, lo, hi, false);
        }
        return;
      }
      case "mremap": {
        const oldLen = pageAlign(c.oldLen);
        const newLen = pageAlign(c.newLen);
        const stats: RemapStats = { ptesMoved: 0, flushPages: 0, populated: 0 };
        const placeAt = ok && expected !== c.addr && !(c.flags & MREMAP_FIXED) ? expected : undefined;
        if (ok) this.imply(run, ms, r, c.addr, c.addr + PAGE_SIZE, PROT_READ | PROT_WRITE);
        let conflict = false;
        let got = sys_mremap(k, 0, c.addr, c.oldLen, c.newLen, c.flags, c.newAddr, {
          ...(placeAt === undefined ? {} : { placeAt }),
          stats,
          onPlacementConflict: () => {
            conflict = true;
          },
        });
        run.out.ptesMoved += stats.ptesMoved;
        run.out.populated += stats.populated;
        if (conflict) {
          this.diverge(
            run,
            r,
            hex(expected),
            outcome(got, c.name),
            `Linux moved the mapping to ${hex(expected)}, where the model still maps something; moved there with MREMAP_FIXED to follow the recording`,
          );
          got = sys_mremap(
            k,
            0,
            c.addr,
            c.oldLen,
            c.newLen,
            c.flags | MREMAP_MAYMOVE | MREMAP_FIXED,
            expected,
            {
              stats,
            },
          );
          run.out.ptesMoved += stats.ptesMoved;
        } else check(got, got !== expected ? revised(got) : undefined);
        if (got >= 0) {
          ms.known.set(c.addr, c.addr + oldLen, true);
          ms.known.set(got, got + newLen, true);
          if (newLen > oldLen && stats.populated === 0)
            this.touch(run, ms, got + oldLen, got + newLen, false);
        }
        return;
      }
      default:
        return;
    }
  }
}

/** Replay a parsed log (records and events merged in line order). */
export function replay(log: ParsedLog, opts: ReplayOptions): ReplayResult {
  const r = new Replayer({ faultEvidence: log.events.some((e) => e.kind === "fault"), ...opts });
  for (const m of log.malformed) r.malformed(m);
  let e = 0;
  for (const rec of log.records) {
    while (e < log.events.length && log.events[e].line < rec.endLine) r.event(log.events[e++]);
    r.record(rec);
  }
  while (e < log.events.length) r.event(log.events[e++]);
  return r.finish(log);
}

/**
 * Compare the model's VMAs with the implied map, page-wise; differences as text (at most 10).
 * Pages a failed call left uncertain are not compared; nor is memory the model holds that the
 * recording never determined (pre-existing, or inherited across a fork of a space the recording
 * knows only from then on).
 */
function compareMaps(as: AddressSpace, implied: ImpliedMap): string[] {
  const diffs: string[] = [];
  const model = new IntervalMap<string>();
  for (const v of as.vmasIn(0, TASK_SIZE + PAGE_SIZE)) model.set(v.start, v.end, vmPerms(v.flags));
  const a = model.intervals();
  const b = implied.pages.intervals();
  const cuts: number[] = [];
  for (const x of a) cuts.push(x.start, x.end);
  for (const x of b) cuts.push(x.start, x.end);
  for (const x of implied.uncertain.intervals()) cuts.push(x.start, x.end);
  cuts.sort((x, y) => x - y);
  for (let i = 0; i + 1 < cuts.length && diffs.length < 10; i++) {
    const s = cuts[i];
    const e = cuts[i + 1];
    if (s === e) continue;
    const mv = model.get(s);
    const iv = implied.pages.get(s);
    if (mv === iv || implied.uncertain.get(s) !== undefined) continue;
    if (iv === undefined && implied.determined.get(s) === undefined) continue; // never determined (pre-existing)
    diffs.push(`${hex(s)}-${hex(e)}: model ${mv ?? "unmapped"}, recording implies ${iv ?? "unmapped"}`);
  }
  return diffs;
}
