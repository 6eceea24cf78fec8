// Issue 12, forks, on LocalObjectStore and SeaweedFS: a fork shares its source's data objects (nothing
// is copied), both sides then evolve apart, the fork stays readable after the source deletes everything
// and collects (its registration pins the data), and faults between the fork's steps leave no fork or a
// complete one (the head is written last; a lost answer to it is read back).
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { uniquePrefix, s3TestServers } from "./helpers/servers.ts";
import { codeOf, removeDir, s3Store, tempDir } from "./helpers/targets.ts";

const root = tempDir("fork");
const managers: S3CachedFsManagerImpl[] = [];
afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  removeDir(root);
});

let n = 0;
function mount(store: ObjectStore, mode: "readwrite" | "readonly" = "readwrite"): Promise<CachedFs> {
  const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
  managers.push(m);
  return m.mount({ name: "m", mode, cacheBytes: 64 << 20, store });
}

/** Two prefixes of one bucket: where a workspace lives, and where its forks go. */
interface Bucket {
  name: string;
  at(prefix: string): Promise<ObjectStore>;
}

const buckets: Bucket[] = [
  { name: "LocalObjectStore", at: async (prefix) => new LocalObjectStore(join(root, "bucket"), { prefix }) },
  ...s3TestServers()
    .filter((s) => s.name === "seaweedfs")
    .map((s) => ({ name: s.name, at: (prefix: string) => s3Store(s, prefix) })),
];

const text = async (fs: CachedFs, p: string): Promise<string> => (await fs.readFile(p)).toString();
const big = (byte: number): Buffer => Buffer.alloc((9 << 20) + 7, byte);

for (const b of buckets) {
  describe(`forks on ${b.name}`, () => {
    test("no data is copied; both sides evolve apart; the fork outlives the source's deletes and GC", async () => {
      const src = uniquePrefix("src").replace(/\/$/, "");
      const to = uniquePrefix("fork").replace(/\/$/, "");
      const w = await mount(await b.at(src));
      await w.writeFile("/big.bin", big(3));
      await w.writeFile("/docs/a.txt", "a1", { recursive: true });
      await w.checkpoint("start");
      await w.writeFile("/docs/a.txt", "a2");

      const f = await new S3CachedFsManagerImpl({ cacheRoot: join(root, "forker") }).fork({ from: { store: await b.at(src), at: "start" }, to: { prefix: to } });
      expect(f.fromSeq).toBe(2);
      const target = await b.at(to);
      for (const p of ["packs/", "chunks/"]) expect((await target.list(p)).objects).toEqual([]);
      expect((await w.forks()).map((r) => r.name)).toEqual([f.id]);

      const fw = await mount(target);
      expect(await text(fw, "/docs/a.txt")).toBe("a1");
      await fw.writeFile("/docs/a.txt", "fork");
      await fw.writeFile("/only-fork", "f");
      await w.writeFile("/only-src", "s");
      expect(w.existsSync("/only-fork")).toBe(false);
      expect(fw.existsSync("/only-src")).toBe(false);

      await w.rm("/big.bin");
      await w.rm("/docs", { recursive: true });
      await w.deleteCheckpoint("start");
      await w.gc({ graceMs: 0 });
      await w.gc({ graceMs: 0 });
      await fw.close();
      const cold = await mount(await b.at(to), "readonly");
      expect((await cold.readFile("/big.bin")).equals(big(3))).toBe(true);
      expect(await text(cold, "/docs/a.txt")).toBe("fork");
      expect((await cold.fsck()).ok).toBe(true);
      expect(await codeOf(w.releaseFork("no-such-fork"))).toBe("ENOENT");
    }, 60_000);

    test("faults between the steps leave no fork or a complete one", async () => {
      const src = uniquePrefix("src").replace(/\/$/, "");
      const w = await mount(await b.at(src));
      await w.writeFile("/keep.txt", "k");
      const failing = (await b.at(src)).failing(7);
      const forker = new S3CachedFsManagerImpl({ cacheRoot: join(root, "forker-faults") });

      // The snapshot or the head PUT fails: the fork does not exist, and may be made again.
      for (const keyContains of ["snapshots/", "heads/"]) {
        const to = uniquePrefix("fork").replace(/\/$/, "");
        failing.addFailRule({ action: "error", kinds: ["put"], keyContains, status: 500, code: "InternalError", times: 1 });
        expect(await codeOf(forker.fork({ from: { store: failing }, to: { prefix: to } }))).not.toBe("resolved");
        failing.clearFailRules();
        expect(await codeOf((await b.at(to)).get("heads/main.json"))).toBe("ENOENT");
        await forker.fork({ from: { store: failing }, to: { prefix: to } });
        expect(await text(await mount(await b.at(to), "readonly"), "/keep.txt")).toBe("k");
      }

      // The head PUT lands but its answer is lost: the fork reads it back and stands.
      const to = uniquePrefix("fork").replace(/\/$/, "");
      failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "heads/", times: 1 });
      await forker.fork({ from: { store: failing }, to: { prefix: to } });
      failing.clearFailRules();
      expect(await text(await mount(await b.at(to), "readonly"), "/keep.txt")).toBe("k");
      expect(await codeOf(forker.fork({ from: { store: failing }, to: { prefix: to } }))).toBe("EEXIST");
    }, 60_000);
  });
}
