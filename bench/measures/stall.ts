// The longest event-loop stall (issue 11, case 6) while whole-tree walks run over 100,000 entries: async
// `readdir(..., { recursive: true })` (names and withFileTypes), Mastra's `walk`, and the CLI's tree, du and
// sync planning, probed by a 1 ms timer.
// `readdirSync` is there for reference: it stalls the loop for as long as it runs, by definition.
import { diskUsage } from "../../js/cli/commands/du.ts";
import { buildTree, type Node } from "../../js/cli/commands/tree.ts";
import { listRemote } from "../../js/cli/sync-plan.ts";
import { loadMastraAdapter } from "../lib/adapters.ts";
import { missed, type Measure } from "../lib/measure.ts";
import type { Row } from "../lib/report.ts";
import { fmtInt, fmtNs, now } from "../lib/util.ts";

const STALL_LIMIT_MS = 20;
const PER_TX = 10_000;

/** Runs `f` while a 1 ms interval timer records the longest gap between its ticks (ms). */
async function probeStall<T>(f: () => Promise<T> | T): Promise<{ value: T; ns: number; longestGapMs: number }> {
  let last = performance.now();
  let longest = 0;
  const tick = () => {
    const t = performance.now();
    longest = Math.max(longest, t - last);
    last = t;
  };
  const timer = setInterval(tick, 1);
  await Bun.sleep(5);
  longest = 0;
  last = performance.now();
  const t0 = now();
  try {
    const value = await f();
    const ns = now() - t0;
    tick();
    return { value, ns, longestGapMs: longest };
  } finally {
    clearInterval(timer);
  }
}

export const stall: Measure = {
  id: "stall",
  title: "longest event-loop stall during a 100,000-entry walk",
  async run(ctx, out) {
    const entries = ctx.sizes.stallEntries;
    const dirs = Math.max(1, Math.round(entries / 1000));
    const perDir = Math.ceil(entries / dirs) - 1;
    const fs = await ctx.mountOurs({ prefix: ctx.prefix("stall", "ours"), mode: "readwrite" });
    const paths: string[] = [];
    for (let d = 0; d < dirs; d++) for (let f = 0; f < perDir; f++) paths.push(`/d${d}/f${f}.txt`);
    for (let i = 0; i < paths.length; i += PER_TX) {
      await fs.transaction(async (tx) => {
        for (const p of paths.slice(i, i + PER_TX)) await tx.writeFile(p, p, { recursive: true });
      });
    }
    const total = dirs + paths.length;
    const idle = await probeStall(() => Bun.sleep(200));
    const rows: Row[] = [];
    const probe = async (what: string, f: () => Promise<number>, judged: boolean) => {
      const r = await probeStall(f);
      if (r.value !== total) throw new Error(`${what} listed ${r.value} entries, expected ${total}`);
      rows.push({
        measure: `longest event-loop stall: ${what} over ${fmtInt(total)} entries`,
        ours: `${r.longestGapMs.toFixed(1)} ms (the walk took ${fmtNs(r.ns)})`,
        peer: judged ? "—" : "(reference: a sync call blocks the loop throughout)",
        peerResult: "—",
        ratio: "—",
        oursRequests: "0",
        peerRequests: "—",
        ...(judged ? { target: `≤ ${STALL_LIMIT_MS} ms`, ...missed([[r.longestGapMs <= STALL_LIMIT_MS, `${r.longestGapMs.toFixed(1)} ms`]]) } : {}),
      });
      return r;
    };
    const names = await probe("`await fs.readdir('/', { recursive: true })`", async () => (await fs.readdir("/", { recursive: true })).length, true);
    const typed = await probe("`await fs.readdir('/', { recursive: true, withFileTypes: true })`", async () => (await fs.readdir("/", { recursive: true, withFileTypes: true })).length, true);
    const mastra = await loadMastraAdapter();
    let walk: Awaited<ReturnType<typeof probe>> | undefined;
    if (mastra !== undefined) {
      const afs = new mastra.AcceleratedFS({ id: "stall", fs });
      if (typeof afs.walk === "function") walk = await probe("Mastra `AcceleratedFS.walk('/')`", async () => ((await afs.walk?.("/")) ?? []).length, true);
    }
    const count = (n: Node): number => (n.children ?? []).reduce((a, c) => a + count(c), n.children === undefined ? 0 : n.children.length);
    const cliTree = await probe("CLI `tree /` (building the tree)", async () => count(await buildTree(fs, "/", Number.POSITIVE_INFINITY)), true);
    const cliDu = await probe("CLI `du /` (adding up)", async () => {
      const u = await diskUsage(fs, "/", () => {});
      return u.files + u.directories - 1;
    }, true);
    const cliSync = await probe("CLI `sync` planning (listing the workspace side)", async () => (await listRemote(fs, "/")).size, true);
    const sync = await probe("`fs.readdirSync('/', { recursive: true })`", async () => fs.readdirSync("/", { recursive: true }).length, false);
    out.rows.push(...rows);
    out.notes.push(
      `${fmtInt(total)} entries (${dirs} directories of ${fmtInt(perDir)} files); a 1 ms interval timer runs throughout and the longest gap between its ticks is the stall; idle, the same probe sees ${idle.longestGapMs.toFixed(1)} ms.`,
    );
    out.data = { total, idleGapMs: idle.longestGapMs, names, typed, walk, cliTree, cliDu, cliSync, sync };
  },
};
