// Moving bytes between the workspace and local files, with progress callbacks.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { CachedFs } from "../core.ts";
import { fsError, isFsError } from "../errors.ts";

/**
 * Calls `onBytes` with the bytes uploaded to the store since the call, every `everyMs`, until the
 * returned function is called. (The engine counts every PUT body; a commit's packs and chunks are most.)
 */
export function watchUploads(fs: CachedFs, onBytes: (bytes: number) => void, everyMs = 100): () => void {
  const base = fs.stats().requests.bytesUp;
  const timer = setInterval(() => onBytes(fs.stats().requests.bytesUp - base), everyMs);
  return () => clearInterval(timer);
}

/**
 * Downloads a workspace file to `dest` through a temporary file beside it, then gives it the remote
 * file's permission bits and mtime and renames it into place, so `dest` is never seen half written.
 */
export async function downloadFile(fs: CachedFs, src: string, dest: string, onBytes: (n: number) => void): Promise<{ size: number; mtimeMs: number }> {
  const st = fs.statSync(src);
  const tmp = join(dirname(dest), `.${basename(dest)}.s3fs-${randomBytes(6).toString("hex")}.tmp`);
  const sink = await open(tmp, "w", 0o600).catch((e: unknown) => Promise.reject(namingDest(e, tmp, dest)));
  try {
    try {
      for await (const chunk of fs.stream(src)) {
        await sink.write(chunk);
        onBytes(chunk.byteLength);
      }
      await sink.chmod(st.mode & 0o777);
      await sink.utimes(new Date(), new Date(st.mtimeMs));
    } finally {
      await sink.close();
    }
    await rename(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw namingDest(e, tmp, dest);
  }
  return { size: st.size, mtimeMs: st.mtimeMs };
}

/** A local error about the temporary file, told about `dest` instead (the file the user asked for). */
function namingDest(e: unknown, tmp: string, dest: string): unknown {
  if (!isFsError(e) || (e.path !== tmp && e.dest !== dest)) return e;
  const description = /^[A-Z]+: ([^,]+),/.exec(e.message)?.[1] ?? "i/o error";
  const err = fsError(e.code, description, "open", dest);
  err.cause = e;
  return err;
}
