// s3-bun-cached-fs/just-bash: just-bash's `IFileSystem` over a mounted workspace, and a shell whose every
// `exec()` runs in a transaction of its own and commits as one.
//
// Structural only: the types come from just-bash, the runtime never imports it at module load — only
// `createAcceleratedJustBashShell` loads it, on first use.
import type {
  Bash,
  BashExecResult,
  BashOptions,
  BufferEncoding,
  ByteString,
  CpOptions,
  ExecOptions,
  FileContent,
  FsStat,
  IFileSystem,
  MkdirOptions,
  RmOptions,
} from "just-bash";
import type { CachedFs, Dirent, Stats, Transaction } from "./core.ts";
import { undoStackFor, type ExecCheckpointOptions, type ExecUndo, type ExecUndoResult } from "./exec-undo.ts";

export { ExecUndo, type ExecCheckpointOptions, type ExecUndoResult } from "./exec-undo.ts";

/** `readdirWithFileTypes` entries (just-bash does not export the name). */
export type DirentEntry = Awaited<ReturnType<NonNullable<IFileSystem["readdirWithFileTypes"]>>>[number];
type EncodingArg = Parameters<IFileSystem["readFile"]>[1] | Parameters<IFileSystem["writeFile"]>[2];

/** What a call is applied to: the mount itself, or the transaction of one exec. */
type View = CachedFs | Transaction;

// ---------------------------------------------------------------------------------------------------
// Paths

/** An absolute path without `.`/`..`/empty segments or a trailing slash; `..` stops at the root. */
export function normalizeVirtualPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** `path` resolved against `base` (both virtual); absolute paths are only normalised. Never touches a store. */
export function resolveVirtualPath(base: string, path: string): string {
  return normalizeVirtualPath(path.startsWith("/") ? path : `${base}/${path}`);
}

const parentOf = (p: string): string => p.slice(0, p.lastIndexOf("/")) || "/";

// ---------------------------------------------------------------------------------------------------
// Errors: plain Errors whose message is `"<CODE>: <text>, <syscall> '<path>'"` (what just-bash commands
// match on), with Node's `code`/`syscall`/`path` alongside.

interface CodedError extends Error {
  code: string;
  syscall: string;
  path: string;
}

const TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "file already exists",
  EISDIR: "illegal operation on a directory",
  ENOTDIR: "not a directory",
  ENOTEMPTY: "directory not empty",
  EINVAL: "invalid argument",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
};

function fsErr(code: string, syscall: string, path: string, text = TEXT[code] ?? code): CodedError {
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path });
}

const codeOf = (e: unknown): string | undefined =>
  e instanceof Error && typeof (e as Partial<CodedError>).code === "string" ? (e as CodedError).code : undefined;

// ---------------------------------------------------------------------------------------------------
// The in-memory part of the namespace: command lookups and devices never reach the store.
//
// just-bash resolves a command by looking for `<dir>/<cmd>` in each PATH directory (`/usr/bin`, `/bin`),
// then, when `/usr/bin` does not exist, in its registry. Here `/bin/<cmd>` and `/usr/bin/<cmd>` of the
// shell's registered commands exist as read-only stubs (so `which` works), answered from memory, unless
// the workspace has a file of that name; everything else under `/bin` and `/usr/bin` is the workspace's,
// so scripts can be installed there (`chmod +x`) and run by name, and a lookup costs a local metadata
// query at most, never a request. The directories themselves exist only once the workspace has them,
// so `ls /` and `find /` show the workspace and `/dev`, not 80 stubs.
// `/dev` is a small read-only directory of empty devices; writes to them are discarded. `/dev/fd/<n>`
// files (process substitution) live in memory, per view (so per exec), as on just-bash's InMemoryFs.
// Anything else under `/dev` is refused with EROFS.

const DEVICES = ["null", "stderr", "stdin", "stdout", "zero"] as const;
const DEVICE_PATHS: ReadonlySet<string> = new Set(DEVICES.map((d) => `/dev/${d}`));
const DEV_FD = "/dev/fd";
const VIRTUAL_DIRS: ReadonlyMap<string, DirentEntry[]> = new Map([
  [
    "/dev",
    [
      { name: "fd", isFile: false, isDirectory: true, isSymbolicLink: false },
      ...DEVICES.map((name) => ({ name, isFile: true, isDirectory: false, isSymbolicLink: false })),
    ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  ],
  [DEV_FD, []],
]);
const DEV_ENTRY: DirentEntry = { name: "dev", isFile: false, isDirectory: true, isSymbolicLink: false };

/** How a normalised path is served when it is not the workspace's (`fd`: a `/dev/fd/<n>` file in memory). */
type Reserved = "device" | "virtualDir" | "command" | "fd" | "readonly";

const commandStub = (p: string): Uint8Array => Buffer.from(`#!/bin/bash\n# Built-in command: ${p.slice(p.lastIndexOf("/") + 1)}\n`);

const EPOCH = new Date(0);
function virtualStat(kind: "device" | "virtualDir" | "command", p: string): FsStat {
  if (kind === "virtualDir") return { isFile: false, isDirectory: true, isSymbolicLink: false, mode: 0o755, size: 0, mtime: EPOCH };
  // Command stubs are not executable: just-bash runs registered commands from /bin and /usr/bin without
  // the bit, and never mistakes a stub for a script.
  if (kind === "command") return { isFile: true, isDirectory: false, isSymbolicLink: false, mode: 0o644, size: commandStub(p).byteLength, mtime: EPOCH };
  return { isFile: true, isDirectory: false, isSymbolicLink: false, mode: 0o666, size: 0, mtime: EPOCH };
}

// ---------------------------------------------------------------------------------------------------
// Encodings, as just-bash's own filesystems apply them.

function encodingOf(options: EncodingArg): BufferEncoding | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options === "string") return options;
  return options.encoding ?? undefined;
}

