/**
 * `bun test`'s preload (bunfig.toml): plain `bun test` runs the whole suite, S3 included, as `npm test`
 * does. When no servers are given (S3FS_TEST_SERVERS unset) it starts SeaweedFS and moto once for the
 * whole run and stops them after the last test; `npm test` (scripts/test.ts) has already started them and
 * set S3FS_TEST_SERVERS, so nothing happens here. `S3FS_TEST_SERVERS= bun test` runs without S3 servers.
 */
import { afterAll } from "bun:test";
import { startTestServers, stopTestServers } from "./s3-servers.ts";

// Child processes the tests spawn inherit this (the addon in this process reads the real environment,
// which `process.env` does not change in Bun; in-process tests pass credentials and region explicitly).
process.env.AWS_EC2_METADATA_DISABLED ??= "true";

if (process.env.S3FS_TEST_SERVERS === undefined) {
  const servers = await startTestServers(process.env);
  afterAll(() => stopTestServers(servers), 60_000);
}
