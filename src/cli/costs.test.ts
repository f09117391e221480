import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { benchCosts, formatCostsTable, renderCostsSvg } from "./costs.js";

describe("bench costs", () => {
  const t = benchCosts({ pages: [1, 33, 600], batchSizes: [1, 32], batchPages: 64 });
  it("measures every backend at every size with exact counts", () => {
    assert.deepEqual(t.backends, ["native", "naive", "xen-legacy", "xen"]);
    assert.equal(t.rows.length, 12);
    const row = (b: string, n: number) => t.rows.find((r) => r.backend === b && r.pages === n)!;
    for (const n of t.pages) {
      assert.equal(row("xen", n).ptes, n);
      const l = row("xen-legacy", n).counters;
      assert.equal((l.trap_pt_write ?? 0) + (l.trap_pt_xchg ?? 0), 2 * n);
      assert.equal(row("xen", n).counters.mmu_update, n);
      assert.equal(row("xen", n).counters.trap_pt_write, undefined);
    }
    // 600 pages at a 2 MiB boundary: lazy sections of 512 and 88 PTEs, then one flush.
    assert.equal(row("xen", 600).counters.multicall, 16 + 3 + 1);
    assert.ok(t.legacyOverSeed !== null && t.legacyOverSeed.pages === 600 && t.legacyOverSeed.ratio > 5);
    assert.ok(
      t.batch.rows[0].cyclesPerPte > t.batch.rows[1].cyclesPerPte,
      "bigger batches amortise the hypercall",
    );
    assert.deepEqual(
      t.batch.rows.map((r) => r.counters.multicall),
      [65, 3],
    );
  });
  it("is deterministic and honours cost overrides", () => {
    const again = benchCosts({ pages: [1, 33, 600], batchSizes: [1, 32], batchPages: 64 });
    assert.deepEqual(again, t);
    const free = benchCosts({
      pages: [8],
      backends: [],
      batchSizes: [32],
      batchPages: 8,
      costs: { hypercall: 0, multicall: 0 },
    });
    assert.equal(free.costs.hypercall, 0);
    assert.equal(free.legacyOverSeed, null);
    assert.throws(() => benchCosts({ pages: [0] }), RangeError);
  });
  it("renders a table and a standalone SVG", () => {
    const text = formatCostsTable(t).join("\n");
    assert.match(text, /xen-legacy \/ xen at 600 pages: \d+\.\d\dx/);
    const svg = renderCostsSvg(t);
    assert.ok(
      svg.startsWith("<?xml") &&
        svg.includes('xmlns="http://www.w3.org/2000/svg"') &&
        svg.trimEnd().endsWith("</svg>"),
    );
    assert.equal((svg.match(/<polyline /g) ?? []).length, 5, "4 backends + the batch sweep");
    assert.doesNotMatch(svg, /NaN|Infinity/);
  });
});
