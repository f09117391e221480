/*
 * real-mprotect.c: the real-kernel half of the ptesim benchmark.
 *
 * Maps N pages of private anonymous memory (default 262144 = 1 GiB of 4 KiB pages), asks for no
 * transparent huge pages (MADV_NOHUGEPAGE) so that every page has its own PTE, populates every page
 * by writing one byte to it, then times R repetitions (default 20) of
 *     mprotect(PROT_READ) ; mprotect(PROT_READ | PROT_WRITE)
 * over the whole range with CLOCK_MONOTONIC. Each mprotect call is one sample and touches N PTEs,
 * so a sample's cost per PTE is its duration / N. One untimed warm-up pair runs first.
 *
 * Before timing, /proc/self/smaps is read for the mappings covering the range: the range must be
 * fully resident (Rss) and not backed by huge pages (AnonHugePages == 0), or the figures would not
 * be a cost per 4 KiB PTE; either failure exits non-zero.
 *
 * Usage: real-mprotect [PAGES [REPS]]
 * Output (one line of JSON on stdout):
 *   {"pages":N,"reps":R,"best_ns_per_pte":..,"median_ns_per_pte":..,"maxrss_kb":..,"thp_kb":..}
 * Errors: a message on stderr and exit status 1 (2 for bad arguments).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "real-mprotect: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *msg) {
  fprintf(stderr, "real-mprotect: %s\n", msg);
  exit(1);
}

static uint64_t parse_positive(const char *s, const char *name, uint64_t max) {
  char *end = NULL;
  unsigned long long v = 0;
  errno = 0;
  if (s[0] >= '0' && s[0] <= '9') v = strtoull(s, &end, 10); /* strtoull alone accepts "-1", " 1" */
  if (end != NULL && errno == 0 && *end == '\0' && v != 0 && v <= max) return (uint64_t)v;
  fprintf(stderr, "real-mprotect: %s must be an integer in 1..%" PRIu64 ", got \"%s\"\n", name, max, s);
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime(CLOCK_MONOTONIC)");
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/*
 * Sums the Rss and AnonHugePages (kB) of every /proc/self/smaps mapping that overlaps
 * [lo, hi). Returns the number of overlapping mappings found.
 */
static int smaps_range(uintptr_t lo, uintptr_t hi, uint64_t *rss_kb, uint64_t *thp_kb) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) die("fopen(/proc/self/smaps)");
  char line[512];
  int in_range = 0, found = 0;
  *rss_kb = 0;
  *thp_kb = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    uintptr_t start, end;
    unsigned long long kb;
    /* A mapping header looks like "7f12a0000000-7f12e0000000 rw-p 00000000 00:00 0". */
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &start, &end) == 2) {
      in_range = start < hi && end > lo;
      found += in_range;
    } else if (in_range && sscanf(line, "Rss: %llu kB", &kb) == 1) {
      *rss_kb += kb;
    } else if (in_range && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1) {
      *thp_kb += kb;
    }
  }
  if (ferror(f)) die("reading /proc/self/smaps");
  fclose(f);
  return found;
}

int main(int argc, char **argv) {
  if (argc > 3) {
    fprintf(stderr, "usage: %s [PAGES [REPS]]\n", argv[0]);
    return 2;
  }
  long pagesz_l = sysconf(_SC_PAGESIZE);
  if (pagesz_l <= 0) die("sysconf(_SC_PAGESIZE)");
  uint64_t pagesz = (uint64_t)pagesz_l;
  uint64_t pages = argc > 1 ? parse_positive(argv[1], "PAGES", (SIZE_MAX / 2) / pagesz) : 262144;
  uint64_t reps = argc > 2 ? parse_positive(argv[2], "REPS", 1000000) : 20;
  size_t len = (size_t)(pages * pagesz);

  char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap");
  if (madvise(base, len, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
  for (uint64_t i = 0; i < pages; i++) ((volatile char *)base)[i * pagesz] = 1;

  uint64_t rss_kb, thp_kb;
  uintptr_t lo = (uintptr_t)base, hi = lo + len;
  if (smaps_range(lo, hi, &rss_kb, &thp_kb) == 0) fail("the mapped range is not in /proc/self/smaps");
  if (thp_kb != 0) {
    fprintf(stderr, "real-mprotect: %" PRIu64 " kB of the range is backed by transparent huge pages\n", thp_kb);
    return 1;
  }
  if (rss_kb < pages * (pagesz / 1024)) {
    fprintf(stderr, "real-mprotect: only %" PRIu64 " of %" PRIu64 " kB of the range is resident\n", rss_kb,
            pages * (pagesz / 1024));
    return 1;
  }

  if (mprotect(base, len, PROT_READ) != 0) die("mprotect(PROT_READ) (warm-up)");
  if (mprotect(base, len, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE) (warm-up)");

  size_t nsamples = (size_t)(2 * reps);
  double *ns_per_pte = malloc(nsamples * sizeof *ns_per_pte);
  if (ns_per_pte == NULL) die("malloc");
  for (uint64_t r = 0; r < reps; r++) {
    uint64_t t0 = now_ns();
    if (mprotect(base, len, PROT_READ) != 0) die("mprotect(PROT_READ)");
    uint64_t t1 = now_ns();
    if (mprotect(base, len, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE)");
    uint64_t t2 = now_ns();
    ns_per_pte[2 * r] = (double)(t1 - t0) / (double)pages;
    ns_per_pte[2 * r + 1] = (double)(t2 - t1) / (double)pages;
  }
  /* The range must still be writable and its contents intact after the last round trip. */
  if (base[0] != 1 || base[len - pagesz] != 1) fail("page contents changed across mprotect");
  base[0] = 2;

  qsort(ns_per_pte, nsamples, sizeof *ns_per_pte, cmp_double);
  double best = ns_per_pte[0];
  double median = (ns_per_pte[(nsamples - 1) / 2] + ns_per_pte[nsamples / 2]) / 2.0;

  /* Check again after timing: khugepaged must not have collapsed the range meanwhile. */
  if (smaps_range(lo, hi, &rss_kb, &thp_kb) == 0) fail("the mapped range vanished from /proc/self/smaps");
  if (thp_kb != 0) {
    fprintf(stderr, "real-mprotect: %" PRIu64 " kB of the range became transparent huge pages\n", thp_kb);
    return 1;
  }

  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) die("getrusage");
  if (munmap(base, len) != 0) die("munmap");
  free(ns_per_pte);

  if (printf("{\"pages\":%" PRIu64 ",\"reps\":%" PRIu64
             ",\"best_ns_per_pte\":%.3f,\"median_ns_per_pte\":%.3f,\"maxrss_kb\":%ld,\"thp_kb\":%" PRIu64
             "}\n",
             pages, reps, best, median, ru.ru_maxrss, thp_kb) < 0 ||
      fflush(stdout) != 0)
    die("writing stdout");
  return 0;
}
