// Issue 12: workspace history on LocalObjectStore and SeaweedFS. A random history (writes, appends, renames
// of files and directories, copies, chmods, symlinks, a directory replaced by a file) is checked against a
// reference model: a time-travel mount at every seq holds the model's tree at that seq (listing, modes and
// content hashes); diff between any two commits is the model's diff; restore of the whole tree and of a
// subtree makes the model's tree again as one new commit without uploading data; checkpoints name commits;
// GC with checkpoints and a retention window never breaks a checkpoint or window mount (fsck of each), and
// deleting a checkpoint lets it reclaim what only that checkpoint held. A checkpoint PUT whose response is
// lost is resolved by reading it back. `HISTORY_SEED=<n>` runs another random history (the default is seed 15).
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type Change, type ObjectStore } from "../js/core.ts";
import { applyStep, diffTrees, modelLines, randomStep, restoreTree, type MChange, type MTree, type Step } from "./fixtures/history-model.ts";
import { Rng, bucketUsage, fastTempDir, figure } from "./helpers/reliability.ts";
import { codeOf, removeDir, storeTargets } from "./helpers/targets.ts";

const root = fastTempDir("history");
afterAll(() => removeDir(root));

let n = 0;
const managers: S3CachedFsManagerImpl[] = [];
afterAll(() => Promise.all(managers.map((m) => m.close())));

function newManager(): S3CachedFsManagerImpl {
  const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
  managers.push(m);
  return m;
}

const writer = (store: ObjectStore, snapshotEvery = 7): Promise<CachedFs> =>
  newManager().mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store, snapshotEvery });

/** A readonly mount at `at` (its own manager, closed by the caller through `close()`). */
const mountAt = (store: ObjectStore, at: number | string): Promise<CachedFs> =>
  newManager().mount({ name: `at-${++n}`, mode: "readonly", cacheBytes: 64 << 20, store, at });

async function applyToFs(w: CachedFs, s: Step): Promise<void> {
  switch (s.t) {
    case "write":
      return w.writeFile(s.p, s.data, { recursive: true });
    case "append":
      return w.appendFile(s.p, s.data);
    case "mkdir":
      return w.mkdir(s.p, { recursive: true });
    case "rm":
      return w.rm(s.p, { recursive: true });
    case "rename":
      return w.rename(s.from, s.to);
    case "copy":
      return w.copy(s.from, s.to);
    case "chmod":
      return w.chmod(s.p, s.mode);
    case "symlink":
      return w.symlink(s.target, s.p);
    case "replaceDir":
      return w.transaction(async (tx) => {
        await tx.rm(s.p, { recursive: true });
        await tx.writeFile(s.p, s.data);
      });
  }
}

