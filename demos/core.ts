// demo:core — a writer, a reader, one transaction, fencing and a rebuild, on the embedded LocalObjectStore.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl } from "../js/core.ts";
import { check, type DemoOptions } from "./util.ts";

export async function runCoreDemo({ log = console.log }: DemoOptions = {}): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "s3fs-demo-core-"));
  try {
    const store = new LocalObjectStore(join(root, "bucket"));
    const manager = new S3CachedFsManagerImpl({ cacheRoot: join(root, "cache") });
    const writer = await manager.mount({ name: "writer", mode: "readwrite", store, cacheBytes: 64 << 20 });
    log(`mounted a readwrite workspace on LocalObjectStore(${store.rootDir}) at epoch ${writer.epoch}`);

    await writer.writeFile("/README.md", "# agent workspace\n");
    await writer.transaction(async (tx) => {
      await tx.mkdir("/notes", { recursive: true });
      for (let i = 1; i <= 100; i++) await tx.writeFile(`/notes/note-${i}.md`, `note ${i}\n`);
    });
    const s = writer.stats();
    log(`wrote 101 files in 2 commits (seq ${writer.seq}): ${s.requests.put} PUTs in all, probe included`);
    check(writer.seq === 2, "two commits");

    const reader = await manager.mount({ name: "reader", mode: "readonly", store, cacheBytes: 64 << 20 });
    reader.resetStats();
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) reader.statSync(`/notes/note-${(i % 100) + 1}.md`);
    const us = ((performance.now() - t0) * 1000) / 10_000;
    log(`reader: 10,000 stat calls, ${us.toFixed(2)} µs each, ${reader.stats().requests.total} requests`);
    check(reader.stats().requests.total === 0, "stat never touches the network");
    check((await reader.readText("/notes/note-42.md")) === "note 42\n", "reader reads committed data");

    await writer.rename("/notes", "/archive");
    check(reader.existsSync("/notes"), "the reader keeps its view until it refreshes");
    reader.resetStats();
    const r = await reader.refresh();
    log(`reader refresh after one commit: ${r.outcome} to seq ${r.seq} with ${reader.stats().requests.get} GETs, ${reader.stats().requests.list} LISTs`);
    check(reader.existsSync("/archive/note-1.md") && !reader.existsSync("/notes"), "the rename arrived whole");
    reader.resetStats();
    await reader.refresh();
    log(`idle refresh: ${reader.stats().requests.total} request`);
    check(reader.stats().requests.total === 1, "an idle refresh is one request");

    const second = await manager.mount({ name: "second-writer", mode: "readwrite", store, cacheBytes: 64 << 20 });
    const fenced = await writer.writeFile("/late.txt", "too late").then(
      () => "accepted",
      (e: NodeJS.ErrnoException) => e.code ?? "error",
    );
    log(`a second readwrite mount took epoch ${second.epoch}; the first writer's next write: ${fenced}`);
    check(fenced === "EFENCED", "the old writer is fenced");

    await manager.close();
    rmSync(join(root, "cache"), { recursive: true, force: true });
    const again = new S3CachedFsManagerImpl({ cacheRoot: join(root, "cache") });
    const rebuilt = await again.mount({ name: "rebuilt", mode: "readonly", store, cacheBytes: 64 << 20 });
    const files = rebuilt.readdirSync("/archive").length;
    log(`deleted cacheRoot and remounted: ${files} files under /archive, seq ${rebuilt.seq}`);
    check(files === 100 && (await rebuilt.readText("/README.md")) === "# agent workspace\n", "the namespace rebuilds from the bucket");
    await again.close();
    log("demo:core OK");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) await runCoreDemo();
