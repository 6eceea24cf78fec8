// demo:flue — an offline Flue agent run (Flue's runtime, pi-ai's faux model playing a scripted model) whose
// sandbox is a workspace in the bucket: it writes, reads, greps, edits and runs bash. A second run wrecks
// the plan and is undone (`sandbox.undo()`: the exec's paths back as they were, one commit); `diff` from
// a checkpoint shows what the agent changed; a fresh readonly mount then finds the result in the bucket.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fauxAssistantMessage, fauxProvider, fauxToolCall, type AssistantMessage, type Context, type ToolResultMessage } from "@earendil-works/pi-ai";
import { init, useModel, useSandbox } from "@flue/runtime";
import { start } from "@flue/runtime/node";
import { LocalObjectStore, S3CachedFsManagerImpl } from "../js/core.ts";
import { acceleratedFsSandbox, type AcceleratedFsSandboxFactory } from "../js/flue.ts";
import { check, describeRequests, type DemoOptions } from "./util.ts";

const PROVIDER = "demo-faux";
const MODEL = "scripted";

// Flue reads an agent's sandbox when the agent runs; the demo sets it before each run.
let sandboxFactory: AcceleratedFsSandboxFactory | undefined;
function PlanKeeper(): string {
  useModel(`${PROVIDER}/${MODEL}`);
  if (sandboxFactory === undefined) throw new Error("demo:flue: no sandbox factory");
  useSandbox(sandboxFactory, { cwd: "/workspace" });
  return "You keep the team's plan in /workspace/notes/plan.md and report what is left.";
}

const textOf = (m: ToolResultMessage): string => m.content.map((c) => (c.type === "text" ? c.text : "")).join("");

/** A tool call's arguments on one short line. */
function brief(args: Record<string, unknown>): string {
  const shown = Object.entries(args).map(([k, v]) => {
    const s = JSON.stringify(v);
    return `${k}: ${s.length > 40 ? `${s.slice(0, 38)}…"` : s}`;
  });
  return `{ ${shown.join(", ")} }`;
}

const PLAN = "# Plan\nTODO: mount the bucket\nTODO: run the agent\nDONE: write the demo\n";

