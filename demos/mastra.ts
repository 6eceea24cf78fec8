// demo:mastra — a real @mastra/core Workspace over AcceleratedFS, its tools called the way an agent's tool calls
// reach them (minus the LLM), with the requests each one costs, on the embedded LocalObjectStore.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mastraWorkspace from "@mastra/core/workspace";
import { createWorkspaceTools, Workspace } from "@mastra/core/workspace";
import { LocalObjectStore } from "../js/core.ts";
import { AcceleratedFS } from "../js/mastra.ts";
import { check, describeRequests, type DemoOptions } from "./util.ts";

interface WorkspaceTool {
  execute(input: Record<string, unknown>, context: Record<string, unknown>): Promise<unknown>;
}

/** What one tool call returned (or threw), and what it cost. */
interface ToolRun {
  text: string;
  commits: number;
  requests: string;
  total: number;
}

const TOOL_PREFIX = "mastra_workspace_";

/** A Workspace over `filesystem` and its tools, run as an agent's tool call would run them. */
async function workspaceTools(filesystem: AcceleratedFS) {
  const workspace = new Workspace({ filesystem });
  await workspace.init();
  const tools = (await createWorkspaceTools(workspace)) as Record<string, WorkspaceTool | undefined>;
  const names = Object.keys(tools).map((k) => k.slice(TOOL_PREFIX.length));
  const run = async (name: string, input: Record<string, unknown>): Promise<ToolRun> => {
    const tool = tools[`${TOOL_PREFIX}${name}`];
    if (tool === undefined) throw new Error(`the workspace has no ${name} tool`);
    const fs = filesystem.cachedFs;
    const commits = fs.stats().commits;
    fs.resetStats();
    let text: string;
    try {
      const out = await tool.execute(input, {});
      text = typeof out === "string" ? out : JSON.stringify(out);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      text = `threw ${err.name}: ${err.message}`;
    }
    const s = fs.stats();
    return { text, commits: s.commits - commits, requests: describeRequests(s.requests), total: s.requests.total };
  };
  return { workspace, names, run };
}

/** The line worth printing: list_files' summary (its last line), otherwise the first line. */
function headline(text: string): string {
  const lines = text.split("\n");
  return (lines[0] === "." ? lines[lines.length - 1] : lines[0]) ?? "";
}

/** A small TypeScript project: 120 modules, every 20th with a TODO. */
function projectFile(i: number): string {
  const todo = i % 20 === 0 ? `  // TODO: validate input ${i}\n` : "";
  return `export function handler${i}(input: string): string {\n${todo}  return input.trim();\n}\n`;
}

