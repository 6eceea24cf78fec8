// The core API (issue 3): every method and error code, commits, readers, fencing, faults and rebuild,
// against LocalObjectStore and SeaweedFS (and moto for the protocol checks).
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { codeOf, removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const root = tempDir("core");
afterAll(() => removeDir(root));

let n = 0;
/** A fresh manager (own cacheRoot) and helpers to mount `store`. */
function fixture(store: ObjectStore) {
  const cacheRoot = join(root, `cache-${++n}`);
  const manager = new S3CachedFsManagerImpl({ cacheRoot });
  const mount = (name: string, mode: "readwrite" | "readonly", extra: { snapshotEvery?: number; store?: ObjectStore } = {}) =>
    manager.mount({ name, mode, cacheBytes: 64 << 20, store: extra.store ?? store, snapshotEvery: extra.snapshotEvery });
  return { cacheRoot, manager, mount };
}

/** Every path with its kind, size and content hash: two equal listings mean two equal trees. */
async function listing(fs: CachedFs): Promise<string[]> {
  const out: string[] = [];
  for (const d of fs.readdirSync("/", { recursive: true, withFileTypes: true })) {
    const p = `/${d.name}`;
    if (d.isFile()) out.push(`${p} file ${fs.statSync(p).size} ${Bun.hash(await fs.readFile(p))}`);
    else if (d.isSymbolicLink()) out.push(`${p} -> ${fs.readlinkSync(p)}`);
    else out.push(`${p} dir`);
  }
  return out.sort();
}

for (const target of storeTargets(root)) {
  describe(`core on ${target.name}`, () => {
    test("files, directories, links and attributes; every error code", async () => {
      const { manager, mount } = fixture(await target.open("methods"));
      const fs = await mount("w", "readwrite");
      await fs.mkdir("/a/b/c", { recursive: true });
      await fs.writeFile("/a/b/c/hello.txt", "hello");
      await fs.writeFile("/a/bytes.bin", new Uint8Array([1, 2, 3]));
      await fs.writeFile("/a/ab.bin", new Uint8Array([4, 5]).buffer);
      await fs.writeFile("/a/blob.txt", new Blob(["blob!"]));
      await fs.appendFile("/a/b/c/hello.txt", ", world");
      await fs.appendFile("/a/new.txt", "fresh");
      expect(await fs.readText("/a/b/c/hello.txt")).toBe("hello, world");
      expect([...(await fs.readFile("/a/bytes.bin"))]).toEqual([1, 2, 3]);
      expect([...(await fs.readFile("/a/ab.bin"))]).toEqual([4, 5]);
      expect(await fs.readText("/a/blob.txt")).toBe("blob!");
      expect(await fs.readText("/a/new.txt")).toBe("fresh");
      expect([...(await fs.read("/a/b/c/hello.txt", { offset: 7, length: 3 }))]).toEqual([...Buffer.from("wor")]);

      const st = await fs.stat("/a/b/c/hello.txt");
      expect(st.isFile()).toBe(true);
      expect(st.isDirectory()).toBe(false);
      expect(st.size).toBe(12);
      expect(st.mode & 0o170000).toBe(0o100000);
      expect(st.mtime).toBeInstanceOf(Date);
      expect(Math.abs(st.mtimeMs - Date.now())).toBeLessThan(60_000);
      expect((await fs.stat("/a")).isDirectory()).toBe(true);
      expect(await fs.exists("/a/b")).toBe(true);
      expect(await fs.exists("/nope")).toBe(false);
      expect(fs.existsSync("/a/bytes.bin")).toBe(true);
      expect(await fs.readdir("/a")).toEqual(["ab.bin", "b", "blob.txt", "bytes.bin", "new.txt"]);
      const typed = await fs.readdir("/a", { withFileTypes: true });
      expect(typed.filter((d) => d.isDirectory()).map((d) => d.name)).toEqual(["b"]);
      expect(await fs.readdir("/a/b", { recursive: true })).toEqual(["c", "c/hello.txt"]);

      await fs.symlink("b/c/hello.txt", "/a/link");
      expect(await fs.readlink("/a/link")).toBe("b/c/hello.txt");
      expect((await fs.lstat("/a/link")).isSymbolicLink()).toBe(true);
      expect((await fs.stat("/a/link")).isFile()).toBe(true);
      expect(await fs.readText("/a/link")).toBe("hello, world");
      expect(await fs.realpath("/a/link")).toBe("/a/b/c/hello.txt");
      expect(await fs.realpath("./a/../a/b")).toBe("/a/b");

      await fs.chmod("/a/bytes.bin", 0o600);
      expect((await fs.stat("/a/bytes.bin")).mode & 0o777).toBe(0o600);
      const when = new Date("2020-01-02T03:04:05Z");
      await fs.utimes("/a/bytes.bin", when, when);
      expect((await fs.stat("/a/bytes.bin")).mtimeMs).toBe(when.getTime());

      await fs.rename("/a/b", "/moved");
      expect(await fs.readText("/moved/c/hello.txt")).toBe("hello, world");
      expect(await fs.exists("/a/b")).toBe(false);
      const before = fs.stats().requests.put;
      await fs.copy("/moved", "/copied", { recursive: true });
      await fs.copy("/a/bytes.bin", "/a/bytes-copy.bin");
      expect(await fs.readText("/copied/c/hello.txt")).toBe("hello, world");
      expect([...(await fs.readFile("/a/bytes-copy.bin"))]).toEqual([1, 2, 3]);
      // A copy shares stored bytes: two commits, and nothing but WAL records and heads uploaded.
      expect(fs.stats().requests.put - before).toBe(4);

      const seq = fs.seq;
      const errors: [string, () => Promise<unknown>][] = [
        ["ENOENT", () => fs.stat("/missing")],
        ["ENOENT", () => fs.readFile("/missing")],
        ["ENOENT", () => fs.writeFile("/missing/dir/file", "x")],
        ["ENOENT", () => fs.rm("/missing")],
        ["ENOENT", () => fs.rename("/missing", "/x")],
        ["ENOENT", () => fs.readlink("/missing")],
        ["EEXIST", () => fs.mkdir("/a")],
        ["EEXIST", () => fs.writeFile("/a/new.txt", "x", { flag: "wx" })],
        ["EEXIST", () => fs.symlink("x", "/a/new.txt")],
        ["ENOTDIR", () => fs.readdir("/a/new.txt")],
        ["ENOTDIR", () => fs.writeFile("/a/new.txt/inner", "x")],
        ["ENOTDIR", () => fs.mkdir("/a/new.txt/x", { recursive: true })],
        ["EISDIR", () => fs.readFile("/a")],
        ["EISDIR", () => fs.writeFile("/a", "x")],
        ["EISDIR", () => fs.copy("/moved", "/elsewhere")],
        ["EISDIR", () => fs.rm("/moved")],
        ["ENOTEMPTY", () => fs.rmdir("/moved")],
        ["EINVAL", () => fs.rename("/moved", "/moved/c/inside")],
        ["EINVAL", () => fs.rm("/", { recursive: true })],
        ["EINVAL", () => fs.readlink("/a/new.txt")],
        ["EINVAL", () => fs.writeFile("/a/nul\0byte", "x")],
        ["ENAMETOOLONG", () => fs.writeFile(`/${"n".repeat(256)}`, "x")],
        ["ERR_INVALID_ARG_TYPE", () => fs.stat(42 as unknown as string)],
      ];
      for (const [code, call] of errors) expect(`${code} <- ${call}`).toBe(`${await codeOf(call)} <- ${call}`);
      const err = (await fs.stat("/missing/x").catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err.message).toBe("ENOENT: no such file or directory, stat '/missing/x'");
      expect(err.syscall).toBe("stat");
      expect(err.path).toBe("/missing/x");
      expect(fs.seq).toBe(seq);

      await fs.rm("/copied", { recursive: true });
      await fs.rm("/nothing-here", { force: true });
      await fs.rmdir("/moved/c").catch(() => {});
      await fs.mkdir("/empty");
      await fs.rmdir("/empty");
      expect(await fs.exists("/copied")).toBe(false);
      // Paths are confined to the root: `..` cannot climb out.
      expect(await fs.readText("../../../a/new.txt")).toBe("fresh");
      await manager.close();
      expect(await codeOf(fs.writeFile("/x", "x"))).toBe("ECLOSED");
    });

    test("a readonly remount sees committed data; its writes fail with EROFS and change nothing", async () => {
      const store = await target.open("readonly");
      const { mount } = fixture(store);
      const w = await mount("w", "readwrite");
      await w.writeFile("/doc.txt", "committed");
      const r = await mount("r", "readonly");
      expect(await r.readText("/doc.txt")).toBe("committed");
      expect(r.readOnly).toBe(true);
      const seq = r.seq;
      for (const call of [
        () => r.writeFile("/x", "x"),
        () => r.appendFile("/doc.txt", "x"),
        () => r.mkdir("/d"),
        () => r.rm("/doc.txt"),
        () => r.rename("/doc.txt", "/y"),
        () => r.copy("/doc.txt", "/z"),
        () => r.symlink("/doc.txt", "/l"),
        () => r.chmod("/doc.txt", 0o600),
        () => r.utimes("/doc.txt", 0, 0),
        () => r.transaction(async (tx) => tx.writeFile("/t", "t")),
      ]) {
        expect(await codeOf(call)).toBe("EROFS");
      }
      r.resetStats();
      await r.refresh();
      expect(r.stats().requests.put).toBe(0);
      expect(r.seq).toBe(seq);
      expect(await r.readdir("/")).toEqual(["doc.txt"]);
    });

    test("a reader sees a transaction only whole, after refresh; an idle refresh is one GET", async () => {
      const store = await target.open("reader");
      const { mount } = fixture(store);
      const w = await mount("w", "readwrite");
      await w.writeFile("/start", "0");
      const r = await mount("r", "readonly");
      r.resetStats();
      expect((await r.refresh()).outcome).toBe("unchanged");
      expect(r.stats().requests).toMatchObject({ get: 1, list: 0, total: 1 });

      let seenInside = -1;
      const commitsBefore = w.stats().commits;
      await w.transaction(async (tx) => {
        await tx.mkdir("/batch");
        for (let i = 0; i < 20; i++) await tx.writeFile(`/batch/${i}.txt`, `file ${i}`);
        expect(await tx.readText("/batch/7.txt")).toBe("file 7");
        expect(tx.existsSync("/batch/19.txt")).toBe(true);
        // Not visible outside the transaction: not to the writer's own readers, not to the bucket.
        expect(w.existsSync("/batch")).toBe(false);
        expect((await r.refresh()).outcome).toBe("unchanged");
        seenInside = (await r.readdir("/")).length;
      });
      expect(seenInside).toBe(1);
      expect(w.stats().commits - commitsBefore).toBe(1);
      expect(r.existsSync("/batch")).toBe(false);
      r.resetStats();
      expect((await r.refresh()).outcome).toBe("advanced");
      expect(r.stats().requests.list).toBe(0);
      expect(r.stats().requests.get).toBe(2);
      expect((await r.readdir("/batch")).length).toBe(20);
      expect(await r.readText("/batch/13.txt")).toBe("file 13");
      expect(r.seq).toBe(w.seq);
    });

    test("a transaction that throws leaves nothing, locally or remotely", async () => {
      const store = await target.open("abort");
      const { mount } = fixture(store);
      const w = await mount("w", "readwrite");
      await w.writeFile("/keep", "k");
      const seq = w.seq;
      const boom = new Error("boom");
      await expect(
        w.transaction(async (tx) => {
          await tx.writeFile("/gone", "g");
          await tx.rm("/keep");
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(w.seq).toBe(seq);
      expect(await w.exists("/gone")).toBe(false);
      expect(await w.readText("/keep")).toBe("k");
      const r = await mount("r", "readonly");
      expect(await listing(r)).toEqual(await listing(w));
      // The writer still works after the abort.
      await w.writeFile("/after", "a");
      expect(w.seq).toBe(seq + 1);
    });

    test("concurrent writes are grouped into fewer commits, each durable when it resolves", async () => {
      const store = await target.open("group");
      const { mount } = fixture(store);
      const w = await mount("w", "readwrite");
      const before = w.stats().commits;
      await Promise.all(Array.from({ length: 50 }, (_, i) => w.writeFile(`/g${i}`, `${i}`)));
      const commits = w.stats().commits - before;
      expect(commits).toBeGreaterThanOrEqual(1);
      expect(commits).toBeLessThan(50);
      // A failing request in a group fails alone.
      const results = await Promise.allSettled([w.writeFile("/ok1", "1"), w.mkdir("/g1"), w.writeFile("/ok2", "2")]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      const r = await mount("r", "readonly");
      expect((await r.readdir("/")).length).toBe(52);
    });

    test("two writers: the first gets EFENCED and nothing it writes afterwards becomes visible", async () => {
      const store = await target.open("fence");
      const { mount } = fixture(store);
      const w1 = await mount("w1", "readwrite");
      await w1.writeFile("/one", "1");
      const w2 = await mount("w2", "readwrite");
      expect(w2.epoch).toBeGreaterThan(w1.epoch);
      expect(await codeOf(w1.writeFile("/late", "late"))).toBe("EFENCED");
      expect(await codeOf(w1.transaction((tx) => tx.writeFile("/later", "x")))).toBe("EFENCED");
      await w2.writeFile("/two", "2");
      const r = await mount("r", "readonly");
      expect(await r.readdir("/")).toEqual(["one", "two"]);
    });

    test("a failure between WAL and head, and a lost head response, leave committed states", async () => {
      const base = await target.open("faults");
      const failing = base.failing(11);
      const { mount } = fixture(base);
      const w = await mount("w", "readwrite", { store: failing });
      await w.writeFile("/a", "1");
      failing.addFailRule({ action: "error", kinds: ["put"], keyContains: "heads/", status: 403, code: "AccessDenied", times: 1 });
      expect(await codeOf(w.writeFile("/b", "2"))).toBe("EIO");
      expect(await w.exists("/b")).toBe(false);
      const r = await mount("r", "readonly");
      expect(await listing(r)).toEqual(await listing(w));

      failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "heads/", times: 1 });
      await w.writeFile("/c", "3");
      await w.writeFile("/d", "4");
      expect((await r.refresh()).outcome).toBe("advanced");
      expect(await listing(r)).toEqual(await listing(w));
      expect(await r.readdir("/")).toEqual(["a", "c", "d"]);
    });

    test("deleting cacheRoot and remounting gives the identical tree", async () => {
      const store = await target.open("rebuild");
      const { mount, cacheRoot, manager } = fixture(store);
      const w = await mount("w", "readwrite", { snapshotEvery: 5 });
      for (let i = 0; i < 12; i++) await w.writeFile(`/dir${i % 3}/f${i}.txt`, `contents ${i}`, { recursive: true });
      await w.transaction(async (tx) => {
        await tx.rename("/dir0", "/renamed");
        await tx.symlink("/renamed/f0.txt", "/link");
        await tx.copy("/dir1", "/dir1-copy", { recursive: true });
      });
      await w.rm("/dir2", { recursive: true });
      const expected = await listing(w);
      await manager.close();
      rmSync(cacheRoot, { recursive: true, force: true });
      const again = fixture(store);
      const r = await again.mount("w", "readonly");
      expect(await listing(r)).toEqual(expected);
      expect(r.stats().rebuilds + r.stats().recordsApplied).toBeGreaterThan(0);
      // And a writer mounts over it and carries on.
      const w2 = await again.mount("w2", "readwrite");
      await w2.writeFile("/after", "x");
      expect((await listing(w2)).length).toBe(expected.length + 1);
    });

    test("stat answers from the in-memory index, kept in step with commits, refreshes and a reopen", async () => {
      const store = await target.open("index");
      const { manager, mount, cacheRoot } = fixture(store);
      const w = await mount("w", "readwrite");
      const r = await mount("r", "readonly");
      const entries = async (fs: CachedFs) => (await listing(fs)).length;
      await w.transaction(async (tx) => {
        for (let i = 0; i < 20; i++) await tx.writeFile(`/d${i % 4}/f${i}`, "x".repeat(i), { recursive: true });
      });
      await w.rename("/d1", "/moved");
      await w.rm("/d2", { recursive: true });
      await r.refresh();
      for (const fs of [w, r]) {
        expect(fs.stats().indexEntries).toBe(await entries(fs));
        expect(fs.statSync("/moved/f5").size).toBe(5);
        expect(fs.existsSync("/d1/f5")).toBe(false);
        expect(fs.existsSync("/d2")).toBe(false);
        expect(await codeOf(() => fs.statSync("/d2/f6"))).toBe("ENOENT");
      }
      await manager.close();
      // Reopened on its local database: built from it off the caller's thread, SQLite answering meanwhile.
      const again = new S3CachedFsManagerImpl({ cacheRoot });
      const w2 = await again.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store });
      expect(w2.stats().indexEntries).toBeNull();
      expect(w2.statSync("/moved/f9").size).toBe(9);
      for (let i = 0; i < 200 && w2.stats().indexEntries === null; i++) {
        w2.existsSync(`/not-there-${i}`);
        await Bun.sleep(10);
      }
      expect(w2.stats().indexEntries).toBe(await entries(w2));
      expect(w2.statSync("/d3/f7").size).toBe(7);
      await again.close();
    });
  });
}

describe("store probe at mount", () => {
  test("a store that ignores conditional headers is refused for readwrite, allowed readonly", async () => {
    const { LocalObjectStore } = await import("../js/core.ts");
    const broken = new LocalObjectStore(join(root, "broken")).failing();
    broken.addFailRule({ action: "ignorePreconditions" });
    const { mount } = fixture(broken);
    const err = (await mount("w", "readwrite").catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe("ENOTSUP");
    expect(err.message).toContain("does not enforce conditional writes");
    const r = await mount("r", "readonly");
    expect(await r.readdir("/")).toEqual([]);
  });
});

describe("local state", () => {
  test("two managers cannot open the same local state at once (EBUSY); after close they can", async () => {
    const { LocalObjectStore } = await import("../js/core.ts");
    const store = new LocalObjectStore(join(root, "busy"));
    const cacheRoot = join(root, "busy-cache");
    const a = new S3CachedFsManagerImpl({ cacheRoot });
    const b = new S3CachedFsManagerImpl({ cacheRoot });
    const first = await a.mount({ name: "ws", mode: "readwrite", store, cacheBytes: 1 << 20 });
    expect(await codeOf(b.mount({ name: "ws", mode: "readonly", store, cacheBytes: 1 << 20 }))).toBe("EBUSY");
    await first.close();
    const second = await b.mount({ name: "ws", mode: "readonly", store, cacheBytes: 1 << 20 });
    expect(second.readOnly).toBe(true);
    await b.close();
  });

  test("writeFile can set the file's mtime, in and out of a transaction", async () => {
    const { LocalObjectStore } = await import("../js/core.ts");
    const { mount } = fixture(new LocalObjectStore(join(root, "mtime")));
    const fs = await mount("w", "readwrite");
    const when = new Date("2021-05-06T07:08:09.123Z");
    await fs.writeFile("/a.txt", "a", { mtime: when });
    await fs.transaction((tx) => tx.writeFile("/b.txt", "b", { mtime: when.getTime() / 1000 }));
    expect(fs.statSync("/a.txt").mtimeMs).toBe(when.getTime());
    expect(fs.statSync("/b.txt").mtimeMs).toBe(when.getTime());
  });
});
