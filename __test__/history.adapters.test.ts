// Issue 12 through the adapters: the just-bash shell and the Flue sandbox checkpoint before each exec and
// `undo()` the last one as one new commit (only the paths that exec changed, so concurrent execs and
// writes elsewhere survive; the checkpoint keeps GC from taking what undo needs); Mastra's AcceleratedFS
// delegates checkpoint / checkpoints / diff / restore with workspace-relative paths.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { ownChanges } from "../js/exec-undo.ts";
import { acceleratedFsSandbox } from "../js/flue.ts";
import { createAcceleratedJustBashShell, type AcceleratedJustBashShellOptions } from "../js/just-bash.ts";
import { AcceleratedFS } from "../js/mastra.ts";
import { codeOf, removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const root = tempDir("history-adapters");
const managers: S3CachedFsManagerImpl[] = [];
afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  removeDir(root);
});

let n = 0;
async function mountOf(store: ObjectStore, mode: "readwrite" | "readonly" = "readwrite"): Promise<CachedFs> {
  const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
  managers.push(m);
  return m.mount({ name: "w", mode, cacheBytes: 64 << 20, store });
}

/** Every path with its contents ("dir" for directories), sorted. */
async function tree(fs: CachedFs): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fs.readdir("/", { recursive: true, withFileTypes: true })) {
    out.push(d.isDirectory() ? `/${d.name}/` : `/${d.name}=${await fs.readText(`/${d.name}`)}`);
  }
  return out.sort();
}

const execCheckpoints = async (fs: CachedFs): Promise<string[]> => (await fs.checkpoints()).map((c) => c.name).filter((name) => name.startsWith("exec-"));

async function shellOn(fs: CachedFs, options: Partial<AcceleratedJustBashShellOptions> = {}) {
  return createAcceleratedJustBashShell({ filesystem: fs, checkpointBeforeExec: true, ...options });
}

describe("which changes undo takes back (ownChanges)", () => {
  const added = (path: string, kind: "file" | "directory" = "file") => ({ path, change: "added" as const, kind });
  test("paths the exec touched, what is under a path it changed, and directories it created on the way", () => {
    const changes = [added("/mine"), added("/new", "directory"), added("/new/deep", "directory"), added("/new/deep/x"), added("/shared/theirs"), { path: "/shared", change: "modeChanged" as const, kind: "directory" as const }, added("/gone/y")];
    // A new file, a file in directories it created, and a chmod of a directory someone else wrote in.
    expect(ownChanges(changes, ["/mine", "/new/deep/x", "/shared"]).map((c) => c.path)).toEqual(["/mine", "/new", "/new/deep", "/new/deep/x", "/shared"]);
    // A created directory that also holds someone else's file is not the exec's to remove.
    const mixed = [added("/out", "directory"), added("/out/mine"), added("/out/theirs")];
    expect(ownChanges(mixed, ["/out/mine"]).map((c) => c.path)).toEqual(["/out/mine"]);
    // A rename counts from either end.
    const moved = [{ path: "/b", change: "renamed" as const, fromPath: "/a", kind: "directory" as const }];
    expect(ownChanges(moved, ["/a"]).length).toBe(1);
  });
});

