// Timing, statistics, formatting and data helpers shared by the measures.

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Nanoseconds on a monotonic clock. */
export const now = (): number => Bun.nanoseconds();

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i] as number;
}

export interface Summary {
  n: number;
  median: number;
  p10: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9), p99: quantile(s, 0.99), mean: sum / Math.max(1, s.length), min: s[0] ?? Number.NaN };
}

/**
 * Per-call latencies (ns) of `n` sequentially awaited calls, after `warmup` untimed ones. Each call is
 * timed on its own, so the median is the median call.
 */
export async function timeEach(n: number, warmup: number, call: (i: number) => Promise<unknown> | unknown): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await call(i);
  const samples = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await call(i);
    samples[i] = now() - t0;
  }
  return summarize(samples);
}

/** Wall time (ns) of one run of `f`, and its result. */
export async function timeOnce<T>(f: () => Promise<T> | T): Promise<{ ns: number; value: T }> {
  const t0 = now();
  const value = await f();
  return { ns: now() - t0, value };
}

/** Runs `tasks` with at most `limit` in flight; results in order. */
export async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// formatting

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "—";
  if (ns < 1_000) return `${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(ns < 10_000_000 ? 2 : 1)} ms`;
  return `${(ns / 1_000_000_000).toFixed(2)} s`;
}

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return "—";
  if (b < KiB) return `${b.toFixed(0)} B`;
  if (b < MiB) return `${(b / KiB).toFixed(1)} KiB`;
  if (b < GiB) return `${(b / MiB).toFixed(1)} MiB`;
  return `${(b / GiB).toFixed(2)} GiB`;
}

/** MiB/s for `bytes` moved in `ns`. */
export const mibps = (bytes: number, ns: number): number => bytes / MiB / (ns / 1e9);

export const fmtRate = (mibPerS: number): string => (Number.isFinite(mibPerS) ? `${mibPerS.toFixed(0)} MiB/s` : "—");

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—";
}

/** "72×", "1.4×", "0.61×". */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "—";
  if (r >= 100) return `${fmtInt(r)}×`;
  if (r >= 10) return `${r.toFixed(0)}×`;
  return `${r.toFixed(2)}×`;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

// ---------------------------------------------------------------------------------------------------------
// data

/** xorshift32 PRNG, seeded; deterministic offsets and contents. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** `size` bytes of pseudo-random data (not compressible, so nobody gets a free ride). */
export function randomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  const next = rng(seed);
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < size; i++) out[i] = next() & 0xff;
  return out;
}

/**
 * Stamps `piece` (in place) with `seed`, `index` and the offset every 64 KiB, so repeated pieces of one
 * random buffer still differ at any chunk size down to 64 KiB and no content-addressed store can
 * deduplicate them.
 */
export function stamp(piece: Uint8Array, seed: number, index: number): Uint8Array {
  const v = new DataView(piece.buffer, piece.byteOffset, piece.byteLength);
  for (let off = 0; off + 16 <= piece.byteLength; off += 64 * KiB) {
    v.setUint32(off, seed);
    v.setUint32(off + 4, index);
    v.setUint32(off + 8, off);
    v.setUint32(off + 12, 0x5eed1e55);
  }
  return piece;
}

/** A big file's bytes as a stream of stamped `pieceSize` pieces of one random buffer. */
export function bigFileStream(size: number, pieceSize: number, seed: number, base: Uint8Array): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const off = index * pieceSize;
      if (off >= size) {
        controller.close();
        return;
      }
      const piece = new Uint8Array(base.subarray(0, Math.min(pieceSize, size - off)));
      controller.enqueue(stamp(piece, seed, index++));
    },
  });
}

/** A big file as one buffer of stamped pieces. */
export function bigFileBytes(size: number, pieceSize: number, seed: number, base: Uint8Array): Uint8Array {
  const out = new Uint8Array(size);
  for (let off = 0, i = 0; off < size; off += pieceSize, i++) {
    const len = Math.min(pieceSize, size - off);
    out.set(base.subarray(0, len), off);
    stamp(out.subarray(off, off + len), seed, i);
  }
  return out;
}

/** Reads a whole stream, returning its byte count. */
export async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.byteLength;
  return n;
}
