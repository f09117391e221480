// The fit and the calibration on synthetic measurements made by the model itself with known
// weights: what they recover, and that a calibration's file loads back as a cost table.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CounterName } from "../machine/ledger.js";
import { costTable } from "../sim/costs.js";
import {
  CACHE_TIERS,
  calibrate,
  coldCyclesPerLine,
  kernelNs,
  type ProbeResults,
  SWEEP_BASE,
  SWEEP_FITTED,
} from "./calibrate.js";
import { compareNative, compareOps } from "./compare.js";
import { fitWeights, type Observation, predict } from "./fit.js";
import { parseProbeOutput } from "./probe-run.js";
import {
  faultCounts,
  mprotectPairCounts,
  munmapCounts,
  nochangeCounts,
  shootdownExtraCounts,
} from "./sim-probes.js";
import { checkHost, formatCostTable, loadCostTableText, tableHost } from "./table-file.js";

/** Sizes and offsets (bytes into the 2 MiB page table) of the synthetic sweep. */
const SWEEP: [number, number][] = [
  [1, 0],
  [4, 0x1000],
  [16, 0x7000],
  [33, 0],
  [34, 0x1ff000],
  [64, 0x100000],
  [700, 0x80000],
  [2048, 0],
];

/** The "true" weights of the synthetic machine: defaults, with the calibrated ones changed. */
const TRUTH: Record<CounterName, number> = {
  ...costTable(),
  syscall: 400,
  mmap_lock: 300,
  vma_walk: 900,
  folio_lookup: 120,
  can_change_pte_writable: 30,
  tlb_invlpg: 110,
  tlb_flush_all: 700,
  page_fault: 5000,
  folio_alloc: 2000,
  vma_unmap: 3000,
  folio_free: 300,
  ipi: 2500,
};
const CPN = 2.5; // cycles per ns of the synthetic clock

function syntheticProbes(
  t: Record<CounterName, number>,
  sweep: readonly [number, number][] = SWEEP,
  coldSizes: readonly number[] = [],
): ProbeResults {
  const ns = (c: Parameters<typeof predict>[0]) => predict(c, t) / CPN;
  const extra = ns(shootdownExtraCounts());
  return {
    clock: { kind: "clock", tsc_hz: CPN * 1e9, interval_ns: 2e8, cpuinfo_mhz: 2500, clock_overhead_ns: 20 },
    syscall: {
      kind: "syscall",
      getppid_ns: t.syscall / CPN,
      mprotect_len0_ns: 100,
      nochange_ns: ns(nochangeCounts()),
    },
    mprotect: sweep.map(([pages, offset]) => {
      const c = mprotectPairCounts(pages, offset);
      const ro = ns(c.ro);
      const rw = ns(c.rw);
      return {
        kind: "mprotect" as const,
        pages,
        offset: 0x7f0000000000 + offset,
        reps: 10,
        ro_median_ns: ro * 1.1,
        ro_min_ns: ro,
        rw_median_ns: rw * 1.1,
        rw_min_ns: rw,
      };
    }),
    munmap: [1, 8, 64, 512].map((pages) => {
      const t = ns(munmapCounts(pages));
      return { kind: "munmap" as const, pages, median_ns: t * 1.1, min_ns: t };
    }),
    sched: null,
    // Eviction also costs 30 us once per call (kernel text, VMA, TLB): the fit must not see it.
    cold: coldSizes.map((pages) => {
      const w = mprotectPairCounts(pages, 0);
      const c = mprotectPairCounts(pages, 0, undefined, true);
      return {
        kind: "cold" as const,
        pages,
        evict_bytes: 128 << 20,
        reps: 5,
        warm_ro_median_ns: ns(w.ro) * 1.1,
        warm_ro_min_ns: ns(w.ro),
        warm_rw_median_ns: ns(w.rw) * 1.1,
        warm_rw_min_ns: ns(w.rw),
        cold_ro_median_ns: (ns(c.ro) + 30000) * 1.1,
        cold_ro_min_ns: ns(c.ro) + 30000,
        cold_rw_median_ns: (ns(c.rw) + 30000) * 1.1,
        cold_rw_min_ns: ns(c.rw) + 30000,
      };
    }),
    fault: {
      kind: "fault",
      pages: 64,
      write_ns: ns(faultCounts().write),
      read_ns: ns(faultCounts().read),
      wp_ns: ns(faultCounts().wp),
    },
    shootdown: {
      kind: "shootdown",
      cpus: 2,
      remote_cpu: 1,
      pinned: true,
      alone_ro_ns: 1000,
      alone_rw_ns: 1020,
      remote_ro_ns: 1000 + extra,
      remote_rw_ns: 1020 + extra,
      kept: 10,
      reps: 10,
    },
  };
}

