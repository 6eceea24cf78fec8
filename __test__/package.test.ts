// The package as users get it (issues 6 and 14): `npm pack` the repo (its prepack compiles dist/), then
//  - a fresh Bun app (`bun add` the tarball; no frameworks: they are optional peers): every entry point
//    imports, /core does a real write and read, and a strict `tsc --noEmit` (no skipLibCheck) passes;
//  - a fresh Node app (`npm install` the tarball, no peers) the same on each Node here (the machine's, and
//    Node 22 from the npm registry), and the CLI through its bin with no Bun on PATH;
//  - with the peers installed (linked from this checkout), an app that uses every adapter typechecks and
//    gets the peers' precise types.
// Also: the exports map names packed files only, every relative import in the packed code resolves inside
// the package, and nothing of the repo's own tree leaks in.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { nodeBinaries } from "./helpers/node.ts";
import { removeDir, tempDir } from "./helpers/targets.ts";

const repoRoot = resolve(import.meta.dir, "..");
const bun = join(repoRoot, "node_modules", ".bin", "bun");
const root = tempDir("package");
afterAll(() => removeDir(root));

const SUBPATHS = ["index", "core", "mastra", "just-bash", "flue"] as const;
const PEERS = ["just-bash", "@flue/runtime", "@mastra/core"];

