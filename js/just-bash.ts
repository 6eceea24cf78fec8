// s3-bun-cached-fs/just-bash: just-bash's `IFileSystem` over a mounted workspace, and a shell whose every
// `exec()` commits as one transaction.
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

/** What a call is applied to: the mount itself, or the transaction a shell has open. */
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

/**
 * just-bash 3.4's complete `IFileSystem` over a mounted workspace (`CachedFs`).
 *
 * Metadata calls are answered from the local SQLite namespace; bytes come from the block cache or the
 * bucket. While a transaction is bound (`withTransaction`, which the shell uses for every `exec`), every
 * call goes to it, so one script's writes become one commit.
 *
 * Deliberately absent: `mkdirSync`/`writeFileSync` (just-bash would otherwise write `/bin`, `/dev` and
 * `/proc` stubs into the workspace when a `Bash` is constructed).
 */
export class AcceleratedJustBashFs implements IFileSystem {
  /** The mount every call goes to when no transaction is bound. */
  readonly filesystem: CachedFs;
  #tx: Transaction | undefined;
  readonly #pending = new Set<Promise<unknown>>();
  #commands: ReadonlySet<string> = new Set();

  constructor(filesystem: CachedFs) {
    this.filesystem = filesystem;
  }

  /**
   * The shell's registered command names: `/bin/<name>` and `/usr/bin/<name>` then exist as read-only
   * stubs (what `which` looks for). The shell sets this; `/bin` and `/usr/bin` themselves never exist.
   */
  setCommandNames(names: Iterable<string>): void {
    this.#commands = new Set(names);
  }

