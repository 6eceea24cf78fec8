// Issue 7, part 7: garbage collection. After overwrites and deletes, `gc` reclaims exactly the objects no
// retained state uses (sizes summed from store.list before and after), reports what it did truthfully,
// deletes nothing reachable, and waits out its grace period, during which a reader still at an older seq
// keeps reading. Only the current writer collects.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { bucketUsage, fastTempDir, figure, recordError, snapshotTree, treeLines, checkSecretsAfterAll } from "./helpers/reliability.ts";
import { s3TestServers, uniquePrefix } from "./helpers/servers.ts";
import { removeDir, s3Store } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("gc");
afterAll(() => removeDir(root));

const DATA = ["packs/", "chunks/", "wal/", "snapshots/"];
let n = 0;

function mounter(store: ObjectStore) {
  const managers: S3CachedFsManagerImpl[] = [];
  const mount = async (name: string, mode: "readwrite" | "readonly", snapshotEvery = 8): Promise<CachedFs> => {
    const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
    managers.push(m);
    return m.mount({ name, mode, cacheBytes: 64 << 20, store, snapshotEvery });
  };
  const closeAll = () => Promise.all(managers.map((m) => m.close()));
  return { mount, closeAll };
}

const big = (seed: number) => {
  const b = Buffer.alloc((1 << 20) + 4096 * seed);
  for (let i = 0; i < b.length; i += 1024) b[i] = (seed * 7 + i) & 0xff;
  return b;
};

/** Writes `fn` and returns the data keys it added to the bucket. */
async function newKeys(store: ObjectStore, fn: () => Promise<unknown>): Promise<string[]> {
  const before = new Set((await bucketUsage(store, ["packs/", "chunks/"])).keys.keys());
  await fn();
  return [...(await bucketUsage(store, ["packs/", "chunks/"])).keys.keys()].filter((k) => !before.has(k));
}

const targets: { name: string; open: () => Promise<ObjectStore> }[] = [
  { name: "LocalObjectStore", open: async () => new LocalObjectStore(join(root, `bucket-${++n}`)) },
  ...s3TestServers()
    .filter((s) => s.name === "seaweedfs")
    .map((s) => ({ name: s.name, open: () => s3Store(s, uniquePrefix("gc")) })),
];