function encode(content: FileContent, encoding: BufferEncoding | undefined): Uint8Array {
  if (content instanceof Uint8Array) return content;
  switch (encoding) {
    case "base64":
      return Buffer.from(content, "base64");
    case "hex":
      return Buffer.from(content, "hex");
    case "binary":
    case "latin1":
      return Buffer.from(content, "latin1");
    default:
      return Buffer.from(content, "utf8");
  }
}

function decode(bytes: Uint8Array, encoding: BufferEncoding | undefined): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (encoding) {
    case "base64":
      return buf.toString("base64");
    case "hex":
      return buf.toString("hex");
    case "binary":
    case "latin1":
      return buf.toString("latin1");
    default:
      return new TextDecoder().decode(buf);
  }
}

function toFsStat(s: Stats, follow: boolean): FsStat {
  return {
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isSymbolicLink: !follow && s.isSymbolicLink(),
    // Permission bits only, as just-bash's own filesystems report them; the type is in the flags.
    mode: s.mode & 0o7777,
    size: s.size,
    mtime: s.mtime,
    ino: s.ino,
    // The engine's inode number: stable per node, shared by nothing else (`ls -R` cycle detection).
    identity: `s3fs-ino:${s.ino}`,
  };
}

const toDirent = (d: Dirent): DirentEntry => ({
  name: d.name,
  isFile: d.isFile(),
  isDirectory: d.isDirectory(),
  isSymbolicLink: d.isSymbolicLink(),
});
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------------
// The path index behind `getAllPaths`.
//
// just-bash's `IFileSystem.getAllPaths()` is synchronous (its only caller, `ls` given an argument that
// still holds glob characters, does not await it), and a synchronous walk of a large workspace blocks
// the JS thread. So a view can be indexed before its script runs: the whole tree is listed once by the
// engine's asynchronous recursive readdir (off the JS thread), and the view remembers the paths its own
// calls changed since. `getAllPaths` then answers from that listing, re-reading only the changed paths
// (and the subtrees under them) from the view, which is bounded by what the script itself did.

class PathIndex {
  /** The workspace's entries at indexing time, relative to the root. */
  readonly #base: readonly string[];
  /** Paths this view's own calls created, changed, moved or removed since. */
  readonly #touched = new Set<string>();

  constructor(base: readonly string[]) {
    this.#base = base;
  }

  touch(path: string): void {
    this.#touched.add(path);
  }

