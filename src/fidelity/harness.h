/* Output and /proc/self/maps helpers shared by the differential-test programs (mmops.c,
 * remapops.c): buffered writes of strings, hex and decimal numbers and syscall results, a fatal
 * exit that flushes first, and a whole-file read of /proc/self/maps. Each program includes this
 * once; everything is static. */
#ifndef PTESIM_HARNESS_H
#define PTESIM_HARNESS_H

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char out[1 << 20];
static size_t outlen;

static void flush_out(void) {
  size_t off = 0;
  while (off < outlen) {
    ssize_t n = write(1, out + off, outlen - off);
    if (n <= 0) _exit(3);
    off += (size_t)n;
  }
  outlen = 0;
}
static void put_s(const char *s) {
  size_t n = strlen(s);
  if (outlen + n > sizeof(out)) flush_out();
  memcpy(out + outlen, s, n);
  outlen += n;
}
static void put_c(char c) {
  if (outlen + 1 > sizeof(out)) flush_out();
  out[outlen++] = c;
}
static void put_hex(uint64_t v) {
  char b[17];
  int i = 16;
  b[i] = 0;
  do {
    b[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  put_s(b + i);
}
static void put_dec(uint64_t v) {
  char b[21];
  int i = 20;
  b[i] = 0;
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put_s(b + i);
}
static void put_res(long r, int err) {
  if (r == -1 && err) {
    put_c('-');
    put_dec((uint64_t)err);
  } else {
    put_hex((uint64_t)r);
  }
}
static void die(const char *msg) {
  flush_out();
  put_s("FATAL ");
  put_s(msg);
  put_c('\n');
  flush_out();
  _exit(2);
}

static char maps[1 << 18];
static size_t mapslen;

static void read_maps(void) {
  int fd = open("/proc/self/maps", O_RDONLY);
  if (fd < 0) die("open maps");
  mapslen = 0;
  for (;;) {
    ssize_t n = read(fd, maps + mapslen, sizeof(maps) - 1 - mapslen);
    if (n < 0) die("read maps");
    if (n == 0) break;
    mapslen += (size_t)n;
    if (mapslen >= sizeof(maps) - 1) die("maps too big");
  }
  maps[mapslen] = 0;
  close(fd);
}

static uint64_t parse_hex(const char **p) {
  uint64_t v = 0;
  for (;;) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
    else break;
    (*p)++;
  }
  return v;
}

#endif