for (const target of targets) {
  describe(`gc on ${target.name}`, () => {
    test("reclaims exactly the unreachable objects after overwrites and deletes; reports what it freed", async () => {
      const store = await target.open();
      const { mount, closeAll } = mounter(store);
      const w = await mount("w", "readwrite");
      const keyOf = new Map<string, string[]>();
      for (let i = 0; i < 10; i++) keyOf.set(`/s${i}`, await newKeys(store, () => w.writeFile(`/s${i}`, `small ${i} `.repeat(50 + i))));
      for (let i = 0; i < 2; i++) keyOf.set(`/b${i}`, await newKeys(store, () => w.writeFile(`/b${i}`, big(i))));
      const usage0 = await bucketUsage(store, DATA);
      // Overwrite half of the small files and one big one; delete three small ones and the other big one.
      const dead = new Set<string>();
      for (const p of ["/s0", "/s1", "/s2", "/s3", "/s4", "/b0"]) {
        for (const k of keyOf.get(p) ?? []) dead.add(k);
        keyOf.set(p, await newKeys(store, () => w.writeFile(p, p.startsWith("/b") ? big(10) : `overwritten ${p}`)));
      }
      for (const p of ["/s5", "/s6", "/s7", "/b1"]) {
        for (const k of keyOf.get(p) ?? []) dead.add(k);
        await w.rm(p);
        keyOf.delete(p);
      }
      const live = new Set([...keyOf.values()].flat());
      for (const k of live) expect(dead.has(k)).toBe(false);
      const expected = treeLines(await snapshotTree(w));
      const usage1 = await bucketUsage(store, DATA);

      // A dry run and a pass within the grace period delete nothing.
      const dry = await w.gc({ graceMs: 0, dryRun: true });
      expect(dry.dryRun).toBe(true);
      expect((await bucketUsage(store, DATA)).bytes).toBe(usage1.bytes);
      const marked = await w.gc({ graceMs: 60_000 });
      expect(marked.deleted).toBe(0);
      expect(marked.bytesFreed).toBe(0);
      expect(marked.pending).toBeGreaterThanOrEqual(dead.size);
      expect((await bucketUsage(store, DATA)).bytes).toBe(usage1.bytes);

      const report = await w.gc({ graceMs: 0 });
      const usage2 = await bucketUsage(store, DATA);
      const deleted = new Set(report.deletedKeys);
      // What it says it did, it did: the count, the keys, the bytes.
      expect(report.deleted).toBe(report.deletedKeys.length);
      expect(report.dryRun).toBe(false);
      expect(report.scanned).toBe(usage1.objects);
      expect(report.pending).toBe(0);
      expect(report.bytesFreed).toBe(report.deletedKeys.reduce((sum, k) => sum + (usage1.keys.get(k) ?? Number.NaN), 0));
      expect(usage2.bytes).toBe(usage1.bytes - report.bytesFreed);
      expect(usage2.objects).toBe(usage1.objects - report.deleted);
      for (const k of deleted) expect(usage2.keys.has(k)).toBe(false);
      // Every dead data object went; no live one did. The dry run named the same set.
      for (const k of dead) expect(deleted.has(k)).toBe(true);
      for (const k of live) expect(deleted.has(k)).toBe(false);
      expect(new Set(dry.deletedKeys)).toEqual(deleted);
      // Everything still reads, from the writer and from a fresh mount; fsck agrees.
      expect(treeLines(await snapshotTree(w))).toEqual(expected);
      const fresh = await mount("fresh", "readonly");
      expect(treeLines(await snapshotTree(fresh))).toEqual(expected);
      expect((await fresh.fsck()).ok).toBe(true);
      expect((await store.list("heads/")).objects.length).toBe(1);
      // A second pass has nothing left to do.
      expect((await w.gc({ graceMs: 0 })).deleted).toBe(0);
      figure(`gc.reclaim.${target.name}`, {
        dataObjectsDead: dead.size,
        bytesBefore: usage1.bytes,
        bytesAfter: usage2.bytes,
        bytesFreed: report.bytesFreed,
        objectsDeleted: report.deleted,
        report: { scanned: report.scanned, reachable: report.reachable, pending: report.pending },
        firstWrittenBytes: usage0.bytes,
      });
      await closeAll();
    }, 60_000);

    test("a reader at an older seq keeps reading through the grace period; after it, a refresh recovers", async () => {
      const store = await target.open();
      const { mount, closeAll } = mounter(store);
      const w = await mount("w", "readwrite", 4);
      for (let i = 0; i < 6; i++) await w.writeFile(`/f${i}`, `old ${i} `.repeat(100));
      const oldTree = treeLines(await snapshotTree(w));
      const oldSeq = w.seq;
      // Two readers at the old seq with cold caches: one reads during the grace period, one after it.
      const during = await mount("during", "readonly");
      const after = await mount("after", "readonly");
      expect(during.seq).toBe(oldSeq);
      for (let i = 0; i < 6; i++) await w.writeFile(`/f${i}`, `new ${i}`);
      for (let i = 0; i < 10; i++) await w.writeFile("/churn", `churn ${i}`);
      const graceMs = 1500;
      const first = await w.gc({ graceMs });
      expect(first.deleted).toBe(0);
      expect(first.pending).toBeGreaterThan(0);
      // Within the grace period the old reader reads its (old) state whole, and can refresh.
      expect(treeLines(await snapshotTree(during))).toEqual(oldTree);
      await Bun.sleep(graceMs + 100);
      const second = await w.gc({ graceMs });
      expect(second.deleted).toBeGreaterThanOrEqual(first.pending);
      // After the grace period, bytes of the old state may be gone for a reader that never refreshed...
      const stale = await after.readFile("/f0").then(
        () => "read",
        (e: unknown) => (recordError(e, "gc stale reader"), String((e as NodeJS.ErrnoException).code)),
      );
      expect(["read", "ENOENT"]).toContain(stale);
      // ...and a refresh (from the snapshot: the old records were collected too) brings it back.
      const refreshed = await after.refresh();
      expect(["advanced", "rebuilt"]).toContain(refreshed.outcome);
      expect(treeLines(await snapshotTree(after))).toEqual(treeLines(await snapshotTree(w)));
      expect((await during.refresh()).seq).toBe(w.seq);
      expect(treeLines(await snapshotTree(during))).toEqual(treeLines(await snapshotTree(w)));
      figure(`gc.grace.${target.name}`, { graceMs, pendingAfterFirstPass: first.pending, deletedAfterGrace: second.deleted, staleReaderAfterGrace: stale, refresh: refreshed.outcome });
      await closeAll();
    }, 60_000);
  });
}

