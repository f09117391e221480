/*
 * mmops: ground truth for ptesim's VMA model (src/kernel/vma.ts).
 *
 * Usage: mmops FIRST_SEED NSEEDS NCALLS [WINDOW_PAGES]
 *
 * Reserves a window of WINDOW_PAGES pages between two one-page shared-anonymous PROT_NONE guard
 * mappings (shared anonymous VMAs never merge with anything else, so the window's contents cannot
 * merge with the rest of the process), then for every seed performs a seeded random sequence of
 * anonymous and memfd-backed mmap / mprotect / munmap calls and page writes ("touch") inside it,
 * printing every call, its result and the resulting /proc/self/maps lines of the window. The
 * TypeScript harness (differential.ts) replays the calls through AddressSpace and compares.
 *
 * Output (one record per line, numbers in hex unless noted):
 *   S <seed(dec)> <ncalls(dec)>       start of a sequence
 *   M <maps line>                      full /proc/self/maps before the first call of the sequence
 *   G <guardLo> <winStart> <winEnd> <guardHi> <mmap_min_addr> <memfd-name>
 *     (mmap_min_addr as in force: max(vm.mmap_min_addr, CONFIG_LSM_MMAP_MIN_ADDR), probed with a hint)
 *   C <i(dec)> mmap <addr> <len> <prot> <flags> <fd> <offset> = <result>
 *     fd: "-" none (anonymous), "m" the memfd opened read-write, "r" the same memfd opened
 *     read-only (shared mappings of it lack VM_MAYWRITE; it is another struct file, so its VMAs
 *     never merge with those of "m")
 *   C <i(dec)> mprotect <start> <len> <prot> = <result>
 *   C <i(dec)> munmap <start> <len> = <result>
 *   C <i(dec)> touch <addr> = 0
 *   W <start>-<end> <perms> <offset> <kind: a|z|m|?> <inode(dec)>   maps lines in [guardLo, guardHi)
 *   F <maps line>                      full /proc/self/maps after the last call
 *   X                                  end of the sequence
 * A result is "-<errno(dec)>" on failure, else the address (mmap) or 0.
 *
 * The program only uses raw syscalls through libc wrappers and write(2) on a static buffer: no
 * stdio, no malloc, so nothing but the calls under test changes the address space.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef PROT_GROWSDOWN
#define PROT_GROWSDOWN 0x01000000
#endif
#ifndef PROT_GROWSUP
#define PROT_GROWSUP 0x02000000
#endif

#define PAGE 4096UL
#define MEMFD_PAGES 1024UL

#include "harness.h"

/* The window's VMAs as last read (for choosing touch targets and boundaries). */
#define MAXV 1024
static uint64_t vstart[MAXV], vend[MAXV];
static char vperm[MAXV][5];
static uint64_t voff[MAXV];
static char vkind[MAXV];
static int nv;

static uint64_t guard_lo, win_start, win_end, guard_hi, min_addr;

/* Print every maps line with prefix `tag`. */
static void dump_full(char tag) {
  read_maps();
  const char *p = maps;
  while (*p) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    put_c(tag);
    put_c(' ');
    if (outlen + n + 1 > sizeof(out)) flush_out();
    memcpy(out + outlen, p, n);
    outlen += n;
    put_c('\n');
    p += n + (e ? 1 : 0);
  }
}

