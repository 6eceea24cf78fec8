// Internal: bytes in the form the native binding takes.

/** Bytes as a Buffer without copying a Uint8Array (strings are encoded as UTF-8). */
export const toBuffer = (data: string | Uint8Array): Buffer =>
  typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
