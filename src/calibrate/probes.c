/*
 * probes.c: what `ptesim calibrate` measures on the real kernel, one JSON object per line.
 *
 *   probes [--quick] [--sweep-only] [--no-rt] SIZE...
 *
 * --quick: fewer repetitions (for tests); --sweep-only: the clock and the mprotect sweep only;
 * --no-rt: stay in the normal scheduling class.
 *
 * - sched: so that a busy machine disturbs the timed calls as little as it can, the probes pin
 *   themselves to the CPU they start on and, when allowed (CAP_SYS_NICE), run as SCHED_FIFO
 *   priority 1: no normal task preempts a timed call, which on a machine at load 15 every call
 *   of several ms otherwise is (and the preempting task evicts the caches the next call would
 *   find). They rest 20 ms after every 200 ms of work, so the kernel's real-time throttling
 *   (95% of each second) never stops them and the other CPUs' tasks get this one too. The
 *   shootdown probe runs in the normal class (its second thread must be able to run anywhere).
 *   One "sched" line says what was obtained.
 * - clock: the timestamp counter's rate, from rdtsc against CLOCK_MONOTONIC over ~200 ms (x86-64),
 *   and /proc/cpuinfo's "cpu MHz" (the fallback elsewhere).
 * - mprotect: for each SIZE (pages), a fresh private anonymous mapping of SIZE pages between two
 *   PROT_NONE guard pages (so it is one VMA that merges with nothing), MADV_NOHUGEPAGE, every page
 *   written once (populated, one 4 KiB PTE each: checked in /proc/self/smaps), then repeated pairs
 *   mprotect(PROT_READ) ; mprotect(PROT_READ|PROT_WRITE), each call timed alone with
 *   CLOCK_MONOTONIC and with the thread's CPU time (CLOCK_THREAD_CPUTIME_ID: a call preempted by
 *   other work, as every call of several ms is on a busy machine, is not charged the time it
 *   waited); each clock's own cost, measured, is subtracted. Median and minimum per direction
 *   and clock. The mapping's offset in its 2 MiB page table is reported, so the model can map at
 *   the same offset (it decides how many page tables the range touches).
 * - syscall: getppid() (a bare system call) and mprotect(addr, 0, ...) (returns before any lock).
 * - nochange: mprotect of one populated page to the protection it has (mmap_lock, VMA lookup,
 *   mmu_gather, no PTE touched).
 * - munmap: munmap of SIZE populated pages around the 33-page flush ceiling.
 * - fault: first write to an untouched page (demand-zero minor fault), first read (maps the zero
 *   page), and a write after a read (write-protect fault: copy-on-write of the zero page).
 * - shootdown: mprotect of one page read-only and back while no other thread runs, then while a
 *   second thread, pinned to another CPU when possible, keeps reading the page.
 * - cold: mprotect of 1,024 and 8,192 populated pages (whose PTEs and struct pages fit in the
 *   caches many times over) timed warm (right after the same call) and cold (right after reading
 *   a buffer of max(64 MiB, 4 x the last-level cache, at most 1 GiB) that evicts them). What the cold call adds
 *   per extra page between the two sizes is what one page's metadata lines cost when they come
 *   from memory; the difference of sizes removes what eviction adds once per call (kernel text,
 *   the VMA, upper page tables, TLB entries).
 *
 * Errors: a message on stderr and exit 1 (2 for bad arguments).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

static long pg;
static int quick, sweep_only, no_rt;

static void die(const char *what) {
  fprintf(stderr, "probes: %s: %s\n", what, strerror(errno));
  exit(1);
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Sorts v and returns its median; *min gets the smallest. */
static double median(uint64_t *v, size_t n, double *min) {
  qsort(v, n, sizeof *v, cmp_u64);
  *min = (double)v[0];
  return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

/* The q-quantile (0..1) of v, which median() has sorted. */
static double quantile(const uint64_t *v, size_t n, double q) {
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return (double)v[i < n ? i : n - 1];
}

static inline uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The cost of the timing itself: two back-to-back clock reads. */
static double clock_overhead;
/* The same for the thread's CPU time around the mprotect sweep's calls (two wall reads inside). */
static double cpu_clock_overhead;

static void measure_cpu_clock_overhead(void) {
  enum { N = 2001 };
  static uint64_t v[N];
  for (int i = 0; i < N; i++) {
    uint64_t c0 = cpu_ns();
    uint64_t t0 = now_ns();
    uint64_t t1 = now_ns();
    uint64_t c1 = cpu_ns();
    (void)t0;
    (void)t1;
    v[i] = c1 - c0;
  }
  double mn;
  cpu_clock_overhead = median(v, N, &mn);
}

static void measure_clock_overhead(void) {
  enum { N = 20001 };
  static uint64_t v[N];
  for (int i = 0; i < N; i++) {
    uint64_t t0 = now_ns();
    uint64_t t1 = now_ns();
    v[i] = t1 - t0;
  }
  double mn;
  clock_overhead = median(v, N, &mn);
}

static void probe_clock(void) {
  double mhz = 0;
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f != NULL) {
    char line[256];
    while (fgets(line, sizeof line, f) != NULL)
      if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) break;
    fclose(f);
  }
  double tsc_hz = 0, interval_ns = 0;
