// Node-like `Stats` and `Dirent`, built from the engine's plain stat and dirent records.
import type { JsDirent, JsEntryKind } from "../../index.js";

/** A stat as the engine gives it (`statInto` fills the numbers, and returns the kind). */
interface StatFields {
  kind: JsEntryKind;
  ino: number;
  mode: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

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
export class Stats extends Typed {
  readonly ino: number;
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly nlink = 1;
  readonly uid = 0;
  readonly gid = 0;

  constructor(s: StatFields) {
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
