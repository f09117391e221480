// fork copies the address space at the fork: a child that makes no memory call before forking
// a grandchild hands it the whole copy; each works on its own copy; exec starts afresh.
// Recorded with: strace -f -e trace=memory,process -o fork.strace ./fork fork.maps
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096L

static void dump(const char *to) {
  FILE *in = fopen("/proc/self/maps", "r");
  FILE *out = fopen(to, "w");
  char line[512];
  while (in && out && fgets(line, sizeof line, in)) fputs(line, out);
  if (out) fclose(out);
}

int main(int argc, char **argv) {
  char *a = mmap(NULL, 8 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *b = mmap(NULL, 4 * P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(a, 1, 8 * P);
  pid_t child = fork();
  if (child == 0) {
    // No memory call here: the grandchild's copy comes from this copy.
    pid_t grand = fork();
    if (grand == 0) {
      mprotect(a + P, P, PROT_READ);
      munmap(b, P);
      mprotect(a + 2 * P, P, PROT_READ); // merges with the page below: one anon_vma
      dump(argc > 1 ? argv[1] : "/dev/null");
      _exit(0);
    }
    waitpid(grand, NULL, 0);
    mprotect(a, P, PROT_NONE);
    _exit(0);
  }
  waitpid(child, NULL, 0);
  mprotect(a + 4 * P, P, PROT_READ);
  execl("/bin/true", "true", (char *)NULL);
  return 1;
}
