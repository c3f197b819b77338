// The limit for bench/channel.ts: a C single-producer single-consumer ring of
// fixed slots in shared memory (fork), spinning, positions published per message.
// Usage: ring throughput <msg_bytes> <count> <slots> | ring pingpong <rounds>
// Prints messages per second (throughput) or microseconds per round trip.
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ring { _Alignas(64) atomic_long head; _Alignas(64) atomic_long tail; _Alignas(64) char data[]; };

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static struct ring *ring_new(size_t slot, long slots) {
  struct ring *r = mmap(0, sizeof(struct ring) + slot * slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(r->data, 0, slot * slots);
  return r;
}
static void put(struct ring *r, size_t slot, long slots, const char *msg) {
  long t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  while (t - atomic_load_explicit(&r->head, memory_order_acquire) >= slots) {}
  memcpy(r->data + (t % slots) * slot, msg, slot);
  atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}
static void get(struct ring *r, size_t slot, long slots, char *out) {
  long h = atomic_load_explicit(&r->head, memory_order_relaxed);
  while (atomic_load_explicit(&r->tail, memory_order_acquire) == h) {}
  memcpy(out, r->data + (h % slots) * slot, slot);
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "pingpong") == 0) {
    long rounds = atol(argv[2]);
    struct ring *a = ring_new(64, 16), *b = ring_new(64, 16);
    char msg[64] = {0};
    if (fork() == 0) { for (long i = 0; i < rounds + 1000; i++) { get(a, 64, 16, msg); put(b, 64, 16, msg); } _exit(0); }
    for (long i = 0; i < 1000; i++) { put(a, 64, 16, msg); get(b, 64, 16, msg); }
    double t0 = now();
    for (long i = 0; i < rounds; i++) { put(a, 64, 16, msg); get(b, 64, 16, msg); }
    printf("%.3f\n", (now() - t0) * 1e6 / rounds);
    wait(0);
    return 0;
  }
  size_t size = atol(argv[2]); long count = atol(argv[3]), slots = atol(argv[4]);
  struct ring *r = ring_new(size, slots);
  char *msg = malloc(size), *out = malloc(size);
  memset(msg, 7, size);
  if (fork() == 0) { for (long i = 0; i < count; i++) { msg[0] = (char)i; put(r, size, slots, msg); } _exit(0); }
  get(r, size, slots, out);
  double t0 = now();
  for (long i = 1; i < count; i++) get(r, size, slots, out);
  printf("%.0f\n", (count - 1) / (now() - t0));
  wait(0);
  return 0;
}