describe("the kernel's own events", () => {
  it("are counted per syscall, VMA, page table and PTE where the kernel passes", () => {
    // 600 pages from 0x80000 into a page table: 384 in the first table, 216 in the next.
    const { ro, rw } = mprotectPairCounts(600, 0x80000);
    for (const c of [ro, rw]) {
      assert.equal(c.syscall, 1);
      assert.equal(c.mmap_lock, 1);
      assert.equal(c.vma_walk, 1);
      assert.equal(c.tlb_gather, 1);
      assert.equal(c.pte_lock, 2);
      assert.equal(c.folio_lookup, 600);
    }
    assert.equal(ro.can_change_pte_writable, undefined, "read-only: no writable check");
    assert.equal(rw.can_change_pte_writable, 600);
    // x86 flushes on any change of R/W, adding it too (pte_flags_need_flush).
    assert.equal(ro.tlb_flush_all, 1, "600 pages: one full flush");
    assert.equal(rw.tlb_flush_all, 1);
    assert.deepEqual(nochangeCounts(), { syscall: 1, mmap_lock: 1, tlb_gather: 1 });
  });

  it("munmap: one VMA removed, one vm_normal_folio and one folio freed per present page", () => {
    const u = munmapCounts(600, 0x80000);
    assert.equal(u.syscall, 1);
    assert.equal(u.tlb_gather, 1);
    assert.equal(u.vma_unmap, 1);
    assert.equal(u.vma_walk, undefined, "mprotect's per-VMA work is not munmap's");
    assert.equal(u.pte_lock, 2);
    assert.equal(u.folio_lookup, 600);
    assert.equal(u.folio_free, 600);
    assert.equal(u.tlb_flush_all, 1);
  });

  it("faults: a folio allocated by a first write and by the copy after a read, none by a read", () => {
    const f = faultCounts(64);
    assert.equal(f.write.folio_alloc, 1);
    assert.equal(f.read.folio_alloc, undefined, "the zero page is shared");
    assert.equal(f.wp.folio_alloc, 1);
    for (const c of [f.write, f.read, f.wp]) assert.equal(c.page_fault, 1);
  });
});

describe("fitting the cost model", () => {
  it("recovers known weights from the model's own counts over a size sweep", () => {
    const truth: Partial<Record<CounterName, number>> = { vma_walk: 1234, folio_lookup: 87, tlb_invlpg: 150 };
    const known = costTable({ vma_walk: 0, folio_lookup: 0, tlb_invlpg: 0 });
    delete (known as Partial<Record<CounterName, number>>).vma_walk;
    const obs: Observation[] = SWEEP.map(([p, off]) => {
      const { ro } = mprotectPairCounts(p, off);
      return { label: `ro ${p}`, counts: ro, cycles: predict(ro, { ...known, ...truth }) };
    });
    const unknown: CounterName[] = ["vma_walk", "folio_lookup", "tlb_invlpg"];
    const k: Partial<Record<CounterName, number>> = { ...known };
    for (const u of unknown) delete k[u];
    const fit = fitWeights(obs, unknown, k);
    for (const u of unknown)
      assert.ok(Math.abs((fit.weights[u] ?? 0) - (truth[u] ?? 0)) < 1e-6, `${u}: ${fit.weights[u]}`);
    assert.ok(fit.maxRelativeError < 1e-9);
  });

  it("keeps weights non-negative and stays close under noise", () => {
    const truth = { vma_walk: 1000, folio_lookup: 100 };
    const obs: Observation[] = SWEEP.map(([p, off], i) => {
      const { ro } = mprotectPairCounts(p, off);
      const noise = i % 2 === 0 ? 1.03 : 0.97;
      return { label: `ro ${p}`, counts: ro, cycles: predict(ro, { ...costTable(), ...truth }) * noise };
    });
    const known: Partial<Record<CounterName, number>> = costTable();
    delete known.vma_walk;
    delete known.folio_lookup;
    const fit = fitWeights(obs, ["vma_walk", "folio_lookup"], known);
    assert.ok((fit.weights.vma_walk ?? -1) >= 0 && (fit.weights.folio_lookup ?? -1) >= 0);
    assert.ok(
      Math.abs((fit.weights.folio_lookup ?? 0) - 100) < 10,
      `folio_lookup ${fit.weights.folio_lookup}`,
    );
    assert.ok(fit.maxRelativeError < 0.1);
  });

  it("refuses a weight both fitted and held (its held value would be counted twice)", () => {
    const { ro } = mprotectPairCounts(8);
    assert.throws(
      () => fitWeights([{ label: "ro 8", counts: ro, cycles: 5000 }], ["vma_walk"], costTable()),
      /"vma_walk" is both fitted and held/,
    );
  });

  it("refuses a weight that no observation exercises", () => {
    const { ro } = mprotectPairCounts(8);
    assert.throws(
      () => fitWeights([{ label: "ro 8", counts: ro, cycles: 5000 }], ["ipi"], {}),
      /no observation counts "ipi"/,
    );
  });
});

