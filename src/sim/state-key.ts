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
import type { Kernel } from "../kernel/kernel.js";
import { pathStateInto } from "../kernel/paths.js";
import { MODE_FAULT, type Simulation } from "./simulation.js";

/** An mm's VMAs, compactly: start, end and flags of each. */
function vmaDigest(k: Kernel): string {
  let s = "";
  for (const v of k.as.vmas()) s += `${v.start},${v.end},${v.flags};`;
  return s;
}

/** Values seen so far in the key being built, in order of first appearance (value symmetry). */
const seenValues: number[] = [];

/** A page-content value's name in the key: 0 and the -1 marker as they are, else its rank. */
function valueName(x: number): number {
  if (x === 0 || x === -1) return x;
  const v = x | 0;
  let i = seenValues.indexOf(v);
  if (i < 0) i = seenValues.push(v) - 1;
  // Ranks from 1, shifted past the markers: -2, -3, ... never collide with 0 or -1.
  return -2 - i;
}

export function stateKey(sim: Simulation, withKernel: boolean): string {
  const parts: number[] = [];
  const sym = sim.valueSymmetry;
  seenValues.length = 0;
  const m = sim.machine;
  const mem = m.mem;
  const arch = m.arch;
  const o = sim.oracle;
  const kernels = sim.kernels;
  for (let i = 0; i < o.pages.length; i++) {
    const a = o.pages[i];
    const v = sim.kernel.peekPte(a);
    const data = v === 0 ? 0 : mem.data[arch.pte_pfn(v)];
    parts.push(
      v,
      sym ? valueName(data) : data,
      sym ? valueName(o.expected[i]) : o.expected[i],
      o.written[i] |
        (o.accessed[i] << 1) |
        (o.writableAtReturn[i] << 2) |
        (o.removed[i] << 3) |
        (o.softDirty[i] << 4) |
        (o.lazyfree[i] << 6) |
        (o.numaHinted[i] << 7),
      o.movedTo[i],
    );
    // The kernel paths' page state: folio flags, backing store, an unmapped page's contents.
    pathStateInto(parts, sim.kernel, a, v, sym ? valueName : null);
    for (let k = 1; k < kernels.length; k++) parts.push(kernels[k].peekPte(a));
    for (let c = 0; c < m.cpus.length; c++) parts.push(m.tlbKey(c, a / 4096));
  }
  const n = sim.scenario.cpus;
  // The fault's error code is the fault path's argument: read by nothing else, and overwritten
  // by the next fault, so outside a fault path it is not part of the state.
  for (let c = 0; c < n; c++)
    parts.push(sim.pc[c], sim.mode[c], sim.mode[c] === MODE_FAULT ? sim.faultErr[c] : 0, sim.mmOf[c]);
  sim.litmus?.keyInto(parts);
  let key = parts.join(",");
  if (kernels.length > 1 || sim.forksDone > 0) key += `|f${kernels.length}`;
  key += `|${mem.allocKey()}`;
  for (const k of kernels) key += `|${vmaDigest(k)}`;
  if (sim.kernel.tlbFlushPending !== 0) key += `|p${sim.kernel.tlbFlushPending}`;
  if (withKernel) {
    for (let c = 0; c < n; c++)
      if (sim.paths[c] !== null) key += `|${c}:${sim.pathSteps[c]}:${sim.reads?.[c].join(",") ?? ""}`;
    for (const k of kernels) key += `|${k.pv.stateKey?.() ?? ""}`;
  }
  return key;
}
