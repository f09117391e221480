import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EACCES, EBADF, EEXIST, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, EPERM } from "./errno.js";
import {
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_NONE,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  TASK_SIZE,
} from "./mman.js";
import {
  AddressSpace,
  VM_ACCOUNT,
  VM_DONTEXPAND,
  VM_GROWSDOWN,
  VM_LOCKED,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_WRITE,
  type Vma,
  vmPerms,
} from "./vma.js";

const P = PAGE_SIZE;
const BASE = 0x10000000; // mmap_base of the test spaces
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const SHANON = MAP_SHARED | MAP_ANONYMOUS;
const RW = PROT_READ | PROT_WRITE;

function space(opts: ConstructorParameters<typeof AddressSpace>[0] = {}): AddressSpace {
  return new AddressSpace({ mmapBase: BASE, mmapMinAddr: 0x10000, ...opts });
}

/** mmap that must succeed; returns the address. */
function map(as: AddressSpace, addr: number, pages: number, prot: number, flags: number): number {
  const r = as.mmap(addr, pages * P, prot, flags);
  assert.ok(r.ok, `mmap(${addr.toString(16)}, ${pages} pages) failed: ${r.ok ? "" : r.errno}`);
  return r.addr;
}

function mmapErrno(as: AddressSpace, addr: number, len: number, prot: number, flags: number): number {
  const r = as.mmap(addr, len, prot, flags);
  return r.ok ? 0 : r.errno;
}

/** "start-end perms" in pages relative to `origin` of the VMAs from `origin` up, for compact
 * layout assertions. */
function layout(as: AddressSpace, origin = 0): string[] {
  return as
    .vmas()
    .filter((v) => v.start >= origin)
    .map((v) => `${(v.start - origin) / P}-${(v.end - origin) / P} ${vmPerms(v.flags)}`);
}

describe("AddressSpace: mmap errno table", () => {
  it("rejects bad arguments with Linux's errno, in Linux's order", () => {
    const as = space();
    assert.equal(mmapErrno(as, 0, 0, RW, ANON), EINVAL, "len 0");
    assert.equal(mmapErrno(as, 0x200001, P, RW, ANON | MAP_FIXED), EINVAL, "unaligned MAP_FIXED");
    assert.equal(mmapErrno(as, 0, P, RW, MAP_ANONYMOUS), EINVAL, "neither shared nor private");
    assert.equal(
      mmapErrno(as, 0, P, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS),
      EINVAL,
      "both bits: SHARED_VALIDATE",
    );
    assert.equal(mmapErrno(as, 0, P, RW, 0x0f | MAP_ANONYMOUS), EINVAL, "unknown map type");
    assert.equal(mmapErrno(as, 0, TASK_SIZE + P, RW, ANON), ENOMEM, "longer than the address space");
    assert.equal(mmapErrno(as, 0, 2 ** 64 - 1, RW, ANON), ENOMEM, "PAGE_ALIGN overflows");
    assert.equal(mmapErrno(as, 0, P, RW, MAP_PRIVATE), EBADF, "no MAP_ANONYMOUS and no file");
    assert.equal(mmapErrno(as, 0, P, RW, SHANON | MAP_GROWSDOWN), EINVAL, "shared + MAP_GROWSDOWN");
    assert.equal(
      mmapErrno(as, 0, P, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_LOCKED),
      EINVAL,
      "droppable + locked",
    );
    assert.equal(mmapErrno(as, 0x1000, P, RW, ANON | MAP_FIXED), EPERM, "MAP_FIXED below mmap_min_addr");
    assert.equal(as.vmas().length, 0, "no failed call left a VMA");
  });

  it("ignores unknown prot bits (mmap does not validate prot)", () => {
    const as = space();
    const a = map(as, 0, 1, PROT_READ | PROT_SEM | 0x10 | PROT_GROWSDOWN, ANON);
    assert.equal(vmPerms(as.findVma(a)!.flags), "r--p");
  });

  it("MAP_FIXED_NOREPLACE: EEXIST over a mapping, else like MAP_FIXED", () => {
    const as = space();
    const a = map(as, 0x200000, 4, RW, ANON | MAP_FIXED);
    assert.equal(mmapErrno(as, a + 3 * P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE), EEXIST);
    assert.equal(map(as, a + 4 * P, 1, RW, ANON | MAP_FIXED_NOREPLACE), a + 4 * P);
  });

  it("files: EACCES for a writable shared mapping of a read-only file, EOPNOTSUPP for unknown validated flags", () => {
    const as = space();
    const ro = { name: "/data/f", offsetPages: 0, writable: false };
    assert.equal(as.mmap(0, P, RW, MAP_SHARED, ro).ok, false);
    assert.deepEqual(as.mmap(0, P, RW, MAP_SHARED, ro), { ok: false, errno: EACCES });
    const r = as.mmap(0, P, PROT_READ, MAP_SHARED, ro);
    assert.ok(r.ok);
    const v = as.findVma(r.addr)!;
    assert.equal(v.flags & (VM_SHARED | VM_MAYWRITE), 0, "no VM_SHARED / VM_MAYWRITE");
    assert.ok(v.flags & VM_MAYSHARE, "still shown as shared");
    assert.equal(vmPerms(v.flags), "r--s");
    const rw = { name: "/data/f", offsetPages: 0 };
    assert.deepEqual(as.mmap(0x800000, P, RW, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, rw), {
      ok: false,
      errno: EOPNOTSUPP,
    });
    assert.ok(as.mmap(0, P, RW, MAP_SHARED | 0x80000, rw).ok, "MAP_SHARED drops flags it does not know");
  });
});