export async function runFlueDemo({ log = console.log }: DemoOptions = {}): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "s3fs-demo-flue-"));
  const store = new LocalObjectStore(join(root, "bucket"));
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(root, "agent-cache") });
  const faux = fauxProvider({ provider: PROVIDER, models: [{ id: MODEL }] });
  const flue = await start({ agents: [PlanKeeper], providers: [faux.provider] });
  try {
    // The agent's workspace: an open readwrite mount (a MountOptions object or a function of the agent id also works).
    const workspace = await manager.mount({ name: "plan-keeper", mode: "readwrite", store, cacheBytes: 64 << 20 });
    // Each bash exec is checkpointed first, so the app can take it back with sandbox.undo().
    sandboxFactory = acceleratedFsSandbox({ cwd: "/workspace", mount: workspace, shell: { checkpointBeforeExec: true } });
    // The workspace before the agent touches it, named so it stays readable (diff, restore, mount at).
    await workspace.checkpoint("before-agent", { message: "before the plan-keeper ran" });
    log(`Flue runtime started offline (faux provider "${PROVIDER}"); sandbox: acceleratedFsSandbox over LocalObjectStore(${store.rootDir})`);

    // The scripted model: each step sees the previous tool result, records it, and makes the next call.
    const results: { tool: string; args: Record<string, unknown>; result: ToolResultMessage }[] = [];
    const toolCall = (tool: string, args: Record<string, unknown>): AssistantMessage => fauxAssistantMessage(fauxToolCall(tool, args), { stopReason: "toolUse" });
    const calls: [string, Record<string, unknown>][] = [
      ["write", { path: "notes/plan.md", content: PLAN }],
      ["read", { path: "notes/plan.md" }],
      ["grep", { pattern: "TODO", path: "." }],
      ["edit", { path: "notes/plan.md", oldText: "TODO: mount the bucket", newText: "DONE: mount the bucket" }],
      ["bash", { command: "mkdir -p out && grep -c TODO notes/plan.md > out/left.txt; cat out/left.txt" }],
      ["glob", { pattern: "*.md" }],
    ];
    const steps = calls.map(([tool, args], i) => (context: Context): AssistantMessage => {
      const previous = calls[i - 1];
      const last = context.messages[context.messages.length - 1];
      if (previous !== undefined && last?.role === "toolResult") results.push({ tool: previous[0], args: previous[1], result: last });
      return toolCall(tool, args);
    });
    const finish = (context: Context): AssistantMessage => {
      const last = context.messages[context.messages.length - 1];
      const previous = calls[calls.length - 1];
      if (previous !== undefined && last?.role === "toolResult") results.push({ tool: previous[0], args: previous[1], result: last });
      return fauxAssistantMessage("Plan updated: 1 TODO left.");
    };
    faux.setResponses([...steps, finish]);

    const commits = workspace.stats().commits;
    workspace.resetStats();
    const agent = init(PlanKeeper, { id: "demo-plan-keeper" });
    const reply = await agent.read(await agent.dispatch("Mark the bucket as mounted and count what is left."));
    for (const { tool, args, result } of results) {
      const text = textOf(result).trim().split("\n");
      log(`  ${tool} ${brief(args)} → ${result.isError ? "ERROR " : ""}${JSON.stringify(text[0] ?? "")}${text.length > 1 ? ` (+${text.length - 1} lines)` : ""}`);
    }
    const s = workspace.stats();
    log(`agent replied ${JSON.stringify(reply.text)} after ${results.length} tool calls: ${s.commits - commits} commits, ${describeRequests(s.requests)}`);
    check(reply.text === "Plan updated: 1 TODO left." && faux.getPendingResponseCount() === 0, "the agent ran every scripted step");
    check(results.length === calls.length && results.every((r) => !r.result.isError), "every tool call succeeded");
    const byTool = new Map(results.map((r) => [r.tool, textOf(r.result)]));
    check((byTool.get("read") ?? "").includes("TODO: run the agent"), "read returns the file");
    check(byTool.get("grep") === "notes/plan.md:2:TODO: mount the bucket\nnotes/plan.md:3:TODO: run the agent", "grep finds both TODOs");
    check(byTool.get("bash") === "1", "bash counts what is left after the edit");
    check(byTool.get("glob") === "./notes/plan.md", "glob lists the plan");
    // Creating the sandbox's cwd, write, edit and the bash command each committed once; read, grep and glob changed nothing.
    check(s.commits - commits === 4, "four commits: the cwd, write, edit, bash");

    // A second run goes wrong: one bash command scraps the plan. The app undoes that exec.
    const wreck = "rm -rf notes && echo 'nothing left' > out/left.txt";
    let wreckResult = "";
    faux.setResponses([
      toolCall("bash", { command: wreck }),
      (context: Context): AssistantMessage => {
        const last = context.messages[context.messages.length - 1];
        if (last?.role === "toolResult") wreckResult = textOf(last);
        return fauxAssistantMessage("Cleaned up.");
      },
    ]);
    await agent.read(await agent.dispatch("Clean up the workspace."));
    check(!workspace.existsSync("/workspace/notes/plan.md") && (await workspace.readText("/workspace/out/left.txt")) === "nothing left\n", "the second run scrapped the plan");
    log(`second run: bash ${JSON.stringify(wreck)} → ${JSON.stringify(wreckResult)}; the plan is gone`);
    const sandbox = sandboxFactory.sandbox("demo-plan-keeper");
    check(sandbox !== undefined, "the factory knows the agent's sandbox");
    const undone = await sandbox.undo();
    check(undone !== undefined && undone.script === wreck, "undo takes back the last exec");
    log(`sandbox.undo() → commit ${undone.seq} put back ${JSON.stringify(undone.paths)} as at checkpoint ${undone.checkpoint}`);
    check((await workspace.readText("/workspace/notes/plan.md")) === PLAN.replace("TODO: mount", "DONE: mount") && (await workspace.readText("/workspace/out/left.txt")) === "1\n", "the plan and the count are back");
    const changes = await workspace.diff("before-agent");
    log(`diff before-agent: ${changes.map((c) => `${c.change} ${c.path}`).join(", ")}`);
    check(JSON.stringify(changes.map((c) => c.path)) === JSON.stringify(["/workspace", "/workspace/notes", "/workspace/notes/plan.md", "/workspace/out", "/workspace/out/left.txt"]), "what the agent changed since the checkpoint");
    await sandboxFactory.close();
    await manager.close();

    // Another machine: a fresh readonly mount with its own cache reads the agent's work from the bucket.
    const checker = new S3CachedFsManagerImpl({ cacheRoot: join(root, "checker-cache") });
    try {
      const reader = await checker.mount({ name: "checker", mode: "readonly", store, cacheBytes: 64 << 20 });
      reader.resetStats();
      const plan = await reader.readText("/workspace/notes/plan.md");
      const left = await reader.readText("/workspace/out/left.txt");
      log(`fresh readonly mount: /workspace holds ${JSON.stringify(reader.readdirSync("/workspace"))}, plan.md line 2 ${JSON.stringify(plan.split("\n")[1])}, out/left.txt ${JSON.stringify(left)} (${describeRequests(reader.stats().requests)})`);
      check(plan === PLAN.replace("TODO: mount", "DONE: mount") && left === "1\n", "the bucket holds the agent's result");
      check(JSON.stringify(reader.readdirSync("/workspace")) === JSON.stringify(["notes", "out"]), "and nothing else");
    } finally {
      await checker.close();
    }
    log("demo:flue OK");
  } finally {
    sandboxFactory = undefined;
    await flue.stop();
    await manager.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) await runFlueDemo();