describe("gc: only the current writer collects", () => {
  test("a fenced writer's gc fails with EFENCED and deletes nothing", async () => {
    const store = new LocalObjectStore(join(root, `bucket-${++n}`));
    const { mount, closeAll } = mounter(store);
    const w1 = await mount("w1", "readwrite");
    for (let i = 0; i < 4; i++) await w1.writeFile("/x", `v${i}`);
    const w2 = await mount("w2", "readwrite");
    const before = await bucketUsage(store, DATA);
    const code = await w1.gc({ graceMs: 0 }).then(
      () => "resolved",
      (e: unknown) => (recordError(e, "gc fenced"), (e as NodeJS.ErrnoException).code),
    );
    expect(code).toBe("EFENCED");
    expect((await bucketUsage(store, DATA)).bytes).toBe(before.bytes);
    expect((await w2.gc({ graceMs: 0 })).deleted).toBeGreaterThan(0);
    await closeAll();
  });

  // Regression test for bug #11 (data loss): gc marks an object when it first sees it unreachable and
  // deletes it once the grace period has passed since that mark. A streamed upload (writeFile of a
  // stream/Blob >= 4 MiB, openWrite().close()) sends its chunks before it takes the writer lock to commit.
  // When a chunk's content had died earlier (a deleted file with the same bytes) and was marked then, a gc
  // during the upload used to delete the freshly re-sent chunk, and the commit acknowledged a file whose
  // bytes were gone. Chunks of an upload in flight are now pinned until its commit, and their marks reset.
  test("regression #11: gc during a streamed upload of once-deleted content must not lose the acknowledged file", async () => {
    const store = new LocalObjectStore(join(root, `bucket-${++n}`));
    const { mount, closeAll } = mounter(store);
    const w = await mount("w", "readwrite");
    const content = Buffer.alloc(9 << 20);
    for (let i = 0; i < content.length; i += 4096) content[i] = (i / 4096) & 0xff;
    await w.writeFile("/first", content);
    await w.rm("/first");
    const graceMs = 500;
    await w.gc({ graceMs });
    await Bun.sleep(graceMs + 100);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(content.subarray(0, 8 << 20));
        await gate;
        c.enqueue(content.subarray(8 << 20));
        c.close();
      },
    });
    const writing = w.writeFile("/second", stream);
    await Bun.sleep(300);
    await w.gc({ graceMs });
    release();
    await writing;
    const r = await mount("r", "readonly");
    const read = await r.readFile("/second").then(
      (b) => (b.equals(content) ? "ok" : "wrong bytes"),
      (e: unknown) => (recordError(e, "regression #11"), `${(e as NodeJS.ErrnoException).code}: ${(e as Error).message}`),
    );
    const fsck = await r.fsck();
    await closeAll();
    expect(read).toBe("ok");
    expect(fsck.missing).toEqual([]);
  }, 30_000);
});