describe("AddressSpace: placement", () => {
  it("uses a free hint, rounding it down to a page", () => {
    const as = space();
    assert.equal(map(as, 0x300123, 2, RW, ANON), 0x300000);
  });

  it("places top-down below mmap_base when there is no hint or the hint is taken", () => {
    const as = space();
    assert.equal(map(as, 0, 2, RW, ANON), BASE - 2 * P);
    assert.equal(map(as, 0, 1, PROT_READ, ANON), BASE - 3 * P);
    // the hint range overlaps the first mapping: top-down instead
    assert.equal(map(as, BASE - 3 * P, 2, PROT_EXEC, ANON), BASE - 5 * P);
  });

  it("fills the highest gap that fits", () => {
    const as = space();
    map(as, BASE - 10 * P, 2, RW, ANON | MAP_FIXED);
    map(as, BASE - 3 * P, 3, PROT_READ, ANON | MAP_FIXED);
    // free: 5 pages [BASE-8P, BASE-3P), and everything below BASE-10P
    assert.equal(map(as, 0, 4, PROT_EXEC, ANON), BASE - 7 * P);
    assert.equal(map(as, 0, 1, PROT_EXEC, ANON), BASE - 8 * P);
    assert.equal(map(as, 0, 1, PROT_EXEC, ANON), BASE - 11 * P);
  });

  it("rounds a hint below mmap_min_addr up to it; a hint below one page is no hint", () => {
    const as = space();
    assert.equal(map(as, 0x1234, 1, RW, ANON), 0x10000);
    assert.equal(map(as, 0x800, 1, RW, ANON), BASE - P);
  });

  it("aligns hint-less private anonymous mappings of a 2 MiB multiple to 2 MiB", () => {
    const as = space();
    const MB = 1024 * 1024;
    // the padded (4 MiB) search returns BASE - 4 MiB, already aligned: Linux takes its upper half
    assert.equal(map(as, 0, 512, RW, ANON), BASE - 2 * MB);
    const as2 = space();
    map(as2, BASE - 3 * P, 3, RW, ANON | MAP_FIXED);
    const c = map(as2, 0, 512, PROT_READ, SHANON);
    assert.equal(c, BASE - 3 * P - 2 * MB, "shared anonymous memory is not aligned");
    // padded range [BASE - 6 MiB - 3 pages, BASE - 2 MiB - 3 pages): the aligned start inside it
    assert.equal(map(as2, 0, 512, PROT_READ, ANON), BASE - 6 * MB);
    assert.equal(map(as2, 0x4000000, 512, PROT_READ, ANON), 0x4000000, "a hint disables the alignment");
    assert.equal(
      map(as2, 0, 513, PROT_READ, ANON),
      BASE - 6 * MB - 513 * P,
      "so does a length that is no multiple",
    );
  });

  it("keeps stack_guard_gap free below a MAP_GROWSDOWN mapping", () => {
    const as = space();
    const g = map(as, 0, 4, RW, ANON | MAP_GROWSDOWN);
    assert.equal(g, BASE - 4 * P);
    assert.ok(as.findVma(g)!.flags & VM_GROWSDOWN);
    assert.equal(map(as, 0, 1, RW, ANON), BASE - 4 * P - 257 * P);
    // a hint inside the gap is refused too
    assert.equal(map(as, g - 2 * P, 1, RW, ANON), BASE - 4 * P - 258 * P);
  });

  it("falls back to bottom-up from the legacy base when nothing fits below mmap_base", () => {
    const as = space({ mmapLegacyBase: 0x40000000 });
    assert.equal(map(as, 0, 0x1ffff, PROT_NONE, ANON | MAP_NORESERVE), 0x40000000);
  });

  it("MAP_FIXED replaces what is there and reports the replaced pieces", () => {
    const as = space();
    const a = map(as, 0x400000, 4, RW, ANON | MAP_FIXED);
    const s = map(as, a + 4 * P, 2, RW, SHANON | MAP_FIXED);
    const r = as.mmap(a + 2 * P, 3 * P, PROT_READ, ANON | MAP_FIXED);
    assert.ok(r.ok);
    assert.deepEqual(r.unmapped, [
      { start: a + 2 * P, end: a + 4 * P, shared: false },
      { start: s, end: s + P, shared: true },
    ]);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "2-5 r--p", "5-6 rw-s"]);
  });
});

describe("AddressSpace: munmap", () => {
  it("EINVAL for an unaligned start, a zero length or a range past TASK_SIZE", () => {
    const as = space();
    assert.equal(as.munmap(0x400001, P).errno, EINVAL);
    assert.equal(as.munmap(0x400000, 0).errno, EINVAL);
    assert.equal(as.munmap(0x400000, TASK_SIZE).errno, EINVAL);
  });

  it("splits, punches holes, and accepts unmapped ranges", () => {
    const as = space();
    const a = map(as, 0x400000, 8, RW, ANON | MAP_FIXED);
    const id = as.findVma(a)!.id;
    const r = as.munmap(a + 2 * P, 3 * P - 100); // rounded up to 3 pages
    assert.equal(r.errno, 0);
    assert.deepEqual(r.unmapped, [{ start: a + 2 * P, end: a + 5 * P, shared: false }]);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "5-8 rw-p"]);
    assert.ok(
      as.vmas().every((v) => v.id !== id),
      "both remaining pieces are new structs: the original was the unmapped middle",
    );
    assert.equal(as.findVma(a + 5 * P)!.pgoff, a / P + 5, "pgoff follows the split");
    assert.deepEqual(as.munmap(a + 20 * P, P), { errno: 0, unmapped: [] });
    assert.equal(as.munmap(a, 8 * P).unmapped.length, 2, "both pieces, across the hole");
    assert.equal(as.vmas().length, 0);
  });
});

