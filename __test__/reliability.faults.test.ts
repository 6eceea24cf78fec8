// Issue 7, part 1: the fault matrix. For each remote step of a commit (data: packs/ and chunks/; the WAL
// record; the snapshot some commits carry; the head) × each fault (an error before the write, the write done
// but its response lost, a timeout, the process SIGKILLed mid-commit), the bucket afterwards holds the last
// acknowledged state, or — where the outcome was ambiguous — that state plus the in-flight commit whole;
// never a mix, and no acknowledged commit is lost. A fresh cacheRoot checks the bucket; the writer then
// commits again (liveness) and a remount of its own cacheRoot must agree.
//
// Faults come from the engine's failing store over LocalObjectStore, and for network faults from a TCP
// proxy (fixtures/fault-proxy.ts) in front of SeaweedFS. SIGKILL runs a child `bun` (fixtures/crash-writer.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, S3ObjectStore, type CachedFs, type FailRule, type ObjectStore } from "../js/core.ts";
import { startFaultProxy, type FaultProxy, type ProxyAction } from "./fixtures/fault-proxy.ts";
import { applyCommit, expectedTree, type StoreConfig } from "./fixtures/workload.ts";
import { fastTempDir, figure, killAllChildren, parseLine, recordError, snapshotTree, spawnFixture, sleep, treeLines, checkSecretsAfterAll } from "./helpers/reliability.ts";
import { s3TestServers, uniquePrefix } from "./helpers/servers.ts";
import { removeDir } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("faults");
const tally = { cases: 0, faultsInjected: 0, kills: 0, ambiguous: 0, acked: 0, refused: 0 };
afterAll(async () => {
  await killAllChildren();
  removeDir(root);
  figure("faults.cases", tally);
});

/** Commits that carry a chunked file (commit 4 is the one in flight). */
const BIG = new Set([2, 4]);
const ACKED = 3;
const S = (n: number, extra: number[] = []) => treeLines(expectedTree([...Array.from({ length: n }, (_, i) => i + 1), ...extra], BIG));

let n = 0;
function manager(): { cacheRoot: string; manager: S3CachedFsManagerImpl } {
  const cacheRoot = join(root, `cache-${++n}`);
  return { cacheRoot, manager: new S3CachedFsManagerImpl({ cacheRoot }) };
}

async function freshTree(store: ObjectStore): Promise<string[]> {
  const m = manager();
  const r = await m.manager.mount({ name: "check", mode: "readonly", cacheBytes: 64 << 20, store });
  try {
    return treeLines(await snapshotTree(r));
  } finally {
    await m.manager.close();
  }
}

type Outcome = "acked" | "error";

/**
 * The checks after a fault on commit 4: the bucket holds S3, or S4 when acked (or when the outcome was
 * ambiguous); the writer commits 5 afterwards; the bucket, the writer and a remount of the writer's own
 * cacheRoot all agree on S3+5 or S4+5, with every acknowledged commit present.
 */
async function checkAfterFault(opts: {
  base: ObjectStore;
  writer: CachedFs;
  writerManager: S3CachedFsManagerImpl;
  writerCacheRoot: string;
  writerStore: ObjectStore;
  outcome: Outcome;
  ambiguous: boolean;
  label: string;
}): Promise<void> {
  const { base, writer, outcome, ambiguous, label } = opts;
  const bucket = await freshTree(base);
  const allowed = outcome === "acked" ? [S(4)] : ambiguous ? [S(3), S(4)] : [S(3)];
  if (!allowed.some((a) => Bun.deepEquals(a, bucket))) {
    throw new Error(`${label}: after the fault (${outcome}) the bucket holds neither allowed state:\n${bucket.join("\n")}\nallowed:\n${allowed.map((a) => a.join("\n")).join("\n---\n")}`);
  }
  const had4 = Bun.deepEquals(bucket, S(4));
  if (outcome === "error" && had4) tally.ambiguous++;
  // Liveness: the same writer commits again, and everyone agrees.
  try {
    await applyCommit(writer, 5, false);
  } catch (e) {
    recordError(e, label);
    throw new Error(`${label}: after the fault (${outcome}, bucket at ${had4 ? "S4" : "S3"}) the writer cannot commit again: ${(e as Error).message}`);
  }
  const expected = S(had4 ? 4 : 3, [5]);
  expect(treeLines(await snapshotTree(writer))).toEqual(expected);
  expect(await freshTree(base)).toEqual(expected);
  await opts.writerManager.close();
  const again = new S3CachedFsManagerImpl({ cacheRoot: opts.writerCacheRoot });
  const w2 = await again.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store: opts.writerStore });
  expect(treeLines(await snapshotTree(w2))).toEqual(expected);
  await again.close();
}

