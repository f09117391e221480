// A user-written ptesim backend for arm64 (see "Bring your own backend" in README.md): it
// declares `arch: "arm64"` and gets, besides the step primitives, the arm64 TLB maintenance
// instructions in `ctx.arm64` (broadcast TLBI and DSB, each TLBI one step the checker
// interleaves). Check it with:
//   ptesim check scenarios/arm64/dbm-vs-mprotect.yaml --backend ./examples/my-arm64-backend.mjs
//
// The transaction is today's arm64 one without the erratum workaround: start = get-and-clear
// (an atomic swap with 0, so a concurrent DBM dirty update is either in the value returned or
// faults), commit = a store. pte_modify (generic code) moves the hardware dirty state into the
// software PTE_DIRTY bit, so nothing is lost.
/** @typedef {import("ptesim").BackendModule} BackendModule */
/** @typedef {import("ptesim").BackendContext} BackendContext */

const PTE_AF = 1 << 10;
const PTE_RDONLY = 1 << 7;
// Descriptor bits 48..63 are packed at 32..47 of a ptesim pte_t: PTE_DIRTY (55) weighs 2^39.
const PTE_DIRTY = 2 ** 39;
const HI = 2 ** 32;

const hi = (v) => Math.floor(v / HI);
const lo = (v) => v >>> 0;
const has = (v, bit) => (bit >= HI ? (hi(v) & (bit / HI)) !== 0 : (lo(v) & bit) !== 0);
const make = (l, h) => (l >>> 0) + h * HI;

/** @type {BackendModule} */
export default {
  name: "my-arm64-backend",
  arch: "arm64",
  description: "arm64: start = xchg with 0 (ptep_get_and_clear), commit = store; TLBI by page",
  correct: true,
  /** @param {BackendContext} ctx */
  create(ctx) {
    const tlb = ctx.arm64; // present on arm64 machines only
    return {
      name: "my-arm64-backend",
      ptep_modify_prot_start: (_vma, _addr, ptep) => ctx.xchg(ptep, 0),
      ptep_modify_prot_commit: (_vma, _addr, ptep, _old, pte) => ctx.write(ptep, pte),
      set_pte_at: (_addr, ptep, pte) => ctx.write(ptep, pte),
      ptep_get_and_clear: (_addr, ptep) => ctx.xchg(ptep, 0),
      ptep_test_and_clear_young(_addr, ptep) {
        for (;;) {
          const v = ctx.read(ptep);
          if (!has(v, PTE_AF)) return false;
          if (ctx.cmpxchg(ptep, v, make(lo(v) & ~PTE_AF, hi(v))) === v) return true;
        }
      },
      // The fault path's fixup, as arm64's __ptep_set_access_flags: merge AF and PTE_DIRTY in,
      // and keep the entry read-only only if both the live and the new value are (a DBM write
      // that cleared RDONLY meanwhile must not be undone).
      ptep_set_access_flags(_vma, _addr, ptep, entry, _dirty) {
        for (;;) {
          const v = ctx.read(ptep);
          const rdonly = lo(v) & lo(entry) & PTE_RDONLY;
          const l = ((lo(v) | lo(entry)) & ~PTE_RDONLY) | rdonly;
          const h = hi(v) | (hi(entry) & (PTE_DIRTY / HI));
          const want = make(l | (lo(entry) & PTE_AF), h);
          if (want === v) return false;
          if (ctx.cmpxchg(ptep, v, want) === v) return true;
        }
      },
      arch_enter_lazy_mmu_mode() {},
      arch_leave_lazy_mmu_mode() {},
      arch_flush_lazy_mmu_mode() {},
      // Broadcast: one TLBI per page reaches every CPU; the CPU list is not needed.
      flush_tlb_multi(_cpus, range) {
        tlb.dsb("ishst");
        for (let a = range.start; a < range.end; a += 4096) tlb.tlbi_va(a, true);
        tlb.dsb("ish");
      },
    };
  },
};
