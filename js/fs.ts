// CachedFs: one mounted workspace. Metadata calls are answered synchronously from SQLite (and offered
// as already-settled promises); bytes and commits go through the engine on tokio.
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BunFile } from "bun";
import { checkInt, checkPath, errorFromMessage, fsError, requireInt, settled } from "./errors.ts";
import { eachSliced } from "./slices.ts";
import { toBuffer } from "./bytes.ts";
import { localFile, type LocalFile } from "./local-file.ts";
import type { JsCheckpoint, JsDirent, JsFsckReport, JsGcReport, JsLogEntry, JsMountStats, JsStat, JsWriteOptions, NativeMount, NativeTxn } from "../index.js";

export type { JsFsckReport as FsckReport, JsGcReport as GcReport, JsLogEntry as LogEntry };

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

export type { JsCheckpoint as Checkpoint } from "../index.js";

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

function checkCommitRef(at: unknown): CommitRef {
  if (typeof at === "string" || (typeof at === "number" && Number.isSafeInteger(at) && at >= 0)) return at;
  throw fsError("EINVAL", "invalid argument (a commit is a seq, a non-negative integer, or a checkpoint name)", "history");
}

/** `JsDirentList.kinds` bytes, as the kind names `JsDirent` uses. */
const KIND_NAMES: Record<number, string> = { 1: "file", 2: "directory", 3: "symlink" };

/** Bytes per read while streaming, and reads kept in flight ahead of the consumer. */
const STREAM_WINDOW = 4 << 20;
const STREAM_READ_AHEAD = 3;

const isLocalBunFile = (b: Blob): b is BunFile =>
  typeof (b as Partial<BunFile>).name === "string" && typeof (b as Partial<BunFile>).writer === "function" && !("presign" in b);

/** The three type predicates Node's `Stats` and `Dirent` share. */
abstract class Typed {
  readonly #kind: string;

  constructor(kind: string) {
    this.#kind = kind;
  }
  isFile(): boolean {
    return this.#kind === "file";
  }
  isDirectory(): boolean {
    return this.#kind === "directory";
  }
  isSymbolicLink(): boolean {
    return this.#kind === "symlink";
  }
}

/** Node-like file status. */
/**
 * `readFile`: a small file already in memory, or an absent path, is answered without a trip through
 * tokio (scripts read thousands of small files and poll missing ones); anything else by `slow`.
 */
function readThroughMemory(native: NativeMount | NativeTxn, path: string, slow: () => Promise<Buffer>): Promise<Buffer> {
  checkPath(path);
  return settled(() => {
    const cached = native.readCached(path);
    if (cached === null) return slow();
    if (typeof cached === "string") throw errorFromMessage(cached, "open", path);
    return cached;
  });
}

export class Stats extends Typed {
  readonly ino: number;
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly nlink = 1;
  readonly uid = 0;
  readonly gid = 0;

  constructor(s: JsStat) {
    super(s.kind);
    this.ino = s.ino;
    this.mode = s.mode;
    this.size = s.size;
    this.mtimeMs = s.mtimeMs;
    this.ctimeMs = s.ctimeMs;
  }

  get mtime(): Date {
    return new Date(this.mtimeMs);
  }
  get ctime(): Date {
    return new Date(this.ctimeMs);
  }
  get atime(): Date {
    return new Date(this.mtimeMs);
  }
  get birthtime(): Date {
    return new Date(this.ctimeMs);
  }
}

/** A directory entry, as `readdir(path, { withFileTypes: true })` returns. */
export class Dirent extends Typed {
  readonly name: string;
  /** The directory the entry was listed from. */
  readonly parentPath: string;

  constructor(d: JsDirent, parentPath: string) {
    super(d.kind);
    this.name = d.name;
    this.parentPath = parentPath;
  }
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
}

export interface RefreshResult {
  outcome: "unchanged" | "advanced" | "rebuilt";
  seq: number;
}


