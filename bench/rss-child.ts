// Child process of the RSS measures (bench/measures/rss.ts). With `phase: "write"` it writes a file with
// openWrite; with `phase: "read"` it streams that file from a fresh reader; with `phase: "transaction"` it
// writes `files` files of `size / files` bytes with `tx.writeFile` in one transaction. Each reports the
// phase's peak RSS above the RSS it started from. One process per phase, so neither the benchmark's other
// work nor the other phase's freed-but-kept heap shows in the numbers. Config in BENCH_RSS_CONFIG (JSON).
import { join } from "node:path";
import { S3CachedFsManagerImpl } from "../js/core.ts";
import { bufferFill, childMountOptions, measurePeakRss as phase, type ChildMountConfig, type RssPhase } from "./lib/peak-rss.ts";
import { MiB, randomBytes, stamp } from "./lib/util.ts";

export type { RssPhase };

export interface RssConfig extends ChildMountConfig {
  size: number;
  phase: "write" | "read" | "transaction";
  /** For "transaction": how many files `size` is split into. */
  files?: number;
  /** For "transaction": a full GC after each file, so the buffers handed over (garbage by then) do not count. */
  gcEach?: boolean;
}

const PIECE = 8 * MiB;

const cfg = JSON.parse(process.env.BENCH_RSS_CONFIG ?? "") as RssConfig;
const mountOpts = (name: string, mode: "readwrite" | "readonly") => childMountOptions(cfg, name, mode);

if (cfg.phase === "write") {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(cfg.dir, "writer") });
  const fs = await manager.mount(mountOpts("writer", "readwrite"));
  const piece = randomBytes(PIECE, 5);
  // The whole write, and within it apart: filling the local file through the BunFile writer, then close()
  // (upload and commit).
  let fill: RssPhase | undefined;
  let upload: RssPhase | undefined;
  const write = await phase(async () => {
    const handle = await fs.openWrite("/big.bin");
    fill = await phase(async () => {
      const sink = handle.file.writer();
      for (let off = 0, i = 0; off < cfg.size; off += PIECE, i++) {
        sink.write(stamp(piece, 77, i).subarray(0, Math.min(PIECE, cfg.size - off)));
        await sink.flush();
      }
      await sink.end();
    });
    upload = await phase(() => handle.close());
  });
  if (fill === undefined || upload === undefined) throw new Error("unreachable");
  // The sub-phases reset the kernel's peak mark, so the whole write's peak is the largest seen by any.
  write.peakRss = Math.max(fill.peakRss, upload.peakRss, write.sampledPeak);
  write.growth = write.peakRss - write.baselineRss;
  if (fs.statSync("/big.bin").size !== cfg.size) throw new Error("the written file has the wrong size");
  const requests = fs.stats().requests;
  await manager.close();
  process.stdout.write(`${JSON.stringify({ result: write, fill, upload, requests })}\n`);
} else if (cfg.phase === "transaction") {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(cfg.dir, "tx-writer") });
  const fs = await manager.mount(mountOpts("tx-writer", "readwrite"));
  const files = cfg.files ?? 64;
  const fileBytes = Math.floor(cfg.size / files);
  bufferFill(fileBytes, 78, 0); // the random base, made before the measurement
  // Each file is a new buffer (as an application would hand over); the phase includes the commit.
  const tx = await phase(() =>
    fs.transaction(async (t) => {
      for (let i = 0; i < files; i++) {
        await t.writeFile(`/tx/f${i}.bin`, bufferFill(fileBytes, 78, i), { recursive: true });
        if (cfg.gcEach === true) Bun.gc(true);
      }
    }),
  );
  for (let i = 0; i < files; i++) if (fs.statSync(`/tx/f${i}.bin`).size !== fileBytes) throw new Error(`/tx/f${i}.bin has the wrong size`);
  const requests = fs.stats().requests;
  await manager.close();
  process.stdout.write(`${JSON.stringify({ result: tx, requests })}\n`);
} else {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(cfg.dir, "reader") });
  const reader = await manager.mount(mountOpts("reader", "readonly"));
  let seen = 0;
  const read = await phase(async () => {
    for await (const chunk of reader.stream("/big.bin")) seen += chunk.byteLength;
  });
  if (seen !== cfg.size) throw new Error(`streamed ${seen} bytes, expected ${cfg.size}`);
  const requests = reader.stats().requests;
  await manager.close();
  process.stdout.write(`${JSON.stringify({ result: read, requests })}\n`);
}
process.exit(0);
