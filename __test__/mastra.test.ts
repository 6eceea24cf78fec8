// The Mastra adapter: a real @mastra/core Workspace runs its tools over AcceleratedFS and over Mastra's own
// LocalFilesystem, and every result must agree; then the adapter's own promises (error classes, readonly,
// expectedMtime, MIME types, paths, lifecycle, walk, grep and its request cost, lazy loading of Mastra).
import { afterAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import * as mastra from "@mastra/core/workspace";
import { createWorkspaceTools, LocalFilesystem, Workspace, type WorkspaceFilesystem } from "@mastra/core/workspace";
import { LocalObjectStore, type CachedFs } from "../js/core.ts";
import { AcceleratedFS, mimeTypeFor, type AcceleratedFSMountOptions } from "../js/mastra.ts";
import { s3TestServers, uniquePrefix } from "./helpers/servers.ts";
import { removeDir, tempDir } from "./helpers/targets.ts";

// Compile-time: AcceleratedFS is a Mastra WorkspaceFilesystem (tsc checks this file).
const asWorkspaceFilesystem = (fs: AcceleratedFS): WorkspaceFilesystem => fs;
void asWorkspaceFilesystem;

const root = tempDir("mastra");
afterAll(() => removeDir(root));
const repoRoot = resolve(import.meta.dir, "..");

/** Where a workspace lives: a LocalObjectStore directory or a bucket prefix on a real S3 server. */
type Where = Pick<AcceleratedFSMountOptions, "store" | "bucket" | "prefix" | "region" | "endpoint" | "credentials">;
interface Target {
  name: string;
  where(label: string): Where;
}
const targets: Target[] = [
  { name: "LocalObjectStore", where: (label) => ({ store: new LocalObjectStore(join(root, uniquePrefix(label))) }) },
  ...s3TestServers()
    .filter((s) => s.name === "seaweedfs")
    .map((s) => ({
      name: s.name,
      where: (label: string): Where => ({
        bucket: s.bucket,
        prefix: uniquePrefix(label),
        region: s.region,
        endpoint: s.endpoint,
        credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
      }),
    })),
];

let n = 0;
/** A new AcceleratedFS (own cacheRoot) over `where`, with Mastra's error classes injected unless told otherwise. */
function accelerated(where: Where, mode: "readwrite" | "readonly" = "readwrite", inject = true): AcceleratedFS {
  n++;
  return new AcceleratedFS({ id: `acc-${n}`, ...where, cacheRoot: join(root, `cache-${n}`), cacheBytes: 64 << 20, mode, ...(inject ? { errors: mastra } : {}) });
}
function localFs(): LocalFilesystem {
  return new LocalFilesystem({ basePath: tempDir("mastra-local") });
}

interface ToolLike {
  execute(input: Record<string, unknown>, context: Record<string, unknown>): Promise<unknown>;
}
/** A Workspace over `fs` and a way to call its tools the way an agent's tool call would, minus the LLM. */
async function workspaceTools(fs: WorkspaceFilesystem) {
  const ws = new Workspace({ filesystem: fs });
  await ws.init();
  const tools = (await createWorkspaceTools(ws)) as Record<string, ToolLike | undefined>;
  const call = async (name: string, input: Record<string, unknown>): Promise<unknown> => {
    const tool = tools[`mastra_workspace_${name}`];
    if (tool === undefined) return `(no ${name} tool)`;
    try {
      return await tool.execute(input, {});
    } catch (e) {
      const err = e as Error;
      return `threw ${err.constructor.name}: ${err.message}`;
    }
  };
  return { ws, tools, call };
}

/** Erases what must differ between the two filesystems: timestamps, directory sizes, the OS's readdir order in grep. */
function normalise(tool: string, out: unknown): unknown {
  if (typeof out !== "string") return out;
  let s = out.replace(/Modified: \S+/g, "Modified: <t>").replace(/Type: directory Size: \d+ bytes/g, "Type: directory");
  if (tool === "grep") {
    const [summary = "", sep = "", ...body] = s.split("\n");
    const pathOf = (l: string) => l.split(":")[0] ?? "";
    const sorted = body.includes("--")
      ? body
          .join("\n")
          .split("\n--\n")
          .sort((a, b) => pathOf(a).localeCompare(pathOf(b)))
          .join("\n--\n")
          .split("\n")
      : [...body].sort((a, b) => pathOf(a).localeCompare(pathOf(b)));
    s = [summary, sep, ...sorted].join("\n");
  }
  return s;
}

// A PNG header is enough for a MIME decision and a media part.
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);