/** The data as one buffer (transactions take their writes whole). */
export async function toBytes(data: FileData): Promise<Buffer> {
  if (typeof data === "string" || data instanceof Uint8Array) return toBuffer(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (data instanceof Blob) return Buffer.from(await data.arrayBuffer());
  if (data instanceof ReadableStream) return Buffer.from(await new Response(data).arrayBuffer());
  throw Object.assign(new TypeError('The "data" argument must be a string, Uint8Array, ArrayBuffer, Blob or ReadableStream'), { code: "ERR_INVALID_ARG_TYPE" });
}

const MAX_MODE = 0o7777;

const nativeWriteOptions = (o: WriteFileOptions): JsWriteOptions => ({
  createParents: o.recursive === true,
  exclusive: o.flag === "wx",
  mode: checkInt(o.mode, "mode", 0, MAX_MODE, "open"),
  mtimeMs: o.mtime === undefined ? undefined : toEpochMs(o.mtime),
});

/** A time as Node's `utimes` takes it (a Date, or seconds since the epoch) in milliseconds. */
const toEpochMs = (t: Date | number): number => (t instanceof Date ? t.getTime() : t * 1000);

/** The read methods a mount and a transaction share; `source` is the engine view they read. */
abstract class FsView {
  protected abstract source(): NativeMount | NativeTxn;

  statSync(path: string): Stats {
    checkPath(path);
    return new Stats(this.source().stat(path, true));
  }
  lstatSync(path: string): Stats {
    checkPath(path);
    return new Stats(this.source().stat(path, false));
  }
  existsSync(path: string): boolean {
    checkPath(path);
    return this.source().exists(path);
  }
  readdirSync(path: string, options: ReaddirOptions & { withFileTypes: true }): Dirent[];
  readdirSync(path: string, options?: ReaddirOptions & { withFileTypes?: false }): string[];
  readdirSync(path: string, options?: ReaddirOptions): string[] | Dirent[];
  readdirSync(path: string, options: ReaddirOptions = {}): string[] | Dirent[] {
    checkPath(path);
    const recursive = options.recursive === true;
    if (options.withFileTypes === true) return this.source().readdir(path, recursive).map((d) => new Dirent(d, path));
    return this.names(path, recursive);
  }
  readlinkSync(path: string): string {
    checkPath(path);
    return this.source().readlink(path);
  }
  realpathSync(path: string): string {
    checkPath(path);
    return this.source().realpath(path);
  }

  stat(path: string): Promise<Stats> {
    return settled(() => this.statSync(path));
  }
  lstat(path: string): Promise<Stats> {
    return settled(() => this.lstatSync(path));
  }
  exists(path: string): Promise<boolean> {
    return settled(() => this.existsSync(path));
  }
  readdir(path: string, options: ReaddirOptions & { withFileTypes: true }): Promise<Dirent[]>;
  readdir(path: string, options?: ReaddirOptions & { withFileTypes?: false }): Promise<string[]>;
  readdir(path: string, options?: ReaddirOptions): Promise<string[] | Dirent[]>;
  readdir(path: string, options: ReaddirOptions = {}): Promise<string[] | Dirent[]> {
    return settled(() => this.readdirSync(path, options));
  }
  readlink(path: string): Promise<string> {
    return settled(() => this.readlinkSync(path));
  }
  realpath(path: string): Promise<string> {
    return settled(() => this.realpathSync(path));
  }

  abstract readFile(path: string): Promise<Buffer>;

  /** Entry names of a directory (recursive: relative paths). */
  protected names(path: string, recursive: boolean): string[] {
    return this.source().readdir(path, recursive).map((d) => d.name);
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readFile(path));
  }
}

/** What a transaction callback receives: the same read and write methods, applied as one commit. */
export class Transaction extends FsView {
  readonly #tx: NativeTxn;

  /** @internal */
  constructor(tx: NativeTxn) {
    super();
    this.#tx = tx;
  }
  protected source(): NativeTxn {
    return this.#tx;
  }

