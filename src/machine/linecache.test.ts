// The reuse-distance model of mprotect's metadata lines: what it counts for walks of known shape.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LINE_TIERS_MIB, LINES_PER_MIB, LineReuse, NTIERS } from "./linecache.js";

/** A table store of `n` present PTEs (low bit set) mapping frames 1000.. and `holes` absent ones. */
function store(n: number, holeEvery = 0): Float64Array {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = holeEvery > 0 && i % holeEvery === 0 ? 0 : (1000 + i) * 4096 + 1;
  return t;
}
const present = (v: number) => (v & 1) !== 0;
const pfnOf = (v: number) => Math.floor(v / 4096);

function counts(r: LineReuse): number[] {
  const out = new Array<number>(NTIERS).fill(0);
  r.take((k, n) => {
    out[k] += n;
  });
  return out;
}

describe("metadata line reuse distances", () => {
  it("counts first touches beyond every tier, and a pass's lines again at one pass's distance", () => {
    // 8 PTEs per line: 80 slots are 10 PTE lines and 80 struct page lines.
    const t = store(80);
    const r = new LineReuse();
    r.touchRange(t, 0, 80, present, pfnOf);
    assert.deepEqual(counts(r), new Array(NTIERS).fill(90));
    r.touchRange(t, 0, 80, present, pfnOf);
    assert.deepEqual(counts(r), new Array(NTIERS).fill(0), "89 lines apart: within every tier");
  });

  it("puts a walk whose footprint exceeds a tier beyond it, and only that far", () => {
    // 16,384 PTEs: 2,048 PTE lines + 16,384 struct pages = 18,432 lines, above 1 MiB (16,384
    // lines) and below 2 MiB; 40,000 PTEs: 45,000 lines, above 2 MiB and below 4 MiB.
    for (const [n, beyond] of [
      [16384, 1],
      [40000, 2],
    ] as const) {
      const t = store(n);
      const r = new LineReuse();
      r.touchRange(t, 0, n, present, pfnOf);
      counts(r);
      r.touchRange(t, 0, n, present, pfnOf);
      const lines = n / 8 + n;
      assert.deepEqual(
        counts(r),
        LINE_TIERS_MIB.map((_, k) => (k < beyond ? lines : 0)),
        `${n} PTEs`,
      );
    }
    assert.equal(LINES_PER_MIB, 16384);
  });

  it("touches no struct page for an absent entry, and forgets everything on evictAll", () => {
    const t = store(64, 4); // 16 of 64 absent
    const r = new LineReuse();
    r.touchRange(t, 0, 64, present, pfnOf);
    assert.deepEqual(counts(r), new Array(NTIERS).fill(8 + 48));
    r.evictAll();
    r.touchRange(t, 0, 64, present, pfnOf);
    assert.deepEqual(counts(r), new Array(NTIERS).fill(56));
  });

  it("grows its tables for frames and slots it has not seen", () => {
    const t = new Float64Array(5000);
    t[4999] = 3_000_000 * 4096 + 1;
    const r = new LineReuse();
    r.touchRange(t, 4990, 10, present, pfnOf);
    assert.deepEqual(counts(r), new Array(NTIERS).fill(3), "2 PTE lines and 1 struct page");
  });
});
