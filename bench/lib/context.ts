// What every measure gets: the SeaweedFS server, the counting proxy in front of it, and constructors for
// each client (ours, @mastra/s3, the raw Bun.S3Client) bound to its own proxy port and a fresh key prefix.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { S3Filesystem } from "@mastra/s3";
import { S3CachedFsManagerImpl, type CachedFs } from "../../js/core.ts";
import { withParentDeathSignal, type RunningServer } from "../../scripts/s3-servers.ts";
import { emptyCounts, type KindCounts } from "./proxy.ts";
import { MiB } from "./util.ts";

export const LABELS = ["ours", "mastra", "raw", "juicefs"] as const;
export type Label = (typeof LABELS)[number];

export interface Proxy {
  ports: Record<Label, number>;
  counts(): Promise<Record<Label, KindCounts>>;
  stop(): Promise<void>;
}

const BUN = process.execPath;

export async function startProxy(upstream: string): Promise<Proxy> {
  const script = join(import.meta.dir, "proxy.ts");
  const proc = Bun.spawn(withParentDeathSignal([BUN, script, upstream, ...LABELS]), { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the counting proxy exited before it was ready (code ${await proc.exited})`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const cfg = JSON.parse(text.slice(0, text.indexOf("\n"))) as { control: number; ports: Record<Label, number> };
  return {
    ports: cfg.ports,
    async counts() {
      const res = await fetch(`http://127.0.0.1:${cfg.control}/counts`);
      return (await res.json()) as Record<Label, KindCounts>;
    },
    async stop() {
      try {
        proc.stdin.end();
      } catch {
        // already closed
      }
      const quit = await Promise.race([proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
      if (!quit) proc.kill();
      await proc.exited;
    },
  };
}

export function diffCounts(after: KindCounts, before: KindCounts): KindCounts {
  const out = emptyCounts();
  for (const k of ["get", "rangedGet", "head", "put", "list", "delete", "post", "other", "total", "bytesUp", "bytesDown"] as const) out[k] = after[k] - before[k];
  for (const [k, v] of Object.entries(after.folders)) {
    const d = v - (before.folders[k] ?? 0);
    if (d !== 0) out.folders[k] = d;
  }
  return out;
}

export interface Sizes {
  statIterations: number;
  mastraStatIterations: number;
  readdirEntries: number;
  readdirIterations: number;
  mastraReaddirIterations: number;
  smallFiles: number;
  smallFileBytes: number;
  mastraConcurrency: number;
  grepFiles: number;
  seqBytes: number;
  seqRepeats: number;
  randomFileBytes: number;
  randomReads: number;
  refreshIdle: number;
  refreshCommits: number;
  rssBytes: number;
  txRssBytes: number;
  txRssFiles: number;
  /** How long the transaction (or exec) stays open while 1 KiB writes are timed beside it. */
  openTxMs: number;
  sideWrites: number;
  /** Concurrent just-bash execs, and files each writes. */
  execs: number;
  execFiles: number;
  /** Entries of the tree the event-loop stall probe walks. */
  stallEntries: number;
  /** Files of the workspace that history (fork, time travel, diff) is measured on, and commits after them. */
  historyFiles: number;
  historyCommits: number;
  /** Timed calls per small-file path (warm readFile of 1 KiB, missing-path readFile / exists, stat). */
  smallReadIterations: number;
  /** Files the scale measure's one transaction writes, and how many of them share one big directory. */
  scaleFiles: number;
  scaleBigDir: number;
  /** Timed `stat` calls and `readdir` calls of the big directory at that size. */
  scaleStatIterations: number;
  scaleReaddirIterations: number;
}

export const FULL: Sizes = {
  statIterations: 20_000,
  mastraStatIterations: 300,
  readdirEntries: 1_000,
  readdirIterations: 2_000,
  mastraReaddirIterations: 30,
  smallFiles: 10_000,
  smallFileBytes: 1024,
  mastraConcurrency: 16,
  grepFiles: 2_000,
  seqBytes: 256 * MiB,
  seqRepeats: 3,
  randomFileBytes: 1024 * MiB,
  randomReads: 100,
  refreshIdle: 20,
  refreshCommits: 10,
  rssBytes: 1024 * MiB,
  txRssBytes: 1024 * MiB,
  txRssFiles: 64,
  openTxMs: 2000,
  sideWrites: 20,
  execs: 8,
  execFiles: 100,
  stallEntries: 100_000,
  historyFiles: 100_000,
  historyCommits: 1_000,
  smallReadIterations: 20_000,
  scaleFiles: 1_000_000,
  scaleBigDir: 100_000,
  scaleStatIterations: 20_000,
  scaleReaddirIterations: 20,
};

export const QUICK: Sizes = {
  statIterations: 500,
  mastraStatIterations: 5,
  readdirEntries: 100,
  readdirIterations: 50,
  mastraReaddirIterations: 3,
  smallFiles: 200,
  smallFileBytes: 1024,
  mastraConcurrency: 16,
  grepFiles: 100,
  seqBytes: 16 * MiB,
  seqRepeats: 1,
  randomFileBytes: 32 * MiB,
  randomReads: 10,
  refreshIdle: 3,
  refreshCommits: 2,
  rssBytes: 64 * MiB,
  txRssBytes: 64 * MiB,
  txRssFiles: 8,
  openTxMs: 500,
  sideWrites: 5,
  execs: 8,
  execFiles: 100,
  stallEntries: 5_000,
  historyFiles: 2_000,
  historyCommits: 40,
  smallReadIterations: 1_000,
  scaleFiles: 20_000,
  scaleBigDir: 5_000,
  scaleStatIterations: 2_000,
  scaleReaddirIterations: 5,
};

export class BenchContext {
  readonly quick: boolean;
  readonly sizes: Sizes;
  readonly server: RunningServer;
  readonly proxy: Proxy;
  readonly runId: string;
  /** The harness venv's bin directory (weed, juicefs). */
  readonly venvBin: string;
  /** Local scratch space, removed at the end of the run. */
  readonly tmp: string;
  readonly #managers: S3CachedFsManagerImpl[] = [];
  #n = 0;

  constructor(quick: boolean, server: RunningServer, proxy: Proxy, venvBin: string) {
    this.quick = quick;
    this.venvBin = venvBin;
    this.sizes = quick ? QUICK : FULL;
    this.server = server;
    this.proxy = proxy;
    this.runId = `bench-${Date.now().toString(36)}`;
    mkdirSync(join(os.tmpdir(), "s3fs-bench"), { recursive: true });
    this.tmp = mkdtempSync(join(os.tmpdir(), "s3fs-bench", "run-"));
  }

  endpoint(label: Label): string {
    return `http://127.0.0.1:${this.proxy.ports[label]}`;
  }

  /** A fresh key prefix for one client in one measure. */
  prefix(measure: string, who: string): string {
    return `${this.runId}/${measure}/${who}-${++this.#n}/`;
  }

  /** A fresh local directory. */
  dir(label: string): string {
    const d = join(this.tmp, `${label}-${++this.#n}`);
    mkdirSync(d, { recursive: true });
    return d;
  }

  get credentials(): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: this.server.accessKeyId, secretAccessKey: this.server.secretAccessKey };
  }

  /** Mounts our workspace at `prefix` through the proxy's "ours" port, with its own fresh cacheRoot unless given. */
  async mountOurs(o: { prefix: string; mode: "readwrite" | "readonly"; cacheBytes?: number; cacheRoot?: string; name?: string; at?: number | string }): Promise<CachedFs> {
    const manager = new S3CachedFsManagerImpl({ cacheRoot: o.cacheRoot ?? this.dir("cache") });
    this.#managers.push(manager);
    return manager.mount({
      name: o.name ?? (o.mode === "readwrite" ? "writer" : "reader"),
      mode: o.mode,
      bucket: this.server.bucket,
      prefix: o.prefix,
      region: this.server.region,
      endpoint: this.endpoint("ours"),
      credentials: this.credentials,
      cacheBytes: o.cacheBytes ?? 2048 * MiB,
      at: o.at,
    });
  }

  /** Where our workspace at `prefix` lives, for calls that take a location (`manager.fork`). */
  oursAt(prefix: string): { bucket: string; prefix: string; region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } } {
    return { bucket: this.server.bucket, prefix, region: this.server.region, endpoint: this.endpoint("ours"), credentials: this.credentials };
  }

  /** @mastra/s3's filesystem over `prefix`, through the proxy's "mastra" port. */
  mastra(prefix: string): S3Filesystem {
    return new S3Filesystem({
      bucket: this.server.bucket,
      region: this.server.region,
      endpoint: this.endpoint("mastra"),
      accessKeyId: this.server.accessKeyId,
      secretAccessKey: this.server.secretAccessKey,
      prefix,
    });
  }

  /** Bun's own S3 client (the raw baseline), through the proxy's "raw" port. */
  raw(): Bun.S3Client {
    return new Bun.S3Client({ endpoint: this.endpoint("raw"), bucket: this.server.bucket, region: this.server.region, ...this.credentials });
  }

  /** Request counts of one client over a window: `const w = await ctx.window("mastra"); ...; await w.end()`. */
  async window(label: Label): Promise<{ end(): Promise<KindCounts> }> {
    const before = (await this.proxy.counts())[label];
    return {
      end: async () => diffCounts((await this.proxy.counts())[label], before),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#managers.map((m) => m.close()));
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// request count formatting

type Kinds = { get: number; head: number; put: number; list: number; delete: number };

/** "0", "1 GET", "2,025 (2,002 GET · 22 LIST · 1 HEAD)"; `per` divides (requests per operation). */
export function fmtRequests(c: Kinds & { rangedGet?: number; post?: number; deleteMany?: number; other?: number }, per = 1): string {
  const parts: [string, number][] = [
    ["GET", c.get + (c.rangedGet ?? 0)],
    ["HEAD", c.head],
    ["PUT", c.put],
    ["LIST", c.list],
    ["DELETE", c.delete + (c.deleteMany ?? 0)],
    ["POST", c.post ?? 0],
    ["other", c.other ?? 0],
  ];
  const nonzero = parts.filter(([, n]) => n > 0);
  const total = nonzero.reduce((a, [, n]) => a + n, 0);
  const f = (n: number) => (per === 1 ? n.toLocaleString("en-US") : (n / per).toFixed(n / per >= 10 ? 0 : 2).replace(/\.00$/, ""));
  const suffix = per === 1 ? "" : "/op";
  if (total === 0) return `0${suffix}`;
  if (nonzero.length === 1) return `${f(total)} ${nonzero[0]?.[0]}${suffix}`;
  return `${f(total)}${suffix} (${nonzero.map(([k, n]) => `${f(n)} ${k}`).join(" · ")})`;
}

export const totalRequests = (c: Kinds & { rangedGet?: number; post?: number; deleteMany?: number; other?: number }): number =>
  c.get + (c.rangedGet ?? 0) + c.head + c.put + c.list + c.delete + (c.deleteMany ?? 0) + (c.post ?? 0) + (c.other ?? 0);