describe("AddressSpace: mprotect errno table", () => {
  it("checks alignment, length, prot bits and growth flags in Linux's order", () => {
    const as = space();
    const a = map(as, 0x400000, 4, PROT_READ, ANON | MAP_FIXED);
    assert.equal(as.mprotect(a + 1, P, PROT_READ).errno, EINVAL, "unaligned start");
    assert.equal(as.mprotect(0x900000, 0, 0x10).errno, 0, "zero length wins over bad prot and no mapping");
    assert.equal(as.mprotect(a, P, 0x10).errno, EINVAL, "unknown prot bit");
    assert.equal(as.mprotect(a, P, PROT_READ | PROT_SEM).errno, 0, "PROT_SEM is accepted");
    assert.equal(
      as.mprotect(a, P, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP).errno,
      EINVAL,
      "both growth flags",
    );
    assert.equal(as.mprotect(a, 2 ** 64 - P, PROT_READ).errno, ENOMEM, "end wraps");
    assert.equal(as.mprotect(a - P, 2 * P, PROT_READ).errno, ENOMEM, "start not mapped");
    assert.equal(as.mprotect(a, P, PROT_READ | PROT_GROWSUP).errno, EINVAL, "x86 has no VM_GROWSUP");
    assert.equal(as.mprotect(a, P, PROT_READ | PROT_GROWSDOWN).errno, EINVAL, "not a VM_GROWSDOWN VMA");
    assert.deepEqual(layout(as, a), ["0-4 r--p"], "nothing changed");
  });

  it("EACCES when prot exceeds VM_MAY*", () => {
    const as = space();
    const r = as.mmap(0, 2 * P, PROT_READ, MAP_SHARED, { name: "/ro", offsetPages: 0, writable: false });
    assert.ok(r.ok);
    assert.deepEqual(as.mprotect(r.addr, 2 * P, RW), { errno: EACCES, changes: [] });
    assert.equal(as.mprotect(r.addr, 2 * P, PROT_READ | PROT_EXEC).errno, 0);
  });

  it("applies earlier VMAs before failing with ENOMEM at a hole, as Linux does", () => {
    const as = space();
    const a = map(as, 0x400000, 2, PROT_READ, ANON | MAP_FIXED);
    map(as, a + 3 * P, 2, PROT_READ, ANON | MAP_FIXED);
    const r = as.mprotect(a, 5 * P, RW);
    assert.equal(r.errno, ENOMEM);
    assert.equal(r.changes.length, 1);
    assert.equal(r.changes[0].start, a);
    assert.equal(r.changes[0].end, a + 2 * P);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "3-5 r--p"]);
    // ending in a hole after the last VMA: all VMAs changed, still ENOMEM
    const r2 = as.mprotect(a + 3 * P, 4 * P, PROT_EXEC);
    assert.equal(r2.errno, ENOMEM);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "3-5 --xp"]);
  });

  it("stops at the first VMA lacking VM_MAY*, after changing those before it", () => {
    const as = space();
    const a = map(as, 0x400000, 2, PROT_READ, ANON | MAP_FIXED);
    const r = as.mmap(a + 2 * P, P, PROT_READ, MAP_SHARED | MAP_FIXED, {
      name: "/ro",
      offsetPages: 0,
      writable: false,
    });
    assert.ok(r.ok);
    const m = as.mprotect(a, 3 * P, RW);
    assert.equal(m.errno, EACCES);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "2-3 r--s"]);
  });

  it("PROT_GROWSDOWN extends the range down to the start of a VM_GROWSDOWN VMA", () => {
    const as = space();
    const g = map(as, 0x400000, 4, RW, ANON | MAP_FIXED | MAP_GROWSDOWN);
    const r = as.mprotect(g + 2 * P, P, PROT_READ | PROT_GROWSDOWN);
    assert.equal(r.errno, 0);
    assert.deepEqual(layout(as, g), ["0-3 r--p", "3-4 rw-p"]);
  });
});

describe("AddressSpace: split and merge", () => {
  it("merges a new mapping with compatible neighbours on both sides", () => {
    const as = space();
    const a = map(as, 0x400000, 2, RW, ANON | MAP_FIXED);
    map(as, a + 3 * P, 2, RW, ANON | MAP_FIXED);
    const ids = as.vmas().map((v) => v.id);
    map(as, a + 2 * P, 1, RW, ANON | MAP_FIXED);
    assert.deepEqual(layout(as, a), ["0-5 rw-p"]);
    assert.equal(as.vmas()[0].id, ids[0], "prev expanded over the hole and next");
    assert.equal(as.vmas()[0].pgoff, a / P);
  });

  it("does not merge different flags, files, or shared anonymous objects", () => {
    const as = space();
    const a = map(as, 0x400000, 1, RW, ANON | MAP_FIXED);
    map(as, a + P, 1, PROT_READ, ANON | MAP_FIXED); // different prot
    map(as, a + 2 * P, 1, PROT_READ, ANON | MAP_FIXED | MAP_NORESERVE); // VM_NORESERVE
    map(as, a + 3 * P, 1, RW, ANON | MAP_FIXED | MAP_NORESERVE); // different prot again
    map(as, a + 4 * P, 1, RW, ANON | MAP_FIXED | MAP_STACK); // VM_NOHUGEPAGE
    map(as, a + 5 * P, 1, RW, SHANON | MAP_FIXED);
    map(as, a + 6 * P, 1, RW, SHANON | MAP_FIXED); // another shmem object
    map(as, a + 7 * P, 1, RW, SHANON | MAP_FIXED);
    assert.equal(as.vmas().length, 8);
    assert.ok(as.findVma(a + 4 * P)!.flags & VM_NOHUGEPAGE);
    assert.ok(as.findVma(a + 2 * P)!.flags & VM_NORESERVE);
  });

  it("mprotect splits a VMA in three and merges it back (the middle keeps its identity)", () => {
    const as = space();
    const a = map(as, 0x400000, 6, RW, ANON | MAP_FIXED);
    const id = as.vmas()[0].id;
    const r = as.mprotect(a + 2 * P, 2 * P, PROT_READ);
    assert.equal(r.errno, 0);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "2-4 r--p", "4-6 rw-p"]);
    assert.equal(as.findVma(a + 2 * P)!.id, id);
    assert.equal(as.findVma(a + 4 * P)!.pgoff, a / P + 4);
    assert.equal(as.mprotect(a + 2 * P, 2 * P, RW).errno, 0);
    assert.deepEqual(layout(as, a), ["0-6 rw-p"]);
  });

  it("mprotect of an edge moves the boundary into the neighbour", () => {
    const as = space();
    const a = map(as, 0x400000, 3, PROT_READ, ANON | MAP_FIXED);
    map(as, a + 3 * P, 3, PROT_NONE, ANON | MAP_FIXED);
    const nextId = as.findVma(a + 3 * P)!.id;
    // the upper page of the first VMA becomes PROT_NONE: next grows down
    const r = as.mprotect(a + 2 * P, P, PROT_NONE);
    assert.equal(r.errno, 0);
    assert.deepEqual(layout(as, a), ["0-2 r--p", "2-6 ---p"]);
    assert.equal(as.findVma(a + 2 * P)!.id, nextId);
    assert.equal(as.findVma(a + 2 * P)!.pgoff, a / P + 2);
    // the lower page of the second becomes readable: prev grows up
    assert.equal(as.mprotect(a + 2 * P, P, PROT_READ).errno, 0);
    assert.deepEqual(layout(as, a), ["0-3 r--p", "3-6 ---p"]);
  });

  it("an mprotect whose flags do not change neither splits nor reports a change", () => {
    const as = space();
    const a = map(as, 0x400000, 4, PROT_READ, ANON | MAP_FIXED);
    assert.deepEqual(as.mprotect(a + P, P, PROT_READ), { errno: 0, changes: [] });
    assert.deepEqual(layout(as, a), ["0-4 r--p"]);
  });

  it("shared anonymous pieces of one object merge back; pgoff follows file offsets", () => {
    const as = space();
    const a = map(as, 0x400000, 4, RW, SHANON | MAP_FIXED);
    assert.equal(as.mprotect(a + P, P, PROT_READ).errno, 0);
    assert.deepEqual(
      as.vmas().map((v) => v.pgoff),
      [0, 1, 2],
    );
    assert.equal(as.mprotect(a + P, P, RW).errno, 0);
    assert.deepEqual(layout(as, a), ["0-4 rw-s"]);
  });

  it("file mappings merge only with the same open file and contiguous offsets", () => {
    const as = space();
    const f = (off: number, handle?: string) => ({ name: "/memfd:x (deleted)", offsetPages: off, handle });
    const a = 0x400000;
    assert.ok(as.mmap(a, 2 * P, PROT_READ, MAP_SHARED | MAP_FIXED, f(10)).ok);
    assert.ok(as.mmap(a + 2 * P, P, PROT_READ, MAP_SHARED | MAP_FIXED, f(12)).ok);
    assert.ok(as.mmap(a + 3 * P, P, PROT_READ, MAP_SHARED | MAP_FIXED, f(20)).ok);
    assert.ok(as.mmap(a + 4 * P, P, PROT_READ, MAP_SHARED | MAP_FIXED, f(21, "other fd")).ok);
    assert.deepEqual(layout(as, a), ["0-3 r--s", "3-4 r--s", "4-5 r--s"]);
    assert.equal(as.vmas()[0].pgoff, 10);
  });

  it("special mappings never merge", () => {
    const as = space();
    as.insertOpaque(0x400000, 0x401000, VM_READ | VM_MAYREAD, "[vvar]");
    const v = as.findVma(0x400000)!;
    assert.equal(v.kind, "special");
    assert.ok(v.flags & VM_DONTEXPAND);
    map(as, 0x401000, 1, PROT_READ, ANON | MAP_FIXED);
    assert.equal(as.vmas().length, 2);
  });
});

