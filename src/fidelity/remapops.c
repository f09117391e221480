/*
 * remapops: ground truth for ptesim's brk and mremap (AddressSpace.brk / AddressSpace.mremap in
 * src/kernel/vma.ts), in the manner of mmops.c.
 *
 * Usage: remapops FIRST_SEED NSEEDS NCALLS
 *
 * Two areas are used: a window of WIN pages between two one-page shared-anonymous PROT_NONE
 * guards (shared anonymous VMAs never merge, so nothing in the window merges with the rest of
 * the process), and the program break area [start_brk, start_brk + HEAP pages). For every seed a
 * seeded random sequence of anonymous mmap (MAP_FIXED / MAP_FIXED_NOREPLACE, private or shared),
 * munmap, mprotect, page writes ("touch"), brk and mremap (every flag combination, including
 * invalid ones, unaligned arguments, zero lengths, ranges crossing VMAs) is performed in those
 * areas, printing each call, its result and the maps lines of both areas. Calls never reach past
 * an area's end, so the guards stay intact. mremap moves without MREMAP_FIXED go wherever the
 * kernel puts them; their ranges are printed so the harness can place them likewise, and they
 * are unmapped at the end of the sequence.
 *
 * Output (numbers in hex unless noted):
 *   S <seed(dec)>                      start of a sequence
 *   M <maps line>                      full /proc/self/maps before the first call
 *   A <win_start> <win_end> <start_brk> <brk> <heap_end> <mmap_min_addr>
 *   C <i(dec)> mmap <addr> <len> <prot> <flags> = <result>
 *   C <i(dec)> munmap <addr> <len> = <result>
 *   C <i(dec)> mprotect <addr> <len> <prot> = <result>
 *   C <i(dec)> touch <addr> = <result>
 *   C <i(dec)> brk <addr> = <result>
 *   C <i(dec)> mremap <addr> <old_len> <new_len> <flags> <new_addr> = <result>
 *   W <maps line>                      lines intersecting the window or the break area
 *   F <maps line>                      full /proc/self/maps after the last call
 *   X                                  end of the sequence
 * A result is "-<errno(dec)>" on failure, else the value returned (brk: the new break).
 *
 * No stdio, no malloc: nothing but the calls under test changes the address space.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PAGE 4096UL
#define WIN 192UL
#define HEAP 96UL

#include "harness.h"

static uint64_t win_start, win_end, start_brk, heap_end;

/* Writable VMAs of the two areas as last printed (touch targets). */
#define MAXV 512
static uint64_t wstart[MAXV], wend[MAXV];
static int nw;
/* All VMAs of the two areas as last printed (mremap sources). */
static uint64_t vstart[MAXV], vend[MAXV];
static int nv;

/* Print the lines intersecting the areas with tag `tag` (all lines if all). */
static void dump(char tag, int all) {
  read_maps();
  nw = 0;
  nv = 0;
  const char *p = maps;
  while (*p) {
    const char *line = p;
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *q = p;
    uint64_t s = parse_hex(&q);
    q++;
    uint64_t en = parse_hex(&q);
    q++;
    int in = (en > win_start && s < win_end) || (en > start_brk && s < heap_end);
    int guard = en > win_start && s < win_start ? 1 : s < win_end && en > win_end;
    if (in && !guard && nv < MAXV) {
      vstart[nv] = s;
      vend[nv] = en;
      nv++;
    }
    if (in && q[1] == 'w' && nw < MAXV) {
      wstart[nw] = s < win_start && en > win_start ? win_start : s;
      wend[nw] = en;
      nw++;
    }
    if (all || in) {
      put_c(tag);
      put_c(' ');
      if (outlen + n + 1 > sizeof(out)) flush_out();
      memcpy(out + outlen, line, n);
      outlen += n;
      put_c('\n');
    }
    p += n + (e ? 1 : 0);
  }
}

/* xorshift64* */
static uint64_t rs;
static uint64_t rnd(void) {
  rs ^= rs >> 12;
  rs ^= rs << 25;
  rs ^= rs >> 27;
  return rs * 0x2545F4914F6CDD1DULL;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }

static sigjmp_buf touch_jmp;
static void on_segv(int sig) {
  (void)sig;
  siglongjmp(touch_jmp, 1);
}

/* Ranges mremap moved outside the areas, unmapped at the end of the sequence. */
#define MAXO 256
static uint64_t ostart[MAXO], olen[MAXO];
static int no;

