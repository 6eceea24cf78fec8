// Object stores as users see them: `LocalObjectStore(dir)` for demos and tests, `S3ObjectStore` for
// production, and the counting / failing / retrying wrappers the tests and benchmarks use.
import { resolve } from "node:path";
import { toBuffer } from "./bytes.ts";
import { native, type FailRule, type GetResult, type ListResult, type NativeObjectStore, type ObjectMeta, type ProbeReport, type RequestCounts } from "./native.ts";

export type { FailRule, GetResult, ListResult, ObjectMeta, ProbeReport, RequestCounts };

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket. */
  prefix?: string;
  /** Defaults to the AWS region chain, then `us-east-1`. */
  region?: string;
  /** Defaults to `AWS_ENDPOINT_URL_S3`, then AWS. */
  endpoint?: string;
  /** Defaults to true when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Defaults to the standard AWS credential chain. */
  credentials?: S3Credentials;
}

export interface GetOptions {
  /** First byte, inclusive. */
  start?: number;
  /** End, exclusive. */
  end?: number;
  /** The last `suffix` bytes. */
  suffix?: number;
  /** Conditional GET: rejects with code `ENOTMODIFIED` while the object still has this ETag. */
  ifNoneMatch?: string;
}

export type PutOptions = { mode?: "overwrite" } | { mode: "create" } | { mode: "update"; etag: string };

export interface RetryOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}


/** An object store with explicit put modes. Errors carry Node-style `code`s (`ENOENT`, `EPRECONDITION`, ...). */
export class ObjectStore {
  /** @internal */
  readonly native: NativeObjectStore;
  /** Names the underlying bucket and prefix (or directory); wrappers keep their inner store's id. */
  readonly id: string;

  /** @internal */
  constructor(nativeStore: NativeObjectStore, id: string) {
    this.native = nativeStore;
    this.id = id;
  }

  get(key: string, options?: GetOptions): Promise<GetResult> {
    return this.native.get(key, options);
  }

  head(key: string): Promise<ObjectMeta> {
    return this.native.head(key);
  }

  /**
   * Resolves to the new ETag; rejects with code `EPRECONDITION` when a create-only put finds the key taken
   * (`storeError: "AlreadyExists"`) or a replace-if put finds another version (`"PreconditionFailed"`).
   */
  put(key: string, data: string | Uint8Array, options?: PutOptions): Promise<string> {
    return this.native.put(key, toBuffer(data), options);
  }

  list(prefix: string, options?: { delimiter?: string; pageSize?: number }): Promise<ListResult> {
    return this.native.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.native.delete(key);
  }

  deleteMany(keys: string[]): Promise<void> {
    return this.native.deleteMany(keys);
  }

  /** Checks that the store really enforces create-only and replace-if puts. */
  probe(scratchPrefix?: string): Promise<ProbeReport> {
    return this.native.probe(scratchPrefix);
  }

  /** This store behind capped exponential backoff with jitter for transient failures. */
  withRetry(options?: RetryOptions): ObjectStore {
    return new ObjectStore(this.native.withRetry(options), this.id);
  }

  counting(): CountingObjectStore {
    return new CountingObjectStore(this.native.counting(), this.id);
  }

  failing(seed?: number): FailingObjectStore {
    return new FailingObjectStore(this.native.failing(seed), this.id);
  }
}

/** Objects as files under a local directory; conditional puts hold across threads and processes. */
export class LocalObjectStore extends ObjectStore {
  readonly rootDir: string;

  /** The key prefix: objects live under `rootDir/prefix/`, as under a bucket's prefix (forks use it). */
  readonly prefix: string;

  constructor(rootDir: string, options: { prefix?: string } = {}) {
    const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    super(native.NativeObjectStore.local(rootDir, prefix), `local:${resolve(rootDir)}${prefix === "" ? "" : `/${prefix}`}`);
    this.rootDir = rootDir;
    this.prefix = prefix;
  }
}

/** Any S3-compatible bucket, through aws-sdk-s3 (SigV4). Not retrying by itself; see `withRetry`. */
export class S3ObjectStore extends ObjectStore {
  static async connect(options: S3StoreOptions): Promise<S3ObjectStore> {
    const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? "aws";
    return new S3ObjectStore(await native.NativeObjectStore.s3(options), `s3:${endpoint}/${options.bucket}/${options.prefix ?? ""}`);
  }
}

/** Counts requests by kind and bytes moved. */
export class CountingObjectStore extends ObjectStore {
  counts(): RequestCounts {
    return this.native.counts();
  }

  resetCounts(): void {
    this.native.resetCounts();
  }
}

/** Injects faults by rule: errors, lost responses, delays, ignored preconditions. */
export class FailingObjectStore extends ObjectStore {
  addFailRule(rule: FailRule): void {
    this.native.addFailRule(rule);
  }

  clearFailRules(): void {
    this.native.clearFailRules();
  }
}
