// Feed and baseline receiver for bench/cpu.ts, over the shared memory object
// the script creates: a posix.Semaphore at byte 0 (its first 32 bytes are a
// plain process-shared sem_t, so C posts and waits on it directly) and an
// int32 stop word at byte 64: 0, then the number of units posted in all.
// Usage:
//   feed recv NAME   prints "ready", then takes the semaphore with blocking
//                    sem_wait until it has taken every unit the stop word counts; prints the messages.
//   feed send NAME RATE SECONDS
//                    prints "ready" and waits for a line on stdin; then posts
//                    RATE*SECONDS times, one every 1/RATE s on absolute
//                    CLOCK_MONOTONIC deadlines (clock_nanosleep TIMER_ABSTIME:
//                    no drift, no spinning); prints "fed N ELAPSED_S"; waits
//                    for a line, stores count + 1 in the stop word and posts once more.
#define _GNU_SOURCE
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SIZE 128

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: feed recv|send NAME [RATE SECONDS]\n"); return 2; }
  int fd = shm_open(argv[2], O_RDWR, 0);
  if (fd < 0) { perror("shm_open"); return 1; }
  char *base = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) { perror("mmap"); return 1; }
  close(fd);
  sem_t *sem = (sem_t *)base;
  int *stop = (int *)(base + 64);
  char line[64];
  if (strcmp(argv[1], "recv") == 0) {
    long taken = 0;
    printf("ready\n");
    fflush(stdout);
    // The stop word, once set, is every unit posted: the messages and the stop post.
    for (;;) {
      while (sem_wait(sem) != 0) {}
      taken++;
      int total = __atomic_load_n(stop, __ATOMIC_ACQUIRE);
      if (total != 0 && taken >= total) break;
    }
    printf("%ld\n", taken - 1);
    return 0;
  }
  if (strcmp(argv[1], "send") == 0 && argc >= 5) {
    double rate = atof(argv[3]);
    long count = (long)(rate * atof(argv[4]));
    long period = (long)(1e9 / rate);
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) return 1;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
      next.tv_nsec += period;
      while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {}
      sem_post(sem);
    }
    printf("fed %ld %.3f\n", count, now_s() - t0);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) {}
    __atomic_store_n(stop, (int)count + 1, __ATOMIC_RELEASE);
    sem_post(sem);
    return 0;
  }
  fprintf(stderr, "usage: feed recv|send NAME [RATE SECONDS]\n");
  return 2;
}