export async function runMastraDemo({ log = console.log }: DemoOptions = {}): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "s3fs-demo-mastra-"));
  const store = new LocalObjectStore(join(root, "bucket"));
  const opened: AcceleratedFS[] = [];
  const open = (id: string, mode: "readwrite" | "readonly"): AcceleratedFS => {
    // `errors`: Mastra's own error classes, so its tools' `instanceof` checks hold.
    const fs = new AcceleratedFS({ id, mode, store, cacheRoot: join(root, `cache-${id}`), cacheBytes: 64 << 20, errors: mastraWorkspace });
    opened.push(fs);
    return fs;
  };
  try {
    const writerFs = open("agent", "readwrite");
    const writer = await workspaceTools(writerFs);
    log(`Mastra Workspace over AcceleratedFS on LocalObjectStore(${store.rootDir}): tools ${writer.names.join(", ")}`);
    for (const t of ["write_file", "read_file", "edit_file", "list_files", "grep", "file_stat", "mkdir", "delete"]) check(writer.names.includes(t), `the workspace offers ${t}`);

    // A checkout of the project arrives in one commit through the core API (the mount behind the filesystem).
    const fs = writerFs.cachedFs;
    fs.resetStats();
    await fs.transaction(async (tx) => {
      for (let i = 0; i < 120; i++) await tx.writeFile(`/src/mod${i % 6}/handler${i}.ts`, projectFile(i), { recursive: true });
    });
    log(`seeded 120 source files in one commit through cachedFs.transaction(): ${describeRequests(fs.stats().requests)}`);

    const show = (call: string, r: ToolRun): void => log(`  ${call} → ${JSON.stringify(headline(r.text))} (${r.commits} commit${r.commits === 1 ? "" : "s"}; ${r.requests})`);

    const todo = "# Todo\n- TODO: wire the grep tool\n- TODO: ship the demo\n";
    let r = await writer.run("write_file", { path: "notes/todo.md", content: todo });
    show("write_file notes/todo.md", r);
    check(r.text === `Wrote ${todo.length} bytes to notes/todo.md` && r.commits === 1, "write_file wrote one commit");

    r = await writer.run("write_file", { path: "notes/todo.md", content: "clobber", overwrite: false });
    show("write_file notes/todo.md {overwrite: false}", r);
    check(r.text.startsWith("threw FileExistsError") && r.commits === 0 && r.total === 0, "a refused write commits nothing");

    r = await writer.run("read_file", { path: "notes/todo.md" });
    show("read_file notes/todo.md", r);
    check(r.text.includes("2→- TODO: wire the grep tool") && r.total === 0, "read_file reads its own write from the cache");

    r = await writer.run("edit_file", { path: "notes/todo.md", old_string: "ship the demo", new_string: "ship the demos" });
    show("edit_file notes/todo.md", r);
    check(r.text === "Replaced 1 occurrence in notes/todo.md (lines 3)" && r.commits === 1, "edit_file is one commit");

    r = await writer.run("file_stat", { path: "notes/todo.md" });
    show("file_stat notes/todo.md", r);
    check(r.text.startsWith(`notes/todo.md Type: file Size: ${todo.length + 1} bytes`) && r.total === 0, "file_stat is local metadata");

    r = await writer.run("list_files", { path: ".", maxDepth: 1 });
    show("list_files . {maxDepth: 1}", r);
    check(r.text.startsWith(".\nnotes\nsrc\n") && r.total === 0, "list_files walks local metadata");

    r = await writer.run("mkdir", { path: "archive/2024" });
    show("mkdir archive/2024", r);
    check(r.commits === 1, "mkdir is one commit");
    r = await writer.run("delete", { path: "archive", recursive: true });
    show("delete archive {recursive: true}", r);
    check(r.text === "Deleted archive" && r.commits === 1, "delete is one commit");

    r = await writer.run("grep", { pattern: "TODO" });
    show("grep TODO", r);
    check(r.text.startsWith("8 matches across 7 files") && r.total === 0, "the writer greps from its cache");

    // A reader on another machine: its own cacheRoot, nothing cached yet.
    const readerFs = open("reviewer", "readonly");
    const reader = await workspaceTools(readerFs);
    log(`a readonly AcceleratedFS (own cache) gets only the read tools: ${reader.names.join(", ")}`);
    check(!reader.names.includes("write_file") && reader.names.includes("grep"), "a readonly workspace registers no write tools");

    r = await reader.run("grep", { pattern: "TODO", path: "src" });
    show("cold grep TODO in src (120 files, one commit)", r);
    for (const line of r.text.split("\n").slice(2, 4)) log(`      ${line.trim()}`);
    check(r.text.startsWith("6 matches across 6 files") && r.text.includes("\nsrc/mod0/handler0.ts:2:6:   // TODO: validate input 0\n"), "the reader finds the TODOs");
    check(r.requests === "1 GET, 0 PUTs, 0 LISTs", "a cold grep over one commit's files costs one GET");

    r = await reader.run("grep", { pattern: "TODO" });
    show("grep TODO everywhere", r);
    check(r.text.startsWith("8 matches across 7 files") && r.requests === "1 GET, 0 PUTs, 0 LISTs", "the rest of the tree costs one more GET");

    r = await reader.run("grep", { pattern: "TODO|DONE" });
    show("warm grep TODO|DONE", r);
    check(r.total === 0, "a warm grep makes no request");

    r = await reader.run("list_files", { path: "src", maxDepth: 2 });
    show("list_files src {maxDepth: 2}", r);
    check(r.text.includes("6 directories, 120 files") && r.total === 0, "list_files needs no request");

    // The writer ticks a box; the reader refreshes and sees it.
    r = await writer.run("edit_file", { path: "notes/todo.md", old_string: "- TODO: wire", new_string: "- DONE: wire" });
    show("writer: edit_file notes/todo.md", r);
    check(r.commits === 1, "the edit is one commit");
    readerFs.cachedFs.resetStats();
    const refreshed = await readerFs.cachedFs.refresh();
    log(`reader refresh: ${refreshed.outcome} to seq ${refreshed.seq} (${describeRequests(readerFs.cachedFs.stats().requests)})`);
    check(refreshed.outcome === "advanced", "the reader advanced");
    r = await reader.run("read_file", { path: "notes/todo.md" });
    show("reader: read_file notes/todo.md", r);
    check(r.text.includes("2→- DONE: wire the grep tool") && r.text.includes("3→- TODO: ship the demos"), "the reader reads the edit");
    log("demo:mastra OK");
  } finally {
    for (const fs of opened) await fs.destroy();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) await runMastraDemo();
