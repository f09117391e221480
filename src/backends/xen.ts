// Xen PV guest backends: the guest half of Linux arch/x86/xen/mmu_pv.c over the simulated
// hypervisor (src/xen/hypervisor.ts) and the per-CPU multicall buffers (src/xen/multicall.ts).
//
//   xen-legacy   the guest before 2008: start = xchg on the read-only table (trap 1), commit =
//                plain store (trap 2). Correct (the entry is non-present in between) but 2 traps.
//   xen          the seed (Linux e57778a1): start = plain read; commit = one mmu_update with
//                MMU_PT_UPDATE_PRESERVE_AD queued in the per-CPU multicall buffer, issued at once
//                outside lazy MMU mode, else on leaving lazy mode, an explicit flush, a full
//                buffer or a context switch. Without XENFEAT_mmu_pt_update_preserve_ad the
//                guest keeps the legacy transaction (Linux installs the Xen hooks only when the
//                feature is present).
//   xen-broken-no-preserve-ad   commit with MMU_NORMAL_PT_UPDATE: A/D set since start are lost.
//   xen-broken-lazy-unflushed   leaving lazy MMU mode does not flush: queued commits are issued
//                only by the next hypercall, after the PTE lock has been released.
//
// Shared by all four (the Xen PV way, as in Linux):
//   set_pte_at                  mmu_update (MMU_NORMAL_PT_UPDATE): queued in lazy MMU mode, else
//                               a direct hypercall (__xen_set_pte). xen-legacy: a trapped store.
//   ptep_get_and_clear          xchg on the pinned table: trapped, emulated atomically.
//   ptep_test_and_clear_young   locked bit clear on the pinned table: trapped, emulated.
//   flush_tlb_multi             MMUEXT_INVLPG_MULTI for one page, else MMUEXT_TLB_FLUSH_MULTI,
//                               queued in the multicall buffer (xen_flush_tlb_multi).
import { z } from "zod";
import type { BackendContext, BackendModule, FlushRange, PvMmuOps } from "../kernel/pvops.js";
import type { Vma } from "../kernel/vma.js";
import { CTR } from "../machine/ledger.js";
import type { ptep_t } from "../machine/physmem.js";
import { _PAGE_ACCESSED, NULL_PTE, type pte_t, pteClearLow } from "../machine/pte.js";
import {
  type Hypervisor,
  MMU_NORMAL_PT_UPDATE,
  MMU_PT_UPDATE_PRESERVE_AD,
  MMU_UPDATE_BYTES,
  MMUEXT_INVLPG_MULTI,
  MMUEXT_OP_BYTES,
  MMUEXT_TLB_FLUSH_MULTI,
  XENFEAT_mmu_pt_update_preserve_ad,
  XenError,
} from "../xen/hypervisor.js";
import { MulticallBuffers } from "../xen/multicall.js";

/** `backendOptions` of every Xen backend. */
export const XenOptionsSchema = z.strictObject({
  /** Multicall entries per CPU (Linux MC_BATCH). With coalescing, also PTE updates per batch. */
  batch: z.number().int().min(1).max(4096).default(32),
  /** Argument bytes per CPU (Linux MC_ARGS); default 16 * batch, as Linux defines it. */
  argBytes: z.number().int().min(16).max(1048576).optional(),
  /** Coalesce consecutive mmu_updates into one multicall entry (xen_extend_mmu_update). */
  coalesce: z.boolean().default(true),
  /** "2008": Linux 2.6.26 multicall rules; "current": today's (see src/xen/multicall.ts). */
  multicallRules: z.enum(["2008", "current"]).default("2008"),
  /** Hypervisor features, by name without XENFEAT_. Unknown names are rejected. */
  features: z
    .strictObject({ mmu_pt_update_preserve_ad: z.boolean().default(true) })
    .default(() => ({ mmu_pt_update_preserve_ad: true })),
});
export type XenOptions = z.output<typeof XenOptionsSchema>;
export type XenOptionsInput = z.input<typeof XenOptionsSchema>;

/** How a backend implements the protection transaction. */
export type XenVariant = "legacy" | "seed" | "no-preserve-ad" | "lazy-unflushed";

const TXN_LEGACY = 0;
const TXN_PRESERVE_AD = 1;
const TXN_NORMAL = 2;

const parsed = new WeakMap<object, XenOptions>();

/** `XenOptionsSchema.parse(raw)`, remembered per (read-only) options object. */
function parsedOptions(raw: Readonly<Record<string, unknown>>): XenOptions {
  let o = parsed.get(raw);
  if (o === undefined) {
    o = XenOptionsSchema.parse(raw);
    parsed.set(raw, o);
  }
  return o;
}

