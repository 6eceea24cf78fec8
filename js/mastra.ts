// s3-bun-cached-fs/mastra: `AcceleratedFS`, a Mastra `WorkspaceFilesystem` over a CachedFs mount.
//
// Structural: nothing here imports @mastra/core at module load. Mastra checks its error classes with
// `instanceof`, so they are injected (`errors: await import("@mastra/core/workspace")`) or, failing
// that, imported lazily in `init()`; without Mastra installed, look-alike classes stand in.
// Every change goes through the core API (CachedFs / Transaction); walk and grep list the tree with the
// mount's asynchronous recursive readdir (off the JS thread) and read bytes through the block cache.
import { eachSliced, Slicer } from "./slices.ts";
import { posix } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type Change, type Checkpoint, type CommitRef, type Dirent, type ObjectStore, type S3Credentials, type Stats, type Transaction } from "./core.ts";

// ---------------------------------------------------------------------------------------------------
// Mastra's shapes, structurally (checked against @mastra/core's own types in __test__/mastra.test.ts).

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

type PathErrorClass = new (path: string) => Error;

/** The Mastra error classes the adapter throws; pass `await import("@mastra/core/workspace")`. */
export interface MastraErrorClasses {
  FileNotFoundError: PathErrorClass;
  DirectoryNotFoundError: PathErrorClass;
  FileExistsError: PathErrorClass;
  IsDirectoryError: PathErrorClass;
  NotDirectoryError: PathErrorClass;
  DirectoryNotEmptyError: PathErrorClass;
  PermissionError: new (path: string, operation: string) => Error;
  StaleFileError: new (path: string, expectedMtime: Date, actualMtime: Date) => Error;
  UnsupportedGrepPatternError: new (pattern: string, reason?: string) => Error;
}

// Stand-ins with Mastra's names, codes and messages, for when @mastra/core is not installed (then nothing
// checks `instanceof` against Mastra's own classes anyway).
class FilesystemError extends Error {
  readonly code: string;
  readonly path: string;
  constructor(message: string, code: string, path: string) {
    super(message);
    this.code = code;
    this.path = path;
    this.name = "FilesystemError";
  }
}
function pathError(name: string, code: string, describe: (path: string) => string): PathErrorClass {
  const cls = class extends FilesystemError {
    constructor(path: string) {
      super(describe(path), code, path);
      this.name = name;
    }
  };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}
const fallbackErrors: MastraErrorClasses = {
  FileNotFoundError: pathError("FileNotFoundError", "ENOENT", (p) => `File not found: ${p}`),
  DirectoryNotFoundError: pathError("DirectoryNotFoundError", "ENOENT", (p) => `Directory not found: ${p}`),
  FileExistsError: pathError("FileExistsError", "EEXIST", (p) => `File already exists: ${p}`),
  IsDirectoryError: pathError("IsDirectoryError", "EISDIR", (p) => `Path is a directory: ${p}`),
  NotDirectoryError: pathError("NotDirectoryError", "ENOTDIR", (p) => `Path is not a directory: ${p}`),
  DirectoryNotEmptyError: pathError("DirectoryNotEmptyError", "ENOTEMPTY", (p) => `Directory not empty: ${p}`),
  PermissionError: class PermissionError extends FilesystemError {
    readonly operation: string;
    constructor(path: string, operation: string) {
      super(`Permission denied: ${operation} on ${path}`, "EACCES", path);
      this.operation = operation;
      this.name = "PermissionError";
    }
  },
  StaleFileError: class StaleFileError extends FilesystemError {
    readonly expectedMtime: Date;
    readonly actualMtime: Date;
    constructor(path: string, expectedMtime: Date, actualMtime: Date) {
      super(`File was modified externally: ${path} (expected mtime ${expectedMtime.toISOString()}, actual ${actualMtime.toISOString()})`, "ESTALE", path);
      this.expectedMtime = expectedMtime;
      this.actualMtime = actualMtime;
      this.name = "StaleFileError";
    }
  },
  UnsupportedGrepPatternError: class UnsupportedGrepPatternError extends FilesystemError {
    constructor(pattern: string, reason?: string) {
      super(`Unsupported grep pattern: ${pattern}${reason ? ` (${reason})` : ""}`, "EUNSUPPORTED_PATTERN", pattern);
      this.name = "UnsupportedGrepPatternError";
    }
  },
};

