// AcceleratedJustBashFs: just-bash's `IFileSystem` over a mounted workspace.
import type { ByteString, CpOptions, FileContent, FsStat, IFileSystem, MkdirOptions, RmOptions } from "just-bash";
import type { CachedFs, Stats, Transaction } from "../core.ts";
import { codeOf, lstatOrUndefined, type View } from "../adapters/absent.ts";
import { normalizeVirtualPath, parentOf, resolveVirtualPath } from "../adapters/paths.ts";
import { fsErr } from "./errors.ts";
import { byName, decode, encode, encodingOf, toDirent, toFsStat, type DirentEntry } from "./forms.ts";
import { PathIndex } from "./path-index.ts";
import { commandStub, DEV_ENTRY, DEV_FD, DEVICE_PATHS, EPOCH, VIRTUAL_DIRS, virtualStat, type Reserved } from "./virtual.ts";

/**
 * `lstat`, or undefined for ENOENT only. Unlike the adapters' "absent" rule (lstatOrUndefined), a path
 * through a file still fails with ENOTDIR here: what a script's `rm`, `cp`, `mv`, `ln` and `>>` report.
 */
function lstatOrMissing(v: View, p: string): Stats | undefined {
  try {
    return v.lstatSync(p);
  } catch (e) {
    if (codeOf(e) === "ENOENT") return undefined;
    throw e;
  }
}

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
      if (!name.includes("/") && this.#shared.commands.has(name) && lstatOrUndefined(this.#view, p) === undefined) return "command";
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
    const st = lstatOrUndefined(this.#view, p);
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
    const existing = lstatOrMissing(view, p);
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
    await this.#mutateInParent("open", p, (v) => v.appendFile(p, bytes));
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
      const st = lstatOrMissing(v, p);
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
    const st = lstatOrMissing(view, s);
    if (st === undefined) throw fsErr("ENOENT", "cp", s);
    if (st.isDirectory() && options?.recursive !== true) throw fsErr("EISDIR", "cp", s, "is a directory");
    const link = st.isSymbolicLink() ? view.readlinkSync(s) : undefined;
    await this.#mutateInParent(
      "cp",
      d,
      async (v) => {
        // A symlink is copied as a symlink (the engine's copy follows it).
        if (link !== undefined) {
          if (lstatOrMissing(v, d) !== undefined) await v.rm(d, { recursive: false, force: true });
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
    if (lstatOrMissing(view, s) === undefined) throw fsErr("ENOENT", "mv", s);
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
    const st = lstatOrMissing(view, s);
    if (st === undefined) throw fsErr("ENOENT", "link", s);
    if (!st.isFile()) throw fsErr("EPERM", "link", s);
    if (lstatOrUndefined(view, d) !== undefined) throw fsErr("EEXIST", "link", d);
    const identity = this.#identity(st);
    await this.#mutateInParent("link", d, (v) => v.copy(s, d));
    const made = lstatOrMissing(this.#view, d);
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