describe("AddressSpace: anon_vma", () => {
  it("lets an untouched VMA merge with a touched neighbour, either way round", () => {
    const as = space();
    // MAP_NORESERVE keeps VM_ACCOUNT out of the way
    const a = map(as, 0x400000, 4, PROT_READ, ANON | MAP_FIXED | MAP_NORESERVE);
    as.mprotect(a + 2 * P, 2 * P, RW);
    as.setAnonVma(a + 2 * P);
    const anon = as.findVma(a + 2 * P)!.anonVma;
    assert.ok(anon > 0);
    assert.equal(as.findVma(a)!.anonVma, 0);
    // the touched half becomes r--: merges into the untouched r-- VMA, which inherits the anon_vma
    assert.equal(as.mprotect(a + 2 * P, 2 * P, PROT_READ).errno, 0);
    assert.deepEqual(layout(as, a), ["0-4 r--p"]);
    assert.equal(as.findVma(a)!.anonVma, anon);
  });

  it("two different anon_vmas block a merge; a reused one allows it", () => {
    const as = space();
    const a = map(as, 0x400000, 4, RW, ANON | MAP_FIXED);
    as.mprotect(a + 2 * P, 2 * P, PROT_READ);
    as.mprotect(a + 2 * P, 2 * P, RW);
    assert.deepEqual(layout(as, a), ["0-4 rw-p"], "untouched: merged back");
    // two touched VMAs with a hole between them get distinct anon_vmas; filling the hole merges
    // with one side only, leaving two adjacent VMAs with equal flags
    const b = map(as, 0x500000, 2, RW, ANON | MAP_FIXED);
    map(as, b + 3 * P, 2, RW, ANON | MAP_FIXED);
    as.setAnonVma(b);
    as.setAnonVma(b + 3 * P);
    assert.notEqual(as.findVma(b)!.anonVma, as.findVma(b + 3 * P)!.anonVma);
    map(as, b + 2 * P, 1, RW, ANON | MAP_FIXED);
    assert.deepEqual(layout(as, b), ["0-3 rw-p", "3-5 rw-p"]);
    assert.equal(as.mprotect(b, 5 * P, PROT_READ).errno, 0);
    assert.deepEqual(layout(as, b), ["0-3 r--p", "3-5 r--p"], "still apart");
    // find_mergeable_anon_vma: a VMA touched next to a compatible touched neighbour shares its anon_vma
    const c = map(as, 0x600000, 2, RW, ANON | MAP_FIXED | MAP_NORESERVE);
    as.mprotect(c + P, P, PROT_READ);
    as.setAnonVma(c);
    as.setAnonVma(c + P);
    assert.equal(as.findVma(c)!.anonVma, as.findVma(c + P)!.anonVma);
    as.mprotect(c + P, P, RW);
    assert.deepEqual(layout(as, c), ["0-2 rw-p"]);
  });

  it("is not assigned to shared VMAs; MAP_POPULATE and MAP_LOCKED assign it to private writable ones", () => {
    const as = space();
    const s = map(as, 0x400000, 1, RW, SHANON | MAP_FIXED);
    as.setAnonVma(s);
    assert.equal(as.findVma(s)!.anonVma, 0);
    const p = as.mmap(0x500000, P, RW, ANON | MAP_FIXED | MAP_POPULATE);
    assert.ok(p.ok && p.populate);
    assert.ok(as.findVma(0x500000)!.anonVma > 0);
    const r = map(as, 0x600000, 1, PROT_READ, ANON | MAP_FIXED | MAP_POPULATE);
    assert.equal(as.findVma(r)!.anonVma, 0, "read faults map the zero page");
    const l = map(as, 0x700000, 1, PROT_READ, ANON | MAP_FIXED | MAP_LOCKED);
    assert.ok(as.findVma(l)!.flags & VM_LOCKED);
    assert.equal(as.findVma(l)!.anonVma, 0);
    as.mprotect(l, P, RW); // a locked private VMA turning writable is populated for writing
    assert.ok(as.findVma(l)!.anonVma > 0);
  });
});