#ifdef HAVE_TSC
  /* Best of three ~70 ms intervals: a preemption inside one only lengthens both ends alike. */
  for (int k = 0; k < 3; k++) {
    uint64_t n0 = now_ns();
    uint64_t c0 = __rdtsc();
    while (now_ns() - n0 < 70000000u) {
    }
    uint64_t c1 = __rdtsc();
    uint64_t n1 = now_ns();
    double hz = (double)(c1 - c0) * 1e9 / (double)(n1 - n0);
    if (k == 0 || hz < tsc_hz) tsc_hz = hz;
    interval_ns += (double)(n1 - n0);
  }
#endif
  printf("{\"kind\":\"clock\",\"tsc_hz\":%.0f,\"interval_ns\":%.0f,\"cpuinfo_mhz\":%.3f,"
         "\"clock_overhead_ns\":%.1f}\n",
         tsc_hz, interval_ns, mhz, clock_overhead);
}

static int rt_on;   /* SCHED_FIFO obtained */
static int home_cpu = -1;
static uint64_t last_rest;

/* Pins the process to the CPU it runs on and asks for SCHED_FIFO; prints what it got. */
static void sched_setup(void) {
  int cpu = sched_getcpu();
  int pinned = 0;
  if (cpu >= 0) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pinned = sched_setaffinity(0, sizeof s, &s) == 0;
    home_cpu = cpu;
  }
  const char *why = "--no-rt";
  if (!no_rt) {
    struct sched_param sp = {.sched_priority = 1};
    rt_on = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
    why = rt_on ? "" : strerror(errno);
  }
  last_rest = now_ns();
  printf("{\"kind\":\"sched\",\"policy\":\"%s\",\"cpu\":%d,\"pinned\":%s,\"why\":\"%s\"}\n",
         rt_on ? "fifo" : "other", cpu, pinned ? "true" : "false", why);
  fflush(stdout);
}

/* Back to the normal class (and every CPU) or to SCHED_FIFO on the home CPU. */
static void sched_normal(int normal) {
  if (home_cpu < 0) return;
  cpu_set_t s;
  CPU_ZERO(&s);
  if (normal) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++) CPU_SET((int)c, &s);
  } else
    CPU_SET(home_cpu, &s);
  (void)sched_setaffinity(0, sizeof s, &s);
  if (rt_on) {
    struct sched_param sp = {.sched_priority = normal ? 0 : 1};
    (void)sched_setscheduler(0, normal ? SCHED_OTHER : SCHED_FIFO, &sp);
  }
}

