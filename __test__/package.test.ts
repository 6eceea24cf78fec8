// The package as a user gets it: `npm pack` the repo, `bun add` the tarball into a fresh Bun project (no
// frameworks: they are optional peers), and in a child `bun` there import all five entry points and do a
// real write and read through `/core`. Also: every relative import in the packed js/ resolves inside the
// package, the exports map points at packed files, and nothing from the repo's own tree leaks in.
import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { removeDir, tempDir } from "./helpers/targets.ts";

const repoRoot = resolve(import.meta.dir, "..");
const bun = join(repoRoot, "node_modules", ".bin", "bun");
const root = tempDir("package");
afterAll(() => removeDir(root));

interface RepoPackageJson {
  name: string;
  version: string;
  exports: Record<string, string | { types?: string; default?: string }>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
interface PackResult {
  filename: string;
  files: { path: string }[];
}

function run(cmd: string[], cwd: string, timeoutMs: number): string {
  const r = Bun.spawnSync({ cmd, cwd, timeout: timeoutMs, env: { ...process.env, NO_COLOR: "1", npm_config_update_notifier: "false", npm_config_fund: "false" } });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} (in ${cwd}) exited ${r.exitCode ?? r.signalCode}\n${out}\n${r.stderr.toString()}`);
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** The child's script: every entry point, then a real write and read on a LocalObjectStore mount. */
const CONSUMER = `
import * as everything from "s3-bun-cached-fs";
import { LocalObjectStore, S3CachedFsManagerImpl } from "s3-bun-cached-fs/core";
import { AcceleratedFS } from "s3-bun-cached-fs/mastra";
import { AcceleratedJustBashFs, createAcceleratedJustBashShell } from "s3-bun-cached-fs/just-bash";
import { acceleratedFsSandbox } from "s3-bun-cached-fs/flue";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "s3fs-consumer-"));
try {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "cache") });
  const fs = await manager.mount({ name: "consumer", mode: "readwrite", store: new LocalObjectStore(join(dir, "bucket")), cacheBytes: 1 << 20 });
  await fs.writeFile("/hello/world.txt", "hello from the tarball\\n", { recursive: true });
  const text = await fs.readText("/hello/world.txt");
  // The Mastra adapter without Mastra installed: its look-alike error classes stand in.
  const mastraFs = new AcceleratedFS({ id: "consumer", fs });
  const missing = await mastraFs.readFile("missing.txt").then(() => "resolved", (e) => e.name);
  await manager.close();
  console.log(JSON.stringify({
    text,
    seq: fs.seq,
    missing,
    resolved: import.meta.resolve("s3-bun-cached-fs/core"),
    functions: {
      S3CachedFsManagerImpl: typeof everything.S3CachedFsManagerImpl,
      AcceleratedFS: typeof everything.AcceleratedFS,
      createAcceleratedJustBashShell: typeof everything.createAcceleratedJustBashShell,
      acceleratedFsSandbox: typeof everything.acceleratedFsSandbox,
      subpaths: [AcceleratedFS, AcceleratedJustBashFs, createAcceleratedJustBashShell, acceleratedFsSandbox].every((f) => typeof f === "function"),
    },
    frameworksLoaded: Object.keys(require.cache).filter((k) => /node_modules\\/(@mastra|@flue|just-bash)\\//.test(k)),
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
`;

interface ConsumerReport {
  text: string;
  seq: number;
  missing: string;
  resolved: string;
  functions: Record<string, string | boolean>;
  frameworksLoaded: string[];
}

test("npm pack → bun add in a fresh project → all five entry points import and /core works", () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as RepoPackageJson;

  // 1. The tarball.
  const packed = JSON.parse(run(["npm", "pack", "--json", "--pack-destination", root], repoRoot, 60_000)) as PackResult[];
  const tarball = join(root, packed[0]?.filename ?? "");
  expect(existsSync(tarball)).toBe(true);
  const inTarball = new Set(packed[0]?.files.map((f) => f.path));
  for (const need of ["package.json", "index.js", "index.d.ts", "s3-bun-cached-fs.linux-x64-gnu.node", "README.md"]) expect(inTarball).toContain(need);
  // The exports map only names files that are in the tarball.
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const targets = typeof target === "string" ? [target] : [target.types, target.default].filter((t): t is string => t !== undefined);
    for (const t of targets) expect({ subpath, file: t, packed: inTarball.has(t.replace(/^\.\//, "")) }).toEqual({ subpath, file: t, packed: true });
  }
  // Nothing of the repo's own working tree: tests, Rust sources, benches, build output.
  expect([...inTarball].filter((p) => /^(__test__|src|bench|scripts|target|demos|node_modules|npm)\//.test(p) || /^Cargo\./.test(p))).toEqual([]);

  // 2. A fresh Bun project that installs it (the runtime dependency comes from the registry or bun's cache).
  const project = join(root, "consumer");
  run(["mkdir", "-p", project], root, 5_000);
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2)}\n`);
  run([bun, "add", tarball], project, 45_000);
  const installed = join(project, "node_modules", pkg.name);
  const installedPkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as RepoPackageJson;
  expect(installedPkg.version).toBe(pkg.version);
  for (const dep of Object.keys(pkg.dependencies ?? {})) expect(existsSync(join(project, "node_modules", dep))).toBe(true);
  // The frameworks are optional peers: not installed, and not needed.
  for (const peer of Object.keys(pkg.peerDependencies ?? {})) expect({ peer, installed: existsSync(join(project, "node_modules", peer)) }).toEqual({ peer, installed: false });
  // The installed copy is this checkout's, byte for byte.
  expect(readFileSync(join(installed, "js", "fs.ts"), "utf8")).toBe(readFileSync(join(repoRoot, "js", "fs.ts"), "utf8"));

  // Every relative import in the packed TypeScript resolves to a packed file.
  const unresolved: string[] = [];
  for (const file of filesUnder(join(installed, "js")).filter((f) => f.endsWith(".ts"))) {
    const source = readFileSync(file, "utf8");
    for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
      const spec = m[1] as string;
      if (!existsSync(resolve(dirname(file), spec))) unresolved.push(`${relative(installed, file)}: ${spec}`);
    }
  }
  expect(unresolved).toEqual([]);

  // 3. A child bun in the project imports everything and does a real write and read.
  const out = run([bun, "--no-install", "-e", CONSUMER], project, 30_000);
  const report = JSON.parse(out.trim().split("\n").pop() ?? "") as ConsumerReport;
  expect(report.text).toBe("hello from the tarball\n");
  expect(report.seq).toBeGreaterThanOrEqual(1);
  expect(report.missing).toBe("FileNotFoundError");
  expect(report.functions).toEqual({
    S3CachedFsManagerImpl: "function",
    AcceleratedFS: "function",
    createAcceleratedJustBashShell: "function",
    acceleratedFsSandbox: "function",
    subpaths: true,
  });
  expect(report.frameworksLoaded).toEqual([]);
  // Resolved from the fresh project's node_modules, not from this repo.
  expect(report.resolved).toStartWith(`file://${installed}/`);
  expect(report.resolved).not.toContain(repoRoot);
}, 90_000);
