// Which address space (mm) each recorded call runs in, decided online as the log streams by,
// with each address space's life: created (first program, exec, fork), shared (threads), freed
// (its last thread exited or exec'd). Pure.
//
// With process calls in the log (`strace -f -e trace=memory,process`) they decide:
// - clone/clone3/fork/vfork returning a child's id: with CLONE_VM (threads, vfork) the child
//   shares its parent's address space; without, the child gets a copy of it taken at that moment
//   (fork). strace may print the child's first call before the parent's clone returns (the
//   clone line is "<unfinished ...>" then): a thread id never seen before, while a clone is in
//   flight, is that clone's child, with the address space as it is then.
// - a successful execve gives its thread a new address space; the old one loses that thread.
// - "+++ exited/killed +++" ends a thread; an address space whose last thread ended is freed.
// Without process calls, the address spaces are inferred: the first thread starts the first;
// a thread never seen before whose first call is brk(NULL) (what ld.so and static glibc do
// first), or a thread whose brk(NULL) returns another break than its address space has, starts
// a new one (an exec); any other new thread is taken to be a thread of the address space of the
// thread that made the previous call (a guess, reported as a note).
import type { PendingCall, StraceEvent, SyscallRecord } from "./parse.js";

export interface SpaceInfo {
  id: number;
  origin: "first" | "exec" | "fork";
  /** For "fork": the space the child's is a copy of. */
  parent: number | null;
  /** Thread ids that ran in it, in order of appearance. */
  pids: number[];
  firstLine: number;
  lastLine: number;
  /** Threads using it now. */
  users: number;
}

export interface SpaceLifecycle {
  /**
   * A new address space; for a fork, `parent` is the one it copies (as it is at this moment);
   * for an exec, `execFrom` is the one the thread leaves (still alive at this call).
   */
  created(info: SpaceInfo, parent: SpaceInfo | null, execFrom: SpaceInfo | null): void;
  /** No thread uses it any more. */
  freed(info: SpaceInfo): void;
}

/** Notes kept in full; the rest are counted. */
const MAX_NOTES = 20;

export class SpaceTracker {
  /** Address spaces created so far. */
  total = 0;
  readonly notes: string[] = [];
  notesOmitted = 0;
  /** The log has process calls: they decide, not the heuristics. */
  processTracking = false;
  private readonly pidSpace = new Map<number, SpaceInfo>();
  private readonly spaceBrk = new Map<number, number>();
  /** Clone-like calls in flight, by the calling thread. */
  private readonly pendingClones = new Map<number, PendingCall>();
  /** Children attributed to an unfinished clone before it returned: parent tid -> child tid. */
  private readonly claimed = new Map<number, number>();
  private lastPid = -1;
  private live = 0;

  constructor(private readonly life: SpaceLifecycle) {}

  get liveSpaces(): number {
    return this.live;
  }

  private note(s: string): void {
    if (this.notes.length < MAX_NOTES) this.notes.push(s);
    else this.notesOmitted++;
  }

  private create(
    origin: SpaceInfo["origin"],
    pid: number,
    line: number,
    parent: SpaceInfo | null,
  ): SpaceInfo {
    const info: SpaceInfo = {
      id: this.total++,
      origin,
      parent: parent?.id ?? null,
      pids: [],
      firstLine: line,
      lastLine: line,
      users: 0,
    };
    this.live++;
    this.life.created(info, parent, origin === "exec" ? (this.pidSpace.get(pid) ?? null) : null);
    if (parent !== null && this.spaceBrk.has(parent.id))
      this.spaceBrk.set(info.id, this.spaceBrk.get(parent.id)!);
    this.attach(pid, info);
    return info;
  }

  private attach(pid: number, s: SpaceInfo): void {
    this.detach(pid);
    this.pidSpace.set(pid, s);
    s.users++;
    if (s.pids.length < 64 && !s.pids.includes(pid)) s.pids.push(pid);
  }

  private detach(pid: number): void {
    const old = this.pidSpace.get(pid);
    if (old === undefined) return;
    this.pidSpace.delete(pid);
    if (--old.users === 0) {
      this.live--;
      this.spaceBrk.delete(old.id);
      this.life.freed(old);
    }
  }

