// S3CachedFsManagerImpl: opens mounts of workspaces in buckets, keeping their local state under one
// cacheRoot (one directory per mount name).
import { join } from "node:path";
import { native } from "./native.ts";
import { CachedFs } from "./fs.ts";
import { fsError } from "./errors.ts";
import { S3ObjectStore, type ObjectStore, type S3Credentials } from "./store.ts";

export interface ManagerOptions {
  /** Directory for the local SQLite namespaces and block caches; disposable. */
  cacheRoot: string;
}

export interface MountOptions {
  /** Unique per manager; names the local state directory under cacheRoot. */
  name: string;
  mode: "readwrite" | "readonly";
  bucket?: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: S3Credentials;
  /** Upper bound of the local block cache, in bytes (pinned blocks may exceed it). */
  cacheBytes: number;
  /** Use this store instead of S3 (`LocalObjectStore` for demos and tests). */
  store?: ObjectStore;
  /** Readers: refresh on this interval. */
  refreshIntervalMs?: number;
  /** Upload a metadata snapshot every this many commits (default 256). */
  snapshotEvery?: number;
  /**
   * Open the tree exactly as it was at this commit: a seq, or a checkpoint name. Such a mount is
   * readonly and does not move (`refresh()` keeps it where it is).
   */
  at?: number | string;
}

/** Where a workspace lives: a store, or an S3 bucket and prefix. */
export type WorkspaceLocation = Pick<MountOptions, "store" | "bucket" | "prefix" | "region" | "endpoint" | "forcePathStyle" | "credentials">;

export interface ForkOptions {
  /** The source workspace, and the commit to fork from (a seq or checkpoint name; default its head). */
  from: WorkspaceLocation & { at?: number | string };
  /** The new workspace's prefix, in the source's bucket (or the source store's root directory). */
  to: { prefix: string; bucket?: string };
}

export interface ForkResult {
  /** The source commit the fork starts from. */
  fromSeq: number;
  prefix: string;
  /** The fork's registration under the source's `refs/forks/`. */
  id: string;
}

/** The store a location names: the given one, or an S3 bucket connected with the location's options. */
async function storeFor(loc: WorkspaceLocation, syscall: string, path: string): Promise<ObjectStore> {
  if (loc.store !== undefined) return loc.store;
  if (typeof loc.bucket !== "string" || loc.bucket === "") throw fsError("EINVAL", "bucket is required without a store", syscall, path);
  return S3ObjectStore.connect({
    bucket: loc.bucket,
    prefix: loc.prefix,
    region: loc.region,
    endpoint: loc.endpoint,
    forcePathStyle: loc.forcePathStyle,
    credentials: loc.credentials,
  });
}

export class S3CachedFsManagerImpl {
  readonly cacheRoot: string;
  readonly #mounts = new Map<string, CachedFs>();

  constructor(options: ManagerOptions) {
    if (typeof options?.cacheRoot !== "string" || options.cacheRoot === "") {
      throw Object.assign(new TypeError('The "cacheRoot" option must be a non-empty string'), { code: "ERR_INVALID_ARG_TYPE" });
    }
    this.cacheRoot = options.cacheRoot;
  }

  async mount(options: MountOptions): Promise<CachedFs> {
    if (options.mode !== "readwrite" && options.mode !== "readonly") {
      throw fsError("EINVAL", `mode must be "readwrite" or "readonly"`, "mount", options.name);
    }
    if (this.#mounts.has(options.name)) {
      throw fsError("EEXIST", "a mount with this name is already open", "mount", options.name);
    }
    const store = await storeFor(options, "mount", options.name);
    const nativeMount = await native.NativeMount.open(store.native, {
      name: options.name,
      readwrite: options.mode === "readwrite",
      cacheRoot: this.cacheRoot,
      cacheBytes: options.cacheBytes,
      storeId: store.id,
      snapshotEvery: options.snapshotEvery,
      at: options.at,
    });
    const fs = new CachedFs(options.name, nativeMount, join(this.cacheRoot, options.name), options.refreshIntervalMs, () => this.#mounts.delete(options.name));
    this.#mounts.set(options.name, fs);
    return fs;
  }

  /**
   * Creates a workspace at `to.prefix` (same bucket) whose first state is the `from` workspace at
   * `from.at` (default: its head). Nothing is copied: the fork's snapshot points at the source's data
   * objects, and the source registers the fork (`refs/forks/`) so its GC keeps them however the source
   * changes afterwards. Mount the fork like any workspace. A fork into another bucket is ENOTSUP.
   */
  async fork(options: ForkOptions): Promise<ForkResult> {
    const { from, to } = options;
    if (typeof to?.prefix !== "string" || to.prefix === "") throw fsError("EINVAL", "to.prefix is required", "fork");
    if (to.bucket !== undefined && to.bucket !== from.bucket) {
      throw fsError("ENOTSUP", "operation not supported (a fork shares the source's objects, so it lives in the same bucket)", "fork", to.prefix);
    }
    const store = await storeFor(from, "fork", to.prefix);
    const f = await native.forkWorkspace(store.native, to.prefix, from.at);
    return { fromSeq: f.fromSeq, prefix: f.prefix, id: f.id };
  }

  /** The open mounts. */
  get mounts(): CachedFs[] {
    return [...this.#mounts.values()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.#mounts.values()].map((m) => m.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
