// The arm64 kernel helpers' context on the simulated machine: the machine's step primitives
// (each PTE access one schedulable step, by the CPU running kernel code) and its broadcast TLB
// instructions. This is what an arm64 BackendContext will hand to Arm64Pgtable.
import type { Machine } from "../../machine/machine.js";
import type { Arm64KernelContext } from "./pgtable.js";

export interface Arm64ContextOptions {
  /** mm_tlb_flush_pending: the kernel's mmu_gather state (default: none pending). */
  flushPending?: () => boolean;
  /** Whether one folio covers the 64 KiB block at `addr` (default: never, so no folding). */
  folioCoversBlock?: (addr: number, pfn: number) => boolean;
}

export function machineArm64Context(m: Machine, opts: Arm64ContextOptions = {}): Arm64KernelContext {
  if (m.arm64 === null) throw new Error("machineArm64Context: the machine has no arm64 MMU");
  const pending = opts.flushPending ?? (() => false);
  const covers = opts.folioCoversBlock ?? (() => false);
  return {
    read: (p) => m.pteRead(m.current, p),
    write: (p, v) => m.pteWrite(m.current, p, v),
    xchg: (p, v) => m.pteXchg(m.current, p, v),
    cmpxchg: (p, e, v) => m.pteCmpxchg(m.current, p, e, v),
    tlbi_va: (va) => m.tlbiVa(m.current, va),
    tlbi_asid: () => m.tlbiAsid(m.current),
    dsb: (kind) => m.dsb(m.current, kind),
    mm_tlb_flush_pending: pending,
    folio_covers_block: covers,
  };
}
