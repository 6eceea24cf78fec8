/**
 * S3 servers for test files. `bun scripts/test.ts` (npm test), or for a plain `bun test` its preload
 * (scripts/test-preload.ts), starts them and passes them in S3FS_TEST_SERVERS. When they could not start
 * (or `S3FS_TEST_SERVERS=` was given) there are none, so S3 suites should iterate over `s3TestServers()`
 * and thereby skip themselves (loudly) outside CI.
 */
import type { S3ServerInfo } from "../../scripts/s3-servers.ts";

export type { S3ServerInfo };

const NAMES: ReadonlySet<string> = new Set(["seaweedfs", "moto", "external"]);

function isServerInfo(v: unknown): v is S3ServerInfo {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.name === "string" &&
    NAMES.has(r.name) &&
    typeof r.endpoint === "string" &&
    typeof r.bucket === "string" &&
    typeof r.region === "string" &&
    typeof r.accessKeyId === "string" &&
    typeof r.secretAccessKey === "string"
  );
}

function isCI(): boolean {
  return process.env.CI === "true" || process.env.CI === "1";
}

let warned = false;
let cached: S3ServerInfo[] | undefined;

/**
 * The S3 servers to run against, from S3FS_TEST_SERVERS. When it is missing this throws in CI (a missing
 * S3 server is a failure there) and otherwise warns once, loudly, and returns [].
 */
export function s3TestServers(): S3ServerInfo[] {
  if (cached !== undefined) return cached;
  const raw = process.env.S3FS_TEST_SERVERS;
  if (raw === undefined || raw.trim() === "") {
    if (isCI()) {
      throw new Error(
        "S3FS_TEST_SERVERS is not set and CI=true: a missing S3 server is a failure in CI. Run the tests with `bun scripts/test.ts` (npm test).",
      );
    }
    if (!warned) {
      warned = true;
      console.warn(
        [
          "",
          "!".repeat(78),
          "!!!  S3FS_TEST_SERVERS is not set: THE S3 SUITE WILL BE SKIPPED.",
          "!!!  Run `bun scripts/test.ts` (npm test) to start SeaweedFS + moto, or set S3FS_TEST_ENDPOINT.",
          "!".repeat(78),
          "",
        ].join("\n"),
      );
    }
    cached = [];
    return cached;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`S3FS_TEST_SERVERS is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(parsed) || !parsed.every(isServerInfo)) {
    throw new Error(`S3FS_TEST_SERVERS must be a JSON array of S3ServerInfo, got: ${raw.slice(0, 300)}`);
  }
  if (parsed.length === 0 && isCI()) throw new Error("S3FS_TEST_SERVERS is an empty list and CI=true");
  cached = parsed;
  return cached;
}

/** A key prefix no other test (or earlier run against the same bucket) uses, e.g. `t-rename-lx3k2a-9f3c1b2e/`. */
export function uniquePrefix(label: string): string {
  const safe = label.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "x";
  const random = crypto.randomUUID().replace(/-/g, "").slice(0, 8);
  return `t-${safe}-${Date.now().toString(36)}-${random}/`;
}
