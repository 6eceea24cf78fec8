// Child process of the RSS measure (bench/measures/rss.ts). With `phase: "write"` it writes a file with
// openWrite; with `phase: "read"` it streams that file from a fresh reader. Either way it reports the
// phase's peak RSS above the RSS it started from. One process per phase, so neither the benchmark's other
// work nor the other phase's freed-but-kept heap shows in the numbers. Config in BENCH_RSS_CONFIG (JSON).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { S3CachedFsManagerImpl } from "../js/core.ts";
import { MiB, now, randomBytes, stamp } from "./lib/util.ts";

export interface RssConfig {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  prefix: string;
  size: number;
  dir: string;
  cacheBytes: number;
  phase: "write" | "read";
}

export interface RssPhase {
  ns: number;
  baselineRss: number;
  peakRss: number;
  /** Peak minus baseline. */
  growth: number;
  /** The highest RSS a 10 ms sampler saw (a cross-check of the kernel's peak). */
  sampledPeak: number;
  peakSource: "VmHWM" | "sampler";
}

const PIECE = 8 * MiB;

function status(field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  return m === null ? Number.NaN : Number(m[1]) * 1024;
}

/** Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; false where that is not allowed. */
function resetPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

async function phase(run: () => Promise<void>): Promise<RssPhase> {
  Bun.gc(true);
  const baselineRss = status("VmRSS");
  const kernelPeak = resetPeak();
  let sampledPeak = baselineRss;
  const timer = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  }, 10);
  const t0 = now();
  await run();
  const ns = now() - t0;
  clearInterval(timer);
  sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  const peakRss = kernelPeak ? status("VmHWM") : sampledPeak;
  return { ns, baselineRss, peakRss, growth: peakRss - baselineRss, sampledPeak, peakSource: kernelPeak ? "VmHWM" : "sampler" };
}

const cfg = JSON.parse(process.env.BENCH_RSS_CONFIG ?? "") as RssConfig;
const mountOpts = (name: string, mode: "readwrite" | "readonly") => ({
  name,
  mode,
  bucket: cfg.bucket,
  prefix: cfg.prefix,
  region: cfg.region,
  endpoint: cfg.endpoint,
  credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
  cacheBytes: cfg.cacheBytes,
});

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
