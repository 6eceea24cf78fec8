// The public option and result shapes of a mount and a transaction; types only.
import type { JsMountStats } from "../../index.js";
import type { LocalFile } from "../local-file.ts";

export type { JsCheckpoint as Checkpoint, JsFsckReport as FsckReport, JsGcReport as GcReport, JsLogEntry as LogEntry } from "../../index.js";

/** What `writeFile` takes. Streams, Blobs and `BunFile`s are streamed into the bucket, not buffered whole. */
export type FileData = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array>;

/**
 * A local file to write with Bun's own APIs (under Node: a `NodeLocalFile`, with `write`/`writer()`, or
 * node:fs on `path`); `close()` uploads and commits it, `abort()` drops it.
 */
export interface WriteHandle {
  file: LocalFile;
  /** The local staging path (under cacheRoot). */
  path: string;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** A real local read-only copy under cacheRoot, pinned in the cache until `release()` (`file`: a `BunFile`; under Node a `NodeLocalFile`). */
export interface MaterializedFile {
  file: LocalFile;
  path: string;
  size: number;
  release(): void;
  [Symbol.dispose](): void;
}

/** A commit: its seq, or a checkpoint's name. */
export type CommitRef = number | string;

export interface GcOptions {
  /** How long an unreachable object waits before it is deleted (default 10 minutes). */
  graceMs?: number;
  dryRun?: boolean;
  /**
   * History to keep readable besides the head and every checkpoint: the last `commits` commits and
   * those of the last `ms` milliseconds (default: neither).
   */
  keepHistory?: { commits?: number; ms?: number };
}

/** One changed path, as `diff` reports it. */
export interface Change {
  path: string;
  change: "added" | "modified" | "deleted" | "renamed" | "typeChanged" | "modeChanged";
  /** Where a renamed entry was. */
  fromPath?: string;
  kind: "file" | "directory" | "symlink";
  sizeBefore?: number;
  sizeAfter?: number;
}

export interface ReaddirOptions {
  withFileTypes?: boolean;
  recursive?: boolean;
}
export interface WriteFileOptions {
  /** Create missing parent directories (default false, like `fs.writeFile`). */
  recursive?: boolean;
  /** `"wx"` fails with EEXIST when the file exists. */
  flag?: "w" | "wx";
  mode?: number;
  /** The file's modification time instead of now (a Date, or seconds as for `utimes`). */
  mtime?: Date | number;
}
export interface RmOptions {
  recursive?: boolean;
  force?: boolean;
}

export interface CachedFsStats {
  requests: JsMountStats["requests"];
  cache: { hits: number; misses: number; corrupt: number; evictions: number; usedBytes: number; capacityBytes: number };
  commits: number;
  refreshes: number;
  recordsApplied: number;
  rebuilds: number;
  seq: number;
  epoch: number;
  /** Entries in the in-memory index that answers `stat` at scale; `null` while there is none (being
   * built from the local database, or the namespace is larger than it may hold). */
  indexEntries: number | null;
}

export interface RefreshResult {
  outcome: "unchanged" | "advanced" | "rebuilt";
  seq: number;
}
