// Which open file an fd is decides whether Linux merges two mappings (struct file identity):
// the same fd mapped twice and a dup'ed fd merge, a second open of the same memfd does not.
// Open modes: a read-only open cannot be mapped shared and writable (EACCES), nor made
// writable later; a write-only open cannot be mapped at all. An offset past the largest file
// offset is EOVERFLOW; a bad or closed fd is EBADF.
// Recorded with: strace -f -y -e trace=memory,process,desc -o files.strace ./files files.maps
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define P 4096L

int main(int argc, char **argv) {
  int fd = memfd_create("x", 0);
  if (fd < 0 || ftruncate(fd, 16 * P) != 0) return 1;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  // The same fd twice: the second mapping lands just below the first, file offsets contiguous.
  mmap(NULL, 2 * P, PROT_READ, MAP_SHARED, fd, 2 * P);
  mmap(NULL, 2 * P, PROT_READ, MAP_SHARED, fd, 0);
  // A dup'ed fd: the same open file.
  int d = dup(fd);
  mmap(NULL, 2 * P, PROT_READ, MAP_SHARED, d, 6 * P);
  mmap(NULL, 2 * P, PROT_READ, MAP_SHARED, fd, 4 * P);
  // Another open of the same memfd: another struct file, no merge (file offsets contiguous).
  int o = open(path, O_RDWR);
  mmap(NULL, 2 * P, PROT_READ, MAP_SHARED, o, 2 * P);
  // Open modes.
  int r = open(path, O_RDONLY);
  mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, r, 0);
  void *ro = mmap(NULL, P, PROT_READ, MAP_SHARED, r, 0);
  mprotect(ro, P, PROT_READ | PROT_WRITE);
  mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE, r, 0);
  int w = open(path, O_WRONLY);
  mmap(NULL, P, PROT_READ, MAP_PRIVATE, w, 0);
  // Offsets and fds.
  mmap(NULL, P, PROT_READ, MAP_PRIVATE, fd, 0x7ffffffffffff000L);
  mmap(NULL, P, PROT_READ, MAP_PRIVATE, fd, 0x7fffffffffffe000L);
  mmap(NULL, P, PROT_READ, MAP_PRIVATE, 99, 0);
  close(o);
  mmap(NULL, P, PROT_READ, MAP_PRIVATE, o, 0);
  // The address space as Linux has it now (no memory call runs while it is read).
  FILE *in = fopen("/proc/self/maps", "r");
  FILE *out = fopen(argc > 1 ? argv[1] : "/dev/null", "w");
  char line[512];
  while (in && out && fgets(line, sizeof line, in)) fputs(line, out);
  return 0;
}
