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
// The in-memory part of the namespace: command lookups and devices never reach the workspace.
//
// just-bash resolves every command with `exists("/usr/bin/<cmd>")`, `exists("/bin/<cmd>")` and
// `exists("/usr/bin")`; answering "no" to the last sends it to its command registry. So `/bin` and
// `/usr/bin` never exist here and cannot be written; only `/bin/<cmd>` and `/usr/bin/<cmd>` of the
// shell's registered commands exist, as read-only stubs (so `which` works), answered from memory.
// `/dev` is a small read-only directory of empty devices; writes to them are discarded. Anything else
// under `/dev` (e.g. `/dev/fd/63` for process substitution) is refused with EROFS, on which just-bash
// mounts its own private `/dev/fd`.

const DEVICES = ["null", "stderr", "stdin", "stdout", "zero"] as const;
const DEVICE_PATHS: ReadonlySet<string> = new Set(DEVICES.map((d) => `/dev/${d}`));
const VIRTUAL_DIRS: ReadonlyMap<string, DirentEntry[]> = new Map([
  [
    "/dev",
    [
      { name: "fd", isFile: false, isDirectory: true, isSymbolicLink: false },
      ...DEVICES.map((name) => ({ name, isFile: true, isDirectory: false, isSymbolicLink: false })),
    ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  ],
  ["/dev/fd", []],
]);

/** How a normalised path is served when it is not the workspace's. */
type Reserved = "device" | "virtualDir" | "command" | "absent" | "readonly";

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
  /** Shared by all views of one filesystem. */
  #shared: { commands: ReadonlySet<string> } = { commands: new Set() };
  /** Calls still running against the transaction (see `settle`). */
  readonly #pending = new Set<Promise<unknown>>();
  #index: PathIndex | undefined;

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

  /**
   * The shell's registered command names: `/bin/<name>` and `/usr/bin/<name>` then exist as read-only
   * stubs (what `which` looks for), in this view and every other view of the same filesystem.
   * `/bin` and `/usr/bin` themselves never exist.
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
    if (p === "/bin" || p === "/usr/bin") return "absent";
    const binDir = p.startsWith("/bin/") ? 5 : p.startsWith("/usr/bin/") ? 9 : 0;
    if (binDir > 0) {
      const name = p.slice(binDir);
      return !name.includes("/") && this.#shared.commands.has(name) ? "command" : "absent";
    }
    if (p.startsWith("/dev/")) return p.startsWith("/dev/fd/") ? "absent" : "readonly";
    return undefined;
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
    for (const p of touched) this.#index?.touch(p);
    if (atomic && this.#tx === undefined) return this.filesystem.transaction((tx) => op(tx));
    return this.#run(op);
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
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "device") return new Uint8Array(0);
    if (r === "command") return commandStub(p);
    if (r === "virtualDir") throw fsErr("EISDIR", "read", p);
    if (r !== undefined) throw fsErr("ENOENT", "open", p);
    const buf = await this.#run((v) => v.readFile(p));
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  async exists(path: string): Promise<boolean> {
    try {
      if (typeof path !== "string" || path.includes("\0")) return false;
      const p = normalizeVirtualPath(path);
      const r = this.#reserved(p);
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
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command") return virtualStat(r, p);
    if (r !== undefined) throw fsErr("ENOENT", follow ? "stat" : "lstat", p);
    return this.#run((v) => toFsStat(follow ? v.statSync(p) : v.lstatSync(p), follow));
  }

  async readdir(path: string): Promise<string[]> {
    return (await this.readdirWithFileTypes(path)).map((d) => d.name);
  }

  async readdirWithFileTypes(path: string): Promise<DirentEntry[]> {
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "virtualDir") return (VIRTUAL_DIRS.get(p) ?? []).map((d) => ({ ...d }));
    if (r === "device" || r === "command") throw fsErr("ENOTDIR", "scandir", p);
    if (r !== undefined) throw fsErr("ENOENT", "scandir", p);
    return this.#run((v) => v.readdirSync(p, { withFileTypes: true }).map(toDirent).sort((a, b) => byName(a.name, b.name)));
  }

  async readlink(path: string): Promise<string> {
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command") throw fsErr("EINVAL", "readlink", p);
    if (r !== undefined) throw fsErr("ENOENT", "readlink", p);
    return this.#run((v) => v.readlinkSync(p));
  }

  async realpath(path: string): Promise<string> {
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command") return p;
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
    if (r !== undefined) throw fsErr("EROFS", syscall, p);
    return false;
  }

  /** Creates or replaces a file, creating missing parent directories (as just-bash's filesystems do). */
  async writeFile(path: string, content: FileContent, options?: Parameters<IFileSystem["writeFile"]>[2]): Promise<void> {
    const p = normalizeVirtualPath(path);
    if (this.#writeTarget(p, "open")) return;
    const bytes = encode(content, encodingOf(options));
    await this.#mutate("open", p, (v) => v.writeFile(p, bytes, { recursive: true }));
  }

  async appendFile(path: string, content: FileContent, options?: Parameters<IFileSystem["appendFile"]>[2]): Promise<void> {
    const p = normalizeVirtualPath(path);
    if (this.#writeTarget(p, "open")) return;
    const bytes = encode(content, encodingOf(options));
    const view = this.#view;
    const existing = lstatOrUndefined(view, p);
    if (existing !== undefined && bytes.byteLength === 0) {
      // `>>` opens its target with an empty append: nothing to commit unless the file must be created.
      if (view.statSync(p).isDirectory()) throw fsErr("EISDIR", "open", p);
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
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir" || r === "command") {
      if (r === "virtualDir" && options?.recursive === true) return;
      throw fsErr("EEXIST", "mkdir", p);
    }
    if (r !== undefined) throw fsErr("EROFS", "mkdir", p);
    await this.#mutate("mkdir", p, (v) => v.mkdir(p, { recursive: options?.recursive === true }));
  }

  async rm(path: string, options?: RmOptions): Promise<void> {
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "absent" && options?.force === true) return;
    if (r === "absent") throw fsErr("ENOENT", "rm", p);
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
    const s = normalizeVirtualPath(src);
    const d = normalizeVirtualPath(dest);
    const rs = this.#reserved(s);
    if (rs === "virtualDir") throw fsErr("EISDIR", "cp", s, "is a directory");
    if (rs !== undefined && rs !== "device" && rs !== "command") throw fsErr("ENOENT", "cp", s);
    if (this.#writeTarget(d, "cp")) {
      if (rs === undefined && !(await this.exists(s))) throw fsErr("ENOENT", "cp", s);
      return;
    }
    if (rs !== undefined) return this.writeFile(d, await this.readFileBuffer(s));
    const view = this.#view;
    const st = lstatOrUndefined(view, s);
    if (st === undefined) throw fsErr("ENOENT", "cp", s);
    if (st.isDirectory() && options?.recursive !== true) throw fsErr("EISDIR", "cp", s, "is a directory");
    const needsParent = !view.existsSync(parentOf(d));
    const link = st.isSymbolicLink() ? view.readlinkSync(s) : undefined;
    await this.#mutate(
      "cp",
      d,
      async (v) => {
        if (needsParent) await v.mkdir(parentOf(d), { recursive: true });
        // A symlink is copied as a symlink (the engine's copy follows it).
        if (link !== undefined) {
          if (lstatOrUndefined(v, d) !== undefined) await v.rm(d, { recursive: false, force: true });
          await v.symlink(link, d);
        } else {
          await v.copy(s, d, { recursive: options?.recursive === true });
        }
      },
      needsParent || link !== undefined,
    );
  }

  async mv(src: string, dest: string): Promise<void> {
    const s = normalizeVirtualPath(src);
    const d = normalizeVirtualPath(dest);
    if (this.#reserved(s) !== undefined) throw fsErr("EPERM", "mv", s);
    if (this.#reserved(d) !== undefined) throw fsErr("EROFS", "mv", d);
    if (s === d) return;
    const view = this.#view;
    if (lstatOrUndefined(view, s) === undefined) throw fsErr("ENOENT", "mv", s);
    const needsParent = !view.existsSync(parentOf(d));
    await this.#mutate(
      "mv",
      d,
      async (v) => {
        if (needsParent) await v.mkdir(parentOf(d), { recursive: true });
        await v.rename(s, d);
      },
      needsParent,
      [s, d],
    );
  }

  async chmod(path: string, mode: number): Promise<void> {
    const p = normalizeVirtualPath(path);
    if (this.#reserved(p) !== undefined) throw fsErr("EPERM", "chmod", p);
    await this.#mutate("chmod", p, (v) => v.chmod(p, mode & 0o7777));
  }

  async symlink(target: string, linkPath: string): Promise<void> {
    const p = normalizeVirtualPath(linkPath);
    const r = this.#reserved(p);
    if (r !== undefined) throw fsErr(r === "device" || r === "command" || r === "virtualDir" ? "EEXIST" : "EROFS", "symlink", p);
    const view = this.#view;
    const needsParent = !view.existsSync(parentOf(p));
    await this.#mutate(
      "symlink",
      p,
      async (v) => {
        if (needsParent) await v.mkdir(parentOf(p), { recursive: true });
        await v.symlink(target, p);
      },
      needsParent,
    );
  }

  /** Hard links do not exist in this store: always fails (ENOENT for a missing source, else ENOTSUP). */
  async link(existingPath: string, newPath: string): Promise<void> {
    const s = normalizeVirtualPath(existingPath);
    const d = normalizeVirtualPath(newPath);
    if (!(await this.exists(s))) throw fsErr("ENOENT", "link", s);
    throw Object.assign(new Error(`ENOTSUP: hard links are not supported by s3-bun-cached-fs (use a symlink or a copy), link '${s}' -> '${d}'`), {
      code: "ENOTSUP",
      syscall: "link",
      path: s,
      dest: d,
    });
  }

  /** Sets the modification time (`atime` is not kept). */
  async utimes(path: string, atime: Date, mtime: Date): Promise<void> {
    const p = normalizeVirtualPath(path);
    const r = this.#reserved(p);
    if (r === "device" || r === "virtualDir") return;
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
  const { filesystem, cwd: cwdOption, transactionPerExec: perExecOption, defenseInDepth, ...bashOptions } = options;
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
  const inTransaction = async (script: string, execOptions: AcceleratedJustBashExecOptions): Promise<AcceleratedJustBashExecResult> => {
    let ran: Run | undefined;
    const stop = Symbol("stopped");
    try {
      await mount.transaction(async (tx) => {
        ran = await run(fs.view(tx), script, execOptions);
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

  return {
    bash,
    fs,
    filesystem: mount,
    transactionPerExec,
    async exec(script: string, execOptions: AcceleratedJustBashExecOptions = {}): Promise<AcceleratedJustBashExecResult> {
      const given = execOptions.transaction;
      if (given !== undefined) return { ...(await run(fs.view(given), script, execOptions)).result, committed: false };
      if (transactionPerExec && !mount.readOnly) return inTransaction(script, execOptions);
      // Each write commits as it is made: whatever the command wrote before it stopped stays.
      return { ...(await run(fs.view(), script, execOptions)).result, committed: true };
    },
    getCwd: () => bash.getCwd(),
  };
}
