// Issue 13, small-file fast path: `readFile` of a small file whose bytes are in memory (a hot file, or a
// hot pack) and of an absent path is answered on the caller's thread. These tests check that it never
// answers with stale bytes: after each kind of change (overwrite with the same size in the same
// millisecond, rename over, remove, a directory in its place, a symlink retargeted, a reader's refresh),
// and inside transactions (their own writes, their snapshot), on LocalObjectStore and SeaweedFS.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { codeOf, removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const root = tempDir("reads-memory");
afterAll(() => removeDir(root));
const managers: S3CachedFsManagerImpl[] = [];
afterAll(() => Promise.all(managers.map((m) => m.close())));

let n = 0;
function mount(store: ObjectStore, mode: "readwrite" | "readonly"): Promise<CachedFs> {
  const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
  managers.push(m);
  return m.mount({ name: `m${n}`, mode, cacheBytes: 64 << 20, store });
}

const text = async (fs: CachedFs, p: string) => (await fs.readFile(p)).toString();

for (const target of storeTargets(root, ["seaweedfs"])) {
  describe(`small reads from memory on ${target.name}`, () => {
    test("every change is seen at once, and absent paths fail like Node", async () => {
      const store = await target.open("changes");
      const fs = await mount(store, "readwrite");
      const getsAtMount = fs.stats().requests.get;
      await fs.writeFile("/a.txt", "one");
      expect(await text(fs, "/a.txt")).toBe("one");
      expect(await text(fs, "/a.txt")).toBe("one"); // now a hot file
      // Same size, same millisecond: nothing but the content tells them apart.
      await Promise.all([fs.writeFile("/a.txt", "two"), fs.writeFile("/b.txt", "bbb")]);
      expect(await text(fs, "/a.txt")).toBe("two");
      await fs.rename("/b.txt", "/a.txt");
      expect(await text(fs, "/a.txt")).toBe("bbb");
      await fs.symlink("/a.txt", "/link");
      expect(await text(fs, "/link")).toBe("bbb");
      await fs.writeFile("/c.txt", "ccc");
      await fs.rm("/link");
      await fs.symlink("/c.txt", "/link");
      expect(await text(fs, "/link")).toBe("ccc");
      await fs.rm("/a.txt");
      const err = await fs.readFile("/a.txt").then(
        () => undefined,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(err).toBeInstanceOf(Error);
      expect([err?.code, err?.syscall, err?.path]).toEqual(["ENOENT", "open", "/a.txt"]);
      expect(err?.message).toBe("ENOENT: no such file or directory, open '/a.txt'");
      await fs.mkdir("/a.txt");
      expect(await codeOf(fs.readFile("/a.txt"))).toBe("EISDIR");
      expect(await codeOf(fs.readFile("/c.txt/under"))).toBe("ENOTDIR");
      expect(await codeOf(fs.readFile("/nope/deeper"))).toBe("ENOENT");
      expect(await codeOf(fs.readFile("relative\0"))).toBe("EINVAL");
      expect(fs.stats().requests.get).toBe(getsAtMount); // the writer's packs were at hand
    });

    test("a reader sees what each refresh brings", async () => {
      const store = await target.open("reader");
      const w = await mount(store, "readwrite");
      await w.writeFile("/f", "v1");
      const r = await mount(store, "readonly");
      expect(await text(r, "/f")).toBe("v1");
      expect(await text(r, "/f")).toBe("v1");
      await w.writeFile("/f", "v2");
      expect(await text(r, "/f")).toBe("v1"); // until it refreshes
      await r.refresh();
      expect(await text(r, "/f")).toBe("v2");
      await w.rm("/f");
      await r.refresh();
      expect(await codeOf(r.readFile("/f"))).toBe("ENOENT");
    });

    test("a transaction reads its own writes and its snapshot, not later commits", async () => {
      const store = await target.open("tx");
      const fs = await mount(store, "readwrite");
      await fs.writeFile("/shared", "before");
      expect(await text(fs, "/shared")).toBe("before");
      await fs.transaction(async (tx) => {
        expect((await tx.readFile("/shared")).toString()).toBe("before");
        await fs.writeFile("/shared", "after!"); // commits on its own, after the tx's snapshot
        expect((await tx.readFile("/shared")).toString()).toBe("before");
        await tx.writeFile("/mine", "staged");
        expect((await tx.readFile("/mine")).toString()).toBe("staged");
        await tx.writeFile("/mine", "again!");
        expect((await tx.readFile("/mine")).toString()).toBe("again!");
        expect(await codeOf(tx.readFile("/missing"))).toBe("ENOENT");
        await tx.rm("/mine");
        expect(await codeOf(tx.readFile("/mine"))).toBe("ENOENT");
      });
      expect(await text(fs, "/shared")).toBe("after!");
      expect(await codeOf(fs.readFile("/mine"))).toBe("ENOENT");
    });

    test("parallel reads beside parallel overwrites only ever see whole versions", async () => {
      const store = await target.open("race");
      const fs = await mount(store, "readwrite");
      const versions = Array.from({ length: 40 }, (_, i) => `version-${String(i).padStart(3, "0")}`);
      await fs.writeFile("/v", versions[0]!);
      const seen = new Set<string>();
      await Promise.all([
        (async () => {
          for (const v of versions.slice(1)) await fs.writeFile("/v", v);
        })(),
        ...Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 200; i++) seen.add(await text(fs, "/v"));
        }),
      ]);
      for (const s of seen) expect(versions).toContain(s);
      expect(await text(fs, "/v")).toBe(versions.at(-1)!);
    });
  });
}