static const int PROTS[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
                            PROT_READ | PROT_WRITE | PROT_EXEC, PROT_WRITE};
static const int RFLAGS[] = {MREMAP_MAYMOVE,
                             MREMAP_MAYMOVE,
                             0,
                             MREMAP_MAYMOVE | MREMAP_FIXED,
                             MREMAP_MAYMOVE | MREMAP_FIXED,
                             MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
                             MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
                             MREMAP_FIXED,
                             MREMAP_DONTUNMAP,
                             MREMAP_MAYMOVE | 8};

/* A page-aligned [addr, addr + len) inside one area, len <= maxpages pages. */
static void pick_range(uint64_t maxpages, uint64_t *addr, uint64_t *len) {
  uint64_t lo = win_start, hi = win_end;
  if (below(5) == 0) {
    lo = start_brk;
    hi = heap_end;
  }
  uint64_t pages = (hi - lo) / PAGE;
  uint64_t p = below(pages);
  uint64_t n = 1 + below(maxpages);
  if (p + n > pages) n = pages - p;
  *addr = lo + p * PAGE;
  *len = n * PAGE;
}

static int in_areas(uint64_t a, uint64_t len) {
  return (a >= win_start && a + len <= win_end) || (a >= start_brk && a + len <= heap_end);
}

