/**
 * C strings for FFI calls: NUL-terminated UTF-8 buffers that live as long as the
 * call that uses them.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes `s` as a NUL-terminated UTF-8 buffer ready to pass as `char *`. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, bytes);
  return bytes;
}

/**
 * Refuses text a C string cannot hold as given: a NUL would end it early (the
 * rest is lost on reading back), and a lone UTF-16 surrogate has no UTF-8
 * form (the encoder would store U+FFFD instead). Refusing both keeps every
 * write of text exact: what is read back is what was written. `what` names
 * the call, as in `writeCString()`.
 */
export function checkCText(text: string, what: string): void {
  const nul = text.indexOf("\0");
  if (nul !== -1) {
    throw new TypeError(
      `${what} cannot store a NUL (at index ${nul}): a C string ends at its first NUL`,
    );
  }
  if (!text.isWellFormed()) {
    throw new TypeError(
      `${what} cannot store a lone UTF-16 surrogate: it has no UTF-8 encoding`,
    );
  }
}

/** Reads the NUL-terminated string at `p`, or `""` for a null pointer. */
export function readCString(p: Deno.PointerValue): string {
  if (p === null) return "";
  return new Deno.UnsafePointerView(p).getCString();
}

/** The UTF-8 byte length of `s`, without encoding it twice in hot paths. */
export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/** Decodes UTF-8 bytes (used for fixed `char[N]` fields). */
export function decodeUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Encodes UTF-8 into `dest`, returning the bytes written. */
export function encodeUtf8Into(s: string, dest: Uint8Array): { read: number; written: number } {
  return encoder.encodeInto(s, dest);
}

/** Encodes `s` as UTF-8. */
export function encodeUtf8(s: string): Uint8Array {
  return encoder.encode(s);
}
