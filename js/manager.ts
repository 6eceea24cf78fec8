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
    let store = options.store;
    if (store === undefined) {
      if (typeof options.bucket !== "string" || options.bucket === "") throw fsError("EINVAL", "bucket is required without a store", "mount", options.name);
      store = await S3ObjectStore.connect({
        bucket: options.bucket,
        prefix: options.prefix,
        region: options.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle,
        credentials: options.credentials,
      });
    }
    const nativeMount = await native.NativeMount.open(store.native, {
      name: options.name,
      readwrite: options.mode === "readwrite",
      cacheRoot: this.cacheRoot,
      cacheBytes: options.cacheBytes,
      storeId: store.id,
      snapshotEvery: options.snapshotEvery,
    });
    const fs = new CachedFs(options.name, nativeMount, join(this.cacheRoot, options.name), options.refreshIntervalMs, () => this.#mounts.delete(options.name));
    this.#mounts.set(options.name, fs);
    return fs;
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
