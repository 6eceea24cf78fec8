// The object-store conformance suite: the same checks against LocalObjectStore and every real S3 server
// the harness started (SeaweedFS, moto), through the napi binding.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { LocalObjectStore, S3ObjectStore, type CountingObjectStore, type FsError, type RequestCounts } from "../js/core.ts";
import { s3TestServers } from "./helpers/servers.ts";
import { codeOf, removeDir, storeTargets, tempDir, type StoreTarget } from "./helpers/targets.ts";

const localRoot = tempDir("conformance");
afterAll(() => removeDir(localRoot));

// Every store a test opens goes through a counting wrapper, so the suite can say what it cost per target.
const counters = new Map<string, CountingObjectStore[]>();
const targets: StoreTarget[] = storeTargets(localRoot).map((t) => ({
  ...t,
  open: async (label: string) => {
    const store = (await t.open(label)).counting();
    counters.set(t.name, [...(counters.get(t.name) ?? []), store]);
    return store;
  },
}));
afterAll(() => {
  for (const [name, stores] of counters) {
    const sum = stores.map((s) => s.counts()).reduce((a: Record<string, number>, c: RequestCounts) => {
      for (const [k, v] of Object.entries(c)) a[k] = (a[k] ?? 0) + v;
      return a;
    }, {});
    console.log(`conformance ${name}: ${sum.total} requests (GET ${sum.get}, HEAD ${sum.head}, PUT ${sum.put}, LIST ${sum.list}, DELETE ${sum.delete}, batch DELETE ${sum.deleteMany}), ${((sum.bytesUp ?? 0) / 2 ** 20).toFixed(1)} MiB up, ${((sum.bytesDown ?? 0) / 2 ** 20).toFixed(1)} MiB down (per-test times are in the lines above)`);
  }
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);

for (const target of targets) {
  describe(`object store conformance: ${target.name}`, () => {
    test("16 concurrent create-only puts of one key: exactly one wins, 20 rounds", async () => {
      // Retrying as every real client does: a loaded server may answer 503 to a racer, which is no answer.
      const store = (await target.open("race")).withRetry();
      // Rounds run four at a time (distinct keys): SeaweedFS makes the losers of each race wait about a
      // second, and far more requests at once than real writers make only measure its queueing.
      const round = async (r: number) => {
        const key = `race/${r}`;
        const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => store.put(key, `writer-${i}`, { mode: "create" })));
        const winners = results.flatMap((res, i) => (res.status === "fulfilled" ? [i] : []));
        expect(winners.length).toBe(1);
        for (const res of results) {
          if (res.status === "rejected") expect(res.reason as FsError).toMatchObject({ code: "EPRECONDITION", storeError: "AlreadyExists" });
        }
        expect(text((await store.get(key)).data)).toBe(`writer-${winners[0]}`);
      };
      for (let r = 0; r < 20; r += 4) await Promise.all([r, r + 1, r + 2, r + 3].map(round));
    }, 120_000);

    test("replace-if succeeds with the current ETag and fails with a stale one", async () => {
      const store = await target.open("cas");
      const first = await store.put("head.json", "v1", { mode: "create" });
      const second = await store.put("head.json", "v2", { mode: "update", etag: first });
      expect(second).not.toBe(first);
      expect(await store.put("head.json", "v3", { mode: "update", etag: first }).catch((e: FsError) => e)).toMatchObject({ code: "EPRECONDITION", storeError: "PreconditionFailed" });
      expect(await store.put("head.json", "v3", { mode: "create" }).catch((e: FsError) => e)).toMatchObject({ code: "EPRECONDITION", storeError: "AlreadyExists" });
      expect(text((await store.get("head.json")).data)).toBe("v2");
      const head = await store.head("head.json");
      expect(head.etag).toBe(second);
      expect(head.size).toBe(2);
      // Conditional GET: 304 while unchanged.
      expect(await codeOf(store.get("head.json", { ifNoneMatch: second }))).toBe("ENOTMODIFIED");
      expect(text((await store.get("head.json", { ifNoneMatch: first })).data)).toBe("v2");
      // If-Match on a missing key is refused (404 on AWS and moto, 412 on SeaweedFS): either way not written.
      expect(["EPRECONDITION", "ENOENT"]).toContain(await codeOf(store.put("missing", "x", { mode: "update", etag: first })));
      expect(await codeOf(store.get("missing"))).toBe("ENOENT");
    });

    test("byte ranges: bounded, suffix, open-ended, past the end", async () => {
      const store = await target.open("range");
      const body = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
      await store.put("obj", body);
      const r = await store.get("obj", { start: 10, end: 20 });
      expect([...r.data]).toEqual([...body.subarray(10, 20)]);
      expect(r.size).toBe(100);
      expect([...(await store.get("obj", { suffix: 5 })).data]).toEqual([95, 96, 97, 98, 99]);
      expect([...(await store.get("obj", { start: 97 })).data]).toEqual([97, 98, 99]);
      expect([...(await store.get("obj", { start: 95, end: 200 })).data]).toEqual([95, 96, 97, 98, 99]);
      const past = await store.get("obj", { start: 150, end: 160 });
      expect(past.data.length).toBe(0);
      expect(past.size).toBe(100);
      expect((await store.get("obj", { start: 5, end: 5 })).data.length).toBe(0);
    });

    test("listing paginates with a delimiter and common prefixes", async () => {
      const store = await target.open("list");
      const keys = [
        ...Array.from({ length: 23 }, (_, i) => `files/f${String(i).padStart(2, "0")}`),
        ...Array.from({ length: 5 }, (_, i) => `files/dir${i}/x`),
        "files/dir0/y",
        "other",
      ];
      await Promise.all(keys.map((k) => store.put(k, k)));
      const flat = await store.list("files/", { pageSize: 7 });
      expect(flat.objects.map((o) => o.key)).toEqual(keys.filter((k) => k.startsWith("files/")).sort());
      expect(flat.pages).toBeGreaterThanOrEqual(4);
      expect(flat.objects.find((o) => o.key === "files/f03")?.size).toBe("files/f03".length);
      const delimited = await store.list("files/", { pageSize: 4, delimiter: "/" });
      expect(delimited.objects.map((o) => o.key)).toEqual(keys.filter((k) => /^files\/f\d+$/.test(k)).sort());
      expect(delimited.commonPrefixes.sort()).toEqual(["files/dir0/", "files/dir1/", "files/dir2/", "files/dir3/", "files/dir4/"]);
      expect(delimited.pages).toBeGreaterThanOrEqual(7);
      const root = await store.list("", { delimiter: "/" });
      expect(root.commonPrefixes).toEqual(["files/"]);
      expect(root.objects.map((o) => o.key)).toEqual(["other"]);
    });

    test("delete and batch delete; deleting a missing key succeeds", async () => {
      const store = await target.open("del");
      const keys = Array.from({ length: 30 }, (_, i) => `d/${i}`);
      await Promise.all(keys.map((k) => store.put(k, "x")));
      await store.deleteMany(keys.slice(0, 25));
      expect((await store.list("d/")).objects.map((o) => o.key).sort()).toEqual(keys.slice(25).sort());
      await store.delete("d/29");
      await store.delete("d/never-existed");
      await store.deleteMany(["d/never-existed-either"]);
      expect((await store.list("d/")).objects.length).toBe(4);
    });

    test("a 20 MiB object round-trips with an equal hash", async () => {
      const store = await target.open("big");
      const big = new Uint8Array(20 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
      crypto.getRandomValues(big.subarray(0, 65536));
      await store.put("big", big);
      const back = await store.get("big");
      expect(back.data.length).toBe(big.length);
      expect(Bun.hash(back.data)).toBe(Bun.hash(big));
      const tail = await store.get("big", { start: big.length - 10 });
      expect([...tail.data]).toEqual([...big.subarray(big.length - 10)]);
    }, 60_000);

    test("the counting wrapper counts requests by kind and bytes", async () => {
      const store = (await target.open("count")).counting();
      await store.put("a", "12345");
      await store.get("a");
      await store.get("a", { start: 0, end: 2 });
      await store.head("a");
      await store.list("", { pageSize: 1 });
      await store.delete("a");
      await store.deleteMany(["a"]);
      const c = store.counts();
      expect(c).toMatchObject({ put: 1, get: 2, head: 1, list: 1, delete: 1, deleteMany: 1, bytesUp: 5, bytesDown: 7 });
      expect(c.total).toBe(7);
      store.resetCounts();
      expect(store.counts().total).toBe(0);
    });

    test("the failing wrapper injects errors, lost responses and delays; retries absorb transient ones", async () => {
      const base = await target.open("fail");
      const failing = base.failing(7);
      failing.addFailRule({ action: "error", kinds: ["put"], keyContains: "denied", status: 403, code: "AccessDenied" });
      const err = await failing.put("denied/x", "x").catch((e: NodeJS.ErrnoException & { status?: number }) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as NodeJS.ErrnoException).code).toBe("EIO");
      expect((err as { status?: number }).status).toBe(403);
      expect(String(err)).toContain("AccessDenied");
      expect(await codeOf(base.get("denied/x"))).toBe("ENOENT");

      // Lost response: the write happened, the caller saw a transient error.
      failing.addFailRule({ action: "lostResponse", kinds: ["put"], keyContains: "lost", times: 1 });
      expect(await codeOf(failing.put("lost/x", "written"))).toBe("EAGAIN");
      expect(text((await base.get("lost/x")).data)).toBe("written");

      failing.addFailRule({ action: "delay", kinds: ["head"], delayMs: 150, times: 1 });
      const t0 = performance.now();
      await failing.head("lost/x");
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);

      // Transient failures: retried away, up to the bound.
      failing.addFailRule({ action: "transient", kinds: ["get"], keyContains: "flaky", times: 3 });
      await base.put("flaky", "ok");
      const retrying = failing.withRetry({ maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 });
      expect(text((await retrying.get("flaky")).data)).toBe("ok");
      failing.addFailRule({ action: "transient", kinds: ["get"], keyContains: "flaky", times: 5 });
      expect(await codeOf(retrying.get("flaky"))).toBe("EAGAIN");
      failing.clearFailRules();
      expect(text((await failing.get("flaky")).data)).toBe("ok");
    });

    test("the probe calls this store compliant and a precondition-ignoring store not", async () => {
      const store = await target.open("probe");
      const good = await store.probe();
      expect(good).toMatchObject({ compliant: true, createOnlyEnforced: true, staleReplaceRefused: true, currentReplaceAccepted: true, raceWinners: 1 });
      expect(good.findings).toEqual([]);
      const broken = store.failing();
      broken.addFailRule({ action: "ignorePreconditions" });
      const bad = await broken.probe();
      expect(bad.compliant).toBe(false);
      expect(bad.createOnlyEnforced).toBe(false);
      expect(bad.staleReplaceRefused).toBe(false);
      expect(bad.raceWinners).toBeGreaterThan(1);
      expect(bad.findings.length).toBeGreaterThanOrEqual(3);
      expect((await store.list("_probe/")).objects).toEqual([]);
    });
  });
}