function completeErrors(given: Partial<MastraErrorClasses>): MastraErrorClasses {
  const out = { ...fallbackErrors };
  for (const key of Object.keys(fallbackErrors) as (keyof MastraErrorClasses)[]) {
    const cls = given[key];
    if (typeof cls === "function") (out as Record<keyof MastraErrorClasses, unknown>)[key] = cls;
  }
  return out;
}

/** Mastra's error classes, loaded on demand; look-alikes when @mastra/core is not installed. */
async function loadMastraErrors(): Promise<MastraErrorClasses> {
  try {
    return completeErrors((await import("@mastra/core/workspace")) as Partial<MastraErrorClasses>);
  } catch {
    return fallbackErrors;
  }
}

// ---------------------------------------------------------------------------------------------------
// Extensions: MIME types for `stat` (read_file picks media vs text from it) and the text test for grep.

const MIME_BY_EXTENSION: Readonly<Record<string, string>> = (() => {
  const groups: [string, string[]][] = [
    ["text/plain", ["txt", "text", "log", "ini", "cfg", "conf", "env", "properties", "rst", "adoc"]],
    ["text/markdown", ["md", "markdown", "mdx"]],
    ["text/html", ["html", "htm"]],
    ["text/css", ["css"]],
    ["text/csv", ["csv"]],
    ["text/tab-separated-values", ["tsv"]],
    ["text/yaml", ["yaml", "yml"]],
    ["text/toml", ["toml"]],
    ["text/x-python", ["py", "pyi"]],
    ["text/x-ruby", ["rb"]],
    ["text/x-go", ["go"]],
    ["text/x-rust", ["rs"]],
    ["text/x-java", ["java"]],
    ["text/x-kotlin", ["kt", "kts"]],
    ["text/x-swift", ["swift"]],
    ["text/x-c", ["c", "h"]],
    ["text/x-c++", ["cc", "cpp", "cxx", "hh", "hpp", "hxx"]],
    ["text/x-csharp", ["cs"]],
    ["text/x-sh", ["sh", "bash", "zsh", "fish"]],
    ["text/x-sql", ["sql"]],
    ["text/x-lua", ["lua"]],
    ["text/x-r", ["r"]],
    ["text/x-scss", ["scss"]],
    ["text/x-sass", ["sass"]],
    ["text/x-less", ["less"]],
    ["text/x-vue", ["vue"]],
    ["text/x-svelte", ["svelte"]],
    ["text/x-terraform", ["tf", "tfvars"]],
    ["application/javascript", ["js", "mjs", "cjs", "jsx"]],
    ["application/typescript", ["ts", "mts", "cts", "tsx"]],
    ["application/json", ["json", "jsonc", "json5", "map"]],
    ["application/jsonl", ["jsonl", "ndjson"]],
    ["application/xml", ["xml", "xsd", "xsl", "plist"]],
    ["application/graphql", ["graphql", "gql"]],
    ["application/x-php", ["php"]],
    ["application/dart", ["dart"]],
    ["image/png", ["png"]],
    ["image/jpeg", ["jpg", "jpeg"]],
    ["image/gif", ["gif"]],
    ["image/webp", ["webp"]],
    ["image/svg+xml", ["svg"]],
    ["image/bmp", ["bmp"]],
    ["image/tiff", ["tif", "tiff"]],
    ["image/x-icon", ["ico"]],
    ["image/avif", ["avif"]],
    ["image/heic", ["heic"]],
    ["image/heif", ["heif"]],
    ["application/pdf", ["pdf"]],
    ["audio/mpeg", ["mp3"]],
    ["audio/wav", ["wav"]],
    ["audio/ogg", ["ogg", "oga"]],
    ["audio/flac", ["flac"]],
    ["audio/aac", ["aac"]],
    ["audio/mp4", ["m4a"]],
    ["video/mp4", ["mp4", "m4v"]],
    ["video/webm", ["webm"]],
    ["video/quicktime", ["mov"]],
    ["video/x-msvideo", ["avi"]],
    ["video/x-matroska", ["mkv"]],
    ["application/zip", ["zip"]],
    ["application/gzip", ["gz", "tgz"]],
    ["application/x-tar", ["tar"]],
    ["application/x-bzip2", ["bz2"]],
    ["application/x-xz", ["xz"]],
    ["application/zstd", ["zst"]],
    ["application/x-7z-compressed", ["7z"]],
    ["application/vnd.rar", ["rar"]],
    ["application/wasm", ["wasm"]],
    ["application/x-sqlite3", ["sqlite", "sqlite3", "db"]],
    ["application/x-parquet", ["parquet"]],
    ["application/x-sharedlib", ["so", "dylib"]],
    ["application/vnd.microsoft.portable-executable", ["exe", "dll"]],
    ["application/x-binary", ["bin", "dat"]],
    ["application/msword", ["doc"]],
    ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", ["docx"]],
    ["application/vnd.ms-excel", ["xls"]],
    ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ["xlsx"]],
    ["application/vnd.ms-powerpoint", ["ppt"]],
    ["application/vnd.openxmlformats-officedocument.presentationml.presentation", ["pptx"]],
    ["font/ttf", ["ttf"]],
    ["font/otf", ["otf"]],
    ["font/woff", ["woff"]],
    ["font/woff2", ["woff2"]],
  ];
  const table: Record<string, string> = Object.create(null);
  for (const [type, extensions] of groups) for (const ext of extensions) table[ext] = type;
  return table;
})();

