// Peak RSS of one phase of work, for the child processes that measure memory (bench/rss-child.ts, the
// transactions test's fixtures/tx-memory.ts): the kernel's peak mark (VmHWM), reset at the start of the
// phase through /proc/self/clear_refs, minus the RSS right before it; a 10 ms sampler where the mark
// cannot be reset.
import { readFileSync, writeFileSync } from "node:fs";
import { now, randomBytes, stamp } from "./util.ts";

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

/** Runs `run` and reports its peak RSS above the RSS it started from (after a full GC). */
export async function measurePeakRss(run: () => Promise<unknown>): Promise<RssPhase> {
  Bun.gc(true);
  const baselineRss = status("VmRSS");
  const kernelPeak = resetPeak();
  let sampledPeak = baselineRss;
  const timer = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  }, 10);
  const t0 = now();
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  const ns = now() - t0;
  sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  const peakRss = kernelPeak ? status("VmHWM") : sampledPeak;
  return { ns, baselineRss, peakRss, growth: peakRss - baselineRss, sampledPeak, peakSource: kernelPeak ? "VmHWM" : "sampler" };
}

const bases = new Map<string, Uint8Array>();

/**
 * A new `size`-byte buffer for file `index`: one random buffer per (size, seed), stamped with the index
 * every 64 KiB so no two files share a chunk. Each call allocates (the engine may keep what it is given
 * until it resolves); the random base is made on the first call, so make one before measuring.
 */
export function bufferFill(size: number, seed: number, index: number): Buffer {
  const id = `${size}/${seed}`;
  let base = bases.get(id);
  if (base === undefined) {
    base = randomBytes(size, seed);
    bases.set(id, base);
  }
  const out = Buffer.allocUnsafe(size);
  out.set(base);
  return stamp(out, seed, index) as Buffer;
}

/** Where a measuring child process mounts: the server, a key prefix and the mount's cacheRoot. */
export interface ChildMountConfig {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  prefix: string;
  /** The mount's cacheRoot. */
  dir: string;
  cacheBytes: number;
}

/** Mount options for a child's mount named `name` over `cfg`. */
export function childMountOptions(cfg: ChildMountConfig, name: string, mode: "readwrite" | "readonly") {
  return {
    name,
    mode,
    bucket: cfg.bucket,
    prefix: cfg.prefix,
    region: cfg.region,
    endpoint: cfg.endpoint,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    cacheBytes: cfg.cacheBytes,
  };
}
