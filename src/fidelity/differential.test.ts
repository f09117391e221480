import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileMmops, formatDivergence, replayTranscript, runDifferential } from "./differential.js";
import { hostIt } from "./host.js";

// A hand-written transcript in mmops's format: a tiny process layout, then two calls.
const LAYOUT = [
  "S 7 2",
  "M 555555554000-555555555000 r--p 00000000 fe:00 1 /bin/x",
  "M 7f0000000000-7f0000001000 ---s 00000000 00:01 25 /dev/zero (deleted)",
  "M 7f0000201000-7f0000202000 ---s 00000000 00:01 26 /dev/zero (deleted)",
  "M 7f0000300000-7f0000301000 r--p 00000000 fe:00 2 /lib/ld.so",
  "M 7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]",
  "G 7f0000000000 7f0000001000 7f0000201000 7f0000202000 10000 /memfd:ptesim (deleted)",
];
const GUARD_LO = "W 7f0000000000-7f0000001000 ---s 0 z 25";
const GUARD_HI = "W 7f0000201000-7f0000202000 ---s 0 z 26";
function transcript(mmapResult: string, afterMprotect: string[]): string {
  return [
    ...LAYOUT,
    `C 0 mmap 7f0000010000 2000 3 22 - 0 = ${mmapResult}`,
    GUARD_LO,
    "W 7f0000010000-7f0000012000 rw-p 0 a 0",
    GUARD_HI,
    "C 1 mprotect 7f0000011000 1000 1 = 0",
    GUARD_LO,
    ...afterMprotect,
    GUARD_HI,
    "F 555555554000-555555555000 r--p 00000000 fe:00 1 /bin/x",
    "F 7f0000000000-7f0000001000 ---s 00000000 00:01 25 /dev/zero (deleted)",
    "F 7f0000010000-7f0000011000 rw-p 00000000 00:00 0",
    "F 7f0000011000-7f0000012000 r--p 00000000 00:00 0",
    "F 7f0000201000-7f0000202000 ---s 00000000 00:01 26 /dev/zero (deleted)",
    "F 7f0000300000-7f0000301000 r--p 00000000 fe:00 2 /lib/ld.so",
    "F 7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]",
    "X",
    "",
  ].join("\n");
}
const SPLIT = ["W 7f0000010000-7f0000011000 rw-p 0 a 0", "W 7f0000011000-7f0000012000 r--p 0 a 0"];

describe("differential harness", () => {
  it("accepts a transcript the model agrees with", () => {
    const r = replayTranscript(transcript("7f0000010000", SPLIT));
    assert.deepEqual(r.divergences, []);
    assert.equal(r.sequences, 1);
    assert.equal(r.calls, 2);
    assert.deepEqual(r.outcomes, { "mmap ok": 1, "mprotect ok": 1 });
  });

  it("reports a different result with seed, call and both VMA lists", () => {
    const r = replayTranscript(transcript("7f0000020000", SPLIT));
    assert.equal(r.divergences.length, 1);
    const d = r.divergences[0];
    assert.equal(d.seed, 7);
    assert.equal(d.callIndex, 0);
    assert.match(d.callText, /^mmap 7f0000010000 2000 3 22/);
    assert.match(d.reason, /linux 0x7f0000020000, model 0x7f0000010000/);
    assert.ok(d.model.includes("7f0000010000-7f0000012000 rw-p 0 a"));
    const text = formatDivergence(d);
    assert.match(text, /seed 7, call 0/);
    assert.match(text, /--from 7 --seeds 1/);
  });

  it("reports a different window after a call", () => {
    const r = replayTranscript(transcript("7f0000010000", ["W 7f0000010000-7f0000012000 rw-p 0 a 0"]));
    assert.equal(r.divergences.length, 1);
    const d = r.divergences[0];
    assert.equal(d.callIndex, 1);
    assert.equal(d.reason, "window VMAs differ");
    assert.deepEqual(d.linux, [
      "7f0000000000-7f0000001000 ---s 0 z",
      "7f0000010000-7f0000012000 rw-p 0 a",
      "7f0000201000-7f0000202000 ---s 0 z",
    ]);
    assert.equal(d.model.length, 4);
  });

  it("explains a missing C compiler", () => {
    assert.throws(
      () => compileMmops({ cc: "ptesim-no-such-cc" }),
      /no C compiler: `ptesim-no-such-cc` is not on PATH/,
    );
  });
});

describe("differential test against the running Linux kernel", () => {
  hostIt(
    "matches Linux on 1500 random sequences of 60 mmap/mprotect/munmap/touch calls",
    ["cc", "linux-6.16", "thp-not-always"],
    () => {
      const r = runDifferential({ seeds: 1500, calls: 60, from: 1 });
      assert.equal(r.divergences.length, 0, r.divergences.map(formatDivergence).join("\n\n"));
      assert.equal(r.sequences, 1500);
      assert.equal(r.calls, 1500 * 60);
      // the generator reached the interesting cases
      for (const k of [
        "mmap ok",
        "mmap EINVAL",
        "mmap EEXIST",
        "mmap EACCES",
        "mmap ENOMEM",
        "mprotect ok",
        "mprotect EINVAL",
        "mprotect EACCES",
        "mprotect ENOMEM",
        "mprotect error after changes",
        "mprotect over several VMAs",
        "munmap ok",
        "munmap EINVAL",
        "touch ok",
      ]) {
        assert.ok((r.outcomes[k] ?? 0) > 0, `no "${k}" outcome in ${JSON.stringify(r.outcomes)}`);
      }
    },
  );
});