const SCRIPT: [string, Record<string, unknown>][] = [
  ["write_file", { path: "notes/todo.md", content: "# Todo\n- TODO: buy milk\n- done: eggs\n" }],
  ["write_file", { path: "./src/app.ts", content: "import { util } from './lib/util';\n// TODO refactor\nexport const app = () => util(1);\n" }],
  ["write_file", { path: "src/lib/util.ts", content: "export function util(n: number) {\n  return n * 2; // todo: overflow?\n}\n" }],
  ["write_file", { path: "README.md", content: "Readme\nSee TODO list in notes.\nEmoji \u{1F600} TODO here\n" }],
  ["write_file", { path: "data.json", content: '{"todo": true}\n' }],
  ["write_file", { path: ".hidden/secret.txt", content: "TODO secret\n" }],
  ["write_file", { path: ".gitignore", content: "build/\n*.log\n" }],
  ["write_file", { path: "build/out.txt", content: "TODO built\n" }],
  ["write_file", { path: "debug.log", content: "TODO log\n" }],
  ["write_file", { path: "notes/todo.md", content: "clobber", overwrite: false }],
  ["file_stat", { path: "notes/todo.md" }],
  ["file_stat", { path: "notes" }],
  ["file_stat", { path: "nope.txt" }],
  ["read_file", { path: "notes/todo.md" }],
  ["read_file", { path: "./src/app.ts", offset: 2, limit: 1 }],
  ["read_file", { path: "missing.md" }],
  ["read_file", { path: "src" }],
  ["read_file", { path: "img/dot.png" }],
  ["read_file", { path: "README.md", showLineNumbers: false }],
  ["read_file", { path: "img/dot.png", encoding: "hex" }],
  ["edit_file", { path: "notes/todo.md", old_string: "buy milk", new_string: "buy oat milk" }],
  ["edit_file", { path: "notes/todo.md", old_string: "not there", new_string: "x" }],
  ["read_file", { path: "notes/todo.md" }],
  ["edit_file", { path: "src/app.ts", old_string: "TODO", new_string: "FIXME" }],
  ["edit_file", { path: "README.md", old_string: "TODO", new_string: "DONE", replace_all: true }],
  ["list_files", { path: "." }],
  ["list_files", { path: ".", maxDepth: 1 }],
  ["list_files", { path: ".", showHidden: true, maxDepth: 5 }],
  ["list_files", { path: "src", pattern: "**/*.ts" }],
  ["list_files", { path: ".", extension: ".md", maxDepth: 3 }],
  ["list_files", { path: ".", dirsOnly: true }],
  ["list_files", { path: "./src/" }],
  ["list_files", { path: "missing" }],
  ["grep", { pattern: "TODO" }],
  ["grep", { pattern: "todo", caseSensitive: false }],
  ["grep", { pattern: "TODO", includeHidden: true }],
  ["grep", { pattern: "TODO", contextLines: 1 }],
  ["grep", { pattern: "TODO|FIXME|DONE", maxCount: 1 }],
  ["grep", { pattern: "util", path: "src" }],
  ["grep", { pattern: "export", path: "**/*.ts" }],
  ["grep", { pattern: "milk", path: "notes/todo.md" }],
  ["grep", { pattern: "(" }],
  ["grep", { pattern: "x", path: "missing" }],
  ["mkdir", { path: "a/b/c" }],
  ["mkdir", { path: "notes" }],
  ["mkdir", { path: "notes/todo.md" }],
  ["write_file", { path: "a/b/c/deep.txt", content: "deep TODO\n" }],
  ["delete", { path: "data.json" }],
  ["delete", { path: "a" }],
  ["delete", { path: "a", recursive: true }],
  ["delete", { path: "gone.txt" }],
  ["file_stat", { path: "data.json" }],
  ["list_files", { path: ".", maxDepth: 4, showHidden: true }],
  ["grep", { pattern: "o", contextLines: 2, includeHidden: true }],
];

/** Every entry of the tree, with type and size, in one comparable list. */
async function tree(fs: WorkspaceFilesystem): Promise<string[]> {
  return (await fs.readdir("", { recursive: true })).map((e) => `${e.name} ${e.type} ${e.size ?? "-"}`).sort();
}

