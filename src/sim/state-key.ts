// The checker's state key: a canonical description of everything that can influence the rest
// of a run. Equal keys, equal futures: the reduced and por modes cut a path at a key already
// visited, so anything a later step can depend on must be in it.
//
//   - each tracked page: its PTE in every mm, its contents, the oracle's record of it (including
//     where mremap moved it), and every CPU's TLB entry for it;
//   - a litmus scenario: its programs' registers and faults;
//   - each CPU: its program position, mode (user, fault path, program step's path), the fault
//     error code while in the fault path, and mm; with `withKernel`, its kernel path's position
//     (steps taken) and what the
//     path has read (which fixes its local variables), or a kernel checkpoint's live values;
//   - the transaction contract's commits awaiting their unlock check, as they are now (a kernel
//     checkpoint's copy would outlive the unlock);
//   - every mm's VMAs (several CPUs may change them, in either order) and its backend's state;
//   - the frame allocator (which frame a fault gets next);
//   - the kernel paths' state: folio flags, backing stores, tlb_flush_pending (src/kernel/paths.ts).
//
// Value symmetry (Simulation.valueSymmetry, the checker's default outside litmus scenarios):
// page-content values (a mapped page's data, what the oracle expects it to hold, the backing
// store, an unmapped page's contents) are renamed by order of first appearance in the key, 0
// and the -1 markers kept. Exact because the simulator is data-independent there: a write
// stores a constant unique to its (CPU, program step) and no step completes twice, so a future
// write never brings back a value already present; values are otherwise only copied (COW,
// migration, writeback, swap-in) and compared for equality or with 0 (the oracle). Two states
// that differ by a renaming of values therefore have renamed futures, with the same violations.
// A litmus scenario writes herd's 1 and its conditions compare with constants: never there.
//
// The key is a sequence of numbers written into a KeyBuffer (./key-buffer.ts), which hashes it
// for the visited store and encodes it exactly for exact storage and final states. Its layout
// is fixed by the scenario and by numbers written before each part of variable length (that
// part's length, or a flag saying whether it is there), so two equal sequences are two equal
// states, never two different states whose parts happen to line up.
import type { Kernel } from "../kernel/kernel.js";
import { pathStateInto } from "../kernel/paths.js";
import type { KeyBuffer } from "./key-buffer.js";
import { MODE_FAULT, type Simulation } from "./simulation.js";

/** An mm's VMAs: their count, then start, end and flags of each. */
function vmasInto(out: KeyBuffer, k: Kernel): void {
  const at = out.length;
  out.push(0);
  let n = 0;
  for (const v of k.as.vmas()) {
    out.push(v.start);
    out.push(v.end);
    out.push(v.flags);
    n++;
  }
  out.setAt(at, n);
}

/** Values seen so far in the key being built, in order of first appearance (value symmetry). */
const seenValues: number[] = [];
/** Scratch for Kernel.pendingCommitsInto. */
const pending: number[] = [];

/** A page-content value's name in the key: 0 and the -1 marker as they are, else its rank. */
function valueName(x: number): number {
  if (x === 0 || x === -1) return x;
  const v = x | 0;
  let i = seenValues.indexOf(v);
  if (i < 0) i = seenValues.push(v) - 1;
  // Ranks from 1, shifted past the markers: -2, -3, ... never collide with 0 or -1.
  return -2 - i;
}

export function stateKeyInto(sim: Simulation, out: KeyBuffer, withKernel: boolean): void {
  out.reset();
  const sym = sim.valueSymmetry;
  if (seenValues.length !== 0) seenValues.length = 0;
  const m = sim.machine;
  const mem = m.mem;
  const arch = m.arch;
  const o = sim.oracle;
  const kernels = sim.kernels;
  // How many mms (each page has a PTE in each), and whether a fork has happened.
  out.push(kernels.length);
  out.push(kernels.length > 1 || sim.forksDone > 0 ? 1 : 0);
  const ncpus = m.cpus.length;
  for (let i = 0; i < o.pages.length; i++) {
    const a = o.pages[i];
    const v = sim.kernel.peekPte(a);
    const data = v === 0 ? 0 : mem.data[arch.pte_pfn(v)];
    out.push(v);
    out.push(sym ? valueName(data) : data);
    out.push(sym ? valueName(o.expected[i]) : o.expected[i]);
    out.push(
      o.written[i] |
        (o.accessed[i] << 1) |
        (o.writableAtReturn[i] << 2) |
        (o.removed[i] << 3) |
        (o.softDirty[i] << 4) |
        (o.lazyfree[i] << 6) |
        (o.numaHinted[i] << 7),
    );
    out.push(o.movedTo[i]);
    // The kernel paths' page state: folio flags, backing store, an unmapped page's contents.
    pathStateInto(out, sim.kernel, a, v, sym ? valueName : null);
    for (let k = 1; k < kernels.length; k++) out.push(kernels[k].peekPte(a));
    for (let c = 0; c < ncpus; c++) out.push(m.tlbKey(c, a / 4096));
  }
  const n = sim.scenario.cpus;
  // The fault's error code is the fault path's argument: read by nothing else, and overwritten
  // by the next fault, so outside a fault path it is not part of the state.
  for (let c = 0; c < n; c++) {
    out.push(sim.pc[c]);
    out.push(sim.mode[c]);
    out.push(sim.mode[c] === MODE_FAULT ? sim.faultErr[c] : 0);
    out.push(sim.mmOf[c]);
  }
  if (sim.litmus !== null) {
    const at = out.length;
    out.push(0);
    sim.litmus.keyInto(out);
    out.setAt(at, out.length - at - 1);
  }
  mem.allocKeyInto(out);
  for (const k of kernels) vmasInto(out, k);
  out.push(sim.kernel.tlbFlushPending);
  if (withKernel) {
    const reads = sim.reads;
    for (let c = 0; c < n; c++) {
      if (sim.paths[c] === null) {
        out.push(0);
        continue;
      }
      out.push(1);
      out.push(sim.pathSteps[c]);
      if (reads === null) out.push(0);
      else out.pushList(reads[c]);
    }
    for (const k of kernels) {
      const pv = k.pv;
      if (pv.stateKeyInto !== undefined) {
        // (A backend's numbers, apart from a string's: a flag first.)
        out.push(1);
        pv.stateKeyInto(out);
      } else {
        out.push(0);
        out.pushString(pv.stateKey?.() ?? "");
      }
    }
    // The transaction contract's commits awaiting their unlock check, per mm.
    for (const k of kernels) {
      pending.length = 0;
      k.pendingCommitsInto(pending);
      out.pushList(pending);
    }
  }
}