int main(int argc, char **argv) {
  if (argc < 4) die("usage: remapops FIRST NSEEDS NCALLS");
  uint64_t first = 0, nseeds = 0, ncalls = 0;
  for (const char *p = argv[1]; *p; p++) first = first * 10 + (uint64_t)(*p - '0');
  for (const char *p = argv[2]; *p; p++) nseeds = nseeds * 10 + (uint64_t)(*p - '0');
  for (const char *p = argv[3]; *p; p++) ncalls = ncalls * 10 + (uint64_t)(*p - '0');

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGBUS, &sa, 0);

  start_brk = (uint64_t)syscall(SYS_brk, 0);
  heap_end = start_brk + HEAP * PAGE;
  char *g = mmap(0, (WIN + 2) * PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g == MAP_FAILED) die("guard mmap");
  if (munmap(g + PAGE, WIN * PAGE)) die("guard munmap");
  win_start = (uint64_t)g + PAGE;
  win_end = win_start + WIN * PAGE;
  uint64_t min_addr = 0;
  {
    int fd = open("/proc/sys/vm/mmap_min_addr", O_RDONLY);
    char b[32];
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
    if (n > 0)
      for (ssize_t i = 0; i < n && b[i] >= '0' && b[i] <= '9'; i++) min_addr = min_addr * 10 + (uint64_t)(b[i] - '0');
    if (fd >= 0) close(fd);
  }

  for (uint64_t seed = first; seed < first + nseeds; seed++) {
    rs = seed * 0x9E3779B97F4A7C15ULL + 1;
    no = 0;
    nv = nw = 0;
    put_s("S ");
    put_dec(seed);
    put_c('\n');
    dump('M', 1);
    put_s("A ");
    put_hex(win_start);
    put_c(' ');
    put_hex(win_end);
    put_c(' ');
    put_hex(start_brk);
    put_c(' ');
    put_hex((uint64_t)syscall(SYS_brk, 0));
    put_c(' ');
    put_hex(heap_end);
    put_c(' ');
    put_hex(min_addr);
    put_c('\n');
    for (uint64_t i = 0; i < ncalls; i++) {
      uint64_t op = below(100);
      uint64_t a, len;
      long r;
      int err;
      put_s("C ");
      put_dec(i);
      if (op < 22) {
        pick_range(12, &a, &len);
        int prot = PROTS[below(6)];
        int flags = (below(3) == 0 ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS |
                    (below(8) == 0 ? MAP_FIXED_NOREPLACE : MAP_FIXED);
        errno = 0;
        r = (long)mmap((void *)a, len, prot, flags, -1, 0);
        err = errno;
        put_s(" mmap ");
        put_hex(a);
        put_c(' ');
        put_hex(len);
        put_c(' ');
        put_hex((uint64_t)prot);
        put_c(' ');
        put_hex((uint64_t)flags);
      } else if (op < 30) {
        pick_range(24, &a, &len);
        errno = 0;
        r = munmap((void *)a, len);
        err = errno;
        put_s(" munmap ");
        put_hex(a);
        put_c(' ');
        put_hex(len);
      } else if (op < 40) {
        pick_range(16, &a, &len);
        int prot = PROTS[below(6)];
        errno = 0;
        r = mprotect((void *)a, len, prot);
        err = errno;
        put_s(" mprotect ");
        put_hex(a);
        put_c(' ');
        put_hex(len);
        put_c(' ');
        put_hex((uint64_t)prot);
      } else if (op < 52) {
        a = 0;
        if (nw > 0) {
          int k = (int)below((uint64_t)nw);
          a = wstart[k] + below((wend[k] - wstart[k]) / PAGE) * PAGE;
        }
        err = 0;
        r = 0;
        if (a == 0) a = win_start;
        if (sigsetjmp(touch_jmp, 1) == 0) {
          *(volatile char *)a = 1;
        } else {
          r = -1;
          err = EFAULT;
        }
        put_s(" touch ");
        put_hex(a);
      } else if (op < 60) {
        uint64_t pages = below(HEAP + 4);
        a = start_brk + pages * PAGE;
        if (below(3) == 0) a += below(PAGE);
        if (below(10) == 0) a = 0;
        if (below(20) == 0) a = start_brk - PAGE;
        if (a > heap_end) a = heap_end;
        errno = 0;
        r = syscall(SYS_brk, a);
        err = 0; /* brk returns the break, no errno */
        put_s(" brk ");
        put_hex(a);
      } else {
        uint64_t old_len, new_len, na, nlen;
        pick_range(16, &a, &old_len);
        if (nv > 0 && below(10) < 7) {
          /* Mostly a range starting in a mapped VMA: at its start, inside, or reaching its end. */
          int k = (int)below((uint64_t)nv);
          uint64_t vp = (vend[k] - vstart[k]) / PAGE;
          uint64_t off = below(3) == 0 ? 0 : below(vp);
          a = vstart[k] + off * PAGE;
          old_len = below(2) == 0 ? (vp - off) * PAGE : (1 + below(vp - off + 2)) * PAGE;
        }
        if (below(8) == 0) old_len = 0;
        new_len = (1 + below(16)) * PAGE;
        if (below(10) == 0) new_len = 0;
        if (below(8) == 0) old_len += below(PAGE);
        if (below(8) == 0) new_len += below(PAGE);
        if (below(20) == 0) a += 1 + below(PAGE - 1);
        int flags = RFLAGS[below(10)];
        if (below(3) == 0) new_len = old_len; /* a pure move: several VMAs may move together */
        pick_range(16, &na, &nlen);
        /* Keep everything that may be unmapped or created inside the areas. */
        uint64_t ao = (old_len + PAGE - 1) & ~(PAGE - 1), an = (new_len + PAGE - 1) & ~(PAGE - 1);
        if (!in_areas(a & ~(PAGE - 1), ao)) old_len = ao = PAGE;
        if (!in_areas(na, an)) {
          na = win_start;
          if (!in_areas(na, an)) new_len = an = PAGE;
        }
        /* Growing in place must not run into the next area's guard: keep the grown range inside. */
        if (!in_areas(a & ~(PAGE - 1), an > ao ? an : ao)) new_len = an = ao ? ao : PAGE;
        errno = 0;
        r = (long)syscall(SYS_mremap, a, old_len, new_len, flags, na);
        err = errno;
        put_s(" mremap ");
        put_hex(a);
        put_c(' ');
        put_hex(old_len);
        put_c(' ');
        put_hex(new_len);
        put_c(' ');
        put_hex((uint64_t)flags);
        put_c(' ');
        put_hex(na);
        if (r != -1 && !in_areas((uint64_t)r, an) && no < MAXO) {
          ostart[no] = (uint64_t)r;
          olen[no] = an;
          no++;
        }
      }
      put_s(" = ");
      put_res(r, err);
      put_c('\n');
      dump('W', 0);
    }
    dump('F', 1);
    put_s("X\n");
    /* Clean up: the window's contents, the break, the moved-out ranges. */
    if (munmap((void *)win_start, WIN * PAGE)) die("cleanup munmap");
    syscall(SYS_brk, start_brk);
    if (munmap((void *)start_brk, (HEAP + 32) * PAGE)) die("cleanup heap");
    for (int k = 0; k < no; k++) munmap((void *)ostart[k], olen[k]);
    flush_out();
  }
  flush_out();
  return 0;
}