for (const target of targets) {
  describe(`Mastra Workspace tools on AcceleratedFS (${target.name})`, () => {
    test("every tool call gives what it gives on Mastra's LocalFilesystem", async () => {
      const where = target.where("tools");
      const acc = accelerated(where);
      const local = localFs();
      const a = await workspaceTools(acc);
      const l = await workspaceTools(local);
      expect(Object.keys(a.tools).sort()).toEqual(Object.keys(l.tools).sort());
      expect(Object.keys(a.tools)).toContain("mastra_workspace_write_file");
      await acc.writeFile("img/dot.png", PNG);
      await local.writeFile("img/dot.png", PNG);

      const commitsBefore = acc.cachedFs.stats().commits;
      const mismatches: string[] = [];
      for (const [tool, input] of SCRIPT) {
        const got = normalise(tool, await a.call(tool, input));
        const want = normalise(tool, await l.call(tool, input));
        if (!Bun.deepEquals(got, want)) mismatches.push(`${tool} ${JSON.stringify(input)}\n  accelerated: ${JSON.stringify(got)}\n  local:       ${JSON.stringify(want)}`);
      }
      expect(mismatches).toEqual([]);
      // Not vacuous: the script really wrote, failed and found things.
      expect(await a.call("grep", { pattern: "DONE", includeHidden: true })).toBe("2 matches across 1 file\n---\n./README.md:2:5: See DONE list in notes.\n./README.md:3:10: Emoji \u{1F600} DONE here");
      expect(await a.call("read_file", { path: "missing.md" })).toBe("threw FileNotFoundError: File not found: missing.md");
      expect(await a.call("read_file", { path: "notes/todo.md" })).toContain("buy oat milk");
      // One commit per successful change (10 writes, 3 edits, 1 mkdir, 2 deletes); failed calls and no-ops commit nothing.
      expect(acc.cachedFs.stats().commits - commitsBefore).toBe(16);

      expect(await tree(acc)).toEqual(await tree(local));
      // walk (what list_files uses) agrees with LocalFilesystem's recursive readdir.
      const walked = (await acc.walk("", { includeHidden: true })).map((e) => `${e.path} ${e.type} ${e.size ?? "-"}`).sort();
      expect(walked).toEqual(await tree(local));

      // Durable: a fresh reader of the same bucket sees the same tree.
      await acc.destroy();
      const reader = accelerated(where, "readonly");
      await reader.init();
      expect(await tree(reader)).toEqual(await tree(local));
      expect(await reader.readFile("notes/todo.md", { encoding: "utf-8" })).toBe(await local.readFile("notes/todo.md", { encoding: "utf-8" }));
      await reader.destroy();
    }, 120_000);

    test("the direct API agrees with LocalFilesystem, error classes included", async () => {
      const acc = accelerated(target.where("direct"));
      const local = localFs();
      await local.init();
      type Call = [string, (fs: WorkspaceFilesystem) => Promise<unknown>];
      const setup: Call[] = [
        ["write nested", (fs) => fs.writeFile("d/e/f.ts", "export {}\n")],
        ["write bytes", (fs) => fs.writeFile("d/bytes.bin", new Uint8Array([0, 1, 2]))],
        ["write buffer", (fs) => fs.writeFile("d/buf.md", Buffer.from("# hi\n"))],
        ["append new with parents", (fs) => fs.appendFile("g/h/log.txt", "one\n")],
        ["append", (fs) => fs.appendFile("g/h/log.txt", "two\n")],
        ["mkdir empty", (fs) => fs.mkdir("empty")],
      ];
      const calls: Call[] = [
        ...setup,
        ["readFile utf-8", (fs) => fs.readFile("g/h/log.txt", { encoding: "utf-8" })],
        ["readFile base64", (fs) => fs.readFile("d/bytes.bin", { encoding: "base64" })],
        ["readFile bytes", async (fs) => [...((await fs.readFile("d/bytes.bin")) as Buffer)]],
        ["readdir d", (fs) => fs.readdir("d")],
        ["readdir recursive", (fs) => fs.readdir(".", { recursive: true })],
        ["readdir maxDepth 0", (fs) => fs.readdir("", { recursive: true, maxDepth: 0 })],
        ["readdir maxDepth 1", (fs) => fs.readdir("", { recursive: true, maxDepth: 1 })],
        ["readdir extension", (fs) => fs.readdir("", { recursive: true, extension: ".ts" })],
        ["readdir extensions", (fs) => fs.readdir("d", { extension: ["md", ".bin"] })],
        ["exists file", (fs) => fs.exists("d/buf.md")],
        ["exists missing", (fs) => fs.exists("d/nope")],
        ["stat file", async (fs) => (({ name, path, type, size, mimeType }) => ({ name, path, type, size, mimeType }))(await fs.stat("./d/buf.md"))],
        ["realpath", async (fs) => (await fs.realpath?.("d/e/../buf.md")) ?? "-"],
        ["readFile missing", (fs) => fs.readFile("nope.txt")],
        ["readFile dir", (fs) => fs.readFile("d")],
        ["stat missing", (fs) => fs.stat("nope")],
        ["readdir missing", (fs) => fs.readdir("nope")],
        ["readdir file", (fs) => fs.readdir("d/buf.md")],
        ["write exclusive", (fs) => fs.writeFile("d/buf.md", "x", { overwrite: false })],
        ["write no parents", (fs) => fs.writeFile("x/y/z.txt", "x", { recursive: false })],
        ["mkdir over file", (fs) => fs.mkdir("d/buf.md")],
        ["mkdir existing dir", (fs) => fs.mkdir("d", { recursive: false })],
        ["mkdir no parent", (fs) => fs.mkdir("p/q", { recursive: false })],
        ["deleteFile dir", (fs) => fs.deleteFile("d")],
        ["deleteFile missing", (fs) => fs.deleteFile("nope")],
        ["deleteFile missing force", (fs) => fs.deleteFile("nope", { force: true })],
        ["rmdir file", (fs) => fs.rmdir("d/buf.md")],
        ["rmdir missing", (fs) => fs.rmdir("nope")],
        ["rmdir missing force", (fs) => fs.rmdir("nope", { force: true })],
        ["rmdir not empty", (fs) => fs.rmdir("d")],
        ["rmdir empty", (fs) => fs.rmdir("empty")],
        ["copyFile", (fs) => fs.copyFile("d/buf.md", "copies/buf.md")],
        ["copyFile no overwrite", (fs) => fs.copyFile("d/buf.md", "copies/buf.md", { overwrite: false })],
        ["copyFile dir", (fs) => fs.copyFile("d", "d2")],
        ["copyFile dir recursive", (fs) => fs.copyFile("d", "d2", { recursive: true })],
        ["copyFile missing", (fs) => fs.copyFile("nope", "x")],
        ["moveFile", (fs) => fs.moveFile("copies/buf.md", "moved/buf.md")],
        ["moveFile no overwrite", (fs) => fs.moveFile("d2/buf.md", "moved/buf.md", { overwrite: false })],
        ["moveFile overwrite", (fs) => fs.moveFile("d2/buf.md", "moved/buf.md")],
        ["moveFile missing", (fs) => fs.moveFile("nope", "x")],
        ["rmdir recursive", (fs) => fs.rmdir("g", { recursive: true })],
        ["final tree", (fs) => tree(fs)],
      ];
      const byName = (v: unknown): unknown =>
        Array.isArray(v) && v.every((e) => typeof e === "object" && e !== null && "name" in e) ? [...(v as { name: string }[])].sort((x, y) => (x.name < y.name ? -1 : 1)) : v;
      const outcome = async (fs: WorkspaceFilesystem, call: Call[1]): Promise<unknown> => {
        try {
          // Entry order is the OS's on LocalFilesystem (sorted by name on AcceleratedFS): compare as sets.
          return { ok: byName(await call(fs)) };
        } catch (e) {
          const err = e as Error;
          return { threw: err.constructor.name, message: err.message, mastraClass: e instanceof mastra.FilesystemError };
        }
      };
      const mismatches: string[] = [];
      for (const [label, call] of calls) {
        const got = await outcome(acc, call);
        const want = await outcome(local, call);
        if (!Bun.deepEquals(got, want)) mismatches.push(`${label}\n  accelerated: ${JSON.stringify(got)}\n  local:       ${JSON.stringify(want)}`);
      }
      expect(mismatches).toEqual([]);
      // Where LocalFilesystem lets Node's raw error through, AcceleratedFS throws the Mastra class.
      await expect(acc.writeFile("d", "x")).rejects.toBeInstanceOf(mastra.IsDirectoryError);
      await expect(local.writeFile("d", "x")).rejects.toMatchObject({ code: "EISDIR" });
      await acc.destroy();
    }, 60_000);

    test("a cold grep from a fresh reader costs about one GET per pack", async () => {
      const where = target.where("cold-grep");
      const writer = accelerated(where);
      await writer.init();
      await writer.cachedFs.transaction(async (tx) => {
        for (let i = 0; i < 200; i++) await tx.writeFile(`/src/m${Math.floor(i / 20)}/f${i}.ts`, `export const v${i} = ${i};\n// needle ${i}\n`, { recursive: true });
      });
      await writer.destroy();

      const reader = accelerated(where, "readonly");
      await reader.init();
      const fs = reader.cachedFs;
      fs.resetStats();
      const results = await reader.grep({ pattern: "needle \\d+", path: ".", caseSensitive: true, includeHidden: false });
      const cold = fs.stats().requests;
      expect(results.length).toBe(200);
      expect(results.reduce((k, r) => k + r.matches.length, 0)).toBe(200);
      expect(results.find((r) => r.path === "src/m3/f61.ts")?.matches).toEqual([{ line: 2, column: 3, text: "// needle 61" }]);
      expect(cold.list).toBe(0);
      expect(cold.put).toBe(0);
      expect(cold.get).toBeGreaterThanOrEqual(1);
      expect(cold.get).toBeLessThanOrEqual(3);

      // Warm: the grep tool (which also reads .gitignore and stats the root) makes no request at all.
      fs.resetStats();
      const { call } = await workspaceTools(reader);
      const out = await call("grep", { pattern: "needle 1\\d\\d$" });
      expect(out).toStartWith("100 matches across 100 files\n---\n");
      expect(fs.stats().requests.total).toBe(0);
      await reader.destroy();
    }, 60_000);
  });
}