describe("AddressSpace: VM_ACCOUNT", () => {
  const acct = (v: Vma | undefined) => ((v?.flags ?? 0) & VM_ACCOUNT) !== 0;

  it("is set for private writable mappings only", () => {
    const as = space();
    assert.ok(acct(as.findVma(map(as, 0, 1, RW, ANON))));
    assert.ok(acct(as.findVma(map(as, 0, 1, PROT_WRITE, ANON))));
    assert.ok(!acct(as.findVma(map(as, 0, 1, PROT_READ, ANON))));
    assert.ok(!acct(as.findVma(map(as, 0, 1, RW, SHANON))));
    assert.ok(!acct(as.findVma(map(as, 0, 1, RW, ANON | MAP_NORESERVE))));
    const f = as.mmap(0, P, RW, MAP_PRIVATE, { name: "/lib/x.so", offsetPages: 3 });
    assert.ok(f.ok && acct(as.findVma(f.addr)));
  });

  it("is added when a private mapping first becomes writable, and dropped while nothing was faulted", () => {
    const as = space();
    const a = map(as, 0x400000, 2, PROT_READ, ANON | MAP_FIXED);
    as.mprotect(a, 2 * P, RW);
    assert.ok(acct(as.findVma(a)));
    as.mprotect(a, 2 * P, PROT_READ);
    assert.ok(!acct(as.findVma(a)), "untouched: charge dropped");
    as.mprotect(a, 2 * P, RW);
    as.setAnonVma(a);
    as.mprotect(a, 2 * P, PROT_READ);
    assert.ok(acct(as.findVma(a)), "touched: charge kept");
    const f = as.mmap(0x500000, P, RW, MAP_PRIVATE | MAP_FIXED, { name: "/lib/x.so", offsetPages: 0 });
    assert.ok(f.ok);
    as.mprotect(0x500000, P, PROT_READ);
    assert.ok(acct(as.findVma(0x500000)), "file mappings keep it");
    const n = map(as, 0x600000, 1, PROT_READ, ANON | MAP_FIXED | MAP_NORESERVE);
    as.mprotect(n, P, RW);
    assert.ok(!acct(as.findVma(n)), "VM_NORESERVE is never charged");
  });

  it("keeps VM_ACCOUNT / PROT_NONE differences visible to merging (as /proc/self/maps shows)", () => {
    const as = space();
    const a = map(as, 0x400000, 1, RW, ANON | MAP_FIXED);
    as.setAnonVma(a);
    as.mprotect(a, P, PROT_NONE); // keeps VM_ACCOUNT: touched
    map(as, a + P, 1, PROT_NONE, ANON | MAP_FIXED); // no VM_ACCOUNT
    assert.deepEqual(layout(as, a), ["0-1 ---p", "1-2 ---p"]);
  });
});

describe("AddressSpace: change_protection requests", () => {
  it("lists the sub-ranges changed, with MM_CP_TRY_CHANGE_WRITABLE for private writable and file-shared writable", () => {
    const as = space();
    const a = map(as, 0x400000, 2, PROT_READ, ANON | MAP_FIXED);
    map(as, a + 2 * P, 2, PROT_READ, SHANON | MAP_FIXED);
    const f = as.mmap(a + 4 * P, 2 * P, PROT_READ, MAP_SHARED | MAP_FIXED, {
      name: "/data/f",
      offsetPages: 0,
    });
    assert.ok(f.ok);
    const r = as.mprotect(a + P, 4 * P, RW);
    assert.equal(r.errno, 0);
    assert.deepEqual(
      r.changes.map((c) => [(c.start - a) / P, (c.end - a) / P, vmPerms(c.vma.flags), c.tryChangeWritable]),
      [
        [1, 2, "rw-p", true],
        [2, 4, "rw-s", false],
        [4, 5, "rw-s", true],
      ],
    );
    const back = as.mprotect(a, 6 * P, PROT_READ);
    assert.ok(back.changes.every((c) => !c.tryChangeWritable));
  });

  it("hands out snapshots that later calls do not modify", () => {
    const as = space();
    const a = map(as, 0x400000, 4, RW, ANON | MAP_FIXED);
    const before = as.findVma(a)!;
    as.mprotect(a, P, PROT_READ);
    assert.equal(before.end, a + 4 * P);
    assert.equal(vmPerms(before.flags), "rw-p");
  });
});

describe("AddressSpace: layout helpers", () => {
  it("toMaps prints /proc/PID/maps lines", () => {
    const as = space();
    as.insertOpaque(0x400000, 0x402000, VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC, "/bin/true", {
      pgoff: 1,
    });
    map(as, 0x402000, 1, RW, ANON | MAP_FIXED);
    map(as, 0x403000, 1, PROT_READ, SHANON | MAP_FIXED);
    as.insertOpaque(0x500000, 0x501000, VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE, "[heap]");
    assert.equal(
      as.toMaps(),
      [
        "00400000-00402000 r--p 00001000 00:00 0 /bin/true",
        "00402000-00403000 rw-p 00000000 00:00 0",
        "00403000-00404000 r--s 00000000 00:00 0 /dev/zero (deleted)",
        "00500000-00501000 rw-p 00000000 00:00 0 [heap]",
        "",
      ].join("\n"),
    );
  });

  it("insertOpaque refuses overlaps and unaligned ranges", () => {
    const as = space();
    as.insertOpaque(0x400000, 0x402000, VM_READ | VM_MAYREAD, null);
    assert.throws(() => as.insertOpaque(0x401000, 0x403000, VM_READ, null), /overlaps/);
    assert.throws(() => as.insertOpaque(0x500001, 0x503000, VM_READ, null), /bad range/);
    assert.ok(as.findVma(0x401fff));
    assert.equal(as.findVma(0x402000), undefined);
  });

  it("fails with ENOMEM at vm.max_map_count", () => {
    const as = space({ maxMapCount: 3 });
    const a = map(as, 0x400000, 6, RW, ANON | MAP_FIXED);
    map(as, 0x500000, 1, PROT_READ, ANON | MAP_FIXED);
    // splitting out a middle piece needs two more VMAs: the first split happens, the second fails
    const r = as.mprotect(a + 2 * P, 2 * P, PROT_READ);
    assert.equal(r.errno, ENOMEM);
    assert.deepEqual(layout(as, a), ["0-2 rw-p", "2-6 rw-p", "256-257 r--p"]);
    assert.equal(as.munmap(a + 3 * P, P).errno, ENOMEM, "a hole inside one VMA needs a split");
    assert.equal(as.munmap(a + 2 * P, P).errno, 0, "trimming an end needs none");
    assert.equal(mmapErrno(as, 0x600000, P, RW, ANON | MAP_FIXED), 0);
    assert.equal(mmapErrno(as, 0x700000, P, RW, ANON | MAP_FIXED), ENOMEM, "more than max_map_count VMAs");
  });

  it("flags of a fresh mapping: VM_MAY* and VM_SOFTDIRTY always, VM_SHARED|VM_MAYSHARE for shared", () => {
    const as = space();
    const p = as.findVma(map(as, 0, 1, PROT_NONE, ANON))!;
    assert.equal(p.flags, VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_SOFTDIRTY);
    assert.equal(p.kind, "anon");
    assert.equal(p.pgoff, p.start / P);
    const s = as.findVma(map(as, 0, 1, PROT_READ, SHANON))!;
    assert.equal(
      s.flags,
      VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_SHARED | VM_MAYSHARE | VM_SOFTDIRTY,
    );
    assert.equal(s.kind, "shmem");
    assert.equal(s.pgoff, 0);
    assert.ok(s.fileId > 0);
  });
});