/** The mounted tree as the model prints it: path, kind, permission bits, hash of the bytes or link target. */
async function fsLines(fs: CachedFs): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fs.readdir("/", { recursive: true, withFileTypes: true })) {
    const p = `/${d.name}`;
    const mode = (fs.lstatSync(p).mode & 0o7777).toString(8);
    if (d.isDirectory()) out.push(`${p} directory ${mode} `);
    else if (d.isSymbolicLink()) out.push(`${p} symlink ${mode} ${Bun.hash(Buffer.from(fs.readlinkSync(p))).toString(16)}`);
    else out.push(`${p} file ${mode} ${Bun.hash(await fs.readFile(p)).toString(16)}`);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Changes without the sizes of directories (the model does not know them). */
function comparable(changes: readonly (Change | MChange)[]): MChange[] {
  return changes.map((c) => {
    const out: MChange = { path: c.path, change: c.change, kind: c.kind };
    if (c.fromPath !== undefined && c.fromPath !== null) out.fromPath = c.fromPath;
    if (c.kind !== "directory") {
      if (c.sizeBefore !== undefined && c.sizeBefore !== null) out.sizeBefore = c.sizeBefore;
      if (c.sizeAfter !== undefined && c.sizeAfter !== null) out.sizeAfter = c.sizeAfter;
    }
    return out;
  });
}

interface History {
  store: ObjectStore;
  w: CachedFs;
  /** The model's tree at each seq (index = seq). */
  states: MTree[];
}

/** `commits` random steps on a fresh workspace, each one commit; the model's tree after each. */
async function randomHistory(store: ObjectStore, commits: number, seed: number, snapshotEvery = 7): Promise<History> {
  const w = await writer(store, snapshotEvery);
  const rng = new Rng(seed);
  const states: MTree[] = [new Map()];
  for (let i = 0; i < commits; i++) {
    const before = states[states.length - 1] as MTree;
    const step = randomStep(rng, before, i);
    try {
      await applyToFs(w, step);
    } catch (e) {
      throw new Error(`step ${i} ${JSON.stringify(step)} failed: ${(e as Error).message}`);
    }
    states.push(applyStep(before, step));
    expect(w.seq).toBe(states.length - 1);
  }
  return { store, w, states };
}

const targets = storeTargets(root, ["seaweedfs"]);

for (const target of targets) {
  const local = target.server === undefined;
  const COMMITS = local ? 60 : 30;

  describe(`history on ${target.name}`, () => {
    let shared: Promise<History> | undefined;
    const history = (): Promise<History> => (shared ??= target.open("history").then((store) => randomHistory(store, COMMITS, Number(process.env.HISTORY_SEED ?? 15))));

    test(`a time-travel mount at every seq of a ${COMMITS}-commit random history holds the model's tree`, async () => {
      const { store, w, states } = await history();
      for (const [seq, state] of states.entries()) {
        const m = await mountAt(store, seq);
        expect({ seq, lines: await fsLines(m) }).toEqual({ seq, lines: modelLines(state) });
        expect(m.seq).toBe(seq);
        expect(m.readOnly).toBe(true);
        if (seq === 3) {
          expect(await codeOf(m.writeFile("/x", "no"))).toBe("EROFS");
          // refresh() keeps a time-travel mount where it is.
          await w.writeFile("/moved-on", "later");
          states.push(applyStep(states[states.length - 1] as MTree, { t: "write", p: "/moved-on", data: "later" }));
          await m.refresh();
          expect(m.seq).toBe(3);
          expect(m.existsSync("/moved-on")).toBe(false);
        }
        await m.close();
      }
      expect(await codeOf(mountAt(store, w.seq + 1))).toBe("EINVAL");
      expect(await codeOf(mountAt(store, "no-such-checkpoint"))).toBe("ENOENT");
      expect(await codeOf(newManager().mount({ name: "rw-at", mode: "readwrite", cacheBytes: 1 << 20, store, at: 1 }))).toBe("EINVAL");
      const kinds = new Set(states.flatMap((t) => [...t.values()].map((e) => e.kind)));
      figure(`history.timeTravel.${target.name}`, { commits: states.length - 1, seqsMounted: states.length, entriesAtHead: (states[states.length - 1] as MTree).size, kinds: [...kinds].sort() });
    }, 300_000);

    test("diff between any two commits (and to the mount's current state) is the model's diff", async () => {
      const { w, states } = await history();
      const head = states.length - 1;
      expect(w.seq).toBe(head);
      const rng = new Rng(99);
      // Every seq against the current state, and a sample of pairs in both directions.
      for (let from = 0; from <= head; from++) {
        expect({ from, changes: comparable(await w.diff(from)) }).toEqual({ from, changes: comparable(diffTrees(states[from] as MTree, states[head] as MTree)) });
      }
      const pairs = local ? 40 : 10;
      for (let i = 0; i < pairs; i++) {
        const a = rng.int(head + 1);
        const b = rng.int(head + 1);
        expect({ a, b, changes: comparable(await w.diff(a, b)) }).toEqual({ a, b, changes: comparable(diffTrees(states[a] as MTree, states[b] as MTree)) });
      }
      // Restricted to a subtree: the entries at or under it, and renames out of it.
      for (const sub of ["/a", "/b/a", "/c"]) {
        const a = rng.int(head + 1);
        expect({ a, sub, changes: comparable(await w.diff(a, head, { path: sub })) }).toEqual({ a, sub, changes: comparable(diffTrees(states[a] as MTree, states[head] as MTree, sub)) });
      }
      expect(await w.diff(head)).toEqual([]);
      figure(`history.diff.${target.name}`, { againstHead: head + 1, pairs, subtrees: 3, changesToHeadFrom0: (await w.diff(0)).length });
      expect(await codeOf(w.diff(head + 1))).toBe("EINVAL");
      expect(await codeOf(w.diff("missing"))).toBe("ENOENT");
      expect(await codeOf(w.diff(-1))).toBe("EINVAL");
    }, 300_000);

    test("restore of a subtree and of the whole tree: one new commit each, no data uploaded, history kept", async () => {
      const { store, w, states } = await history();
      const head = states.length - 1;
      const target = Math.floor(head / 2);
      const dataBefore = await bucketUsage(store, ["packs/", "chunks/"]);
      const current = states[head] as MTree;
      const at = states[target] as MTree;

      // Two subtrees (one nested, when there is one), whose parents are directories (or missing) now:
      // restoring under what is a file now fails with ENOTDIR.
      const restorable = (p: string): boolean => {
        for (let q = p.slice(0, p.lastIndexOf("/")); q !== ""; q = q.slice(0, q.lastIndexOf("/"))) {
          const e = current.get(q);
          if (e !== undefined && e.kind !== "directory") return false;
        }
        return true;
      };
      const candidates = ["/a/b", "/b/c", "/c/a", "/a/c/b", "/b", "/c", "/a"].filter(restorable);
      const sub = [candidates[0] ?? "/a", candidates.find((p) => p.split("/").length === 2) ?? "/a"];
      const r1 = await w.restore(target, { paths: sub });
      expect(r1.seq).toBe(head + 1);
      const afterSub = restoreTree(current, at, sub);
      states.push(afterSub);
      expect(await fsLines(w)).toEqual(modelLines(afterSub));

      // The whole tree.
      const r2 = await w.restore(target);
      expect(r2.seq).toBe(head + 2);
      const whole = restoreTree(afterSub, at);
      states.push(whole);
      expect(await fsLines(w)).toEqual(modelLines(whole));
      expect(await w.diff(target)).toEqual([]);
      // Nothing was uploaded: the restored files use the bytes already stored.
      const dataAfter = await bucketUsage(store, ["packs/", "chunks/"]);
      expect([...dataAfter.keys.keys()].filter((k) => !dataBefore.keys.has(k))).toEqual([]);

      // History is linear: the commits before the restore are still there, and a restore is undone by another.
      const m = await mountAt(store, head);
      expect(await fsLines(m)).toEqual(modelLines(current));
      await m.close();
      const r3 = await w.restore(head);
      expect(r3.seq).toBe(head + 3);
      expect(await fsLines(w)).toEqual(modelLines(current));
      states.push(restoreTree(whole, current));
      expect(await codeOf(w.restore(w.seq + 1))).toBe("EINVAL");
      const reader = await newManager().mount({ name: `reader-${++n}`, mode: "readonly", cacheBytes: 1 << 20, store });
      expect(await codeOf(reader.restore(0))).toBe("EROFS");
      await reader.close();
    }, 300_000);

    test("checkpoints: name a commit (EEXIST when taken), list oldest first, mount and diff by name, delete (ENOENT after)", async () => {
      const store = await target.open("checkpoints");
      const w = await writer(store);
      await w.writeFile("/plan.md", "v1");
      const first = await w.checkpoint("first", { message: "the first plan" });
      expect(first).toMatchObject({ name: "first", seq: 1, message: "the first plan" });
      expect(Math.abs(first.timeMs - Date.now())).toBeLessThan(60_000);
      await w.writeFile("/plan.md", "v2");
      await w.writeFile("/notes.md", "n");
      const second = await w.checkpoint("second.v-2_ok");
      expect(second.seq).toBe(3);
      expect(second.message).toBeUndefined();
      expect(await codeOf(w.checkpoint("first"))).toBe("EEXIST");
      for (const bad of ["", ".hidden", "a/b", "sp ace", "x".repeat(129)]) expect(`${bad}: ${await codeOf(w.checkpoint(bad))}`).toBe(`${bad}: EINVAL`);
      const listed = await w.checkpoints();
      expect(listed.map((c) => [c.name, c.seq, c.message])).toEqual([
        ["first", 1, "the first plan"],
        ["second.v-2_ok", 3, undefined],
      ]);

      const m = await mountAt(store, "first");
      expect(m.seq).toBe(1);
      expect(await m.readText("/plan.md")).toBe("v1");
      expect(m.existsSync("/notes.md")).toBe(false);
      await m.close();
      expect((await w.diff("first", "second.v-2_ok")).map((c) => [c.path, c.change])).toEqual([
        ["/notes.md", "added"],
        ["/plan.md", "modified"],
      ]);
      await w.restore("first", { paths: ["/plan.md"] });
      expect(await w.readText("/plan.md")).toBe("v1");
      expect(w.existsSync("/notes.md")).toBe(true);

      // A reader lists checkpoints but cannot make or delete them.
      const reader = await newManager().mount({ name: `reader-${++n}`, mode: "readonly", cacheBytes: 1 << 20, store });
      expect((await reader.checkpoints()).map((c) => c.name)).toEqual(["first", "second.v-2_ok"]);
      expect(await codeOf(reader.checkpoint("nope"))).toBe("EROFS");
      expect(await codeOf(reader.deleteCheckpoint("first"))).toBe("EROFS");
      await reader.close();

      await w.deleteCheckpoint("first");
      expect(await codeOf(w.deleteCheckpoint("first"))).toBe("ENOENT");
      expect(await codeOf(w.deleteCheckpoint("../escape"))).toBe("ENOENT");
      expect((await w.checkpoints()).map((c) => c.name)).toEqual(["second.v-2_ok"]);
      expect(await codeOf(mountAt(store, "first"))).toBe("ENOENT");
      // The name is free again.
      expect((await w.checkpoint("first")).seq).toBe(w.seq);
      // Checkpoint objects are small JSON refs in the documented format.
      const ref = JSON.parse((await store.get("refs/checkpoints/second.v-2_ok.json")).data.toString()) as Record<string, unknown>;
      expect(Object.keys(ref).sort()).toEqual(["name", "record", "record_hash", "seq", "time_ms", "v"]);
      expect(ref).toMatchObject({ v: 1, name: "second.v-2_ok", seq: 3 });
    }, 120_000);

    test("GC keeps every checkpoint and the retention window readable (fsck of each); deleting a checkpoint lets it reclaim", async () => {
      const store = await target.open("gc-history");
      const w = await writer(store, 4);
      const rng = new Rng(7);
      const states: MTree[] = [new Map()];
      const step = async (s: Step): Promise<void> => {
        await applyToFs(w, s);
        states.push(applyStep(states[states.length - 1] as MTree, s));
      };
      const randomSteps = async (count: number): Promise<void> => {
        // Never /big itself (a copy or rename of it would keep its bytes at the head).
        const others = (t: MTree): MTree => new Map([...t].filter(([p]) => p !== "/big"));
        for (let i = 0; i < count; i++) await step(randomStep(rng, others(states[states.length - 1] as MTree), states.length));
      };
      // A large (chunked) file that only the first checkpoint will hold once it is overwritten.
      const big = (seed: number): string => `${seed}`.repeat(3 << 20).slice(0, 3 << 20);
      const before = new Set((await bucketUsage(store, ["chunks/", "packs/"])).keys.keys());
      await step({ t: "write", p: "/big", data: big(1) });
      const onlyFirst = [...(await bucketUsage(store, ["chunks/", "packs/"])).keys.keys()].filter((k) => !before.has(k));
      expect(onlyFirst.length).toBeGreaterThan(0);
      await randomSteps(local ? 6 : 3);
      const cp1 = await w.checkpoint("cp1");
      await step({ t: "write", p: "/big", data: big(2) });
      await randomSteps(local ? 10 : 4);
      const cp2 = await w.checkpoint("cp2");
      await randomSteps(local ? 12 : 5);
      const window = 4;

      const check = async (at: number | string, seq: number): Promise<void> => {
        const m = await mountAt(store, at);
        const report = await m.fsck();
        expect({ at, ok: report.ok, missing: report.missing }).toEqual({ at, ok: true, missing: [] });
        expect({ at, lines: await fsLines(m) }).toEqual({ at, lines: modelLines(states[seq] as MTree) });
        await m.close();
      };

      const r1 = await w.gc({ graceMs: 0, keepHistory: { commits: window } });
      expect(r1.deleted).toBeGreaterThan(0);
      const head = w.seq;
      await check("cp1", cp1.seq);
      await check("cp2", cp2.seq);
      for (let seq = head - window; seq <= head; seq++) await check(seq, seq);
      expect(await w.diff("cp1")).toEqual(await w.diff(cp1.seq));
      await w.fsck().then((r) => expect(r.ok).toBe(true));

      // A time window: the commits made in the last minute stay, whatever the commit count.
      await randomSteps(local ? 8 : 3);
      const r2 = await w.gc({ graceMs: 0, keepHistory: { ms: 60_000 } });
      expect(r2.deleted).toBeGreaterThanOrEqual(0);
      for (let seq = head - window; seq <= w.seq; seq++) await check(seq, seq);
      await check("cp1", cp1.seq);

      // Without a window GC keeps just the head and the checkpoints.
      await randomSteps(2);
      await w.gc({ graceMs: 0 });
      await check("cp1", cp1.seq);
      await check("cp2", cp2.seq);
      await check(w.seq, w.seq);
      for (const k of onlyFirst) expect((await bucketUsage(store, ["chunks/", "packs/"])).keys.has(k)).toBe(true);

      // Deleting cp1 lets GC reclaim what only it held: the first /big's bytes.
      await w.deleteCheckpoint("cp1");
      const r3 = await w.gc({ graceMs: 0 });
      for (const k of onlyFirst) expect(r3.deletedKeys).toContain(k);
      figure(`history.gc.${target.name}`, { commits: w.seq, window, checkpoints: 2, deletedWithWindow: r1.deleted, deletedWithMsWindow: r2.deleted, deletedAfterCheckpointDelete: r3.deleted, reclaimedOnlyCheckpointHeld: onlyFirst.length });
      expect(await codeOf(mountAt(store, "cp1"))).toBe("ENOENT");
      await check("cp2", cp2.seq);
      expect((await w.fsck()).ok).toBe(true);
    }, 300_000);

    test("a checkpoint PUT whose response is lost is resolved by reading it back", async () => {
      const failing = (await target.open("lost-checkpoint")).failing(1);
      const w = await writer(failing);
      await w.writeFile("/a", "1");
      failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "refs/checkpoints/", times: 1 });
      const cp = await w.checkpoint("lost", { message: "response lost" });
      expect(cp).toMatchObject({ name: "lost", seq: 1, message: "response lost" });
      expect((await w.checkpoints()).map((c) => [c.name, c.seq])).toEqual([["lost", 1]]);
      // A different checkpoint under the same name is still refused.
      await w.writeFile("/a", "2");
      failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "refs/checkpoints/", times: 1 });
      expect(await codeOf(w.checkpoint("lost"))).toBe("EEXIST");
      // A PUT refused outright leaves no checkpoint.
      failing.addFailRule({ action: "error", kinds: ["put"], keyContains: "refs/checkpoints/", status: 403, code: "AccessDenied", times: 1 });
      expect(await codeOf(w.checkpoint("refused"))).not.toBe("resolved");
      expect((await w.checkpoints()).map((c) => c.name)).toEqual(["lost"]);
      const m = await mountAt(failing, "lost");
      expect(await m.readText("/a")).toBe("1");
      await m.close();
    }, 120_000);
  });
}