/* Read maps, print and remember the lines intersecting [guard_lo, guard_hi). */
static void dump_window(void) {
  read_maps();
  nv = 0;
  const char *p = maps;
  while (*p) {
    const char *line = p;
    uint64_t s = parse_hex(&p);
    p++; /* '-' */
    uint64_t e = parse_hex(&p);
    p++; /* ' ' */
    char perm[5];
    memcpy(perm, p, 4);
    perm[4] = 0;
    p += 5;
    uint64_t off = parse_hex(&p);
    p++;
    while (*p != ' ') p++; /* dev */
    p++;
    uint64_t ino = 0;
    while (*p >= '0' && *p <= '9') ino = ino * 10 + (uint64_t)(*p++ - '0');
    while (*p == ' ') p++;
    char kind = 'a';
    if (*p == '\n' || *p == 0) kind = ino ? '?' : 'a';
    else if (strncmp(p, "/dev/zero", 9) == 0) kind = 'z';
    else if (strncmp(p, "/memfd:", 7) == 0) kind = 'm';
    else kind = '?';
    const char *nl = strchr(line, '\n');
    p = nl ? nl + 1 : line + strlen(line);
    if (e <= guard_lo || s >= guard_hi) continue;
    put_s("W ");
    put_hex(s);
    put_c('-');
    put_hex(e);
    put_c(' ');
    put_s(perm);
    put_c(' ');
    put_hex(off);
    put_c(' ');
    put_c(kind);
    put_c(' ');
    put_dec(ino);
    put_c('\n');
    if (nv < MAXV && s >= win_start && e <= win_end) {
      vstart[nv] = s;
      vend[nv] = e;
      memcpy(vperm[nv], perm, 5);
      voff[nv] = off;
      vkind[nv] = kind;
      nv++;
    }
  }
}

/* ---------------------------------------------------------------- rng */

static uint64_t rs;
static uint64_t rnd(void) {
  /* splitmix64 */
  uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int percent) { return (int)below(100) < percent; }

/* ---------------------------------------------------------------- generator */

static int memfd = -1, memfd_ro = -1;
static uint64_t wpages;

/* Out-of-window mappings created in the current sequence (unmapped when it ends). */
#define MAXOUT 4096
static uint64_t oaddr[MAXOUT], olen[MAXOUT];
static int nout;

/* A page index in the window, biased towards existing VMA boundaries so that calls hit exact
 * split/merge cases. */
static uint64_t pick_page(void) {
  if (nv > 0 && chance(55)) {
    int i = (int)below((uint64_t)nv);
    uint64_t a = chance(50) ? vstart[i] : vend[i];
    if (a >= win_end) a = vstart[i];
    return (a - win_start) / PAGE;
  }
  return below(wpages);
}
static uint64_t pick_len_pages(void) {
  int r = (int)below(100);
  if (r < 60) return 1 + below(8);
  if (r < 85) return 1 + below(32);
  return 1 + below(128);
}
/* With protection keys enabled (OSPKE), Linux gives PROT_EXEC-only mappings an execute-only pkey,
 * which the model does not have: avoid exactly PROT_EXEC there. */
static int ospke;
static void detect_pkeys(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) ospke = (c >> 4) & 1;
#endif
}

static unsigned long pick_prot(int allow_bad) {
  unsigned long prot = below(8);
  if (ospke && prot == PROT_EXEC) prot |= PROT_READ;
  if (allow_bad && chance(6)) {
    static const unsigned long extra[] = {0x8 /* PROT_SEM */, 0x10, 0x40, PROT_GROWSDOWN, PROT_GROWSUP,
                                          PROT_GROWSDOWN | PROT_GROWSUP};
    prot |= extra[below(6)];
  }
  return prot;
}

static void note_out(uint64_t a, uint64_t len) {
  if (a + len <= guard_lo || a >= guard_hi) {
    if (nout < MAXOUT) {
      oaddr[nout] = a;
      olen[nout] = len;
      nout++;
    }
  }
}

