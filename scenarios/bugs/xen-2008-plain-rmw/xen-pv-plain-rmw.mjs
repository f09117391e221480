// The seed's buggy variant as a Xen PV guest would have run it: mprotect's protection change
// as a plain read-modify-write of the PTE, the read direct (guests may read their page tables),
// the write a plain store to the read-only page table, which traps into the hypervisor and is
// emulated. The emulated store writes the guest's value as computed from its earlier read, so an
// Accessed/Dirty bit the MMU set in between is lost, as it would be natively.
// Everything else is the Xen PV guest's ordinary path: set_pte_at is a trapped store,
// ptep_get_and_clear and the A-bit clear are trapped locked operations (emulated atomically).
// TLB flushes use the native shootdown: under Xen PV they are MMUEXT hypercalls with the same
// effect on the TLBs (only their cost differs, which the zoo does not measure).
/** @typedef {import("ptesim").BackendModule} BackendModule */
/** @typedef {import("ptesim").BackendContext} BackendContext */

const ACCESSED = 1 << 5;

/** Clear low-word bits of a ptesim pte_t (a 64-bit entry packed into a number; see README). */
function clearLow(pte, bits) {
  const high = Math.floor(pte / 2 ** 32) * 2 ** 32;
  return high + ((pte & ~bits) >>> 0);
}

/** @type {BackendModule} */
export default {
  name: "xen-pv-plain-rmw",
  description: "BROKEN on purpose: Xen PV guest, start = plain read, commit = trapped plain store",
  correct: false,
  stateless: true,
  /** @param {BackendContext} ctx */
  create(ctx) {
    const hv = ctx.createHypervisor();
    return {
      name: "xen-pv-plain-rmw",
      ptep_modify_prot_start(_vma, _addr, ptep) {
        return ctx.read(ptep);
      },
      ptep_modify_prot_commit(_vma, _addr, ptep, _oldPte, pte) {
        hv.trapStore(ptep, pte);
      },
      set_pte_at(_addr, ptep, pte) {
        hv.trapStore(ptep, pte);
      },
      ptep_get_and_clear(_addr, ptep) {
        return hv.trapXchg(ptep, 0);
      },
      ptep_test_and_clear_young(_addr, ptep) {
        for (;;) {
          const v = ctx.read(ptep);
          if ((v & ACCESSED) === 0) return false;
          if (hv.trapCmpxchg(ptep, v, clearLow(v, ACCESSED)) === v) return true;
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