export class XenPvMmuOps implements PvMmuOps {
  readonly name: string;
  readonly hv: Hypervisor;
  readonly mc: MulticallBuffers;
  readonly options: XenOptions;
  /** What the transaction does (the seed falls back to legacy without the feature). */
  readonly txn: number;
  private readonly ctx: BackendContext;
  /** Per-CPU: in lazy MMU mode (xen_get_lazy_mode() == XEN_LAZY_MMU). */
  private readonly lazy: Uint8Array;
  private readonly flushOnLeave: boolean;
  private readonly trapSetPte: boolean;
  private readonly vcpuMaskBytes: number;

  constructor(
    ctx: BackendContext,
    name: string,
    readonly variant: XenVariant,
  ) {
    this.name = name;
    this.ctx = ctx;
    // Options arrive parsed when a scenario was loaded; direct users may pass raw ones. Parsed
    // once per options object: the checker creates the operations afresh at every restore.
    this.options = parsedOptions(ctx.options);
    const o = this.options;
    this.hv = ctx.createHypervisor({ features: o.features });
    const ncpus = ctx.ncpus;
    this.mc = new MulticallBuffers(this.hv, ncpus, {
      batch: o.batch,
      argBytes: o.argBytes ?? o.batch * MMU_UPDATE_BYTES,
      coalesce: o.coalesce,
      rules: o.multicallRules,
    });
    this.lazy = new Uint8Array(ncpus);
    this.vcpuMaskBytes = 8 * Math.ceil(ncpus / 64);
    this.flushOnLeave = variant !== "lazy-unflushed";
    this.trapSetPte = variant === "legacy";
    if (variant === "legacy") this.txn = TXN_LEGACY;
    else if (variant === "no-preserve-ad") this.txn = TXN_NORMAL;
    else this.txn = this.hv.hasFeature(XENFEAT_mmu_pt_update_preserve_ad) ? TXN_PRESERVE_AD : TXN_LEGACY;
  }

  /** The backend's own state: lazy mode and queued multicalls per CPU (see PvMmuOps.stateKey). */
  stateKey(): string {
    return `${this.lazy.join("")}|${this.mc.stateKey()}`;
  }

  /** The same as numbers (PvMmuOps.stateKeyInto). */
  stateKeyInto(out: { push(v: number): void }): void {
    for (let c = 0; c < this.lazy.length; c++) out.push(this.lazy[c]);
    this.mc.stateKeyInto(out);
  }

  /** Whether any CPU's multicall buffer holds an update of `ptep` not yet issued (PvMmuOps.updateQueued). */
  updateQueued(ptep: ptep_t): boolean {
    return this.mc.queuesUpdate(this.hv.maddrOf(ptep));
  }

  /** The transaction in words (for reports). */
  describeTxn(): string {
    return this.txn === TXN_LEGACY
      ? "legacy: trapped xchg + trapped store"
      : this.txn === TXN_PRESERVE_AD
        ? "plain read + mmu_update(PRESERVE_AD)"
        : "plain read + mmu_update(NORMAL)";
  }

  // ---------------------------------------------------------------- the transaction

  ptep_modify_prot_start(_vma: Vma, _addr: number, ptep: ptep_t): pte_t {
    if (this.txn === TXN_LEGACY) return this.hv.trapXchg(ptep, NULL_PTE); // ptep_get_and_clear
    return this.ctx.read(ptep); // the tables are readable: no trap
  }

  ptep_modify_prot_commit(_vma: Vma, _addr: number, ptep: ptep_t, _old: pte_t, pte: pte_t): void {
    if (this.txn === TXN_LEGACY) {
      this.hv.trapStore(ptep, pte); // set_pte_at: a plain store, trapped
      return;
    }
    const cpu = this.ctx.currentCpu();
    const cmd = this.txn === TXN_PRESERVE_AD ? MMU_PT_UPDATE_PRESERVE_AD : MMU_NORMAL_PT_UPDATE;
    this.mc.extendMmuUpdate(cpu, this.hv.maddrOf(ptep) + cmd, pte);
    if (this.lazy[cpu] === 0) this.mc.flush(cpu); // xen_mc_issue(XEN_LAZY_MMU)
  }

  // ---------------------------------------------------------------- other PTE updates

