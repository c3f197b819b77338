/* Message queue baselines for bench/message_queue.ts: the same round trip and
 * one-way throughput as the Deno rows, between a parent and a forked child,
 * with blocking calls.
 *   mq posix|sysv rtt|tput SIZE COUNT  → prints elapsed microseconds */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg { long mtype; char data[8192]; };
static int posix_mode, sysv_id;
static mqd_t qa, qb;

static void snd(int which, struct msg *m, size_t n) {
  if (posix_mode) {
    if (mq_send(which ? qb : qa, m->data, n, 0) < 0) { perror("mq_send"); exit(1); }
  } else {
    m->mtype = which + 1;
    if (msgsnd(sysv_id, m, n, 0) < 0) { perror("msgsnd"); exit(1); }
  }
}

static void rcv(int which, struct msg *m) {
  if (posix_mode) {
    if (mq_receive(which ? qb : qa, m->data, 8192, NULL) < 0) { perror("mq_receive"); exit(1); }
  } else {
    if (msgrcv(sysv_id, m, 8192, which + 1, 0) < 0) { perror("msgrcv"); exit(1); }
  }
}

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  posix_mode = strcmp(argv[1], "posix") == 0;
  int rtt = strcmp(argv[2], "rtt") == 0;
  size_t size = strtoul(argv[3], 0, 10);
  long count = strtol(argv[4], 0, 10);
  char a[64], b[64];
  snprintf(a, sizeof a, "/bench-cmq-a-%d", getpid());
  snprintf(b, sizeof b, "/bench-cmq-b-%d", getpid());
  if (posix_mode) {
    struct mq_attr attr = { 0 };
    attr.mq_maxmsg = 10;
    attr.mq_msgsize = 8192;
    qa = mq_open(a, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    qb = mq_open(b, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (qa < 0 || qb < 0) { perror("mq_open"); return 1; }
  } else {
    sysv_id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (sysv_id < 0) { perror("msgget"); return 1; }
  }
  static struct msg m;
  memset(m.data, 7, sizeof m.data);
  pid_t pid = fork();
  if (pid == 0) {
    for (long i = 0; i < count; i++) {
      rcv(0, &m);
      if (rtt) snd(1, &m, size);
    }
    if (!rtt) snd(1, &m, 1);
    _exit(0);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < count; i++) {
    snd(0, &m, size);
    if (rtt) rcv(1, &m);
  }
  if (!rtt) rcv(1, &m);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  waitpid(pid, NULL, 0);
  if (posix_mode) {
    mq_unlink(a);
    mq_unlink(b);
  } else {
    msgctl(sysv_id, IPC_RMID, NULL);
  }
  printf("%.1f\n", (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3);
  return 0;
}
