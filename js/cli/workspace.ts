// Which workspace a command works on (an `s3://bucket/prefix` address or a LocalObjectStore directory),
// the store behind it, and the local state directory the CLI keeps for it.
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, S3ObjectStore, type CachedFs, type ObjectStore } from "../core.ts";
import { EXIT, ExitError, UsageError } from "./exit.ts";
import { acquireSlot, type Slot } from "./lock.ts";

export type Address = { kind: "s3"; bucket: string; prefix: string } | { kind: "local"; dir: string };

export function parseAddress(text: string): Address {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === "s3") {
    const rest = text.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/^\/+|\/+$/g, "");
    if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(bucket)) throw new UsageError(`invalid workspace address '${text}': expected s3://BUCKET[/PREFIX]`);
    return { kind: "s3", bucket, prefix };
  }
  if (scheme === "file") return { kind: "local", dir: resolve(decodeURIComponent(text.slice("file://".length))) };
  if (scheme !== undefined) throw new UsageError(`unsupported workspace address '${text}': use s3://BUCKET[/PREFIX] or a local store directory`);
  if (text === "") throw new UsageError("the workspace address is empty");
  return { kind: "local", dir: resolve(text) };
}

export function describeAddress(a: Address): string {
  return a.kind === "s3" ? `s3://${a.bucket}${a.prefix === "" ? "" : `/${a.prefix}`}` : a.dir;
}

export interface StoreFlags {
  endpoint?: string;
  region?: string;
  /** Path-style addressing; the store's default (path-style when an endpoint is set) when undefined. */
  pathStyle?: boolean;
}

/** Whether a local directory holds a store (its head, `heads/main.json`, which the first writer publishes). */
export function isLocalStore(dir: string): boolean {
  return existsSync(join(dir, "heads", "main.json"));
}

/**
 * The store behind an address. A local directory must exist and hold a store unless `create` (put and
 * sync uploads make a new workspace there), so a reading command pointed at an ordinary directory says
 * so and leaves it as it was. S3 settings not given as flags come from the standard AWS environment.
 */
export async function openStore(a: Address, flags: StoreFlags, create: boolean): Promise<ObjectStore> {
  if (a.kind === "local") {
    if (existsSync(a.dir)) {
      if (!statSync(a.dir).isDirectory()) throw new ExitError("ENOTDIR", EXIT.BAD_PATH, `ENOTDIR: the workspace is not a directory, open '${a.dir}'`);
      if (!create && !isLocalStore(a.dir)) {
        throw new ExitError("ENOTSTORE", EXIT.NOT_A_STORE, `ENOTSTORE: not a store (no heads/main.json; put and sync uploads create one), open '${a.dir}'`);
      }
    } else if (!create) {
      throw new ExitError("ENOENT", EXIT.NOT_FOUND, `ENOENT: no such workspace directory, open '${a.dir}'`);
    }
    // The directory as a prefix of its parent, as an S3 workspace is a prefix of its bucket: a fork
    // then lands in a sibling directory, which is itself a workspace address (the id is the same).
    const name = basename(a.dir);
    return name === "" || name.startsWith(".s3fs-") ? new LocalObjectStore(a.dir) : new LocalObjectStore(dirname(a.dir), { prefix: name });
  }
  return S3ObjectStore.connect({ bucket: a.bucket, prefix: a.prefix, region: flags.region, endpoint: flags.endpoint, forcePathStyle: flags.pathStyle });
}

/** `$XDG_CACHE_HOME/s3-bun-cached-fs/cli` (or `~/.cache/...`). */
export function defaultCacheBase(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME ?? homedir(), ".cache");
  return join(base, "s3-bun-cached-fs", "cli");
}

/** The local state directory of a store: `--cache-dir` as given, else the default base + a hash of the store's id. */
export function cacheDirFor(store: ObjectStore, override: string | undefined, env: Record<string, string | undefined>): string {
  if (override !== undefined) return resolve(override);
  return join(defaultCacheBase(env), createHash("sha256").update(store.id).digest("hex").slice(0, 16));
}

export interface SessionOptions extends StoreFlags {
  address: Address;
  cacheDir?: string;
  cacheBytes: number;
  env: Record<string, string | undefined>;
  /** Use this store instead of opening the address's (tests: a fault-injecting store). */
  store?: ObjectStore;
  /** The command may make a new store in a local directory (put, sync uploads) when it mounts readwrite. */
  createsStore?: boolean;
}

/** The store and (at most) one mount of it for the lifetime of a command. */
export class Session {
  readonly options: SessionOptions;
  #store: ObjectStore | undefined;
  #manager: S3CachedFsManagerImpl | undefined;
  #slot: Slot | undefined;
  #fs: CachedFs | undefined;

  constructor(options: SessionOptions) {
    this.options = options;
  }

  get address(): Address {
    return this.options.address;
  }

  /** The store, created on first use; `create` allows a new local workspace directory. */
  async store(create = false): Promise<ObjectStore> {
    this.#store ??= this.options.store ?? (await openStore(this.options.address, this.options, create));
    return this.#store;
  }

  /**
   * Mounts the workspace: `readonly` for the reading commands, `readwrite` (the writer role) for the rest.
   * With `at` (a seq or a checkpoint name), readonly as it was at that commit; such a mount keeps its
   * local state apart (`<slot>.at`), so the slot's own namespace stays at the head.
   */
  async mount(mode: "readonly" | "readwrite", at?: number | string): Promise<CachedFs> {
    if (this.#fs !== undefined) return this.#fs;
    const store = await this.store(mode === "readwrite" && this.options.createsStore === true);
    const cacheRoot = cacheDirFor(store, this.options.cacheDir, this.options.env);
    this.#slot = acquireSlot(cacheRoot);
    this.#manager = new S3CachedFsManagerImpl({ cacheRoot });
    const name = at === undefined ? this.#slot.name : `${this.#slot.name}.at`;
    this.#fs = await this.#manager.mount({ name, mode, cacheBytes: this.options.cacheBytes, store, at });
    return this.#fs;
  }

  async close(): Promise<void> {
    try {
      await this.#manager?.close();
    } finally {
      this.#slot?.release();
    }
  }
}
