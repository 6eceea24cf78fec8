// Packs, chunks, ranges, streams, the bounded cache, openWrite and materialize (issue 4), against
// LocalObjectStore and SeaweedFS.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { codeOf, removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const MiB = 1 << 20;
const CHUNK = 8 * MiB;
const root = tempDir("data");
afterAll(() => removeDir(root));

let n = 0;
function fixture(store: ObjectStore, cacheBytes = 256 * MiB) {
  const cacheRoot = join(root, `cache-${++n}`);
  const manager = new S3CachedFsManagerImpl({ cacheRoot });
  const mount = (name: string, mode: "readwrite" | "readonly", bytes = cacheBytes) => manager.mount({ name, mode, cacheBytes: bytes, store });
  return { cacheRoot, manager, mount };
}

/** Deterministic bytes that differ per position (so misplaced ranges show). */
function pattern(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

const blocksDir = (cacheRoot: string, name: string) => join(cacheRoot, name, "blocks");
/** Bytes in `dir` now; the cache's background writer may rename or remove a file between list and stat. */
function diskUsage(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
}

async function hashStream(stream: ReadableStream<Uint8Array>): Promise<{ hash: string; size: number }> {
  const h = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const c of stream) {
    h.update(c);
    size += c.length;
  }
  return { hash: h.digest("hex"), size };
}

