// Baseline for bench/semaphore_pingpong.ts: two processes (fork) bounce a
// token through two process-shared sem_t in shared memory.
// Usage: sem_pingpong N [spin_us]  ->  prints microseconds per round trip.
//        sem_pingpong N spin_us stats [warmup]  ->  times each of the N round
//        trips and prints "median p90 mean" in microseconds (bench/load.ts).
#define _GNU_SOURCE
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void take(sem_t *s, double spin_us) {
  if (spin_us > 0) {
    double end = now_us() + spin_us;
    do { if (sem_trywait(s) == 0) return; } while (now_us() < end);
  }
  while (sem_wait(s) != 0) {}
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  double spin = argc > 2 ? atof(argv[2]) : 0;
  int stats = argc > 3 && strcmp(argv[3], "stats") == 0;
  long warm = argc > 4 ? atol(argv[4]) : 100;
  sem_t *s = mmap(NULL, 2 * sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  sem_init(&s[0], 1, 0);
  sem_init(&s[1], 1, 0);
  pid_t child = fork();
  if (child == 0) {
    for (long i = 0; i < n + warm; i++) { take(&s[0], spin); sem_post(&s[1]); }
    _exit(0);
  }
  for (long i = 0; i < warm; i++) { sem_post(&s[0]); take(&s[1], spin); }
  if (stats) {
    double *t = malloc(n * sizeof *t), sum = 0;
    for (long i = 0; i < n; i++) {
      double t0 = now_us();
      sem_post(&s[0]);
      take(&s[1], spin);
      t[i] = now_us() - t0;
      sum += t[i];
    }
    qsort(t, n, sizeof *t, by_value);
    printf("%.2f %.2f %.2f\n", t[n / 2], t[(n * 9) / 10], sum / n);
    waitpid(child, NULL, 0);
    return 0;
  }
  double t0 = now_us();
  for (long i = 0; i < n; i++) { sem_post(&s[0]); take(&s[1], spin); }
  printf("%.2f\n", (now_us() - t0) / n);
  waitpid(child, NULL, 0);
  return 0;
}
