// The stores every suite runs against: LocalObjectStore, and each real S3 server the harness started.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore, S3ObjectStore, type ObjectStore } from "../../js/core.ts";
import { s3TestServers, uniquePrefix, type S3ServerInfo } from "./servers.ts";

export interface StoreTarget {
  name: string;
  /** A store over a fresh, empty prefix. */
  open(label: string): Promise<ObjectStore>;
  server?: S3ServerInfo;
}

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `s3fs-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function s3Store(s: S3ServerInfo, prefix: string): Promise<S3ObjectStore> {
  return S3ObjectStore.connect({
    bucket: s.bucket,
    prefix,
    region: s.region,
    endpoint: s.endpoint,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  });
}

/** LocalObjectStore plus the servers named in `servers` (all started ones by default). */
export function storeTargets(localRoot: string, servers?: S3ServerInfo["name"][]): StoreTarget[] {
  return [
    { name: "LocalObjectStore", open: async (label: string) => new LocalObjectStore(join(localRoot, uniquePrefix(label))) },
    ...s3TestServers()
      .filter((s) => servers === undefined || servers.includes(s.name))
      .map((s) => ({ name: s.name, server: s, open: (label: string) => s3Store(s, uniquePrefix(label)) })),
  ];
}

export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? "no code";
  }
  return "resolved";
}