  set_pte_at(_addr: number, ptep: ptep_t, pte: pte_t): void {
    if (this.trapSetPte) {
      this.hv.trapStore(ptep, pte);
      return;
    }
    const cpu = this.ctx.currentCpu();
    const ptr = this.hv.maddrOf(ptep) + MMU_NORMAL_PT_UPDATE;
    if (this.lazy[cpu] !== 0) {
      this.mc.extendMmuUpdate(cpu, ptr, pte); // xen_batched_set_pte
      return;
    }
    // __xen_set_pte outside lazy mode: "a hypercall is much cheaper" than trap-and-emulate.
    const rc = this.hv.mmu_update([{ ptr, val: pte }]);
    if (rc < 0) throw new XenError("mmu_update", -rc, "set_pte_at");
  }

  ptep_get_and_clear(_addr: number, ptep: ptep_t): pte_t {
    return this.hv.trapXchg(ptep, NULL_PTE);
  }

  ptep_test_and_clear_young(_addr: number, ptep: ptep_t): boolean {
    for (;;) {
      const v = this.ctx.read(ptep);
      if ((v & _PAGE_ACCESSED) === 0) return false;
      if (this.hv.trapCmpxchg(ptep, v, pteClearLow(v, _PAGE_ACCESSED)) === v) return true;
    }
  }

  // ---------------------------------------------------------------- lazy MMU mode

  arch_enter_lazy_mmu_mode(): void {
    const cpu = this.ctx.currentCpu();
    this.ctx.count(CTR.lazy_enter);
    this.lazy[cpu] = 1;
  }

  arch_leave_lazy_mmu_mode(): void {
    const cpu = this.ctx.currentCpu();
    if (this.flushOnLeave) {
      this.ctx.count(CTR.lazy_flush);
      this.mc.flush(cpu);
    }
    this.lazy[cpu] = 0;
  }

  arch_flush_lazy_mmu_mode(): void {
    const cpu = this.ctx.currentCpu();
    if (this.lazy[cpu] === 0) return;
    this.ctx.count(CTR.lazy_flush);
    this.mc.flush(cpu);
  }

  /** Whether `cpu` is in lazy MMU mode as far as the backend knows. */
  inLazyMode(cpu: number): boolean {
    return this.lazy[cpu] !== 0;
  }

  // ---------------------------------------------------------------- TLB and scheduling

  flush_tlb_multi(cpus: readonly number[], range: FlushRange): void {
    if (cpus.length === 0) return;
    const cpu = this.ctx.currentCpu();
    const one = !range.full && range.end - range.start <= 4096;
    this.mc.addMmuext(
      cpu,
      {
        cmd: one ? MMUEXT_INVLPG_MULTI : MMUEXT_TLB_FLUSH_MULTI,
        linearAddr: range.start,
        vcpumask: cpus.slice(),
      },
      MMUEXT_OP_BYTES + this.vcpuMaskBytes,
    );
    if (this.lazy[cpu] === 0) this.mc.flush(cpu);
  }

  /** xen_end_context_switch: issue whatever the outgoing task left queued. */
  context_switch(): void {
    this.mc.flush(this.ctx.currentCpu());
  }
}

function xenModule(name: string, variant: XenVariant, correct: boolean, description: string): BackendModule {
  return {
    name,
    description,
    correct,
    optionsSchema: XenOptionsSchema,
    create: (ctx) => new XenPvMmuOps(ctx, name, variant),
  };
}

export const xenLegacyBackend: BackendModule = xenModule(
  "xen-legacy",
  "legacy",
  true,
  "Xen PV before 2008: start = xchg on the read-only table (trap), commit = store (trap): 2 traps per PTE",
);

export const xenBackend: BackendModule = xenModule(
  "xen",
  "seed",
  true,
  "Xen PV (the seed): start = plain read, commit = mmu_update PRESERVE_AD batched in a per-CPU multicall",
);

export const xenBrokenNoPreserveAdBackend: BackendModule = xenModule(
  "xen-broken-no-preserve-ad",
  "no-preserve-ad",
  false,
  "BROKEN on purpose: Xen commit with MMU_NORMAL_PT_UPDATE (loses A/D set since start)",
);

export const xenBrokenLazyUnflushedBackend: BackendModule = xenModule(
  "xen-broken-lazy-unflushed",
  "lazy-unflushed",
  false,
  "BROKEN on purpose: leaving lazy MMU mode does not flush the multicall batch (applied after unlock)",
);

/** All Xen backends, in registration order. */
export const XEN_BACKENDS: readonly BackendModule[] = [
  xenLegacyBackend,
  xenBackend,
  xenBrokenNoPreserveAdBackend,
  xenBrokenLazyUnflushedBackend,
];