  readFile(path: string): Promise<Buffer> {
    return readThroughMemory(this.#tx, path, () => this.#tx.readFile(path));
  }
  /** Like `CachedFs.writeFile`; a local `BunFile` is streamed, other data is taken whole. */
  writeFile(path: string, data: FileData, options: WriteFileOptions = {}): Promise<void> {
    if (typeof data === "string" || data instanceof Uint8Array) {
      // The common case, with no promise machinery in between: thousands of these make one commit.
      // The engine asks the caller to wait only when too much is still on its way to the bucket.
      let drain: boolean;
      try {
        checkPath(path);
        drain = this.#tx.writeFile(path, toBuffer(data), nativeWriteOptions(options));
      } catch (e) {
        return Promise.reject(e);
      }
      return drain ? this.#tx.drain() : Promise.resolve();
    }
    return this.#writeOther(path, data, options);
  }

  async #writeOther(path: string, data: FileData, options: WriteFileOptions): Promise<void> {
    checkPath(path);
    if (data instanceof Blob && isLocalBunFile(data)) {
      await this.#tx.writeLocalFile(path, data.name ?? "", nativeWriteOptions(options));
      return;
    }
    if (this.#tx.writeFile(path, await toBytes(data), nativeWriteOptions(options))) await this.#tx.drain();
  }

  async appendFile(path: string, data: FileData): Promise<void> {
    checkPath(path);
    if (this.#tx.appendFile(path, await toBytes(data))) await this.#tx.drain();
  }
  mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    return settled(() => (checkPath(path), this.#tx.mkdir(path, options.recursive === true)));
  }
  rm(path: string, options: RmOptions = {}): Promise<void> {
    return settled(() => (checkPath(path), this.#tx.rm(path, options.recursive === true, options.force === true)));
  }
  rmdir(path: string): Promise<void> {
    return settled(() => (checkPath(path), this.#tx.rmdir(path)));
  }
  rename(from: string, to: string): Promise<void> {
    return settled(() => (checkPath(from, "oldPath"), checkPath(to, "newPath"), this.#tx.rename(from, to)));
  }
  copy(from: string, to: string, options: { recursive?: boolean } = {}): Promise<void> {
    return settled(() => (checkPath(from, "src"), checkPath(to, "dest"), this.#tx.copy(from, to, options.recursive === true)));
  }
  symlink(target: string, path: string): Promise<void> {
    return settled(() => (checkPath(target, "target"), checkPath(path), this.#tx.symlink(target, path)));
  }
  utimes(path: string, _atime: Date | number, mtime: Date | number): Promise<void> {
    return settled(() => (checkPath(path), this.#tx.setAttr(path, undefined, toEpochMs(mtime))));
  }
  chmod(path: string, mode: number): Promise<void> {
    return settled(() => (checkPath(path), this.#tx.setAttr(path, requireInt(mode, "mode", 0, MAX_MODE, "chmod"), undefined)));
  }
}

/** A mounted workspace. */
export class CachedFs extends FsView {
  readonly name: string;
  readonly #mount: NativeMount;
  readonly #stagingDir: string;
  readonly #onClose: () => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** @internal */
  constructor(name: string, mount: NativeMount, stateDir: string, refreshIntervalMs: number | undefined, onClose: () => void) {
    super();
    this.name = name;
    this.#mount = mount;
    this.#stagingDir = join(stateDir, "staging");
    this.#onClose = onClose;
    if (refreshIntervalMs !== undefined && refreshIntervalMs > 0) {
      this.#timer = setInterval(() => {
        this.refresh().catch(() => {});
      }, refreshIntervalMs);
      this.#timer.unref?.();
    }
  }
  protected source(): NativeMount {
    return this.#mount;
  }
  protected override names(path: string, recursive: boolean): string[] {
    return this.#mount.readdirNames(path, recursive);
  }

  /** Like `readdirSync`; a recursive listing is made on another thread, so the event loop goes on. */
  override readdir(path: string, options: ReaddirOptions & { withFileTypes: true }): Promise<Dirent[]>;
  override readdir(path: string, options?: ReaddirOptions & { withFileTypes?: false }): Promise<string[]>;
  override readdir(path: string, options?: ReaddirOptions): Promise<string[] | Dirent[]>;
  override async readdir(path: string, options: ReaddirOptions = {}): Promise<string[] | Dirent[]> {
    if (options.recursive !== true) return this.readdirSync(path, options);
    checkPath(path);
    const list = await this.#mount.readdirAsync(path, true);
    const names = list.kinds.length === 0 ? [] : list.names.split("\0");
    if (options.withFileTypes !== true) return names;
    // Built in slices: a hundred thousand Dirents at once would hold the event loop for tens of ms.
    const out: Dirent[] = [];
    let i = 0;
    await eachSliced(names, (name) => out.push(new Dirent({ name, kind: KIND_NAMES[list.kinds[i++] ?? 1] ?? "file" }, path)));
    return out;
  }

  /** The last commit this mount has applied. */
  get seq(): number {
    return this.#mount.seq;
  }
  get epoch(): number {
    return this.#mount.epoch;
  }
  get readOnly(): boolean {
    return !this.#mount.readwrite;
  }

  readFile(path: string): Promise<Buffer> {
    return readThroughMemory(this.#mount, path, () => this.#mount.read(path));
  }
  /** `length` bytes from `offset` (to the end when absent), fetching only the blocks needed. */
  read(path: string, options: { offset?: number; length?: number } = {}): Promise<Buffer> {
    checkPath(path);
    const offset = checkInt(options.offset, "offset", 0, Number.MAX_SAFE_INTEGER, "read");
    const length = checkInt(options.length, "length", 0, Number.MAX_SAFE_INTEGER, "read");
    return this.#mount.read(path, offset, length);
  }
  /** `[start, end)` of a file as a Web stream, read ahead while the consumer works. */
  stream(path: string, options: { start?: number; end?: number } = {}): ReadableStream<Uint8Array> {
    checkPath(path);
    const start = checkInt(options.start, "start", 0, Number.MAX_SAFE_INTEGER, "read");
    const end = checkInt(options.end, "end", 0, Number.MAX_SAFE_INTEGER, "read");
    const handle = this.#mount.openFile(path);
    const stop = Math.min(end ?? handle.size, handle.size);
    let next = start ?? 0;
    const inFlight: Promise<Buffer>[] = [];
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          while (inFlight.length < STREAM_READ_AHEAD && next < stop) {
            const length = Math.min(STREAM_WINDOW, stop - next);
            inFlight.push(handle.read(next, length));
            next += length;
          }
          const head = inFlight.shift();
          if (head === undefined) {
            controller.close();
            return;
          }
          const buf = await head;
          controller.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
        },
        cancel() {
          for (const p of inFlight.splice(0)) p.catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  }

  async writeFile(path: string, data: FileData, options: WriteFileOptions = {}): Promise<void> {
    checkPath(path);
    if (data instanceof Blob && isLocalBunFile(data)) {
      await this.#mount.writeLocalFile(path, data.name ?? "", nativeWriteOptions(options));
      return;
    }
    if (data instanceof ReadableStream || (data instanceof Blob && data.size >= STREAM_WINDOW)) {
      await this.#writeStream(path, data instanceof Blob ? data.stream() : data, options);
      return;
    }
    await this.#mount.writeFile(path, await toBytes(data), nativeWriteOptions(options));
  }

  async #writeStream(path: string, stream: ReadableStream<Uint8Array>, options: WriteFileOptions): Promise<void> {
    const upload = this.#mount.createUpload();
    try {
      for await (const chunk of stream) await upload.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (e) {
      upload.abort();
      throw e;
    }
    await upload.commit(path, nativeWriteOptions(options));
  }

  /**
   * A real local file to write with Bun's APIs (`handle.file.writer()`, `Bun.write(handle.file, ...)`).
   * `close()` uploads it a chunk at a time and commits it at `path`, creating missing parent
   * directories like `Bun.write` (pass `recursive: false` to refuse them with ENOENT); `abort()` leaves nothing.
   */
  async openWrite(path: string, options: WriteFileOptions = {}): Promise<WriteHandle> {
    options = { ...options, recursive: options.recursive ?? true };
    checkPath(path);
    if (this.readOnly) throw fsError("EROFS", "read-only file system", "open", path);
    mkdirSync(this.#stagingDir, { recursive: true, mode: 0o700 });
    const local = join(this.#stagingDir, randomUUID());
    writeFileSync(local, "", { mode: 0o600 });
    let done = false;
    const finish = () => {
      done = true;
      rmSync(local, { force: true });
    };
    return {
      file: localFile(local),
      path: local,
      close: async () => {
        if (done) throw fsError("EINVAL", "the handle is already closed", "close", path);
        await this.#mount.writeLocalFile(path, local, nativeWriteOptions(options));
        finish();
      },
      abort: async () => {
        if (!done) finish();
      },
    };
  }

  /** A real local read-only copy of the file under cacheRoot, pinned until released. */
  async materialize(path: string): Promise<MaterializedFile> {
    checkPath(path);
    const m = await this.#mount.materialize(path);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#mount.release(m.id);
    };
    return { file: localFile(m.path), path: m.path, size: m.size, release, [Symbol.dispose]: release };
  }
  async appendFile(path: string, data: FileData): Promise<void> {
    checkPath(path);
    await this.#mount.appendFile(path, await toBytes(data));
  }
  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    checkPath(path);
    await this.#mount.mkdir(path, options.recursive === true);
  }
  async rm(path: string, options: RmOptions = {}): Promise<void> {
    checkPath(path);
    await this.#mount.rm(path, options.recursive === true, options.force === true);
  }
  async rmdir(path: string): Promise<void> {
    checkPath(path);
    await this.#mount.rmdir(path);
  }
  async rename(from: string, to: string): Promise<void> {
    checkPath(from, "oldPath");
    checkPath(to, "newPath");
    await this.#mount.rename(from, to);
  }
  async copy(from: string, to: string, options: { recursive?: boolean } = {}): Promise<void> {
    checkPath(from, "src");
    checkPath(to, "dest");
    await this.#mount.copy(from, to, options.recursive === true);
  }
  async symlink(target: string, path: string): Promise<void> {
    checkPath(target, "target");
    checkPath(path);
    await this.#mount.symlink(target, path);
  }
  async utimes(path: string, _atime: Date | number, mtime: Date | number): Promise<void> {
    checkPath(path);
    await this.#mount.setAttr(path, undefined, toEpochMs(mtime));
  }
  async chmod(path: string, mode: number): Promise<void> {
    checkPath(path);
    await this.#mount.setAttr(path, requireInt(mode, "mode", 0, MAX_MODE, "chmod"), undefined);
  }

  /**
   * Runs `fn` as one commit: one WAL record and one head publication, all of it visible or none.
   * `tx` reads the committed state as of the start plus its own writes, and holds no lock: other
   * writes, refreshes and transactions go on meanwhile. At commit each request is checked again
   * against the namespace of that moment; if one no longer holds, nothing is applied and this rejects
   * with `code: "ECONFLICT"`, `conflict: true` (retry it). If `fn` throws, nothing it did is visible.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
    const native = await this.#mount.begin();
    let result: T;
    try {
      result = await fn(new Transaction(native));
    } catch (e) {
      native.abort();
      throw e;
    }
    await native.commit();
    return result;
  }

  /** Applies what the writer published since (one conditional GET when nothing changed). */
  async refresh(): Promise<RefreshResult> {
    const r = await this.#mount.refresh();
    return { outcome: r.outcome as RefreshResult["outcome"], seq: r.seq };
  }

  /**
   * Deletes packs, chunks, WAL records and snapshots that no retained state uses, once they have been
   * unreachable for `graceMs` (default 10 minutes), so readers at an older seq keep working meanwhile.
   * Writer only.
   */
  gc(options: GcOptions = {}): Promise<JsGcReport> {
    const keep = options.keepHistory ?? {};
    return this.#mount.gc(options.graceMs ?? 10 * 60_000, options.dryRun === true, keep.commits, keep.ms);
  }

  /**
   * Names the commit this mount is at (one create-only PUT). GC keeps whatever a checkpoint needs
   * until it is deleted; `manager.mount({ at: name })`, `diff` and `restore` take the name. EEXIST
   * when the name is taken.
   */
  async checkpoint(name: string, options: { message?: string } = {}): Promise<JsCheckpoint> {
    checkPath(name, "name");
    return this.#mount.checkpoint(name, options.message);
  }
  /** Every checkpoint, oldest commit first. */
  checkpoints(): Promise<JsCheckpoint[]> {
    return this.#mount.checkpoints();
  }
  async deleteCheckpoint(name: string): Promise<void> {
    checkPath(name, "name");
    return this.#mount.deleteCheckpoint(name);
  }
  /** Forks made from this workspace (`manager.fork`) that still pin its data: `name` is the fork's id. */
  forks(): Promise<JsCheckpoint[]> {
    return this.#mount.forks();
  }
  /**
   * Lets GC reclaim what only the fork `id` held here. A fork reads the files it inherited from this
   * workspace, so release it only once the fork is gone (or no longer needs them).
   */
  async releaseFork(id: string): Promise<void> {
    checkPath(id, "id");
    return this.#mount.releaseFork(id);
  }
  /**
   * What changed from `from` to `to` (a seq or a checkpoint name; this mount's current state when
   * absent): paths added, modified, deleted, renamed, or whose type or mode changed, with sizes. Read
   * from the WAL and snapshots only, never from file contents.
   */
  async diff(from: CommitRef, to?: CommitRef, options: { path?: string } = {}): Promise<Change[]> {
    if (options.path !== undefined) checkPath(options.path);
    return (await this.#mount.diff(checkCommitRef(from), to === undefined ? undefined : checkCommitRef(to), options.path)) as Change[];
  }
  /**
   * Makes the tree (or just `paths`) what it was at `at`, as one new commit that reuses the stored
   * bytes (nothing is uploaded again). History is never rewritten: undo a restore by restoring again.
   */
  async restore(at: CommitRef, options: { paths?: string[] } = {}): Promise<{ seq: number }> {
    for (const p of options.paths ?? []) checkPath(p);
    const c = await this.#mount.restore(checkCommitRef(at), options.paths);
    return { seq: c.seq };
  }

  /** The newest commits, newest first: seq, time, writer epoch, entries and bytes changed. */
  log(options: { limit?: number } = {}): Promise<JsLogEntry[]> {
    return this.#mount.log(options.limit ?? 100);
  }

  /** Fetches every object the namespace references and checks it against its hashes. */
  fsck(): Promise<JsFsckReport> {
    return this.#mount.fsck();
  }

  stats(): CachedFsStats {
    const s = this.#mount.stats();
    return {
      requests: s.requests,
      cache: { hits: s.cacheHits, misses: s.cacheMisses, corrupt: s.cacheCorrupt, evictions: s.cacheEvictions, usedBytes: s.cacheUsedBytes, capacityBytes: s.cacheCapacityBytes },
      commits: s.commits,
      refreshes: s.refreshes,
      recordsApplied: s.recordsApplied,
      rebuilds: s.rebuilds,
      seq: s.seq,
      epoch: s.epoch,
    };
  }

  /** Zeroes the request counters of `stats()`. */
  resetStats(): void {
    this.#mount.resetRequestCounts();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#mount.close();
    this.#onClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
