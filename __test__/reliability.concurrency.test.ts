// Issue 7, part 4: concurrency across processes. One writer process commits thousands of transactions
// (each writes the same generation into several files, plus /g/meta naming the generation and seq) while
// four reader processes refresh in a loop: a reader must never see a partial transaction, its state must
// match the seq it reports, and its seq and generation only grow. The writer collects garbage meanwhile
// (a grace period longer than a reader's lag) and uploads snapshots, so readers that fall behind rebuild.
// Then two processes mounting readwrite at once, round after round: exactly one owns each epoch, the
// other's writes get EFENCED, every acknowledged write survives, and nothing unacknowledged appears.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type ObjectStore } from "../js/core.ts";
import { type StoreConfig } from "./fixtures/workload.ts";
import { fastTempDir, figure, killAllChildren, parseLine, recordError, spawnFixture, type Child, checkSecretsAfterAll } from "./helpers/reliability.ts";
import { s3TestServers, uniquePrefix, type S3ServerInfo } from "./helpers/servers.ts";
import { removeDir, s3Store } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("concurrency");
afterAll(async () => {
  await killAllChildren();
  removeDir(root);
});

const s3Config = (s: S3ServerInfo, prefix: string): StoreConfig => ({
  kind: "s3",
  endpoint: s.endpoint,
  bucket: s.bucket,
  prefix,
  region: s.region,
  accessKeyId: s.accessKeyId,
  secretAccessKey: s.secretAccessKey,
});

interface ReaderStats {
  checks: number;
  lastSeq: number;
  lastGen: number;
  outcomes: Record<string, number>;
  errors: number;
  violations: number;
}

async function writerAndReaders(label: string, store: StoreConfig, opts: { maxCommits: number; maxMs: number; files: number; gcEvery: number; graceMs: number; snapshotEvery: number; pad: number; slowReaderPauseMs: number }) {
  const dir = join(root, label);
  const stopFile = join(dir, "stop");
  const writer = spawnFixture("concurrent-writer.ts", { store, cacheRoot: join(dir, "writer"), ...opts });
  await writer.waitFor((l) => l.startsWith("mounted"), 60_000);
  const readers: Child[] = [];
  for (let i = 0; i < 4; i++) {
    // Reader 3 is slow: it pauses between refreshes, falls more than 64 commits behind and catches up
    // from a snapshot (and from records GC has not collected yet).
    const pauseMs = i === 3 ? opts.slowReaderPauseMs : 0;
    readers.push(spawnFixture("concurrent-reader.ts", { store, cacheRoot: join(dir, `reader${i}`), name: `reader${i}`, files: opts.files, stopFile, maxMs: opts.maxMs + 60_000, pauseMs }));
  }
  const writerExit = await writer.exited;
  writeFileSync(stopFile, "");
  const readerExits = await Promise.all(readers.map((r) => r.exited));
  const done = writer.lines.find((l) => l.startsWith("done"));
  for (const l of [...writer.lines, ...readers.flatMap((r) => r.lines)]) if (l.startsWith("error") || l.startsWith("violation")) recordError(l, label);
  if (writerExit !== 0 || done === undefined) throw new Error(`writer failed (${writerExit}): ${writer.lines.slice(-3).join(" | ")} ${writer.stderr.slice(-5).join(" | ")}`);
  const w = parseLine<{ gen: number; seq: number; ms: number; gcs: number; deleted: number }>(done).data;
  const stats = readers.map((r, i) => {
    const line = r.lines.find((l) => l.startsWith("stats"));
    const problems = r.lines.filter((l) => l.startsWith("violation") || l.startsWith("error"));
    if (line === undefined) throw new Error(`reader ${i} exited ${readerExits[i]} without stats: ${r.lines.slice(-3).join(" | ")} ${r.stderr.slice(-5).join(" | ")}`);
    return { ...parseLine<ReaderStats>(line).data, problems };
  });
  const summary = { commits: w.gen, writerMs: w.ms, gcRuns: w.gcs, gcDeleted: w.deleted, readers: stats.map((s) => ({ checks: s.checks, lastSeq: s.lastSeq, outcomes: s.outcomes, errors: s.errors, violations: s.violations })) };
  figure(`concurrency.${label}`, summary);
  for (const [i, s] of stats.entries()) {
    expect(`reader ${i}: ${s.problems.join(" | ")}`).toBe(`reader ${i}: `);
    expect(readerExits[i]).toBe(0);
    expect(s.violations).toBe(0);
    expect(s.errors).toBe(0);
    // After the stop file, one last refresh: every reader ends at the writer's last commit.
    expect(s.lastSeq).toBe(w.seq);
    expect(s.lastGen).toBe(w.gen);
    expect(s.checks).toBeGreaterThan(i === 3 && opts.slowReaderPauseMs > 0 ? 1 : 5);
  }
  return { writer: w, readers: stats };
}