  list(view: View): string[] {
    const touched = this.#touched;
    const absolute = (rel: string): string => `/${rel}`;
    if (touched.size === 0) return ["/", ...this.#base.map(absolute)];
    const covered = (p: string): boolean => {
      for (let q = p; ; q = parentOf(q)) {
        if (touched.has(q)) return true;
        if (q === "/") return false;
      }
    };
    const out = new Set<string>(["/"]);
    for (const rel of this.#base) {
      const p = absolute(rel);
      if (!covered(p)) out.add(p);
    }
    for (const t of touched) {
      if (t !== "/" && covered(parentOf(t))) continue; // listed with its touched ancestor
      // Directories the change created on the way (`mkdir -p`, a write that made its parents).
      for (let q = parentOf(t); q !== "/" && !out.has(q); q = parentOf(q)) if (lstatOrUndefined(view, q, true) !== undefined) out.add(q);
      const st = lstatOrUndefined(view, t, true);
      if (st === undefined) continue;
      out.add(t);
      if (st.isDirectory()) for (const name of view.readdirSync(t, { recursive: true })) out.add(t === "/" ? `/${name}` : `${t}/${name}`);
    }
    return [...out];
  }
}

/** Whether a script may call `getAllPaths`: only `ls` does, for an argument with glob characters left in it. */
const mayListGlobs = (script: string): boolean => /\bls\b/.test(script) && /[*?[]/.test(script);

/** `lstat`, or undefined for ENOENT (and, with `orNotDir`, for a path through a file). */
function lstatOrUndefined(v: View, p: string, orNotDir = false): Stats | undefined {
  try {
    return v.lstatSync(p);
  } catch (e) {
    const code = codeOf(e);
    if (code === "ENOENT" || (orNotDir && code === "ENOTDIR")) return undefined;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------

/**
 * just-bash 3.4's complete `IFileSystem` over a mounted workspace (`CachedFs`).
 *
 * Metadata calls are answered from the local SQLite namespace; bytes come from the block cache or the
 * bucket. An instance is a *view*: the one `new` makes applies every call to the mount (each write is
 * its own commit and resolves once durable); `view(tx)` makes another view of the same workspace whose
 * calls all go to the transaction `tx` (that is how each shell `exec` gets its own transaction, so
 * calls through the shared filesystem never land in a script's transaction, nor the other way round).
 *
 * Deliberately absent: `mkdirSync`/`writeFileSync` (just-bash would otherwise write `/bin`, `/dev` and
 * `/proc` stubs into the workspace when a `Bash` is constructed).
 */
export class AcceleratedJustBashFs implements IFileSystem {
  /** The mounted workspace. */
  readonly filesystem: CachedFs;
  /** Where this view's calls go: the mount, or one transaction. */
  #view: View;
  #tx: Transaction | undefined;
  /** Shared by all views of one filesystem: command names, and hard links' identities (engine inode → identity; linked identities). */
  #shared: { commands: ReadonlySet<string>; identities: Map<number, string>; linked: Set<string>; writes: number } = {
    commands: new Set(),
    identities: new Map(),
    linked: new Set(),
    writes: 0,
  };
  /** This view's `/dev/fd/<n>` files (process substitution), in memory. */
  readonly #fdFiles = new Map<string, Uint8Array>();
  /** Calls still running against the transaction (see `settle`). */
  readonly #pending = new Set<Promise<unknown>>();
  #index: PathIndex | undefined;
  /** Paths this view's own calls created, changed, moved or removed. */
  readonly #changed = new Set<string>();

  constructor(filesystem: CachedFs) {
    this.filesystem = filesystem;
    this.#view = filesystem;
  }

  /**
   * Another view of the same workspace (sharing the command names). With `tx`, every call goes to that
   * transaction and reads see its uncommitted writes; without, to the mount. Each view has its own path
   * index and its own record of calls in flight.
   */
  view(tx?: Transaction): AcceleratedJustBashFs {
    const v = new AcceleratedJustBashFs(this.filesystem);
    v.#tx = tx;
    v.#view = tx ?? this.filesystem;
    v.#shared = this.#shared;
    return v;
  }

  /** The transaction this view's calls go to; undefined when they go to the mount. */
  get transaction(): Transaction | undefined {
    return this.#tx;
  }

  /** The paths this view's calls created, changed, moved or removed (what the shell's `undo()` puts back). */
  get changedPaths(): ReadonlySet<string> {
    return this.#changed;
  }

  /**
   * The shell's registered command names: `/bin/<name>` and `/usr/bin/<name>` then exist as read-only
   * stubs (what `which` looks for), in this view and every other view of the same filesystem, unless
   * the workspace has a file of that name. `/bin` and `/usr/bin` themselves exist once the workspace has them.
   */
  setCommandNames(names: Iterable<string>): void {
    this.#shared.commands = new Set(names);
  }

  /**
   * Lists the whole workspace off the JS thread (the engine's asynchronous recursive readdir), so that
   * `getAllPaths` answers from memory plus this view's own changes since, instead of walking the tree
   * synchronously. The shell does this before a script that may need it.
   */
  async indexPaths(): Promise<void> {
    this.#index = new PathIndex(await this.filesystem.readdir("/", { recursive: true }));
  }

  /** Resolves once no call of this view is still running against its transaction (so it can commit). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #reserved(p: string): Reserved | undefined {
    if (DEVICE_PATHS.has(p)) return "device";
    if (VIRTUAL_DIRS.has(p)) return "virtualDir";
    if (p.startsWith("/dev/")) return p.startsWith(`${DEV_FD}/`) ? "fd" : "readonly";
    const binDir = p.startsWith("/bin/") ? 5 : p.startsWith("/usr/bin/") ? 9 : 0;
    if (binDir > 0) {
      const name = p.slice(binDir);
      // A registered command's stub, unless the workspace has a file there (one local query, no request).
      if (!name.includes("/") && this.#shared.commands.has(name) && lstatOrUndefined(this.#view, p, true) === undefined) return "command";
    }
    return undefined;
  }

  /** `path` normalised; a NUL in it fails as on just-bash's own filesystems. */
  #path(path: string, syscall: string): string {
    if (path.includes("\0")) throw fsErr("ENOENT", syscall, path, "path contains null byte");
    return normalizeVirtualPath(path);
  }

  /** A `/dev/fd/<n>` file of this view, or ENOENT. */
  #fdFile(p: string, syscall: string): Uint8Array {
    const bytes = this.#fdFiles.get(p);
    if (bytes === undefined) throw fsErr("ENOENT", syscall, p);
    return bytes;
  }

  /** The identity `test -ef` compares: a hard link's is its source's (see `link`). */
  #identity(s: Stats): string {
    return this.#shared.identities.get(s.ino) ?? `s3fs-ino:${s.ino}`;
  }

