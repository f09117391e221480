// Partial-order reduction for the checker: what each agent's next step touches, and when two
// agents' next steps are independent (commute, and neither enables or disables the other).
//
// The footprint is read from the simulation's state at the decision point, never guessed from
// names, and anything not understood precisely is GLOBAL (dependent with everything):
//
//   user CPU c, plain access to tracked page A
//     - TLB hit needing no PTE access (rights suffice; a write through an entry already dirty),
//       or a TLB-hit permission fault: touches its own TLB, A's data and the oracle's record
//       of A. Nothing of the kernel's.
//     - otherwise (page walk, or the first write through a clean entry re-reading the PTE to set
//       D): also A's leaf PTE.
//     - a write while the oracle's stale-writable check is armed for A (the last syscall
//       return left A non-writable): GLOBAL, since the check reads the VMA, which the
//       syscall thread changes between its scheduling points.
//     - a write once a fork has returned (the cow-write-after-fork check reads the page's
//       mapcount, which kernel paths change), or any access by a CPU on a fork child's mm: GLOBAL.
//   user CPU c on arm64 with anonymous mTHP (contpte blocks; a block's TLB entry updates the
//     descriptor it was filled from, a fold/unfold rewrites the whole block): GLOBAL.
//   user CPU c: a reclaim "age" step, a switch to a child mm, an untracked page, a missing
//     page-table level: GLOBAL (they take locks, walk VMAs, flush other CPUs' TLBs).
//   a CPU in a fault path or in fork: GLOBAL (they take locks, allocate frames, read VMAs).
//   a CPU in an mprotect (kernel.maxBatch 1) at a scheduling point:
//     - a backend operation on slot P (start, commit) of a stateless backend (native, naive,
//       cmpxchg: one memory operation on P): touches P; of another backend: GLOBAL.
//     - PTE read/write/xchg/cmpxchg of slot P: touches P (its code up to the next point only
//       computes on values it read, queues in its own buffers, or takes PTE locks).
//     - lock/unlock of a PTE lock: touches no state a plain user access reads or writes (fault
//       handlers and age steps, which do care, are GLOBAL).
//     - the flush of CPU X's TLB: touches TLB X.
//     - syscall entry/exit, hypercalls, anything else; every step of another syscall
//       (munmap zaps pages and tells the oracle between points): GLOBAL.
//
// Two steps of different agents are dependent when either is GLOBAL, when both are user
// accesses to the same page, when a kernel PTE operation hits the slot a user walk reads or
// writes, when a kernel flush targets the user's CPU, or when both are kernel steps (two CPUs'
// kernel paths are never taken as independent).
//
// These footprints feed sleep sets (Godefroid): after exploring agent t at a state, t sleeps in
// the subtrees of the later siblings whose first step is independent of t, until a dependent
// step wakes it. With state caching each stored state keeps the sleep set it was explored
// with; a later visit with a sleep set that is not a superset explores exactly the agents the
// first visit skipped (stored \ current) and stores the intersection. This is the known sound
// combination: cutting a revisit whenever the state is known would lose the behaviours that
// began with an agent asleep at the first visit. Sleep sets alone never ignore an agent (every
// non-sleeping enabled agent is explored), so the ignoring problem of persistent sets does not
// arise; they preserve every reachable state, hence the verdicts and the final-state sets.
import { ACCESS_EXEC, ACCESS_WRITE, STEP, type Translation } from "../machine/machine.js";
import { TLB_DIRTY, TLB_NX, TLB_RW, TLB_USER } from "../machine/tlb.js";
import { MODE_OP, type Simulation } from "../sim/simulation.js";
import { OP_MPROTECT } from "../sim/workload.js";

/** Footprint kinds. */
export const FP_GLOBAL = 0;
/** User access: a = page index in the oracle, b = leaf PTE slot it touches or -1. */
export const FP_USER = 1;
/** Kernel PTE memory operation: a = slot. */
export const FP_KPTE = 2;
/** Kernel step touching nothing a plain user access sees (PTE lock, unlock). */
export const FP_KLOCAL = 3;
/** Kernel flush of one CPU's TLB: a = that CPU. */
export const FP_KFLUSH = 4;

/** Footprints of the enabled agents at one decision point, parallel arrays by agent index. */
export interface Footprints {
  kind: Int8Array;
  a: Float64Array;
  b: Float64Array;
}

export function newFootprints(n: number): Footprints {
  return { kind: new Int8Array(n), a: new Float64Array(n), b: new Float64Array(n) };
}

const scratch: Translation = { ptep: -1, pte: 0 as never, upper: 0 };

