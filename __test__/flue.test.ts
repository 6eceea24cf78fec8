// The Flue adapter: an offline agent run (Flue's runtime with pi-ai's faux model provider, under Bun)
// writes, reads, edits and greps through the sandbox, and the result is in the bucket; plus the sandbox
// contract: timeouts resolve 124, aborts reject with AbortError, writeFile creates parents, stat fields
// are never made up, unsupported rm options are refused before anything changes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fauxAssistantMessage, fauxProvider, fauxToolCall, type Context, type ToolResultMessage } from "@earendil-works/pi-ai";
import { FlueError, init, SandboxOperationUnsupportedError, useModel, useSandbox } from "@flue/runtime";
import { start, type Flue } from "@flue/runtime/node";
import { S3CachedFsManagerImpl, type ObjectStore } from "../js/core.ts";
import { acceleratedFsSandbox, type AcceleratedFsSandbox, type AcceleratedFsSandboxFactory } from "../js/flue.ts";
import { removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const root = tempDir("flue");
let n = 0;
const cacheRoot = () => join(root, `cache-${++n}`);
const mountOptions = (store: ObjectStore, name: string) => ({ name, mode: "readwrite" as const, cacheBytes: 64 << 20, store });

// One Flue runtime per process: the agent reads its sandbox factory from here.
let factory: AcceleratedFsSandboxFactory | undefined;
function Probe(): string {
  useModel("faux/m1");
  if (factory === undefined) throw new Error("no sandbox factory");
  useSandbox(factory, { cwd: "/workspace" });
  return "You are a careful probe agent.";
}

const faux = fauxProvider({ provider: "faux", models: [{ id: "m1" }] });
let flue: Flue;
beforeAll(async () => {
  flue = await start({ agents: [Probe], providers: [faux.provider] });
});
afterAll(async () => {
  await flue.stop();
  removeDir(root);
});

/** The text of the tool result the model saw last. */
function lastToolResult(context: Context): ToolResultMessage {
  const last = context.messages[context.messages.length - 1];
  if (last === undefined || last.role !== "toolResult") throw new Error(`expected a tool result, got ${last?.role}`);
  return last;
}
const textOf = (m: ToolResultMessage): string => m.content.map((c) => (c.type === "text" ? c.text : "")).join("");

for (const target of storeTargets(root, ["seaweedfs"])) {
  describe(`Flue sandbox on ${target.name}`, () => {
    test("an offline agent run writes, reads, edits and greps through the sandbox; the bucket has the result", async () => {
      const store = await target.open("agent");
      factory = acceleratedFsSandbox({ cwd: "/workspace", mount: mountOptions(store, "agent"), managerConfig: { cacheRoot: cacheRoot() } });
      const seen: Record<string, ToolResultMessage> = {};
      const step = (name: string, next: ReturnType<typeof fauxAssistantMessage>) => (context: Context) => {
        seen[name] = lastToolResult(context);
        return next;
      };
      const call = (tool: string, args: Record<string, unknown>) => fauxAssistantMessage(fauxToolCall(tool, args), { stopReason: "toolUse" });
      faux.setResponses([
        call("write", { path: "notes/todo.md", content: "TODO: ship it\nDONE: tests\nTODO: docs\n" }),
        step("write", call("read", { path: "notes/todo.md" })),
        step("read", call("grep", { pattern: "TODO", path: "." })),
        step("grep", call("grep", { pattern: "ship", include: "*.md", literal: true })),
        step("grepInclude", call("grep", { pattern: "absent-text" })),
        step("grepNone", call("edit", { path: "notes/todo.md", oldText: "TODO: docs", newText: "DONE: docs" })),
        step("edit", call("bash", { command: "mkdir -p out && grep -c TODO notes/todo.md > out/count.txt; cat out/count.txt" })),
        step("bash", call("glob", { pattern: "*.md" })),
        step("glob", fauxAssistantMessage("done")),
      ]);
      const agent = init(Probe, { id: `agent-${target.name}` });
      const reply = await agent.read(await agent.dispatch("Take notes."));
      expect(reply.text).toBe("done");
      expect(faux.getPendingResponseCount()).toBe(0);

      expect(seen.write?.isError).toBe(false);
      expect(textOf(seen.read as ToolResultMessage)).toContain("TODO: ship it");
      // Flue's default grep answers "No matches found." on just-bash 3.4; this one finds them.
      expect(textOf(seen.grep as ToolResultMessage)).toBe("notes/todo.md:1:TODO: ship it\nnotes/todo.md:3:TODO: docs");
      expect(textOf(seen.grepInclude as ToolResultMessage)).toBe("notes/todo.md:1:TODO: ship it");
      expect(textOf(seen.grepNone as ToolResultMessage)).toBe("No matches found.");
      expect(seen.edit?.isError).toBe(false);
      expect(textOf(seen.bash as ToolResultMessage)).toBe("1");
      expect(textOf(seen.glob as ToolResultMessage)).toBe("./notes/todo.md");

      await factory.close();
      // A fresh readonly mount (own cache) of the same bucket sees the agent's work.
      const manager = new S3CachedFsManagerImpl({ cacheRoot: cacheRoot() });
      const reader = await manager.mount({ name: "check", mode: "readonly", cacheBytes: 64 << 20, store });
      expect(await reader.readText("/workspace/notes/todo.md")).toBe("TODO: ship it\nDONE: tests\nDONE: docs\n");
      expect(await reader.readText("/workspace/out/count.txt")).toBe("1\n");
      expect(await reader.readdir("/workspace")).toEqual(["notes", "out"]);
      await manager.close();
    }, 60_000);

    test("one agent turn's parallel write and bash tool calls (one bash failing) keep every acknowledged write", async () => {
      const store = await target.open("parallel");
      factory = acceleratedFsSandbox({ cwd: "/workspace", mount: mountOptions(store, "parallel"), managerConfig: { cacheRoot: cacheRoot() } });
      const ids = ["fails", "w1", "b2", "w3", "b4"];
      const calls = [
        fauxToolCall("bash", { command: "sleep 0.3; echo x > /dev/foo" }, { id: "fails" }),
        fauxToolCall("write", { path: "one.txt", content: "one" }, { id: "w1" }),
        fauxToolCall("bash", { command: "mkdir -p out && echo two > out/two.txt" }, { id: "b2" }),
        fauxToolCall("write", { path: "notes/three.md", content: "three" }, { id: "w3" }),
        fauxToolCall("bash", { command: "sleep 0.2; echo four > four.txt; exit 3" }, { id: "b4" }),
      ];
      let results: ToolResultMessage[] = [];
      faux.setResponses([
        fauxAssistantMessage(calls, { stopReason: "toolUse" }),
        (context: Context) => {
          results = context.messages.filter((m): m is ToolResultMessage => m.role === "toolResult");
          return fauxAssistantMessage("done");
        },
      ]);
      const agent = init(Probe, { id: `parallel-${target.name}` });
      const reply = await agent.read(await agent.dispatch("Do all of it at once."));
      expect(reply.text).toBe("done");
      const byId = new Map(results.map((r) => [r.toolCallId, r]));
      expect([...byId.keys()].sort()).toEqual([...ids].sort());
      const text = (id: string): string => textOf(byId.get(id) as ToolResultMessage);
      // The failing command reported its failed redirect (stderr, exit 1); nothing was thrown.
      expect(text("fails")).toContain("bash: /dev/foo: Read-only file system");
      expect(text("fails")).toContain("Command exited with code 1");
      expect(text("b4")).toContain("Command exited with code 3");
      for (const id of ["w1", "w3", "b2"]) expect(byId.get(id)?.isError).toBe(false);

      await factory.close();
      // A cold mount of the bucket (own cache) has every acknowledged write, and the failing script's own.
      const manager = new S3CachedFsManagerImpl({ cacheRoot: cacheRoot() });
      const reader = await manager.mount({ name: "check", mode: "readonly", cacheBytes: 64 << 20, store });
      expect(await reader.readText("/workspace/one.txt")).toBe("one");
      expect(await reader.readText("/workspace/notes/three.md")).toBe("three");
      expect(await reader.readText("/workspace/out/two.txt")).toBe("two\n");
      expect(await reader.readText("/workspace/four.txt")).toBe("four\n");
      expect((await reader.readdir("/workspace")).sort()).toEqual(["four.txt", "notes", "one.txt", "out"]);
      await manager.close();
    }, 60_000);

    test("sandbox contract: timeouts, aborts, parents, stats, rm options, both factory methods", async () => {
      // One workspace per agent instance id.
      const stores = { a: await target.open("contract-a"), b: await target.open("contract-b") };
      const f = acceleratedFsSandbox({ cwd: "/ws", mount: (id) => mountOptions(id === "a" ? stores.a : stores.b, `m-${id}`), managerConfig: { cacheRoot: cacheRoot() } });
      const sandbox = await f.createSandbox({ id: "a" });
      const legacy = await f.createSessionEnv({ id: "a" });
      expect(legacy.filesystem).toBe(sandbox.filesystem);
      expect(sandbox.cwd).toBe("/ws");
      expect(sandbox.resolvePath("x/../y")).toBe("/ws/y");
      expect(sandbox.filesystem.existsSync("/ws")).toBe(true);

      // writeFile creates parents; reads come back byte for byte.
      await sandbox.writeFile("deep/er/file.txt", "contents");
      await sandbox.writeFile("/ws/bin.dat", new Uint8Array([0, 1, 255]));
      expect(await sandbox.readFile("deep/er/file.txt")).toBe("contents");
      expect([...(await sandbox.readFileBuffer("bin.dat"))]).toEqual([0, 1, 255]);
      expect(await legacy.readdir(".")).toEqual(["bin.dat", "deep"]);

      // stat: no placeholder values.
      const file = await sandbox.stat("deep/er/file.txt");
      expect(file).toEqual({ isFile: true, isDirectory: false, isSymbolicLink: false, size: 8, mtime: expect.any(Date) });
      expect(Math.abs((file.mtime as Date).getTime() - Date.now())).toBeLessThan(60_000);
      const dir = await sandbox.stat("deep");
      expect(dir.isDirectory).toBe(true);
      expect("size" in dir).toBe(false);
      const rootStat = await sandbox.stat("/");
      expect(rootStat.isDirectory).toBe(true);
      if (rootStat.mtime !== undefined) expect(rootStat.mtime.getTime()).toBeGreaterThan(0);
      await sandbox.exec("ln -s deep/er/file.txt link");
      expect(await sandbox.stat("link")).toMatchObject({ isFile: true, isSymbolicLink: true, size: 8 });
      await expect(sandbox.stat("missing")).rejects.toThrow("ENOENT");

      // exists never throws.
      expect(await sandbox.exists("deep")).toBe(true);
      expect(await sandbox.exists("nope/nope")).toBe(false);
      expect(await sandbox.exists("bad\0path")).toBe(false);
      expect(await sandbox.exists("/dev/null")).toBe(true);

      // exec: any exit code resolves; cwd and env are honoured.
      expect(await sandbox.exec("exit 7")).toMatchObject({ exitCode: 7 });
      expect((await sandbox.exec("pwd; echo $GREETING", { cwd: "deep", env: { GREETING: "hi" } })).stdout).toBe("/ws/deep\nhi\n");

      // timeoutMs: resolves with 124, reports what ran, rolls back what it wrote.
      const started = Date.now();
      const slow = await sandbox.exec("echo before > timed.txt; echo started; sleep 30; echo never > never.txt", { timeoutMs: 200 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(slow.exitCode).toBe(124);
      expect(slow.committed).toBe(false);
      expect(slow.stderr).toContain("timed out after 200 ms");
      expect(slow.stderr).toContain("nothing it wrote was committed");
      expect(await sandbox.exists("timed.txt")).toBe(false);
      expect(await sandbox.exists("never.txt")).toBe(false);
      expect(await sandbox.exec("exit 2")).toEqual({ stdout: "", stderr: "", exitCode: 2, committed: true });

      // signal: rejects with an AbortError carrying the reason.
      const controller = new AbortController();
      const reason = new Error("user pressed stop");
      const pending = sandbox.exec("echo written > aborted.txt; sleep 30; echo never > aborted.txt", { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      const err = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DOMException);
      expect((err as DOMException).name).toBe("AbortError");
      expect((err as DOMException).cause).toBe(reason);
      expect((err as DOMException).message).toContain("nothing it wrote is committed");
      await expect(sandbox.exec("echo no", { signal: AbortSignal.abort("already") })).rejects.toMatchObject({ name: "AbortError", cause: "already" });
      await Bun.sleep(50);
      expect(await sandbox.exists("aborted.txt")).toBe(false);

      // rm follows Node's fs.rm; options it cannot honour are refused before anything changes.
      const seq = sandbox.filesystem.seq;
      const refused = await sandbox.rm("deep", { recursive: true, maxRetries: 3 } as { recursive: boolean }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(SandboxOperationUnsupportedError);
      expect(refused).toBeInstanceOf(FlueError);
      expect((refused as Error).message).toContain("maxRetries");
      expect(sandbox.filesystem.seq).toBe(seq);
      expect(await sandbox.exists("deep/er/file.txt")).toBe(true);
      await expect(sandbox.rm("deep")).rejects.toThrow("EISDIR");
      await expect(sandbox.rm("deep", { force: true })).rejects.toThrow("EISDIR");
      await expect(sandbox.rm("missing")).rejects.toThrow("ENOENT");
      await expect(sandbox.rm("missing", { recursive: true })).rejects.toThrow("ENOENT");
      await sandbox.rm("missing", { force: true });
      await sandbox.rm("deep", { recursive: true });
      expect(await sandbox.exists("deep")).toBe(false);
      await sandbox.mkdir("a/b", { recursive: true });
      await expect(sandbox.mkdir("a")).rejects.toThrow("EEXIST");

      // Each exec is one commit.
      const commits = sandbox.filesystem.stats().commits;
      await sandbox.exec("for i in 1 2 3; do echo $i > f$i.txt; done; rm f2.txt");
      expect(sandbox.filesystem.stats().commits - commits).toBe(1);

      // A second instance id mounts its own workspace.
      const other: AcceleratedFsSandbox = await f.createSandbox({ id: "b" });
      expect(other.filesystem).not.toBe(sandbox.filesystem);
      expect(await other.exists("f1.txt")).toBe(false);
      expect(await sandbox.exists("f1.txt")).toBe(true);
      await f.close();
    }, 60_000);
  });
}

test("importing the adapter loads neither @flue/runtime nor just-bash", () => {
  const probe = Bun.spawnSync({
    cmd: [
      process.execPath,
      "-e",
      `await import(${JSON.stringify(join(import.meta.dir, "../js/flue.ts"))}); console.log(Object.keys(require.cache).filter((k) => /node_modules\\/(@flue|just-bash)\\//.test(k)).length)`,
    ],
    cwd: join(import.meta.dir, ".."),
  });
  expect(probe.stderr.toString()).toBe("");
  expect(probe.stdout.toString().trim()).toBe("0");
});

test("an existing CachedFs can back the sandbox; managerConfig is otherwise required", async () => {
  const local = storeTargets(root, [])[0];
  if (local === undefined) throw new Error("no LocalObjectStore target");
  const store = await local.open("existing");
  expect(() => acceleratedFsSandbox({ mount: mountOptions(store, "x") })).toThrow(TypeError);
  const manager = new S3CachedFsManagerImpl({ cacheRoot: cacheRoot() });
  const fs = await manager.mount(mountOptions(store, "existing"));
  const f = acceleratedFsSandbox({ mount: fs });
  const sandbox = await f.createSandbox({ id: "x" });
  expect(sandbox.cwd).toBe("/");
  await sandbox.writeFile("hello.txt", "hi");
  await f.close();
  // Not opened by the factory, so still open.
  expect(await fs.readText("/hello.txt")).toBe("hi");
  await manager.close();
});