static void do_mmap(int i) {
  uint64_t lenp = pick_len_pages();
  uint64_t len = lenp * PAGE;
  int r = (int)below(1000);
  int huge = 0;
  if (r < 15) len = 0;
  else if (r < 60) len = len - 1 - below(PAGE - 1); /* unaligned byte length */
  else if (r < 70) {
    len = 512 * PAGE; /* a 2 MiB multiple: THP-aligned placement when there is no hint */
    lenp = 512;
  } else if (r < 74) {
    static const uint64_t big[] = {1ULL << 40, (1ULL << 47), ~0ULL - 100, 0x7ffffffff000ULL + 1};
    len = big[below(4)];
    huge = 1;
  }

  int use_memfd = !huge && chance(15) ? (chance(25) ? 2 : 1) : 0;
  unsigned long prot = pick_prot(1) & ~(unsigned long)(PROT_GROWSDOWN | PROT_GROWSUP);
  if (chance(2)) prot |= PROT_GROWSDOWN; /* mmap ignores unknown prot bits */

  unsigned long flags;
  int t = (int)below(100);
  if (t < 62) flags = MAP_PRIVATE;
  else if (t < 92) flags = MAP_SHARED;
  else if (t < 94) flags = MAP_SHARED_VALIDATE;
  else if (t < 96) flags = MAP_DROPPABLE;
  else {
    static const unsigned long bad[] = {0, 0x4, 0x7, 0xf};
    flags = bad[below(4)];
  }
  if (ospke && (prot & 7) == PROT_EXEC) prot |= PROT_READ;
  if (!use_memfd) flags |= MAP_ANONYMOUS;
  if (chance(8)) flags |= MAP_NORESERVE;
  if (chance(5)) flags |= MAP_STACK;
  if (chance(3)) flags |= MAP_GROWSDOWN;
  if (!huge && chance(4)) flags |= MAP_POPULATE;
  if (!huge && chance(2)) flags |= MAP_LOCKED;
  if (chance(1)) flags |= 0x4000000; /* MAP_UNINITIALIZED: ignored */

  uint64_t addr = 0;
  int a = (int)below(100);
  uint64_t fitp = lenp > wpages ? 0 : wpages - lenp;
  if (a < 28) {
    addr = 0;
  } else if (a < 68) {
    addr = win_start + below(wpages) * PAGE;
    if (chance(10)) addr += 1 + below(PAGE - 1);
  } else if (a < 70) {
    addr = chance(50) ? 0x800 : 0x1234; /* below mmap_min_addr / tiny hints */
  } else if (a < 71) {
    /* A 2 MiB-aligned hint below the guards: afterwards a free gap ends on a PMD boundary, which
     * THP-aligned placement treats specially. */
    addr = (guard_lo & ~(uint64_t)(512 * PAGE - 1)) - 512 * PAGE;
  } else if (!huge && lenp <= wpages) {
    /* MAP_FIXED (or NOREPLACE): strictly inside the window */
    uint64_t p = pick_page();
    if (p > fitp) p = fitp;
    addr = win_start + p * PAGE;
    flags |= chance(85) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
    if (chance(5)) addr += 1 + below(PAGE - 1);
  } else {
    addr = 0;
  }
  /* Huge lengths: never writable-private (overcommit accounting is not modelled) and never
   * populated; that is guaranteed above for populate, here for prot. */
  if (huge && (flags & MAP_SHARED) == 0) prot &= ~(unsigned long)PROT_WRITE;
  if (huge && (flags & MAP_SHARED)) flags |= MAP_NORESERVE;
  if (len == 512 * PAGE && (flags & (MAP_LOCKED | MAP_POPULATE))) flags &= ~(unsigned long)(MAP_LOCKED | MAP_POPULATE);

  uint64_t off = 0;
  if (use_memfd) {
    uint64_t maxo = MEMFD_PAGES > lenp ? MEMFD_PAGES - lenp : 0;
    off = below(maxo + 1) * PAGE;
    /* Often continue the file offsets of a memfd VMA just below (or above) a fixed address, so
     * that file VMAs can merge. */
    if ((flags & MAP_FIXED) && chance(60)) {
      /* right above or below a memfd VMA */
      int cand[MAXV], nc = 0;
      for (int j = 0; j < nv; j++)
        if (vkind[j] == 'm') cand[nc++] = j;
      if (nc > 0 && (addr & (PAGE - 1)) == 0) {
        int j = cand[below((uint64_t)nc)];
        if (chance(50) && vend[j] + lenp * PAGE <= win_end) addr = vend[j];
        else if (vstart[j] >= win_start + lenp * PAGE) addr = vstart[j] - lenp * PAGE;
      }
      uint64_t a0 = addr & ~(PAGE - 1);
      for (int j = 0; j < nv; j++) {
        if (vkind[j] != 'm') continue;
        uint64_t o = 0;
        if (vend[j] == a0) o = voff[j] + (vend[j] - vstart[j]);
        else if (vstart[j] == a0 + lenp * PAGE && voff[j] >= lenp * PAGE) o = voff[j] - lenp * PAGE;
        else continue;
        if (o / PAGE + lenp <= MEMFD_PAGES) off = o;
        if (chance(60)) { /* same protection and sharing as that VMA: a merge candidate */
          prot = (vperm[j][0] == 'r' ? PROT_READ : 0) | (vperm[j][1] == 'w' ? PROT_WRITE : 0) |
                 (vperm[j][2] == 'x' ? PROT_EXEC : 0);
          flags = (flags & ~(unsigned long)MAP_TYPE) | (vperm[j][3] == 's' ? MAP_SHARED : MAP_PRIVATE);
        }
        break;
      }
    }
  }

  errno = 0;
  int fd = use_memfd == 2 ? memfd_ro : use_memfd ? memfd : -1;
  void *res = mmap((void *)addr, len, (int)prot, (int)flags, fd, (off_t)off);
  int err = errno;
  long rv = res == MAP_FAILED ? -1 : (long)res;
  put_s("C ");
  put_dec((uint64_t)i);
  put_s(" mmap ");
  put_hex(addr);
  put_c(' ');
  put_hex(len);
  put_c(' ');
  put_hex(prot);
  put_c(' ');
  put_hex(flags);
  put_s(use_memfd == 2 ? " r " : use_memfd ? " m " : " - ");
  put_hex(off);
  put_s(" = ");
  put_res(rv, res == MAP_FAILED ? err : 0);
  put_c('\n');
  if (res != MAP_FAILED) note_out((uint64_t)rv, (len + PAGE - 1) & ~(PAGE - 1));
}

