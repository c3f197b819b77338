// Baselines for bench/mutex_table.ts: a process-shared pthread mutex and a
// process-shared POSIX semaphore used as a lock, uncontended and contended by
// two processes (fork). Prints one line: nanoseconds per lock+unlock.
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
  pthread_mutex_t mutex;
  sem_t sem;
  volatile long counter;
  volatile int ready;
};

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void work(struct shared *s, int use_sem, long n) {
  for (long i = 0; i < n; i++) {
    if (use_sem) sem_wait(&s->sem); else pthread_mutex_lock(&s->mutex);
    s->counter++;
    if (use_sem) sem_post(&s->sem); else pthread_mutex_unlock(&s->mutex);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: locks pthread|sem uncontended|contended N\n"); return 2; }
  int use_sem = strcmp(argv[1], "sem") == 0;
  int contended = strcmp(argv[2], "contended") == 0;
  long n = atol(argv[3]);
  struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&s->mutex, &a);
  sem_init(&s->sem, 1, 1);
  if (!contended) {
    work(s, use_sem, n / 10);  // warm up
    double t0 = now_ns();
    work(s, use_sem, n);
    printf("%.2f\n", (now_ns() - t0) / n);
    return 0;
  }
  pid_t child = fork();
  if (child == 0) {
    __sync_fetch_and_add(&s->ready, 1);
    while (s->ready < 2) {}
    work(s, use_sem, n);
    _exit(0);
  }
  __sync_fetch_and_add(&s->ready, 1);
  while (s->ready < 2) {}
  double t0 = now_ns();
  work(s, use_sem, n);
  waitpid(child, NULL, 0);
  double per = (now_ns() - t0) / (2.0 * n);
  if (s->counter != 2 * n + 0) { fprintf(stderr, "lost updates: %ld\n", s->counter); return 1; }
  printf("%.2f\n", per);
  return 0;
}