interface RepoPackageJson {
  name: string;
  version: string;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
interface PackResult {
  filename: string;
  files: { path: string }[];
}

function run(cmd: string[], cwd: string, timeoutMs: number, env: Record<string, string | undefined> = process.env): string {
  const r = Bun.spawnSync({ cmd, cwd, timeout: timeoutMs, env: { ...env, NO_COLOR: "1", npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" } });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} (in ${cwd}) exited ${r.exitCode ?? r.signalCode}\n${out}\n${r.stderr.toString()}`);
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** Links packages of this checkout's node_modules into an app's (tools and types, and the peers). */
function link(app: string, names: string[]): void {
  for (const name of names) {
    const to = join(app, "node_modules", name);
    mkdirSync(dirname(to), { recursive: true });
    symlinkSync(join(repoRoot, "node_modules", name), to);
  }
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** The app's script: every entry point, then a real write and read on a LocalObjectStore mount. */
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
  // openWrite hands out this runtime's local file (a BunFile, or a NodeLocalFile on Node).
  const handle = await fs.openWrite("/out/new.txt");
  await handle.file.write("written locally\\n");
  await handle.close();
  const local = await fs.materialize("/out/new.txt");
  const localText = await local.file.text();
  local.release();
  // The Mastra adapter without Mastra installed: its look-alike error classes stand in.
  const mastraFs = new AcceleratedFS({ id: "consumer", fs });
  const missing = await mastraFs.readFile("missing.txt").then(() => "resolved", (e) => e.name);
  await manager.close();
  console.log(JSON.stringify({
    text,
    localText,
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
    frameworksLoaded: typeof require === "undefined" ? [] : Object.keys(require.cache).filter((k) => /node_modules\\/(@mastra|@flue|just-bash)\\//.test(k)),
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
`;

interface ConsumerReport {
  text: string;
  localText: string;
  seq: number;
  missing: string;
  resolved: string;
  functions: Record<string, string | boolean>;
  frameworksLoaded: string[];
}

function checkReport(out: string, app: string, resolvedFile: string): void {
  const report = JSON.parse(out.trim().split("\n").pop() ?? "") as ConsumerReport;
  expect(report.text).toBe("hello from the tarball\n");
  expect(report.localText).toBe("written locally\n");
  expect(report.seq).toBeGreaterThanOrEqual(2);
  expect(report.missing).toBe("FileNotFoundError");
  expect(report.functions).toEqual({
    S3CachedFsManagerImpl: "function",
    AcceleratedFS: "function",
    createAcceleratedJustBashShell: "function",
    acceleratedFsSandbox: "function",
    subpaths: true,
  });
  expect(report.frameworksLoaded).toEqual([]);
  // Resolved from the fresh app's node_modules (the runtime's own export condition), not from this repo.
  expect(report.resolved).toBe(`file://${join(app, "node_modules", "s3-bun-cached-fs", resolvedFile)}`);
}

/** A typed app without the peers: every subpath, and the local file type of its runtime. */
const typedApp = (localFileCheck: string) => `
import * as everything from "s3-bun-cached-fs";
import { LocalObjectStore, S3CachedFsManagerImpl, isFsError, type CachedFs, type Stats } from "s3-bun-cached-fs/core";
import { AcceleratedFS, type FileStat } from "s3-bun-cached-fs/mastra";
import { AcceleratedJustBashFs, createAcceleratedJustBashShell } from "s3-bun-cached-fs/just-bash";
import { acceleratedFsSandbox } from "s3-bun-cached-fs/flue";

export async function app(dir: string): Promise<number> {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: dir });
  const fs: CachedFs = await manager.mount({ name: "w", mode: "readwrite", store: new LocalObjectStore(dir), cacheBytes: 1 << 20 });
  const st: Stats = fs.statSync("/");
  const handle = await fs.openWrite("/out.txt");
  ${localFileCheck}
  const mastra = new AcceleratedFS({ id: "x", fs });
  const info: FileStat = await mastra.stat("/");
  const jb = new AcceleratedJustBashFs(fs);
  const factory = acceleratedFsSandbox({ mount: fs });
  void [everything.CachedFs, isFsError, createAcceleratedJustBashShell, jb, factory, info];
  // @ts-expect-error -- a typo is caught: the core types are precise
  fs.writeFiel("/x", "y");
  return st.size;
}
`;

/** An app with the peers installed: each adapter, and the peers' precise types (not \`any\`) come through. */
const PEERS_APP = `
import { LocalObjectStore, S3CachedFsManagerImpl } from "s3-bun-cached-fs/core";
import { AcceleratedFS } from "s3-bun-cached-fs/mastra";
import { AcceleratedJustBashFs, createAcceleratedJustBashShell } from "s3-bun-cached-fs/just-bash";
import { acceleratedFsSandbox } from "s3-bun-cached-fs/flue";
import type { IFileSystem, BashExecResult } from "just-bash";
import type { SandboxFactory } from "@flue/runtime";
import type { WorkspaceFilesystem } from "@mastra/core/workspace";

export async function app(dir: string): Promise<string> {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: dir });
  const fs = await manager.mount({ name: "w", mode: "readwrite", store: new LocalObjectStore(dir), cacheBytes: 1 << 20 });
  const jbfs: IFileSystem = new AcceleratedJustBashFs(fs);
  const shell = await createAcceleratedJustBashShell({ filesystem: fs });
  const result: BashExecResult = await shell.exec("echo hi");
  // @ts-expect-error -- precise just-bash types: exitCode is a number
  const wrong: string = result.exitCode;
  const factory: SandboxFactory = acceleratedFsSandbox({ mount: fs });
  const mastra: WorkspaceFilesystem = new AcceleratedFS({ id: "x", fs });
  void [jbfs, wrong, factory, mastra];
  return result.stdout;
}
`;

/** The README's quick start (the first ts block under "## Quick start"), which must run as written. */
function quickStart(): string {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const block = /```ts\n([^]*?)```/.exec(readme.slice(readme.indexOf("## Quick start")))?.[1];
  if (block === undefined) throw new Error("README.md: no quick start block");
  return block;
}
const QUICK_START_OUTPUT = "1\n- ship it\n\nwritten after the reader mounted\n";

const strict = { strict: true, noEmit: true, skipLibCheck: false, noUncheckedIndexedAccess: true, target: "ES2022", lib: ["ES2022"] };

test("npm pack → fresh Bun and Node apps without peers: every subpath imports and typechecks; with peers, precise types", async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as RepoPackageJson;

  // 1. The tarball (prepack compiles dist/).
  const packed = JSON.parse(run(["npm", "pack", "--json", "--pack-destination", root], repoRoot, 180_000).replace(/^[^[]*/, "")) as PackResult[];
  const tarball = join(root, packed[0]?.filename ?? "");
  expect(existsSync(tarball)).toBe(true);
  const inTarball = new Set(packed[0]?.files.map((f) => f.path));
  const needed = ["package.json", "index.js", "index.d.ts", "s3-bun-cached-fs.linux-x64-gnu.node", "README.md", "dist/package.json", "bin/s3-bun-cached-fs.mjs"];
  for (const s of SUBPATHS) needed.push(`dist/${s}.js`, `dist/${s}.d.ts`, `js/${s}.ts`);
  for (const need of needed) expect({ need, packed: inTarball.has(need) }).toEqual({ need, packed: true });
  // The exports map (every condition) and the bin only name files that are in the tarball.
  const targets = Object.entries(pkg.exports).flatMap(([subpath, t]) => (typeof t === "string" ? [[subpath, t]] : Object.values(t).map((f) => [subpath, f])));
  for (const [subpath, t] of [...targets, ...Object.entries(pkg.bin)]) expect({ subpath, file: t, packed: inTarball.has((t as string).replace(/^\.\//, "")) }).toEqual({ subpath, file: t, packed: true });
  for (const s of SUBPATHS.filter((s) => s !== "index")) expect(Object.keys(pkg.exports[`./${s}`] as object)).toEqual(["types", "bun", "import", "default"]);
  // Nothing of the repo's own working tree: tests, Rust sources, benches, build output.
  expect([...inTarball].filter((p) => /^(__test__|src|bench|scripts|target|demos|node_modules|npm)\//.test(p) || /^Cargo\./.test(p))).toEqual([]);
  // Declarations never name the optional peers or Bun unguarded (an app without them must typecheck).
  for (const f of [...inTarball].filter((p) => p.endsWith(".d.ts"))) {
    const lines = readFileSync(join(repoRoot, f), "utf8").split("\n");
    lines.forEach((line, i) => {
      const code = !/^\s*(\/\/|\/\*|\*)/.test(line);
      if (code && /(?:from\s*|import\()\s*["'](just-bash|@flue\/runtime|@mastra\/[^"']+|bun)["']/.test(line)) expect({ f, line, guarded: lines[i - 1]?.startsWith("// @ts-ignore") }).toEqual({ f, line, guarded: true });
    });
  }

  // 2. A fresh Bun app.
  const bunApp = join(root, "bun-app");
  mkdirSync(bunApp);
  writeJson(join(bunApp, "package.json"), { name: "bun-app", private: true, type: "module" });
  run([bun, "add", tarball], bunApp, 60_000);
  const installed = join(bunApp, "node_modules", pkg.name);
  expect((JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as RepoPackageJson).version).toBe(pkg.version);
  for (const dep of Object.keys(pkg.dependencies ?? {})) expect(existsSync(join(bunApp, "node_modules", dep))).toBe(true);
  for (const peer of Object.keys(pkg.peerDependencies ?? {})) expect({ peer, installed: existsSync(join(bunApp, "node_modules", peer)) }).toEqual({ peer, installed: false });
  // The installed copy is this checkout's, byte for byte.
  expect(readFileSync(join(installed, "js", "fs.ts"), "utf8")).toBe(readFileSync(join(repoRoot, "js", "fs.ts"), "utf8"));
  // Every relative import in the packed code (sources, compiled JS, declarations) resolves to a packed file.
  const unresolved: string[] = [];
  for (const file of [...filesUnder(join(installed, "js")), ...filesUnder(join(installed, "dist"))].filter((f) => /\.(ts|js)$/.test(f))) {
    for (const m of readFileSync(file, "utf8").matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
      const spec = m[1] as string;
      if (!existsSync(resolve(dirname(file), spec))) unresolved.push(`${relative(installed, file)}: ${spec}`);
    }
  }
  expect(unresolved).toEqual([]);
  checkReport(run([bun, "--no-install", "-e", CONSUMER], bunApp, 30_000), bunApp, "js/core.ts");
  writeFileSync(join(bunApp, "quickstart.mjs"), quickStart());
  expect(run([bun, "--no-install", "quickstart.mjs"], bunApp, 30_000)).toBe(QUICK_START_OUTPUT);
  link(bunApp, ["typescript", "@types/bun", "bun-types", "@types/node", "undici-types"]);
  writeJson(join(bunApp, "tsconfig.json"), { compilerOptions: { ...strict, module: "Preserve", moduleResolution: "bundler", types: ["bun"] }, files: ["app.ts"] });
  writeFileSync(join(bunApp, "app.ts"), typedApp(`const file: import("bun").BunFile = handle.file;\n  void file;`));
  run([process.execPath, join(bunApp, "node_modules", "typescript", "bin", "tsc"), "-p", bunApp], bunApp, 120_000);

  // 3. A fresh Node app, installed by npm.
  const nodeApp = join(root, "node-app");
  mkdirSync(nodeApp);
  writeJson(join(nodeApp, "package.json"), { name: "node-app", private: true, type: "module" });
  run(["npm", "install", "--no-audit", "--no-fund", tarball], nodeApp, 120_000);
  for (const peer of Object.keys(pkg.peerDependencies ?? {})) expect({ peer, installed: existsSync(join(nodeApp, "node_modules", peer)) }).toEqual({ peer, installed: false });
  writeFileSync(join(nodeApp, "consumer.mjs"), CONSUMER);
  const nodes = await nodeBinaries();
  expect(nodes.length).toBeGreaterThanOrEqual(1);
  for (const node of nodes) {
    checkReport(run([node.path, "consumer.mjs"], nodeApp, 30_000), nodeApp, "dist/core.js");
    writeFileSync(join(nodeApp, "quickstart.mjs"), quickStart());
    expect(run([node.path, "quickstart.mjs"], nodeApp, 30_000)).toBe(QUICK_START_OUTPUT);
    // The CLI through its bin, with only this Node on PATH (no Bun anywhere).
    const PATH = `${dirname(node.path)}:/usr/bin:/bin`;
    expect(Bun.which("bun", { PATH })).toBeNull();
    const ws = join(root, `cli-${node.major}`);
    const env = { HOME: root, PATH, XDG_CACHE_HOME: join(root, "xdg") };
    const binPath = join(nodeApp, "node_modules", ".bin", "s3-bun-cached-fs");
    expect(run([binPath, "-w", ws, "put", "-q", join(nodeApp, "package.json"), "/app/package.json"], nodeApp, 30_000, env)).toBe("");
    expect(run([binPath, "-w", ws, "ls", "/app"], nodeApp, 30_000, env)).toBe("package.json\n");
    expect(run([binPath, "--version"], nodeApp, 30_000, env).trim()).toBe(pkg.version);
  }
  link(nodeApp, ["typescript", "@types/node", "undici-types"]);
  writeJson(join(nodeApp, "tsconfig.json"), { compilerOptions: { ...strict, module: "NodeNext", moduleResolution: "NodeNext", types: ["node"] }, files: ["app.ts"] });
  writeFileSync(join(nodeApp, "app.ts"), typedApp(`const file: import("s3-bun-cached-fs/core").NodeLocalFile = handle.file;\n  file.writer().write("x");`));
  run([process.execPath, join(nodeApp, "node_modules", "typescript", "bin", "tsc"), "-p", nodeApp], nodeApp, 120_000);

  // 4. The same Node app with the peers: every adapter typechecks against their own types.
  link(nodeApp, PEERS);
  writeJson(join(nodeApp, "tsconfig.peers.json"), { compilerOptions: { ...strict, skipLibCheck: true, module: "NodeNext", moduleResolution: "NodeNext", types: ["node"] }, files: ["peers.ts"] });
  writeFileSync(join(nodeApp, "peers.ts"), PEERS_APP);
  run([process.execPath, join(nodeApp, "node_modules", "typescript", "bin", "tsc"), "-p", join(nodeApp, "tsconfig.peers.json")], nodeApp, 180_000);
}, 600_000);
