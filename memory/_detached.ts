/**
 * Why a buffer over mapped memory was detached, so that a struct accessor
 * kept past `close()` (or `resize()`) says whose memory it was instead of
 * letting the engine's "detached ArrayBuffer" TypeError out.
 *
 * @module
 */

const owners = new WeakMap<ArrayBufferLike, () => string>();

/** Records who handed out `buffer`; `why()` explains, at error time, why it is detached. */
export function setOwner(buffer: ArrayBufferLike, why: () => string): void {
  owners.set(buffer, why);
}

/**
 * `Deno.errors.BadResource` for `action` when `view`'s buffer is detached;
 * undefined otherwise.
 */
export function detachedError(view: unknown, action: string): Error | undefined {
  if (!(view instanceof DataView) || !(view.buffer as ArrayBuffer).detached) return undefined;
  const why = owners.get(view.buffer)?.() ?? "its buffer was detached";
  return new Deno.errors.BadResource(`Cannot ${action}: ${why}`);
}

/**
 * What a failed access on `view` should throw: the BadResource above when the
 * memory is gone, else the original error (a RangeError for text too long…).
 * Called only on the error path, so the accessors' fast path stays a plain call.
 */
export function accessError(view: unknown, cause: unknown, action: () => string): unknown {
  if (!(view instanceof DataView) || !(view.buffer as ArrayBuffer).detached) return cause;
  return detachedError(view, action());
}
