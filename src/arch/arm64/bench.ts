// `ptesim bench costs --arch arm64`: what one mprotect(PROT_READ) of populated private memory
// costs per PTE on each arm64 backend, from the events the simulated arm64 machine and the
// generic kernel count in the machine's ledger (PTE steps, walks, hardware updates, faults, TLBI
// and DSB) weighted by ARM64_COSTS (every weight an assumption, see costs.ts) or overrides.
// Deterministic: the user CPU only populates, so counts depend on the inputs alone. Pure.
import { Kernel } from "../../kernel/kernel.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/mman.js";
import type { BackendModule } from "../../kernel/pvops.js";
import { Machine } from "../../machine/machine.js";
import { ACCESS_WRITE } from "../types.js";
import { ARM64_EVENTS, type Arm64Event, arm64Cycles } from "./costs.js";

export interface Arm64CostsOptions {
  pages: readonly number[];
  backends: readonly BackendModule[];
  /** FEAT_HAFDBS (default both). */
  ha?: boolean;
  hd?: boolean;
  /** Cortex-A715 erratum 2645198 (default false: the mapping is not executable anyway). */
  erratum2645198?: boolean;
  /** kernel.maxBatch (batched backends use folio runs up to this many entries). */
  maxBatch?: number;
  /** Cycle weights overriding ARM64_COSTS, by counter name (as a scenario's `costs:`). */
  costs?: Partial<Record<string, number>>;
  onProgress?: (what: string) => void;
}

export interface Arm64CostsRow {
  backend: string;
  pages: number;
  ptes: number;
  counts: Partial<Record<Arm64Event, number>>;
  cycles: number;
  cyclesPerPte: number;
}

function measure(b: BackendModule, pages: number, o: Arm64CostsOptions): Arm64CostsRow {
  const m = new Machine({
    cpus: 2,
    maxFrames: Math.min(1 << 20, pages + Math.ceil(pages / 512) + 2048),
    arm64: { ha: o.ha ?? true, hd: o.hd ?? true, erratum2645198: o.erratum2645198 ?? false },
  });
  const k = new Kernel(m, b, { maxBatch: o.maxBatch ?? 1 });
  const len = pages * 4096;
  const addr = k.sys_mmap(0, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (addr < 0) throw new Error(`bench: mmap failed (${addr})`);
  for (let a = addr; a < addr + len; a += 4096)
    if (!m.access(1, a, ACCESS_WRITE, 1)) {
      k.handle_mm_fault(1, a, m.cpus[1].pfError);
      if (!m.access(1, a, ACCESS_WRITE, 1)) throw new Error("bench: populate failed");
    }
  m.ledger.reset();
  const r = k.sys_mprotect(0, addr, len, PROT_READ);
  if (r !== 0) throw new Error(`bench: mprotect failed (${r})`);
  const totals = m.ledger.totals();
  const counts: Partial<Record<Arm64Event, number>> = {};
  for (const e of ARM64_EVENTS) if ((totals[e] ?? 0) > 0) counts[e] = totals[e];
  const cycles = arm64Cycles(counts, o.costs);
  return {
    backend: b.name,
    pages,
    ptes: k.lastMprotect.ptesChanged,
    counts,
    cycles,
    cyclesPerPte: cycles / pages,
  };
}

/** Every backend at every size. */
export function benchArm64Costs(o: Arm64CostsOptions): Arm64CostsRow[] {
  for (const n of o.pages)
    if (!Number.isInteger(n) || n < 1 || n > 262144)
      throw new RangeError(`pages must be in 1..262144, got ${n}`);
  const rows: Arm64CostsRow[] = [];
  for (const b of o.backends)
    for (const n of o.pages) {
      rows.push(measure(b, n, o));
      o.onProgress?.(`${b.name} ${n} pages`);
    }
  return rows;
}

/** The rows as text: cycles per PTE by size and backend, then the events of the largest size. */
export function formatArm64Costs(
  rows: readonly Arm64CostsRow[],
  weights = "ARM64_COSTS, all assumptions",
): string[] {
  const backends = [...new Set(rows.map((r) => r.backend))];
  const pages = [...new Set(rows.map((r) => r.pages))];
  const w = Math.max(...backends.map((b) => b.length)) + 2;
  const out = [
    `mprotect(PROT_READ) of populated private memory on arm64 (HA+HD), cycles per PTE (weights: ${weights})`,
    `${"pages".padEnd(8)}${backends.map((b) => b.padStart(w)).join("")}`,
  ];
  for (const n of pages)
    out.push(
      `${String(n).padEnd(8)}${backends
        .map((b) => {
          const r = rows.find((x) => x.backend === b && x.pages === n);
          return (r === undefined ? "-" : r.cyclesPerPte.toFixed(1)).padStart(w);
        })
        .join("")}`,
    );
  const top = Math.max(...pages);
  out.push(`events at ${top} pages:`);
  for (const b of backends) {
    const r = rows.find((x) => x.backend === b && x.pages === top)!;
    out.push(
      `  ${b.padEnd(w)} ${Object.entries(r.counts)
        .map(([e, n]) => `${e} ${n}`)
        .join(", ")}`,
    );
  }
  return out;
}