/* A page inside a mapped window VMA most of the time (its first page half of those times). */
static uint64_t pick_mapped_page(void) {
  if (nv > 0 && chance(70)) {
    int j = (int)below((uint64_t)nv);
    uint64_t a = chance(50) ? vstart[j] : vstart[j] + below((vend[j] - vstart[j]) / PAGE) * PAGE;
    return (a - win_start) / PAGE;
  }
  return pick_page();
}

static void do_mprotect(int i) {
  uint64_t p = pick_mapped_page();
  uint64_t start = win_start + p * PAGE;
  uint64_t len;
  int r = (int)below(100);
  if (r < 45 && nv > 0) {
    /* end at a boundary */
    int j = (int)below((uint64_t)nv);
    uint64_t e = chance(50) ? vend[j] : vstart[j];
    len = e > start ? e - start : PAGE * (1 + below(8));
  } else {
    len = pick_len_pages() * PAGE;
  }
  if (start + len > win_end) len = win_end - start;
  if (chance(8)) len -= 1 + below(PAGE - 1); /* rounded up by the kernel */
  if (chance(3)) len = 0;
  if (chance(2)) len = ~0ULL - PAGE + 1; /* end wraps: ENOMEM before anything */
  if (chance(3)) start += 1 + below(PAGE - 1);
  unsigned long prot = pick_prot(1);
  errno = 0;
  int rv = mprotect((void *)start, len, (int)prot);
  int err = errno;
  put_s("C ");
  put_dec((uint64_t)i);
  put_s(" mprotect ");
  put_hex(start);
  put_c(' ');
  put_hex(len);
  put_c(' ');
  put_hex(prot);
  put_s(" = ");
  put_res(rv, rv ? err : 0);
  put_c('\n');
}

static void do_munmap(int i) {
  uint64_t p = pick_mapped_page();
  uint64_t start = win_start + p * PAGE;
  uint64_t len;
  if (chance(40) && nv > 0) {
    int j = (int)below((uint64_t)nv);
    uint64_t e = vend[j];
    len = e > start ? e - start : PAGE * (1 + below(8));
  } else {
    len = pick_len_pages() * PAGE;
  }
  if (start + len > win_end) len = win_end - start;
  if (chance(8) && len > PAGE) len -= 1 + below(PAGE - 1);
  if (chance(3)) len = 0;
  if (chance(2)) len = ~0ULL - 5; /* EINVAL: beyond TASK_SIZE */
  if (chance(3)) start += 1 + below(PAGE - 1);
  errno = 0;
  int rv = munmap((void *)start, len);
  int err = errno;
  put_s("C ");
  put_dec((uint64_t)i);
  put_s(" munmap ");
  put_hex(start);
  put_c(' ');
  put_hex(len);
  put_s(" = ");
  put_res(rv, rv ? err : 0);
  put_c('\n');
}

