// Issue 7, part 2: transient errors (503 SlowDown, 500 InternalError, connection resets, lost responses,
// timeouts) on about 10% of requests, seeded. A mixed workload — small and chunked writes, appends,
// renames, copies, deletes, transactions, streamed writes, openWrite, materialize, reads on a cold
// reader, refreshes, remounts of writer and reader (the readwrite probe included), a reader rebuild from
// an empty cacheRoot, gc, fsck, log — must complete with no user-visible error: the mount retries
// transient failures with backoff (8 attempts).
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, S3ObjectStore, type CachedFs, type ObjectStore } from "../js/core.ts";
import { startFaultProxy } from "./fixtures/fault-proxy.ts";
import { fastTempDir, figure, recordError, Rng, checkSecretsAfterAll } from "./helpers/reliability.ts";
import { s3TestServers, uniquePrefix } from "./helpers/servers.ts";
import { removeDir } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("transient");
afterAll(() => {
  removeDir(root);
});

interface WorkloadResult {
  ops: number;
  byKind: Record<string, number>;
  errors: string[];
}

/**
 * Runs `ops` seeded operations over `store` (the faulty one), checking every read against a map of what
 * was written. Any thrown error is a failure; the errors are collected and returned (and the test asserts
 * there are none) so one run reports them all.
 */
