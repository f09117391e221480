import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ENOMEM } from "../kernel/errno.js";
import { decodeCall, parseFlags, parseNumber, parseStrace, splitArgs } from "./parse.js";

const P_RW = 3;
const MAP_PA = 0x22;

describe("strace parser: lines", () => {
  it("reads calls with and without a PID column, and the [pid N] prefix", () => {
    const log = parseStrace(
      [
        "1234  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
        "munmap(0x7f0000000000, 8192)            = 0",
        "[pid  4321] mprotect(0x7f0000001000, 4096, PROT_NONE) = 0",
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.deepEqual(
      log.records.map((r) => [r.line, r.pid, r.call.name]),
      [
        [1, 1234, "mmap"],
        [2, 0, "munmap"],
        [3, 4321, "mprotect"],
      ],
    );
    assert.deepEqual(log.records[0].call, {
      name: "mmap",
      addr: 0,
      len: 8192,
      prot: P_RW,
      flags: MAP_PA,
      fd: -1,
      path: null,
      offset: 0,
    });
    assert.deepEqual(log.records[0].result, { kind: "value", value: 0x7f0000000000 });
    assert.deepEqual(log.byName, { mmap: 1, munmap: 1, mprotect: 1 });
  });

  it("skips timestamps (-t, -tt, -ttt, -r) and durations (-T)", () => {
    const log = parseStrace(
      [
        "10 12:00:01 brk(NULL) = 0x1000000",
        "10 12:00:01.123456 brk(0x1021000) = 0x1021000 <0.000012>",
        "10 1700000000.123456 munmap(0x7f0000000000, 4096) = 0",
        "10      0.000123 munmap(0x7f0000000000, 4096) = -1 EINVAL (Invalid argument) <0.000003>",
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.equal(log.records.length, 4);
    assert.deepEqual(log.records[1].result, { kind: "value", value: 0x1021000 });
    assert.deepEqual(log.records[3].result, { kind: "error", errno: 22, name: "EINVAL" });
  });

  it("joins <unfinished ...> and <... resumed> pairs and orders calls by completion", () => {
    const log = parseStrace(
      [
        "7 mprotect(0x7f0000026000, 4096, PROT_READ|PROT_WRITE <unfinished ...>",
        "8 mmap(0x3c9068300000, 520192, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0 <unfinished ...>",
        "8 <... mmap resumed>)                    = 0x3c9068300000",
        "7 <... mprotect resumed>)           = 0",
        "9 mremap(0x7f0000000000, 4096, <unfinished ...>",
        "9 <... mremap resumed>8192, MREMAP_MAYMOVE) = 0x7f0000100000",
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.deepEqual(
      log.records.map((r) => [r.call.name, r.line, r.endLine]),
      [
        ["mmap", 2, 3],
        ["mprotect", 1, 4],
        ["mremap", 5, 6],
      ],
    );
    assert.deepEqual(log.records[2].call, {
      name: "mremap",
      addr: 0x7f0000000000,
      oldLen: 4096,
      newLen: 8192,
      flags: 1,
      newAddr: 0,
    });
  });

  it("reports calls that never complete, and resumes without a start as malformed", () => {
    const log = parseStrace(
      [
        "5 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>",
        "5 +++ killed by SIGKILL +++",
        "6 <... munmap resumed>) = 0",
        "7 munmap(0x1000, 4096) = ?",
      ].join("\n"),
    );
    assert.deepEqual(log.incomplete, [{ line: 1, pid: 5, name: "mmap" }]);
    assert.equal(log.malformed.length, 1);
    assert.equal(log.malformed[0].line, 3);
    assert.match(log.malformed[0].reason, /without a matching <unfinished/);
    assert.deepEqual(log.records[0].result, { kind: "none" });
    assert.deepEqual(log.events, [{ line: 2, pid: 5, kind: "exit", text: "+++ killed by SIGKILL +++" }]);
  });

  it("reads signals and exits, and ignores strace's own notices", () => {
    const log = parseStrace(
      [
        "strace: Process 99 attached",
        "99 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=100, si_uid=0, si_status=0} ---",
        "99 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---",
        "100 +++ exited with 0 +++",
        "",
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.deepEqual(
      log.events.map((e) => [e.line, e.pid, e.kind]),
      [
        [2, 99, "signal"],
        [3, 99, "signal"],
        [4, 100, "exit"],
      ],
    );
  });

  it("reports malformed lines with their line numbers and goes on", () => {
    const log = parseStrace(
      [
        "1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000",
        "this is not strace output",
        "1 mmap(NULL, 4096, PROT_READ, MAP_BOGUS, -1, 0) = 0x20000",
        "1 mprotect(0x10000, 4096) = 0",
        "1 munmap(0x10000, 4096",
        "1 munmap(0x10000, 4096) = banana",
        "1 --- SIGSEGV {si_signo=SIGSEGV",
        "1 munmap(0x10000, 4096) = 0",
      ].join("\n"),
    );
    assert.deepEqual(
      log.malformed.map((m) => m.line),
      [2, 3, 4, 5, 6, 7],
    );
    assert.match(log.malformed[1].reason, /cannot read flags "MAP_BOGUS"/);
    assert.match(log.malformed[2].reason, /2 arguments, expected 3/);
    assert.deepEqual(
      log.records.map((r) => r.line),
      [1, 8],
    );
  });

  it("counts calls it does not replay and decodes -y paths", () => {
    const log = parseStrace(
      [
        "1 madvise(0x7f0000000000, 8192, MADV_DONTNEED) = 0",
        "1 madvise(0x7f0000000000, 8192, MADV_DONTNEED) = 0",
        "1 mlock(0x7f0000000000, 4096) = -1 EPERM (Operation not permitted)",
        "1 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</tmp/a b,c) d>, 0x1000) = 0x7f0000000000",
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.deepEqual(log.unknown, { madvise: 2, mlock: 1 });
    const c = log.records[3].call;
    assert.ok(c.name === "mmap");
    assert.equal(c.fd, 3);
    assert.equal(c.path, "/tmp/a b,c) d");
    assert.equal(c.offset, 0x1000);
  });

  it("decodes process calls: CLONE_VM decides whether the child shares the address space", () => {
    const log = parseStrace(
      [
        "1 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 2",
        "1 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0, stack=0x7f, stack_size=0x7ff}, 88) = 3",
        "1 vfork() = 4",
        '2 execve("/bin/true", ["true"], 0x7ffd /* 20 vars */) = 0',
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.deepEqual(
      log.records.map((r) => r.call),
      [
        { name: "clone", syscall: "clone", cloneVm: false },
        { name: "clone", syscall: "clone3", cloneVm: true },
        { name: "clone", syscall: "vfork", cloneVm: true },
        { name: "execve", syscall: "execve" },
      ],
    );
  });

  it("keeps an errno it does not know by name", () => {
    const log = parseStrace("1 munmap(0x1000, 4096) = -1 EWEIRD (Something)");
    assert.deepEqual(log.records[0].result, { kind: "error", errno: 0, name: "EWEIRD" });
    const l2 = parseStrace(
      "1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)",
    );
    assert.deepEqual(l2.records[0].result, { kind: "error", errno: ENOMEM, name: "ENOMEM" });
  });
});

describe("strace parser: values", () => {
  it("numbers: NULL, hex, decimal, -1 as unsigned long", () => {
    assert.equal(parseNumber("NULL"), 0);
    assert.equal(parseNumber("0x7fae802f9000"), 0x7fae802f9000);
    assert.equal(parseNumber("34547"), 34547);
    assert.equal(parseNumber("-1"), 2 ** 64);
    assert.equal(parseNumber("MAP_PRIVATE"), undefined);
  });

  it("flags: names, numbers, hugetlb sizes and comments", () => {
    const MAP = { MAP_PRIVATE: 2, MAP_ANONYMOUS: 0x20, MAP_HUGETLB: 0x40000 };
    assert.equal(parseFlags("MAP_PRIVATE|MAP_ANONYMOUS", MAP), 0x22);
    assert.equal(parseFlags("MAP_PRIVATE|0x40000000", MAP), 0x40000002);
    assert.equal(parseFlags("0x100 /* PROT_??? */", {}), 0x100);
    assert.equal(parseFlags("", MAP), undefined);
    const c = decodeCall(
      "mmap",
      "NULL, 2097152, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB, -1, 0",
    );
    assert.ok(typeof c !== "string" && c.name === "mmap");
    assert.equal(c.flags, 0x22 | 0x40000 | (21 << 26));
  });

  it("splits arguments at top-level commas only", () => {
    assert.deepEqual(splitArgs('"a,b", {x=1, y=[2, 3]}, f(1, 2), 4'), [
      '"a,b"',
      "{x=1, y=[2, 3]}",
      "f(1, 2)",
      "4",
    ]);
    assert.deepEqual(splitArgs('"q\\"uote,", 1'), ['"q\\"uote,"', "1"]);
    assert.deepEqual(splitArgs(""), []);
  });

  it("mremap with MREMAP_FIXED has a fifth argument", () => {
    const c = decodeCall("mremap", "0x7f0000000000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f0000100000");
    assert.deepEqual(c, {
      name: "mremap",
      addr: 0x7f0000000000,
      oldLen: 4096,
      newLen: 4096,
      flags: 3,
      newAddr: 0x7f0000100000,
    });
  });
});

describe("strace parser: decorations", () => {
  it("-X raw numbers and errnos, -yy socket and device details, -r padding, (deleted) files", () => {
    const log = parseStrace(
      [
        "7 mmap(NULL, 4096, 0x3, 0x22, -1, 0) = -1 (errno 12)",
        "     0.000123 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</dev/zero<char 1:5>>, 0) = 0x7f0000000000",
        "7 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 4<TCP:[127.0.0.1:22->127.0.0.1:5000]>, 0) = -1 ENODEV (No such device)",
        "7 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 5</memfd:a, b>(deleted), 0) = 0x7f0000001000",
        '7 openat(AT_FDCWD</tmp>, "x", O_RDONLY|O_CLOEXEC) = 6</tmp/x>',
      ].join("\n"),
    );
    assert.deepEqual(log.malformed, []);
    assert.deepEqual(log.records[0].result, { kind: "error", errno: ENOMEM, name: "ENOMEM" });
    const paths = log.records.slice(1, 4).map((r) => (r.call.name === "mmap" ? r.call.path : null));
    assert.deepEqual(paths, ["/dev/zero", "TCP:[127.0.0.1:22->127.0.0.1:5000]", "/memfd:a, b (deleted)"]);
    assert.deepEqual(log.records[4].call, {
      name: "open",
      syscall: "openat",
      path: "x",
      readable: true,
      writable: false,
      cloexec: true,
    });
    assert.deepEqual(log.records[4].result, { kind: "value", value: 6 });
  });
});