/* Write one byte to a page of a writable window VMA (assigns an anon_vma to private ones).
 * Returns 0 if no writable VMA exists. */
static int do_touch(int i) {
  int cand[MAXV], nc = 0;
  for (int j = 0; j < nv; j++)
    if (vperm[j][1] == 'w') cand[nc++] = j;
  if (nc == 0) return 0;
  int j = cand[below((uint64_t)nc)];
  uint64_t pages = (vend[j] - vstart[j]) / PAGE;
  uint64_t addr = vstart[j] + below(pages) * PAGE;
  *(volatile char *)addr = 1;
  put_s("C ");
  put_dec((uint64_t)i);
  put_s(" touch ");
  put_hex(addr);
  put_s(" = 0\n");
  return 1;
}

static void cleanup(void) {
  if (munmap((void *)win_start, win_end - win_start)) die("munmap window");
  for (int j = 0; j < nout; j++)
    if (munmap((void *)oaddr[j], olen[j])) die("munmap out");
  nout = 0;
}

static uint64_t parse_dec(const char *s) {
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
  return v;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    put_s("usage: mmops FIRST_SEED NSEEDS NCALLS [WINDOW_PAGES]\n");
    flush_out();
    return 1;
  }
  uint64_t first = parse_dec(argv[1]);
  uint64_t nseeds = parse_dec(argv[2]);
  uint64_t ncalls = parse_dec(argv[3]);
  wpages = argc > 4 ? parse_dec(argv[4]) : 512;
  if (wpages < 8) wpages = 8;

  detect_pkeys();
  memfd = (int)syscall(SYS_memfd_create, "ptesim", 0);
  if (memfd < 0) die("memfd_create");
  if (ftruncate(memfd, (off_t)(MEMFD_PAGES * PAGE))) die("ftruncate");
  {
    char path[64] = "/proc/self/fd/";
    char num[16];
    int n = 0, v = memfd;
    do {
      num[n++] = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    size_t l = strlen(path);
    while (n) path[l++] = num[--n];
    path[l] = 0;
    memfd_ro = open(path, O_RDONLY);
    if (memfd_ro < 0) die("open memfd read-only");
  }

  /* The kernel rounds a low hint up to mmap_min_addr: a one-page probe shows where that is. */
  void *probe = mmap((void *)PAGE, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe == MAP_FAILED) die("probe");
  min_addr = (uint64_t)probe;
  if (min_addr >= (1ULL << 32)) min_addr = 65536; /* hint refused: keep the usual value */
  munmap(probe, PAGE);

  char *base = mmap(0, (wpages + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) die("reserve");
  if (mmap(base, PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) die("guard lo");
  if (mmap(base + (wpages + 1) * PAGE, PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
    die("guard hi");
  guard_lo = (uint64_t)base;
  win_start = guard_lo + PAGE;
  win_end = win_start + wpages * PAGE;
  guard_hi = win_end + PAGE;
  if (munmap((void *)win_start, wpages * PAGE)) die("clear window");

  for (uint64_t s = first; s < first + nseeds; s++) {
    rs = s * 0x2545f4914f6cdd1dULL + 12345;
    put_s("S ");
    put_dec(s);
    put_c(' ');
    put_dec(ncalls);
    put_c('\n');
    dump_full('M');
    put_s("G ");
    put_hex(guard_lo);
    put_c(' ');
    put_hex(win_start);
    put_c(' ');
    put_hex(win_end);
    put_c(' ');
    put_hex(guard_hi);
    put_c(' ');
    put_hex(min_addr);
    put_s(" /memfd:ptesim (deleted)\n");
    nv = 0;
    for (int i = 0; i < (int)ncalls; i++) {
      int op = (int)below(100);
      if (nv < 3 && op < 50) op = 0; /* fill an empty window first */
      if (op < 34) do_mmap(i);
      else if (op < 68) do_mprotect(i);
      else if (op < 84) do_munmap(i);
      else if (!do_touch(i)) do_mprotect(i);
      dump_window();
    }
    dump_full('F');
    put_s("X\n");
    cleanup();
  }
  flush_out();
  return 0;
}
