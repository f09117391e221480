#!/usr/bin/env node
// Generates synthetic strace logs (`strace -f -e trace=memory,process` format) for measuring
// `ptesim replay`'s speed and memory on shapes too large to commit:
//
//   node scripts/gen-strace.mjs build --processes 200000 [--parallel 8] [--seed 1] -o build.strace
//     a build: a driver forks children that exec a compiler-like program (loader pattern: a
//     library mapped with MAP_FIXED segments and a RELRO mprotect, heap growth, anonymous
//     mappings), or (one in 8) a forked helper that does not exec; `--parallel` children live at
//     once, their lines interleaved; every child exits.
//   node scripts/gen-strace.mjs vmas --vmas 65000 [--calls 20000] [--seed 1] -o vmas.strace
//     one process grows to N VMAs of one page each (alternating permissions, so none merge),
//     then makes `--calls` calls at that size (munmap, MAP_FIXED mmap, mprotect, in turn).
//
// Every recorded outcome is what Linux 6.16+ gives for that sequence (no ASLR), so a replay
// reports no divergence. Seeded: the same arguments give the same log.
import { createWriteStream } from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    processes: { type: "string", default: "1000" },
    parallel: { type: "string", default: "1" },
    vmas: { type: "string", default: "1000" },
    calls: { type: "string", default: "20000" },
    seed: { type: "string", default: "1" },
    o: { type: "string" },
  },
});
const kind = positionals[0];
if (kind !== "build" && kind !== "vmas") {
  process.stderr.write("usage: gen-strace.mjs build|vmas [options] [-o FILE] (see the file's comment)\n");
  process.exit(2);
}

let seed = Number(values.seed) >>> 0 || 1;
function rnd() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const out = values.o === undefined ? process.stdout : createWriteStream(values.o);
let buf = [];
function emit(line) {
  buf.push(line);
  if (buf.length >= 4096) flush();
}
function flush() {
  if (buf.length > 0) out.write(`${buf.join("\n")}\n`);
  buf = [];
}
const hex = (n) => `0x${n.toString(16)}`;
const RW = "PROT_READ|PROT_WRITE";
const ANON = "MAP_PRIVATE|MAP_ANONYMOUS";
const TOP = 0x7ffff7fff000 - 0x8000000; // mmap_base of the model (TASK_SIZE - 128 MiB, rounded)

