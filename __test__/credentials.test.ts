// Missing and refused S3 credentials (issue 14): one short line that names what was tried and how to
// provide them, code ECREDENTIALS, no SDK dump, no retries; the CLI says the same and exits 11. Each case
// runs in a child process whose environment has no AWS settings at all (and never asks the EC2
// instance-metadata address), with an endpoint on 127.0.0.1.
import { afterAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { s3TestServers, uniquePrefix } from "./helpers/servers.ts";
import { removeDir, tempDir } from "./helpers/targets.ts";

const root = tempDir("credentials");
afterAll(() => removeDir(root));

const CORE = resolve(import.meta.dir, "..", "js", "core.ts");
const BIN = resolve(import.meta.dir, "..", "bin", "s3-bun-cached-fs.ts");
const seaweed = s3TestServers().find((s) => s.name === "seaweedfs");
/** A real S3 server when the harness started one; otherwise a closed port (no request gets that far). */
const endpoint = seaweed?.endpoint ?? "http://127.0.0.1:9";
const bucket = seaweed?.bucket ?? "no-such-bucket";

/** The machine's environment without any AWS setting, a HOME with no ~/.aws, and IMDS off. */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("AWS_") && k !== "S3FS_WORKSPACE") env[k] = v;
  return {
    ...env,
    HOME: join(root, "home"),
    XDG_CACHE_HOME: join(root, "xdg"),
    AWS_CONFIG_FILE: join(root, "no-aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(root, "no-aws-credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}

async function run(argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn(argv, { env, cwd: root, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

interface MountOutcome {
  code?: string;
  message?: string;
  status?: number;
  puts: number;
  gets: number;
  ms: number;
}

/** Mounts `mode` in a child with `env` (credentials, if any, come from the options) and reports how it failed. */
async function mountInChild(mode: "readwrite" | "readonly", env: Record<string, string>, credentials?: { accessKeyId: string; secretAccessKey: string }): Promise<MountOutcome> {
  const script = `
    import { S3CachedFsManagerImpl, S3ObjectStore } from ${JSON.stringify(CORE)};
    const store = (await S3ObjectStore.connect({ bucket: ${JSON.stringify(bucket)}, prefix: ${JSON.stringify(uniquePrefix("creds"))}, endpoint: ${JSON.stringify(endpoint)}, credentials: ${JSON.stringify(credentials)} })).counting();
    const manager = new S3CachedFsManagerImpl({ cacheRoot: ${JSON.stringify(join(root, "cache"))} });
    const t0 = performance.now();
    const out = {};
    try {
      await manager.mount({ name: "m", mode: ${JSON.stringify(mode)}, cacheBytes: 1 << 20, store });
    } catch (e) {
      Object.assign(out, { code: e.code, message: e.message, status: e.status });
    }
    const c = store.counts();
    console.log(JSON.stringify({ ...out, puts: c.put, gets: c.get + c.head, ms: performance.now() - t0 }));
  `;
  const r = await run([process.execPath, "-e", script], env);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as MountOutcome;
}

const HOW_TO = /`credentials` option.*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \(or AWS_PROFILE\)/;

describe("credentials", () => {
  test("none at all: ECREDENTIALS at once, one short line naming what was tried and how to provide them", async () => {
    for (const mode of ["readwrite", "readonly"] as const) {
      const r = await mountInChild(mode, bareEnv());
      expect(r.code).toBe("ECREDENTIALS");
      const message = r.message ?? "";
      expect(message).toStartWith(`ECREDENTIALS: no S3 credentials for s3://${bucket} at ${endpoint}: `);
      expect(message).toContain("AWS_PROFILE and ~/.aws");
      expect(message).toMatch(HOW_TO);
      expect(message).not.toContain("\n");
      expect(message).not.toMatch(/DispatchFailure|ConnectorError|ProviderChainError|IMDS/);
      expect(message.length).toBeLessThan(400);
      // Not retried: the engine's retry policy would make 8 attempts of the first request.
      expect(r.puts + r.gets).toBe(1);
      expect(r.ms).toBeLessThan(1500);
    }
  }, 60_000);

  test("the CLI prints the same line and exits 11", async () => {
    const r = await run([process.execPath, BIN, `s3://${bucket}/x`, "ls", "/"], bareEnv({ AWS_ENDPOINT_URL_S3: endpoint }));
    expect(r.code).toBe(11);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`^s3-bun-cached-fs: ls: ECREDENTIALS: no S3 credentials for s3://${bucket} at ${endpoint.replace(/\./g, "\\.")}: [^\\n]*AWS_ACCESS_KEY_ID[^\\n]*\\n$`));
    const j = await run([process.execPath, BIN, `s3://${bucket}/x`, "log", "--json"], bareEnv({ AWS_ENDPOINT_URL_S3: endpoint }));
    expect(j.code).toBe(11);
    expect(JSON.parse(j.stderr)).toMatchObject({ error: { code: "ECREDENTIALS", exitCode: 11 } });
  }, 60_000);

  test.skipIf(seaweed === undefined)("refused by the store (a wrong secret): ECREDENTIALS with the provider's status and code, never the secret", async () => {
    const secret = "wrong-secret-NEVER-PRINT-ME";
    const r = await mountInChild("readonly", bareEnv(), { accessKeyId: seaweed?.accessKeyId ?? "", secretAccessKey: secret });
    expect(r.code).toBe("ECREDENTIALS");
    expect(r.status).toBe(403);
    const message = r.message ?? "";
    expect(message).toMatch(new RegExp(`^ECREDENTIALS: s3://${bucket} at .* refused the credentials: HTTP 403 \\w+: `));
    expect(message).toMatch(HOW_TO);
    expect(message).not.toContain(secret);
    expect(r.gets).toBe(1);
  }, 60_000);
});