describe("calibrate", () => {
  const probes = syntheticProbes(TRUTH);
  const c = calibrate(probes);

  it("recovers every weight it calibrates from measurements made with known weights", () => {
    for (const k of [
      "syscall",
      "mmap_lock",
      ...SWEEP_BASE,
      "page_fault",
      "folio_alloc",
      "vma_unmap",
      "folio_free",
      "ipi",
    ] as CounterName[]) {
      assert.ok(c.calibrated.includes(k), `${k} calibrated`);
      assert.ok(Math.abs(c.costs[k] - TRUTH[k]) <= 1, `${k}: ${c.costs[k]} vs ${TRUTH[k]}`);
    }
    assert.equal(c.clock.cyclesPerNs, CPN);
    assert.match(c.clock.method, /rdtsc/);
    assert.ok(c.fit.maxRelativeError < 0.01);
    // Sizes up to 2,048 pages (2.3k lines) exercise no cache tier, and there is no cold probe.
    assert.deepEqual(c.notes, [
      ...CACHE_TIERS.filter((t) => t !== "cache_beyond_32m").map(
        (t) => `${t}: no size of the sweep exercises it; default kept`,
      ),
      "cache_beyond_32m: no cold probe at two sizes; default kept",
    ]);
  });

  it("falls back to /proc/cpuinfo's MHz without a TSC, and names weights it cannot decide", () => {
    const p = syntheticProbes(TRUTH);
    p.clock = { ...p.clock, tsc_hz: 0, cpuinfo_mhz: 2500 };
    p.shootdown = { ...p.shootdown, cpus: 1 };
    const d = calibrate(p);
    assert.match(d.clock.method, /cpuinfo/);
    assert.equal(d.clock.cyclesPerNs, 2.5);
    assert.ok(!d.calibrated.includes("ipi"));
    assert.ok(d.notes.some((n) => n.startsWith("ipi:")));
  });

  it("writes a file that loads back as the same cost table", () => {
    const text = formatCostTable(
      c,
      { hostname: "test", kernel: "6.18", cpu: "x", cpus: 2 },
      "2026-01-01T00:00:00Z",
    );
    const r = loadCostTableText(text, "costs.yaml");
    assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("; "));
    assert.deepEqual(costTable(r.costs), c.costs);
    assert.match(r.sources.folio_lookup ?? "", /^fitted: least squares/);
  });

  it("records the host it was calibrated on, and tells another host or boot from the same", () => {
    const host = { hostname: "vm", kernel: "6.18.44", cpu: "AMD EPYC", cpus: 2, cpuMHz: 2596, bootId: "b1" };
    const r = loadCostTableText(formatCostTable(c, host, "2026-11-30T13:00:00Z"), "costs.yaml");
    assert.ok(r.ok);
    const t = tableHost(r.file);
    assert.deepEqual(t, { ...host, clockHz: CPN * 1e9, date: "2026-11-30T13:00:00Z" });
    const same = checkHost(t, { ...host, clockHz: CPN * 1e9 * 1.001 });
    assert.deepEqual([same.differs, same.sameBoot], [[], true]);
    const other = checkHost(t, { ...host, kernel: "6.19.1", bootId: "b2", clockHz: 3e9 });
    assert.deepEqual(other.differs, ["kernel 6.18.44 -> 6.19.1", "TSC 2500 -> 3000 MHz"]);
    assert.equal(other.sameBoot, false);
    // A table without a recorded host or boot id: nothing to compare, and no claim of sameness.
    assert.equal(checkHost(null, host).sameBoot, null);
    const { bootId: _, ...noBoot } = host;
    assert.equal(checkHost({ ...noBoot }, host).sameBoot, null);
  });

  it("the calibrated native model matches the measurements it was fitted on", () => {
    const cmp = compareNative(c.costs, { clock: probes.clock, mprotect: probes.mprotect }, []);
    assert.equal(cmp.rows.length, 2 * SWEEP.length);
    for (const r of cmp.rows)
      assert.ok(r.ratio !== null && Math.abs(r.ratio - 1) < 0.01, `${r.pages} ${r.direction}: ${r.ratio}`);
    const ops = compareOps(c.costs, probes);
    assert.deepEqual(
      ops.map((r) => r.op),
      ["munmap", "munmap", "munmap", "munmap", "fault-read", "fault-write", "fault-wp"],
    );
    // The write-protect fault is not fitted: its match checks the counts, not the fit.
    for (const r of ops)
      assert.ok(r.ratio !== null && Math.abs(r.ratio - 1) < 0.01, `${r.op} ${r.pages}: ${r.ratio}`);
    const none = compareNative(c.costs, null, [1, 64]);
    assert.deepEqual(
      none.rows.map((r) => [r.pages, r.direction, r.ratio]),
      [
        [1, "ro", null],
        [1, "rw", null],
        [64, "ro", null],
        [64, "rw", null],
      ],
    );
  });
});