describe("AddressSpace: brk", () => {
  const SB = 0x600000; // start_brk of the test spaces

  it("without a program break brk() fails and returns 0", () => {
    const as = space();
    assert.deepEqual(as.brk(0x601000), { ret: 0, ok: false, unmapped: [] });
  });

  it("grows the heap as one rw-p VM_ACCOUNT VMA labelled [heap], keeping the unaligned break", () => {
    const as = space({ startBrk: SB });
    assert.equal(as.brk(0).ret, SB, "brk(NULL) asks for the break");
    assert.equal(as.brk(SB + 0x2100).ret, SB + 0x2100);
    assert.deepEqual(layout(as, SB), ["0-3 rw-p"]);
    const v = as.findVma(SB)!;
    assert.equal(
      v.flags,
      VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_SOFTDIRTY,
    );
    assert.equal(v.kind, "anon");
    assert.equal(v.pgoff, SB / P);
    assert.match(as.toMaps(), /rw-p 00000000 00:00 0 \[heap\]/);
    // Growth extends the same VMA (do_brk_flags just_expand); within a page nothing changes.
    assert.equal(as.brk(SB + 0x2fff).ret, SB + 0x2fff);
    assert.equal(as.brk(SB + 0x5000).ret, SB + 0x5000);
    assert.deepEqual(layout(as, SB), ["0-5 rw-p"]);
    assert.equal(as.currentBrk, SB + 0x5000);
  });

  it("refuses a break below start_brk and returns the current one", () => {
    const as = space({ startBrk: SB });
    as.brk(SB + P);
    assert.deepEqual(as.brk(SB - P), { ret: SB + P, ok: false, unmapped: [] });
  });

  it("keeps one page and the stack guard gap free above the new break", () => {
    const as = space({ startBrk: SB });
    map(as, SB + 6 * P, 2, RW, ANON | MAP_FIXED);
    assert.equal(as.brk(SB + 5 * P).ret, SB + 5 * P, "a page is left between the heap and the mapping");
    assert.equal(as.brk(SB + 5 * P + 1).ret, SB + 5 * P, "no page left: refused");
    const gs = space({ startBrk: SB });
    map(gs, SB + 300 * P, 1, RW, ANON | MAP_FIXED | MAP_GROWSDOWN);
    assert.equal(gs.brk(SB + 40 * P).ret, SB + 40 * P, "below the guard gap of a stack");
    assert.equal(gs.brk(SB + 50 * P).ret, SB + 40 * P, "inside the 256-page guard gap");
  });

  it("a mapping at the break blocks growth; after it is unmapped growth works", () => {
    const as = space({ startBrk: SB });
    map(as, SB, 1, PROT_READ, ANON | MAP_FIXED);
    assert.equal(as.brk(SB + 0x10).ret, SB);
    assert.equal(as.munmap(SB, P).errno, 0);
    assert.equal(as.brk(SB + 0x10).ret, SB + 0x10);
    assert.deepEqual(layout(as, SB), ["0-1 rw-p"]);
  });

  it("shrinking unmaps [PAGE_ALIGN(brk), PAGE_ALIGN(old brk)), whatever VMAs are there", () => {
    const as = space({ startBrk: SB });
    as.brk(SB + 8 * P);
    map(as, SB + 4 * P, 2, PROT_READ, ANON | MAP_FIXED);
    const r = as.brk(SB + P + 1);
    assert.equal(r.ret, SB + P + 1);
    assert.deepEqual(r.unmapped, [
      { start: SB + 2 * P, end: SB + 4 * P, shared: false },
      { start: SB + 4 * P, end: SB + 6 * P, shared: false },
      { start: SB + 6 * P, end: SB + 8 * P, shared: false },
    ]);
    assert.deepEqual(layout(as, SB), ["0-2 rw-p"]);
  });

  it("shrinking with no VMA in the range fails (the heap was unmapped)", () => {
    const as = space({ startBrk: SB });
    as.brk(SB + 0x10);
    as.munmap(SB, P);
    assert.equal(as.brk(SB).ret, SB + 0x10);
  });

  it("a heap VMA of other flags is not extended: a second VMA is made", () => {
    const as = space({ startBrk: SB });
    as.brk(SB + 2 * P);
    as.mprotect(SB, 2 * P, PROT_READ);
    as.brk(SB + 3 * P);
    assert.deepEqual(layout(as, SB), ["0-2 r--p", "2-3 rw-p"]);
    // mprotect back: the two merge (same flags, linear pgoff)
    as.mprotect(SB, 2 * P, RW);
    assert.deepEqual(layout(as, SB), ["0-3 rw-p"]);
  });

  it("an anonymous mmap right at the break merges into the heap and shows as [heap]", () => {
    const as = space({ startBrk: SB });
    as.brk(SB + 2 * P);
    map(as, SB + 2 * P, 1, RW, ANON | MAP_FIXED);
    assert.deepEqual(layout(as, SB), ["0-3 rw-p"]);
    assert.match(as.toMaps(), /00600000-00603000 rw-p .*\[heap\]/);
  });

  it("[heap] is any anonymous VMA overlapping [start_brk, brk), none when the heap is empty", () => {
    const as = space({ startBrk: SB });
    map(as, SB, 1, PROT_READ, ANON | MAP_FIXED);
    assert.doesNotMatch(as.toMaps(), /\[heap\]/, "brk == start_brk: no heap");
  });
});

