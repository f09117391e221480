import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_POPULATE } from "../strace/replay.js";
import { measurePolicies } from "./populate-policy.js";

describe("populate policy against the real kernel (mmops sequences as strace logs)", () => {
  const r = measurePolicies(60, 60, 1001);

  it("with the page faults in the log (evidence) every final VMA list is Linux's", () => {
    assert.equal(r.sequences, 60);
    const ev = r.scores.find((s) => s.policy === "evidence")!;
    assert.equal(ev.differing, 0);
    for (const s of r.scores) assert.equal(s.divergences, 0, `${s.policy}: call outcomes match`);
  });

  it("the default is the guessing policy that matches Linux's VMA lists most often", () => {
    const guess = r.scores.filter((s) => s.policy !== "evidence");
    const best = Math.min(...guess.map((s) => s.differing));
    assert.equal(guess.find((s) => s.policy === DEFAULT_POPULATE)!.differing, best);
    assert.ok(guess.find((s) => s.policy === "touch")!.differing > best, "touching every page is worse");
  });
});
