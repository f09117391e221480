#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* A small program for the recording: a few functions, a table and some libc calls. */
struct point { double x, y; };
static double dist2(struct point a, struct point b) { return (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y); }
int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], 0, 10) : 1000;
  struct point *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++) p[i] = (struct point){ (double)(i % 37), (double)(i % 91) };
  double best = 1e300;
  for (size_t i = 1; i < n; i++) { double d = dist2(p[0], p[i]); if (d > 0 && d < best) best = d; }
  printf("%zu points, closest %.1f\n", n, best);
  free(p);
  return 0;
}