/** The MIME type for a file name by its extension; `application/octet-stream` when unknown. */
export function mimeTypeFor(name: string): string {
  const ext = posix.extname(name).slice(1).toLowerCase();
  return MIME_BY_EXTENSION[ext] ?? "application/octet-stream";
}

const TEXT_MIME_APPLICATION = new Set(["application/javascript", "application/typescript", "application/json", "application/jsonl", "application/xml", "application/graphql", "application/x-php", "application/dart"]);
const TEXT_EXTENSIONS: ReadonlySet<string> = new Set(
  Object.entries(MIME_BY_EXTENSION)
    .filter(([, type]) => type.startsWith("text/") || TEXT_MIME_APPLICATION.has(type) || type === "image/svg+xml")
    .map(([ext]) => `.${ext}`),
);

const normaliseExtension = (ext: string): string => {
  const lower = ext.trim().toLowerCase();
  return lower.startsWith(".") ? lower : `.${lower}`;
};

// ---------------------------------------------------------------------------------------------------
// Paths: the model's forms ("", ".", "x", "./x", "/x", "x/") all name the same workspace path.

/** The engine path ("/", "/a/b") for any of the accepted forms; `..` cannot climb above the root. */
function enginePath(path: string): string {
  if (typeof path !== "string") throw Object.assign(new TypeError(`The "path" argument must be of type string. Received ${typeof path}`), { code: "ERR_INVALID_ARG_TYPE" });
  const n = posix.normalize(`/${path}`);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}