describe("AcceleratedFS", () => {
  const where = (label: string): Where => ({ store: new LocalObjectStore(join(root, uniquePrefix(label))) });

  test("throws Mastra's own error classes, injected or imported lazily in init()", async () => {
    for (const inject of [true, false]) {
      const fs = accelerated(where(`errors-${inject}`), "readwrite", inject);
      await fs.init();
      await fs.writeFile("dir/file.txt", "x");
      await fs.writeFile("full/x.txt", "x");
      const cases: [() => Promise<unknown>, new (...args: never[]) => Error][] = [
        [() => fs.readFile("nope"), mastra.FileNotFoundError],
        [() => fs.stat("dir/file.txt/below"), mastra.FileNotFoundError],
        [() => fs.readdir("nope"), mastra.DirectoryNotFoundError],
        [() => fs.writeFile("no/parent.txt", "x", { recursive: false }), mastra.DirectoryNotFoundError],
        [() => fs.writeFile("dir/file.txt", "x", { overwrite: false }), mastra.FileExistsError],
        [() => fs.mkdir("dir/file.txt"), mastra.FileExistsError],
        [() => fs.readFile("dir"), mastra.IsDirectoryError],
        [() => fs.deleteFile("dir"), mastra.IsDirectoryError],
        [() => fs.readdir("dir/file.txt"), mastra.NotDirectoryError],
        [() => fs.rmdir("dir/file.txt", { recursive: true }), mastra.NotDirectoryError],
        [() => fs.rmdir("full"), mastra.DirectoryNotEmptyError],
        [() => fs.writeFile("dir/file.txt", "y", { expectedMtime: new Date(0) }), mastra.StaleFileError],
        [() => fs.grep({ pattern: "(unclosed", path: "", caseSensitive: true, includeHidden: false }), mastra.UnsupportedGrepPatternError],
      ];
      for (const [call, cls] of cases) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(`${call} -> ${err instanceof cls ? cls.name : String(err)}`).toBe(`${call} -> ${cls.name}`);
        expect(err).toBeInstanceOf(mastra.FilesystemError);
      }
      await fs.destroy();
    }
  });

  test("a readonly mount: readOnly, no write tools, writes fail with PermissionError", async () => {
    const w = where("readonly");
    const writer = accelerated(w);
    await writer.writeFile("doc.md", "committed\n");
    await writer.destroy();

    const reader = accelerated(w, "readonly");
    expect(reader.readOnly).toBe(true); // known before init, for createWorkspaceTools
    const { tools, call } = await workspaceTools(reader);
    const names = Object.keys(tools).sort();
    expect(names).toEqual(["mastra_workspace_file_stat", "mastra_workspace_grep", "mastra_workspace_list_files", "mastra_workspace_read_file"]);
    expect(await call("read_file", { path: "doc.md" })).toBe("doc.md (10 bytes)\n     1→committed\n     2→");
    const seq = reader.cachedFs.seq;
    for (const write of [
      () => reader.writeFile("x.md", "x"),
      () => reader.appendFile("doc.md", "x"),
      () => reader.mkdir("d"),
      () => reader.deleteFile("doc.md"),
      () => reader.rmdir("d", { recursive: true }),
      () => reader.copyFile("doc.md", "c.md"),
      () => reader.moveFile("doc.md", "m.md"),
    ]) {
      const err = await write().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(mastra.PermissionError);
      expect((err as mastra.PermissionError).code).toBe("EACCES");
    }
    expect(reader.cachedFs.seq).toBe(seq);

    // Over an existing readonly mount, too: and the engine's own EROFS also becomes PermissionError.
    const borrowed = new AcceleratedFS({ id: "borrowed", fs: reader.cachedFs, errors: mastra });
    expect(borrowed.readOnly).toBe(true);
    await expect(borrowed.writeFile("x", "x")).rejects.toBeInstanceOf(mastra.PermissionError);
    await borrowed.destroy();
    expect(await reader.exists("doc.md")).toBe(true); // destroy() left the borrowed mount open
    await reader.destroy();
  });

  test("expectedMtime: stat().modifiedAt is what writeFile compares; an external change is a StaleFileError", async () => {
    const fs = accelerated(where("stale"));
    await fs.writeFile("a.txt", "one");
    const when = new Date("2021-02-03T04:05:06.789Z");
    await fs.cachedFs.utimes("/a.txt", when, when);
    const st = await fs.stat("a.txt");
    expect(st.modifiedAt.getTime()).toBe(when.getTime());
    const commits = fs.cachedFs.stats().commits;
    await fs.writeFile("a.txt", "two", { expectedMtime: st.modifiedAt });
    expect(fs.cachedFs.stats().commits - commits).toBe(1);
    const err = await fs.writeFile("a.txt", "three", { expectedMtime: st.modifiedAt }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(mastra.StaleFileError);
    expect((err as mastra.StaleFileError).expectedMtime.getTime()).toBe(when.getTime());
    expect((err as mastra.StaleFileError).actualMtime.getTime()).toBe((await fs.stat("a.txt")).modifiedAt.getTime());
    expect(await fs.readFile("a.txt", { encoding: "utf-8" })).toBe("two");
    expect(fs.cachedFs.stats().commits - commits).toBe(1);
    // A file that has gone since it was read is simply written (as LocalFilesystem does).
    await fs.writeFile("new.txt", "n", { expectedMtime: when });
    expect(await fs.readFile("new.txt", { encoding: "utf-8" })).toBe("n");

    // Through the tools: read, someone else writes, edit -> StaleFileError; re-read, edit -> fine.
    const { call } = await workspaceTools(fs);
    await fs.writeFile("notes.md", "alpha beta\n");
    await fs.cachedFs.utimes("/notes.md", when, when);
    await call("read_file", { path: "notes.md" });
    const later = new Date(when.getTime() + 1000);
    await fs.cachedFs.utimes("/notes.md", later, later);
    expect(await call("edit_file", { path: "notes.md", old_string: "beta", new_string: "gamma" })).toStartWith("threw StaleFileError: File was modified externally: notes.md");
    await call("read_file", { path: "notes.md" });
    expect(await call("edit_file", { path: "notes.md", old_string: "beta", new_string: "gamma" })).toBe("Replaced 1 occurrence in notes.md (lines 1)");
    expect(await fs.readFile("notes.md", { encoding: "utf-8" })).toBe("alpha gamma\n");
    await fs.destroy();
  });

  test("mimeType comes from the extension: images are media, not text", async () => {
    const fs = accelerated(where("mime"));
    await fs.writeFile("img/pic.png", PNG);
    await fs.writeFile("img/photo.JPG", PNG);
    await fs.writeFile("src/a.ts", "export {}\n");
    await fs.writeFile("Makefile", "all:\n");
    expect((await fs.stat("img/pic.png")).mimeType).toBe("image/png");
    expect((await fs.stat("img/photo.JPG")).mimeType).toBe("image/jpeg");
    expect((await fs.stat("src/a.ts")).mimeType).toBe("application/typescript");
    expect((await fs.stat("Makefile")).mimeType).toBe("application/octet-stream");
    expect((await fs.stat("img")).mimeType).toBeUndefined();
    expect(mimeTypeFor("report.pdf")).toBe("application/pdf");
    expect(fs.isTextFile("a.ts")).toBe(true);
    expect(fs.isTextFile("a.png")).toBe(false);
    const { call } = await workspaceTools(fs);
    expect(await call("read_file", { path: "img/pic.png" })).toEqual({ __workspaceMedia: true, text: `img/pic.png (${PNG.length} bytes, image/png)`, mediaType: "image/png", data: Buffer.from(PNG).toString("base64") });
    await fs.destroy();
  });

  test('path forms "", ".", "./x", "/x", "x" (and "x/", "a//b", "..") are one namespace', async () => {
    const fs = accelerated(where("paths"));
    await fs.writeFile("/x/y.txt", "y");
    for (const p of ["x/y.txt", "./x/y.txt", "/x/y.txt", "x//y.txt", "x/./y.txt", "../x/y.txt", "x/z/../y.txt"]) {
      expect(`${p} -> ${(await fs.stat(p)).path}`).toBe(`${p} -> x/y.txt`);
    }
    for (const p of ["", ".", "/", "./", ".."]) {
      const st = await fs.stat(p);
      expect(`${p} -> ${st.type} '${st.path}'`).toBe(`${p} -> directory ''`);
      expect(await fs.readdir(p)).toEqual([{ name: "x", type: "directory" }]);
    }
    for (const p of ["x", "./x", "/x", "x/"]) expect(await fs.readdir(p)).toEqual([{ name: "y.txt", type: "file", size: 1 }]);
    expect(await fs.exists("./x/")).toBe(true);
    expect(await fs.realpath("x/../x/y.txt")).toBe("x/y.txt");
    await fs.destroy();
  });

  test("status lifecycle; getInfo() does no I/O; ops initialise lazily", async () => {
    const w = where("lifecycle");
    const fs = accelerated(w);
    expect(fs.status).toBe("pending");
    const info = fs.getInfo();
    expect(info).not.toBeInstanceOf(Promise);
    expect(info).toMatchObject({ id: fs.id, name: "AcceleratedFS", provider: "s3-bun-cached-fs", status: "pending", readOnly: false });
    const init = fs.init();
    expect(fs.status).toBe("initializing");
    const again = fs.init();
    await Promise.all([init, again]);
    expect(fs.status).toBe("ready");
    fs.cachedFs.resetStats();
    for (let i = 0; i < 50; i++) fs.getInfo();
    expect(fs.cachedFs.stats().requests.total).toBe(0);
    expect(fs.getInfo().status).toBe("ready");
    await fs.destroy();
    expect(fs.status).toBe("destroyed");
    expect(() => fs.cachedFs).toThrow();

    // Without init(), the first operation initialises (agents never call init).
    const lazy = accelerated(w, "readonly");
    expect(await lazy.exists("")).toBe(true);
    expect(lazy.status).toBe("ready");
    await lazy.destroy();

    // A failing init: status "error" with the reason, and the operation rejects.
    const broken = new LocalObjectStore(join(root, uniquePrefix("broken"))).failing();
    broken.addFailRule({ action: "ignorePreconditions" });
    const bad = new AcceleratedFS({ id: "bad", store: broken, cacheRoot: join(root, "cache-bad"), errors: mastra });
    await expect(bad.stat("")).rejects.toMatchObject({ code: "ENOTSUP" });
    expect(bad.status).toBe("error");
    expect(bad.error).toContain("does not enforce conditional writes");
    expect(bad.getInfo()).toMatchObject({ status: "error", error: bad.error });

    // With S3 options, getInfo() names bucket and prefix but never credentials.
    const s3 = new AcceleratedFS({ id: "s3", bucket: "b", prefix: "p/", endpoint: "http://127.0.0.1:1", credentials: { accessKeyId: "AKIDSECRETISH", secretAccessKey: "very-secret" }, cacheRoot: join(root, "cache-s3") });
    const s3info = JSON.stringify(s3.getInfo());
    expect(s3info).toContain('"bucket":"b"');
    expect(s3info).not.toContain("very-secret");
    expect(s3info).not.toContain("AKIDSECRETISH");
  });

  test("walk: metadata only, relative POSIX paths, depth and hidden entries, symlinks not entered", async () => {
    const fs = accelerated(where("walk"));
    await fs.writeFile("a/b/c/deep.txt", "d");
    await fs.writeFile("a/one.md", "1");
    await fs.writeFile(".hidden/h.txt", "h");
    await fs.writeFile("top.txt", "top");
    await fs.cachedFs.symlink("a/b", "/link");
    const cfs = fs.cachedFs;
    cfs.resetStats();
    const all = await fs.walk("");
    expect(all).toEqual([
      { name: "a", type: "directory", path: "a" },
      { name: "b", type: "directory", path: "a/b" },
      { name: "c", type: "directory", path: "a/b/c" },
      { name: "deep.txt", type: "file", size: 1, path: "a/b/c/deep.txt" },
      { name: "one.md", type: "file", size: 1, path: "a/one.md" },
      { name: "link", type: "directory", isSymlink: true, symlinkTarget: "a/b", path: "link" },
      { name: "top.txt", type: "file", size: 3, path: "top.txt" },
    ]);
    expect((await fs.walk(".", { maxDepth: 1 })).map((e) => e.path)).toEqual(["a", "link", "top.txt"]);
    expect((await fs.walk("/a", { maxDepth: 2 })).map((e) => e.path)).toEqual(["b", "b/c", "one.md"]);
    expect((await fs.walk("", { includeHidden: true, maxDepth: 2 })).map((e) => e.path)).toEqual([".hidden", ".hidden/h.txt", "a", "a/b", "a/one.md", "link", "top.txt"]);
    expect(cfs.stats().requests.total).toBe(0);
    await expect(fs.walk("top.txt")).rejects.toBeInstanceOf(mastra.NotDirectoryError);
    await expect(fs.walk("nope")).rejects.toBeInstanceOf(mastra.DirectoryNotFoundError);
    await fs.destroy();
  });

  test("grep: 1-based lines, UTF-16 columns, context, caps, case and hidden files", async () => {
    const fs = accelerated(where("grep"));
    await fs.writeFile("u.txt", "a\u{1F600}needle\nno\nNEEDLE two needle\n\nlast needle");
    await fs.writeFile("sub/v.md", "needle\nneedle\nneedle\n");
    await fs.writeFile(".hid/w.txt", "needle\n");
    await fs.writeFile("pic.png", "needle");
    const base = { path: "", caseSensitive: true, includeHidden: false };
    expect(await fs.grep({ ...base, pattern: "needle" })).toEqual([
      { path: "sub/v.md", matches: [1, 2, 3].map((line) => ({ line, column: 0, text: "needle" })) },
      {
        path: "u.txt",
        matches: [
          { line: 1, column: 3, text: "a\u{1F600}needle" },
          { line: 3, column: 11, text: "NEEDLE two needle" },
          { line: 5, column: 5, text: "last needle" },
        ],
      },
    ]);
    expect((await fs.grep({ ...base, pattern: "needle", path: "u.txt", caseSensitive: false }))[0]?.matches.map((m) => [m.line, m.column])).toEqual([
      [1, 3],
      [3, 0],
      [5, 5],
    ]);
    expect((await fs.grep({ ...base, pattern: "two", contextLines: 2 }))[0]?.matches).toEqual([{ line: 3, column: 7, text: "NEEDLE two needle", before: ["a\u{1F600}needle", "no"], after: ["", "last needle"] }]);
    expect((await fs.grep({ ...base, pattern: "needle", contextLines: 1, path: "u.txt" }))[0]?.matches[0]).toEqual({ line: 1, column: 3, text: "a\u{1F600}needle", before: [], after: ["no"] });
    expect((await fs.grep({ ...base, pattern: "needle", maxCountPerFile: 1 })).map((r) => r.matches.length)).toEqual([1, 1]);
    expect((await fs.grep({ ...base, pattern: "needle", maxTotalMatches: 4 })).map((r) => [r.path, r.matches.length])).toEqual([
      ["sub/v.md", 3],
      ["u.txt", 1],
    ]);
    expect((await fs.grep({ ...base, pattern: "needle", includeHidden: true })).map((r) => r.path)).toEqual([".hid/w.txt", "sub/v.md", "u.txt"]);
    expect(await fs.grep({ ...base, pattern: "needle", path: "sub" })).toEqual([{ path: "v.md", matches: [1, 2, 3].map((line) => ({ line, column: 0, text: "needle" })) }]);
    expect(await fs.grep({ ...base, pattern: "absent" })).toEqual([]);
    await expect(fs.grep({ ...base, pattern: "[" })).rejects.toBeInstanceOf(mastra.UnsupportedGrepPatternError);
    await expect(fs.grep({ ...base, pattern: "x", path: "nope" })).rejects.toBeInstanceOf(mastra.DirectoryNotFoundError);
    await fs.destroy();
  });

  test("over an existing mount: the same filesystem, and destroy() leaves the mount open", async () => {
    const owner = accelerated(where("borrow"));
    await owner.init();
    const cfs: CachedFs = owner.cachedFs;
    const fs = new AcceleratedFS({ id: "over-mount", fs: cfs, errors: mastra });
    expect(fs.readOnly).toBe(false);
    await fs.writeFile("from-adapter.txt", "a");
    expect(await cfs.readText("/from-adapter.txt")).toBe("a");
    await cfs.writeFile("/from-core.txt", "c");
    expect(await fs.readFile("from-core.txt", { encoding: "utf-8" })).toBe("c");
    await fs.destroy();
    expect(fs.status).toBe("destroyed");
    expect(await cfs.readText("/from-core.txt")).toBe("c");
    await owner.destroy();
  });

  test("importing /core and /mastra (and constructing) does not load @mastra/core", () => {
    const script = `
      const mastraModules = () => Object.keys(require.cache).filter((k) => k.includes("@mastra")).length;
      await import(${JSON.stringify(join(repoRoot, "js/core.ts"))});
      const m = await import(${JSON.stringify(join(repoRoot, "js/mastra.ts"))});
      const afterImport = mastraModules();
      new m.AcceleratedFS({ id: "x", cacheRoot: "/nonexistent" }).getInfo();
      const afterConstruct = mastraModules();
      await import("@mastra/core/workspace");
      console.log(JSON.stringify({ afterImport, afterConstruct, control: mastraModules() }));
    `;
    const run = Bun.spawnSync([process.execPath, "-e", script], { cwd: repoRoot, stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    const counts = JSON.parse(run.stdout.toString()) as { afterImport: number; afterConstruct: number; control: number };
    expect(counts.afterImport).toBe(0);
    expect(counts.afterConstruct).toBe(0);
    // The method sees @mastra modules when they are loaded.
    expect(counts.control).toBeGreaterThan(0);
  });
});