async function mixedWorkload(store: ObjectStore, cacheDir: string, seed: number, ops: number): Promise<WorkloadResult> {
  const rng = new Rng(seed);
  const files = new Map<string, Buffer>();
  const byKind: Record<string, number> = {};
  const errors: string[] = [];
  let mounts = 0;
  const open = async (mode: "readwrite" | "readonly", cacheRoot: string): Promise<{ m: S3CachedFsManagerImpl; fs: CachedFs }> => {
    const m = new S3CachedFsManagerImpl({ cacheRoot });
    const fs = await m.mount({ name: `${mode}-${++mounts}`, mode, cacheBytes: 8 << 20, store, snapshotEvery: 16 });
    return { m, fs };
  };
  let w = await open("readwrite", join(cacheDir, "w"));
  let r = await open("readonly", join(cacheDir, "r"));
  const body = (size: number) => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i += 512) b[i] = rng.int(256);
    b.write(`seed ${seed} op ${rng.int(1e9)}`);
    return b;
  };
  const anyFile = () => {
    const all = [...files.keys()];
    return all.length === 0 ? undefined : rng.pick(all);
  };
  const check = async (fs: CachedFs, path: string) => {
    const want = files.get(path);
    const got = await fs.readFile(path);
    if (want === undefined || !got.equals(want)) throw new Error(`${path}: read ${got.length} bytes, expected ${want?.length ?? "none"} (contents differ)`);
  };
  let counter = 0;
  for (let i = 0; i < ops; i++) {
    const roll = rng.int(100);
    const kind =
      roll < 22 ? "write" : roll < 26 ? "writeBig" : roll < 34 ? "append" : roll < 40 ? "rename" : roll < 45 ? "copy" : roll < 50 ? "rm" : roll < 58 ? "transaction" : roll < 61 ? "stream" : roll < 63 ? "openWrite" : roll < 65 ? "materialize" : roll < 75 ? "readWriter" : roll < 87 ? "refreshAndRead" : roll < 90 ? "remountWriter" : roll < 93 ? "remountReader" : roll < 95 ? "rebuildReader" : roll < 97 ? "gc" : "meta";
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    try {
      switch (kind) {
        case "write": {
          const p = `/d${rng.int(4)}/f${counter++}.txt`;
          const b = body(rng.int(3000) + 1);
          await w.fs.writeFile(p, b, { recursive: true });
          files.set(p, b);
          break;
        }
        case "writeBig": {
          const p = `/big/b${counter++}.bin`;
          const b = body((1 << 20) + rng.int(300_000));
          await w.fs.writeFile(p, b, { recursive: true });
          files.set(p, b);
          break;
        }
        case "append": {
          const p = anyFile();
          if (p === undefined) break;
          const extra = body(rng.int(200) + 1);
          await w.fs.appendFile(p, extra);
          files.set(p, Buffer.concat([files.get(p) ?? Buffer.alloc(0), extra]));
          break;
        }
        case "rename": {
          const p = anyFile();
          if (p === undefined) break;
          const q = `/renamed/r${counter++}`;
          await w.fs.mkdir("/renamed", { recursive: true });
          await w.fs.rename(p, q);
          files.set(q, files.get(p) ?? Buffer.alloc(0));
          files.delete(p);
          break;
        }
        case "copy": {
          const p = anyFile();
          if (p === undefined) break;
          const q = `/copies/c${counter++}`;
          await w.fs.mkdir("/copies", { recursive: true });
          await w.fs.copy(p, q);
          files.set(q, files.get(p) ?? Buffer.alloc(0));
          break;
        }
        case "rm": {
          const p = anyFile();
          if (p === undefined) break;
          await w.fs.rm(p);
          files.delete(p);
          break;
        }
        case "transaction": {
          const staged = new Map<string, Buffer>();
          await w.fs.transaction(async (tx) => {
            await tx.mkdir("/tx", { recursive: true });
            for (let k = 0; k < 2 + rng.int(4); k++) {
              const p = `/tx/t${counter++}`;
              const b = body(rng.int(2000) + 1);
              await tx.writeFile(p, b);
              staged.set(p, b);
            }
          });
          for (const [p, b] of staged) files.set(p, b);
          break;
        }
        case "stream": {
          const p = `/streams/s${counter++}`;
          const b = body((1 << 20) + rng.int(100_000));
          await w.fs.mkdir("/streams", { recursive: true });
          await w.fs.writeFile(p, new Blob([b]).stream());
          files.set(p, b);
          break;
        }
        case "openWrite": {
          const p = `/ow/o${counter++}`;
          const b = body(rng.int(50_000) + 1);
          await w.fs.mkdir("/ow", { recursive: true });
          const h = await w.fs.openWrite(p);
          await Bun.write(h.file, b);
          await h.close();
          files.set(p, b);
          break;
        }
        case "materialize": {
          const p = anyFile();
          if (p === undefined) break;
          const mat = await r.fs.refresh().then(() => r.fs.materialize(p));
          const got = Buffer.from(await mat.file.arrayBuffer());
          mat.release();
          if (!got.equals(files.get(p) ?? Buffer.alloc(0))) throw new Error(`materialized ${p} differs`);
          break;
        }
        case "readWriter": {
          const p = anyFile();
          if (p !== undefined) await check(w.fs, p);
          break;
        }
        case "refreshAndRead": {
          await r.fs.refresh();
          if (r.fs.seq !== w.fs.seq) throw new Error(`reader at seq ${r.fs.seq} after refresh, writer at ${w.fs.seq}`);
          const p = anyFile();
          if (p !== undefined) await check(r.fs, p);
          break;
        }
        case "remountWriter": {
          await w.m.close();
          w = await open("readwrite", join(cacheDir, "w"));
          break;
        }
        case "remountReader": {
          await r.m.close();
          r = await open("readonly", join(cacheDir, "r"));
          break;
        }
        case "rebuildReader": {
          await r.m.close();
          rmSync(join(cacheDir, "r"), { recursive: true, force: true });
          r = await open("readonly", join(cacheDir, "r"));
          break;
        }
        case "gc": {
          await w.fs.gc({ graceMs: 60_000 });
          break;
        }
        case "meta": {
          await w.fs.log({ limit: 5 });
          for (const p of files.keys()) if (!w.fs.existsSync(p)) throw new Error(`${p} missing on the writer`);
          break;
        }
      }
    } catch (e) {
      recordError(e, `transient workload ${kind}`);
      errors.push(`op ${i} ${kind}: ${(e as Error).message}`);
      // A remount that failed leaves nothing to go on with (a readwrite remount's start-up probe used to
      // fail under faults: bug #2, guarded by the regression tests below).
      if (errors.length > 20 || kind.startsWith("remount") || kind === "rebuildReader") break;
    }
  }
  // The end state: every file on the writer, on the reader, and whole in the bucket (fsck).
  if (errors.length > 0) {
    await w.m.close();
    await r.m.close();
    return { ops, byKind, errors };
  }
  try {
    await r.fs.refresh();
    for (const p of files.keys()) {
      await check(w.fs, p);
      await check(r.fs, p);
    }
    const report = await w.fs.fsck();
    if (!report.ok) errors.push(`fsck: ${JSON.stringify(report)}`);
  } catch (e) {
    recordError(e, "transient workload final check");
    errors.push(`final check: ${(e as Error).message}`);
  }
  await w.m.close();
  await r.m.close();
  return { ops, byKind, errors };
}

describe("transient errors on ~10% of requests", () => {
  const SEEDS = [101, 202, 303];
  for (const seed of SEEDS) {
    test(`LocalObjectStore, 503 SlowDown 5% + 500 InternalError 5%, seed ${seed}`, async () => {
      const base = new LocalObjectStore(join(root, `bucket-${seed}`)).counting();
      const failing = base.failing(seed);
      failing.addFailRule({ action: "transient", status: 503, code: "SlowDown", probability: 0.05 });
      failing.addFailRule({ action: "transient", status: 500, code: "InternalError", probability: 0.05 });
      const outer = failing.counting();
      const result = await mixedWorkload(outer, join(root, `cache-${seed}`), seed, 250);
      const attempts = outer.counts().total;
      const injected = attempts - base.counts().total;
      figure(`transient.local.seed${seed}`, { ops: result.ops, requests: attempts, faultsInjected: injected, rate: +(injected / attempts).toFixed(3), byKind: result.byKind });
      expect(result.errors).toEqual([]);
      expect(injected / attempts).toBeGreaterThan(0.06);
    }, 120_000);
  }
});