describe("one writer process and four reader processes", () => {
  test("LocalObjectStore: thousands of commits; readers never see a partial transaction; seqs only grow", async () => {
    const dir = join(root, "local-bucket");
    const r = await writerAndReaders("local", { kind: "local", dir }, { maxCommits: 2500, maxMs: 20_000, files: 5, gcEvery: 200, graceMs: 1000, snapshotEvery: 50, pad: 200, slowReaderPauseMs: 1000 });
    expect(r.readers[3]!.outcomes.rebuilt ?? 0).toBeGreaterThan(0);
    expect(r.writer.gen).toBeGreaterThanOrEqual(1000);
  }, 120_000);

  for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
    test(`${server.name}: hundreds of commits; readers never see a partial transaction; seqs only grow`, async () => {
      const r = await writerAndReaders("seaweedfs", s3Config(server, uniquePrefix("concurrency")), { maxCommits: 600, maxMs: 15_000, files: 5, gcEvery: 100, graceMs: 5000, snapshotEvery: 40, pad: 100, slowReaderPauseMs: 0 });
      expect(r.writer.gen).toBeGreaterThanOrEqual(100);
    }, 120_000);
  }
});

interface Ack {
  id: string;
  path: string;
  seq: number;
  epoch: number;
}

async function fencingRace(label: string, store: StoreConfig, open: () => Promise<ObjectStore>, rounds: number, roundMs: number) {
  const dir = join(root, `fence-${label}`);
  const go = join(dir, "go");
  mkdirSync(dir, { recursive: true });
  const procs = ["A", "B"].map((id) => spawnFixture("fence-writer.ts", { store, cacheRoot: join(dir, id), id, rounds, writes: 5000, roundMs, goFile: go }));
  await Promise.all(procs.map((p) => p.waitFor((l) => l.startsWith("ready"), 60_000)));
  writeFileSync(go, "");
  const exits = await Promise.all(procs.map((p) => p.exited));
  const lines = procs.flatMap((p) => p.lines);
  for (const l of lines) if (l.startsWith("writeError") || l.startsWith("mountError")) recordError(l, `fence ${label}`);
  expect(exits).toEqual([0, 0]);
  const epochs = lines.filter((l) => l.startsWith("epoch")).map((l) => parseLine<{ id: string; epoch: number }>(l).data);
  const acks = lines.filter((l) => l.startsWith("ack")).map((l) => parseLine<Ack>(l).data);
  const fenced = lines.filter((l) => l.startsWith("fenced")).map((l) => parseLine<{ id: string; epoch: number }>(l).data);
  const otherErrors = lines.filter((l) => l.startsWith("writeError") || l.startsWith("mountError"));
  // Exactly one owner per epoch.
  const owners = new Map<number, string>();
  for (const e of epochs) {
    expect(`epoch ${e.epoch} owned by ${owners.get(e.epoch) ?? e.id}`).toBe(`epoch ${e.epoch} owned by ${e.id}`);
    owners.set(e.epoch, e.id);
  }
  expect(owners.size).toBe(epochs.length);
  // Every acknowledged write came from the epoch's owner, each seq once, and epochs' seq ranges are ordered:
  // once a newer epoch committed, no older epoch ever committed again.
  const bySeq = new Map<number, Ack>();
  for (const a of acks) {
    expect(owners.get(a.epoch)).toBe(a.id);
    expect(bySeq.has(a.seq)).toBe(false);
    bySeq.set(a.seq, a);
  }
  const seqs = [...bySeq.keys()].sort((x, y) => x - y);
  for (let i = 1; i < seqs.length; i++) expect(bySeq.get(seqs[i]!)!.epoch).toBeGreaterThanOrEqual(bySeq.get(seqs[i - 1]!)!.epoch);
  // The two ping-ponged: both were fenced, most rounds ended in a fence, and nothing else went wrong.
  // (A mount that gave up with EBUSY while the other process wrote was bug #12, guarded on its own below;
  // such a round is still counted, and must not happen.)
  const busy = lines.filter((l) => l.startsWith("mountBusy")).length;
  expect(busy).toBe(0);
  expect(new Set(fenced.map((f) => f.id)).size).toBe(2);
  expect(fenced.length).toBeGreaterThanOrEqual(rounds - busy);
  expect(otherErrors).toEqual([]);
  // The bucket holds exactly the acknowledged writes, and its log agrees on seq -> epoch.
  const m = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "check") });
  const r = await m.mount({ name: "check", mode: "readonly", cacheBytes: 8 << 20, store: await open() });
  const files = r.readdirSync("/", { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => `/${d.name}`).sort();
  expect(files).toEqual(acks.map((a) => a.path).sort());
  for (const e of await r.log({ limit: 10_000 })) {
    const a = bySeq.get(e.seq);
    if (a !== undefined) expect(e.epoch).toBe(a.epoch);
  }
  await m.close();
  figure(`fencing.${label}`, { roundsPerProcess: rounds, epochs: epochs.length, acknowledgedWrites: acks.length, fencedWrites: fenced.length, mountsGivenUpWithEBUSY: busy });
}

