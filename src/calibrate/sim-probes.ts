// The simulated counterparts of calibrate's C probes (probes.c): the same operations on the same
// layout, run through ptesim's kernel and machine, returning the events the model counts. The fit
// sets these counts beside the real kernel's times. Pure (no node: imports).
import { nativeBackend } from "../backends/native.js";
import { Kernel } from "../kernel/kernel.js";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../kernel/mman.js";
import type { BackendModule } from "../kernel/pvops.js";
import type { CounterName } from "../machine/ledger.js";
import { ACCESS_READ, ACCESS_WRITE, Machine } from "../machine/machine.js";

export type Counts = Partial<Record<CounterName, number>>;

/** 4 GiB: 2 MiB aligned; a mapping's offset inside its page table is added to it. */
const BASE = 0x100000000;
const PAGE = 4096;
const PMD = 0x200000;

export interface SimSetup {
  machine: Machine;
  kernel: Kernel;
  addr: number;
}

/** A machine and kernel with `pages` private anonymous RW pages mapped at BASE + offset. */
export function mapRegion(
  backend: BackendModule,
  pages: number,
  opts: { cpus?: number; offset?: number; backendOptions?: Record<string, unknown> } = {},
): SimSetup {
  const cpus = opts.cpus ?? 1;
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset >= PMD || offset % PAGE !== 0)
    throw new RangeError(`offset must be a page-aligned byte offset below 2 MiB, got ${offset}`);
  const maxFrames = Math.min(1 << 20, pages + Math.ceil(pages / 512) + 2048);
  const m = new Machine({ cpus, maxFrames });
  const k = new Kernel(m, backend, { backendOptions: opts.backendOptions ?? {} });
  const addr = BASE + offset;
  const a = k.sys_mmap(
    0,
    addr,
    pages * PAGE,
    PROT_READ | PROT_WRITE,
    MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
  );
  if (a !== addr) throw new Error(`sim-probes: mmap of ${pages} pages failed (${a})`);
  return { machine: m, kernel: k, addr };
}

/** One user access by `cpu`, taking the faults it needs (as a user program would). */
export function touch(s: SimSetup, cpu: number, addr: number, kind: number, value: number): void {
  if (!s.kernel.faultin(cpu, addr, kind, value))
    throw new Error(`sim-probes: access at 0x${addr.toString(16)} faulted (SIGSEGV)`);
}

/** Write every page once from `cpu` (populate). */
export function populate(s: SimSetup, pages: number, cpu: number): void {
  for (let i = 0; i < pages; i++) touch(s, cpu, s.addr + i * PAGE, ACCESS_WRITE, i + 1);
}

/** Events of one syscall-sized action, counted alone. */
function counted(s: SimSetup, action: () => number, what: string): Counts {
  s.machine.ledger.reset();
  const r = action();
  if (r !== 0) throw new Error(`sim-probes: ${what} failed (${r})`);
  return s.machine.ledger.totals();
}

/**
 * One mprotect(PROT_READ) and one back to PROT_READ|PROT_WRITE, untimed, as probes.c does before
 * timing: the repeated calls it times find the lines the previous call touched (their reuse
 * distance is one call's footprint), not lines the page faults left behind.
 */
export function warmUp(s: SimSetup, pages: number): void {
  const len = pages * PAGE;
  if (s.kernel.sys_mprotect(0, s.addr, len, PROT_READ) !== 0) throw new Error("sim-probes: warm-up failed");
  if (s.kernel.sys_mprotect(0, s.addr, len, PROT_READ | PROT_WRITE) !== 0)
    throw new Error("sim-probes: warm-up failed");
}

/**
 * probes.c's mprotect probe: `pages` populated pages at `offset` in their page table, a warm-up
 * pair, then mprotect(PROT_READ) and mprotect(PROT_READ|PROT_WRITE); the events of each. With
 * `cold`, every line leaves the model's cache before each of the two (probes.c's cold probe
 * reads more memory than the caches hold before each timed call).
 */
export function mprotectPairCounts(
  pages: number,
  offset = 0,
  backend: BackendModule = nativeBackend,
  cold = false,
): { ro: Counts; rw: Counts } {
  const s = mapRegion(backend, pages, { offset });
  populate(s, pages, 0);
  warmUp(s, pages);
  const len = pages * PAGE;
  if (cold) s.machine.lines.evictAll();
  const ro = counted(s, () => s.kernel.sys_mprotect(0, s.addr, len, PROT_READ), "mprotect(PROT_READ)");
  if (cold) s.machine.lines.evictAll();
  const rw = counted(
    s,
    () => s.kernel.sys_mprotect(0, s.addr, len, PROT_READ | PROT_WRITE),
    "mprotect(PROT_READ|PROT_WRITE)",
  );
  return { ro, rw };
}

/** probes.c's munmap probe: `pages` populated pages unmapped at once; the munmap's events. */
export function munmapCounts(pages: number, offset = 0): Counts {
  const s = mapRegion(nativeBackend, pages, { offset });
  populate(s, pages, 0);
  return counted(s, () => s.kernel.sys_munmap(0, s.addr, pages * PAGE), "munmap");
}

/** probes.c's "nochange": mprotect of one populated page to the protection it already has. */
export function nochangeCounts(): Counts {
  const s = mapRegion(nativeBackend, 1);
  populate(s, 1, 0);
  return counted(s, () => s.kernel.sys_mprotect(0, s.addr, PAGE, PROT_READ | PROT_WRITE), "mprotect");
}

/** Events per page of probes.c's fault probe: first write, first read, write after a read. */
export function faultCounts(pages = 64): { write: Counts; read: Counts; wp: Counts } {
  const per = (c: Counts): Counts =>
    Object.fromEntries(Object.entries(c).map(([k, v]) => [k, (v as number) / pages])) as Counts;
  const a = mapRegion(nativeBackend, pages);
  a.machine.ledger.reset();
  populate(a, pages, 0);
  const write = per(a.machine.ledger.totals());
  const b = mapRegion(nativeBackend, pages);
  b.machine.ledger.reset();
  for (let i = 0; i < pages; i++) touch(b, 0, b.addr + i * PAGE, ACCESS_READ, 0);
  const read = per(b.machine.ledger.totals());
  b.machine.ledger.reset();
  populate(b, pages, 0);
  const wp = per(b.machine.ledger.totals());
  return { write, read, wp };
}

/**
 * probes.c's shootdown probe: the events a second CPU adds to mprotect(PROT_READ) of one page
 * when it is running the mm with the page in its TLB (its counts minus the one-CPU counts).
 */
export function shootdownExtraCounts(): Counts {
  const alone = mapRegion(nativeBackend, 1, { cpus: 1 });
  populate(alone, 1, 0);
  const a = counted(alone, () => alone.kernel.sys_mprotect(0, alone.addr, PAGE, PROT_READ), "mprotect");
  const two = mapRegion(nativeBackend, 1, { cpus: 2 });
  populate(two, 1, 0);
  touch(two, 1, two.addr, ACCESS_READ, 0);
  const b = counted(two, () => two.kernel.sys_mprotect(0, two.addr, PAGE, PROT_READ), "mprotect");
  const out: Counts = {};
  for (const k of Object.keys(b) as CounterName[]) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}