/** The workspace-relative form ("" for the root, "a/b"), as LocalFilesystem reports paths. */
const relativeOf = (engine: string): string => engine.slice(1);
const childOf = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

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
export interface AcceleratedFSMountOptions extends CommonOptions {
  fs?: never;
  bucket?: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: S3Credentials;
  /** Directory for the local SQLite namespace and block cache (disposable). */
  cacheRoot: string;
  /** Block cache bound in bytes (default 256 MiB). */
  cacheBytes?: number;
  /** Use this store instead of S3 (`LocalObjectStore` for demos and tests). */
  store?: ObjectStore;
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

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
const GREP_READ_CONCURRENCY = 16;

type NotFoundKind = "file" | "directory" | "parent";

function errCode(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Whole-tree traversals (readdir recursive, walk, grep) list the tree with one asynchronous recursive
// readdir, which the engine runs off the JS thread, then visit the entries in slices of at most
// TRAVERSAL_SLICE_MS, yielding to the event loop between slices (per-entry lookups such as a file's
// size are synchronous SQLite reads).

/** Calls `visit` for every entry under `dir` (pre-order, names sorted), with its path relative to `dir`. */
async function eachInTree(fs: CachedFs, dir: string, visit: (rel: string, segments: string[], d: Dirent) => void): Promise<void> {
  const tree = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  await eachSliced(tree, (d) => visit(d.name, d.name.split("/"), d), new Slicer(TRAVERSAL_SLICE_MS));
}

const TRAVERSAL_SLICE_MS = 4;

// ---------------------------------------------------------------------------------------------------

/** A Mastra `WorkspaceFilesystem` on s3-bun-cached-fs. */
export class AcceleratedFS {
  readonly id: string;
  readonly name = "AcceleratedFS";
  readonly provider = "s3-bun-cached-fs";
  readonly icon = "s3";
  readonly displayName?: string;
  readonly description?: string;
  status: ProviderStatus = "pending";
  error?: string;

  readonly #options: AcceleratedFSOptions;
  readonly #textExtensions: ReadonlySet<string>;
  #errors: MastraErrorClasses | undefined;
  #fs: CachedFs | undefined;
  #manager: S3CachedFsManagerImpl | undefined;
  #initPromise: Promise<void> | undefined;

  constructor(options: AcceleratedFSOptions) {
    if (typeof options?.id !== "string" || options.id === "") {
      throw Object.assign(new TypeError('The "id" option must be a non-empty string'), { code: "ERR_INVALID_ARG_TYPE" });
    }
    this.id = options.id;
    this.displayName = options.displayName;
    this.description = options.description;
    this.#options = options;
    this.#textExtensions = new Set((options.textExtensions ?? []).map(normaliseExtension));
    if (options.errors !== undefined) this.#errors = completeErrors(options.errors);
    if (options.fs !== undefined) this.#fs = options.fs;
  }

  /** True on readonly mounts: Mastra then registers no write tools. Known without I/O. */
  get readOnly(): boolean {
    const o = this.#options;
    return o.fs !== undefined ? o.fs.readOnly : o.mode === "readonly";
  }

  /** The underlying mount (refresh, stats, transactions); available once initialised. */
  get cachedFs(): CachedFs {
    if (this.#fs === undefined) throw new Error(`AcceleratedFS "${this.id}" is not initialised; call init() first`);
    return this.#fs;
  }

  // ---- lifecycle --------------------------------------------------------------------------------

  /** Loads Mastra's error classes (unless injected) and opens the mount. Idempotent; concurrent calls share one run. */
  init(): Promise<void> {
    if (this.status === "ready") return Promise.resolve();
    this.#initPromise ??= this.#runInit().finally(() => {
      this.#initPromise = undefined;
    });
    return this.#initPromise;
  }

  async #runInit(): Promise<void> {
    this.status = "initializing";
    this.error = undefined;
    try {
      this.#errors ??= await loadMastraErrors();
      const o = this.#options;
      if (o.fs === undefined && this.#fs === undefined) {
        const manager = new S3CachedFsManagerImpl({ cacheRoot: o.cacheRoot });
        try {
          this.#fs = await manager.mount({
            name: o.mountName ?? o.id,
            mode: o.mode ?? "readwrite",
            bucket: o.bucket,
            prefix: o.prefix,
            region: o.region,
            endpoint: o.endpoint,
            forcePathStyle: o.forcePathStyle,
            credentials: o.credentials,
            cacheBytes: o.cacheBytes ?? DEFAULT_CACHE_BYTES,
            store: o.store,
            refreshIntervalMs: o.refreshIntervalMs,
            snapshotEvery: o.snapshotEvery,
          });
        } catch (e) {
          await manager.close();
          throw e;
        }
        this.#manager = manager;
      }
      this.status = "ready";
    } catch (e) {
      this.status = "error";
      this.error = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  /** Closes the mount this filesystem opened (a mount passed in as `fs` stays open). */
  async destroy(): Promise<void> {
    if (this.status === "destroyed") return;
    if (this.#initPromise !== undefined) await this.#initPromise.catch(() => {});
    this.status = "destroying";
    try {
      if (this.#manager !== undefined) {
        const manager = this.#manager;
        this.#manager = undefined;
        this.#fs = undefined;
        await manager.close();
      }
      this.status = "destroyed";
    } catch (e) {
      this.status = "error";
      this.error = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  /** No I/O: Mastra awaits this on every tool call. */
  getInfo(): FilesystemInfo {
    const o = this.#options;
    const metadata: Record<string, unknown> =
      o.fs !== undefined
        ? { mount: o.fs.name }
        : { mount: o.mountName ?? o.id, mode: o.mode ?? "readwrite", ...(o.store !== undefined ? { store: o.store.id } : { bucket: o.bucket, prefix: o.prefix ?? "", endpoint: o.endpoint }) };
    return { id: this.id, name: this.name, provider: this.provider, status: this.status, error: this.error, readOnly: this.readOnly, icon: this.icon, metadata };
  }

  getInstructions(): string {
    if (this.#options.instructions !== undefined) return this.#options.instructions;
    const where = this.#options.fs !== undefined ? `mount "${this.#options.fs.name}"` : this.#options.store !== undefined ? "a local object store" : `bucket "${this.#options.bucket ?? ""}"`;
    return [
      `Workspace files stored in ${where} (s3-bun-cached-fs), ${this.readOnly ? "read-only" : "read-write"}.`,
      `Paths are relative to the workspace root: "notes/a.md", "./notes/a.md" and "/notes/a.md" name the same file; ".." cannot leave the root.`,
    ].join(" ");
  }

  isTextFile(filename: string): boolean {
    const ext = posix.extname(filename).toLowerCase();
    return TEXT_EXTENSIONS.has(ext) || this.#textExtensions.has(ext);
  }

  async #ready(): Promise<{ fs: CachedFs; errors: MastraErrorClasses }> {
    if (this.status !== "ready") await this.init();
    if (this.#fs === undefined || this.#errors === undefined) throw new Error(`AcceleratedFS "${this.id}" is not ready (status: ${this.status})`);
    return { fs: this.#fs, errors: this.#errors };
  }

  async #writable(path: string, operation: string): Promise<{ fs: CachedFs; errors: MastraErrorClasses }> {
    const ready = await this.#ready();
    if (ready.fs.readOnly) throw new ready.errors.PermissionError(path, `${operation} (filesystem is read-only)`);
    return ready;
  }

  /** Our Node-style error as the Mastra error a caller of `operation` on `path` expects; others pass through. */
  #translate(e: unknown, path: string, operation: string, notFound: NotFoundKind = "file"): unknown {
    const E = this.#errors ?? fallbackErrors;
    if (Object.values(E).some((cls) => e instanceof cls)) return e;
    switch (errCode(e)) {
      case "ENOENT":
        if (notFound === "directory") return new E.DirectoryNotFoundError(path);
        if (notFound === "parent") return new E.DirectoryNotFoundError(posix.dirname(path));
        return new E.FileNotFoundError(path);
      case "EEXIST":
        return new E.FileExistsError(path);
      case "EISDIR":
        return new E.IsDirectoryError(path);
      case "ENOTDIR":
        if (notFound === "file") return new E.FileNotFoundError(path);
        return new E.NotDirectoryError(notFound === "parent" ? posix.dirname(path) : path);
      case "ENOTEMPTY":
        return new E.DirectoryNotEmptyError(path);
      case "EROFS":
      case "EACCES":
      case "EPERM":
        return new E.PermissionError(path, operation);
      default:
        return e;
    }
  }

  async #run<T>(path: string, operation: string, notFound: NotFoundKind, fn: () => Promise<T> | T): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.#translate(e, path, operation, notFound);
    }
  }

  // ---- reads ------------------------------------------------------------------------------------

  async readFile(path: string, options: ReadOptions = {}): Promise<string | Buffer> {
    const { fs } = await this.#ready();
    const bytes = await this.#run(path, "readFile", "file", () => fs.readFile(enginePath(path)));
    return options.encoding !== undefined ? bytes.toString(options.encoding) : bytes;
  }

  async exists(path: string): Promise<boolean> {
    const { fs } = await this.#ready();
    try {
      return fs.existsSync(enginePath(path));
    } catch {
      return false;
    }
  }

  async stat(path: string): Promise<FileStat> {
    const { fs } = await this.#ready();
    const p = enginePath(path);
    const st = await this.#run(path, "stat", "file", () => fs.statSync(p));
    return this.#fileStat(p, st);
  }

  #fileStat(p: string, st: Stats): FileStat {
    const isDir = st.isDirectory();
    const name = posix.basename(p);
    const out: FileStat = { name, path: relativeOf(p), type: isDir ? "directory" : "file", size: isDir ? 0 : st.size, createdAt: st.birthtime, modifiedAt: st.mtime };
    if (!isDir) out.mimeType = mimeTypeFor(name);
    return out;
  }

  async realpath(path: string): Promise<string> {
    const { fs } = await this.#ready();
    return relativeOf(await this.#run(path, "realpath", "file", () => fs.realpathSync(enginePath(path))));
  }

  async readdir(path: string, options: ListOptions = {}): Promise<FileEntry[]> {
    const { fs } = await this.#ready();
    const root = enginePath(path);
    const extensions = options.extension === undefined ? undefined : Array.isArray(options.extension) ? options.extension : [options.extension];
    const wanted = (entry: FileEntry): boolean => {
      if (extensions === undefined || entry.type !== "file") return true;
      const ext = posix.extname(entry.name);
      return extensions.some((e) => e === ext || e === ext.slice(1));
    };
    return this.#run(path, "readdir", "directory", async () => {
      this.#assertDirectory(fs, root);
      if (options.recursive !== true) return (await fs.readdir(root, { withFileTypes: true })).map((d) => this.#entry(fs, root, d.name, d)).filter(wanted);
      // Like LocalFilesystem: maxDepth counts the levels below the listed one (default 100), and entries
      // are named by their path relative to it. Symlinked directories are listed but not entered.
      const maxDepth = options.maxDepth ?? 100;
      const out: FileEntry[] = [];
      await eachInTree(fs, root, (rel, segments, d) => {
        if (segments.length - 1 > maxDepth) return;
        const entry = this.#entry(fs, root, rel, d);
        if (wanted(entry)) out.push(entry);
      });
      return out;
    });
  }

  /** Every entry under `path`, pre-order, names sorted; from local metadata only, listed off the JS thread. */
  async walk(path: string, options: WalkOptions = {}): Promise<WalkEntry[]> {
    const { fs } = await this.#ready();
    const root = enginePath(path);
    const maxDepth = options.maxDepth ?? Infinity;
    const out: WalkEntry[] = [];
    await this.#run(path, "walk", "directory", async () => {
      this.#assertDirectory(fs, root);
      if (maxDepth < 1) return;
      await eachInTree(fs, root, (rel, segments, d) => {
        // Root entries are depth 1; a hidden directory's contents are hidden too.
        if (segments.length > maxDepth) return;
        if (options.includeHidden !== true && segments.some((s) => s.startsWith("."))) return;
        out.push({ ...this.#entry(fs, root, rel, d), name: segments[segments.length - 1] ?? rel, path: rel });
      });
    });
    return out;
  }

  #assertDirectory(fs: CachedFs, dir: string): void {
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, scandir '${dir}'`), { code: "ENOTDIR" });
  }

  /** The entry `rel` under `dir` as a Mastra FileEntry named `rel` (symlinks resolved to their target's type). */
  #entry(fs: CachedFs, dir: string, rel: string, d: Dirent): FileEntry {
    const p = childOf(dir, rel);
    if (d.isSymbolicLink()) {
      const entry: FileEntry = { name: rel, type: "file", isSymlink: true };
      try {
        entry.symlinkTarget = fs.readlinkSync(p);
        if (fs.statSync(p).isDirectory()) entry.type = "directory";
      } catch {
        // dangling: a file, as LocalFilesystem reports it
      }
      return entry;
    }
    if (d.isDirectory()) return { name: rel, type: "directory" };
    return { name: rel, type: "file", size: fs.statSync(p).size };
  }

  /**
   * Searches text files under `path` line by line with a JS regular expression: the first match on each
   * line, `line` 1-based, `column` a UTF-16 index. Skips hidden names unless `includeHidden`, `.git`
   * directories, symlinked directories, and files `isTextFile` rejects (Mastra's grep tool drops those
   * anyway). Bytes come through the cache: files written together share a pack, so a cold search costs
   * about one GET per pack. Invalid patterns throw UnsupportedGrepPatternError.
   */
  async grep(options: FilesystemGrepOptions): Promise<FilesystemGrepResult[]> {
    const { fs, errors } = await this.#ready();
    let regex: RegExp;
    try {
      regex = new RegExp(options.pattern, options.caseSensitive === false ? "i" : "");
    } catch (e) {
      throw new errors.UnsupportedGrepPatternError(options.pattern, e instanceof Error ? e.message : String(e));
    }
    const root = enginePath(options.path);
    const includeHidden = options.includeHidden === true;
    const context = Math.max(0, Math.floor(options.contextLines ?? 0));
    const perFile = options.maxCountPerFile ?? Infinity;
    const cap = options.maxTotalMatches ?? Infinity;

    // Which files: from metadata alone, listed off the JS thread.
    const files: { engine: string; rel: string }[] = [];
    await this.#run(options.path, "grep", "directory", async () => {
      const st = fs.statSync(root);
      if (!st.isDirectory()) {
        if (this.isTextFile(root)) files.push({ engine: root, rel: posix.basename(root) });
        return;
      }
      await eachInTree(fs, root, (rel, segments, d) => {
        if (d.isDirectory() || !this.isTextFile(rel)) return;
        if (!includeHidden && segments.some((s) => s.startsWith("."))) return;
        // `.git` directories are not searched.
        if (segments.slice(0, -1).includes(".git")) return;
        const p = childOf(root, rel);
        // Regular files and symlinks to files (followed); symlinks to directories are not entered.
        if (d.isSymbolicLink() && !(fs.existsSync(p) && fs.statSync(p).isFile())) return;
        files.push({ engine: p, rel });
      });
    });

    // Then bytes, a window at a time (the engine fetches a shared pack block once), in path order.
    const results: FilesystemGrepResult[] = [];
    let total = 0;
    for (let start = 0; start < files.length && total < cap; start += GREP_READ_CONCURRENCY) {
      const window = files.slice(start, start + GREP_READ_CONCURRENCY);
      const contents = await Promise.all(window.map((f) => fs.readFile(f.engine).then((b) => b.toString("utf-8"), () => undefined)));
      for (let i = 0; i < window.length && total < cap; i++) {
        const text = contents[i];
        const file = window[i];
        if (text === undefined || file === undefined) continue;
        const lines = text.split("\n");
        const matches: FilesystemGrepMatch[] = [];
        for (let n = 0; n < lines.length && matches.length < perFile && total < cap; n++) {
          const line = lines[n] ?? "";
          const m = regex.exec(line);
          if (m === null) continue;
          const match: FilesystemGrepMatch = { line: n + 1, column: m.index, text: line };
          if (context > 0) {
            match.before = lines.slice(Math.max(0, n - context), n);
            match.after = lines.slice(n + 1, n + 1 + context);
          }
          matches.push(match);
          total++;
        }
        if (matches.length > 0) results.push({ path: file.rel, matches });
      }
    }
    return results;
  }

  // ---- writes: every one a CachedFs call or one transaction (one commit) ---------------------------

  async writeFile(path: string, content: FileContent, options: WriteOptions = {}): Promise<void> {
    const { fs, errors } = await this.#writable(path, "writeFile");
    const p = enginePath(path);
    const write = { recursive: options.recursive !== false, flag: options.overwrite === false ? ("wx" as const) : ("w" as const) };
    const expected = options.expectedMtime;
    await this.#run(path, "writeFile", "parent", async () => {
      if (expected === undefined) return fs.writeFile(p, content, write);
      // Check and write in one transaction, so nothing commits between the comparison and the write.
      await fs.transaction(async (tx) => {
        const current = tryStat(tx, p);
        if (current !== undefined && current.mtime.getTime() !== expected.getTime()) throw new errors.StaleFileError(path, expected, current.mtime);
        await tx.writeFile(p, content, write);
      });
    });
  }

  /** Appends, creating the file and its parents when missing. */
  async appendFile(path: string, content: FileContent): Promise<void> {
    const { fs } = await this.#writable(path, "appendFile");
    const p = enginePath(path);
    const parent = posix.dirname(p);
    await this.#run(path, "appendFile", "parent", async () => {
      if (fs.existsSync(parent)) return fs.appendFile(p, content);
      await fs.transaction(async (tx) => {
        await tx.mkdir(parent, { recursive: true });
        await tx.appendFile(p, content);
      });
    });
  }

  async deleteFile(path: string, options: RemoveOptions = {}): Promise<void> {
    const { fs } = await this.#writable(path, "deleteFile");
    // `rm` without recursive refuses any directory (EISDIR) and removes a symlink itself.
    await this.#run(path, "deleteFile", "file", () => fs.rm(enginePath(path), { force: options.force === true }));
  }

  async copyFile(src: string, dest: string, options: CopyOptions = {}): Promise<void> {
    const { fs } = await this.#writable(dest, "copyFile");
    const from = enginePath(src);
    const to = enginePath(dest);
    await fs.transaction(async (tx) => {
      const st = await this.#run(src, "copyFile", "file", () => tx.statSync(from));
      if (st.isDirectory() && options.recursive !== true) throw this.#translate({ code: "EISDIR" }, src, "copyFile");
      this.#replaceable(tx, to, dest, options.overwrite, "copyFile");
      await this.#run(dest, "copyFile", "parent", async () => {
        await tx.mkdir(posix.dirname(to), { recursive: true });
        await tx.copy(from, to, { recursive: options.recursive === true });
      });
    });
  }

  async moveFile(src: string, dest: string, options: CopyOptions = {}): Promise<void> {
    const { fs } = await this.#writable(src, "moveFile");
    const from = enginePath(src);
    const to = enginePath(dest);
    await fs.transaction(async (tx) => {
      await this.#run(src, "moveFile", "file", () => tx.lstatSync(from));
      this.#replaceable(tx, to, dest, options.overwrite, "moveFile");
      await this.#run(dest, "moveFile", "parent", async () => {
        await tx.mkdir(posix.dirname(to), { recursive: true });
        await tx.rename(from, to);
      });
    });
  }

  /** With `overwrite: false`, FileExistsError when `to` exists. (A file never replaces a directory: EISDIR.) */
  #replaceable(tx: Transaction, to: string, dest: string, overwrite: boolean | undefined, operation: string): void {
    if (overwrite === false && tryLstat(tx, to) !== undefined) throw this.#translate({ code: "EEXIST" }, dest, operation);
  }

  /** Recursive by default (as LocalFilesystem); an existing directory is fine, an existing file is FileExistsError. */
  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const { fs } = await this.#writable(path, "mkdir");
    const p = enginePath(path);
    const existing = tryStat(fs, p);
    if (existing !== undefined) {
      if (existing.isDirectory()) return;
      throw this.#translate({ code: "EEXIST" }, path, "mkdir");
    }
    await this.#run(path, "mkdir", "parent", () => fs.mkdir(p, { recursive: options.recursive ?? true }));
  }

  async rmdir(path: string, options: RemoveOptions = {}): Promise<void> {
    const { fs } = await this.#writable(path, "rmdir");
    const p = enginePath(path);
    await this.#run(path, "rmdir", "directory", async () => {
      if (options.recursive !== true) {
        if (options.force === true && !fs.existsSync(p)) return;
        return fs.rmdir(p);
      }
      await fs.transaction(async (tx) => {
        const st = tryStat(tx, p);
        if (st === undefined) {
          if (options.force === true) return;
          throw Object.assign(new Error(`ENOENT: no such file or directory, rmdir '${p}'`), { code: "ENOENT" });
        }
        if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, rmdir '${p}'`), { code: "ENOTDIR" });
        await tx.rm(p, { recursive: true });
      });
    });
  }

  // ---- history (thin delegations to the mount; paths workspace-relative, as everywhere here) -------

  /** Names the current commit, so it stays readable (`CachedFs.checkpoint`; EEXIST when taken). */
  async checkpoint(name: string, options: { message?: string } = {}): Promise<Checkpoint> {
    const { fs } = await this.#writable(name, "checkpoint");
    return fs.checkpoint(name, options);
  }

  /** Every checkpoint, oldest commit first. */
  async checkpoints(): Promise<Checkpoint[]> {
    return (await this.#ready()).fs.checkpoints();
  }

  async deleteCheckpoint(name: string): Promise<void> {
    const { fs } = await this.#writable(name, "deleteCheckpoint");
    await fs.deleteCheckpoint(name);
  }

  /**
   * What changed from `from` to `to` (a seq or a checkpoint name; now when absent), under `path`
   * (`CachedFs.diff`). Paths are workspace-relative ("notes/a.md"), like `stat().path`.
   */
  async diff(from: CommitRef, to?: CommitRef, options: { path?: string } = {}): Promise<Change[]> {
    const { fs } = await this.#ready();
    const changes = await fs.diff(from, to, options.path === undefined ? {} : { path: enginePath(options.path) });
    return changes.map((c) => (c.fromPath === undefined ? { ...c, path: relativeOf(c.path) } : { ...c, path: relativeOf(c.path), fromPath: relativeOf(c.fromPath) }));
  }

  /** Makes the workspace (or just `paths`) what it was at `at`, as one new commit (`CachedFs.restore`). */
  async restore(at: CommitRef, options: { paths?: string[] } = {}): Promise<{ seq: number }> {
    const { fs } = await this.#writable("", "restore");
    return fs.restore(at, options.paths === undefined ? {} : { paths: options.paths.map(enginePath) });
  }
}

function tryStat(view: CachedFs | Transaction, p: string): Stats | undefined {
  try {
    return view.statSync(p);
  } catch (e) {
    if (errCode(e) === "ENOENT" || errCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
}
function tryLstat(view: CachedFs | Transaction, p: string): Stats | undefined {
  try {
    return view.lstatSync(p);
  } catch (e) {
    if (errCode(e) === "ENOENT" || errCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
}
