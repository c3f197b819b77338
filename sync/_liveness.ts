/**
 * The liveness check now lives below posix/ (memory/_liveness.ts) so that
 * in-memory semaphores can use it too; this re-export keeps sync/ and
 * channel/ imports working.
 *
 * @module
 */

export { isAlive } from "../memory/_liveness.ts";
