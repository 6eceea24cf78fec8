// Moving bytes between the workspace and local files, with progress callbacks.
import { randomBytes } from "node:crypto";
import { chmodSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { CachedFs } from "../core.ts";

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
  writeFileSync(tmp, "", { mode: 0o600 });
  const sink = Bun.file(tmp).writer();
  try {
    for await (const chunk of fs.stream(src)) {
      sink.write(chunk);
      await sink.flush();
      onBytes(chunk.byteLength);
    }
    await sink.end();
    chmodSync(tmp, st.mode & 0o777);
    utimesSync(tmp, new Date(), new Date(st.mtimeMs));
    renameSync(tmp, dest);
  } catch (e) {
    try {
      await sink.end();
    } catch {
      // the error that matters is `e`
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  return { size: st.size, mtimeMs: st.mtimeMs };
}
