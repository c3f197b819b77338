/**
 * Cross-process synchronisation built on shared memory and semaphores.
 *
 * @module
 */

export {};
