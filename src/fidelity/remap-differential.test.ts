import assert from "node:assert/strict";
import { describe } from "node:test";
import { hostIt } from "./host.js";
import { formatRemapDivergence, runRemapDifferential } from "./remap-differential.js";

// brk and mremap against the running kernel: 300 seeded sequences of 60 calls (about half of
// them mremap or brk). More by hand: node -e 'import("./dist/fidelity/remap-differential.js")
//   .then(m => console.log(m.runRemapDifferential({ seeds: 10000, calls: 80, from: 1000 })))'
describe("brk and mremap: differential test against the real kernel", () => {
  hostIt(
    "300 sequences of 60 calls: every result and every VMA of the two areas as Linux",
    ["cc", "linux-6.16", "thp-not-always"],
    () => {
      const r = runRemapDifferential({ seeds: 300, calls: 60 });
      assert.equal(r.sequences, 300);
      assert.ok(r.calls >= 300 * 60, `${r.calls} calls compared`);
      assert.deepEqual(r.divergences.map(formatRemapDivergence), []);
      // The sequences really exercise the interesting outcomes.
      for (const k of ["mremap ok", "mremap EFAULT", "mremap EINVAL", "mremap ENOMEM", "brk ok", "brk fail"])
        assert.ok((r.outcomes[k] ?? 0) > 10, `${k}: ${r.outcomes[k] ?? 0}`);
    },
  );
});