// ---------------------------------------------------------------------------------------------------
// The failing store over LocalObjectStore

const STEPS = [
  { step: "packs/", what: "data upload (pack)" },
  { step: "chunks/", what: "data upload (chunk)" },
  { step: "wal/", what: "WAL record" },
  { step: "snapshots/", what: "snapshot" },
  { step: "heads/", what: "head" },
] as const;

interface Fault {
  name: string;
  rules: (step: string) => FailRule[];
  /** Rules in `rules` that fire (for the tally) when the commit runs through them. */
  fires: number;
  /** The write may have happened without an acknowledgement. */
  ambiguous: boolean;
  /** What the commit must report, when it is determined. */
  expect?: Outcome;
}

const FAULTS: Fault[] = [
  {
    name: "error before the write (403, not retried)",
    rules: (step) => [{ action: "error", kinds: ["put"], keyContains: step, status: 403, code: "AccessDenied", times: 1 }],
    fires: 1,
    ambiguous: false,
    expect: "error",
  },
  {
    name: "error before the write on every attempt (503 SlowDown x 8)",
    rules: (step) => [{ action: "transient", kinds: ["put"], keyContains: step, status: 503, code: "SlowDown", times: 8 }],
    fires: 8,
    ambiguous: false,
    expect: "error",
  },
  {
    name: "error before the write on 7 attempts in a row (503; the 8th and last attempt goes through)",
    rules: (step) => [{ action: "transient", kinds: ["put"], keyContains: step, status: 503, code: "SlowDown", times: 7 }],
    fires: 7,
    ambiguous: false,
    expect: "acked",
  },
  {
    name: "write done, response lost once",
    rules: (step) => [{ action: "lostResponse", kinds: ["put"], keyContains: step, times: 1 }],
    fires: 1,
    ambiguous: true,
    expect: "acked",
  },
  {
    name: "write done, response lost on every attempt (x 8)",
    rules: (step) => [{ action: "lostResponse", kinds: ["put"], keyContains: step, times: 8 }],
    fires: 8,
    ambiguous: true,
  },
  {
    name: "timeout: 1.5 s delay, then an error; the retry goes through",
    rules: (step) => [
      { action: "delay", kinds: ["put"], keyContains: step, delayMs: 1500, times: 1 },
      { action: "transient", kinds: ["put"], keyContains: step, status: 504, code: "RequestTimeout", times: 1 },
    ],
    fires: 2,
    ambiguous: true,
    expect: "acked",
  },
  {
    name: "timeout after the write on every attempt (150 ms delay, then response lost, x 8)",
    rules: (step) => [
      { action: "delay", kinds: ["put"], keyContains: step, delayMs: 150, times: 8 },
      { action: "lostResponse", kinds: ["put"], keyContains: step, times: 8 },
    ],
    fires: 16,
    ambiguous: true,
  },
];

