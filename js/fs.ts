// CachedFs: one mounted workspace. Metadata calls are answered synchronously from SQLite (and offered
// as already-settled promises); bytes and commits go through the engine on tokio.
//
// The parts: fs/view.ts (the read methods a mount and a transaction share), fs/transaction.ts
// (Transaction), fs/history.ts (checkpoints, forks, diff, restore, log, GC: CachedFs's base class),
// fs/streams.ts (read-ahead streams), fs/input.ts (data and options as the engine takes them),
// fs/stats.ts (Stats, Dirent), fs/types.ts (the option and result types).
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JsFsckReport, NativeMount } from "../index.js";
import { checkInt, checkPath, fsError, requireInt } from "./errors.ts";
import { eachSliced } from "./slices.ts";
import { localFile } from "./local-file.ts";
import { MountHistory } from "./fs/history.ts";
import { isLocalBunFile, MAX_MODE, nativeWriteOptions, toBytes, toEpochMs } from "./fs/input.ts";
import { Dirent } from "./fs/stats.ts";
import { readAhead } from "./fs/streams.ts";
import { Transaction } from "./fs/transaction.ts";
import type { CachedFsStats, FileData, MaterializedFile, ReaddirOptions, RefreshResult, RmOptions, WriteFileOptions, WriteHandle } from "./fs/types.ts";
import { readThroughMemory } from "./fs/view.ts";

export type {
  CachedFsStats,
  Change,
  Checkpoint,
  CommitRef,
  FileData,
  FsckReport,
  GcOptions,
  GcReport,
  LogEntry,
  MaterializedFile,
  ReaddirOptions,
  RefreshResult,
  RmOptions,
  WriteFileOptions,
  WriteHandle,
} from "./fs/types.ts";
export { toBytes } from "./fs/input.ts";
export { Dirent, Stats } from "./fs/stats.ts";
export { Transaction } from "./fs/transaction.ts";

/** `JsDirentList.kinds` bytes, as the kind names `JsDirent` uses. */
const KIND_NAMES: Record<number, "file" | "directory" | "symlink"> = { 1: "file", 2: "directory", 3: "symlink" };

/** A `Blob` at least this large is written as a stream rather than read into memory first. */
const STREAMED_BLOB_MIN = 4 << 20;

/** A mounted workspace. */
export class CachedFs extends MountHistory {
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
    return readAhead(handle, start ?? 0, Math.min(end ?? handle.size, handle.size));
  }

  async writeFile(path: string, data: FileData, options: WriteFileOptions = {}): Promise<void> {
    checkPath(path);
    if (data instanceof Blob && isLocalBunFile(data)) {
      await this.#mount.writeLocalFile(path, data.name ?? "", nativeWriteOptions(options));
      return;
    }
    if (data instanceof ReadableStream || (data instanceof Blob && data.size >= STREAMED_BLOB_MIN)) {
      await this.#writeStream(path, data instanceof Blob ? data.stream() : data, options);
      return;
    }
    await this.#mount.writeFile(path, typeof data === "string" ? data : await toBytes(data), nativeWriteOptions(options));
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
    return { outcome: r.outcome, seq: r.seq };
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
      indexEntries: s.indexEntries ?? null,
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
