// Run by Node (never Bun) from __test__/node.test.ts: the compiled package (dist/) on Node against
// LocalObjectStore and each S3 server in S3FS_TEST_SERVERS. Core (writes, a transaction, reads, streams,
// openWrite, materialize, a refreshing reader, errors), the Mastra adapter with Mastra's own error classes,
// the just-bash shell, and the Flue sandbox where @flue/runtime loads (it needs node:sqlite, Node >= 22).
// Prints one JSON line: { ok: [checks], skipped: [reasons] }; any failure throws (exit 1).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore, NodeLocalFile, S3CachedFsManagerImpl, S3ObjectStore } from "../../dist/core.js";
import { AcceleratedFS } from "../../dist/mastra.js";
import { createAcceleratedJustBashShell } from "../../dist/just-bash.js";
import { acceleratedFsSandbox } from "../../dist/flue.js";

assert.equal(typeof globalThis.Bun, "undefined", "this must run on Node");
const root = mkdtempSync(join(tmpdir(), "s3fs-node-"));
const ok = [];
const skipped = [];
const MiB = 1 << 20;

const unique = (label) => `t-node-${label}-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 10)}/`;
const targets = [{ name: "LocalObjectStore", open: async (label) => new LocalObjectStore(join(root, "stores", unique(label))) }];
for (const s of JSON.parse(process.env.S3FS_TEST_SERVERS || "[]").filter((s) => s.name === "seaweedfs")) {
  targets.push({
    name: s.name,
    open: (label) => S3ObjectStore.connect({ bucket: s.bucket, prefix: unique(label), region: s.region, endpoint: s.endpoint, credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }),
  });
}

async function codeOf(p) {
  try {
    await p;
  } catch (e) {
    return e.code;
  }
  return "resolved";
}

let mounts = 0;
async function fixture(target, label) {
  const store = await target.open(label);
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++mounts}`) });
  const mount = (name, mode) => manager.mount({ name, mode, cacheBytes: 64 * MiB, store });
  return { manager, mount };
}

async function core(target) {
  const { manager, mount } = await fixture(target, "core");
  const w = await mount("w", "readwrite");
  await w.writeFile("/notes/todo.md", "- ship it\n", { recursive: true });
  await w.transaction(async (tx) => {
    await tx.mkdir("/out", { recursive: true });
    for (let i = 0; i < 200; i++) await tx.writeFile(`/out/${i}.txt`, `${i}`);
    await tx.rename("/notes/todo.md", "/out/todo.md");
  });
  assert.equal(await w.readText("/out/todo.md"), "- ship it\n");
  assert.equal(w.statSync("/out/199.txt").size, 3);
  assert.equal((await w.readdir("/out", { recursive: true })).length, 201);
  // A file larger than a chunk, streamed back in windows.
  const big = Buffer.alloc(9 * MiB + 123);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  await w.writeFile("/big.bin", big);
  const h1 = createHash("sha256");
  let streamed = 0;
  for await (const chunk of w.stream("/big.bin")) {
    h1.update(chunk);
    streamed += chunk.byteLength;
  }
  assert.equal(streamed, big.length);
  assert.equal(h1.digest("hex"), createHash("sha256").update(big).digest("hex"));
  assert.deepEqual(await w.read("/big.bin", { offset: 4096, length: 2 }), Buffer.from([0, 0]));
  // openWrite: a NodeLocalFile to fill; close() commits it, parents created.
  const handle = await w.openWrite("/results/deep/out.txt");
  assert.ok(handle.file instanceof NodeLocalFile);
  const sink = handle.file.writer();
  sink.write("hello ");
  sink.write(new TextEncoder().encode("from node\n"));
  await sink.end();
  await handle.close();
  assert.equal(await w.readText("/results/deep/out.txt"), "hello from node\n");
  const local = await w.materialize("/results/deep/out.txt");
  assert.equal(await local.file.text(), "hello from node\n");
  assert.equal(local.file.size, 16);
  local.release();
  // A reader sees the writer's commits after refresh; it cannot write.
  const r = await mount("r", "readonly");
  await w.writeFile("/late.txt", "late");
  assert.equal((await r.refresh()).outcome, "advanced");
  assert.equal(await r.readText("/late.txt"), "late");
  assert.equal(await codeOf(r.writeFile("/x", "y")), "EROFS");
  assert.equal(await codeOf(w.readFile("/nope")), "ENOENT");
  assert.ok(w.stats().commits >= 4);
  await manager.close();
  ok.push(`core on ${target.name}`);
}

async function mastra(target) {
  const errors = await import("@mastra/core/workspace");
  const { manager, mount } = await fixture(target, "mastra");
  const fs = await mount("w", "readwrite");
  const m = new AcceleratedFS({ id: "node", fs, errors });
  await m.init();
  await m.writeFile("src/app.ts", "export const answer = 42;\n");
  await m.writeFile("src/util.ts", "export const x = 1;\n");
  assert.equal(await m.readFile("src/app.ts", { encoding: "utf8" }), "export const answer = 42;\n");
  assert.deepEqual((await m.readdir("src")).map((e) => e.name).sort(), ["app.ts", "util.ts"]);
  assert.equal((await m.stat("src/app.ts")).type, "file");
  assert.equal(await m.exists("src/none.ts"), false);
  const hits = await m.grep({ pattern: "answer", path: ".", caseSensitive: true, includeHidden: false });
  assert.equal(hits.length, 1);
  await assert.rejects(m.readFile("src/none.ts"), (e) => e instanceof errors.FileNotFoundError);
  await manager.close();
  ok.push(`mastra on ${target.name}`);
}

async function justBash(target) {
  const { manager, mount } = await fixture(target, "just-bash");
  const fs = await mount("w", "readwrite");
  const shell = await createAcceleratedJustBashShell({ filesystem: fs });
  const seq = fs.seq;
  const r = await shell.exec("mkdir -p /jb && echo hi > /jb/a.txt && cat /jb/a.txt | wc -c");
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.trim(), "3");
  assert.equal(r.committed, true);
  assert.equal(fs.seq, seq + 1);
  assert.equal(await fs.readText("/jb/a.txt"), "hi\n");
  await manager.close();
  ok.push(`just-bash on ${target.name}`);
}

async function flue(target) {
  try {
    await import("@flue/runtime");
  } catch (e) {
    skipped.push(`flue on Node ${process.versions.node}: @flue/runtime does not load (${String(e.message).split("\n")[0]})`);
    return;
  }
  const { manager, mount } = await fixture(target, "flue");
  const fs = await mount("w", "readwrite");
  const sandbox = await acceleratedFsSandbox({ mount: fs }).createSandbox({ id: "node" });
  await sandbox.writeFile("/work/a.txt", "flue\n");
  const r = await sandbox.exec("cat /work/a.txt");
  assert.equal(r.stdout, "flue\n");
  assert.equal(r.committed, true);
  await manager.close();
  ok.push(`flue on ${target.name}`);
}

try {
  for (const t of targets) {
    await core(t);
    await mastra(t);
    await justBash(t);
    await flue(t);
  }
  console.log(JSON.stringify({ node: process.versions.node, ok, skipped }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