/* Between timed calls: 20 ms off the CPU after every 200 ms on it (see "sched" above). */
static void rest_if_due(void) {
  if (!rt_on) return;
  uint64_t t = now_ns();
  if (t - last_rest < 200000000u) return;
  usleep(20000);
  last_rest = now_ns();
}

/* Sums Rss and AnonHugePages (kB) of the smaps entries overlapping [lo, hi). */
static void smaps_range(uintptr_t lo, uintptr_t hi, uint64_t *rss_kb, uint64_t *thp_kb) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) die("fopen(/proc/self/smaps)");
  char line[512];
  int in = 0;
  *rss_kb = *thp_kb = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    uintptr_t s, e;
    unsigned long long kb;
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &s, &e) == 2)
      in = s < hi && e > lo;
    else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1)
      *rss_kb += kb;
    else if (in && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
      *thp_kb += kb;
  }
  fclose(f);
}

/* A populated private anonymous mapping of n pages between PROT_NONE guards. */
static char *map_populated(uint64_t n, int touch) {
  size_t len = (size_t)n * (size_t)pg;
  char *g = mmap(NULL, len + 2 * (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (g == MAP_FAILED) die("mmap (guard)");
  char *b = mmap(g + pg, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (b == MAP_FAILED) die("mmap");
  if (madvise(b, len, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
  if (touch)
    for (uint64_t i = 0; i < n; i++) ((volatile char *)b)[i * (uint64_t)pg] = 1;
  return b;
}

static void unmap_guarded(char *b, uint64_t n) {
  if (munmap(b - pg, (size_t)(n + 2) * (size_t)pg) != 0) die("munmap");
}

static void check_resident(char *b, uint64_t n) {
  uint64_t rss, thp;
  smaps_range((uintptr_t)b, (uintptr_t)b + n * (uint64_t)pg, &rss, &thp);
  if (thp != 0) {
    fprintf(stderr, "probes: %" PRIu64 " kB of the range is backed by transparent huge pages\n", thp);
    exit(1);
  }
  if (rss < n * (uint64_t)(pg / 1024)) {
    fprintf(stderr, "probes: only %" PRIu64 " of %" PRIu64 " kB of the range is resident\n", rss,
            n * (uint64_t)(pg / 1024));
    exit(1);
  }
}

static uint64_t reps_for(uint64_t n) {
  uint64_t budget = quick ? (1u << 18) : (1u << 21); /* PTE changes per direction */
  uint64_t r = budget / n;
  uint64_t lo = quick ? 3 : 24, hi = quick ? 301 : 2001;
  return r < lo ? lo : r > hi ? hi : r;
}

static double corrected(double ns) {
  double c = ns - clock_overhead;
  return c > 0 ? c : 0;
}

static double cpu_corrected(double ns) {
  double c = ns - cpu_clock_overhead;
  return c > 0 ? c : 0;
}

/* One size of the sweep: its mapping (kept across rounds when memory allows) and its samples. */
struct sweep_size {
  uint64_t n, reps, done;
  char *b;
  uintptr_t offset;
  uint64_t *ro, *rw, *cro, *crw;
};

/* `reps` timed pairs of the size's mprotect calls, appended to its samples. */
static void time_mprotect(struct sweep_size *z, uint64_t reps) {
  char *b = z->b;
  size_t len = (size_t)z->n * (size_t)pg;
  for (int w = 0; w < 2; w++) {
    if (mprotect(b, len, PROT_READ) != 0) die("mprotect(PROT_READ) (warm-up)");
    if (mprotect(b, len, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE) (warm-up)");
  }
  for (uint64_t r = 0; r < reps && z->done < z->reps; r++, z->done++) {
    rest_if_due();
    uint64_t c0 = cpu_ns();
    uint64_t t0 = now_ns();
    if (mprotect(b, len, PROT_READ) != 0) die("mprotect(PROT_READ)");
    uint64_t t1 = now_ns();
    uint64_t c1 = cpu_ns();
    uint64_t t2 = now_ns();
    if (mprotect(b, len, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE)");
    uint64_t t3 = now_ns();
    uint64_t c2 = cpu_ns();
    z->ro[z->done] = t1 - t0;
    z->rw[z->done] = t3 - t2;
    z->cro[z->done] = c1 - c0;
    z->crw[z->done] = c2 - c1; /* also spans t2's read, as c0..c1 spans t1's */
  }
  if (b[0] != 1 || b[len - (size_t)pg] != 1) {
    fprintf(stderr, "probes: page contents changed across mprotect\n");
    exit(1);
  }
}

/*
 * The sweep, in rounds: each round times every size in turn (a share of its repetitions), so
 * that a busy spell of the machine falls on all sizes alike rather than on the one being timed.
 * The mappings stay for all rounds when they add up to at most 3 GiB; else one round.
 */
static void probe_sweep(const uint64_t *sizes, int nsizes) {
  static struct sweep_size zs[64];
  uint64_t total = 0;
  for (int i = 0; i < nsizes; i++) total += sizes[i] * (uint64_t)pg;
  int keep = total <= ((uint64_t)3 << 30);
  int rounds = keep ? (quick ? 2 : 6) : 1;
  for (int i = 0; i < nsizes; i++) {
    struct sweep_size *z = &zs[i];
    z->n = sizes[i];
    z->reps = reps_for(z->n);
    z->done = 0;
    z->b = NULL;
    z->ro = malloc(z->reps * sizeof *z->ro);
    z->rw = malloc(z->reps * sizeof *z->rw);
    z->cro = malloc(z->reps * sizeof *z->cro);
    z->crw = malloc(z->reps * sizeof *z->crw);
    if (z->ro == NULL || z->rw == NULL || z->cro == NULL || z->crw == NULL) die("malloc");
  }
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < nsizes; i++) {
      struct sweep_size *z = &zs[i];
      if (z->b == NULL) {
        z->b = map_populated(z->n, 1);
        z->offset = (uintptr_t)z->b % (2u << 20);
        check_resident(z->b, z->n);
      }
      uint64_t share = (z->reps + (uint64_t)rounds - 1) / (uint64_t)rounds;
      time_mprotect(z, r == rounds - 1 ? z->reps : share);
      if (!keep || r == rounds - 1) {
        check_resident(z->b, z->n);
        unmap_guarded(z->b, z->n);
        z->b = NULL;
      }
    }
  for (int i = 0; i < nsizes; i++) {
    struct sweep_size *z = &zs[i];
    uint64_t reps = z->done;
    double ro_min, rw_min, cro_min, crw_min;
    double ro_med = median(z->ro, reps, &ro_min), rw_med = median(z->rw, reps, &rw_min);
    double cro_med = median(z->cro, reps, &cro_min), crw_med = median(z->crw, reps, &crw_min);
    /* The quartiles: how spread the calls were (a disturbed machine widens them). */
    printf("{\"kind\":\"mprotect\",\"pages\":%" PRIu64 ",\"offset\":%" PRIuPTR ",\"reps\":%" PRIu64
           ",\"rounds\":%d,\"ro_median_ns\":%.1f,\"ro_min_ns\":%.1f,\"rw_median_ns\":%.1f,\"rw_min_ns\":%.1f,"
           "\"ro_cpu_median_ns\":%.1f,\"ro_cpu_min_ns\":%.1f,\"rw_cpu_median_ns\":%.1f,\"rw_cpu_min_ns\":%.1f,"
           "\"ro_q1_ns\":%.1f,\"ro_q3_ns\":%.1f,\"rw_q1_ns\":%.1f,\"rw_q3_ns\":%.1f,"
           "\"ro_cpu_q1_ns\":%.1f,\"ro_cpu_q3_ns\":%.1f,\"rw_cpu_q1_ns\":%.1f,\"rw_cpu_q3_ns\":%.1f}\n",
           z->n, z->offset, reps, rounds, corrected(ro_med), corrected(ro_min), corrected(rw_med), corrected(rw_min),
           cpu_corrected(cro_med), cpu_corrected(cro_min), cpu_corrected(crw_med), cpu_corrected(crw_min),
           corrected(quantile(z->ro, reps, 0.25)), corrected(quantile(z->ro, reps, 0.75)),
           corrected(quantile(z->rw, reps, 0.25)), corrected(quantile(z->rw, reps, 0.75)),
           cpu_corrected(quantile(z->cro, reps, 0.25)), cpu_corrected(quantile(z->cro, reps, 0.75)),
           cpu_corrected(quantile(z->crw, reps, 0.25)), cpu_corrected(quantile(z->crw, reps, 0.75)));
    free(z->ro);
    free(z->rw);
    free(z->cro);
    free(z->crw);
  }
  fflush(stdout);
}

static void probe_syscalls(void) {
  enum { N = 20001 };
  static uint64_t a[N], z[N], c[N];
  char *b = map_populated(1, 1);
  for (int i = 0; i < N; i++) {
    uint64_t t0 = now_ns();
    (void)getppid();
    uint64_t t1 = now_ns();
    if (mprotect(b, 0, PROT_READ) != 0) die("mprotect(len 0)");
    uint64_t t2 = now_ns();
    if (mprotect(b, (size_t)pg, PROT_READ | PROT_WRITE) != 0) die("mprotect (no change)");
    uint64_t t3 = now_ns();
    a[i] = t1 - t0;
    z[i] = t2 - t1;
    c[i] = t3 - t2;
  }
  unmap_guarded(b, 1);
  double mn;
  double ga = median(a, N, &mn), gz = median(z, N, &mn), gc = median(c, N, &mn);
  printf("{\"kind\":\"syscall\",\"getppid_ns\":%.1f,\"mprotect_len0_ns\":%.1f,\"nochange_ns\":%.1f}\n",
         corrected(ga), corrected(gz), corrected(gc));
  fflush(stdout);
}

/*
 * munmap of n populated pages (the guards stay until after the timing): around the 33-page flush
 * ceiling, and up to 32,768 pages for the cost per PTE. Wall clock and the thread's CPU time.
 */
static void probe_munmap(void) {
  static const uint64_t sizes[] = {1, 8, 16, 32, 33, 34, 48, 64, 512, 4096, 32768};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    uint64_t n = sizes[s];
    uint64_t budget = quick ? (1u << 14) : (1u << 18); /* pages unmapped per size */
    uint64_t r0 = budget / n, lo = quick ? 3 : 9, hi = quick ? 31 : 201;
    int reps = (int)(r0 < lo ? lo : r0 > hi ? hi : r0);
    uint64_t *v = malloc(2 * (size_t)reps * sizeof *v);
    if (v == NULL) die("malloc");
    uint64_t *c = v + reps;
    for (int r = 0; r < reps; r++) {
      char *b = map_populated(n, 1);
      char *g = b - pg;
      rest_if_due();
      uint64_t c0 = cpu_ns();
      uint64_t t0 = now_ns();
      if (munmap(b, (size_t)n * (size_t)pg) != 0) die("munmap");
      uint64_t t1 = now_ns();
      uint64_t c1 = cpu_ns();
      v[r] = t1 - t0;
      c[r] = c1 - c0;
      if (munmap(g, (size_t)(n + 2) * (size_t)pg) != 0) die("munmap (guards)");
    }
    double mn, cmn, md = median(v, (size_t)reps, &mn), cmd = median(c, (size_t)reps, &cmn);
    printf("{\"kind\":\"munmap\",\"pages\":%" PRIu64 ",\"reps\":%d,\"median_ns\":%.1f,\"min_ns\":%.1f,"
           "\"cpu_median_ns\":%.1f,\"q1_ns\":%.1f,\"q3_ns\":%.1f}\n",
           n, reps, corrected(md), corrected(mn), cpu_corrected(cmd), corrected(quantile(v, (size_t)reps, 0.25)),
           corrected(quantile(v, (size_t)reps, 0.75)));
    free(v);
  }
  fflush(stdout);
}

/* Per-page fault costs over fresh mappings of `n` pages: median of the per-page averages. */
static void probe_faults(void) {
  const uint64_t n = quick ? 1024 : 4096;
  const int rounds = quick ? 5 : 15;
  uint64_t wr[15], rd[15], wp[15];
  for (int r = 0; r < rounds; r++) {
    char *b = map_populated(n, 0);
    rest_if_due();
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) ((volatile char *)b)[i * (uint64_t)pg] = 1;
    uint64_t t1 = now_ns();
    unmap_guarded(b, n);
    wr[r] = (t1 - t0) / n;
    b = map_populated(n, 0);
    volatile char sink = 0;
    rest_if_due();
    t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) sink += ((volatile char *)b)[i * (uint64_t)pg];
    t1 = now_ns();
    for (uint64_t i = 0; i < n; i++) ((volatile char *)b)[i * (uint64_t)pg] = 1;
    uint64_t t2 = now_ns();
    (void)sink;
    unmap_guarded(b, n);
    rd[r] = (t1 - t0) / n;
    wp[r] = (t2 - t1) / n;
  }
  double mn;
  double w = median(wr, (size_t)rounds, &mn), d = median(rd, (size_t)rounds, &mn),
         p = median(wp, (size_t)rounds, &mn);
  printf("{\"kind\":\"fault\",\"pages\":%" PRIu64 ",\"write_ns\":%.1f,\"read_ns\":%.1f,\"wp_ns\":%.1f}\n", n, w, d,
         p);
  fflush(stdout);
}

static atomic_int stop, started;
static atomic_ulong seq; /* the reader's progress: it advances only while the reader runs */
static char *shared_page;
static int remote_cpu = -1;
static int remote_pinned;

static void *reader(void *arg) {
  (void)arg;
  if (remote_cpu >= 0) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(remote_cpu, &s);
    remote_pinned = sched_setaffinity(0, sizeof s, &s) == 0;
  }
  atomic_store(&started, 1);
  volatile char sink = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    sink += *(volatile char *)shared_page;
    atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed);
  }
  (void)sink;
  return NULL;
}