describe("AddressSpace: mremap", () => {
  const A = 0x7000000;
  const M = MREMAP_MAYMOVE;

  it("parameter checks (check_mremap_params)", () => {
    const as = space();
    const a = map(as, A, 4, RW, ANON | MAP_FIXED);
    const err = (addr: number, o: number, n: number, f: number, na = 0) => as.mremap(addr, o, n, f, na).ret;
    assert.equal(err(a, P, P, 8), -EINVAL, "unknown flag");
    assert.equal(err(a + 1, P, P, M), -EINVAL, "unaligned address");
    assert.equal(err(a, P, 0, M), -EINVAL, "zero new length");
    assert.equal(err(a, P, 2 ** 64 - 1, M), -EINVAL, "new length wraps to 0");
    assert.equal(err(a, P, TASK_SIZE + P, M), -EINVAL, "new length above TASK_SIZE");
    assert.equal(err(a, P, P, MREMAP_FIXED, 0x9000000), -EINVAL, "MREMAP_FIXED needs MREMAP_MAYMOVE");
    assert.equal(err(a, P, P, MREMAP_DONTUNMAP, 0x9000000), -EINVAL, "so does MREMAP_DONTUNMAP");
    assert.equal(err(a, P, P, M | MREMAP_FIXED, 0x9000001), -EINVAL, "unaligned new address");
    assert.equal(err(a, P, 2 * P, M | MREMAP_DONTUNMAP, 0x9000000), -EINVAL, "DONTUNMAP cannot resize");
    assert.equal(err(a, 2 * P, 2 * P, M | MREMAP_FIXED, a + P), -EINVAL, "overlapping ranges");
    assert.equal(err(a, P, P, M | MREMAP_FIXED, TASK_SIZE), -EINVAL, "new range above TASK_SIZE");
    assert.equal(err(0x9000000, P, 2 * P, M), -EFAULT, "no VMA at addr");
    assert.deepEqual(layout(as, A), ["0-4 rw-p"], "nothing changed");
  });

  it("same size: returns addr and changes nothing", () => {
    const as = space();
    const a = map(as, A, 2, RW, ANON | MAP_FIXED);
    assert.deepEqual(as.mremap(a, 2 * P, 2 * P, 0), { ret: a, steps: [], populate: null });
  });

  it("shrinks in place by unmapping the tail, even across VMAs", () => {
    const as = space();
    const a = map(as, A, 3, RW, ANON | MAP_FIXED);
    map(as, A + 3 * P, 2, PROT_READ, ANON | MAP_FIXED);
    const r = as.mremap(a, 5 * P, P, 0);
    assert.equal(r.ret, a);
    assert.deepEqual(r.steps, [
      {
        kind: "zap",
        ranges: [
          { start: A + P, end: A + 3 * P, shared: false },
          { start: A + 3 * P, end: A + 5 * P, shared: false },
        ],
      },
    ]);
    assert.deepEqual(layout(as, A), ["0-1 rw-p"]);
  });

  it("grows in place when the space above is free, merging with a compatible next VMA", () => {
    const as = space();
    const a = map(as, A, 2, RW, ANON | MAP_FIXED);
    const r = as.mremap(a, 2 * P, 4 * P, 0);
    assert.deepEqual(r, { ret: a, steps: [], populate: null });
    assert.deepEqual(layout(as, A), ["0-4 rw-p"]);
    // The next VMA starts where the growth ends and continues the same anonymous memory.
    map(as, A + 6 * P, 2, RW, ANON | MAP_FIXED);
    assert.equal(as.mremap(a, 4 * P, 6 * P, 0).ret, a);
    assert.deepEqual(layout(as, A), ["0-8 rw-p"]);
  });

  it("cannot grow in place: ENOMEM without MREMAP_MAYMOVE, a move with it", () => {
    const as = space();
    const a = map(as, A, 2, RW, ANON | MAP_FIXED);
    as.setAnonVma(a); // written: its pages must keep their pgoff
    map(as, A + 2 * P, 1, PROT_READ, ANON | MAP_FIXED);
    assert.equal(as.mremap(a, 2 * P, 3 * P, 0).ret, -ENOMEM);
    const r = as.mremap(a, 2 * P, 3 * P, M);
    assert.ok(r.ret > 0 && r.ret !== a);
    assert.deepEqual(r.steps, [
      { kind: "move", from: a, to: r.ret, len: 2 * P },
      { kind: "zap", ranges: [{ start: a, end: a + 2 * P, shared: false }] },
    ]);
    const moved = as.findVma(r.ret)!;
    assert.equal(moved.end - moved.start, 3 * P);
    assert.equal(moved.pgoff, A / P, "a faulted VMA keeps its pgoff when it moves");
    assert.equal(as.findVma(a), undefined);
  });

  it("a range not reaching the VMA's end cannot grow in place; one crossing it is EFAULT", () => {
    const as = space();
    const a = map(as, A, 4, RW, ANON | MAP_FIXED);
    assert.equal(as.mremap(a, 2 * P, 3 * P, 0).ret, -ENOMEM);
    assert.equal(as.mremap(a + 2 * P, 3 * P, 4 * P, M).ret, -EFAULT);
  });

  it("old_len 0 duplicates a shared mapping, and is refused for a private one", () => {
    const as = space();
    const s = map(as, A, 2, RW, SHANON | MAP_FIXED);
    const p = map(as, A + 4 * P, 2, RW, ANON | MAP_FIXED);
    assert.equal(as.mremap(p, 0, P, M).ret, -EINVAL);
    const r = as.mremap(s, 0, 2 * P, M | MREMAP_FIXED, 0x9000000);
    assert.equal(r.ret, 0x9000000);
    assert.deepEqual(layout(as, A), ["0-2 rw-s", "4-6 rw-p", "8192-8194 rw-s"]);
    assert.equal(as.findVma(0x9000000)!.fileId, as.findVma(s)!.fileId, "the same shmem object");
  });

  it("MREMAP_FIXED unmaps the destination first, then moves (split source keeps its ends)", () => {
    const as = space();
    const a = map(as, A, 4, RW, ANON | MAP_FIXED);
    as.setAnonVma(a);
    const d = map(as, 0x9000000, 3, PROT_READ, ANON | MAP_FIXED);
    const r = as.mremap(a + P, 2 * P, 2 * P, M | MREMAP_FIXED, d + P);
    assert.equal(r.ret, d + P);
    assert.deepEqual(r.steps, [
      { kind: "zap", ranges: [{ start: d + P, end: d + 3 * P, shared: false }] },
      { kind: "move", from: a + P, to: d + P, len: 2 * P },
      { kind: "zap", ranges: [{ start: a + P, end: a + 3 * P, shared: false }] },
    ]);
    assert.deepEqual(layout(as, A), ["0-1 rw-p", "3-4 rw-p", "8192-8193 r--p", "8193-8195 rw-p"]);
  });

  it("MREMAP_FIXED without resizing moves several VMAs, keeping the gaps between them", () => {
    const as = space();
    map(as, A, 2, RW, ANON | MAP_FIXED);
    map(as, A + 3 * P, 1, PROT_READ, ANON | MAP_FIXED);
    const r = as.mremap(A, 4 * P, 4 * P, M | MREMAP_FIXED, 0x9000000);
    assert.equal(r.ret, 0x9000000);
    assert.deepEqual(layout(as, A), ["8192-8194 rw-p", "8195-8196 r--p"]);
    assert.equal(
      as.mremap(A + P, 2 * P, 2 * P, M | MREMAP_FIXED, 0xa000000).ret,
      -EFAULT,
      "gap at the start",
    );
  });

  it("an unfaulted anonymous VMA takes the pgoff of its new place and can merge there", () => {
    const as = space();
    const a = map(as, A, 2, RW, ANON | MAP_FIXED);
    map(as, 0x9000000, 1, RW, ANON | MAP_FIXED);
    assert.equal(as.mremap(a, 2 * P, 2 * P, M | MREMAP_FIXED, 0x9000000 + P).ret, 0x9000000 + P);
    assert.deepEqual(layout(as, A), ["8192-8195 rw-p"]);
  });

  it("MREMAP_DONTUNMAP leaves the source mapped, without VM_LOCKED nor (if all moved) anon_vma", () => {
    const as = space();
    const a = map(as, A, 2, RW, ANON | MAP_FIXED | MAP_LOCKED);
    const before = as.findVma(a)!;
    assert.ok(before.anonVma !== 0 && before.flags & VM_LOCKED);
    const r = as.mremap(a, 2 * P, 2 * P, M | MREMAP_DONTUNMAP, 0x9000000);
    assert.equal(r.ret, 0x9000000);
    assert.deepEqual(r.steps, [{ kind: "move", from: a, to: 0x9000000, len: 2 * P }]);
    const src = as.findVma(a)!;
    assert.equal(src.flags, before.flags & ~VM_LOCKED, "VM_ACCOUNT stays (6.18)");
    assert.equal(src.anonVma, 0);
    assert.equal(as.findVma(0x9000000)!.flags, before.flags);
  });

  it("a VM_LOCKED mapping that grows asks for the new part to be populated", () => {
    const as = space();
    const a = map(as, A, 1, RW, ANON | MAP_FIXED | MAP_LOCKED);
    const r = as.mremap(a, P, 3 * P, 0);
    assert.deepEqual(r.populate, { start: a + P, end: a + 3 * P });
  });

  it("VM_DONTEXPAND mappings cannot grow (EFAULT) nor be moved with DONTUNMAP (EINVAL)", () => {
    const as = space();
    as.insertOpaque(A, A + P, VM_READ | VM_MAYREAD, "[vdso]");
    assert.equal(as.mremap(A, P, 2 * P, M).ret, -EFAULT);
    assert.equal(as.mremap(A, P, P, M | MREMAP_DONTUNMAP, 0x9000000).ret, -EINVAL);
    assert.equal(as.mremap(A, P, P, M | MREMAP_FIXED, 0x9000000).ret, 0x9000000, "a plain move is allowed");
  });

  it("placeAt puts a self-placed move where the recording says, or refuses if occupied", () => {
    const as = space();
    const a = map(as, A, 1, RW, ANON | MAP_FIXED);
    map(as, A + P, 1, PROT_READ, ANON | MAP_FIXED);
    map(as, 0x9000000, 1, PROT_READ, ANON | MAP_FIXED);
    const bad = as.mremap(a, P, 2 * P, M, 0, 0x9000000);
    assert.equal(bad.ret, -ENOMEM);
    assert.equal(bad.placementConflict, true);
    assert.deepEqual(layout(as, A), ["0-1 rw-p", "1-2 r--p", "8192-8193 r--p"], "nothing changed");
    assert.equal(as.mremap(a, P, 2 * P, M, 0, 0xa000000).ret, 0xa000000);
  });
});

describe("AddressSpace: restoreFrom", () => {
  it("returns to a saved copy in place, independent of it afterwards", () => {
    const as = space();
    const a = map(as, 0, 8, RW, ANON);
    const saved = as.clone();
    const before = layout(as);
    assert.equal(as.mprotect(a + 2 * P, 3 * P, PROT_READ).errno, 0);
    map(as, 0, 2, RW, SHANON);
    as.munmap(a + 7 * P, P);
    assert.notDeepEqual(layout(as), before);
    as.restoreFrom(saved);
    assert.deepEqual(layout(as), before);
    // The same next mapping as from the saved state, and the saved copy unchanged by it.
    const other = saved.clone();
    assert.equal(map(as, 0, 3, RW, SHANON), map(other, 0, 3, RW, SHANON));
    assert.deepEqual(layout(as), layout(other));
    assert.deepEqual(layout(saved), before);
  });
});
