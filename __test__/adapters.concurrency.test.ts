// Adapters own their transactions (issue 11): each just-bash / Flue exec runs in a transaction of its own,
// so a write made through the shared filesystem or the sandbox beside a running exec commits on its own,
// resolves once durable (not when the exec ends) and is never lost with the exec; concurrent execs run
// concurrently and each commits its own writes; a failing script keeps its writes, an aborted or timed-out
// one leaves no trace. Every "present" check is made on a cold mount of the bucket (its own cache).
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { acceleratedFsSandbox, type AcceleratedFsSandbox } from "../js/flue.ts";
import { createAcceleratedJustBashShell, type AcceleratedJustBashShell } from "../js/just-bash.ts";
import { removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const root = tempDir("adapters-concurrency");
afterAll(() => removeDir(root));
let n = 0;
const cacheRoot = () => join(root, `cache-${++n}`);

/** A readwrite mount of `store` with its own manager and cache. */
async function writer(store: ObjectStore): Promise<{ fs: CachedFs; close: () => Promise<void> }> {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: cacheRoot() });
  const fs = await manager.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store });
  return { fs, close: () => manager.close() };
}

/** Opens a fresh readonly mount of the bucket (its own cache: nothing local is reused), runs `fn` on it. */
async function cold<T>(store: ObjectStore, fn: (reader: CachedFs) => Promise<T>): Promise<T> {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: cacheRoot() });
  try {
    return await fn(await manager.mount({ name: "cold", mode: "readonly", cacheBytes: 64 << 20, store }));
  } finally {
    await manager.close();
  }
}

const tryRead = (fs: CachedFs, path: string): Promise<string | undefined> => fs.readText(path).catch(() => undefined);

/** The two ways in: a Flue sandbox (exec + writeFile) and a just-bash shell (exec + fs.writeFile). */
interface Adapter {
  name: string;
  open(fs: CachedFs): Promise<{
    exec(script: string, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<{ stdout: string; stderr: string; exitCode: number; committed: boolean; commitError?: Error }>;
    writeFile(path: string, content: string): Promise<void>;
    rm(path: string): Promise<void>;
    /** Where relative paths land. */
    cwd: string;
  }>;
}

const ADAPTERS: Adapter[] = [
  {
    name: "Flue sandbox",
    async open(fs) {
      const sb: AcceleratedFsSandbox = await acceleratedFsSandbox({ cwd: "/ws", mount: fs }).createSandbox({ id: "x" });
      return { exec: (s, o) => sb.exec(s, o), writeFile: (p, c) => sb.writeFile(p, c), rm: (p) => sb.rm(p), cwd: "/ws" };
    },
  },
  {
    name: "just-bash shell",
    async open(fs) {
      const shell: AcceleratedJustBashShell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: "/ws" });
      return { exec: (s, o) => shell.exec(s, o), writeFile: (p, c) => shell.fs.writeFile(`/ws/${p}`, c), rm: (p) => shell.fs.rm(`/ws/${p}`), cwd: "/ws" };
    },
  },
];

