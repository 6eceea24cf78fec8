// Issue 11: transactions that never block or swallow other writers. On LocalObjectStore and SeaweedFS:
//
// - case 3: inside a transaction callback, `await fs.writeFile(...)`, `fs.refresh()`, `fs.gc()` and a
//   nested `fs.transaction(...)` all return (each bounded by a timeout); the mount-level write commits on
//   its own, durably, before the transaction, and the transaction does not see it;
// - case 4: a transaction's data uploads as it goes and its memory is bounded (peak RSS of 32 × 8 MiB
//   `tx.writeFile` in a child process: at most 96 MiB for the 256 MiB written);
// - snapshot isolation: a concurrent commit is invisible inside a transaction, its own writes are visible;
// - conflicts: each kind of request that no longer holds at commit (parent removed or now a file,
//   exclusive create taken, rename or copy source gone, rmdir of a now non-empty directory, mkdir of a
//   now taken name) rejects the whole transaction with ECONFLICT, `conflict === true` and the path, and
//   nothing of it is applied; blind overwrites do not conflict (the later commit wins), and other
//   requests that still hold commit as replayed at commit (docs/guarantees.md, section 9, has the table);
// - a `tx` used after its callback settled rejects with EINVAL;
// - concurrent transactions all commit, their callbacks overlapping;
// - a failed commit fails only its own writes, and later writes proceed;
// - and at the end of every test, what the writer shows is what a fresh mount (empty cacheRoot) reads from
//   the bucket after the writer closed: every resolved write survived, every rejected one left no trace.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore, type Transaction } from "../js/core.ts";
import type { StoreConfig } from "./fixtures/workload.ts";
import { settle, signal, within as waitWithin, type Settled } from "./helpers/async.ts";
import { bucketUsage, checkSecretsAfterAll, fastTempDir, figure, killAllChildren, snapshotTree, spawnFixture, treeLines } from "./helpers/reliability.ts";
import { uniquePrefix } from "./helpers/servers.ts";
import { removeDir, storeTargets, type StoreTarget } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("transactions");
afterAll(async () => {
  await killAllChildren();
  removeDir(root);
});

/** How long any one call may take before the test calls it a hang (an outer call: twice that). */
const HANG_MS = 10_000;
const OUTER_MS = 2 * HANG_MS;
const TEST_MS = 90_000;

let n = 0;

const within = <T>(p: Promise<T>, what: string, ms = HANG_MS): Promise<T> => waitWithin(p, what, ms);

