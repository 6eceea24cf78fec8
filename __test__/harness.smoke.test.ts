/**
 * Checks the S3 test harness itself: every server handed over by scripts/test.ts is reachable with the
 * credentials it advertises, stores and returns bytes, and (SeaweedFS) really checks SigV4 signatures.
 */
import { describe, expect, test } from "bun:test";
import { s3TestServers, uniquePrefix, type S3ServerInfo } from "./helpers/servers.ts";

const servers = s3TestServers();

function client(server: S3ServerInfo, overrides: { secretAccessKey?: string } = {}): Bun.S3Client {
  return new Bun.S3Client({
    endpoint: server.endpoint,
    bucket: server.bucket,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: overrides.secretAccessKey ?? server.secretAccessKey,
  });
}

// Outside CI without servers s3TestServers() has already warned; make the gap show up in the skip count too.
test.skipIf(servers.length === 0)("the harness hands over well-formed server descriptions", () => {
  const names = servers.map((s) => s.name);
  expect(new Set(names).size).toBe(names.length);
  for (const s of servers) {
    expect(s.bucket.length).toBeGreaterThan(0);
    const url = new URL(s.endpoint);
    expect(url.protocol === "http:" || url.protocol === "https:").toBe(true);
    // local servers must be on loopback only
    if (s.name !== "external") expect(url.hostname).toBe("127.0.0.1");
  }
  if (process.env.S3FS_TEST_ENDPOINT === undefined) expect(names.sort()).toEqual(["moto", "seaweedfs"]);
});

test("uniquePrefix gives distinct, key-safe prefixes", () => {
  const a = uniquePrefix("Smoke Test!");
  const b = uniquePrefix("Smoke Test!");
  expect(a).not.toBe(b);
  expect(a).toMatch(/^t-smoke-test-[0-9a-z]+-[0-9a-f]{8}\/$/);
});

if (servers.length === 0) test.skip("S3 servers: none available, S3 round-trip checks skipped", () => {});

for (const server of servers) {
  describe(`S3 server ${server.name}`, () => {
    test("writes, reads, stats, lists and deletes an object", async () => {
      const s3 = client(server);
      const prefix = uniquePrefix(`smoke-${server.name}`);
      const key = `${prefix}hello.txt`;
      const body = `hello from ${server.name} ${crypto.randomUUID()}\n`;

      await s3.write(key, body);
      expect(await s3.file(key).text()).toBe(body);
      const stat = await s3.stat(key);
      expect(stat.size).toBe(Buffer.byteLength(body));
      expect(stat.etag.length).toBeGreaterThan(0);

      const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
      await s3.write(`${prefix}bin`, bytes);
      expect(new Uint8Array(await s3.file(`${prefix}bin`).arrayBuffer())).toEqual(bytes);

      const listed = await s3.list({ prefix });
      expect((listed.contents ?? []).map((o) => o.key).sort()).toEqual([`${prefix}bin`, key]);

      await s3.delete(key);
      await s3.delete(`${prefix}bin`);
      expect(await s3.exists(key)).toBe(false);
    });

    test("reads of a missing key fail with NoSuchKey", async () => {
      const s3 = client(server);
      const missing = `${uniquePrefix("missing")}nope`;
      expect(await s3.exists(missing)).toBe(false);
      let code: unknown;
      try {
        await s3.file(missing).text();
      } catch (err) {
        code = typeof err === "object" && err !== null && "code" in err ? err.code : err;
      }
      expect(code).toBe("NoSuchKey");
    });

    if (server.name === "seaweedfs") {
      test("SigV4 is enforced: a wrong secret and an unsigned request get 403", async () => {
        const key = `${uniquePrefix("auth")}obj`;
        const good = client(server);
        const bad = client(server, { secretAccessKey: `${server.secretAccessKey}-wrong` });

        // The same presigning path with the right secret works, so the 403s below come from the secret.
        const ok = await fetch(good.presign(key, { method: "PUT" }), { method: "PUT", body: "authorized" });
        expect(ok.status).toBe(200);

        const putWrong = await fetch(bad.presign(key, { method: "PUT" }), { method: "PUT", body: "intruder" });
        expect(putWrong.status).toBe(403);
        expect(await putWrong.text()).toContain("SignatureDoesNotMatch");

        const getWrong = await fetch(bad.presign(key, { method: "GET" }));
        expect(getWrong.status).toBe(403);
        await getWrong.arrayBuffer();

        const unsigned = await fetch(`${server.endpoint}/${server.bucket}/${key}`);
        expect(unsigned.status).toBe(403);
        await unsigned.arrayBuffer();

        let code: unknown;
        try {
          await bad.write(key, "intruder");
        } catch (err) {
          code = typeof err === "object" && err !== null && "code" in err ? err.code : err;
        }
        expect(code).toBe("SignatureDoesNotMatch");

        // Nothing the rejected requests sent got stored.
        expect(await good.file(key).text()).toBe("authorized");
        await good.delete(key);
      });
    }
  });
}

// Plain `bun test` (no runner, no S3FS_TEST_SERVERS) is the whole suite: the preload named in bunfig.toml
// starts the servers, so the S3 tests run rather than skip, and stops them afterwards.
test("plain `bun test` starts the S3 servers itself and runs the S3 suite", async () => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "S3FS_TEST_SERVERS" && k !== "AWS_EC2_METADATA_DISABLED") env[k] = v;
  const child = Bun.spawn([process.execPath, "test", "__test__/harness.smoke.test.ts", "-t", "S3 server seaweedfs"], {
    cwd: `${import.meta.dir}/..`,
    env: { ...env, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const output = `${out}\n${err}`;
  expect(code).toBe(0);
  expect(output).toMatch(/\(pass\) S3 server seaweedfs > writes, reads, stats, lists and deletes an object/);
  expect(output).toMatch(/S3 servers ready in/);
  expect(output).toMatch(/S3 servers stopped in/);
  expect(output).not.toMatch(/WILL BE SKIPPED/);
}, 180_000);
