// The arm64 helpers on the real machine: every PTE access is a machine step, so a scheduler
// (here: a hook running one user write before step k, for every k) interleaves hardware with them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACCESS_WRITE, Machine, STEP } from "../../machine/machine.js";
import { FRAME_DATA } from "../../machine/physmem.js";
import {
  type Arm64TransactionBackend,
  arm64Backend,
  arm64BrokenPlainRmwBackend,
  arm64Pgtable,
} from "./backends.js";
import { machineArm64Context } from "./context.js";
import { PAGE_READONLY, PAGE_SHARED, pfn_pte, pte_dirty, pte_modify } from "./pte.js";

const VA = 0x7f00_0000_0000 + 0x5000;

function setup() {
  const m = new Machine({ cpus: 2, arm64: { ha: true, hd: true } });
  const pgd = m.mem.allocTable();
  for (const c of m.cpus) c.cr3 = pgd;
  const ptep = m.walkAlloc(pgd, VA, true, 3);
  m.pteWrite(0, ptep, pfn_pte(m.mem.allocFrame(FRAME_DATA), PAGE_SHARED));
  return { m, ptep };
}

/** mprotect(PROT_READ)'s transaction on CPU 0 with CPU 1's write before step k, for every k. */
function race(b: Arm64TransactionBackend) {
  const { m, ptep } = setup();
  const saved = m.save();
  const out: { wrote: boolean; dirty: boolean; steps: number[] }[] = [];
  for (let k = 0; ; k++) {
    m.restore(saved);
    let n = 0;
    let wrote: boolean | null = null;
    const steps: number[] = [];
    m.hook = {
      point: (_cpu, kind) => {
        steps.push(kind);
        if (n++ === k) wrote = m.access(1, VA, ACCESS_WRITE, 9);
      },
    };
    const pg = arm64Pgtable(b, machineArm64Context(m), false);
    const old = b.start(pg, VA, ptep, 1);
    b.commit(pg, VA, ptep, old, pte_modify(old, PAGE_READONLY), 1);
    m.hook = null;
    if (wrote === null) {
      out.push({ wrote: m.access(1, VA, ACCESS_WRITE, 9), dirty: pte_dirty(m.peekPte(ptep)), steps });
      return out;
    }
    out.push({ wrote, dirty: pte_dirty(m.peekPte(ptep)), steps });
  }
}

describe("arm64 helpers on the machine's step primitives", () => {
  it("arm64's transaction is two PTE steps (xchg, write); no interleaving loses the write's dirty state", () => {
    const rs = race(arm64Backend);
    assert.deepEqual(rs[0].steps, [STEP.PTE_XCHG, STEP.PTE_WRITE]);
    for (const r of rs) if (r.wrote) assert.ok(r.dirty);
    assert.ok(rs.some((r) => r.wrote) && rs.some((r) => !r.wrote));
  });
  it("the plain read-modify-write loses it when the write lands between its two steps", () => {
    const rs = race(arm64BrokenPlainRmwBackend);
    assert.deepEqual(rs[0].steps, [STEP.PTE_READ, STEP.PTE_WRITE]);
    assert.ok(rs.some((r) => r.wrote && !r.dirty));
  });
  it("refuses a machine without an arm64 MMU", () => {
    assert.throws(() => machineArm64Context(new Machine({ cpus: 1 })), /no arm64 MMU/);
  });
});
