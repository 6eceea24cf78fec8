// Transaction: the view a `CachedFs.transaction` callback writes through; all of it commits as one.
import type { NativeTxn } from "../../index.js";
import { toBuffer } from "../bytes.ts";
import { checkPath, requireInt, settled } from "../errors.ts";
import { isLocalBunFile, MAX_MODE, nativeWriteOptions, toBytes, toEpochMs } from "./input.ts";
import type { FileData, RmOptions, WriteFileOptions } from "./types.ts";
import { FsView, readThroughMemory } from "./view.ts";

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
        drain = this.#tx.writeFile(path, typeof data === "string" ? data : toBuffer(data), nativeWriteOptions(options));
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