describe("calibrate, with sizes past the caches", () => {
  it("recovers what a metadata line costs by reuse distance, beyond 32 MiB from the cold probe", () => {
    const truth: Record<CounterName, number> = {
      ...TRUTH,
      cache_beyond_1m: 5,
      cache_beyond_2m: 40,
      cache_beyond_4m: 30,
      cache_beyond_8m: 10,
      cache_beyond_16m: 20,
      cache_beyond_32m: 150,
    };
    const sweep: [number, number][] = [
      [1, 0],
      [4, 0x1000],
      [33, 0],
      [34, 0x1ff000],
      [700, 0x80000],
      [8192, 0],
      [16384, 0],
      [32768, 0x1000],
      [65536, 0],
      [131072, 0],
      [262144, 0],
    ];
    const c = calibrate(syntheticProbes(truth, sweep, [1024, 8192]));
    for (const k of [...SWEEP_FITTED, "cache_beyond_32m"] as CounterName[]) {
      assert.ok(c.calibrated.includes(k), `${k} calibrated`);
      assert.ok(Math.abs(c.costs[k] - truth[k]) <= 1, `${k}: ${c.costs[k]} vs ${truth[k]}`);
    }
    assert.ok(Math.abs((c.extra.coldCyclesPerLine ?? 0) - 255) < 0.5, `${c.extra.coldCyclesPerLine}`);
    assert.match(c.sources.cache_beyond_32m, /^measured: a line from memory costs 255 cycles \(cold probe/);
    assert.deepEqual(c.notes, []);
    assert.ok(c.fit.maxRelativeError < 0.01);
  });

  it("leaves the cold tier at its default when the cold probe does not grow with the lines", () => {
    const rows = [
      { extraRoNs: 50000, extraRwNs: 50000, lines: 1152 },
      { extraRoNs: 40000, extraRwNs: 40000, lines: 9216 },
    ];
    assert.equal(
      coldCyclesPerLine(rows, (x) => x),
      null,
    );
    assert.equal(
      coldCyclesPerLine(rows.slice(0, 1), (x) => x),
      null,
    );
  });
});

describe("the kernel's time for a size", () => {
  const m = {
    kind: "mprotect" as const,
    pages: 65536,
    offset: 0,
    reps: 32,
    ro_median_ns: 9e6,
    ro_min_ns: 6e6,
    rw_median_ns: 9e6,
    rw_min_ns: 7e6,
  };
  it("is the fastest call by the wall clock, or the median CPU time when every call was preempted", () => {
    assert.equal(kernelNs(m, "ro", "best"), 6e6, "no CPU times (older probes)");
    const cpu = {
      ...m,
      ro_cpu_median_ns: 4.5e6,
      ro_cpu_min_ns: 3e6,
      rw_cpu_median_ns: 8e6,
      rw_cpu_min_ns: 3e6,
    };
    assert.equal(kernelNs(cpu, "ro", "best"), 4.5e6);
    assert.equal(kernelNs(cpu, "rw", "best"), 7e6, "the wall minimum is lower");
    assert.equal(kernelNs(cpu, "rw", "median"), 8e6);
  });
});

describe("probe output", () => {
  it("parses probes.c's lines and rejects anything else with its line number", () => {
    const lines = parseProbeOutput(
      '{"kind":"munmap","pages":1,"median_ns":2000,"min_ns":1900}\n\n{"kind":"syscall","getppid_ns":1,"mprotect_len0_ns":1,"nochange_ns":2}\n' +
        '{"kind":"cold","pages":1024,"evict_bytes":134217728,"reps":21,"warm_ro_median_ns":59489.0,"warm_ro_min_ns":59328.0,"warm_rw_median_ns":68772.0,"warm_rw_min_ns":68461.0,"cold_ro_median_ns":91245.0,"cold_ro_min_ns":83624.0,"cold_rw_median_ns":99979.0,"cold_rw_min_ns":92838.0}\n' +
        '{"kind":"mprotect","pages":1,"offset":778240,"reps":2001,"rounds":4,"ro_median_ns":1002.0,"ro_min_ns":981.0,"rw_median_ns":1022.0,"rw_min_ns":991.0,"ro_cpu_median_ns":1032.0,"ro_cpu_min_ns":1011.0,"rw_cpu_median_ns":1061.0,"rw_cpu_min_ns":1031.0}\n',
    );
    assert.deepEqual(
      lines.map((l) => l.kind),
      ["munmap", "syscall", "cold", "mprotect"],
    );
    assert.throws(() => parseProbeOutput('{"kind":"munmap"}\nnot json'), /line 1 is not a probe result/);
    assert.throws(() => parseProbeOutput("oops"), /line 1 is not JSON/);
  });
});

describe("cost table files", () => {
  const bad = (text: string) => {
    const r = loadCostTableText(text, "t.yaml");
    assert.ok(!r.ok, "should be rejected");
    return r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
  };
  it("accepts a bare costs: section", () => {
    const r = loadCostTableText("costs:\n  ipi: 3000\n  folio_lookup: 100\n", "t.yaml");
    assert.ok(r.ok);
    assert.deepEqual(r.costs, { ipi: 3000, folio_lookup: 100 });
  });
  it("locates unknown keys, bad values and a wrong schema", () => {
    assert.deepEqual(bad("costs:\n  ipi: 3000\n  bogus: 1\n"), ['3:3: costs.bogus: unknown key "bogus"']);
    assert.match(bad("costs:\n  ipi: -1\n")[0], /^2:8: costs\.ipi: /);
    assert.match(
      bad("costs:\n  ipi: fast\n")[0],
      /^2:8: costs\.ipi: expected a number, got the string "fast"/,
    );
    assert.match(bad("schema: ptesim.costs/9\ncosts: {}\n")[0], /^1:9: schema: /);
    assert.deepEqual(bad("cost: {}\n").sort(), [
      '1:1: cost: unknown key "cost"',
      "1:1: costs: missing (expected a mapping (key: value))",
    ]);
  });
  it("reports YAML errors and non-mappings", () => {
    assert.match(bad("costs: [1,\n")[0], /YAML/);
    assert.match(bad("- 1\n")[0], /a cost table is a YAML mapping/);
  });
});
