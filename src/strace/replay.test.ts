import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { allBackends } from "../backends/registry.js";
import { PtesimError } from "../cli/errors.js";
import { replayCommand, replayExitCode } from "../cli/replay-command.js";
import { printReplay } from "../cli/report-replay.js";
import { parseStrace } from "./parse.js";
import { replay } from "./replay.js";
import { mapsOf, run } from "./test-support.js";

const REC = fileURLToPath(new URL("../../recordings/", import.meta.url));

/** Index (1-based) of the first line matching re. */
function lineOf(text: string, re: RegExp): number {
  const i = text.split("\n").findIndex((l) => re.test(l));
  assert.ok(i >= 0, `no line matches ${re}`);
  return i + 1;
}

describe("replay of the committed recordings", () => {
  for (const name of ["python", "node", "cc"]) {
    it(`${name}.strace: every call's outcome matches on every correct backend, final maps agree`, () => {
      const text = readFileSync(`${REC}${name}.strace`, "utf8");
      const log = parseStrace(text);
      assert.deepEqual(log.malformed, [], "every line reads");
      const r = replay(log, { backends: allBackends() });
      for (const b of r.backends) {
        if (!b.correct) continue; // broken teaching backends may stop on a contract violation
        assert.equal(b.aborted, null, `${b.backend} finished`);
        assert.deepEqual(b.divergences, [], `${b.backend}: no divergence`);
        assert.equal(Object.values(b.syscalls).reduce((x, y) => x + y, 0) > 100, true);
        for (const s of b.spaces)
          assert.deepEqual(s.mapCheck, [], `${b.backend} space ${s.id}: maps as implied`);
      }
      const native = r.backends.find((b) => b.backend === "native")!;
      assert.ok(native.pagesTouched > 1000 && native.faults > 0 && native.cycles > 0);
    });
  }

  it("cc.strace: five programs (driver, cc1, as, collect2, ld), each a fresh address space", () => {
    const r = run(readFileSync(`${REC}cc.strace`, "utf8"));
    assert.deepEqual(
      r.backends[0].spaces.map((s) => s.origin),
      ["first", "exec", "exec", "exec", "exec"],
    );
    for (const s of r.backends[0].spaces) assert.ok(s.startBrk !== null && s.implied.length > 0);
  });

  it("node.strace: the worker threads share the main thread's address space; madvise is skipped", () => {
    const r = run(readFileSync(`${REC}node.strace`, "utf8"));
    assert.equal(r.spaceCount, 1);
    assert.ok(r.backends[0].spaces[0].pids.length > 2);
    assert.ok((r.unknown.madvise ?? 0) > 0);
    assert.ok(r.backends[0].ptesMprotect > 0);
  });

  it("python.strace: mremap grows in place and moves exactly as Linux did", () => {
    const r = run(readFileSync(`${REC}python.strace`, "utf8"));
    assert.ok((r.backends[0].syscalls.mremap ?? 0) >= 10);
    assert.ok(r.backends[0].ptesMoved > 0);
    assert.deepEqual(r.backends[0].divergences, []);
  });

  // The workloads snapshot /proc/self/maps between two marker calls; the model's VMAs at that
  // point must be exactly Linux's (start, end, permissions): splits and merges included.
  for (const [name, marker, second, markerLines] of [
    [
      "python",
      / mmap\(NULL, 45056, PROT_READ\|PROT_WRITE, MAP_SHARED\|MAP_ANONYMOUS/,
      / mmap\(NULL, 53248, /,
      1,
    ],
    ["node", / mmap\(NULL, 10737479680, PROT_NONE/, / mmap\(NULL, 10737479680, PROT_NONE/, 4],
  ] as const) {
    it(`${name}: the VMA list at the snapshot is Linux's own /proc/self/maps`, () => {
      const text = readFileSync(`${REC}${name}.strace`, "utf8");
      const first = lineOf(text, marker);
      const lines = text.split("\n");
      // The second marker follows at once: no other memory call ran while the maps were read.
      assert.match(lines[first - 1 + markerLines], second, "the two markers are adjacent");
      const until = first + markerLines - 1;
      const r = run(text, { untilLine: until });
      assert.deepEqual(r.backends[0].divergences, []);
      const model = mapsOf(r.backends[0].spaces[0].maps);
      const linux = mapsOf(readFileSync(`${REC}${name}.maps`, "utf8"));
      for (const v of model) {
        const same = linux.find((x) => x.start === v.start && x.end === v.end && x.perms === v.perms);
        assert.ok(same, `model VMA ${v.line} is not in /proc/self/maps`);
      }
      // What the model lacks is what was mapped before the recording began.
      const missing = linux.filter((x) => !model.some((v) => v.start < x.end && v.end > x.start));
      for (const x of missing)
        assert.match(
          x.line,
          /\[(vvar|vvar_vclock|vdso|stack|vsyscall)\]|ld-linux|\/usr\/bin\/|^\S+ rw-p 00000000 00:00 0\s*$/,
        );
      assert.ok(model.length > 30);
    });
  }
});

describe("replay: outcomes and divergences", () => {
  const BASE = [
    "1 brk(NULL) = 0x5000000",
    "1 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
    "1 mprotect(0x7f0000000000, 4096, PROT_READ) = 0",
    "1 brk(0x5021000) = 0x5021000",
    "1 munmap(0x7f0000000000, 8192) = 0",
  ];

  it("a consistent log replays without divergence", () => {
    const r = run(BASE.join("\n"));
    const b = r.backends[0];
    assert.deepEqual(b.divergences, []);
    assert.deepEqual(b.syscalls, { brk: 2, mmap: 1, mprotect: 1, munmap: 1 });
    assert.equal(b.ptesMprotect, 1, "the touched page changed protection");
    assert.match(b.spaces[0].maps, /05000000-05021000 rw-p 00000000 00:00 0 \[heap\]/);
    assert.deepEqual(b.spaces[0].mapCheck, []);
  });

  it("a recorded outcome the model does not reproduce is a divergence with its line number", () => {
    // (A brk(NULL) answering another break would be taken for a new program: see spaces.ts.)
    const text = [
      ...BASE,
      "1 mprotect(0x7f0000000000, 4096, PROT_READ) = 0",
      "1 brk(0x5030000) = 0x5021000",
    ].join("\n");
    const b = run(text).backends[0];
    assert.deepEqual(
      b.divergences.map((d) => [d.line, d.expected, d.got]),
      [
        [6, "0", "-ENOMEM"],
        [7, "0x5021000", "0x5030000"],
      ],
    );
  });

  it("a call Linux refused but the model performs is undone to keep following the recording", () => {
    const text = [
      "1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)",
      "1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
    ].join("\n");
    const b = run(text).backends[0];
    assert.equal(b.divergences.length, 1);
    assert.equal(b.divergences[0].line, 1);
    assert.match(b.divergences[0].note ?? "", /unmapped again/);
    assert.equal(mapsOf(b.spaces[0].maps).length, 1);
  });

  it("placement: Linux's address is used, and a clash with the model's mappings is reported", () => {
    const text = [
      "1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
      "1 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000",
    ].join("\n");
    const b = run(text).backends[0];
    assert.equal(b.divergences.length, 1);
    assert.equal(b.divergences[0].line, 2);
    assert.match(b.divergences[0].note ?? "", /still maps 0x7f0000000000-0x7f0000002000/);
    assert.deepEqual(
      mapsOf(b.spaces[0].maps).map((v) => v.perms),
      ["r--p", "rw-p"],
      "replaced to follow the recording",
    );
  });

  it("mremap: a move without MREMAP_FIXED goes where Linux put it; growing in place is checked", () => {
    const text = [
      "1 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
      "1 mmap(0x7f0000002000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0) = 0x7f0000002000",
      "1 mremap(0x7f0000000000, 8192, 16384, MREMAP_MAYMOVE) = 0x7f0000100000",
      "1 mremap(0x7f0000100000, 16384, 32768, MREMAP_MAYMOVE) = 0x7f0000200000",
    ].join("\n");
    const b = run(text).backends[0];
    assert.equal(b.ptesMoved, 2, "the two touched pages moved");
    assert.deepEqual(
      b.divergences.map((d) => [d.line, d.expected, d.got]),
      [[4, "0x7f0000200000", "0x7f0000100000"]],
      "the model grows in place where the log says Linux moved",
    );
  });

  it("memory mapped before the recording is implied where the recording needs it, never in known holes", () => {
    const text = [
      "1 mprotect(0x400000, 8192, PROT_READ) = 0",
      "1 munmap(0x500000, 4096) = 0",
      "1 mprotect(0x500000, 4096, PROT_READ) = 0",
    ].join("\n");
    const b = run(text).backends[0];
    assert.deepEqual(b.spaces[0].implied, [
      { start: 0x400000, end: 0x402000, line: 1, kind: "pre-existing" },
    ]);
    assert.deepEqual(
      b.divergences.map((d) => [d.line, d.got]),
      [[3, "-ENOMEM"]],
    );
    assert.match(b.spaces[0].maps, /00400000-00402000 r--p 00000000 00:00 0 \(pre-existing\)/);
  });

  it("unknown calls, signals, exits and malformed lines are counted; the replay goes on", () => {
    const text = [
      "1 madvise(0x7f0000000000, 4096, MADV_DONTNEED) = 0",
      "1 garbage",
      "1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
      "1 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_ACCERR, si_addr=0x7f0000000000} ---",
      "1 +++ killed by SIGSEGV (core dumped) +++",
    ].join("\n");
    const r = run(text);
    assert.deepEqual(r.unknown, { madvise: 1 });
    assert.deepEqual(
      r.malformed.map((m) => m.line),
      [2],
    );
    assert.equal(r.signals, 1);
    assert.equal(r.exits, 1);
    assert.deepEqual(r.backends[0].syscalls, { mmap: 1 });
  });
});

describe("replay: address spaces", () => {
  it("threads share one space; a new program starts with brk(NULL), also in a known thread when the break differs", () => {
    const text = [
      "10 brk(NULL) = 0x1000000",
      "10 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
      "11 munmap(0x7f0000000000, 4096) = 0",
      "12 brk(NULL) = 0x2000000",
      "12 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
      "10 brk(NULL) = 0x3000000",
    ].join("\n");
    const r = run(text);
    assert.deepEqual(
      r.backends[0].spaces.map((s) => [s.origin, s.pids]),
      [
        ["first", [10, 11]],
        ["exec", [12]],
        ["exec", [10]],
      ],
    );
    assert.match(r.notes[0], /thread 11 .* taken to share the address space of thread 10/);
    assert.deepEqual(r.backends[0].divergences, [], "the mmap of tid 12 did not clash: another space");
  });

  it("with process calls recorded: fork copies, CLONE_VM shares, execve starts afresh", () => {
    const text = [
      "1 brk(NULL) = 0x1000000",
      "1 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
      "1 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 2",
      "2 mprotect(0x7f0000000000, 4096, PROT_READ) = 0",
      "1 clone3({flags=CLONE_VM|CLONE_THREAD, stack=0x7f}, 88) = 3",
      "3 mprotect(0x7f0000001000, 4096, PROT_NONE) = 0",
      '2 execve("/bin/true", ["true"], 0x7ffd /* 1 var */) = 0',
      "2 brk(NULL) = 0x5000000",
    ].join("\n");
    const r = run(text);
    assert.deepEqual(
      r.backends[0].spaces.map((s) => [s.origin, s.pids, s.parent]),
      [
        ["first", [1, 3], null],
        ["fork", [2], 0],
        ["exec", [2], null],
      ],
    );
    const b = r.backends[0];
    assert.deepEqual(b.divergences, []);
    assert.deepEqual(
      mapsOf(b.spaces[0].maps).map((v) => v.perms),
      ["rw-p", "---p"],
      "the parent's space: only the thread's mprotect",
    );
    assert.deepEqual(
      mapsOf(b.spaces[1].maps).map((v) => v.perms),
      ["r--p", "rw-p"],
      "the child's copy: only the child's mprotect",
    );
  });
});

describe("replay: populate policies", () => {
  const text = [
    "1 mmap(NULL, 16384, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
    "1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000010000",
    "1 mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000020000",
    "1 mprotect(0x7f0000020000, 4096, PROT_READ|PROT_WRITE) = 0",
    "1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE, -1, 0) = 0x7f0000030000",
  ].join("\n");

  it("touch / read / write / none decide which pages are accessed; MAP_POPULATE always populates", () => {
    const got = (["touch", "read", "write", "none"] as const).map((p) => {
      const b = run(text, { populate: p }).backends[0];
      return [p, b.pagesTouched, b.populated, b.ptesMprotect];
    });
    assert.deepEqual(got, [
      ["touch", 7, 2, 0],
      ["read", 7, 2, 0],
      ["write", 5, 2, 0],
      ["none", 0, 2, 0],
    ]);
  });

  it("maxTouchPages caps the accesses per call", () => {
    const b = run(text, { maxTouchPages: 2 }).backends[0];
    assert.equal(b.pagesTouched, 5);
    assert.equal(b.pagesSkipped, 2);
  });
});

describe("ptesim replay command", () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) } };
  };

  it("prints the per-backend table, the address spaces and, with maps, the VMA lists", async () => {
    const o = await replayCommand({ file: `${REC}python.strace`, backend: "native", maps: true });
    assert.equal(replayExitCode(o), 0);
    const { out, io: w } = io();
    printReplay(o, w, false);
    const text = out.join("\n");
    assert.match(
      text,
      /backend\s+calls\s+mprotect PTEs\s+moved PTEs\s+touched\s+faults\s+TLB flushes\s+cycles\s+divergences/,
    );
    assert.match(text, /^native\s+\d+/m);
    assert.match(text, /final VMA list agrees with the recording/);
    assert.match(text, /\[heap\]/);
  });

  it("--json gives a schema-tagged document", async () => {
    const o = await replayCommand({ file: `${REC}cc.strace`, backend: "native" });
    const { out, io: w } = io();
    printReplay(o, w, true);
    const j = JSON.parse(out.join("\n"));
    assert.equal(j.schema, "ptesim.replay/2");
    assert.equal(j.verdict, "match");
    assert.equal(j.backends.length, 1);
    assert.equal(j.backends[0].spaces.length, 5);
  });

  it("usage and I/O errors are PtesimErrors (exit 2)", async () => {
    await assert.rejects(replayCommand({ file: `${REC}nope.strace` }), (e: unknown) => {
      assert.ok(e instanceof PtesimError && e.code === "io" && e.exitCode === 2);
      return true;
    });
    await assert.rejects(replayCommand({ file: `${REC}cc.strace`, populate: "lots" }), (e: unknown) => {
      assert.ok(e instanceof PtesimError && e.code === "usage");
      return true;
    });
    await assert.rejects(replayCommand({ file: `${REC}cc.strace`, backend: "nosuch" }), PtesimError);
  });
});
