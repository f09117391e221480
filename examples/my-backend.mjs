// A user-written ptesim backend: the paravirt MMU operations for ptep_modify_prot_start/commit
// and friends, written against the public interface (see "Bring your own backend" in README.md).
// Check it with:  ptesim check --backend ./examples/my-backend.mjs
//
// This one keeps the entry valid during the transaction (no ptep_get_and_clear) and commits
// with a compare-exchange that carries over any Accessed/Dirty bit the MMU set in between.
/** @typedef {import("ptesim").BackendModule} BackendModule */
/** @typedef {import("ptesim").BackendContext} BackendContext */

const A_D = (1 << 5) | (1 << 6); // _PAGE_ACCESSED | _PAGE_DIRTY: bits 5 and 6 of the low word

/** Set low-word bits of a ptesim pte_t (a 64-bit entry packed into a number; see README). */
function setLow(pte, bits) {
  const high = Math.floor(pte / 2 ** 32) * 2 ** 32;
  return high + ((pte | bits) >>> 0);
}

/** @type {BackendModule} */
export default {
  name: "my-backend",
  description: "start = plain read; commit = cmpxchg loop that keeps A/D set since start",
  correct: true,
  /** @param {BackendContext} ctx */
  create(ctx) {
    return {
      name: "my-backend",
      ptep_modify_prot_start(_vma, _addr, ptep) {
        return ctx.read(ptep);
      },
      ptep_modify_prot_commit(_vma, _addr, ptep, oldPte, pte) {
        let seen = oldPte;
        for (;;) {
          const want = setLow(pte, seen & A_D);
          const cur = ctx.cmpxchg(ptep, seen, want);
          if (cur === seen) return;
          seen = cur; // the MMU changed the entry: retry keeping what it set
        }
      },
      set_pte_at(_addr, ptep, pte) {
        ctx.write(ptep, pte);
      },
      ptep_get_and_clear(_addr, ptep) {
        return ctx.xchg(ptep, 0);
      },
      ptep_test_and_clear_young(_addr, ptep) {
        for (;;) {
          const v = ctx.read(ptep);
          if ((v & (1 << 5)) === 0) return false;
          const old = Math.floor(v / 2 ** 32) * 2 ** 32 + ((v & ~(1 << 5)) >>> 0);
          if (ctx.cmpxchg(ptep, v, old) === v) return true;
        }
      },
      arch_enter_lazy_mmu_mode() {},
      arch_leave_lazy_mmu_mode() {},
      arch_flush_lazy_mmu_mode() {},
      flush_tlb_multi(cpus, range) {
        ctx.nativeFlushTlbMulti(cpus, range);
      },
    };
  },
};
