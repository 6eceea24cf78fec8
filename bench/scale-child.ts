// Child process of the scale measure (bench/measures/scale.ts): the writer, in a process of its own so its
// peak RSS is its own. It writes `files` files of `fileBytes` bytes in one transaction (`bigDir` of them
// in /big, the rest in directories of `perDir`), reports that phase as one JSON line on stdout, and waits
// for a line on stdin (the parent opens a cold reader meanwhile). Then it makes `tailCommits` one-file
// commits, the last of which writes a metadata snapshot (the mount's snapshotEvery is `tailCommits + 1`),
// reports them as a second line, closes and exits. Config in BENCH_SCALE_CONFIG (JSON).
import { S3CachedFsManagerImpl, type RequestCounts } from "../js/core.ts";
import { childMountOptions, measurePeakRss, type ChildMountConfig, type RssPhase } from "./lib/peak-rss.ts";
import { now, timeOnce } from "./lib/util.ts";

export interface ScaleConfig extends ChildMountConfig {
  files: number;
  fileBytes: number;
  bigDir: number;
  perDir: number;
  tailCommits: number;
}

export interface ScaleWriterResult {
  tx: RssPhase;
  /** Time spent in the `tx.writeFile` calls; the rest of `tx.ns` is the commit. */
  loopNs: number;
  /** RSS and JS heap in use right after the last `tx.writeFile` call, before the commit. */
  loopRss: number;
  loopHeap: number;
  dirs: number;
  seq: number;
  requests: RequestCounts;
}

export interface ScaleTailResult {
  /** All the tail commits, and the last one (which writes the snapshot) alone. */
  ns: number;
  lastNs: number;
  seq: number;
}

/** Where file `i` lives: the first `bigDir` in /big, the rest `perDir` to a directory. */
export function scalePath(i: number, bigDir: number, perDir: number): string {
  return i < bigDir ? `/big/f${i}` : `/d${Math.floor((i - bigDir) / perDir)}/f${i}`;
}

/** File `i`'s bytes: `size` of them, different for every file. */
export function scaleBody(i: number, size: number, filler: string): string {
  const head = `file ${i} `;
  return head + filler.slice(0, size - head.length);
}

if (import.meta.main) {
  const cfg = JSON.parse(process.env.BENCH_SCALE_CONFIG ?? "") as ScaleConfig;
  const filler = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(Math.ceil(cfg.fileBytes / 50));
  const manager = new S3CachedFsManagerImpl({ cacheRoot: cfg.dir });
  const fs = await manager.mount({ ...childMountOptions(cfg, "writer", "readwrite"), snapshotEvery: cfg.tailCommits + 1 });
  const dirs = Math.ceil(Math.max(0, cfg.files - cfg.bigDir) / cfg.perDir) + (cfg.bigDir > 0 ? 1 : 0);
  fs.resetStats();
  let loopStart = 0;
  let loopEnd = 0;
  let loopMem = { rss: 0, heapUsed: 0 };
  // Paths and bodies are made in the loop, as an application would; the phase includes the commit.
  const tx = await measurePeakRss(() =>
    fs.transaction(async (t) => {
      loopStart = now();
      if (cfg.bigDir > 0) await t.mkdir("/big");
      for (let d = 0; d * cfg.perDir < cfg.files - cfg.bigDir; d++) await t.mkdir(`/d${d}`);
      for (let i = 0; i < cfg.files; i++) await t.writeFile(scalePath(i, cfg.bigDir, cfg.perDir), scaleBody(i, cfg.fileBytes, filler));
      loopEnd = now();
      loopMem = process.memoryUsage();
    }),
  );
  const loopNs = loopEnd - loopStart;
  const last = cfg.files - 1;
  if (fs.statSync(scalePath(last, cfg.bigDir, cfg.perDir)).size !== cfg.fileBytes) throw new Error("the transaction did not write every file");
  const first: ScaleWriterResult = { tx, loopNs, loopRss: loopMem.rss, loopHeap: loopMem.heapUsed, dirs, seq: fs.seq, requests: fs.stats().requests };
  process.stdout.write(`${JSON.stringify(first)}\n`);

  // wait for the parent's go-ahead (or for it to go away)
  const stdin = Bun.stdin.stream().getReader();
  for (let text = ""; !text.includes("\n"); ) {
    const { value, done } = await stdin.read();
    if (done) process.exit(1);
    text += new TextDecoder().decode(value);
  }

  let lastNs = 0;
  const tail = await timeOnce(async () => {
    for (let k = 0; k < cfg.tailCommits; k++) {
      const t0 = now();
      await fs.writeFile(`/tail/t${k}`, `tail ${k}\n`, { recursive: true });
      lastNs = now() - t0;
    }
  });
  const second: ScaleTailResult = { ns: tail.ns, lastNs, seq: fs.seq };
  await manager.close();
  process.stdout.write(`${JSON.stringify(second)}\n`);
  process.exit(0);
}