for (const target of storeTargets(root, ["seaweedfs"])) {
  for (const adapter of ADAPTERS) {
    describe(`${adapter.name} on ${target.name}`, () => {
      test("a write acknowledged while a failing exec runs survives a cold remount", async () => {
        const store = await target.open("ack");
        const w = await writer(store);
        const a = await adapter.open(w.fs);
        const exec = a.exec("sleep 0.3; echo x > /dev/foo");
        await Bun.sleep(50);
        await a.writeFile("six.txt", "acknowledged");
        const r = await exec;
        // Whatever the exec reports, it reports it (no throw): a failed redirect is exit 1 with stderr.
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toContain("/dev/foo: Read-only file system");
        await w.close();
        expect(await cold(store, (c) => tryRead(c, "/ws/six.txt"))).toBe("acknowledged");
      }, 30_000);

      test("a write beside a 1 s exec resolves once durable, in about one commit, not after the exec", async () => {
        const store = await target.open("durable");
        const w = await writer(store);
        const a = await adapter.open(w.fs);
        let execDone = false;
        const exec = a.exec("sleep 1; echo late > late.txt").then((r) => ((execDone = true), r));
        await Bun.sleep(50);
        const started = performance.now();
        await a.writeFile("four.txt", "durable");
        const took = performance.now() - started;
        expect(execDone).toBe(false);
        expect(took).toBeLessThan(600);
        // Durable, not merely staged: another machine's reader sees it now, while the exec still runs.
        const seen = await cold(store, (c) => tryRead(c, "/ws/four.txt"));
        expect(seen).toBe("durable");
        expect(execDone).toBe(false);
        const r = await exec;
        expect(r).toMatchObject({ exitCode: 0, committed: true });
        await w.close();
        expect(await cold(store, async (c) => [await tryRead(c, "/ws/four.txt"), await tryRead(c, "/ws/late.txt")])).toEqual(["durable", "late\n"]);
      }, 30_000);

      test("concurrent execs run concurrently, each committing its own writes; a failing one keeps its writes", async () => {
        const store = await target.open("concurrent");
        const w = await writer(store);
        const a = await adapter.open(w.fs);
        const commits = w.fs.stats().commits;
        const started = performance.now();
        // Run one after another these take at least 1.2 s; together about 0.4 s.
        const results = await Promise.all([1, 2, 3].map((i) => a.exec(`echo ${i} > c${i}.txt; sleep 0.4; echo done${i} >> c${i}.txt; ${i === 2 ? "exit 3" : "true"}`)));
        const elapsed = performance.now() - started;
        expect(elapsed).toBeLessThan(1_000);
        expect(results.map((r) => [r.exitCode, r.committed])).toEqual([
          [0, true],
          [3, true],
          [0, true],
        ]);
        // Three transactions; concurrent ones may share a group commit, never more than one each.
        expect(w.fs.stats().commits - commits).toBeGreaterThanOrEqual(1);
        expect(w.fs.stats().commits - commits).toBeLessThanOrEqual(3);
        // Each timeout counts from when its command starts: three 0.3 s commands issued together, each with
        // 0.5 s, all finish (one after another, the later ones would be reported as timed out).
        const timed = await Promise.all([1, 2, 3].map((i) => a.exec(`sleep 0.3; echo t${i} > t${i}.txt`, { timeoutMs: 500 })));
        expect(timed.map((r) => r.exitCode)).toEqual([0, 0, 0]);
        await w.close();
        const files = await cold(store, async (c) => Promise.all(["c1", "c2", "c3", "t1", "t2", "t3"].map((f) => tryRead(c, `/ws/${f}.txt`))));
        expect(files).toEqual(["1\ndone1\n", "2\ndone2\n", "3\ndone3\n", "t1\n", "t2\n", "t3\n"]);
      }, 30_000);

      test("an exec whose commit conflicts reports it (non-zero exit, stderr, committed: false) and applies nothing", async () => {
        const store = await target.open("conflict");
        const w = await writer(store);
        const a = await adapter.open(w.fs);
        await a.writeFile("a.txt", "a");
        await a.writeFile("keep.txt", "keep");
        // The script renames a.txt (present in its snapshot); meanwhile a.txt is removed and that commits first.
        const exec = a.exec("echo side > side.txt; sleep 0.3; mv a.txt b.txt; echo moved");
        await Bun.sleep(50);
        await a.rm("a.txt");
        const r = await exec;
        expect(r.stdout).toBe("moved\n");
        expect(r.exitCode).toBe(1);
        expect(r.committed).toBe(false);
        expect(r.stderr).toContain("Nothing this command wrote was committed");
        expect((r.commitError as Error & { code?: string }).code).toBe("ECONFLICT");
        await w.close();
        expect(await cold(store, async (c) => c.readdir("/ws"))).toEqual(["keep.txt"]);
      }, 30_000);

      test("an aborted exec and a timed-out exec leave no trace", async () => {
        const store = await target.open("abort");
        const w = await writer(store);
        const a = await adapter.open(w.fs);
        const seq = w.fs.seq;
        const controller = new AbortController();
        const aborted = a.exec("echo gone > gone.txt; mkdir -p d/e; sleep 5; echo later > later.txt", { signal: controller.signal });
        setTimeout(() => controller.abort(new Error("stop")), 150);
        const outcome = await aborted.then(
          (r) => ({ resolved: r }),
          (e: unknown) => ({ rejected: e }),
        );
        if ("rejected" in outcome) {
          // Flue's contract: an aborted exec rejects with an AbortError.
          expect(adapter.name).toBe("Flue sandbox");
          expect((outcome.rejected as DOMException).name).toBe("AbortError");
        } else {
          expect(outcome.resolved).toMatchObject({ exitCode: 124, committed: false });
        }
        const timedOut = await a.exec("echo before > timed.txt; sleep 5", { timeoutMs: 150 });
        expect(timedOut).toMatchObject({ exitCode: 124, committed: false });
        // Give a rollback still under way every chance to (wrongly) publish something.
        await Bun.sleep(300);
        expect(w.fs.seq).toBe(seq);
        for (const p of ["/ws/gone.txt", "/ws/d", "/ws/later.txt", "/ws/timed.txt"]) expect(w.fs.existsSync(p)).toBe(false);
        await w.close();
        expect(await cold(store, async (c) => c.readdir("/ws"))).toEqual([]);
      }, 30_000);
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// No long JS-thread stalls: whole-tree traversals list the tree off the JS thread and visit it in slices.

/** Runs `fn` while a 1 ms timer measures the longest gap between its ticks (the longest event-loop stall). */
async function longestStall<T>(fn: () => Promise<T> | T): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let longest = 0;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  };
  const timer = setInterval(tick, 1);
  try {
    const result = await fn();
    tick();
    return { result, stallMs: longest };
  } finally {
    clearInterval(timer);
  }
}

/**
 * `longestStall`, run up to three times while the stall is above `bound`: a synchronous walk stalls on every
 * run, while a single hiccup of a loaded machine (another process, a GC) should not fail the test.
 */
async function quietestStall<T>(bound: number, fn: () => Promise<T> | T): Promise<{ result: T; stallMs: number }> {
  let best = await longestStall(fn);
  for (let i = 1; i < 3 && best.stallMs >= bound; i++) {
    const again = await longestStall(fn);
    if (again.stallMs < best.stallMs) best = again;
  }
  return best;
}

describe("whole-tree traversals over 100,000 entries (LocalObjectStore)", () => {
  // The goal is 20 ms. A synchronous walk holds the thread 250-450 ms here; the adapters' own slices stay
  // under ~10 ms, but the core's asynchronous listing still spends 10-40 ms (up to ~80 ms on a first,
  // cold call) on the JS thread turning 100,000 names into strings and Dirents. The bound leaves room for
  // that and for a loaded 2-core machine, and still fails on any synchronous whole-tree walk.
  const STALL_BOUND_MS = 100;
  const DIRS = 1000;
  const PER_DIR = 99; // one text file and 98 binary ones per directory
  let store: ObjectStore;
  let w: { fs: CachedFs; close: () => Promise<void> };

  test("setup: one transaction writes the tree", async () => {
    const local = storeTargets(root, [])[0];
    if (local === undefined) throw new Error("no LocalObjectStore target");
    store = await local.open("stall");
    w = await writer(store);
    await w.fs.transaction(async (tx) => {
      for (let d = 0; d < DIRS; d++) {
        await tx.mkdir(`/d${d}`);
        await tx.writeFile(`/d${d}/note.txt`, d % 100 === 0 ? "needle here\n" : "hay\n");
        for (let f = 1; f < PER_DIR; f++) await tx.writeFile(`/d${d}/f${f}.dat`, "x");
      }
    });
    expect(w.fs.readdirSync("/", { recursive: true })).toHaveLength(DIRS * (PER_DIR + 1));
  }, 60_000);

  test("Mastra walk, recursive readdir and grep", async () => {
    const { AcceleratedFS } = await import("../js/mastra.ts");
    const mastra = new AcceleratedFS({ id: "stall", fs: w.fs });
    await mastra.init();
    const walk = await quietestStall(STALL_BOUND_MS, () => mastra.walk("."));
    expect(walk.result).toHaveLength(DIRS * (PER_DIR + 1));
    expect(walk.stallMs).toBeLessThan(STALL_BOUND_MS);
    const list = await quietestStall(STALL_BOUND_MS, () => mastra.readdir(".", { recursive: true }));
    expect(list.result).toHaveLength(DIRS * (PER_DIR + 1));
    expect(list.stallMs).toBeLessThan(STALL_BOUND_MS);
    const grep = await quietestStall(STALL_BOUND_MS, () => mastra.grep({ pattern: "needle", path: ".", caseSensitive: true, includeHidden: false }));
    expect(grep.result.map((r) => r.path).sort()).toEqual(Array.from({ length: DIRS / 100 }, (_, i) => `d${i * 100}/note.txt`).sort());
    expect(grep.stallMs).toBeLessThan(STALL_BOUND_MS);
  }, 60_000);

  test("just-bash getAllPaths: indexed off the JS thread before the script, then answered from memory", async () => {
    const shell = await createAcceleratedJustBashShell({ filesystem: w.fs, cwd: "/" });
    const view = shell.fs.view();
    const indexed = await quietestStall(STALL_BOUND_MS, () => view.indexPaths());
    expect(indexed.stallMs).toBeLessThan(STALL_BOUND_MS);
    const all = await quietestStall(STALL_BOUND_MS, () => view.getAllPaths());
    expect(all.result).toHaveLength(DIRS * (PER_DIR + 1) + 1);
    expect(all.stallMs).toBeLessThan(STALL_BOUND_MS);
    await w.close();
  }, 60_000);
});