if (kind === "vmas") {
  const n = Number(values.vmas);
  const calls = Number(values.calls);
  const base = 0x7f0000000000;
  const prot = (i) => (i % 2 === 0 ? RW : "PROT_READ");
  const pid = 100;
  emit(`${pid} brk(NULL) = 0x555555559000`);
  for (let i = 0; i < n; i++) {
    const a = base - (i + 1) * 4096;
    emit(`${pid} mmap(${hex(a)}, 4096, ${prot(i)}, ${ANON}|MAP_FIXED, -1, 0) = ${hex(a)}`);
  }
  for (let c = 0; c < calls; c++) {
    const i = Math.floor(rnd() * n);
    const a = base - (i + 1) * 4096;
    switch (c % 3) {
      case 0:
        emit(`${pid} munmap(${hex(a)}, 4096) = 0`);
        emit(`${pid} mmap(${hex(a)}, 4096, ${prot(i)}, ${ANON}|MAP_FIXED, -1, 0) = ${hex(a)}`);
        c++;
        break;
      default:
        emit(`${pid} mprotect(${hex(a)}, 4096, ${prot(i)}) = 0`);
    }
  }
  emit(`${pid} +++ exited with 0 +++`);
} else {
  const total = Number(values.processes);
  const parallel = Math.max(1, Number(values.parallel));
  const driver = 1000;
  let nextPid = 2000;
  // The driver: a program with a heap and a few mappings.
  emit(`${driver} execve("/usr/bin/make", ["make"], 0x7ffd /* 20 vars */) = 0`);
  emit(`${driver} brk(NULL) = 0x555555559000`);
  emit(`${driver} mmap(NULL, 8192, ${RW}, ${ANON}, -1, 0) = ${hex(TOP - 0x2000)}`);
  emit(`${driver} brk(0x55555557a000) = 0x55555557a000`);
  /** A child's remaining lines, produced one at a time so children interleave. */
  function* child(pid, k) {
    const fork = k % 8 === 7;
    if (fork) {
      // A forked helper: works in its copy of the driver's address space, then exits.
      yield `${pid} mprotect(${hex(TOP - 0x2000)}, 4096, PROT_READ) = 0`;
      yield `${pid} mmap(NULL, 65536, ${RW}, ${ANON}, -1, 0) = ${hex(TOP - 0x12000)}`;
      yield `${pid} munmap(${hex(TOP - 0x12000)}, 65536) = 0`;
      yield `${pid} exit_group(0) = ?`;
      yield `${pid} +++ exited with 0 +++`;
      return;
    }
    yield `${pid} execve("/usr/lib/gcc/cc1", ["cc1", "f${k}.c"], 0x7ffd /* 20 vars */) = 0`;
    const heap = 0x555555559000 + Math.floor(rnd() * 1024) * 0x1000;
    yield `${pid} brk(NULL) = ${hex(heap)}`;
    let top = TOP;
    top -= 0x2000;
    const anon1 = top;
    yield `${pid} mmap(NULL, 8192, ${RW}, ${ANON}, -1, 0) = ${hex(anon1)}`;
    // A library: reserve, then the segments over it (the loader's pattern), RELRO, bss.
    top -= 0x1f8000;
    const lib = top;
    yield `${pid} mmap(NULL, 2064384, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0) = ${hex(lib)}`;
    yield `${pid} mmap(${hex(lib + 0x28000)}, 1474560, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x28000) = ${hex(lib + 0x28000)}`;
    yield `${pid} mmap(${hex(lib + 0x190000)}, 352256, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x190000) = ${hex(lib + 0x190000)}`;
    yield `${pid} mmap(${hex(lib + 0x1e6000)}, 24576, ${RW}, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x1e5000) = ${hex(lib + 0x1e6000)}`;
    yield `${pid} mmap(${hex(lib + 0x1ec000)}, 49152, ${RW}, ${ANON}|MAP_FIXED, -1, 0) = ${hex(lib + 0x1ec000)}`;
    yield `${pid} mprotect(${hex(lib + 0x1e6000)}, 16384, PROT_READ) = 0`;
    yield `${pid} munmap(${hex(anon1)}, 8192) = 0`;
    const grow = (1 + Math.floor(rnd() * 8)) * 0x21000;
    yield `${pid} brk(${hex(heap + grow)}) = ${hex(heap + grow)}`;
    const n = 1 + Math.floor(rnd() * 4);
    for (let i = 0; i < n; i++) {
      top -= 0x40000;
      const a = top;
      yield `${pid} mmap(NULL, 262144, ${RW}, ${ANON}, -1, 0) = ${hex(a)}`;
    }
    yield `${pid} mprotect(${hex(top)}, 4096, PROT_NONE) = 0`;
    yield `${pid} exit_group(0) = ?`;
    yield `${pid} +++ exited with 0 +++`;
  }
  const running = [];
  let started = 0;
  while (started < total || running.length > 0) {
    while (running.length < parallel && started < total) {
      const pid = nextPid++;
      emit(
        `${driver} clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f0000000a10) = ${pid}`,
      );
      running.push({ pid, it: child(pid, started++) });
    }
    const i = Math.floor(rnd() * running.length);
    const r = running[i].it.next();
    if (r.done) {
      emit(`${driver} wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = ${running[i].pid}`);
      running.splice(i, 1);
    } else emit(r.value);
  }
  emit(`${driver} exit_group(0) = ?`);
  emit(`${driver} +++ exited with 0 +++`);
}
flush();
if (out !== process.stdout) out.end();