describe("S3 errors", () => {
  const servers = s3TestServers().filter((s) => s.name === "seaweedfs");
  for (const s of servers) {
    test("a wrong secret gives ECREDENTIALS with the 403, and the message never contains the secret", async () => {
      const secret = "wrong-secret-DO-NOT-LEAK-1234567890";
      const store = await S3ObjectStore.connect({
        bucket: s.bucket,
        endpoint: s.endpoint,
        region: s.region,
        credentials: { accessKeyId: s.accessKeyId, secretAccessKey: secret },
      });
      const err = (await store.put("x", "y").catch((e: unknown) => e)) as NodeJS.ErrnoException & { status?: number };
      expect(err.code).toBe("ECREDENTIALS");
      expect(err.status).toBe(403);
      expect(err.message).toMatch(/refused the credentials: HTTP 403 SignatureDoesNotMatch/);
      expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain(secret);
    });
  }
  test("invalid arguments are refused with EINVAL, not a crash", async () => {
    const store = new LocalObjectStore(join(localRoot, "args"));
    expect(await codeOf(store.get("k", { start: -1 }))).toBe("EINVAL");
    expect(() => store.failing().addFailRule({ action: "explode" })).toThrow(/unknown action/);
    expect(await codeOf((store.put as (k: string, d: string, o: unknown) => Promise<string>)("k", "d", { mode: "update" }))).toBe("EINVAL");
  });
});
