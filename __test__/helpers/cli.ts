// Running the CLI the way a user does: a child process per command, with a clean environment (no AWS
// settings of the machine, a private XDG cache home), against a LocalObjectStore directory or SeaweedFS
// (endpoint and credentials in the standard AWS environment).
import { expect } from "bun:test";
import { join, resolve } from "node:path";
import { LocalObjectStore, type ObjectStore } from "../../js/core.ts";
import { s3TestServers, uniquePrefix } from "./servers.ts";
import { s3Store } from "./targets.ts";

export const BIN = resolve(import.meta.dir, "..", "..", "bin", "s3-bun-cached-fs.ts");

export interface CliTarget {
  name: string;
  /** A fresh workspace address. */
  workspace(label: string): string;
  /** The AWS environment for the child. */
  env: Record<string, string>;
  /** The same workspace's store, opened directly. */
  store(address: string): Promise<ObjectStore>;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

export interface CliOptions {
  stdin?: string | Uint8Array;
  env?: Record<string, string>;
  cwd?: string;
}

/** The CLI harness over `root` (a temp dir the caller removes): targets, and run / expect-ok / --json helpers. */
export function cliHarness(root: string) {
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("AWS_") && k !== "S3FS_WORKSPACE" && k !== "FORCE_COLOR") baseEnv[k] = v;
  }
  Object.assign(baseEnv, {
    XDG_CACHE_HOME: join(root, "xdg"),
    AWS_CONFIG_FILE: join(root, "no-aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(root, "no-aws-credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
  });

  const targets: CliTarget[] = [
    {
      name: "LocalObjectStore",
      workspace: (label) => join(root, "stores", uniquePrefix(label)),
      env: {},
      store: async (address) => new LocalObjectStore(address),
    },
    ...s3TestServers()
      .filter((s) => s.name === "seaweedfs")
      .map(
        (s): CliTarget => ({
          name: s.name,
          workspace: (label) => `s3://${s.bucket}/${uniquePrefix(label).replace(/\/$/, "")}`,
          env: { AWS_ENDPOINT_URL_S3: s.endpoint, AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey, AWS_REGION: s.region },
          store: (address) => s3Store(s, address.slice(`s3://${s.bucket}/`.length)),
        }),
      ),
  ];

  async function cli(t: CliTarget, args: string[], opts: CliOptions = {}): Promise<CliRun> {
    const child = Bun.spawn([process.execPath, BIN, ...args], {
      env: { ...baseEnv, ...t.env, ...opts.env },
      cwd: opts.cwd ?? root,
      stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [bytes, stderr, code] = await Promise.all([new Response(child.stdout).bytes(), new Response(child.stderr).text(), child.exited]);
    return { code, stdout: new TextDecoder().decode(bytes), stderr, bytes };
  }

  /** Runs and expects exit 0 (showing stderr when not). */
  async function ok(t: CliTarget, args: string[], opts: CliOptions = {}): Promise<CliRun> {
    const r = await cli(t, args, opts);
    expect(`${args.join(" ")} -> ${r.code} ${r.stderr}`).toBe(`${args.join(" ")} -> 0 `);
    return r;
  }

  async function json<T>(t: CliTarget, args: string[], opts: CliOptions = {}): Promise<T> {
    return JSON.parse((await ok(t, [...args, "--json"], opts)).stdout) as T;
  }

  return { baseEnv, targets, cli, ok, json };
}
