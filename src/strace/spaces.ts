// Which address space (mm) each recorded call ran in. Pure.
//
// `strace -f -e trace=memory` prints thread ids but not clone, fork or execve, so the address
// spaces are inferred:
// - the first thread of the log starts the first address space;
// - a brk(NULL) query is what a freshly exec'd program does first (ld.so and static glibc start
//   that way): a thread never seen before whose first call is one, or a thread whose brk(NULL)
//   returns another break than its address space has, starts a new address space (an exec);
// - any other new thread is taken to be a thread of the address space of the thread that made
//   the previous call (threads are created by a running thread; strace prints the child's first
//   call after its parent's clone). A child of fork() that runs without exec'ing is therefore
//   mistaken for a thread: record with `-e trace=memory,process` to make this exact.
// When the log also has process calls (-e trace=memory,process), they decide: a successful
// execve starts a new address space; clone/clone3/vfork with CLONE_VM shares the parent's;
// fork or clone without CLONE_VM gives the child a copy of the parent's (origin "fork").
// A thread id that exited ("+++ exited/killed +++") and appears again is a new thread.
import type { ParsedLog } from "./parse.js";

export interface SpaceInfo {
  id: number;
  origin: "first" | "exec" | "fork";
  /** For "fork": the space the child's is a copy of. */
  parent: number | null;
  /** Thread ids that ran in it, in order of appearance. */
  pids: number[];
  firstLine: number;
  lastLine: number;
}

export interface SpaceAssignment {
  /** Per record (index into log.records): its space id. */
  spaceOf: number[];
  spaces: SpaceInfo[];
  /** How each thread was attributed, where that was a guess. */
  notes: string[];
}

export function assignSpaces(log: ParsedLog): SpaceAssignment {
  const recs = log.records;
  const spaces: SpaceInfo[] = [];
  const spaceOf: number[] = new Array(recs.length);
  const notes: string[] = [];
  const pidSpace = new Map<number, number>();
  const spaceBrk = new Map<number, number>();
  // Children announced by a clone/fork result: tid -> parent and whether it shares the mm.
  const children = new Map<number, { parent: number; vm: boolean }>();
  for (const r of recs)
    if (r.call.name === "clone" && r.result.kind === "value" && r.result.value > 0)
      children.set(r.result.value, { parent: r.pid, vm: r.call.cloneVm });
  const exits = log.events.filter((e) => e.kind === "exit");
  let ei = 0;
  let lastPid = -1;

  const fresh = (origin: SpaceInfo["origin"], pid: number, line: number, parent: number | null = null) => {
    const id = spaces.length;
    spaces.push({ id, origin, parent, pids: [pid], firstLine: line, lastLine: line });
    pidSpace.set(pid, id);
    return id;
  };

  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    while (ei < exits.length && exits[ei].line < r.endLine) pidSpace.delete(exits[ei++].pid);
    const c = r.call;
    const brkQuery = c.name === "brk" && c.addr === 0 && r.result.kind === "value";
    let s = pidSpace.get(r.pid);
    if (c.name === "execve" && r.result.kind === "value") {
      s = fresh("exec", r.pid, r.line);
    } else if (s === undefined) {
      const child = children.get(r.pid);
      const parentSpace = child === undefined ? undefined : pidSpace.get(child.parent);
      if (spaces.length === 0) s = fresh("first", r.pid, r.line);
      else if (brkQuery) s = fresh("exec", r.pid, r.line);
      else if (child !== undefined && parentSpace !== undefined) {
        if (child.vm) s = parentSpace;
        else s = fresh("fork", r.pid, r.line, parentSpace);
      } else {
        s = pidSpace.get(lastPid) ?? spaces.length - 1;
        notes.push(
          `thread ${r.pid} (first call at line ${r.line}) taken to share the address space of thread ${spaces[s].pids[0]}: no clone recorded`,
        );
      }
      pidSpace.set(r.pid, s);
      if (!spaces[s].pids.includes(r.pid)) spaces[s].pids.push(r.pid);
    } else if (brkQuery && r.result.kind === "value") {
      const known = spaceBrk.get(s);
      if (known !== undefined && known !== r.result.value) s = fresh("exec", r.pid, r.line);
    }
    spaceOf[i] = s;
    spaces[s].lastLine = r.endLine;
    if (c.name === "brk" && r.result.kind === "value") spaceBrk.set(s, r.result.value);
    lastPid = r.pid;
  }
  return { spaceOf, spaces, notes };
}