for (const target of storeTargets(root, ["seaweedfs"])) {
  describe(`data on ${target.name}`, () => {
    test("range reads: at 0, at a chunk boundary, across chunks, past EOF, zero length; same on a reader", async () => {
      const { mount } = fixture(await target.open("ranges"));
      const w = await mount("w", "readwrite");
      const data = pattern(2 * CHUNK + 12345);
      await w.writeFile("/big.bin", data);
      await w.writeFile("/small.txt", "0123456789");
      const r = await mount("r", "readonly");
      for (const fs of [w, r]) {
        const read = async (offset: number, length: number) => [...(await fs.read("/big.bin", { offset, length }))];
        expect(await read(0, 100)).toEqual([...data.subarray(0, 100)]);
        expect(await read(CHUNK, 4096)).toEqual([...data.subarray(CHUNK, CHUNK + 4096)]);
        expect(await read(CHUNK - 10, 20)).toEqual([...data.subarray(CHUNK - 10, CHUNK + 10)]);
        expect(await read(CHUNK - 5, CHUNK + 10)).toEqual([...data.subarray(CHUNK - 5, 2 * CHUNK + 5)]);
        expect(await read(data.length - 5, 100)).toEqual([...data.subarray(data.length - 5)]);
        expect(await read(data.length + 10, 100)).toEqual([]);
        expect(await read(1000, 0)).toEqual([]);
        expect([...(await fs.read("/small.txt", { offset: 3, length: 4 }))]).toEqual([...Buffer.from("3456")]);
        const whole = await fs.readFile("/big.bin");
        expect(Bun.hash(whole)).toBe(Bun.hash(data));
        const streamed = await hashStream(fs.stream("/big.bin", { start: CHUNK - 3, end: CHUNK + 7 }));
        expect(streamed.size).toBe(10);
      }
      expect(await codeOf(() => r.read("/big.bin", { offset: -1 }))).toBe("EINVAL");
    }, 60_000);

    test("a cold 4 KiB read fetches one aligned block, not the chunk", async () => {
      const { mount } = fixture(await target.open("cold-range"));
      const w = await mount("w", "readwrite");
      await w.writeFile("/big.bin", pattern(3 * CHUNK));
      const r = await mount("r", "readonly");
      r.resetStats();
      const got = await r.read("/big.bin", { offset: CHUNK + 123_456, length: 4096 });
      expect(got.length).toBe(4096);
      const s = r.stats().requests;
      expect(s.get).toBe(1);
      expect(s.bytesDown).toBeLessThanOrEqual(2 * 512 * 1024);
    });

    test("10,000 small files in one transaction cost a handful of pack PUTs plus one record and one head", async () => {
      const { mount } = fixture(await target.open("packs"));
      const w = await mount("w", "readwrite");
      w.resetStats();
      const body = "x".repeat(1000);
      await w.transaction(async (tx) => {
        await tx.mkdir("/many");
        for (let i = 0; i < 10_000; i++) await tx.writeFile(`/many/f${i}.txt`, `${i}:${body}`);
      });
      const s = w.stats();
      expect(s.commits).toBe(1);
      expect(s.requests.put).toBeLessThanOrEqual(5 + 2);
      expect(s.requests.put).toBeGreaterThanOrEqual(3);
      // A fresh reader reads them all with about one GET per pack.
      const r = await mount("r", "readonly");
      r.resetStats();
      for (let i = 0; i < 10_000; i += 97) expect((await r.readText(`/many/f${i}.txt`)).startsWith(`${i}:`)).toBe(true);
      expect(r.stats().requests.get).toBeLessThanOrEqual(5);
    }, 120_000);

    test("writing content that already exists uploads no chunk again", async () => {
      const { mount } = fixture(await target.open("dedup"));
      const w = await mount("w", "readwrite");
      const data = pattern(3 * CHUNK, 7);
      await w.writeFile("/one.bin", data);
      w.resetStats();
      await w.writeFile("/two.bin", data);
      const s = w.stats().requests;
      expect(s.put).toBe(2); // the WAL record and the head
      expect(s.bytesUp).toBeLessThan(64 * 1024);
      expect(Bun.hash(await w.readFile("/two.bin"))).toBe(Bun.hash(data));
    });

    test("a 256 MiB file written with openWrite streams back with an equal hash", async () => {
      const { mount } = fixture(await target.open("stream256"), 64 * MiB);
      const w = await mount("w", "readwrite");
      const handle = await w.openWrite("/data/big.bin", { recursive: true });
      const writer = handle.file.writer();
      const expected = new Bun.CryptoHasher("sha256");
      for (let i = 0; i < 32; i++) {
        const part = pattern(8 * MiB, i + 1);
        expected.update(part);
        writer.write(part);
        await writer.flush();
      }
      await writer.end();
      await handle.close();
      expect(existsSync(handle.path)).toBe(false);
      expect(w.statSync("/data/big.bin").size).toBe(256 * MiB);
      const r = await mount("r", "readonly", 64 * MiB);
      const back = await hashStream(r.stream("/data/big.bin"));
      expect(back).toEqual({ hash: expected.digest("hex"), size: 256 * MiB });
    }, 300_000);

    test("writeFile streams a ReadableStream and a BunFile", async () => {
      const { mount } = fixture(await target.open("streams"));
      const w = await mount("w", "readwrite");
      const data = pattern(CHUNK + 999, 3);
      await w.writeFile("/from-stream.bin", new Blob([data]).stream());
      const local = join(root, `local-${n}.bin`);
      writeFileSync(local, data);
      await w.writeFile("/from-bunfile.bin", Bun.file(local));
      await w.writeFile("/small-stream.txt", new Blob(["tiny"]).stream());
      for (const p of ["/from-stream.bin", "/from-bunfile.bin"]) expect(Bun.hash(await w.readFile(p))).toBe(Bun.hash(data));
      expect(await w.readText("/small-stream.txt")).toBe("tiny");
    });

    test("openWrite then abort leaves nothing", async () => {
      const { mount } = fixture(await target.open("abort"));
      const w = await mount("w", "readwrite");
      const seq = w.seq;
      const h = await w.openWrite("/never.txt");
      await Bun.write(h.file, "discarded");
      await h.abort();
      expect(existsSync(h.path)).toBe(false);
      expect(await w.exists("/never.txt")).toBe(false);
      expect(w.seq).toBe(seq);
      const r = await mount("r", "readonly");
      expect(await codeOf(() => r.openWrite("/x"))).toBe("EROFS");
    });

    test("openWrite into a new directory creates its parents, like Bun.write; recursive: false refuses", async () => {
      const { mount } = fixture(await target.open("openwrite-parents"));
      const w = await mount("w", "readwrite");
      const h = await w.openWrite("/results/deep/out.txt");
      await Bun.write(h.file, "done\n");
      await h.close();
      expect(await w.readText("/results/deep/out.txt")).toBe("done\n");
      expect(w.statSync("/results/deep").isDirectory()).toBe(true);
      const strict = await w.openWrite("/missing/out.txt", { recursive: false });
      await Bun.write(strict.file, "x");
      expect(await codeOf(() => strict.close())).toBe("ENOENT");
      await strict.abort();
      expect(existsSync(strict.path)).toBe(false);
    });

    test("the cache stays within cacheBytes while reading more than twice that; corrupt blocks are refetched", async () => {
      const cacheBytes = 8 * MiB;
      const { mount, cacheRoot } = fixture(await target.open("bounded"), cacheBytes);
      const w = await mount("w", "readwrite", 64 * MiB);
      const data = pattern(24 * MiB, 5);
      await w.writeFile("/big.bin", data);
      const r = await mount("r", "readonly", cacheBytes);
      let max = 0;
      for (let off = 0; off < data.length; off += 2 * MiB) {
        await r.read("/big.bin", { offset: off, length: 2 * MiB });
        max = Math.max(max, diskUsage(blocksDir(cacheRoot, "r")));
      }
      expect(max).toBeLessThanOrEqual(cacheBytes);
      expect(r.stats().cache.evictions).toBeGreaterThan(0);

      // Flip a byte in every cached block, and truncate one: the next reads (of a remount, since blocks
      // may still be on their way to disk until close) detect it and refetch.
      await r.close();
      const r2 = await mount("r", "readonly", cacheBytes);
      const dir = blocksDir(cacheRoot, "r");
      const files = readdirSync(dir);
      for (const f of files) {
        const p = join(dir, f);
        const bytes = new Uint8Array(await Bun.file(p).arrayBuffer());
        bytes[0] = bytes[0]! ^ 0xff;
        writeFileSync(p, f === files[0] ? bytes.subarray(0, 10) : bytes);
      }
      const tail = await r2.read("/big.bin", { offset: 16 * MiB, length: 8 * MiB });
      expect(Bun.hash(tail)).toBe(Bun.hash(data.subarray(16 * MiB)));
      expect(r2.stats().cache.corrupt).toBeGreaterThan(0);
    }, 60_000);

    test("materialize gives a pinned read-only local copy; after release it can be evicted", async () => {
      const cacheBytes = 4 * MiB;
      const { mount, cacheRoot } = fixture(await target.open("materialize"), cacheBytes);
      const w = await mount("w", "readwrite", 64 * MiB);
      const data = pattern(3 * MiB, 9);
      await w.writeFile("/m.bin", data);
      await w.writeFile("/other.bin", pattern(6 * MiB, 10));
      const r = await mount("r", "readonly", cacheBytes);
      const m = await r.materialize("/m.bin");
      expect(m.path.startsWith(cacheRoot)).toBe(true);
      expect(Bun.hash(await m.file.arrayBuffer())).toBe(Bun.hash(data));
      expect(statSync(m.path).mode & 0o777).toBe(0o400);
      // Reading more than the cache holds does not evict the pinned copy.
      await r.readFile("/other.bin");
      expect(existsSync(m.path)).toBe(true);
      m.release();
      await r.readFile("/other.bin");
      await r.read("/other.bin", { offset: 0, length: 3 * MiB });
      expect(existsSync(m.path)).toBe(false);
      expect(diskUsage(blocksDir(cacheRoot, "r"))).toBeLessThanOrEqual(cacheBytes);
    });
  });
}

