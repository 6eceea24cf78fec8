// Cold grep over 2,000 small files from a fresh reader: ours through Mastra's own grep tool (over
// AcceleratedFS) and `grep -r` in the just-bash shell, against Mastra's grep tool over @mastra/s3.
import * as mastraWorkspace from "@mastra/core/workspace";
import { Workspace, createWorkspaceTools } from "@mastra/core/workspace";
import type { WorkspaceFilesystem } from "@mastra/core/workspace";
import { loadMastraAdapter, loadShell } from "../lib/adapters.ts";
import { fmtRequests, totalRequests } from "../lib/context.ts";
import type { KindCounts } from "../lib/proxy.ts";
import { missed, Pending, type Measure } from "../lib/measure.ts";
import type { Row } from "../lib/report.ts";
import { fmtInt, fmtNs, fmtRatio, now, pool, summarize } from "../lib/util.ts";

const NEEDLE = "benchNeedle";
const DIRS = 20;

function source(d: number, i: number): string {
  const lines = [`// module pkg${d}/mod${i}`, `import { helper } from "../util";`, ""];
  for (let f = 0; f < 8; f++) {
    lines.push(`export function fn${i}_${f}(x: number): number {`, `  const y = helper(x, ${f});`, `  return y * ${i} + ${f};`, "}", "");
  }
  if (i % 20 === 7) lines.splice(5, 0, `// TODO(${NEEDLE}): revisit ${d}/${i}`);
  return lines.join("\n");
}

type GrepTool = { execute(input: { pattern: string; path: string }, context: { workspace: Workspace }): Promise<unknown> };

async function grepTool(filesystem: WorkspaceFilesystem): Promise<{ ws: Workspace; tool: GrepTool }> {
  const ws = new Workspace({ filesystem });
  await ws.init();
  const tools = (await createWorkspaceTools(ws)) as Record<string, GrepTool | undefined>;
  const tool = tools.mastra_workspace_grep;
  if (tool === undefined) throw new Error("Mastra registered no grep tool");
  return { ws, tool };
}

/** "12 matches across 12 files" → 12. */
function toolMatches(output: unknown): number {
  const m = /^(\d+) match(?:es)? across/.exec(String(output));
  if (m === null) throw new Error(`unexpected grep tool output: ${String(output).slice(0, 200)}`);
  return Number(m[1]);
}

interface Run {
  ns: number;
  /** Of which opening the workspace (mount / init). */
  openNs: number;
  matches: number;
  requests: KindCounts;
  statsRequests?: ReturnType<import("../../js/core.ts").CachedFs["stats"]>["requests"];
}

