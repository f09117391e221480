// Calls whose effect the replay's self-check and implied memory must get right, and two
// machine settings a recording can show: a failed mprotect that changed part of its range (a
// hole: ENOMEM; a read-only shared file: EACCES), a MREMAP_FIXED move of several VMAs with a hole
// between them, a same-size mremap whose old_len runs past its VMA, a MAP_GROWSDOWN stack grown
// by a fault strace cannot see, and a mapping below 64 KiB (vm.mmap_min_addr 4096, as root).
// Recorded as root with: strace -f -e trace=memory,process,desc -o edges.strace ./edges edges.maps
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define P 4096L
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

int main(int argc, char **argv) {
  // ENOMEM after changing the pages before the hole.
  char *x = mmap(NULL, 3 * P, RW, ANON, -1, 0);
  munmap(x + 2 * P, P);
  mprotect(x, 3 * P, PROT_READ);
  // EACCES after changing the anonymous page below a read-only shared file mapping.
  int fd = open("/proc/self/exe", O_RDONLY);
  char *f = mmap(NULL, 2 * P, PROT_READ, MAP_SHARED, fd, 0);
  mmap(f - P, P, PROT_READ, ANON | MAP_FIXED, -1, 0);
  mprotect(f - P, 3 * P, RW);
  // A MREMAP_FIXED move of two VMAs and the hole between them, over a PROT_NONE reservation.
  char *s = mmap(NULL, 4 * P, RW, ANON, -1, 0);
  mprotect(s + 2 * P, 2 * P, PROT_READ);
  munmap(s + P, P);
  char *t = mmap(NULL, 8 * P, PROT_NONE, ANON, -1, 0);
  mremap(s, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED, t + 2 * P);
  // Same size, no move: old_len past the end of the VMA changes nothing.
  char *u = mmap(NULL, P, RW, ANON, -1, 0);
  mremap(u, 3 * P, 3 * P, 0);
  // A stack below 600 free pages grows by a fault; then its grown page is protected.
  char *r = mmap(NULL, 600 * P, PROT_NONE, ANON, -1, 0);
  munmap(r, 600 * P);
  char *g = mmap(r + 590 * P, 4 * P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
  *(volatile char *)(g - P) = 1;
  mprotect(g - P, P, PROT_READ);
  // Below 64 KiB.
  mmap((void *)0x3000, P, PROT_READ, ANON | MAP_FIXED, -1, 0);
  FILE *in = fopen("/proc/self/maps", "r");
  FILE *out = fopen(argc > 1 ? argv[1] : "/dev/null", "w");
  char line[512];
  while (in && out && fgets(line, sizeof line, in)) fputs(line, out);
  return 0;
}