for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
  describe(`transient network faults on ~10% of requests through a TCP proxy in front of ${server.name}`, () => {
    for (const seed of [404]) {
      test(`resets 4%, lost responses 3%, torn requests 1%, timeouts 2%, seed ${seed}`, async () => {
        const proxy = await startFaultProxy({ upstreamPort: Number(new URL(server.endpoint).port), seed });
        try {
          // The readwrite start-up probe's own requests are spared: a lost response there used to fail the
          // mount (bug #2, fixed; its regression tests below cover the probe deterministically, over the
          // proxy too); the rest of the workload, remounts included, gets the faults.
          const spare = "/_probe/";
          proxy.addRule({ action: "reset", probability: 0.04, pathExcludes: spare });
          proxy.addRule({ action: "lostResponse", probability: 0.03, pathExcludes: spare });
          proxy.addRule({ action: "dropAfterBytes", bytes: 120, probability: 0.01, pathExcludes: spare });
          proxy.addRule({ action: "delay", delayMs: 300, probability: 0.02, pathExcludes: spare });
          const store = await S3ObjectStore.connect({
            bucket: server.bucket,
            prefix: uniquePrefix(`transient-${seed}`),
            region: server.region,
            endpoint: proxy.endpoint,
            credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
          });
          const result = await mixedWorkload(store, join(root, `s3cache-${seed}`), seed, 120);
          const st = proxy.stats();
          figure(`transient.seaweedfs.seed${seed}`, { ops: result.ops, requests: st.requests, faultsInjected: st.faults, byAction: st.byAction, rate: +(st.faults / st.requests).toFixed(3), byKind: result.byKind });
          expect(result.errors).toEqual([]);
          expect(st.faults / st.requests).toBeGreaterThan(0.05);
        } finally {
          proxy.stop();
        }
      }, 180_000);
    }
  });
}

// Regression tests for bug #2: the readwrite start-up probe (DESIGN.md invariant 5) runs through the
// retrying store, so one lost response (the PUT happened, the answer was lost, the retry is refused
// because the first attempt won) must not fail the mount. The probe used to read that retry's 412 as the
// store's verdict and fail with EPRECONDITION, or falsely ENOTSUP ("does not enforce conditional
// writes"); it now reads a refused put back to see whether its own earlier attempt landed.
describe("regression #2: a transient fault during the start-up probe", () => {
  const probeSteps: [string, number][] = [
    ["the first create-only PUT", 0],
    ["the replace-if PUT with the current ETag", 3],
  ];
  for (const [what, skip] of probeSteps) {
    test(`regression #2: response lost once on ${what}: the readwrite mount still succeeds`, async () => {
      const failing = new LocalObjectStore(join(root, `probe-${skip}`)).failing(skip);
      failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "_probe/", skip, times: 1 });
      const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `probe-cache-${skip}`) });
      const outcome = await m.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store: failing }).then(
        () => "mounted",
        (e: unknown) => (recordError(e, "probe"), `${(e as NodeJS.ErrnoException).code}: ${(e as Error).message}`),
      );
      await m.close();
      expect(outcome).toBe("mounted");
    });
  }

  for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
    test(`regression #2 over the network: ${server.name} through the proxy, the probe's first PUT served but its response dropped: the mount still succeeds`, async () => {
      const proxy = await startFaultProxy({ upstreamPort: Number(new URL(server.endpoint).port), seed: 2 });
      try {
        proxy.addRule({ action: "lostResponse", method: "PUT", pathContains: "/_probe/", times: 1 });
        const store = await S3ObjectStore.connect({
          bucket: server.bucket,
          prefix: uniquePrefix("probe-net"),
          region: server.region,
          endpoint: proxy.endpoint,
          credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        });
        const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, "probe-net-cache") });
        const outcome = await m.mount({ name: "w", mode: "readwrite", cacheBytes: 1 << 20, store }).then(
          () => "mounted",
          (e: unknown) => (recordError(e, "probe net"), `${(e as NodeJS.ErrnoException).code}: ${(e as Error).message}`),
        );
        await m.close();
        expect(proxy.stats().faults).toBe(1);
        expect(outcome).toBe("mounted");
      } finally {
        proxy.stop();
      }
    }, 60_000);
  }
});
