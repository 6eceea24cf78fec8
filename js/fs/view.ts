// The read methods a mount and a transaction share. Metadata is answered synchronously from SQLite and
// offered as already-settled promises too.
import type { NativeMount, NativeTxn } from "../../index.js";
import { checkPath, errorFromMessage, settled } from "../errors.ts";
import { Dirent, Stats } from "./stats.ts";
import type { ReaddirOptions } from "./types.ts";

/**
 * `readFile`: a small file already in memory, or an absent path, is answered without a trip through
 * tokio (scripts read thousands of small files and poll missing ones); anything else by `slow`.
 */
export function readThroughMemory(native: NativeMount | NativeTxn, path: string, slow: () => Promise<Buffer>): Promise<Buffer> {
  checkPath(path);
  return settled(() => {
    const cached = native.readCached(path);
    if (cached === null) return slow();
    if (typeof cached === "string") throw errorFromMessage(cached, "open", path);
    return cached;
  });
}

/** Where `statInto` writes `[ino, mode, size, mtimeMs, ctimeMs]`: read at once, so one array serves all. */
const STAT_FIELDS = new Float64Array(5);

function statOf(native: NativeMount | NativeTxn, path: string, follow: boolean): Stats {
  const kind = native.statInto(path, follow, STAT_FIELDS);
  const [ino, mode, size, mtimeMs, ctimeMs] = STAT_FIELDS as unknown as [number, number, number, number, number];
  return new Stats({ kind, ino, mode, size, mtimeMs, ctimeMs });
}

/** The read methods a mount and a transaction share; `source` is the engine view they read. */
export abstract class FsView {
  protected abstract source(): NativeMount | NativeTxn;

  statSync(path: string): Stats {
    checkPath(path);
    return statOf(this.source(), path, true);
  }
  lstatSync(path: string): Stats {
    checkPath(path);
    return statOf(this.source(), path, false);
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
