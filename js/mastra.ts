// s3-bun-cached-fs/mastra: `AcceleratedFS`, a Mastra `WorkspaceFilesystem` over a CachedFs mount.
//
// Structural: nothing here imports @mastra/core at module load. Mastra checks its error classes with
// `instanceof`, so they are injected (`errors: await import("@mastra/core/workspace")`) or, failing
// that, imported lazily in `init()`; without Mastra installed, look-alike classes stand in.
// Every change goes through the core API (CachedFs / Transaction); walk and grep list the tree with the
// mount's asynchronous recursive readdir (off the JS thread) and read bytes through the block cache.
//
// The parts: mastra/types.ts (Mastra's shapes and the options), mastra/errors.ts (error classes and
// the translation of ours), mastra/mime.ts (MIME types and text extensions), mastra/grep.ts (tree
// traversal and grep); paths and the "absent" rule are the adapters' shared ones (adapters/).
import { posix } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type Change, type Checkpoint, type CommitRef, type Dirent, type Stats, type Transaction } from "./core.ts";
import { lstatOrUndefined, statOrUndefined } from "./adapters/absent.ts";
import { childOf, normalizeVirtualPath } from "./adapters/paths.ts";
import { completeErrors, fallbackErrors, loadMastraErrors, translateError, type MastraErrorClasses, type NotFoundKind } from "./mastra/errors.ts";
import { eachInTree, grepFiles, grepSearch } from "./mastra/grep.ts";
import { mimeTypeFor, normaliseExtension, TEXT_EXTENSIONS } from "./mastra/mime.ts";
import type {
  AcceleratedFSOptions,
  CopyOptions,
  FileContent,
  FileEntry,
  FileStat,
  FilesystemGrepOptions,
  FilesystemGrepResult,
  FilesystemInfo,
  ListOptions,
  ProviderStatus,
  ReadOptions,
  RemoveOptions,
  WalkEntry,
  WalkOptions,
  WriteOptions,
} from "./mastra/types.ts";

export type * from "./mastra/types.ts";
export type { MastraErrorClasses } from "./mastra/errors.ts";
export { mimeTypeFor } from "./mastra/mime.ts";

// ---------------------------------------------------------------------------------------------------
// Paths: the model's forms ("", ".", "x", "./x", "/x", "x/") all name the same workspace path.

/** The engine path ("/", "/a/b") for any of the accepted forms; `..` cannot climb above the root. */
function enginePath(path: string): string {
  if (typeof path !== "string") throw Object.assign(new TypeError(`The "path" argument must be of type string. Received ${typeof path}`), { code: "ERR_INVALID_ARG_TYPE" });
  return normalizeVirtualPath(path);
}
/** The workspace-relative form ("" for the root, "a/b"), as LocalFilesystem reports paths. */
const relativeOf = (engine: string): string => engine.slice(1);

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

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
    return translateError(this.#errors ?? fallbackErrors, e, path, operation, notFound);
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
    // Which files: from metadata alone, listed off the JS thread; then their bytes.
    const files = await this.#run(options.path, "grep", "directory", () => grepFiles(fs, root, options.includeHidden === true, (name) => this.isTextFile(name)));
    return grepSearch(fs, files, regex, options);
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
        const current = statOrUndefined(tx, p);
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
    if (overwrite === false && lstatOrUndefined(tx, to) !== undefined) throw this.#translate({ code: "EEXIST" }, dest, operation);
  }

  /** Recursive by default (as LocalFilesystem); an existing directory is fine, an existing file is FileExistsError. */
  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const { fs } = await this.#writable(path, "mkdir");
    const p = enginePath(path);
    const existing = statOrUndefined(fs, p);
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
        const st = statOrUndefined(tx, p);
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