/** Fill `fp[k]` with the footprint of agent `agent`'s next step in `sim`'s current state. */
export function footprintOf(sim: Simulation, agent: number, fp: Footprints, k: number): void {
  fp.kind[k] = FP_GLOBAL;
  fp.a[k] = -1;
  fp.b[k] = -1;
  if (sim.paths[agent] !== null) {
    kernelFootprint(sim, agent, fp, k);
    return;
  }
  const prog = sim.programs[agent];
  const pc = sim.pc[agent];
  const kind = prog.kind[pc];
  if (kind > ACCESS_EXEC || sim.mmOf[agent] !== 0) return; // age, child, a child's access
  const addr = prog.addr[pc];
  const o = sim.oracle;
  const i = o.indexOf(addr);
  if (i < 0) return;
  const write = kind === ACCESS_WRITE;
  if (write && (o.writableAtReturn[i] === 0 || sim.forksDone > 0)) return;
  // arm64 with mTHP: contpte blocks exist. A block TLB entry carries hardware A/D updates to the
  // descriptor it was filled from (any entry of the block), and a fold or unfold rewrites all
  // 16 entries: an access touches the whole block, so it is taken as GLOBAL.
  if (sim.machine.arm64 !== null && sim.kernel.anonOrders.length > 0) return;
  const cpu = sim.machine.cpus[agent];
  // x86's TLB decides whether the access walks; an arm64 machine leaves it empty, so every
  // access counts as a walk touching its leaf descriptor (conservative: more dependence).
  const tlb = cpu.tlb;
  const j = tlb.lookup(Math.floor(addr / 4096));
  let ptep = -1;
  if (j >= 0) {
    const f = tlb.flags[j];
    const rightsOk =
      (f & TLB_USER) !== 0 && (!write || (f & TLB_RW) !== 0) && (kind !== ACCESS_EXEC || (f & TLB_NX) === 0);
    if (rightsOk && write && (f & TLB_DIRTY) === 0) ptep = leaf(sim, cpu.cr3, addr);
  } else ptep = leaf(sim, cpu.cr3, addr);
  if (ptep === -2) return;
  fp.kind[k] = FP_USER;
  fp.a[k] = i;
  fp.b[k] = ptep;
}

/** The leaf slot the MMU reads for `addr`, or -2 when an upper level is missing. */
function leaf(sim: Simulation, cr3: number, addr: number): number {
  const t = sim.machine.probe(cr3, addr, scratch);
  return t.ptep < 0 ? -2 : t.ptep;
}

function kernelFootprint(sim: Simulation, agent: number, fp: Footprints, k: number): void {
  if (sim.scenario.kernel.maxBatch > 1) return;
  if (sim.mode[agent] !== MODE_OP || sim.opKind(agent) !== OP_MPROTECT) return;
  const kind = sim.pointKind[agent];
  switch (kind) {
    case STEP.PTE_READ:
    case STEP.PTE_WRITE:
    case STEP.PTE_XCHG:
    case STEP.PTE_CMPXCHG:
      fp.kind[k] = FP_KPTE;
      fp.a[k] = sim.pointArg[agent];
      return;
    case STEP.LOCK:
    case STEP.UNLOCK:
      fp.kind[k] = FP_KLOCAL;
      return;
    case STEP.TLB_FLUSH:
      fp.kind[k] = FP_KFLUSH;
      fp.a[k] = sim.pointArg[agent];
      return;
    case STEP.PV:
      // A backend operation on one slot: a stateless backend's touches that slot only (one
      // memory operation); another's may queue, batch or trap (Xen's multicall flushes a full
      // batch from inside a commit): GLOBAL.
      if (sim.backend.stateless === true && sim.pointArg[agent] >= 0) {
        fp.kind[k] = FP_KPTE;
        fp.a[k] = sim.pointArg[agent];
      }
      return;
    default:
      return;
  }
}

/** Whether the next steps of agents x (footprint fx[i]) and y (fy[j]), x != y, are independent. */
export function independent(
  x: number,
  fx: Footprints,
  i: number,
  y: number,
  fy: Footprints,
  j: number,
): boolean {
  const kx = fx.kind[i];
  const ky = fy.kind[j];
  if (kx === FP_GLOBAL || ky === FP_GLOBAL) return false;
  if (kx === FP_USER && ky === FP_USER) return fx.a[i] !== fy.a[j];
  if (kx === FP_USER) return userVsKernel(x, fx, i, fy, j);
  if (ky === FP_USER) return userVsKernel(y, fy, j, fx, i);
  return false; // two kernel steps: the same agent, never compared
}

function userVsKernel(u: number, fu: Footprints, i: number, fk: Footprints, j: number): boolean {
  switch (fk.kind[j]) {
    case FP_KLOCAL:
      return true;
    case FP_KPTE:
      return fu.b[i] !== fk.a[j];
    case FP_KFLUSH:
      // A shootdown step targets one CPU; a broadcast TLBI (arm64, target -1) reaches every one.
      return fk.a[j] >= 0 && fk.a[j] !== u;
    default:
      return false;
  }
}
