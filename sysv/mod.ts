/**
 * System V IPC: keys, shared memory segments and semaphore sets.
 *
 * @module
 */

export {};
