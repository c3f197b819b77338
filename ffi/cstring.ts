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
