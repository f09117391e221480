// Workload for recordings/node.strace: a JIT-heavy script (200 generated functions called hot
// enough for V8's baseline and optimising compilers, a recursive fib, 50 typed arrays that grow
// the V8 heap), then a snapshot of /proc/self/maps into the file named by process.argv[2]. The
// snapshot is read into a buffer allocated beforehand, between two marker allocations (each a
// WebAssembly.Memory: V8 reserves ~10 GiB PROT_NONE and opens 64 KiB with mprotect): when no
// other memory call is recorded between the two markers, the snapshot is exactly the state after
// the first marker's mprotect line.
"use strict";
const fs = require("node:fs");

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
const fns = [];
for (let i = 0; i < 200; i++) fns.push(new Function("x", `return x * ${i} + ${i % 7};`));
let s = 0;
for (let k = 0; k < 2000; k++) for (const f of fns) s += f(k);
const arrs = [];
for (let i = 0; i < 50; i++) arrs.push(new Float64Array(20000).fill(i));
const result = `${fib(27)} ${s} ${arrs.length}`;

const buf = Buffer.allocUnsafeSlow(1 << 20);
const fd = fs.openSync("/proc/self/maps", "r");
const marker1 = new WebAssembly.Memory({ initial: 1, maximum: 1 });
let n = 0;
for (;;) {
  const k = fs.readSync(fd, buf, n, buf.length - n, null);
  if (k === 0) break;
  n += k;
}
const marker2 = new WebAssembly.Memory({ initial: 1, maximum: 1 });
fs.closeSync(fd);
fs.writeFileSync(process.argv[2], buf.subarray(0, n));
console.log(result, marker1.buffer.byteLength + marker2.buffer.byteLength);
