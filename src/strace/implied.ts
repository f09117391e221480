// What a recording alone implies about one address space, page by page ("rwxp" per page), kept
// online beside the replay: the self-check compares each address space's final VMA list with it.
// Pure.
//
// Successful calls are applied with plain interval arithmetic (no VMA merge rules): mmap sets its
// range, munmap clears it, mprotect sets the rights (a page no call determined counts as
// pre-existing rw-p memory), brk sets or clears the heap between the old and new break, mremap
// resizes in place or moves. Failed calls that change part of the space in Linux are followed as
// far as the recording determines them:
// - mprotect failing with ENOMEM at a hole changed every page from its start up to the hole: the
//   pages up to the first page this map lacks are changed; the rest of the range is uncertain
//   (the hole may be memory mapped before the recording began); with no hole in this map (a
//   split refused at max_map_count, or unknown memory) the whole range is uncertain;
// - mprotect failing otherwise (EACCES at a VMA it may not change) changed an unknown prefix: the
//   range is uncertain.
// Uncertain pages are not compared until a later successful call determines them again.
// mremap: the VMA at the old address must hold the moved part (Linux refuses otherwise), so only
// a missing first page is taken as pre-existing; a same-size mremap without MREMAP_FIXED does
// nothing, whatever old_len says; a MREMAP_FIXED move of unchanged size moves each mapped piece
// of the range and leaves its holes as they are (remap_move).
import { EACCES, ENOMEM } from "../kernel/errno.js";
import {
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mman.js";
import { IntervalMap } from "./intervals.js";
import type { SyscallRecord } from "./parse.js";

const PRE = "rw-p";

function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

function protPerms(prot: number, shared: boolean): string {
  return `${prot & PROT_READ ? "r" : "-"}${prot & PROT_WRITE ? "w" : "-"}${prot & PROT_EXEC ? "x" : "-"}${shared ? "s" : "p"}`;
}

export class ImpliedMap {
  readonly pages = new IntervalMap<string>();
  readonly uncertain = new IntervalMap<true>();
  /** Pages some recorded call determined (mapped or unmapped). */
  readonly determined = new IntervalMap<true>();
  private brk: number | undefined;

  /** A copy (the child of a fork starts with its parent's). */
  copy(): ImpliedMap {
    const c = new ImpliedMap();
    for (const iv of this.pages.intervals()) c.pages.set(iv.start, iv.end, iv.value);
    for (const iv of this.uncertain.intervals()) c.uncertain.set(iv.start, iv.end, true);
    for (const iv of this.determined.intervals()) c.determined.set(iv.start, iv.end, true);
    c.brk = this.brk;
    return c;
  }

  private set(start: number, end: number, v: string | undefined): void {
    this.pages.set(start, end, v);
    if (!this.uncertain.empty) this.uncertain.set(start, end, undefined);
    this.determined.set(start, end, true);
  }

  /** Apply one recorded call. */
  apply(r: SyscallRecord): void {
    const c = r.call;
    if (r.result.kind === "error" && c.name === "mprotect") {
      const end = c.addr + pageAlign(c.len);
      if (c.addr % PAGE_SIZE !== 0 || end <= c.addr) return;
      let at = c.addr;
      if (r.result.errno === ENOMEM) {
        // At a hole, Linux changed the VMAs from the start up to it. Without a hole, a split
        // failed (max_map_count) or the "hole" is memory this map does not know: uncertain.
        const gap = this.pages.gaps(c.addr, end)[0];
        const stop = gap === undefined ? c.addr : gap.start;
        for (const iv of this.pages.slice(c.addr, stop))
          this.set(iv.start, iv.end, protPerms(c.prot, iv.value.endsWith("s")));
        at = stop;
      } else if (r.result.errno !== EACCES) return; // EINVAL and the like change nothing
      if (at < end) this.uncertain.set(at, end, true);
      return;
    }
    if (r.result.kind !== "value") return;
    const v = r.result.value;
    const m = this.pages;
    switch (c.name) {
      case "mmap": {
        const t = c.flags & MAP_TYPE;
        this.set(v, v + pageAlign(c.len), protPerms(c.prot, t === MAP_SHARED || t === MAP_SHARED_VALIDATE));
        break;
      }
      case "munmap":
        this.set(c.addr, c.addr + pageAlign(c.len), undefined);
        break;
      case "mprotect": {
        const end = c.addr + pageAlign(c.len);
        for (const g of m.gaps(c.addr, end)) m.set(g.start, g.end, PRE);
        for (const iv of m.slice(c.addr, end))
          this.set(iv.start, iv.end, protPerms(c.prot, iv.value.endsWith("s")));
        break;
      }
      case "brk": {
        const old = this.brk;
        this.brk = v;
        if (old === undefined || old === v) break;
        const lo = pageAlign(Math.min(old, v));
        const hi = pageAlign(Math.max(old, v));
        this.set(lo, hi, v > old ? "rw-p" : undefined);
        break;
      }
      case "mremap":
        this.mremap(c.addr, pageAlign(c.oldLen), pageAlign(c.newLen), c.flags, v);
        break;
      default:
        break;
    }
  }

  private mremap(addr: number, oldLen: number, newLen: number, flags: number, to: number): void {
    const m = this.pages;
    const first = m.get(addr);
    if (first === undefined) m.set(addr, addr + PAGE_SIZE, PRE); // the VMA at addr existed
    if (flags & MREMAP_FIXED && oldLen === newLen) {
      // remap_move: every mapped piece moves by the same offset; holes stay.
      const pieces = m.slice(addr, addr + oldLen);
      if (!(flags & MREMAP_DONTUNMAP)) for (const iv of pieces) this.set(iv.start, iv.end, undefined);
      for (const iv of pieces) this.set(to + (iv.start - addr), to + (iv.end - addr), iv.value);
      return;
    }
    const moving = to !== addr || (flags & MREMAP_FIXED) !== 0;
    if (!moving) {
      if (newLen < oldLen) this.set(addr + newLen, addr + oldLen, undefined);
      else if (newLen > oldLen) {
        const last = m.get(addr + oldLen - PAGE_SIZE) ?? m.get(addr) ?? PRE;
        this.set(addr + oldLen, addr + newLen, last);
      }
      return;
    }
    // A move: the kept part lies in the VMA at addr (Linux refuses a move spanning VMAs).
    const keep = Math.min(oldLen, newLen);
    const span = Math.max(keep, PAGE_SIZE);
    for (const g of m.gaps(addr, addr + span)) m.set(g.start, g.end, m.get(addr) ?? PRE);
    const moved = m.slice(addr, addr + keep);
    const last = m.get(addr + span - PAGE_SIZE) ?? PRE;
    if (oldLen > newLen) this.set(addr + newLen, addr + oldLen, undefined);
    if (!(flags & MREMAP_DONTUNMAP)) this.set(addr, addr + keep, undefined);
    this.set(to, to + newLen, undefined);
    for (const iv of moved) this.set(to + (iv.start - addr), to + (iv.end - addr), iv.value);
    if (newLen > oldLen) this.set(to + oldLen, to + newLen, last);
  }
}
