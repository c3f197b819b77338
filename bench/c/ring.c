// The limit for bench/channel.ts: a C single-producer single-consumer ring of
// fixed slots in POSIX shared memory (shm_open, then fork), spinning. Lamport's ring with cached
// indices, as a tuned C ring is written: the sender publishes every message and
// reads the shared head only when its cached copy says full; the receiver
// copies out every message that is ready, then publishes its head once.
// Usage: ring throughput <msg_bytes> <count> <slots> | ring pingpong <rounds>
// Prints messages per second (throughput) or microseconds per round trip.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ring {
  _Alignas(64) atomic_long head;
  _Alignas(64) atomic_long tail;
  _Alignas(64) long head_cache; // the sender's alone
  _Alignas(64) long tail_cache; // the receiver's alone
  _Alignas(64) char data[];
};

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

// A POSIX shared memory object, as the Channel uses; unlinked at once (fork keeps the mapping).
static struct ring *ring_new(size_t slot, long slots) {
  static int n;
  char name[64];
  snprintf(name, sizeof name, "/bench-ring-%d-%d", (int)getpid(), n++);
  size_t size = sizeof(struct ring) + slot * slots;
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) { perror("shm_open"); exit(1); }
  struct ring *r = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  shm_unlink(name);
  close(fd);
  if (r == MAP_FAILED) { perror("mmap"); exit(1); }
  memset(r->data, 0, slot * slots);
  return r;
}
static void put(struct ring *r, size_t slot, long slots, const char *msg) {
  long t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  while (t - r->head_cache >= slots) r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
  memcpy(r->data + (t % slots) * slot, msg, slot);
  atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}
// Copies out every ready message (up to max) and frees them together; returns how many.
static long get_all(struct ring *r, size_t slot, long slots, char *out, long max) {
  long h = atomic_load_explicit(&r->head, memory_order_relaxed);
  while (r->tail_cache == h) r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
  long n = r->tail_cache - h;
  if (n > max) n = max;
  for (long k = 0; k < n; k++) memcpy(out, r->data + ((h + k) % slots) * slot, slot);
  atomic_store_explicit(&r->head, h + n, memory_order_release);
  return n;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "pingpong") == 0) {
    long rounds = atol(argv[2]);
    struct ring *a = ring_new(64, 16), *b = ring_new(64, 16);
    char msg[64] = {0};
    if (fork() == 0) { for (long i = 0; i < rounds + 1000; i++) { get_all(a, 64, 16, msg, 1); put(b, 64, 16, msg); } _exit(0); }
    for (long i = 0; i < 1000; i++) { put(a, 64, 16, msg); get_all(b, 64, 16, msg, 1); }
    double t0 = now();
    for (long i = 0; i < rounds; i++) { put(a, 64, 16, msg); get_all(b, 64, 16, msg, 1); }
    printf("%.3f\n", (now() - t0) * 1e6 / rounds);
    wait(0);
    return 0;
  }
  size_t size = atol(argv[2]); long count = atol(argv[3]), slots = atol(argv[4]);
  struct ring *r = ring_new(size, slots);
  char *msg = malloc(size), *out = malloc(size);
  memset(msg, 7, size);
  if (fork() == 0) { for (long i = 0; i < count; i++) { msg[0] = (char)i; put(r, size, slots, msg); } _exit(0); }
  long first = get_all(r, size, slots, out, count), got = first;
  double t0 = now();
  while (got < count) got += get_all(r, size, slots, out, count - got);
  printf("%.0f\n", (count - first) / (now() - t0));
  wait(0);
  return 0;
}
