import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChunkedArray } from "./chunked.js";

describe("ChunkedArray", () => {
  it("behaves as an array under random splices, gets and sets (across chunk boundaries)", () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const a: number[] = [];
    const c = new ChunkedArray<number>();
    for (let step = 0; step < 20000; step++) {
      const op = rnd(10);
      if (op < 6 || a.length === 0) {
        const at = rnd(a.length + 1);
        const items = Array.from({ length: 1 + rnd(3) }, () => rnd(1000));
        const del = rnd(3);
        assert.deepEqual(c.splice(at, del, ...items), a.splice(at, del, ...items));
      } else if (op < 8) {
        const at = rnd(a.length);
        const del = 1 + rnd(Math.min(1500, a.length - at));
        assert.deepEqual(c.splice(at, del), a.splice(at, del));
      } else {
        const at = rnd(a.length);
        c.set(at, step);
        a[at] = step;
      }
      assert.equal(c.length, a.length);
      if (step % 997 === 0) assert.deepEqual(c.toArray(), a);
      const probe = rnd(a.length + 2) - 1;
      assert.equal(c.get(probe), a[probe]);
    }
    assert.deepEqual([...c], a);
    const copy = c.clone();
    copy.splice(0, 1);
    assert.equal(c.length, a.length, "a clone is independent");
    assert.deepEqual(ChunkedArray.from(a).toArray(), a);
  });
  it("copyFrom: becomes an independent copy whatever the chunk layouts of both", () => {
    for (const [n, m] of [
      [0, 3000],
      [3000, 0],
      [1500, 700],
      [700, 2600],
    ]) {
      const src = ChunkedArray.from(Array.from({ length: n }, (_, i) => i));
      // Split chunks unevenly in the source and the destination.
      for (let i = 0; i < n; i += 401) src.splice(i, 0, -i);
      const dst = ChunkedArray.from(Array.from({ length: m }, (_, i) => 10_000 + i));
      for (let i = 0; i < m; i += 97) dst.splice(i, 1);
      dst.copyFrom(src);
      assert.deepEqual(dst.toArray(), src.toArray());
      assert.equal(dst.length, src.length);
      for (let i = 0; i < dst.length; i += 37) assert.equal(dst.get(i), src.get(i));
      const before = src.toArray();
      dst.splice(1, 5, 42);
      if (dst.length > 0) dst.set(0, 99);
      assert.deepEqual(src.toArray(), before);
    }
  });
});