// The cases are independent (own bucket dir, own cacheRoot) and mostly wait on injected delays and
// backoff, so they run concurrently.
describe.concurrent("fault matrix: failing store over LocalObjectStore", () => {
  for (const { step, what } of STEPS) {
    for (const fault of FAULTS) {
      test(`${what} (${step}) x ${fault.name}`, async () => {
        const base = new LocalObjectStore(join(root, `bucket-${++n}`));
        const failing = base.failing(7 + n);
        const { cacheRoot, manager: m } = manager();
        const w = await m.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store: failing, snapshotEvery: 4 });
        for (let i = 1; i <= ACKED; i++) await applyCommit(w, i, BIG.has(i));
        for (const r of fault.rules(step)) failing.addFailRule(r);
        let outcome = "acked" as Outcome;
        await applyCommit(w, 4, BIG.has(4)).catch((e: unknown) => {
          recordError(e, `${step} ${fault.name}`);
          outcome = "error";
        });
        failing.clearFailRules();
        tally.cases++;
        tally.faultsInjected += fault.fires;
        if (outcome === "acked") tally.acked++;
        else tally.refused++;
        if (fault.expect !== undefined) expect(`${step}: ${outcome}`).toBe(`${step}: ${fault.expect}`);
        await checkAfterFault({ base, writer: w, writerManager: m, writerCacheRoot: cacheRoot, writerStore: failing, outcome, ambiguous: fault.ambiguous, label: `${step} ${fault.name}` });
      }, 30_000);
    }
  }

  // Regression test for bug #1: after a head PUT whose outcome stays unknown (response lost, and the
  // read-back of the head fails too), the commit is reported failed while the bucket may have it. The
  // writer used to keep its stale head ETag, so every later commit failed with EPRECONDITION until a
  // remount; it must resynchronise with the bucket and go on committing.
  test("regression #1: head written, response lost and the read-back fails: the writer must recover", async () => {
    const base = new LocalObjectStore(join(root, `bucket-${++n}`));
    const failing = base.failing(99);
    const { cacheRoot, manager: m } = manager();
    const w = await m.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store: failing, snapshotEvery: 4 });
    for (let i = 1; i <= ACKED; i++) await applyCommit(w, i, BIG.has(i));
    failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "heads/", times: 8 });
    failing.addFailRule({ action: "transient", kinds: ["get"], keyContains: "heads/", status: 503, code: "SlowDown", times: 8 });
    let outcome = "acked" as Outcome;
    await applyCommit(w, 4, BIG.has(4)).catch((e: unknown) => {
      recordError(e, "regression #1");
      outcome = "error";
    });
    failing.clearFailRules();
    tally.cases++;
    tally.faultsInjected += 16;
    await checkAfterFault({ base, writer: w, writerManager: m, writerCacheRoot: cacheRoot, writerStore: failing, outcome, ambiguous: true, label: "head lost + read-back failed" });
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------
// SIGKILL mid-commit: a child writer stalls at one step and is killed there.

interface KillCase {
  name: string;
  rules: FailRule[];
  /** What the bucket must hold afterwards. */
  expectCommitted: boolean;
  /** Objects that must (or must not) be in the bucket, proving where the child was killed. */
  proof: (keys: string[]) => void;
}

const newKeys = (keys: string[], prefix: string) => keys.filter((k) => k.startsWith(prefix));

const KILLS: KillCase[] = [
  {
    name: "data upload (pack)",
    rules: [{ action: "delay", kinds: ["put"], keyContains: "packs/", delayMs: 60_000 }],
    expectCommitted: false,
    proof: (keys) => expect(newKeys(keys, "wal/").length).toBe(ACKED),
  },
  {
    name: "data upload (chunk)",
    rules: [{ action: "delay", kinds: ["put"], keyContains: "chunks/", delayMs: 60_000 }],
    expectCommitted: false,
    proof: (keys) => expect(newKeys(keys, "wal/").length).toBe(ACKED),
  },
  {
    name: "WAL record",
    rules: [{ action: "delay", kinds: ["put"], keyContains: "wal/", delayMs: 60_000 }],
    expectCommitted: false,
    proof: (keys) => expect(newKeys(keys, "wal/").length).toBe(ACKED),
  },
  {
    name: "snapshot (after the WAL record)",
    rules: [{ action: "delay", kinds: ["put"], keyContains: "snapshots/", delayMs: 60_000 }],
    expectCommitted: false,
    proof: (keys) => {
      expect(newKeys(keys, "wal/").length).toBe(ACKED + 1);
      expect(newKeys(keys, "snapshots/").length).toBe(0);
    },
  },
  {
    name: "head, before it is written",
    rules: [{ action: "delay", kinds: ["put"], keyContains: "heads/", delayMs: 60_000 }],
    expectCommitted: false,
    proof: (keys) => {
      expect(newKeys(keys, "wal/").length).toBe(ACKED + 1);
      expect(newKeys(keys, "snapshots/").length).toBe(1);
    },
  },
  {
    name: "head written, killed before the acknowledgement",
    rules: [
      { action: "lostResponse", kinds: ["put"], keyContains: "heads/", times: 1 },
      { action: "delay", kinds: ["get"], keyContains: "heads/", delayMs: 60_000 },
    ],
    expectCommitted: true,
    proof: (keys) => expect(newKeys(keys, "wal/").length).toBe(ACKED + 1),
  },
];