async function setup(target: StoreTarget, label: string, wrap: (s: ObjectStore) => ObjectStore = (s) => s) {
  const base = await target.open(`tx-${label}`);
  const store = wrap(base);
  const managers: S3CachedFsManagerImpl[] = [];
  const mount = async (name: string, mode: "readwrite" | "readonly", over: ObjectStore = store): Promise<CachedFs> => {
    const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
    managers.push(m);
    return m.mount({ name, mode, cacheBytes: 64 << 20, store: over });
  };
  const w = await mount("w", "readwrite");
  /** The writer's tree (with contents), then, after closing everything, the same from a cold mount of the bucket. */
  const finish = async (expected?: Record<string, string>): Promise<void> => {
    const shown = treeLines(await snapshotTree(w));
    if (expected !== undefined) expect(shown).toEqual(treeLines(new Map(Object.entries(expected))));
    await Promise.all(managers.map((m) => m.close()));
    const cold = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cold-${++n}`) });
    try {
      const r = await cold.mount({ name: "cold", mode: "readonly", cacheBytes: 64 << 20, store: base });
      expect(treeLines(await snapshotTree(r))).toEqual(shown);
    } finally {
      await cold.close();
    }
  };
  return { store, base, w, mount, finish };
}

/**
 * Runs a transaction that stages `stage`, then waits (inside its callback) while `concurrently` runs and
 * commits outside it, then runs `after` and returns, so the transaction commits after the concurrent work.
 * The gate opens even when `concurrently` fails or hangs, so the transaction never stays parked.
 */
async function raced<T>(w: CachedFs, stage: (tx: Transaction) => Promise<T>, concurrently: () => Promise<unknown>, after: (tx: Transaction) => Promise<unknown> = async () => undefined): Promise<Settled<T>> {
  const staged = signal();
  const gate = signal();
  const txP = settle(
    w.transaction(async (tx) => {
      const v = await stage(tx);
      staged.fire();
      await gate.promise;
      await after(tx);
      return v;
    }),
  );
  try {
    await within(Promise.race([staged.promise, txP]), "staging the transaction");
    await within(concurrently(), "the concurrent commit while a transaction is open");
  } finally {
    gate.fire();
  }
  return within(txP, "the transaction's commit", OUTER_MS);
}

function expectConflict(r: Settled<unknown>, path: string, op: RegExp, reason: RegExp): void {
  if (r.ok) throw new Error(`the transaction committed; expected ECONFLICT at ${path}`);
  const e = r.error;
  expect(e).toBeInstanceOf(Error);
  expect({ code: e.code, conflict: e.conflict, path: e.path }).toEqual({ code: "ECONFLICT", conflict: true, path });
  expect(e.message).toContain(path);
  expect(e.message).toMatch(op);
  expect(e.message).toMatch(reason);
}

const file = (s: string) => `file:${s}`;

interface ConflictCase {
  name: string;
  setup: (w: CachedFs) => Promise<unknown>;
  stage: (tx: Transaction) => Promise<unknown>;
  concurrently: (w: CachedFs) => Promise<unknown>;
  path: string;
  op: RegExp;
  reason: RegExp;
  /** The tree afterwards: the setup plus the concurrent work, nothing of the transaction. */
  after: Record<string, string>;
}

const CONFLICTS: ConflictCase[] = [
  {
    name: "writeFile whose parent directory a concurrent write removed",
    setup: (w) => w.mkdir("/d"),
    stage: (tx) => tx.writeFile("/d/f", "tx"),
    concurrently: (w) => w.rm("/d", { recursive: true }),
    path: "/d/f",
    op: /write|open/i,
    reason: /ENOENT|no such file/i,
    after: {},
  },
  {
    name: "writeFile whose parent directory a concurrent transaction replaced by a file",
    setup: (w) => w.mkdir("/p"),
    stage: (tx) => tx.writeFile("/p/f", "tx"),
    concurrently: (w) =>
      w.transaction(async (tx) => {
        await tx.rm("/p", { recursive: true });
        await tx.writeFile("/p", "now a file");
      }),
    path: "/p/f",
    op: /write|open/i,
    reason: /ENOTDIR|not a directory/i,
    after: { "/p": file("now a file") },
  },
  {
    name: "appendFile whose parent directory was removed",
    setup: (w) => w.writeFile("/ad/log", "l0", { recursive: true }),
    stage: (tx) => tx.appendFile("/ad/log", "+tx"),
    concurrently: (w) => w.rm("/ad", { recursive: true }),
    path: "/ad/log",
    op: /append|open|write/i,
    reason: /ENOENT|no such file/i,
    after: {},
  },
  {
    name: "exclusive create (flag wx) whose target now exists",
    setup: async () => undefined,
    stage: (tx) => tx.writeFile("/x", "tx", { flag: "wx" }),
    concurrently: (w) => w.writeFile("/x", "concurrent"),
    path: "/x",
    op: /write|open/i,
    reason: /EEXIST|exists/i,
    after: { "/x": file("concurrent") },
  },
  {
    name: "rename whose source a concurrent write removed",
    setup: (w) => w.writeFile("/src", "s"),
    stage: (tx) => tx.rename("/src", "/dst"),
    concurrently: (w) => w.rm("/src"),
    path: "/src",
    op: /rename/i,
    reason: /ENOENT|no such file/i,
    after: {},
  },
  {
    name: "rename whose source a concurrent rename moved away",
    setup: (w) => w.writeFile("/r1", "r"),
    stage: (tx) => tx.rename("/r1", "/r2"),
    concurrently: (w) => w.rename("/r1", "/r3"),
    path: "/r1",
    op: /rename/i,
    reason: /ENOENT|no such file/i,
    after: { "/r3": file("r") },
  },
  {
    name: "copy whose source is gone",
    setup: (w) => w.writeFile("/cs", "c"),
    stage: (tx) => tx.copy("/cs", "/cd"),
    concurrently: (w) => w.rm("/cs"),
    path: "/cs",
    op: /copy/i,
    reason: /ENOENT|no such file/i,
    after: {},
  },
  {
    name: "rmdir of a directory that is now non-empty",
    setup: (w) => w.mkdir("/e"),
    stage: (tx) => tx.rmdir("/e"),
    concurrently: (w) => w.writeFile("/e/new", "n"),
    path: "/e",
    op: /rmdir/i,
    reason: /ENOTEMPTY|not empty/i,
    after: { "/e": "dir", "/e/new": file("n") },
  },
  {
    name: "mkdir whose name a concurrent write took",
    setup: async () => undefined,
    stage: (tx) => tx.mkdir("/m"),
    concurrently: (w) => w.writeFile("/m", "a file"),
    path: "/m",
    op: /mkdir/i,
    reason: /EEXIST|exists/i,
    after: { "/m": file("a file") },
  },
];

interface CleanCase {
  name: string;
  setup: (w: CachedFs) => Promise<unknown>;
  stage: (tx: Transaction) => Promise<unknown>;
  concurrently: (w: CachedFs) => Promise<unknown>;
  after: Record<string, string>;
}

/** Concurrent work that must not conflict: blind overwrites (the later commit wins), neighbours. */
const CLEAN: CleanCase[] = [
  {
    name: "a blind overwrite of a file a concurrent write also overwrote: the transaction commits later and wins",
    setup: (w) => w.writeFile("/b", "v0"),
    stage: (tx) => tx.writeFile("/b", "from the transaction"),
    concurrently: (w) => w.writeFile("/b", "from the mount"),
    after: { "/b": file("from the transaction") },
  },
  {
    name: "two transactions overwrite the same file: the later commit wins",
    setup: (w) => w.writeFile("/b", "v0"),
    stage: (tx) => tx.writeFile("/b", "later"),
    concurrently: (w) => w.transaction((tx) => tx.writeFile("/b", "earlier")),
    after: { "/b": file("later") },
  },
  {
    name: "a blind overwrite of a file created concurrently (no wx)",
    setup: async () => undefined,
    stage: (tx) => tx.writeFile("/new", "tx"),
    concurrently: (w) => w.writeFile("/new", "concurrent"),
    after: { "/new": file("tx") },
  },
  {
    name: "writes beside each other in one directory, and mkdir -p of a directory created concurrently",
    setup: (w) => w.mkdir("/d"),
    stage: async (tx) => {
      await tx.writeFile("/d/a", "tx");
      await tx.mkdir("/d/sub", { recursive: true });
      await tx.writeFile("/d/sub/t", "tx");
    },
    concurrently: async (w) => {
      await w.writeFile("/d/b", "mount");
      await w.mkdir("/d/sub", { recursive: true });
      await w.writeFile("/d/sub/m", "mount");
    },
    after: { "/d": "dir", "/d/a": file("tx"), "/d/b": file("mount"), "/d/sub": "dir", "/d/sub/t": file("tx"), "/d/sub/m": file("mount") },
  },
  {
    name: "a recursive writeFile whose parents a concurrent write removed: they are created again",
    setup: (w) => w.mkdir("/d"),
    stage: (tx) => tx.writeFile("/d/e/f", "tx", { recursive: true }),
    concurrently: (w) => w.rm("/d", { recursive: true }),
    after: { "/d": "dir", "/d/e": "dir", "/d/e/f": file("tx") },
  },
  {
    name: "appendFile to a file overwritten meanwhile: the bytes go after what is there at commit",
    setup: (w) => w.writeFile("/l", "l0"),
    stage: async (tx) => {
      await tx.appendFile("/l", "+tx");
      expect(await tx.readText("/l")).toBe("l0+tx");
    },
    concurrently: (w) => w.writeFile("/l", "l1"),
    after: { "/l": file("l1+tx") },
  },
  {
    name: "rm -r of a directory that gained files meanwhile: they go too",
    setup: (w) => w.writeFile("/r/old", "o", { recursive: true }),
    stage: (tx) => tx.rm("/r", { recursive: true }),
    concurrently: (w) => w.writeFile("/r/new", "n"),
    after: {},
  },
  {
    name: "rm -f of a file removed meanwhile",
    setup: (w) => w.writeFile("/g", "g"),
    stage: (tx) => tx.rm("/g", { force: true }),
    concurrently: (w) => w.rm("/g"),
    after: {},
  },
  {
    name: "rename of a file rewritten meanwhile: what is there at commit moves",
    setup: (w) => w.writeFile("/s", "s0"),
    stage: (tx) => tx.rename("/s", "/t"),
    concurrently: (w) => w.writeFile("/s", "s1"),
    after: { "/t": file("s1") },
  },
  {
    name: "rm of a file the transaction read, while a concurrent write changed another file",
    setup: async (w) => {
      await w.writeFile("/keep", "k0");
      await w.writeFile("/gone", "g");
    },
    stage: async (tx) => {
      expect(await tx.readText("/gone")).toBe("g");
      await tx.rm("/gone");
    },
    concurrently: (w) => w.writeFile("/keep", "k1"),
    after: { "/keep": file("k1") },
  },
];

for (const target of storeTargets(root, ["seaweedfs"])) {
  describe(`transactions on ${target.name}`, () => {
    test(
      "case 3: an awaited fs.writeFile inside a callback commits on its own, durably, before the transaction, which does not see it",
      async () => {
        const { w, mount, finish } = await setup(target, "inner-write");
        const r = await mount("r", "readonly");
        await w.writeFile("/base.txt", "base");
        const seq0 = w.seq;
        const v = await within(
          w.transaction(async (tx) => {
            await tx.writeFile("/tx.txt", "from the transaction");
            await within(w.writeFile("/outside.txt", "committed on its own"), "fs.writeFile inside a transaction callback");
            expect(w.seq).toBe(seq0 + 1);
            expect(await w.readText("/outside.txt")).toBe("committed on its own");
            expect(w.existsSync("/tx.txt")).toBe(false);
            // Durable when resolved: a reader refreshing from the bucket has it, and nothing of the transaction.
            await within(r.refresh(), "a reader's refresh");
            expect(await r.readText("/outside.txt")).toBe("committed on its own");
            expect(r.existsSync("/tx.txt")).toBe(false);
            // The transaction reads the state as of its start, plus its own writes.
            expect(tx.existsSync("/outside.txt")).toBe(false);
            expect(await tx.readText("/tx.txt")).toBe("from the transaction");
            expect(await tx.readText("/base.txt")).toBe("base");
            return "done";
          }),
          "the transaction",
          OUTER_MS,
        );
        expect(v).toBe("done");
        expect(w.seq).toBe(seq0 + 2);
        // The outside write is the older commit, the transaction the newer one.
        expect((await w.log({ limit: 2 })).map((e) => e.seq)).toEqual([seq0 + 2, seq0 + 1]);
        await within(r.refresh(), "a reader's refresh");
        expect(await r.readText("/tx.txt")).toBe("from the transaction");
        await finish({ "/base.txt": file("base"), "/outside.txt": file("committed on its own"), "/tx.txt": file("from the transaction") });
      },
      TEST_MS,
    );

    test(
      "case 3: fs.refresh() and fs.gc() inside a callback return",
      async () => {
        const { w, finish } = await setup(target, "inner-refresh-gc");
        await w.writeFile("/a", "a0");
        await w.writeFile("/a", "a1"); // something for gc to mark
        const seq0 = w.seq;
        await within(
          w.transaction(async (tx) => {
            await tx.writeFile("/t1", "1");
            const rr = await within(w.refresh(), "fs.refresh() inside a transaction callback");
            expect(rr.seq).toBe(seq0);
            const report = await within(w.gc({ graceMs: 60_000 }), "fs.gc() inside a transaction callback");
            expect(report.deleted).toBe(0);
            const dry = await within(w.gc({ graceMs: 0, dryRun: true }), "a dry-run fs.gc() inside a transaction callback");
            expect(dry.dryRun).toBe(true);
            await tx.writeFile("/t2", "2");
          }),
          "the transaction",
          OUTER_MS,
        );
        expect(w.seq).toBe(seq0 + 1);
        await finish({ "/a": file("a1"), "/t1": file("1"), "/t2": file("2") });
      },
      TEST_MS,
    );

    test(
      "a transaction that staged nothing (reads only, or only refused requests) commits nothing",
      async () => {
        const { w, finish } = await setup(target, "empty");
        await w.writeFile("/a", "a");
        const seq = w.seq;
        const r = await within(
          w.transaction(async (tx) => {
            expect(await tx.readText("/a")).toBe("a");
            const refused = await settle(tx.mkdir("/missing/x"));
            expect(refused.ok ? "resolved" : refused.error.code).toBe("ENOENT");
            return "read only";
          }),
          "the transaction",
          OUTER_MS,
        );
        expect(r).toBe("read only");
        expect(w.seq).toBe(seq);
        await finish({ "/a": file("a") });
      },
      TEST_MS,
    );

    test(
      "case 3: a nested fs.transaction is an independent transaction: it commits (or aborts) on its own",
      async () => {
        const { w, mount, finish } = await setup(target, "nested");
        const r = await mount("r", "readonly");
        const marker = new Error("the nested transaction throws");
        await within(
          w.transaction(async (outer) => {
            await outer.writeFile("/outer.txt", "outer");
            const v = await within(
              w.transaction(async (inner) => {
                // The outer transaction's staged writes are its own, not the inner one's.
                expect(inner.existsSync("/outer.txt")).toBe(false);
                await inner.writeFile("/inner.txt", "inner");
                return 42;
              }),
              "a nested fs.transaction",
            );
            expect(v).toBe(42);
            await within(r.refresh(), "a reader's refresh");
            expect(r.existsSync("/inner.txt")).toBe(true);
            expect(r.existsSync("/outer.txt")).toBe(false);
            expect(outer.existsSync("/inner.txt")).toBe(false);
            // A nested transaction that throws leaves nothing, and the outer one goes on.
            const aborted = await within(
              settle(
                w.transaction(async (inner) => {
                  await inner.writeFile("/aborted.txt", "x");
                  throw marker;
                }),
              ),
              "a nested fs.transaction that throws",
            );
            expect(aborted.ok ? "committed" : aborted.error).toBe(marker);
            await outer.writeFile("/outer2.txt", "after");
          }),
          "the outer transaction",
          OUTER_MS,
        );
        await finish({ "/inner.txt": file("inner"), "/outer.txt": file("outer"), "/outer2.txt": file("after") });
      },
      TEST_MS,
    );

    test(
      "snapshot isolation: commits made while a transaction is open are invisible inside it; its own writes are visible",
      async () => {
        const { w, finish } = await setup(target, "snapshot");
        await w.writeFile("/shared.txt", "v0");
        await w.mkdir("/dir");
        const before = treeLines(await snapshotTree(w));
        const views: string[][] = [];
        const r = await raced(
          w,
          async (tx) => {
            views.push(treeLines(await snapshotTree(tx)));
            await tx.writeFile("/dir/own.txt", "own");
          },
          async () => {
            await w.writeFile("/shared.txt", "v1 (concurrent)");
            await w.writeFile("/dir/new.txt", "new");
            await w.transaction((t) => t.writeFile("/other-tx.txt", "o"));
            await w.rm("/dir/new.txt");
            await w.writeFile("/dir/again.txt", "again");
            await w.writeFile("/late.txt", "late");
          },
          async (tx) => {
            views.push(treeLines(await snapshotTree(tx)));
            expect(await tx.readText("/shared.txt")).toBe("v0");
            expect(tx.statSync("/shared.txt").size).toBe(2);
            expect(tx.existsSync("/late.txt")).toBe(false);
            expect(tx.readdirSync("/dir")).toEqual(["own.txt"]);
            await tx.rename("/dir/own.txt", "/dir/moved.txt");
            expect(await tx.readText("/dir/moved.txt")).toBe("own");
            expect(tx.existsSync("/dir/own.txt")).toBe(false);
          },
        );
        if (!r.ok) throw r.error;
        expect(views).toEqual([before, [...before, "/dir/own.txt file:own"].sort()]);
        await finish({
          "/shared.txt": file("v1 (concurrent)"),
          "/dir": "dir",
          "/dir/again.txt": file("again"),
          "/dir/moved.txt": file("own"),
          "/other-tx.txt": file("o"),
          "/late.txt": file("late"),
        });
      },
      TEST_MS,
    );

    describe("conflicts: nothing is applied, ECONFLICT names the path", () => {
      for (const [i, c] of CONFLICTS.entries()) {
        test(
          c.name,
          async () => {
            const { w, finish } = await setup(target, `conflict-${i}`);
            await c.setup(w);
            let seqAfterConcurrent = -1;
            const r = await raced(
              w,
              async (tx) => {
                // Writes before and after the conflicting request: none of them may land.
                await tx.writeFile("/witness-before", "w");
                await tx.mkdir("/witness-dir");
                await c.stage(tx);
                await tx.writeFile("/witness-dir/after", "w");
              },
              async () => {
                await c.concurrently(w);
                seqAfterConcurrent = w.seq;
              },
            );
            expectConflict(r, c.path, c.op, c.reason);
            expect(w.seq).toBe(seqAfterConcurrent);
            // The writer goes on committing.
            await within(w.writeFile("/next", "n"), "the next write after a conflict");
            await finish({ ...c.after, "/next": file("n") });
          },
          TEST_MS,
        );
      }

      test(
        "a transaction conflicting with a concurrent transaction; the loser retries and commits",
        async () => {
          const { w, finish } = await setup(target, "conflict-tx");
          await w.mkdir("/q");
          const attempt = (k: number) =>
            raced(
              w,
              async (tx) => {
                if (!tx.existsSync("/q")) await tx.mkdir("/q");
                await tx.writeFile("/q/f", `attempt ${k}`);
              },
              k === 1 ? () => w.transaction((t) => t.rm("/q", { recursive: true })) : async () => undefined,
            );
          const first = await attempt(1);
          expectConflict(first, "/q/f", /write|open/i, /ENOENT|no such file/i);
          expect(w.existsSync("/q")).toBe(false);
          const second = await attempt(2);
          expect(second.ok).toBe(true);
          await finish({ "/q": "dir", "/q/f": file("attempt 2") });
        },
        TEST_MS,
      );
    });

    describe("no conflict", () => {
      for (const [i, c] of CLEAN.entries()) {
        test(
          c.name,
          async () => {
            const { w, finish } = await setup(target, `clean-${i}`);
            await c.setup(w);
            const r = await raced(w, c.stage, () => c.concurrently(w));
            if (!r.ok) throw r.error;
            await finish(c.after);
          },
          TEST_MS,
        );
      }
    });

    test(
      "a tx used after its callback settled rejects with EINVAL (committed, aborted, and a write left running)",
      async () => {
        const { w, finish } = await setup(target, "after-settle");
        let committed: Transaction | undefined;
        await within(
          w.transaction(async (tx) => {
            committed = tx;
            await tx.writeFile("/in.txt", "in");
          }),
          "the transaction",
          OUTER_MS,
        );
        let aborted: Transaction | undefined;
        const marker = new Error("abort");
        const a = await within(
          settle(
            w.transaction(async (tx) => {
              aborted = tx;
              await tx.writeFile("/aborted.txt", "x");
              throw marker;
            }),
          ),
          "the aborted transaction",
          OUTER_MS,
        );
        expect(a.ok ? "committed" : a.error).toBe(marker);
        let leaked: Promise<void> | undefined;
        await within(
          w.transaction(async (tx) => {
            await tx.writeFile("/kept.txt", "k");
            // Not awaited: runs after the callback returned.
            leaked = Bun.sleep(30).then(() => tx.writeFile("/leaked.txt", "x"));
          }),
          "the transaction leaving a write running",
          OUTER_MS,
        );
        const seq = w.seq;
        const calls: [string, (tx: Transaction) => Promise<unknown>][] = [
          ["writeFile", (tx) => tx.writeFile("/late.txt", "x")],
          ["appendFile", (tx) => tx.appendFile("/in.txt", "x")],
          ["mkdir", (tx) => tx.mkdir("/late-dir")],
          ["rm", (tx) => tx.rm("/in.txt")],
          ["rename", (tx) => tx.rename("/in.txt", "/moved.txt")],
          ["copy", (tx) => tx.copy("/in.txt", "/copied.txt")],
          ["readFile", (tx) => tx.readFile("/in.txt")],
          ["stat", (tx) => tx.stat("/in.txt")],
          ["readdir", (tx) => tx.readdir("/")],
        ];
        for (const [label, tx] of [
          ["committed", committed],
          ["aborted", aborted],
        ] as const) {
          if (tx === undefined) throw new Error("the callback did not run");
          for (const [what, call] of calls) {
            const r = await within(settle(call(tx)), `${what} on a finished transaction`);
            const got = r.ok ? "resolved" : `${r.error.code}: ${/already finished/.test(r.error.message) ? "already finished" : r.error.message}`;
            expect(`${label} tx.${what}: ${got}`).toBe(`${label} tx.${what}: EINVAL: already finished`);
          }
        }
        const l = await within(settle(leaked ?? Promise.reject(new Error("no leaked write"))), "the write left running");
        expect(l.ok ? "resolved" : l.error.code).toBe("EINVAL");
        expect(w.seq).toBe(seq);
        await finish({ "/in.txt": file("in"), "/kept.txt": file("k") });
      },
      TEST_MS,
    );

    test(
      "8 concurrent transactions and 40 mount-level writes all commit; the callbacks run at the same time",
      async () => {
        const { w, finish } = await setup(target, "concurrent");
        const N = 8;
        let inFlight = 0;
        let maxInFlight = 0;
        const seq0 = w.seq;
        const txs = Array.from({ length: N }, (_, i) =>
          w.transaction(async (tx) => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            try {
              for (let k = 0; k < 20; k++) await tx.writeFile(`/t${i}/f${k}`, `${i}:${k}`, { recursive: true });
              await Bun.sleep(30);
              await tx.writeFile("/last.txt", `t${i}`);
              return i;
            } finally {
              inFlight--;
            }
          }),
        );
        const writes = Array.from({ length: 40 }, (_, k) => w.writeFile(`/m/w${k}`, `m${k}`, { recursive: true }));
        const results = await within(Promise.all(txs), "8 concurrent transactions", OUTER_MS);
        await within(Promise.all(writes), "40 concurrent writes");
        expect(results).toEqual(Array.from({ length: N }, (_, i) => i));
        expect(maxInFlight).toBeGreaterThan(1);
        figure("transactions.concurrent", { target: target.name, maxCallbacksAtOnce: maxInFlight, commits: w.seq - seq0 });
        const expected: Record<string, string> = { "/m": "dir" };
        for (let i = 0; i < N; i++) {
          expected[`/t${i}`] = "dir";
          for (let k = 0; k < 20; k++) expected[`/t${i}/f${k}`] = file(`${i}:${k}`);
        }
        for (let k = 0; k < 40; k++) expected[`/m/w${k}`] = file(`m${k}`);
        const last = await w.readText("/last.txt");
        expect(Array.from({ length: N }, (_, i) => `t${i}`)).toContain(last);
        expected["/last.txt"] = file(last);
        await finish(expected);
      },
      TEST_MS,
    );

    test(
      "case 4: a transaction's data uploads while it is written, before the commit",
      async () => {
        const { w, store, finish } = await setup(target, "uploads");
        const seq0 = w.seq;
        const body = (i: number) => Buffer.alloc((2 << 20) + 1000 * i, `chunk ${i} `);
        await within(
          w.transaction(async (tx) => {
            const before = (await bucketUsage(store, ["packs/", "chunks/"])).objects;
            for (let i = 0; i < 6; i++) await tx.writeFile(`/up/f${i}`, body(i), { recursive: true });
            const deadline = Date.now() + HANG_MS;
            while ((await bucketUsage(store, ["packs/", "chunks/"])).objects === before) {
              if (Date.now() > deadline) throw new Error("nothing of the transaction reached the bucket before its commit");
              await Bun.sleep(20);
            }
            expect(w.seq).toBe(seq0);
          }),
          "the transaction",
          OUTER_MS,
        );
        const expected: Record<string, string> = { "/up": "dir" };
        for (let i = 0; i < 6; i++) expected[`/up/f${i}`] = file(body(i).toString("latin1"));
        await finish(expected);
      },
      TEST_MS,
    );

    test(
      "case 4: 32 × 8 MiB tx.writeFile in one transaction: peak RSS growth ≤ 96 MiB (what was written: 256 MiB)",
      async () => {
        const MiB = 1 << 20;
        const files = 32;
        const fileBytes = 8 * MiB;
        const dir = join(root, `memory-${++n}`);
        const store: StoreConfig =
          target.server === undefined
            ? { kind: "local", dir: join(dir, "bucket") }
            : { kind: "s3", endpoint: target.server.endpoint, bucket: target.server.bucket, prefix: uniquePrefix("tx-memory"), region: target.server.region, accessKeyId: target.server.accessKeyId, secretAccessKey: target.server.secretAccessKey };
        const child = spawnFixture("tx-memory.ts", { store, cacheRoot: dir, files, fileBytes });
        const code = await within(child.exited, "the memory child", 80_000);
        const last = child.lines.filter((l) => l.startsWith("{")).pop();
        if (code !== 0 || last === undefined) throw new Error(`the memory child exited ${code}: ${child.stderr.slice(-8).join(" | ")}`);
        const r = JSON.parse(last) as { growth: number; baselineRss: number; ns: number; peakSource: string; sizes: number[]; intact: boolean };
        figure("transactions.memory", { target: target.name, written: `${(files * fileBytes) / MiB} MiB`, growthMiB: +(r.growth / MiB).toFixed(1), baselineMiB: +(r.baselineRss / MiB).toFixed(1), seconds: +(r.ns / 1e9).toFixed(2), peak: r.peakSource });
        expect(r.sizes).toEqual(Array.from({ length: files }, () => fileBytes));
        expect(r.intact).toBe(true);
        expect(r.growth).toBeLessThanOrEqual(96 * MiB);
      },
      TEST_MS,
    );

    test(
      "a failed commit fails only its own writes; the open transaction and later writes commit",
      async () => {
        const { w, store, finish } = await setup(target, "fault", (s) => s.failing(11));
        const failing = store as ReturnType<ObjectStore["failing"]>;
        await w.writeFile("/before", "b");
        const r = await raced(
          w,
          (tx) => tx.writeFile("/tx", "t"),
          async () => {
            failing.addFailRule({ action: "error", kinds: ["put"], keyContains: "heads/", status: 403, code: "AccessDenied", times: 1 });
            const failed = await settle(w.writeFile("/refused", "r"));
            failing.clearFailRules();
            expect(failed.ok).toBe(false);
            await within(w.writeFile("/after", "a"), "a write after a failed commit");
          },
        );
        if (!r.ok) throw r.error;
        const later = await within(Promise.all(Array.from({ length: 5 }, (_, i) => w.writeFile(`/later${i}`, `${i}`))), "writes after a failed commit");
        expect(later.length).toBe(5);
        const expected: Record<string, string> = { "/before": file("b"), "/tx": file("t"), "/after": file("a") };
        for (let i = 0; i < 5; i++) expected[`/later${i}`] = file(`${i}`);
        await finish(expected);
      },
      TEST_MS,
    );
  });
}