for (const target of storeTargets(root, ["seaweedfs"])) {
  describe(`undo through the adapters on ${target.name}`, () => {
    test("just-bash: each exec is checkpointed; undo() takes back the last one as one commit, then the one before", async () => {
      const fs = await mountOf(await target.open("jb-undo"));
      await fs.writeFile("/notes.md", "orig");
      const shell = await shellOn(fs, { cwd: "/work" });
      const base = await tree(fs);

      const r1 = await shell.exec("mkdir -p out/deep && echo hi > out/deep/a.txt && echo edited > /notes.md");
      expect(r1).toMatchObject({ exitCode: 0, committed: true });
      const afterFirst = await tree(fs);
      expect((await shell.exec("cat /notes.md")).stdout).toBe("edited\n");
      const r2 = await shell.exec("rm /notes.md && mv out /work/moved");
      expect(r2.exitCode).toBe(0);
      expect(await tree(fs)).toEqual(["/work/", "/work/moved/", "/work/moved/deep/", "/work/moved/deep/a.txt=hi\n"]);
      // The read-only exec is not undoable, and its checkpoint is gone already.
      expect(shell.undoable.map((u) => u.script)).toEqual(["mkdir -p out/deep && echo hi > out/deep/a.txt && echo edited > /notes.md", "rm /notes.md && mv out /work/moved"]);
      expect(await execCheckpoints(fs)).toEqual(shell.undoable.map((u) => u.checkpoint));

      const seq = fs.seq;
      const u2 = await shell.undo();
      expect(u2).toMatchObject({ script: "rm /notes.md && mv out /work/moved", seq: seq + 1, paths: ["/notes.md", "/work/moved", "/work/out"] });
      expect(await tree(fs)).toEqual(afterFirst);
      const u1 = await shell.undo();
      expect(u1?.seq).toBe(seq + 2);
      expect(u1?.paths).toEqual(["/notes.md", "/work/out"]);
      expect(await tree(fs)).toEqual(base);
      expect(await shell.undo()).toBeUndefined();
      expect(await execCheckpoints(fs)).toEqual([]);
      expect(fs.seq).toBe(seq + 2);
    }, 120_000);

    test("just-bash: concurrent execs and writes elsewhere survive an undo; a path changed again afterwards goes back too", async () => {
      const fs = await mountOf(await target.open("jb-concurrent"));
      const shell = await shellOn(fs);
      const [a, b] = await Promise.all([shell.exec("echo a > /a.txt"), shell.exec("sleep 0.05; echo b > /b.txt"), fs.writeFile("/c.txt", "c")]);
      expect([a?.committed, b?.committed]).toEqual([true, true]);
      // The last exec started is undone first: only its path.
      expect((await shell.undo())?.paths).toEqual(["/b.txt"]);
      expect(await tree(fs)).toEqual(["/a.txt=a\n", "/c.txt=c"]);
      // Something else wrote the exec's path after it: undo still puts the path back as before the exec.
      await fs.writeFile("/a.txt", "later");
      await fs.writeFile("/d.txt", "d");
      expect((await shell.undo())?.paths).toEqual(["/a.txt"]);
      expect(await tree(fs)).toEqual(["/c.txt=c", "/d.txt=d"]);
    }, 120_000);

    test("just-bash: rolled back execs leave nothing to undo; keep bounds the checkpoints; without a transaction per exec undo is one commit too", async () => {
      const fs = await mountOf(await target.open("jb-keep"));
      const shell = await shellOn(fs, { checkpointBeforeExec: { prefix: "exec-k", keep: 2 } });
      const timedOut = await shell.exec("echo x > /x.txt; sleep 5", { timeoutMs: 100 });
      expect(timedOut).toMatchObject({ exitCode: 124, committed: false });
      expect(shell.undoable).toEqual([]);
      for (const i of [1, 2, 3]) await shell.exec(`echo ${i} > /f${i}`);
      expect(shell.undoable.map((u) => u.script)).toEqual(["echo 2 > /f2", "echo 3 > /f3"]);
      // Deleting the dropped and the rolled-back exec's checkpoints runs in the background.
      for (let i = 0; i < 50 && (await execCheckpoints(fs)).length > 2; i++) await Bun.sleep(20);
      expect(await execCheckpoints(fs)).toEqual(shell.undoable.map((u) => u.checkpoint));
      expect(shell.undoable.every((u) => u.checkpoint.startsWith("exec-k"))).toBe(true);

      const perWrite = await shellOn(fs, { transactionPerExec: false });
      const seq = fs.seq;
      await perWrite.exec("echo p > /p1 && echo q > /p2");
      const after = fs.seq;
      expect(after).toBeGreaterThan(seq + 1);
      expect((await perWrite.undo())?.paths).toEqual(["/p1", "/p2"]);
      expect(fs.seq).toBe(after + 1);
      expect(fs.existsSync("/p1") || fs.existsSync("/p2")).toBe(false);
      expect(await codeOf(shellOn(fs, { checkpointBeforeExec: { prefix: ".hidden" } }))).toBe("no code");
      expect(await codeOf(shellOn(fs, { checkpointBeforeExec: { keep: 0 } }))).toBe("no code");
    }, 120_000);

    test("the checkpoint keeps what undo needs from GC; a readonly shell has nothing to undo", async () => {
      const store = await target.open("jb-gc");
      const fs = await mountOf(store);
      await fs.writeFile("/big.bin", Buffer.alloc(3 << 20, 7));
      const shell = await shellOn(fs);
      await shell.exec("rm /big.bin && echo small > /big.bin");
      for (let i = 0; i < 5; i++) await fs.writeFile("/churn", `${i}`);
      const report = await fs.gc({ graceMs: 0 });
      expect(report.deleted).toBeGreaterThan(0);
      await shell.undo();
      expect((await fs.readFile("/big.bin")).equals(Buffer.alloc(3 << 20, 7))).toBe(true);
      expect((await fs.fsck()).ok).toBe(true);

      const reader = await mountOf(store, "readonly");
      const ro = await shellOn(reader);
      expect((await ro.exec("cat /churn")).stdout).toBe("4");
      expect(ro.undoable).toEqual([]);
      expect(await ro.undo()).toBeUndefined();
    }, 120_000);

    test("Flue: sandbox.undo() takes back the last exec; the factory finds the sandbox by agent id; file verbs are not execs", async () => {
      const fs = await mountOf(await target.open("flue-undo"));
      const factory = acceleratedFsSandbox({ cwd: "/workspace", mount: fs, shell: { checkpointBeforeExec: true } });
      const sandbox = await factory.createSandbox({ id: "agent-1" });
      expect(factory.sandbox("agent-1")).toBe(sandbox);
      expect(factory.sandbox("other")).toBeUndefined();
      await sandbox.writeFile("plan.md", "# plan\n");
      const r = await sandbox.exec("echo step >> plan.md && mkdir -p out && echo done > out/result.txt");
      expect(r).toMatchObject({ exitCode: 0, committed: true });
      expect(await sandbox.readFile("plan.md")).toBe("# plan\nstep\n");
      const undone = await sandbox.undo();
      expect(undone?.paths).toEqual(["/workspace/out", "/workspace/plan.md"]);
      expect(await tree(fs)).toEqual(["/workspace/", "/workspace/plan.md=# plan\n"]);
      // The writeFile was no exec: nothing is left to undo.
      expect(await sandbox.undo()).toBeUndefined();
      // Flue makes a sandbox per run; those of one agent share the undo stack.
      await sandbox.exec("echo one > one.txt");
      const next = await factory.createSandbox({ id: "agent-1" });
      expect(factory.sandbox("agent-1")).toBe(next);
      await next.exec("echo two > two.txt");
      expect(next.shell.undoable.length).toBe(2);
      expect((await next.undo())?.paths).toEqual(["/workspace/two.txt"]);
      expect((await next.undo())?.paths).toEqual(["/workspace/one.txt"]);
      await next.exec("echo three > three.txt");
      expect(await execCheckpoints(fs)).toHaveLength(1);
      // Closing the factory lets go of the exec checkpoints.
      await factory.close();
      expect(await execCheckpoints(fs)).toEqual([]);
      expect(fs.existsSync("/workspace/three.txt")).toBe(true);
    }, 120_000);

    test("Mastra: AcceleratedFS delegates checkpoint, checkpoints, diff and restore with workspace-relative paths", async () => {
      const store = await target.open("mastra-history");
      const afs = new AcceleratedFS({ id: "ws", store, cacheRoot: join(root, `mastra-${++n}`) });
      await afs.init();
      await afs.writeFile("notes/a.md", "one");
      const cp = await afs.checkpoint("before", { message: "known good" });
      expect(cp).toMatchObject({ name: "before", seq: afs.cachedFs.seq, message: "known good" });
      expect(await codeOf(afs.checkpoint("before"))).toBe("EEXIST");
      await afs.writeFile("notes/a.md", "two, longer");
      await afs.moveFile("notes/a.md", "notes/b.md");
      await afs.writeFile("./c.md", "c");
      expect((await afs.checkpoints()).map((c) => c.name)).toEqual(["before"]);
      expect(await afs.diff("before")).toEqual([
        { path: "c.md", change: "added", kind: "file", sizeAfter: 1 },
        { path: "notes/b.md", change: "renamed", fromPath: "notes/a.md", kind: "file", sizeBefore: 3, sizeAfter: 11 },
      ]);
      expect(await afs.diff("before", undefined, { path: "./notes" })).toEqual([{ path: "notes/b.md", change: "renamed", fromPath: "notes/a.md", kind: "file", sizeBefore: 3, sizeAfter: 11 }]);
      await afs.restore("before", { paths: ["notes"] });
      expect(await afs.readFile("notes/a.md", { encoding: "utf8" })).toBe("one");
      expect(await afs.exists("notes/b.md")).toBe(false);
      expect(await afs.exists("c.md")).toBe(true);
      await afs.restore("before");
      expect(await afs.exists("c.md")).toBe(false);
      expect(await afs.diff("before")).toEqual([]);
      await afs.deleteCheckpoint("before");
      expect(await afs.checkpoints()).toEqual([]);

      const reader = new AcceleratedFS({ id: "reader", store, cacheRoot: join(root, `mastra-${++n}`), mode: "readonly" });
      await reader.init();
      expect(await codeOf(reader.checkpoint("nope"))).toBe("EACCES");
      expect(await codeOf(reader.restore(1))).toBe("EACCES");
      expect((await reader.diff(0)).map((c) => c.path)).toEqual(["notes", "notes/a.md"]);
      await reader.destroy();
      await afs.destroy();
    }, 120_000);
  });
}