async function killMidCommit(store: StoreConfig, base: ObjectStore, c: KillCase, stalled: () => Promise<void>): Promise<void> {
  const cacheRoot = join(root, `child-cache-${++n}`);
  const child = spawnFixture("crash-writer.ts", { store, cacheRoot, name: "w", acked: ACKED, big: [...BIG], rules: c.rules, seed: n });
  const acks: number[] = [];
  await child.waitFor((l) => l.startsWith("inflight"), 60_000);
  for (const l of child.lines) if (l.startsWith("ack")) acks.push(parseLine<{ i: number }>(l).data.i);
  await stalled();
  child.kill("SIGKILL");
  tally.kills++;
  tally.cases++;
  const code = await child.exited;
  expect(child.proc.signalCode).toBe("SIGKILL");
  expect(code).not.toBe(0);
  expect(child.lines.filter((l) => l.startsWith("ack")).length).toBe(ACKED);
  expect(acks).toEqual([1, 2, 3]);
  const keys = (await base.list("")).objects.map((o) => o.key);
  c.proof(keys);
  const want = c.expectCommitted ? S(4) : S(3);
  // A fresh cacheRoot sees exactly the last acknowledged state (or the in-flight commit whole).
  expect(await freshTree(base)).toEqual(want);
  // The child's own cacheRoot (killed mid-transaction) remounts readwrite, agrees, and commits on.
  const again = new S3CachedFsManagerImpl({ cacheRoot });
  const w = await again.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store: base });
  expect(treeLines(await snapshotTree(w))).toEqual(want);
  await applyCommit(w, 5, false);
  const expected = S(c.expectCommitted ? 4 : 3, [5]);
  expect(treeLines(await snapshotTree(w))).toEqual(expected);
  await again.close();
  expect(await freshTree(base)).toEqual(expected);
}

describe("fault matrix: SIGKILL mid-commit (child bun process, LocalObjectStore)", () => {
  for (const c of KILLS) {
    test(`killed during: ${c.name}`, async () => {
      const dir = join(root, `bucket-${++n}`);
      // The stall is 60 s; 600 ms is ample for the child to reach it (the bucket's contents prove it did).
      await killMidCommit({ kind: "local", dir }, new LocalObjectStore(dir), c, () => sleep(600));
    }, 60_000);
  }
});

// ---------------------------------------------------------------------------------------------------
// Network faults between the S3 client and SeaweedFS, through the fault proxy.

