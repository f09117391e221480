import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE } from "../types.js";
import { arm64_fault_handler, arm64_fault_vm_flags } from "./fault.js";
import { FAULT_ACCESS_FLAG, FAULT_PERMISSION, FAULT_TLB_CONFLICT, FAULT_TRANSLATION } from "./mmu.js";

describe("arm64 fault decoding (arch/arm64/mm/fault.c)", () => {
  it("sends translation, access flag and permission faults to do_page_fault; a TLB conflict is fatal", () => {
    for (const f of [FAULT_TRANSLATION, FAULT_ACCESS_FLAG, FAULT_PERMISSION])
      assert.equal(arm64_fault_handler(f), "do_page_fault");
    assert.equal(arm64_fault_handler(FAULT_TLB_CONFLICT), "do_bad");
    assert.throws(() => arm64_fault_handler(0), /not a fault status/);
  });
  it("needs VM_EXEC for instruction aborts, VM_WRITE for writes; reads accept read, write, or exec without EPAN", () => {
    assert.deepEqual(arm64_fault_vm_flags(ACCESS_EXEC), { vmFlags: 4, write: false, instruction: true });
    assert.deepEqual(arm64_fault_vm_flags(ACCESS_WRITE), { vmFlags: 2, write: true, instruction: false });
    assert.equal(arm64_fault_vm_flags(ACCESS_READ).vmFlags, 1 | 2 | 4);
    assert.equal(arm64_fault_vm_flags(ACCESS_READ, true).vmFlags, 1 | 2);
  });
});
