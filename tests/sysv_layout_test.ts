import { assertEquals } from "@std/assert";
import { SYSV_LAYOUT } from "../ffi/sysv_layouts.ts";
import { IPC, SHM } from "../ffi/sysv_shm.ts";
import { SEM } from "../ffi/sysv_sem.ts";
import { compileC, hasCC, runExe } from "./_helpers.ts";

const C = `
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#define K(n) printf("%s %ld\\n", #n, (long)(n))
int main(void) {
  K(sizeof(struct ipc_perm)); K(offsetof(struct ipc_perm, __key)); K(offsetof(struct ipc_perm, uid));
  K(offsetof(struct ipc_perm, gid)); K(offsetof(struct ipc_perm, cuid)); K(offsetof(struct ipc_perm, cgid));
  K(offsetof(struct ipc_perm, mode));
  K(sizeof(struct shmid_ds)); K(offsetof(struct shmid_ds, shm_segsz)); K(offsetof(struct shmid_ds, shm_atime));
  K(offsetof(struct shmid_ds, shm_dtime)); K(offsetof(struct shmid_ds, shm_ctime)); K(offsetof(struct shmid_ds, shm_cpid));
  K(offsetof(struct shmid_ds, shm_lpid)); K(offsetof(struct shmid_ds, shm_nattch));
  K(sizeof(struct semid_ds)); K(offsetof(struct semid_ds, sem_otime)); K(offsetof(struct semid_ds, sem_ctime));
  K(offsetof(struct semid_ds, sem_nsems));
  K(sizeof(struct sembuf)); K(offsetof(struct sembuf, sem_num)); K(offsetof(struct sembuf, sem_op));
  K(offsetof(struct sembuf, sem_flg));
  K(IPC_PRIVATE); K(IPC_CREAT); K(IPC_EXCL); K(IPC_NOWAIT); K(IPC_RMID); K(IPC_SET); K(IPC_STAT);
  K(SHM_RDONLY); K(SHM_STAT); K(SEM_UNDO); K(GETPID); K(GETVAL); K(GETALL); K(GETNCNT); K(GETZCNT);
  K(SETVAL); K(SETALL); K(SEM_STAT);
  return 0;
}`;

Deno.test({
  name: "ipc_perm, shmid_ds, semid_ds, sembuf and the IPC constants match the C headers",
  ignore: !hasCC,
  async fn() {
    const r = await runExe(await compileC(C));
    assertEquals(r.code, 0, r.stderr);
    const c = new Map(
      r.stdout.trim().split("\n").map((l) => {
        const cut = l.lastIndexOf(" ");
        return [l.slice(0, cut), Number(l.slice(cut + 1))] as const;
      }),
    );
    const L = SYSV_LAYOUT[Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"];
    const expect: [string, number][] = [
      ["sizeof(struct ipc_perm)", L.ipc_perm.size],
      ["offsetof(struct ipc_perm, __key)", L.ipc_perm.key],
      ["offsetof(struct ipc_perm, uid)", L.ipc_perm.uid],
      ["offsetof(struct ipc_perm, gid)", L.ipc_perm.gid],
      ["offsetof(struct ipc_perm, cuid)", L.ipc_perm.cuid],
      ["offsetof(struct ipc_perm, cgid)", L.ipc_perm.cgid],
      ["offsetof(struct ipc_perm, mode)", L.ipc_perm.mode],
      ["sizeof(struct shmid_ds)", L.shmid_ds.size],
      ["offsetof(struct shmid_ds, shm_segsz)", L.shmid_ds.segsz],
      ["offsetof(struct shmid_ds, shm_atime)", L.shmid_ds.atime],
      ["offsetof(struct shmid_ds, shm_dtime)", L.shmid_ds.dtime],
      ["offsetof(struct shmid_ds, shm_ctime)", L.shmid_ds.ctime],
      ["offsetof(struct shmid_ds, shm_cpid)", L.shmid_ds.cpid],
      ["offsetof(struct shmid_ds, shm_lpid)", L.shmid_ds.lpid],
      ["offsetof(struct shmid_ds, shm_nattch)", L.shmid_ds.nattch],
      ["sizeof(struct semid_ds)", L.semid_ds.size],
      ["offsetof(struct semid_ds, sem_otime)", L.semid_ds.otime],
      ["offsetof(struct semid_ds, sem_ctime)", L.semid_ds.ctime],
      ["offsetof(struct semid_ds, sem_nsems)", L.semid_ds.nsems],
      ["sizeof(struct sembuf)", L.sembuf.size],
      ["offsetof(struct sembuf, sem_num)", L.sembuf.num],
      ["offsetof(struct sembuf, sem_op)", L.sembuf.op],
      ["offsetof(struct sembuf, sem_flg)", L.sembuf.flg],
      ["IPC_PRIVATE", IPC.PRIVATE],
      ["IPC_CREAT", IPC.CREAT],
      ["IPC_EXCL", IPC.EXCL],
      ["IPC_NOWAIT", IPC.NOWAIT],
      ["IPC_RMID", IPC.RMID],
      ["IPC_SET", IPC.SET],
      ["IPC_STAT", IPC.STAT],
      ["SHM_RDONLY", SHM.RDONLY],
      ["SHM_STAT", SHM.STAT],
      ["SEM_UNDO", SEM.UNDO],
      ["GETPID", SEM.GETPID],
      ["GETVAL", SEM.GETVAL],
      ["GETALL", SEM.GETALL],
      ["GETNCNT", SEM.GETNCNT],
      ["GETZCNT", SEM.GETZCNT],
      ["SETVAL", SEM.SETVAL],
      ["SETALL", SEM.SETALL],
      ["SEM_STAT", SEM.STAT],
    ];
    for (const [name, value] of expect) assertEquals(value, c.get(name), name);
  },
});