for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
  describe.concurrent(`fault matrix: network faults through a TCP proxy in front of ${server.name}`, () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startFaultProxy({ upstreamPort, seed: 17 });
    });
    const upstreamPort = Number(new URL(server.endpoint).port);
    const config = (prefix: string, endpoint: string): StoreConfig => ({
      kind: "s3",
      endpoint,
      bucket: server.bucket,
      prefix,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    });
    const connect = (prefix: string, endpoint: string) =>
      S3ObjectStore.connect({ bucket: server.bucket, prefix, region: server.region, endpoint, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } });

    afterAll(() => proxy?.stop());

    const NET_STEPS = [
      { step: "/packs/", what: "pack" },
      { step: "/chunks/", what: "chunk" },
      { step: "/wal/", what: "WAL record" },
      { step: "/heads/", what: "head" },
    ];
    const NET_FAULTS: { action: ProxyAction; name: string; ambiguous: boolean; extra?: { bytes?: number; delayMs?: number } }[] = [
      { action: "reset", name: "connection reset before the request", ambiguous: false },
      { action: "dropAfterBytes", name: "connection dropped after 200 bytes of the request", ambiguous: false, extra: { bytes: 200 } },
      { action: "lostResponse", name: "request served, connection dropped before the response", ambiguous: true },
      { action: "delay", name: "timeout: held, then dropped", ambiguous: true },
    ];

    for (const { step, what } of NET_STEPS) {
      for (const f of NET_FAULTS) {
        for (const times of [1, 8]) {
          test(`${what} PUT x ${f.name} x ${times === 1 ? "once (retried)" : "every attempt"}`, async () => {
            const prefix = uniquePrefix(`net-${what}-${f.action}`);
            const base = await connect(prefix, server.endpoint);
            const viaProxy = await connect(prefix, proxy.endpoint);
            const { cacheRoot, manager: m } = manager();
            const w = await m.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store: viaProxy, snapshotEvery: 1000 });
            for (let i = 1; i <= ACKED; i++) await applyCommit(w, i, BIG.has(i));
            // Rules are scoped to this case's prefix: the cases share the proxy and run concurrently.
            const scoped = `/${prefix}${step.slice(1)}`;
            const delayMs = f.action === "delay" ? (times === 1 ? 1000 : 200) : undefined;
            proxy.addRule({ action: f.action, method: "PUT", pathContains: scoped, times, delayMs, ...f.extra });
            let outcome = "acked" as Outcome;
            await applyCommit(w, 4, BIG.has(4)).catch((e: unknown) => {
              recordError(e, `net ${step} ${f.action}`);
              outcome = "error";
            });
            const fired = proxy.events.filter((e) => e.target.includes(scoped)).length;
            tally.cases++;
            tally.faultsInjected += fired;
            if (outcome === "acked") tally.acked++;
            else tally.refused++;
            expect(fired).toBeGreaterThanOrEqual(1);
            // One fault is always absorbed by the retry.
            if (times === 1) expect(outcome).toBe("acked");
            // A fault before the write on every attempt always fails the commit.
            if (times === 8 && !f.ambiguous) expect(outcome).toBe("error");
            await checkAfterFault({ base, writer: w, writerManager: m, writerCacheRoot: cacheRoot, writerStore: viaProxy, outcome, ambiguous: f.ambiguous, label: `net ${step} ${f.action} x${times}` });
          }, 60_000);
        }
      }
    }

    const NET_KILLS: { name: string; rules: { action: ProxyAction; method: string; pathContains: string; delayMs?: number; times?: number }[]; stallOn: string; committed: boolean }[] = [
      { name: "pack PUT", rules: [{ action: "delay", method: "PUT", pathContains: "/packs/", delayMs: 60_000 }], stallOn: "/packs/", committed: false },
      { name: "chunk PUT", rules: [{ action: "delay", method: "PUT", pathContains: "/chunks/", delayMs: 60_000 }], stallOn: "/chunks/", committed: false },
      { name: "WAL record PUT", rules: [{ action: "delay", method: "PUT", pathContains: "/wal/", delayMs: 60_000 }], stallOn: "/wal/", committed: false },
      { name: "head PUT, before it reaches the server", rules: [{ action: "delay", method: "PUT", pathContains: "/heads/", delayMs: 60_000 }], stallOn: "/heads/", committed: false },
      {
        name: "head PUT served, response lost, killed while re-reading the head",
        rules: [
          { action: "lostResponse", method: "PUT", pathContains: "/heads/", times: 1 },
          { action: "delay", method: "GET", pathContains: "/heads/", delayMs: 60_000 },
        ],
        stallOn: "GET /heads/",
        committed: true,
      },
    ];
    for (const k of NET_KILLS) {
      test(`SIGKILL while stalled in the network: ${k.name}`, async () => {
        const prefix = uniquePrefix(`netkill-${k.stallOn}`);
        const base = await connect(prefix, server.endpoint);
        // The child makes its acknowledged commits through the proxy, then waits; the stall rules go in, the
        // child starts commit 4, and the parent kills it once the proxy holds the stalled request.
        const cacheRoot = join(root, `child-cache-${++n}`);
        const go = join(root, `go-${n}`);
        const child = spawnFixture("crash-writer.ts", {
          store: config(prefix, proxy.endpoint),
          cacheRoot,
          name: "w",
          acked: ACKED,
          big: [...BIG],
          rules: [],
          seed: n,
          goFile: go,
        });
        await child.waitFor((l) => l.startsWith("ready"), 60_000);
        const [method, path] = k.stallOn.startsWith("GET ") ? ["GET", k.stallOn.slice(4)] : ["PUT", k.stallOn];
        const stalled = proxy.nextFault((e) => e.action === "delay" && e.method === method && e.target.includes(`${prefix}`) && e.target.includes(path), 30_000);
        for (const r of k.rules) proxy.addRule({ ...r, pathContains: `${prefix.replace(/\/$/, "")}${r.pathContains}` });
        writeFileSync(go, "");
        await stalled;
        child.kill("SIGKILL");
        await child.exited;
        tally.kills++;
        tally.cases++;
        expect(child.lines.filter((l) => l.startsWith("ack")).length).toBe(ACKED);
        const want = k.committed ? S(4) : S(3);
        expect(await freshTree(base)).toEqual(want);
        const again = new S3CachedFsManagerImpl({ cacheRoot });
        const w = await again.mount({ name: "w", mode: "readwrite", cacheBytes: 64 << 20, store: base });
        expect(treeLines(await snapshotTree(w))).toEqual(want);
        await applyCommit(w, 5, false);
        await again.close();
        expect(await freshTree(base)).toEqual(S(k.committed ? 4 : 3, [5]));
      }, 90_000);
    }
  });
}
