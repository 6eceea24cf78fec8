// Caller input as the engine takes it: file data as bytes, write options, times, modes.
import type { BunFile } from "bun";
import type { JsWriteOptions } from "../../index.js";
import { toBuffer } from "../bytes.ts";
import { checkInt } from "../errors.ts";
import type { FileData, WriteFileOptions } from "./types.ts";

export const MAX_MODE = 0o7777;

/** A Bun file on local disk, which the engine reads by path instead of through JS (an S3 file has `presign`). */
export const isLocalBunFile = (b: Blob): b is BunFile =>
  typeof (b as Partial<BunFile>).name === "string" && typeof (b as Partial<BunFile>).writer === "function" && !("presign" in b);

/** The data as one buffer (transactions take their writes whole). */
export async function toBytes(data: FileData): Promise<Buffer> {
  if (typeof data === "string" || data instanceof Uint8Array) return toBuffer(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (data instanceof Blob) return Buffer.from(await data.arrayBuffer());
  if (data instanceof ReadableStream) return Buffer.from(await new Response(data).arrayBuffer());
  throw Object.assign(new TypeError('The "data" argument must be a string, Uint8Array, ArrayBuffer, Blob or ReadableStream'), { code: "ERR_INVALID_ARG_TYPE" });
}

/** The options as the binding takes them; none at all for the defaults (reading an options object's
 * fields across the native boundary is a good part of a small write's cost). */
export const nativeWriteOptions = (o: WriteFileOptions): JsWriteOptions | undefined =>
  o.recursive === undefined && o.flag === undefined && o.mode === undefined && o.mtime === undefined
    ? undefined
    : {
        createParents: o.recursive === true,
        exclusive: o.flag === "wx",
        mode: checkInt(o.mode, "mode", 0, MAX_MODE, "open"),
        mtimeMs: o.mtime === undefined ? undefined : toEpochMs(o.mtime),
      };

/** A time as Node's `utimes` takes it (a Date, or seconds since the epoch) in milliseconds. */
export const toEpochMs = (t: Date | number): number => (t instanceof Date ? t.getTime() : t * 1000);
