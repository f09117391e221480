// The arm64 implementations of the protection transaction (ptep_modify_prot_start/commit and
// their batched forms), correct and deliberately broken. Each names the helper configuration it
// runs on (CONFIG_ARM64_CONTPTE, helper mutants) and its start/commit over Arm64Pgtable, so
// that every PTE access stays a step of the helpers' context. The generic kernel's per-PTE or
// per-folio loop (change_pte_range) calls these; wiring them into the backend registry is the
// integration step (docs/ARCH.md).
import { PAGE_SIZE, type pte_t, type ptep_t } from "../types.js";
import { type Arm64HelperMutant, Arm64Pgtable, type Arm64PgtableOptions } from "./pgtable.js";

export interface Arm64TransactionBackend {
  readonly name: string;
  readonly description: string;
  /** Meant to be correct (false for the deliberately broken variants). */
  readonly correct: boolean;
  /** CONFIG_ARM64_CONTPTE for the helpers it runs on. */
  readonly contpte: boolean;
  /** Whether the kernel may pass nr > 1 (folio batches) to start/commit. */
  readonly batched: boolean;
  readonly helperMutants: readonly Arm64HelperMutant[];
  start(pg: Arm64Pgtable, addr: number, ptep: ptep_t, nr: number): pte_t;
  commit(pg: Arm64Pgtable, addr: number, ptep: ptep_t, old: pte_t, pte: pte_t, nr: number): void;
}

/** The helpers a backend runs on, for a context and the CPU's erratum. */
export function arm64Pgtable(
  b: Arm64TransactionBackend,
  ctx: Arm64Pgtable["ctx"],
  erratum2645198: boolean,
): Arm64Pgtable {
  const opts: Arm64PgtableOptions = { contpte: b.contpte, erratum2645198, mutants: b.helperMutants };
  return new Arm64Pgtable(ctx, opts);
}

function singleOnly(name: string, nr: number): void {
  if (nr !== 1) throw new RangeError(`${name} has no batched transaction (nr = ${nr})`);
}

/** Today's arm64 without contpte: start = get-and-clear (plus TLBI under the erratum), commit = set_pte_at. */
export const arm64Backend: Arm64TransactionBackend = {
  name: "arm64",
  description:
    "arm64: start = ptep_get_and_clear (clear-and-flush of executable entries under erratum 2645198), commit = set_pte_at",
  correct: true,
  contpte: false,
  batched: false,
  helperMutants: [],
  start(pg, addr, ptep, nr) {
    singleOnly("arm64", nr);
    return pg.ptep_modify_prot_start(addr, ptep);
  },
  commit(pg, addr, ptep, old, pte, nr) {
    singleOnly("arm64", nr);
    pg.ptep_modify_prot_commit(addr, ptep, old, pte);
  },
};

/** Linux 6.17 with CONFIG_ARM64_CONTPTE: batched over folios, unfolding only partial blocks. */
export const arm64ContpteBackend: Arm64TransactionBackend = {
  name: "arm64-contpte",
  description:
    "arm64 with contpte (Linux 6.17): modify_prot_start_ptes = get_and_clear_full_ptes over the folio batch (A/D gathered), commit = set_ptes (refolds whole blocks)",
  correct: true,
  contpte: true,
  batched: true,
  helperMutants: [],
  start: (pg, addr, ptep, nr) => pg.modify_prot_start_ptes(addr, ptep, nr),
  commit: (pg, addr, ptep, old, pte, nr) => pg.modify_prot_commit_ptes(addr, ptep, old, pte, nr),
};

/** BROKEN: a plain read-modify-write of the live descriptor, losing a concurrent DBM update. */
export const arm64BrokenPlainRmwBackend: Arm64TransactionBackend = {
  name: "arm64-broken-plain-rmw",
  description: "BROKEN on purpose: start = plain read, commit = plain store (loses a DBM dirty update)",
  correct: false,
  contpte: false,
  batched: false,
  helperMutants: [],
  start(pg, _addr, ptep, nr) {
    singleOnly("arm64-broken-plain-rmw", nr);
    return pg.__ptep_get(ptep);
  },
  commit(pg, _addr, ptep, _old, pte, nr) {
    singleOnly("arm64-broken-plain-rmw", nr);
    pg.__set_pte(ptep, pte);
  },
};

/** BROKEN: the batch clears every entry but takes access/dirty from the first entry only. */
export const arm64BrokenGatherFirstBackend: Arm64TransactionBackend = {
  name: "arm64-contpte-broken-gather-first",
  description:
    "BROKEN on purpose: modify_prot_start_ptes takes A/D from the first entry of the batch only (loses dirty set on any other entry of a block)",
  correct: false,
  contpte: true,
  batched: true,
  helperMutants: [],
  start(pg, addr, ptep, nr) {
    if (nr === 1) return pg.modify_prot_start_ptes(addr, ptep, 1);
    // As contpte_get_and_clear_full_ptes, minus the gathering over the batch.
    pg.contpte_try_unfold_partial(addr, ptep, nr);
    const first = pg.__ptep_get_and_clear(addr, ptep);
    for (let i = 1; i < nr; i++) pg.__ptep_get_and_clear(addr + i * PAGE_SIZE, ptep + i);
    return first;
  },
  commit: (pg, addr, ptep, old, pte, nr) => pg.modify_prot_commit_ptes(addr, ptep, old, pte, nr),
};

/** BROKEN: contpte without break-before-make when a block is unfolded (or folded). */
export const arm64BrokenUnfoldNoBbmBackend: Arm64TransactionBackend = {
  name: "arm64-contpte-broken-unfold-no-bbm",
  description:
    "BROKEN on purpose: contpte_convert rewrites a block in place (no invalid entries, no TLBI): stale block TLB entries, lost A/D",
  correct: false,
  contpte: true,
  batched: true,
  helperMutants: ["unfold-without-bbm"],
  start: (pg, addr, ptep, nr) => pg.modify_prot_start_ptes(addr, ptep, nr),
  commit: (pg, addr, ptep, old, pte, nr) => pg.modify_prot_commit_ptes(addr, ptep, old, pte, nr),
};

/**
 * BROKEN (history): today's transaction, but the fault path's ptep_set_access_flags as before
 * commit 6d332747fa5f (2018), taking PTE_RDONLY from the new entry (the bug zoo's
 * arm64-dbm-set-access-flags).
 */
export const arm64BrokenSetAccessFlagsBackend: Arm64TransactionBackend = {
  ...arm64Backend,
  name: "arm64-broken-set-access-flags-pre-2018",
  description:
    "BROKEN (as before 2018): ptep_set_access_flags takes RDONLY from the new entry, undoing a concurrent DBM dirty update",
  correct: false,
  helperMutants: ["set-access-flags-pre-2018"],
};

export const ARM64_BACKENDS: readonly Arm64TransactionBackend[] = [
  arm64Backend,
  arm64ContpteBackend,
  arm64BrokenPlainRmwBackend,
  arm64BrokenGatherFirstBackend,
  arm64BrokenUnfoldNoBbmBackend,
  arm64BrokenSetAccessFlagsBackend,
];
