// Details that make a timeline event explainable on its own (for the HTML viewer): the code path
// that issued it, the locks held, every CPU's TLB entry for the page and the raw PTE value.
// Installed on traced simulations only: the untraced ones (checker exploration, benchmarks) keep
// their monomorphic fast paths.
import type { Kernel } from "../kernel/kernel.js";
import type { Machine } from "../machine/machine.js";

/** x86-64 PTE bits by position (moved to the arch layer; kept here for existing importers). */
export { X86_PTE_BITS } from "../arch/x86/format.js";

/** A call frame name per wrapped method: Linux's function names where the method is one. */
const KERNEL_FRAMES: Record<string, string> = {
  sys_mprotect: "mprotect",
  sys_munmap: "munmap",
  zapRanges: "zap_pte_range",
  handle_mm_fault: "handle_mm_fault",
  ageRange: "ptep_clear_flush_young",
  flush_tlb_mm_range: "flush_tlb_mm_range",
  ptep_modify_prot_start: "ptep_modify_prot_start",
  ptep_modify_prot_commit: "ptep_modify_prot_commit",
  modify_prot_start_ptes: "modify_prot_start_ptes",
  modify_prot_commit_ptes: "modify_prot_commit_ptes",
};

const HYPERVISOR_FRAMES: Record<string, string> = {
  mmu_update: "HYPERVISOR_mmu_update",
  multicall: "HYPERVISOR_multicall",
  mmuext_op: "HYPERVISOR_mmuext_op",
  trapStore: "trap: emulated store",
  trapXchg: "trap: emulated xchg",
  trapCmpxchg: "trap: emulated cmpxchg",
};

const wrapped = new WeakSet<object>();

/**
 * Per-CPU call stacks, kept by wrapping the kernel's entry points, the backend's pv-ops and the
 * hypervisor's entry points of one simulation. The first frame of a hypervisor call is marked
 * "xen:" so the viewer can draw it in the hypervisor's lane.
 */
export class FrameTracker {
  readonly stacks: string[][];
  constructor(
    private readonly machine: Machine,
    ncpus: number,
  ) {
    this.stacks = Array.from({ length: ncpus }, () => []);
  }

  /** The current CPU's frames, outermost first (a copy), or undefined when empty. */
  path(cpu: number): string[] | undefined {
    const s = this.stacks[cpu];
    return s === undefined || s.length === 0 ? undefined : s.slice();
  }

  /**
   * Wrap `obj`'s methods named in `names` (own or inherited), each pushing its frame on the
   * stack of the CPU it runs on: the first argument for the methods in `cpuArg`, else the
   * machine's current CPU.
   */
  wrap(obj: object, names: Record<string, string>, cpuArg: ReadonlySet<string>, prefix = ""): void {
    if (wrapped.has(obj)) return;
    wrapped.add(obj);
    const rec = obj as Record<string, unknown>;
    const m = this.machine;
    const stacks = this.stacks;
    for (const [method, frame] of Object.entries(names)) {
      const f = rec[method];
      if (typeof f !== "function") continue;
      const label = prefix + frame;
      const byArg = cpuArg.has(method);
      rec[method] = function (this: unknown, ...args: unknown[]) {
        const cpu = byArg && typeof args[0] === "number" ? (args[0] as number) : m.current;
        const s = stacks[cpu];
        if (s === undefined) return f.apply(this, args);
        s.push(label);
        try {
          return f.apply(this, args);
        } finally {
          s.pop();
        }
      };
    }
  }

  /** Wrap a kernel, its current pv-ops (a restore recreates them) and the backend's hypervisor. */
  install(kernel: Kernel, backendName: string): void {
    this.wrap(kernel, KERNEL_FRAMES, KERNEL_CPU_ARG);
    const pv = kernel.pv as unknown as Record<string, unknown>;
    const names: Record<string, string> = {};
    for (const k of allMethodNames(pv))
      if (k !== "constructor" && k !== "stateKey" && !k.startsWith("_")) names[k] = `${backendName}: ${k}`;
    this.wrap(pv, names, NO_CPU_ARG);
    const hv = pv.hv;
    if (hv !== null && typeof hv === "object") this.wrap(hv, HYPERVISOR_FRAMES, NO_CPU_ARG, "xen: ");
  }
}

const KERNEL_CPU_ARG: ReadonlySet<string> = new Set([
  "sys_mprotect",
  "sys_munmap",
  "handle_mm_fault",
  "ageRange",
]);
const NO_CPU_ARG: ReadonlySet<string> = new Set();

function allMethodNames(o: object): string[] {
  const out = new Set<string>();
  for (let p: object | null = o; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p))
    for (const k of Object.getOwnPropertyNames(p))
      if (typeof (o as Record<string, unknown>)[k] === "function") out.add(k);
  return [...out];
}

/** Every CPU's TLB entry for the page at `addr` (index: CPU), as flags text, or null. */
export function tlbEntries(machine: Machine, addr: number): (string | null)[] {
  const vpn = Math.floor(addr / 4096);
  return machine.cpus.map((c) => {
    const f = machine.tlbFlags(c.id, vpn);
    return f < 0
      ? null
      : `pfn 0x${machine.tlbPfn(c.id, vpn).toString(16)} ${machine.arch.tlb_flags_describe(f)}`;
  });
}

/** The locks held that matter for the page at `addr` (addr < 0: the mm-wide ones only). */
export function locksHeld(kernel: Kernel, ncpus: number, addr: number): string[] {
  const out: string[] = [];
  if (kernel.mmapWriter !== -1) out.push(`mmap_lock (write): CPU${kernel.mmapWriter}`);
  if (addr >= 0) {
    const p = kernel.walk(addr, false);
    if (p >= 0) {
      const h = kernel.ptlHolder(p);
      if (h !== -1) out.push(`PTE lock: CPU${h}`);
    }
  }
  for (let c = 0; c < ncpus; c++) if (kernel.inLazyMmuMode(c)) out.push(`lazy MMU mode: CPU${c}`);
  return out;
}