  /** The address space thread `pid` runs in now, if known. */
  spaceOfPid(pid: number): SpaceInfo | undefined {
    return this.pidSpace.get(pid);
  }

  /** A clone-like call went <unfinished ...>. */
  unfinished(p: PendingCall): void {
    this.processTracking = true;
    this.pendingClones.set(p.pid, p);
  }

  /** The child of a clone-like call: shares the parent's space (CLONE_VM) or gets a copy. */
  private child(parentPid: number, childPid: number, cloneVm: boolean, line: number): SpaceInfo | undefined {
    const ps = this.pidSpace.get(parentPid);
    if (ps === undefined) return undefined;
    if (cloneVm) {
      this.attach(childPid, ps);
      return ps;
    }
    return this.create("fork", childPid, line, ps);
  }

  /** The address space record `r` runs in (created as needed). Call before replaying it. */
  spaceFor(r: SyscallRecord): SpaceInfo {
    const c = r.call;
    let s = this.pidSpace.get(r.pid);
    if (s === undefined) {
      const brkQuery = c.name === "brk" && c.addr === 0 && r.result.kind === "value";
      // The child of a clone still in flight (the latest one, if several).
      let from: PendingCall | undefined;
      for (const p of this.pendingClones.values())
        if (
          p.pid !== r.pid &&
          this.pidSpace.has(p.pid) &&
          !this.claimed.has(p.pid) &&
          (from === undefined || p.line > from.line)
        )
          from = p;
      if (from !== undefined) {
        this.claimed.set(from.pid, r.pid);
        s = this.child(from.pid, r.pid, from.name === "vfork" || /\bCLONE_VM\b/.test(from.args), r.line);
      }
      if (s === undefined) {
        if (this.total === 0 || this.live === 0)
          s = this.create(this.total === 0 && c.name !== "execve" ? "first" : "exec", r.pid, r.line, null);
        else if (c.name === "execve" || brkQuery) s = this.create("exec", r.pid, r.line, null);
        else {
          const prev = this.pidSpace.get(this.lastPid);
          if (prev === undefined) s = this.create("exec", r.pid, r.line, null);
          else {
            this.attach(r.pid, prev);
            s = prev;
            this.note(
              `thread ${r.pid} (first call at line ${r.line}) taken to share the address space of thread ${prev.pids[0]}: no clone recorded`,
            );
          }
        }
      }
    } else if (!this.processTracking && c.name === "brk" && c.addr === 0 && r.result.kind === "value") {
      const known = this.spaceBrk.get(s.id);
      if (known !== undefined && known !== r.result.value) s = this.create("exec", r.pid, r.line, null);
    }
    s.lastLine = r.endLine;
    this.lastPid = r.pid;
    return s;
  }

  /** What record `r` (run in `s`) does to the processes: call after replaying it. */
  after(r: SyscallRecord, s: SpaceInfo): void {
    const c = r.call;
    if (c.name === "clone") {
      this.processTracking = true;
      this.pendingClones.delete(r.pid);
      const claimed = this.claimed.get(r.pid);
      this.claimed.delete(r.pid);
      if (r.result.kind !== "value" || r.result.value <= 0) return;
      const child = r.result.value;
      if (claimed === child || this.pidSpace.has(child)) return;
      this.child(r.pid, child, c.cloneVm, r.endLine);
    } else if (c.name === "execve") {
      this.processTracking = true;
      if (r.result.kind === "value" && r.result.value === 0 && s.firstLine !== r.line)
        this.create("exec", r.pid, r.endLine, null);
    } else if (c.name === "brk" && r.result.kind === "value") this.spaceBrk.set(s.id, r.result.value);
  }

  /** A thread ended. */
  event(e: StraceEvent): void {
    if (e.kind !== "exit") return;
    this.pendingClones.delete(e.pid);
    this.claimed.delete(e.pid);
    this.detach(e.pid);
  }

  /** The end of the log: every space still in use is freed. */
  end(): void {
    for (const pid of [...this.pidSpace.keys()]) this.detach(pid);
  }
}
