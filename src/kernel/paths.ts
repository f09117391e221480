// @kernel-paths: dispatch of the kernel paths of paths-api.ts, as any CPU's program runs them:
// clear_refs, madvise and change_prot_numa over a range, writeback and reclaim page by page.
import type { pte_t } from "../arch/types.js";
import type { Kernel } from "./kernel.js";
import { sys_madvise } from "./madvise.js";
import { change_prot_numa } from "./numa.js";
import { type AdviceName, MADVICE, type PathCall } from "./paths-api.js";
import { path_enter, path_exit } from "./pgtable.js";
import { reclaim, unmappedContent, writeback } from "./rmap.js";
import type { KStep } from "./step.js";
import { clear_refs_soft_dirty } from "./task_mmu.js";

/**
 * Run `call` on `cpu` over the `pages` pages from `addr`; returns its result (0 or -errno for
 * clear_refs and madvise; for writeback, reclaim and change_prot_numa, how many pages it wrote
 * back, reclaimed or made hinting entries).
 */
export function* runPathCall(
  k: Kernel,
  cpu: number,
  call: PathCall,
  addr: number,
  pages: number,
  advice: AdviceName | undefined,
): KStep<number> {
  switch (call) {
    case "clear_refs":
      return yield* clear_refs_soft_dirty(k, cpu);
    case "madvise":
      return yield* sys_madvise(k, cpu, addr, pages * 4096, MADVICE[advice ?? "dontneed"]);
    case "change_prot_numa":
      return yield* change_prot_numa(k, cpu, addr, addr + pages * 4096);
    case "writeback":
    case "reclaim": {
      // Kernel work, not a syscall: no mmap_lock (the rmap reaches the pages).
      yield* path_enter(k, cpu, call, "none", false);
      let n = 0;
      for (let i = 0; i < pages; i++) {
        const a = addr + i * 4096;
        if (call === "writeback") {
          if (yield* writeback(k, cpu, a)) n++;
        } else {
          const outcome = yield* reclaim(k, cpu, a);
          if (outcome === "discarded" || outcome === "evicted") n++;
        }
      }
      return yield* path_exit(k, cpu, call, n);
    }
  }
}

/**
 * The paths' state of the page at `addr` (mapped by `pte`) that the checker's state key needs
 * beyond memory and TLBs: its folio's lazyfree and dirty flags, whether a zap's rmap removal of
 * it waits for a flush, its backing store, and what an unmapped shared page still holds.
 */
export function pathStateInto(
  out: { push(v: number): void },
  k: Kernel,
  addr: number,
  pte: pte_t,
  valueName: ((v: number) => number) | null,
): void {
  const vpn = Math.floor(addr / 4096);
  const none = k.arch.pte_none(pte);
  const pfn = k.arch.pte_pfn(pte);
  const cached = k.shmem.size === 0 ? -1 : (k.shmem.get(vpn) ?? -1);
  const stored = k.backing.size === 0 ? -1 : (k.backing.get(vpn) ?? -1);
  const unmapped = none ? unmappedContent(k, addr) : -1;
  out.push(
    (none
      ? k.folioDirty.has(cached)
        ? 2
        : 0
      : (k.lazyfree.has(pfn) ? 1 : 0) | (k.folioDirty.has(pfn) ? 2 : 0)) |
      (k.delayedRmap.has(cached) ? 4 : 0),
  );
  out.push(valueName === null ? stored : valueName(stored));
  out.push(valueName === null ? unmapped : valueName(unmapped));
}