  #reserved(p: string): Reserved | undefined {
    if (DEVICE_PATHS.has(p)) return "device";
    if (VIRTUAL_DIRS.has(p)) return "virtualDir";
    if (p === "/bin" || p === "/usr/bin") return "absent";
    const binDir = p.startsWith("/bin/") ? 5 : p.startsWith("/usr/bin/") ? 9 : 0;
    if (binDir > 0) {
      const name = p.slice(binDir);
      return !name.includes("/") && this.#commands.has(name) ? "command" : "absent";
    }
    if (p.startsWith("/dev/")) return p.startsWith("/dev/fd/") ? "absent" : "readonly";
    return undefined;
  }

  /** The transaction calls currently go to, if any. */
  get activeTransaction(): Transaction | undefined {
    return this.#tx;
  }

  /**
   * Runs `fn` with every call of this filesystem applied to `tx` (normally one a shell opened with
   * `CachedFs.transaction`). Before it returns, calls that were still running against `tx` settle, so
   * the caller can commit safely. Re-entrant for the same `tx`.
   */
  async withTransaction<T>(tx: Transaction, fn: () => Promise<T> | T): Promise<T> {
    if (this.#tx === tx) return await fn();
    if (this.#tx !== undefined) throw new Error("AcceleratedJustBashFs: another transaction is already bound to this filesystem");
    this.#tx = tx;
    try {
      return await fn();
    } finally {
      this.#tx = undefined;
      await Promise.allSettled([...this.#pending]);
    }
  }

  /** Runs `op` on the current view; calls against a transaction are tracked until they settle. */
  #run<T>(op: (v: View) => Promise<T> | T): Promise<T> {
    const tx = this.#tx;
    if (tx === undefined) {
      try {
        return Promise.resolve(op(this.filesystem));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const p = (async () => op(tx))();
    this.#pending.add(p);
    const done = () => void this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  /** A mutation. Several engine calls are made atomic: the bound transaction, else a transaction of their own. */
  #mutate(syscall: string, path: string, op: (v: View) => Promise<void>, atomic = false): Promise<void> {
    if (this.#tx === undefined && this.filesystem.readOnly) return Promise.reject(fsErr("EROFS", syscall, path));
    if (atomic && this.#tx === undefined) return this.filesystem.transaction((tx) => op(tx));
    return this.#run(op);
  }

  #lstatOrUndefined(v: View, p: string): Stats | undefined {
    try {
      return v.lstatSync(p);
    } catch (e) {
      if (codeOf(e) === "ENOENT") return undefined;
      throw e;
    }
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

  /** Every path of the workspace (synchronously, from the local namespace), `/` first. */
  getAllPaths(): string[] {
    try {
      const view: View = this.#tx ?? this.filesystem;
      return ["/", ...view.readdirSync("/", { recursive: true }).map((name) => `/${name}`)];
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
    const view: View = this.#tx ?? this.filesystem;
    const existing = this.#lstatOrUndefined(view, p);
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
      const st = this.#lstatOrUndefined(v, p);
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
    const view: View = this.#tx ?? this.filesystem;
    const st = this.#lstatOrUndefined(view, s);
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
          if (this.#lstatOrUndefined(v, d) !== undefined) await v.rm(d, { recursive: false, force: true });
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
    const view: View = this.#tx ?? this.filesystem;
    if (this.#lstatOrUndefined(view, s) === undefined) throw fsErr("ENOENT", "mv", s);
    const needsParent = !view.existsSync(parentOf(d));
    await this.#mutate(
      "mv",
      d,
      async (v) => {
        if (needsParent) await v.mkdir(parentOf(d), { recursive: true });
        await v.rename(s, d);
      },
      needsParent,
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
    const view: View = this.#tx ?? this.filesystem;
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
   * Commit all writes of one `exec()` as one transaction (default true). A script that exits non-zero
   * still commits what it wrote; only an `exec()` that throws aborts them. Ignored on a readonly mount.
   */
  transactionPerExec?: boolean;
}

export interface AcceleratedJustBashShell {
  /** The just-bash instance (its `fs` is `this.fs`). */
  readonly bash: Bash;
  readonly fs: AcceleratedJustBashFs;
  readonly filesystem: CachedFs;
  readonly transactionPerExec: boolean;
  /** Runs a script; with `transactionPerExec` its writes are published as one commit before this resolves. */
  exec(script: string, options?: ExecOptions): Promise<BashExecResult>;
  /** The shell's working directory (what `exec` starts in unless `options.cwd` says otherwise). */
  getCwd(): string;
}

const runningUnderBun = (): boolean => typeof process !== "undefined" && typeof process.versions?.bun === "string";

function defenseEnabled(option: BashOptions["defenseInDepth"]): boolean {
  if (option === undefined || option === false) return false;
  if (option === true) return true;
  return option.enabled !== false;
}

/**
 * A just-bash shell over the workspace. just-bash is imported here, lazily.
 *
 * Defense-in-depth is off unless asked for (it cannot run under Bun: just-bash issue #386); `cwd` is
 * created when missing; each `exec()` is one transaction unless `transactionPerExec: false`.
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
  const bash = new jb.Bash({ ...bashOptions, fs, cwd, defenseInDepth: defenseInDepth ?? false });
  // The names `which` may find under /bin and /usr/bin: what this Bash registered.
  const names = new Set<string>(bashOptions.commands ?? jb.getCommandNames());
  if (bashOptions.network !== undefined || bashOptions.fetch !== undefined) for (const n of jb.getNetworkCommandNames()) names.add(n);
  if (bashOptions.python === true) for (const n of jb.getPythonCommandNames()) names.add(n);
  if (bashOptions.javascript !== undefined && bashOptions.javascript !== false) for (const n of jb.getJavaScriptCommandNames()) names.add(n);
  for (const c of bashOptions.customCommands ?? []) names.add(c.name);
  fs.setCommandNames(names);
  const transactionPerExec = perExecOption !== false;

  // One exec at a time per shell, so each transaction holds exactly one script's writes.
  let queue: Promise<unknown> = Promise.resolve();
  const inTransaction = (script: string, execOptions: ExecOptions | undefined): Promise<BashExecResult> => {
    // A transaction bound by the caller (fs.withTransaction) is joined rather than nested.
    if (fs.activeTransaction !== undefined || mount.readOnly) return bash.exec(script, execOptions);
    return mount.transaction((tx) => fs.withTransaction(tx, () => bash.exec(script, execOptions)));
  };

  return {
    bash,
    fs,
    filesystem: mount,
    transactionPerExec,
    exec(script: string, execOptions?: ExecOptions): Promise<BashExecResult> {
      if (!transactionPerExec) return bash.exec(script, execOptions);
      const run = queue.then(() => inTransaction(script, execOptions));
      queue = run.catch(() => undefined);
      return run;
    },
    getCwd: () => bash.getCwd(),
  };
}