/*
 * Times `reps` pairs of one-page mprotect(PROT_READ) ; mprotect(PROT_READ|PROT_WRITE). With
 * `sync`, each pair starts once the reader has been seen running, and only the pairs during which
 * it kept running are kept (on a loaded machine a descheduled reader needs no IPI). Returns the
 * number of pairs kept.
 */
static int time_pairs(char *b, uint64_t *ro, uint64_t *rw, int reps, int sync) {
  int kept = 0;
  for (int r = 0; r < reps; r++) {
    unsigned long s0 = 0;
    if (sync) {
      unsigned long w = atomic_load_explicit(&seq, memory_order_relaxed);
      uint64_t t = now_ns();
      while ((s0 = atomic_load_explicit(&seq, memory_order_relaxed)) == w && now_ns() - t < 1000000u) {
      }
    }
    uint64_t t0 = now_ns();
    if (mprotect(b, (size_t)pg, PROT_READ) != 0) die("mprotect(PROT_READ)");
    uint64_t t1 = now_ns();
    if (mprotect(b, (size_t)pg, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE)");
    uint64_t t2 = now_ns();
    if (sync && atomic_load_explicit(&seq, memory_order_relaxed) == s0) continue;
    ro[kept] = t1 - t0;
    rw[kept] = t2 - t1;
    kept++;
  }
  return kept;
}

static void probe_shootdown(void) {
  enum { R = 4001 };
  static uint64_t ro0[R], rw0[R], ro1[R], rw1[R];
  int reps = quick ? 501 : R;
  sched_normal(1);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int local = sched_getcpu();
  int pinned_local = 0;
  if (ncpu >= 2 && local >= 0) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(local, &s);
    pinned_local = sched_setaffinity(0, sizeof s, &s) == 0;
    remote_cpu = local == 0 ? 1 : 0;
  }
  char *b = map_populated(1, 1);
  shared_page = b;
  int kept0 = time_pairs(b, ro0, rw0, reps, 0);
  pthread_t t;
  if (pthread_create(&t, NULL, reader, NULL) != 0) die("pthread_create");
  while (!atomic_load(&started)) sched_yield();
  usleep(2000);
  int kept = time_pairs(b, ro1, rw1, reps, 1);
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  unmap_guarded(b, 1);
  if (pinned_local) {
    cpu_set_t s;
    CPU_ZERO(&s);
    for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++) CPU_SET((int)c, &s);
    (void)sched_setaffinity(0, sizeof s, &s);
  }
  sched_normal(0);
  double mn;
  if (kept == 0) {
    fprintf(stderr, "probes: the reader thread never ran during a timed mprotect\n");
    exit(1);
  }
  double a = median(ro0, (size_t)kept0, &mn), a2 = median(rw0, (size_t)kept0, &mn);
  double w = median(ro1, (size_t)kept, &mn), w2 = median(rw1, (size_t)kept, &mn);
  printf("{\"kind\":\"shootdown\",\"cpus\":%ld,\"remote_cpu\":%d,\"pinned\":%s,\"alone_ro_ns\":%.1f,"
         "\"alone_rw_ns\":%.1f,\"remote_ro_ns\":%.1f,\"remote_rw_ns\":%.1f,\"kept\":%d,\"reps\":%d}\n",
         ncpu, remote_cpu, remote_pinned && pinned_local ? "true" : "false", corrected(a), corrected(a2),
         corrected(w), corrected(w2), kept, reps);
  fflush(stdout);
}

