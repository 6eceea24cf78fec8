// Mastra's shapes, structurally (checked against @mastra/core's own types in __test__/mastra.test.ts), and
// AcceleratedFS's options.
import type { CachedFs, WorkspaceLocation } from "../core.ts";
import type { MastraErrorClasses } from "./errors.ts";

export type ProviderStatus = "pending" | "initializing" | "ready" | "starting" | "running" | "stopping" | "stopped" | "destroying" | "destroyed" | "error";
export type FileContent = string | Buffer | Uint8Array;

export interface FileStat {
  name: string;
  /** Relative to the workspace root, no leading slash ("" for the root), as LocalFilesystem reports it. */
  path: string;
  type: "file" | "directory";
  size: number;
  createdAt: Date;
  modifiedAt: Date;
  mimeType?: string;
}
export interface FileEntry {
  name: string;
  type: "file" | "directory";
  size?: number;
  isSymlink?: boolean;
  symlinkTarget?: string;
}
export interface WalkEntry extends FileEntry {
  /** Relative to the walk root, POSIX separators, no leading `./`. */
  path: string;
}
export interface ReadOptions {
  encoding?: BufferEncoding;
}
export interface WriteOptions {
  /** Create missing parents (default: yes; only `false` turns it off). */
  recursive?: boolean;
  /** Default true; `false` fails with FileExistsError when the file exists. */
  overwrite?: boolean;
  /** Ignored: the type is derived from the extension. */
  mimeType?: string;
  /** Fail with StaleFileError unless the file's mtime is exactly this (checked and written in one commit). */
  expectedMtime?: Date;
}
export interface ListOptions {
  recursive?: boolean;
  extension?: string | string[];
  maxDepth?: number;
}
export interface RemoveOptions {
  recursive?: boolean;
  force?: boolean;
}
export interface CopyOptions {
  overwrite?: boolean;
  recursive?: boolean;
}
export interface WalkOptions {
  /** Root entries are depth 1; unlimited when absent. */
  maxDepth?: number;
  /** Include names starting with "." (default false). */
  includeHidden?: boolean;
}
export interface FilesystemGrepOptions {
  /** JS regular expression source. */
  pattern: string;
  path: string;
  caseSensitive: boolean;
  includeHidden: boolean;
  maxCountPerFile?: number;
  maxTotalMatches?: number;
  contextLines?: number;
}
export interface FilesystemGrepMatch {
  /** 1-based. */
  line: number;
  /** 0-based UTF-16 index into the line. */
  column: number;
  text: string;
  before?: string[];
  after?: string[];
}
export interface FilesystemGrepResult {
  path: string;
  matches: FilesystemGrepMatch[];
}
export interface FilesystemInfo {
  id: string;
  name: string;
  provider: string;
  status?: ProviderStatus;
  error?: string;
  readOnly?: boolean;
  icon?: string;
  metadata?: Record<string, unknown>;
}


// ---------------------------------------------------------------------------------------------------
// Options

interface CommonOptions {
  /** Unique id of this filesystem (Mastra's `id`); also names the mount's local state by default. */
  id: string;
  /** Mastra's error classes: `await import("@mastra/core/workspace")`. Imported lazily in init() when absent. */
  errors?: Partial<MastraErrorClasses>;
  displayName?: string;
  description?: string;
  /** Extra extensions (".sas" or "sas") that grep and `isTextFile` treat as text. */
  textExtensions?: string[];
  /** Replaces the default `getInstructions()` text. */
  instructions?: string;
}

/** Mount a workspace in a bucket (or `store`); `init()` opens it. */
export interface AcceleratedFSMountOptions extends CommonOptions, WorkspaceLocation {
  fs?: never;
  /** Directory for the local SQLite namespace and block cache (disposable). */
  cacheRoot: string;
  /** Block cache bound in bytes (default 256 MiB). */
  cacheBytes?: number;
  /** Default "readwrite"; "readonly" mounts a reader and sets `readOnly`. */
  mode?: "readwrite" | "readonly";
  /** Readers: apply the writer's new commits on this interval. */
  refreshIntervalMs?: number;
  snapshotEvery?: number;
  /** Name of the mount's local state directory under cacheRoot (default: `id`). */
  mountName?: string;
}

/** Serve an already-open mount (not closed by `destroy()`). */
export interface AcceleratedFSExistingOptions extends CommonOptions {
  fs: CachedFs;
}

export type AcceleratedFSOptions = AcceleratedFSMountOptions | AcceleratedFSExistingOptions;
