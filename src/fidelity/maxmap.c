/* Reaches vm.max_map_count in this process and prints what it did as strace would have
 * recorded it (`strace -e trace=memory`), for the replay's test of map counting
 * (src/fidelity/maxmap.ts): one-page mappings of alternating permissions (none merge) until
 * mmap fails, a split that would exceed the limit (mprotect of a middle page: ENOMEM), unmaps
 * that free room, and calls that fit again. The first line is a comment strace would not write:
 * "# vmas N", the number of VMAs the process had before its first printed call.
 * Usage: maxmap */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "harness.h"

#define P 4096L

static const char *ename(int e) {
  return e == ENOMEM ? "ENOMEM" : e == EEXIST ? "EEXIST" : "EINVAL";
}

static void result(long r, int err) {
  if (r == -1) {
    put_s(" = -1 ");
    put_s(ename(err));
    put_s(" (error)\n");
  } else {
    put_s(" = ");
    if (r == 0) put_c('0');
    else {
      put_s("0x");
      put_hex((uint64_t)r);
    }
    put_c('\n');
  }
}

static char *do_mmap(char *at, long len, int prot, int flags) {
  char *p = mmap(at, len, prot, flags, -1, 0);
  int e = errno;
  put_s("mmap(");
  if (at) {
    put_s("0x");
    put_hex((uint64_t)at);
  } else put_s("NULL");
  put_s(", ");
  put_dec((uint64_t)len);
  put_s(prot == PROT_NONE ? ", PROT_NONE" : prot == PROT_READ ? ", PROT_READ" : ", PROT_READ|PROT_WRITE");
  put_s(flags & MAP_FIXED_NOREPLACE ? ", MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0)"
                                    : ", MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
  result(p == MAP_FAILED ? -1 : (long)p, e);
  return p;
}

static void do_two(const char *name, char *a, long len, int prot) {
  long r = prot < 0 ? munmap(a, len) : mprotect(a, len, prot);
  int e = errno;
  put_s(name);
  put_s("(0x");
  put_hex((uint64_t)a);
  put_s(", ");
  put_dec((uint64_t)len);
  if (prot >= 0) put_s(prot == PROT_NONE ? ", PROT_NONE" : ", PROT_READ");
  put_c(')');
  result(r, e);
}

int main(void) {
  FILE *m = fopen("/proc/self/maps", "r");
  int vmas = 0;
  char line[256];
  while (m && fgets(line, sizeof line, m)) vmas += strstr(line, "[vsyscall]") == NULL;
  if (m) fclose(m);
  long max = 65530;
  FILE *s = fopen("/proc/sys/vm/max_map_count", "r");
  if (s && fscanf(s, "%ld", &max) != 1) max = 65530;
  if (s) fclose(s);
  put_s("# vmas ");
  put_dec((uint64_t)vmas);
  put_c('\n');
  long n = max + 16;
  char *top = do_mmap(NULL, 2 * n * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (top == MAP_FAILED) return 1;
  do_two("munmap", top, 2 * n * P, -1);
  char *last = 0;
  for (long i = 0; i < n; i++) {
    char *p = do_mmap(top + i * 2 * P, P, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
    if (p == MAP_FAILED) break;
    last = p;
  }
  do_two("munmap", last, P, -1);
  char *big = do_mmap(NULL, 3 * P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  do_two("mprotect", big + P, P, PROT_NONE);
  do_two("munmap", last - 2 * P, P, -1);
  do_two("mprotect", big + P, P, PROT_NONE);
  do_mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  do_mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  flush_out();
  return 0;
}