/*
 * Bytes of the largest cache of CPU 0 as sysfs lists it (what lscpu prints), 0 if unknown. Not
 * sysconf(_SC_LEVEL3_CACHE_SIZE): in a KVM guest glibc may derive it from the host's topology
 * (320 MiB on the project machine, whose guest sees 32 MiB).
 */
static long llc_bytes(void) {
  long best = 0;
  for (int i = 0; i < 8; i++) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    long kb = 0;
    char unit = 'K';
    if (fscanf(f, "%ld%c", &kb, &unit) >= 1) {
      long b = unit == 'M' ? kb << 20 : kb << 10;
      if (b > best) best = b;
    }
    fclose(f);
  }
  return best;
}

/* Reads every line of `e` (len bytes): what the caches held before is gone. */
static uint64_t evict(const char *e, size_t len) {
  uint64_t sum = 0;
  for (size_t i = 0; i < len; i += 64) sum += (uint64_t)((const volatile char *)e)[i];
  return sum;
}

static void probe_cold(void) {
  static const uint64_t sizes[] = {1024, 8192};
  long llc = llc_bytes();
  size_t elen = (size_t)64 << 20;
  if (llc > 0 && (size_t)llc * 4 > elen) elen = (size_t)llc * 4;
  if (elen > ((size_t)1 << 30)) elen = (size_t)1 << 30;
  char *e = mmap(NULL, elen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (e == MAP_FAILED) die("mmap (eviction buffer)");
  memset(e, 1, elen);
  int reps = quick ? 5 : 21;
  uint64_t *v = malloc(4 * (size_t)reps * sizeof *v);
  if (v == NULL) die("malloc");
  uint64_t *wro = v, *wrw = v + reps, *cro = v + 2 * reps, *crw = v + 3 * reps;
  volatile uint64_t sink = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    uint64_t n = sizes[s];
    char *b = map_populated(n, 1);
    size_t len = (size_t)n * (size_t)pg;
    check_resident(b, n);
    for (int r = 0; r < reps; r++) {
      rest_if_due();
      if (mprotect(b, len, PROT_READ) != 0 || mprotect(b, len, PROT_READ | PROT_WRITE) != 0) die("mprotect");
      uint64_t t0 = now_ns();
      if (mprotect(b, len, PROT_READ) != 0) die("mprotect(PROT_READ)");
      uint64_t t1 = now_ns();
      if (mprotect(b, len, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE)");
      uint64_t t2 = now_ns();
      wro[r] = t1 - t0;
      wrw[r] = t2 - t1;
      sink += evict(e, elen);
      t0 = now_ns();
      if (mprotect(b, len, PROT_READ) != 0) die("mprotect(PROT_READ)");
      t1 = now_ns();
      sink += evict(e, elen);
      t2 = now_ns();
      if (mprotect(b, len, PROT_READ | PROT_WRITE) != 0) die("mprotect(PROT_READ|PROT_WRITE)");
      uint64_t t3 = now_ns();
      cro[r] = t1 - t0;
      crw[r] = t3 - t2;
    }
    check_resident(b, n);
    unmap_guarded(b, n);
    double a, bb, c, d;
    double ma = median(wro, (size_t)reps, &a), mb = median(wrw, (size_t)reps, &bb);
    double mc = median(cro, (size_t)reps, &c), md = median(crw, (size_t)reps, &d);
    printf("{\"kind\":\"cold\",\"pages\":%" PRIu64 ",\"evict_bytes\":%zu,\"reps\":%d,\"warm_ro_median_ns\":%.1f,"
           "\"warm_ro_min_ns\":%.1f,\"warm_rw_median_ns\":%.1f,\"warm_rw_min_ns\":%.1f,\"cold_ro_median_ns\":%.1f,"
           "\"cold_ro_min_ns\":%.1f,\"cold_rw_median_ns\":%.1f,\"cold_rw_min_ns\":%.1f}\n",
           n, elen, reps, corrected(ma), corrected(a), corrected(mb), corrected(bb), corrected(mc), corrected(c),
           corrected(md), corrected(d));
    fflush(stdout);
  }
  (void)sink;
  free(v);
  if (munmap(e, elen) != 0) die("munmap (eviction buffer)");
}

int main(int argc, char **argv) {
  pg = sysconf(_SC_PAGESIZE);
  if (pg <= 0) die("sysconf(_SC_PAGESIZE)");
  int first = 1;
  for (; first < argc && argv[first][0] == '-'; first++) {
    if (strcmp(argv[first], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[first], "--sweep-only") == 0)
      sweep_only = 1;
    else if (strcmp(argv[first], "--no-rt") == 0)
      no_rt = 1;
    else {
      fprintf(stderr, "probes: unknown option %s\n", argv[first]);
      return 2;
    }
  }
  if (first >= argc) {
    fprintf(stderr, "usage: %s [--quick] [--sweep-only] [--no-rt] SIZE...\n", argv[0]);
    return 2;
  }
  uint64_t sizes[64];
  int nsizes = 0;
  for (int i = first; i < argc; i++) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (argv[i][0] < '0' || argv[i][0] > '9' || errno != 0 || *end != '\0' || v == 0 || v > (1u << 20) ||
        nsizes == 64) {
      fprintf(stderr, "probes: a size is a page count in 1..1048576 (at most 64 sizes), got \"%s\"\n", argv[i]);
      return 2;
    }
    sizes[nsizes++] = v;
  }
  sched_setup();
  measure_clock_overhead();
  measure_cpu_clock_overhead();
  probe_clock();
  fflush(stdout);
  if (!sweep_only) probe_syscalls();
  probe_sweep(sizes, nsizes);
  if (sweep_only) return 0;
  probe_munmap();
  probe_faults();
  probe_shootdown();
  probe_cold();
  return 0;
}