describe("memory", () => {
  test("writing and reading 1 GiB through openWrite and stream keeps RSS growth bounded", async () => {
    const { LocalObjectStore } = await import("../js/core.ts");
    const { mount } = fixture(new LocalObjectStore(join(root, "mem-store")), 64 * MiB);
    const fs: CachedFs = await mount("w", "readwrite");
    Bun.gc(true);
    const base = process.memoryUsage.rss();
    let peak = base;
    const sample = () => (peak = Math.max(peak, process.memoryUsage.rss()));
    const h = await fs.openWrite("/huge.bin");
    const writer = h.file.writer();
    const part = pattern(16 * MiB, 2);
    for (let i = 0; i < 64; i++) {
      writer.write(part);
      await writer.flush();
      sample();
    }
    await writer.end();
    const timer = setInterval(sample, 20);
    await h.close();
    let size = 0;
    for await (const c of fs.stream("/huge.bin")) {
      size += c.length;
      sample();
    }
    clearInterval(timer);
    expect(size).toBe(1 << 30);
    const growth = (peak - base) / MiB;
    console.log(`1 GiB openWrite + stream: peak RSS growth ${growth.toFixed(0)} MiB`);
    expect(growth).toBeLessThan(256);
  }, 300_000);
});

describe("transactions and local files", () => {
  test("a BunFile written inside a transaction is streamed in and committed with the rest", async () => {
    const { LocalObjectStore } = await import("../js/core.ts");
    const { mount } = fixture(new LocalObjectStore(join(root, "tx-bunfile")));
    const fs = await mount("w", "readwrite");
    const data = pattern(2 * CHUNK + 5, 4);
    const local = join(root, "tx-local.bin");
    writeFileSync(local, data);
    const before = fs.stats().commits;
    await fs.transaction(async (tx) => {
      await tx.writeFile("/big.bin", Bun.file(local));
      await tx.writeFile("/small.txt", "s");
      expect(Bun.hash(await tx.readFile("/big.bin"))).toBe(Bun.hash(data));
    });
    expect(fs.stats().commits - before).toBe(1);
    expect(Bun.hash(await fs.readFile("/big.bin"))).toBe(Bun.hash(data));
  });
});
