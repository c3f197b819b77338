// Load for bench/load.ts: one process that burns one CPU in user space
// (for(;;) with a volatile counter) until it is killed. Two safety nets so
// that a crashed or killed bench never leaves it spinning on a shared
// machine: it exits when its parent dies (checked every ~16 M iterations,
// a few ms) and after argv[1] seconds at most (default 300, via alarm()).
// Usage: busy [max_seconds]
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  pid_t parent = getppid();
  alarm(argc > 1 ? (unsigned)atoi(argv[1]) : 300);
  for (volatile unsigned long i = 0;; i++) {
    if ((i & 0xffffff) == 0 && getppid() != parent) return 0;
  }
}