export const grep: Measure = {
  id: "grep",
  title: "cold grep over 2,000 small files",
  async run(ctx, out) {
    const count = ctx.sizes.grepFiles;
    const repeats = ctx.quick ? 1 : 3;
    const files = Array.from({ length: count }, (_, i) => ({ path: `src/pkg${i % DIRS}/mod${i}.ts`, text: source(i % DIRS, i) }));
    const expected = files.filter((f) => f.text.includes(NEEDLE)).length;
    const bytes = files.reduce((a, f) => a + f.text.length, 0);

    const oursPrefix = ctx.prefix("grep", "ours");
    const writer = await ctx.mountOurs({ prefix: oursPrefix, mode: "readwrite" });
    await writer.transaction(async (tx) => {
      for (const f of files) await tx.writeFile(`/${f.path}`, f.text, { recursive: true });
    });
    const mastraPrefix = ctx.prefix("grep", "mastra");
    const seed = ctx.mastra(mastraPrefix);
    await pool(files.length, 32, (i) => seed.writeFile(files[i]?.path ?? "", files[i]?.text ?? ""));

    const adapter = await loadMastraAdapter();
    const shell = await loadShell();
    // Module loading is not part of a grep: load just-bash now, as @mastra/core already is.
    if (shell !== undefined) await import("just-bash").catch(() => undefined);
    if (adapter === undefined && shell === undefined) throw new Pending("pending: adapter missing (js/mastra.ts and js/just-bash.ts)");

    const warm = { tool: Number.NaN, shell: Number.NaN, readFileEach: Number.NaN, statSyncEach: Number.NaN };

    // @mastra/s3 through Mastra's grep tool, a fresh filesystem each run
    const mastraRuns: Run[] = [];
    for (let r = 0; r < repeats; r++) {
      const w = await ctx.window("mastra");
      const t0 = now();
      const { ws, tool } = await grepTool(ctx.mastra(mastraPrefix));
      const t1 = now();
      const output = await tool.execute({ pattern: NEEDLE, path: "." }, { workspace: ws });
      mastraRuns.push({ ns: now() - t0, openNs: t1 - t0, matches: toolMatches(output), requests: await w.end() });
    }

    // ours through the same tool over AcceleratedFS on a fresh reader (own cacheRoot) each run
    const oursToolRuns: Run[] = [];
    if (adapter !== undefined) {
      for (let r = 0; r < repeats; r++) {
        const w = await ctx.window("ours");
        const t0 = now();
        const fs = await ctx.mountOurs({ prefix: oursPrefix, mode: "readonly" });
        const afs = new adapter.AcceleratedFS({ id: `bench-grep-${r}`, fs, errors: mastraWorkspace }) as unknown as WorkspaceFilesystem;
        const { ws, tool } = await grepTool(afs);
        const t1 = now();
        const output = await tool.execute({ pattern: NEEDLE, path: "." }, { workspace: ws });
        oursToolRuns.push({ ns: now() - t0, openNs: t1 - t0, matches: toolMatches(output), requests: await w.end(), statsRequests: fs.stats().requests });
        if (r === repeats - 1) {
          // diagnostics: the same search again on the now-warm reader, and plain readFile of every file
          const t2 = now();
          await tool.execute({ pattern: NEEDLE, path: "." }, { workspace: ws });
          warm.tool = now() - t2;
          const t3 = now();
          for (const f of files) await fs.readFile(`/${f.path}`);
          warm.readFileEach = (now() - t3) / files.length;
          const t4 = now();
          for (const f of files) fs.statSync(`/${f.path}`);
          warm.statSyncEach = (now() - t4) / files.length;
        }
        await fs.close();
      }
    }

    // ours, `grep -r` in the just-bash shell on a fresh reader each run
    const shellRuns: Run[] = [];
    if (shell !== undefined) {
      for (let r = 0; r < repeats; r++) {
        const w = await ctx.window("ours");
        const t0 = now();
        const fs = await ctx.mountOurs({ prefix: oursPrefix, mode: "readonly" });
        const sh = await shell.createAcceleratedJustBashShell({ filesystem: fs });
        const t1 = now();
        const res = await sh.exec(`grep -r ${NEEDLE} /src`);
        if (res.exitCode !== 0) throw new Error(`grep -r exited ${res.exitCode}: ${res.stderr.slice(0, 300)}`);
        const matches = res.stdout.split("\n").filter((l) => l.includes(NEEDLE)).length;
        shellRuns.push({ ns: now() - t0, openNs: t1 - t0, matches, requests: await w.end(), statsRequests: fs.stats().requests });
        if (r === repeats - 1) {
          const t2 = now();
          await sh.exec(`grep -r ${NEEDLE} /src`);
          warm.shell = now() - t2;
        }
        await fs.close();
      }
    }

    for (const [who, runs] of [["@mastra/s3", mastraRuns], ["ours (Mastra tool)", oursToolRuns], ["ours (grep -r)", shellRuns]] as const) {
      for (const run of runs) if (run.matches !== expected) throw new Error(`${who} found ${run.matches} matches, expected ${expected}`);
    }

    const med = (runs: Run[]) => summarize(runs.map((r) => r.ns)).median;
    const medianRun = (runs: Run[]): Run | undefined => [...runs].sort((a, b) => a.ns - b.ns)[Math.floor((runs.length - 1) / 2)];
    const mastraMed = med(mastraRuns);
    const mastraRun = medianRun(mastraRuns) as Run;
    const mastraReqs = totalRequests(mastraRun.requests);
    const label = `cold grep over ${fmtInt(count)} small files (${(bytes / 1024 / 1024).toFixed(1)} MiB), fresh reader`;
    const target = "≥ 20× fewer requests and ≥ 10× faster than @mastra/s3 through the same Mastra tool";
    const row = (what: string, runs: Run[], pendingWhat: string): Row => {
      const peer = "@mastra/s3, Mastra grep tool";
      const peerResult = `${fmtNs(mastraMed)} (open ${fmtNs(mastraRun.openNs)})`;
      const run = medianRun(runs);
      if (run === undefined) {
        return { measure: `${label}: ${what}`, ours: `pending: adapter missing (${pendingWhat})`, peer, peerResult, ratio: "—", oursRequests: "—", peerRequests: fmtRequests(mastraRun.requests), target, holds: "pending", holdsDetail: `${pendingWhat} not there yet` };
      }
      const ours = med(runs);
      const req = run.statsRequests ?? run.requests;
      const oursReqs = totalRequests(req);
      const fewer = mastraReqs / Math.max(1, oursReqs);
      return {
        measure: `${label}: ${what}`,
        ours: `${fmtNs(ours)} (open ${fmtNs(run.openNs)})`,
        peer,
        peerResult,
        ratio: `${fmtRatio(mastraMed / ours)} faster, ${fmtRatio(fewer)} fewer requests`,
        oursRequests: fmtRequests(req),
        peerRequests: fmtRequests(mastraRun.requests),
        target,
        ...missed([
          [fewer >= 20, `only ${fmtRatio(fewer)} fewer requests`],
          [mastraMed / ours >= 10, `only ${fmtRatio(mastraMed / ours)} faster`],
        ]),
      };
    };
    out.rows.push(row("Mastra grep tool over AcceleratedFS", oursToolRuns, "js/mastra.ts"), row("`grep -r` in the just-bash shell", shellRuns, "js/just-bash.ts"));
    out.notes.push(
      `${expected} matching lines in ${fmtInt(count)} files across ${DIRS} directories; times are the median of ${repeats} cold run(s), each from a new filesystem object (ours: a new reader with an empty cacheRoot) and include opening it ("open") and building the Mastra workspace and tools; requests include the open.`,
    );
    if (oursToolRuns.length > 0 || shellRuns.length > 0) {
      out.notes.push(
        `diagnostics on the last (now warm) reader: the Mastra tool grep again ${fmtNs(warm.tool)}, \`grep -r\` again ${fmtNs(warm.shell)}; \`readFile\` of each file in turn ${fmtNs(warm.readFileEach)} per file, \`statSync\` ${fmtNs(warm.statSyncEach)} per file.`,
      );
    }
    out.data = { warm, files: count, bytes, expected, repeats, mastraRuns, oursToolRuns, shellRuns };
  },
};
