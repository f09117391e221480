// The brk syscall of the simulated kernel, and the plain entry points of mremap (whose kernel
// path is ./mremap.ts: these run its generated twin to the end, for replay and the tests).
//
// brk shrink: the cut part of the heap is unmapped (zapped, flushed, frames freed).
//
// Pure: no I/O.
import type { Kernel } from "./kernel.js";
import * as fastRemap from "./mremap.fast.js";
import type { MremapOptions, RemapStats } from "./mremap.js";

export { populateRange } from "./mremap.fast.js";
export type { MremapOptions, RemapStats } from "./mremap.js";

/** brk(addr): the new break, or the unchanged one on failure (brk has no errno). */
export function sys_brk(k: Kernel, cpu: number, brk: number): number {
  const prev = k.enter(cpu, "brk");
  k.mmapWriteLock(cpu);
  let ret: number;
  try {
    const r = k.as.brk(brk);
    if (r.ok) k.zapRanges(r.unmapped);
    ret = r.ret;
  } finally {
    k.mmapWriteUnlock();
  }
  return k.leave(cpu, "brk", ret, prev);
}

/** mremap(addr, old_len, new_len, flags, new_addr): the new address or -errno (./mremap.ts). */
export function sys_mremap(
  k: Kernel,
  cpu: number,
  addr: number,
  oldLen: number,
  newLen: number,
  flags: number,
  newAddr = 0,
  opts: MremapOptions = {},
): number {
  const prev = k.current;
  try {
    return fastRemap.sys_mremap(k, cpu, addr, oldLen, newLen, flags, newAddr, opts);
  } finally {
    // A failure (a contract breach) unwinds with mmap_lock still held.
    if (k.mmapWriter !== -1) k.mmapWriteUnlock(false);
    k.current = prev;
  }
}

/** move_page_tables for [from, from + len) -> [to, to + len) (./mremap.ts); returns the entries moved. */
export function movePageTables(k: Kernel, from: number, to: number, len: number, st?: RemapStats): number {
  const moved = fastRemap.move_page_tables(k, k.current, from, to, len, st);
  if (st !== undefined) st.ptesMoved += moved;
  return moved;
}
