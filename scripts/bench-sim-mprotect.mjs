// The simulator half of the mprotect benchmark, run in its own process so that its peak RSS is
// the simulator's alone. Maps N pages of private anonymous memory on the native backend,
// populates them through the simulated fault path, then times R repetitions of mprotect
// (PROT_READ, then PROT_READ|PROT_WRITE) over the whole range with the user CPUs idle.
// Prints one line of JSON.
import { parseArgs } from "node:util";
import { Kernel, Machine, mman, nativeBackend } from "../dist/index.js";

const { values } = parseArgs({ options: { pages: { type: "string" }, reps: { type: "string" } } });
const pages = Number(values.pages ?? 262144);
const reps = Number(values.reps ?? 20);
if (!Number.isSafeInteger(pages) || pages <= 0 || !Number.isSafeInteger(reps) || reps <= 0) {
  console.error("bench-sim-mprotect: --pages and --reps take positive integers");
  process.exit(2);
}

const m = new Machine({ cpus: 2, maxFrames: Math.min(1 << 20, pages + 4096) });
const k = new Kernel(m, nativeBackend, { checkContract: !process.env.NOCONTRACT });
const len = pages * 4096;
const addr = k.sys_mmap(0, 0, len, mman.PROT_READ | mman.PROT_WRITE, mman.MAP_PRIVATE | mman.MAP_ANONYMOUS);
if (addr < 0) throw new Error(`mmap failed: ${addr}`);
const t0 = performance.now();
for (let a = addr; a < addr + len; a += 4096) {
  if (!m.access(1, a, 1, 1)) {
    k.handle_mm_fault(1, a, m.cpus[1].pfError);
    if (!m.access(1, a, 1, 1)) throw new Error("populate failed");
  }
}
const populateMs = performance.now() - t0;

const samples = [];
// One untimed warm-up pair so the JIT has compiled the hot loop.
k.sys_mprotect(0, addr, len, mman.PROT_READ);
k.sys_mprotect(0, addr, len, mman.PROT_READ | mman.PROT_WRITE);
for (let r = 0; r < reps; r++) {
  for (const prot of [mman.PROT_READ, mman.PROT_READ | mman.PROT_WRITE]) {
    const s = performance.now();
    const ret = k.sys_mprotect(0, addr, len, prot);
    const e = performance.now();
    if (ret !== 0 || k.lastMprotect.ptesChanged !== pages)
      throw new Error(`mprotect: ${ret}, ${k.lastMprotect.ptesChanged} PTEs`);
    samples.push(((e - s) * 1e6) / pages);
  }
}
samples.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    pages,
    reps,
    bestNsPerPte: samples[0],
    medianNsPerPte: samples[Math.floor(samples.length / 2)],
    populateMs,
    maxRssKb: process.resourceUsage().maxRSS,
    simBytes: m.mem.footprintBytes(),
  }),
);