describe("two processes mounting readwrite at once", () => {
  test("LocalObjectStore: exactly one owns each epoch; the other's writes get EFENCED", async () => {
    const dir = join(root, "fence-local-bucket");
    await fencingRace("local", { kind: "local", dir }, async () => new LocalObjectStore(dir), 10, 2000);
  }, 120_000);

  for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
    test(`${server.name}: exactly one owns each epoch; the other's writes get EFENCED`, async () => {
      const prefix = uniquePrefix("fence");
      await fencingRace(server.name, s3Config(server, prefix), () => s3Store(server, prefix), 4, 3000);
    }, 120_000);
  }
});

// Regression test for bug #12: a new readwrite mount must fence a busy writer even when its requests are
// a little slower (10 ms per GET, an ordinary S3 latency). Taking the writer role used to be a loop of
// "catch up with the bucket, then CAS the head with epoch + 1"; a writer committing faster than the
// catch-up won every race, and the new mount failed with EBUSY after ~30 s. It now takes the epoch first
// and catches up afterwards.
test("regression #12: a new readwrite mount takes over from a busy writer even when its GETs take 10 ms", async () => {
  const dir = join(root, "takeover");
  const store = new LocalObjectStore(join(dir, "bucket"));
  const m1 = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "old") });
  const old = await m1.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store });
  let stop = false;
  let commits = 0;
  let oldError = "";
  const busy = (async () => {
    while (!stop) {
      try {
        await old.writeFile("/busy", String(commits++));
      } catch (e) {
        oldError = (e as NodeJS.ErrnoException).code ?? "?";
        break;
      }
    }
  })();
  await Bun.sleep(100);
  const slow = store.failing(12);
  slow.addFailRule({ action: "delay", kinds: ["get"], delayMs: 10 });
  const m2 = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "new") });
  const started = Date.now();
  const mounting = m2.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store: slow }).then(
    () => `took over in ${Date.now() - started} ms`,
    (e: unknown) => (recordError(e, "takeover"), `${(e as NodeJS.ErrnoException).code} after ${Date.now() - started} ms`),
  );
  const outcome = await Promise.race([mounting, Bun.sleep(8000).then(() => "still trying after 8 s")]);
  stop = true;
  await busy;
  await mounting;
  await m1.close();
  await m2.close();
  figure("concurrency.takeoverFromBusyWriter", { outcome, oldWriterCommits: commits, oldWriterStoppedWith: oldError || "(stopped by the test)" });
  expect(outcome).toStartWith("took over");
  expect(oldError).toBe("EFENCED");
}, 60_000);

// Regression test for bug #13: a mount that took the epoch and then caught up slowly used to adopt the
// head (and epoch) of a newer mount that fenced it meanwhile, so the older mount kept writing and the
// newer one was refused. The older mount must be the one fenced.
test("regression #13: a mount fenced while it catches up is fenced, not the newer mount", async () => {
  const dir = join(root, "fence-during-catch-up");
  const store = new LocalObjectStore(join(dir, "bucket"));
  const first = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "c0") });
  await (await first.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store })).writeFile("/seed", "0");
  await first.close();
  const slow = store.failing(1);
  slow.addFailRule({ action: "delay", kinds: ["get"], keyContains: "heads/", delayMs: 500 });
  const a = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "ca") });
  const b = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "cb") });
  const mountingOlder = a.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store: slow });
  await Bun.sleep(800);
  const newer = await b.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store });
  const older = await mountingOlder;
  slow.clearFailRules();
  expect(newer.epoch).toBeGreaterThan(older.epoch);
  const olderWrite = await older.writeFile("/a", "older").then(() => "ok", (e: NodeJS.ErrnoException) => e.code);
  await newer.writeFile("/b", "newer");
  expect(olderWrite).toBe("EFENCED");
  const reader = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "cr") });
  const r = await reader.mount({ name: "r", mode: "readonly", cacheBytes: 1 << 20, store });
  expect(r.readdirSync("/")).toEqual(["b", "seed"]);
  expect(r.epoch).toBe(newer.epoch);
  await Promise.all([a.close(), b.close(), reader.close()]);
}, 20_000);