  /** Before a write to `p`: a file linked to another is no longer the same file (as on InMemoryFs). */
  #unlink(p: string): void {
    const shared = this.#shared;
    if (shared.linked.size === 0) return;
    const st = lstatOrUndefined(this.#view, p, true);
    if (st !== undefined && shared.linked.has(this.#identity(st))) shared.identities.set(st.ino, `s3fs-write:${++shared.writes}`);
  }

  /** Runs `op` on this view; calls against a transaction are tracked until they settle. */
  #run<T>(op: (v: View) => Promise<T> | T): Promise<T> {
    const view = this.#view;
    if (this.#tx === undefined) {
      try {
        return Promise.resolve(op(view));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const p = (async () => op(view))();
    this.#pending.add(p);
    const done = () => void this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  /**
   * A mutation of `touched` (default: `path`). Several engine calls are made atomic: the view's
   * transaction, else a transaction of their own.
   */
  #mutate(syscall: string, path: string, op: (v: View) => Promise<void>, atomic = false, touched: readonly string[] = [path]): Promise<void> {
    if (this.#tx === undefined && this.filesystem.readOnly) return Promise.reject(fsErr("EROFS", syscall, path));
    for (const p of touched) {
      this.#index?.touch(p);
      this.#changed.add(p);
    }
    if (atomic && this.#tx === undefined) return this.filesystem.transaction((tx) => op(tx));
    return this.#run(op);
  }

  /** `#mutate` of `dest` whose missing parent directory `op` needs first (made in the same commit). */
  #mutateInParent(syscall: string, dest: string, op: (v: View) => Promise<void>, atomic = false, touched: readonly string[] = [dest]): Promise<void> {
    const needsParent = !this.#view.existsSync(parentOf(dest));
    const withParent = async (v: View): Promise<void> => {
      if (needsParent) await v.mkdir(parentOf(dest), { recursive: true });
      await op(v);
    };
    return this.#mutate(syscall, dest, withParent, needsParent || atomic, touched);
  }

  // --- reads -----------------------------------------------------------------------------------------

  async readFile(path: string, options?: Parameters<IFileSystem["readFile"]>[1]): Promise<string> {
    return decode(await this.readFileBuffer(path), encodingOf(options));
  }

  async readFileBytes(path: string): Promise<ByteString> {
    // A ByteString is a latin1-shaped string (one char per byte); the brand exists only in the types.
    return decode(await this.readFileBuffer(path), "latin1") as unknown as ByteString;
  }

  async readFileBuffer(path: string): Promise<Uint8Array> {
    const p = this.#path(path, "open");
    const r = this.#reserved(p);
    if (r === "device") return new Uint8Array(0);
    if (r === "command") return commandStub(p);
    if (r === "virtualDir") throw fsErr("EISDIR", "read", p);
    if (r === "fd") return this.#fdFile(p, "open");
    if (r !== undefined) throw fsErr("ENOENT", "open", p);
    const buf = await this.#run((v) => v.readFile(p));
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  async exists(path: string): Promise<boolean> {
    try {
      if (typeof path !== "string" || path.includes("\0")) return false;
      const p = normalizeVirtualPath(path);
      const r = this.#reserved(p);
      if (r === "fd") return this.#fdFiles.has(p);
      if (r !== undefined) return r === "device" || r === "virtualDir" || r === "command";
      return await this.#run((v) => v.existsSync(p));
    } catch {
      return false;
    }
  }

  stat(path: string): Promise<FsStat> {
    return this.#stat(path, true);
  }

  lstat(path: string): Promise<FsStat> {
    return this.#stat(path, false);
  }

  async #stat(path: string, follow: boolean): Promise<FsStat> {
    const syscall = follow ? "stat" : "lstat";
    const p = this.#path(path, syscall);
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command") return virtualStat(r, p);
    if (r === "fd") return { isFile: true, isDirectory: false, isSymbolicLink: false, mode: 0o644, size: this.#fdFile(p, syscall).byteLength, mtime: EPOCH };
    if (r !== undefined) throw fsErr("ENOENT", syscall, p);
    return this.#run((v) => {
      const s = follow ? v.statSync(p) : v.lstatSync(p);
      return { ...toFsStat(s, follow), identity: this.#identity(s) };
    });
  }

  async readdir(path: string): Promise<string[]> {
    return (await this.readdirWithFileTypes(path)).map((d) => d.name);
  }

  async readdirWithFileTypes(path: string): Promise<DirentEntry[]> {
    const p = this.#path(path, "scandir");
    const r = this.#reserved(p);
    if (p === DEV_FD) return [...this.#fdFiles.keys()].map((f) => ({ name: f.slice(DEV_FD.length + 1), isFile: true, isDirectory: false, isSymbolicLink: false })).sort((a, b) => byName(a.name, b.name));
    if (r === "virtualDir") return (VIRTUAL_DIRS.get(p) ?? []).map((d) => ({ ...d }));
    if (r === "device" || r === "command" || (r === "fd" && this.#fdFiles.has(p))) throw fsErr("ENOTDIR", "scandir", p);
    if (r !== undefined) throw fsErr("ENOENT", "scandir", p);
    const entries = await this.#run((v) => v.readdirSync(p, { withFileTypes: true }).map(toDirent));
    // `/dev` is listed in the root, as it exists there (`ls /`, `find /`).
    if (p === "/") entries.push({ ...DEV_ENTRY });
    return entries.sort((a, b) => byName(a.name, b.name));
  }

  async readlink(path: string): Promise<string> {
    const p = this.#path(path, "readlink");
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command" || (r === "fd" && this.#fdFiles.has(p))) throw fsErr("EINVAL", "readlink", p);
    if (r !== undefined) throw fsErr("ENOENT", "readlink", p);
    return this.#run((v) => v.readlinkSync(p));
  }

  async realpath(path: string): Promise<string> {
    const p = this.#path(path, "realpath");
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command" || (r === "fd" && this.#fdFiles.has(p))) return p;
    if (r !== undefined) throw fsErr("ENOENT", "realpath", p);
    return this.#run((v) => v.realpathSync(p));
  }

  resolvePath(base: string, path: string): string {
    return resolveVirtualPath(base, path);
  }

  /**
   * Every path of the workspace, `/` first. just-bash requires this to be synchronous. After
   * `indexPaths()` it answers from that listing plus this view's own changes; otherwise it walks the
   * local namespace synchronously, which blocks the JS thread for as long as a large tree takes.
   */
  getAllPaths(): string[] {
    try {
      if (this.#index !== undefined) return this.#index.list(this.#view);
      return ["/", ...this.#view.readdirSync("/", { recursive: true }).map((name) => `/${name}`)];
    } catch {
      return [];
    }
  }

  // --- writes ----------------------------------------------------------------------------------------

  /** Refuses writes to reserved paths; true when the write is to a device (and so discarded). */
  #writeTarget(p: string, syscall: string): boolean {
    const r = this.#reserved(p);
    if (r === "device") return true;
    if (r === "virtualDir") throw fsErr("EISDIR", syscall, p);
    // A file over a command's stub goes to the workspace (just-bash still runs its built-in by that name).
    if (r === "readonly" || r === "fd") throw fsErr("EROFS", syscall, p);
    return false;
  }

  /** Writes a `/dev/fd/<n>` file of this view (in memory); true when `p` is one. */
  #writeFd(p: string, bytes: Uint8Array, append: boolean): boolean {
    if (this.#reserved(p) !== "fd") return false;
    if (p.slice(DEV_FD.length + 1).includes("/")) throw fsErr("ENOENT", "open", p);
    const before = append ? this.#fdFiles.get(p) : undefined;
    this.#fdFiles.set(p, before === undefined ? bytes.slice() : Buffer.concat([before, bytes]));
    return true;
  }

  /** Creates or replaces a file, creating missing parent directories (as just-bash's filesystems do). */
  async writeFile(path: string, content: FileContent, options?: Parameters<IFileSystem["writeFile"]>[2]): Promise<void> {
    const p = this.#path(path, "write");
    const bytes = encode(content, encodingOf(options));
    if (this.#writeFd(p, bytes, false) || this.#writeTarget(p, "open")) return;
    this.#unlink(p);
    await this.#mutate("open", p, (v) => v.writeFile(p, bytes, { recursive: true }));
  }

  async appendFile(path: string, content: FileContent, options?: Parameters<IFileSystem["appendFile"]>[2]): Promise<void> {
    const p = this.#path(path, "append");
    const bytes = encode(content, encodingOf(options));
    if (this.#writeFd(p, bytes, true) || this.#writeTarget(p, "open")) return;
    if (bytes.byteLength > 0) this.#unlink(p);
    const view = this.#view;
    const existing = lstatOrUndefined(view, p);
    if (existing !== undefined && bytes.byteLength === 0) {
      // `>>` opens its target with an empty append: nothing to commit unless the file must be created.
      if (view.statSync(p).isDirectory()) throw fsErr("EISDIR", "open", p);
      return;
    }
    if (existing === undefined && this.#reserved(p) === "command") {
      // Appending to a command's stub: the workspace gets the stub plus the bytes, as a new file.
      await this.#mutate("open", p, (v) => v.writeFile(p, Buffer.concat([commandStub(p), bytes]), { recursive: true }));
      return;
    }
    const needsParent = existing === undefined && !view.existsSync(parentOf(p));
    await this.#mutate(
      "open",
      p,
      async (v) => {
        if (needsParent) await v.mkdir(parentOf(p), { recursive: true });
        await v.appendFile(p, bytes);
      },
      needsParent,
    );
  }

  async mkdir(path: string, options?: MkdirOptions): Promise<void> {
    const p = this.#path(path, "mkdir");
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command" || (r === "fd" && this.#fdFiles.has(p))) {
      if (r === "virtualDir" && options?.recursive === true) return;
      throw fsErr("EEXIST", "mkdir", p);
    }
    if (r !== undefined) throw fsErr("EROFS", "mkdir", p);
    await this.#mutate("mkdir", p, (v) => v.mkdir(p, { recursive: options?.recursive === true }));
  }

  async rm(path: string, options?: RmOptions): Promise<void> {
    const p = this.#path(path, "rm");
    const r = this.#reserved(p);
    if (r === "fd") {
      if (!this.#fdFiles.delete(p) && options?.force !== true) throw fsErr("ENOENT", "rm", p);
      return;
    }
    if (r !== undefined) throw fsErr(r === "readonly" ? "EROFS" : "EPERM", "rm", p);
    const recursive = options?.recursive === true;
    const force = options?.force === true;
    await this.#mutate("rm", p, async (v) => {
      const st = lstatOrUndefined(v, p);
      if (st === undefined) {
        if (force) return;
        throw fsErr("ENOENT", "rm", p);
      }
      // An empty directory goes without `recursive` (rmdir); a non-empty one fails with ENOTEMPTY.
      if (st.isDirectory() && !recursive) {
        if (v.readdirSync(p).length > 0) throw fsErr("ENOTEMPTY", "rm", p);
        await v.rmdir(p);
      }
      else await v.rm(p, { recursive, force });
    });
  }

  async cp(src: string, dest: string, options?: CpOptions): Promise<void> {
    const s = this.#path(src, "cp");
    const d = this.#path(dest, "cp");
    const rs = this.#reserved(s);
    if (rs === "virtualDir") throw fsErr("EISDIR", "cp", s, "is a directory");
    if (rs === "readonly") throw fsErr("ENOENT", "cp", s);
    if (this.#reserved(d) === "fd") return this.writeFile(d, await this.readFileBuffer(s));
    if (this.#writeTarget(d, "cp")) {
      if (rs === undefined && !(await this.exists(s))) throw fsErr("ENOENT", "cp", s);
      return;
    }
    if (rs !== undefined) return this.writeFile(d, await this.readFileBuffer(s));
    const view = this.#view;
    const st = lstatOrUndefined(view, s);
    if (st === undefined) throw fsErr("ENOENT", "cp", s);
    if (st.isDirectory() && options?.recursive !== true) throw fsErr("EISDIR", "cp", s, "is a directory");
    const link = st.isSymbolicLink() ? view.readlinkSync(s) : undefined;
    await this.#mutateInParent(
      "cp",
      d,
      async (v) => {
        // A symlink is copied as a symlink (the engine's copy follows it).
        if (link !== undefined) {
          if (lstatOrUndefined(v, d) !== undefined) await v.rm(d, { recursive: false, force: true });
          await v.symlink(link, d);
        } else {
          await v.copy(s, d, { recursive: options?.recursive === true });
        }
      },
      link !== undefined,
    );
  }

  async mv(src: string, dest: string): Promise<void> {
    const s = this.#path(src, "mv");
    const d = this.#path(dest, "mv");
    if (this.#reserved(s) !== undefined) throw fsErr("EPERM", "mv", s);
    if (this.#reserved(d) !== undefined && this.#reserved(d) !== "command") throw fsErr("EROFS", "mv", d);
    if (s === d) return;
    const view = this.#view;
    if (lstatOrUndefined(view, s) === undefined) throw fsErr("ENOENT", "mv", s);
    await this.#mutateInParent("mv", d, (v) => v.rename(s, d), false, [s, d]);
  }

  async chmod(path: string, mode: number): Promise<void> {
    const p = this.#path(path, "chmod");
    if (this.#reserved(p) !== undefined) throw fsErr("EPERM", "chmod", p);
    await this.#mutate("chmod", p, (v) => v.chmod(p, mode & 0o7777));
  }

  async symlink(target: string, linkPath: string): Promise<void> {
    const p = this.#path(linkPath, "symlink");
    const r = this.#reserved(p);
    if (r !== undefined) throw fsErr(r === "device" || r === "command" || r === "virtualDir" ? "EEXIST" : "EROFS", "symlink", p);
    await this.#mutateInParent("symlink", p, (v) => v.symlink(target, p));
  }

  /**
   * A hard link, as just-bash's InMemoryFs makes one: a copy of the file (sharing its stored bytes) that
   * `test -ef` and `stat` identity treat as the same file as its source, for as long as this filesystem
   * object lives; a later write to one does not change the other. Files only (EPERM otherwise).
   */
  async link(existingPath: string, newPath: string): Promise<void> {
    const s = this.#path(existingPath, "link");
    const d = this.#path(newPath, "link");
    if (this.#reserved(s) !== undefined) throw fsErr("EPERM", "link", s);
    if (this.#reserved(d) !== undefined) throw fsErr(this.#reserved(d) === "command" ? "EEXIST" : "EROFS", "link", d);
    const view = this.#view;
    const st = lstatOrUndefined(view, s);
    if (st === undefined) throw fsErr("ENOENT", "link", s);
    if (!st.isFile()) throw fsErr("EPERM", "link", s);
    if (lstatOrUndefined(view, d, true) !== undefined) throw fsErr("EEXIST", "link", d);
    const identity = this.#identity(st);
    await this.#mutateInParent("link", d, (v) => v.copy(s, d));
    const made = lstatOrUndefined(this.#view, d);
    if (made === undefined) return;
    this.#shared.identities.set(made.ino, identity);
    this.#shared.linked.add(identity);
  }

  /** Sets the modification time (`atime` is not kept). */
  async utimes(path: string, atime: Date, mtime: Date): Promise<void> {
    const p = this.#path(path, "utimes");
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || (r === "fd" && this.#fdFiles.has(p))) return;
    if (r === "command") throw fsErr("EROFS", "utimes", p);
    if (r !== undefined) throw fsErr("ENOENT", "utimes", p);
    await this.#mutate("utimes", p, (v) => v.utimes(p, atime, mtime));
  }
}

// ---------------------------------------------------------------------------------------------------
// The shell

/** `new Bash(...)` options the shell passes through (it supplies `fs` and `cwd` itself). */
export type AcceleratedJustBashBashOptions = Omit<BashOptions, "fs" | "files" | "cwd">;

export interface AcceleratedJustBashShellOptions extends AcceleratedJustBashBashOptions {
  /** The workspace: a mount, or an `AcceleratedJustBashFs` over one. */
  filesystem: CachedFs | AcceleratedJustBashFs;
  /** The shell's working directory; created when missing (default `/`, the workspace root). */
  cwd?: string;
  /**
   * Commit all writes of one `exec()` as one transaction of its own (default true). Set `false` to
   * commit every write separately as the script makes it. Ignored on a readonly mount.
   */
  transactionPerExec?: boolean;
  /**
   * Checkpoint the workspace before each `exec()`, so that `undo()` can take the exec back (default
   * off; ignored on a readonly mount). Costs one PUT per exec, and a DELETE for each checkpoint let go
   * (at once for an exec that changed nothing). See `AcceleratedJustBashShell.undo`. An `ExecUndo` of
   * the same mount shares one undo stack between shells.
   */
  checkpointBeforeExec?: boolean | ExecCheckpointOptions | ExecUndo;
}

/** `exec()` options: just-bash's, plus a timeout, and running inside a transaction of the caller's. */
export interface AcceleratedJustBashExecOptions extends ExecOptions {
  /**
   * Cancel the command this many milliseconds after it starts running (at its next statement
   * boundary): it resolves with exit code 124 and a note on stderr, and its writes are rolled back.
   */
  timeoutMs?: number;
  /**
   * After a timeout or an abort, how long to wait for the command to reach a statement boundary (so
   * that its output so far is reported) before resolving anyway. Default 1000 ms.
   */
  abortGraceMs?: number;
  /**
   * Run in this transaction instead of one of the exec's own: the exec neither commits nor rolls back,
   * and its writes are visible only when (and if) the caller's transaction commits.
   */
  transaction?: Transaction;
}

/** What `exec()` resolves with: just-bash's result plus what became of the command's writes. */
export interface AcceleratedJustBashExecResult extends BashExecResult {
  /**
   * True when everything the command wrote is durable in the bucket: it ran to its end (whatever its
   * exit code) and its transaction committed. False when it was aborted or timed out (its transaction
   * was rolled back: nothing it wrote is visible), when its commit conflicted (see `commitError`), or
   * when it ran in the caller's `transaction`, which decides. Without a transaction per exec, writes
   * commit one by one as they are made, and this is true.
   */
  committed: boolean;
  /** Why the command's transaction did not commit, when a concurrent commit made it conflict (`code` ECONFLICT). */
  commitError?: Error;
}

export interface AcceleratedJustBashShell {
  /**
   * A just-bash instance over `this.fs` (the mount itself: every write its own commit). `exec` does not
   * use it: each `exec()` runs a `Bash` of its own, over a view of its own transaction.
   */
  readonly bash: Bash;
  /** The shared filesystem: calls through it go to the mount, each write its own commit. */
  readonly fs: AcceleratedJustBashFs;
  readonly filesystem: CachedFs;
  readonly transactionPerExec: boolean;
  /**
   * Runs a script in a transaction of its own: its writes are published as one commit before this
   * resolves, or not at all (see `committed`). Concurrent calls run concurrently, each in its own
   * transaction.
   */
  exec(script: string, options?: AcceleratedJustBashExecOptions): Promise<AcceleratedJustBashExecResult>;
  /** The shell's working directory (what `exec` starts in unless `options.cwd` says otherwise). */
  getCwd(): string;
  /**
   * With `checkpointBeforeExec`: takes back the last exec not yet undone, as one new commit. It puts
   * back the paths that exec changed (those its own calls touched that differ from its checkpoint),
   * as they were at its checkpoint, and leaves every other path alone, so what concurrent execs and
   * writes did elsewhere stays. A path something else also changed while or after the exec ran goes
   * back too. Resolves undefined when there is nothing to undo (or no `checkpointBeforeExec`); call
   * it again to undo the exec before.
   */
  undo(): Promise<ExecUndoResult | undefined>;
  /** The execs `undo()` can take back, oldest first (empty without `checkpointBeforeExec`). */
  readonly undoable: readonly { script: string; checkpoint: string }[];
  /** Deletes the checkpoints of every exec still undoable (a shell that goes away leaves up to `keep`). */
  clearUndo(): Promise<void>;
}

const runningUnderBun = (): boolean => typeof process !== "undefined" && typeof process.versions?.bun === "string";

function defenseEnabled(option: BashOptions["defenseInDepth"]): boolean {
  if (option === undefined || option === false) return false;
  if (option === true) return true;
  return option.enabled !== false;
}

const NOTE = "[s3-bun-cached-fs]";
const DEFAULT_ABORT_GRACE_MS = 1000;

/** Error codes a script's own file operations produce (as opposed to store or engine failures). */
const SCRIPT_FS_CODES: ReadonlySet<string> = new Set(["ENOENT", "EEXIST", "EISDIR", "ENOTDIR", "ENOTEMPTY", "EINVAL", "EPERM", "EROFS", "ENOTSUP", "ELOOP", "ENAMETOOLONG"]);

/** How bash words these errors (`bash: <path>: <text>`). */
const BASH_TEXT: Readonly<Record<string, string>> = {
  ENOENT: "No such file or directory",
  EISDIR: "Is a directory",
  ENOTDIR: "Not a directory",
  EROFS: "Read-only file system",
  EPERM: "Operation not permitted",
};

/**
 * just-bash rethrows out of `exec` the error of a failed output redirect (`echo x > f` where `f`
 * cannot be written: a readonly mount, a reserved path, a parent that is a file). bash reports it on
 * stderr with exit status 1; so does the shell, for errors of the script's own file operations. The
 * statements after it do not run, and the output before it is not recovered.
 */
function failedCommand(e: unknown): BashExecResult | undefined {
  const err = e instanceof Error ? (e as Partial<CodedError>) : undefined;
  if (err !== undefined && typeof err.code !== "string") {
    // just-bash's own filesystems (its private /dev/fd mount) throw plain Errors: `EROFS: text, write '/p'`.
    const m = /^([A-Z]+): [^,]*, \w+ '([^']*)'$/.exec((e as Error).message);
    if (m !== null) Object.assign(err, { code: m[1], path: m[2] });
  }
  if (err === undefined || typeof err.code !== "string" || !SCRIPT_FS_CODES.has(err.code)) return undefined;
  const text = BASH_TEXT[err.code];
  const line = text !== undefined && typeof err.path === "string" ? `${err.path}: ${text}` : (e as Error).message;
  return { stdout: "", stderr: `bash: ${line}\n`, exitCode: 1, env: {} };
}

const isConflict = (e: unknown): e is Error => e instanceof Error && codeOf(e) === "ECONFLICT";

/**
 * `run`, or undefined once `signal` has aborted and `graceMs` more have passed without it settling
 * (it is then left to finish on its own).
 */
function settleOrGiveUp<T>(run: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T | undefined> {
  run.catch(() => {});
  return new Promise<T | undefined>((resolve, reject) => {
    let grace: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => {
      grace = setTimeout(() => resolve(undefined), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      clearTimeout(grace);
      signal.removeEventListener("abort", onAbort);
    };
    run.then(
      (v) => (done(), resolve(v)),
      (e: unknown) => (done(), reject(e)),
    );
  });
}

/** One script's run: its result, and whether it was stopped (then its writes must not be kept). */
interface Run {
  result: BashExecResult;
  stopped: "abort" | "timeout" | undefined;
}

/**
 * A just-bash shell over the workspace. just-bash is imported here, lazily.
 *
 * Defense-in-depth is off unless asked for (it cannot run under Bun: just-bash issue #386); `cwd` is
 * created when missing; each `exec()` runs in a transaction of its own (unless `transactionPerExec:
 * false`), on its own view of the workspace and its own `Bash`, so concurrent execs never share a
 * transaction and calls through `shell.fs` never join one.
 */
export async function createAcceleratedJustBashShell(options: AcceleratedJustBashShellOptions): Promise<AcceleratedJustBashShell> {
  const { filesystem, cwd: cwdOption, transactionPerExec: perExecOption, checkpointBeforeExec, defenseInDepth, ...bashOptions } = options;
  if (defenseEnabled(defenseInDepth) && runningUnderBun()) {
    throw new TypeError("createAcceleratedJustBashShell: just-bash's defense-in-depth cannot run under Bun (just-bash issue #386); leave defenseInDepth off");
  }
  const fs = filesystem instanceof AcceleratedJustBashFs ? filesystem : new AcceleratedJustBashFs(filesystem);
  const mount = fs.filesystem;
  const cwd = normalizeVirtualPath(cwdOption ?? "/");
  if (cwd !== "/" && !mount.readOnly && !(await fs.exists(cwd))) await fs.mkdir(cwd, { recursive: true });

  const jb = await import("just-bash");
  // A Bash's filesystem is fixed when it is made, so each exec gets one over its own view (a Bash costs
  // about a millisecond; every exec starts from fresh shell state anyway, so nothing else differs).
  const newBash = (view: AcceleratedJustBashFs): Bash => new jb.Bash({ ...bashOptions, fs: view, cwd, defenseInDepth: defenseInDepth ?? false });
  const bash = newBash(fs);
  // The names `which` may find under /bin and /usr/bin: what this Bash registered.
  const names = new Set<string>(bashOptions.commands ?? jb.getCommandNames());
  if (bashOptions.network !== undefined || bashOptions.fetch !== undefined) for (const n of jb.getNetworkCommandNames()) names.add(n);
  if (bashOptions.python === true) for (const n of jb.getPythonCommandNames()) names.add(n);
  if (bashOptions.javascript !== undefined && bashOptions.javascript !== false) for (const n of jb.getJavaScriptCommandNames()) names.add(n);
  for (const c of bashOptions.customCommands ?? []) names.add(c.name);
  fs.setCommandNames(names);
  const transactionPerExec = perExecOption !== false;
  const undo = undoStackFor(mount, checkpointBeforeExec);

  /** Runs the script on `view`; a timeout or an abort stops it (after `graceMs` it is given up on). */
  const run = async (view: AcceleratedJustBashFs, script: string, execOptions: AcceleratedJustBashExecOptions): Promise<Run> => {
    const { timeoutMs, abortGraceMs, transaction: _caller, signal, ...bashExec } = execOptions;
    if (mayListGlobs(script)) await view.indexPaths();
    const controller = new AbortController();
    let stopped: Run["stopped"];
    const onAbort = (): void => {
      stopped ??= "abort";
      controller.abort(signal?.reason);
    };
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    // The clock starts now, when the command starts running.
    const timer =
      typeof timeoutMs === "number" && Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            stopped ??= "timeout";
            controller.abort(new DOMException(`Command timed out after ${timeoutMs} ms`, "TimeoutError"));
          }, Math.max(0, timeoutMs))
        : undefined;
    let result: BashExecResult | undefined;
    try {
      result = await settleOrGiveUp(newBash(view).exec(script, { ...bashExec, signal: controller.signal }), controller.signal, abortGraceMs ?? DEFAULT_ABORT_GRACE_MS);
    } catch (e) {
      result = stopped === undefined ? failedCommand(e) : undefined;
      if (stopped === undefined && result === undefined) throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    // Calls the script left running finish before its transaction commits.
    if (stopped === undefined) await view.settle();
    const out = result ?? { stdout: "", stderr: "", exitCode: 124, env: {} };
    if (stopped === "timeout") return { stopped, result: { ...out, exitCode: 124, stderr: `${out.stderr}${NOTE} Command timed out after ${timeoutMs} ms.\n` } };
    return { stopped, result: out };
  };

  const rolledBack = (r: Run): AcceleratedJustBashExecResult => ({
    ...r.result,
    stderr: `${r.result.stderr}${NOTE} The command ${r.stopped === "timeout" ? "timed out" : "was aborted"}: nothing it wrote was committed.\n`,
    committed: false,
  });

  /** One exec in a transaction of its own: committed when it ran to its end, rolled back when stopped. */
  const inTransaction = async (script: string, execOptions: AcceleratedJustBashExecOptions, onView: (view: AcceleratedJustBashFs) => void): Promise<AcceleratedJustBashExecResult> => {
    let ran: Run | undefined;
    const stop = Symbol("stopped");
    try {
      await mount.transaction(async (tx) => {
        const view = fs.view(tx);
        onView(view);
        ran = await run(view, script, execOptions);
        // Throwing out of the callback aborts the transaction.
        if (ran.stopped !== undefined) throw stop;
      });
    } catch (e) {
      if (e === stop && ran !== undefined) return rolledBack(ran);
      if (ran !== undefined && isConflict(e)) {
        // The script ran, but what it relied on changed under it before it could commit: nothing applied.
        const r = ran.result;
        return {
          ...r,
          exitCode: r.exitCode === 0 ? 1 : r.exitCode,
          stderr: `${r.stderr}${NOTE} Nothing this command wrote was committed: ${e.message}\n`,
          committed: false,
          commitError: e,
        };
      }
      throw e;
    }
    if (ran === undefined) throw new Error("createAcceleratedJustBashShell: the transaction callback did not run");
    return { ...ran.result, committed: true };
  };

  /** One exec on views of its own (each reported to `onView`): in a transaction, or committing as it writes. */
  const execOwn = async (script: string, execOptions: AcceleratedJustBashExecOptions, onView: (view: AcceleratedJustBashFs) => void): Promise<AcceleratedJustBashExecResult> => {
    if (transactionPerExec && !mount.readOnly) return inTransaction(script, execOptions, onView);
    // Each write commits as it is made: whatever the command wrote before it stopped stays.
    const view = fs.view();
    onView(view);
    return { ...(await run(view, script, execOptions)).result, committed: true };
  };

  /** With `checkpointBeforeExec`: the exec after a checkpoint, and what it changed remembered for `undo()`. */
  const execUndoable = async (u: ExecUndo, script: string, execOptions: AcceleratedJustBashExecOptions): Promise<AcceleratedJustBashExecResult> => {
    const pending = await u.before(script);
    const views: AcceleratedJustBashFs[] = [];
    const touched = (): Set<string> => new Set(views.flatMap((v) => [...v.changedPaths]));
    let result: AcceleratedJustBashExecResult;
    try {
      result = await execOwn(script, execOptions, (v) => views.push(v));
    } catch (e) {
      // Without a transaction per exec, what it wrote before failing stays (and can be undone).
      u.after(pending, touched(), !transactionPerExec);
      throw e;
    }
    u.after(pending, touched(), result.committed);
    return result;
  };

  return {
    bash,
    fs,
    filesystem: mount,
    transactionPerExec,
    async exec(script: string, execOptions: AcceleratedJustBashExecOptions = {}): Promise<AcceleratedJustBashExecResult> {
      const given = execOptions.transaction;
      if (given !== undefined) return { ...(await run(fs.view(given), script, execOptions)).result, committed: false };
      if (undo !== undefined) return execUndoable(undo, script, execOptions);
      return execOwn(script, execOptions, () => {});
    },
    getCwd: () => bash.getCwd(),
    undo: async () => undo?.undo(),
    clearUndo: async () => undo?.forget(),
    get undoable() {
      return undo?.undoable ?? [];
    },
  };
}
