// Awaited stat / exists on a warm mount, against local fs.promises.stat and @mastra/s3.
import { promises as fsp, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fmtRequests, totalRequests } from "../lib/context.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtNs, fmtRatio, timeEach, type Summary } from "../lib/util.ts";

const TARGET = "≤ 5 µs median, ≥ 5× faster than local `fs.promises.stat`, 0 requests";
const show = (s: Summary) => `${fmtNs(s.median)} median (p99 ${fmtNs(s.p99)})`;

export const metadata: Measure = {
  id: "metadata",
  title: "awaited stat / exists, warm",
  async run(ctx, out) {
    const { statIterations: n, mastraStatIterations: mn } = ctx.sizes;
    const fs = await ctx.mountOurs({ prefix: ctx.prefix("metadata", "ours"), mode: "readwrite" });
    await fs.writeFile("/project/src/file.ts", "export const x = 1;\n", { recursive: true });
    const local = join(ctx.dir("local-meta"), "file.ts");
    writeFileSync(local, "export const x = 1;\n");
    const mastra = ctx.mastra(ctx.prefix("metadata", "mastra"));
    await mastra.writeFile("project/src/file.ts", "export const x = 1;\n");

    // ours: stat, exists (each call awaited on its own)
    Bun.gc(true);
    fs.resetStats();
    const w = await ctx.window("ours");
    const oursStat = await timeEach(n, Math.min(2000, n), () => fs.stat("/project/src/file.ts"));
    const oursExists = await timeEach(n, Math.min(2000, n), () => fs.exists("/project/src/file.ts"));
    const oursReq = fs.stats().requests;
    const oursProxy = await w.end();
    if (!(await fs.exists("/project/src/file.ts")) || (await fs.stat("/project/src/file.ts")).size !== 20) throw new Error("stat returned the wrong answer");

    Bun.gc(true);
    const localStat = await timeEach(n, Math.min(2000, n), () => fsp.stat(local));

    const mw = await ctx.window("mastra");
    const mastraStat = await timeEach(mn, 2, () => mastra.stat("project/src/file.ts"));
    const mastraStatReq = await mw.end();
    const mw2 = await ctx.window("mastra");
    const mastraExists = await timeEach(mn, 2, () => mastra.exists("project/src/file.ts"));
    const mastraExistsReq = await mw2.end();

    const ours = fmtRequests(oursReq);
    const zero = totalRequests(oursReq) === 0 && oursProxy.total === 0;
    const judge = (s: Summary) =>
      missed([
        [s.median <= 5_000, `median ${fmtNs(s.median)} > 5 µs`],
        [localStat.median / s.median >= 5, `only ${fmtRatio(localStat.median / s.median)} local`],
        [zero, `${oursReq.total} requests`],
      ]);
    out.rows.push(
      { measure: "awaited `stat`, warm mount", ours: show(oursStat), peer: "local `fs.promises.stat`", peerResult: show(localStat), ratio: fmtRatio(localStat.median / oursStat.median), oursRequests: ours, peerRequests: "—", target: TARGET, ...judge(oursStat) },
      { measure: "awaited `stat`, warm mount", ours: show(oursStat), peer: "@mastra/s3 `stat`", peerResult: show(mastraStat), ratio: fmtRatio(mastraStat.median / oursStat.median), oursRequests: ours, peerRequests: fmtRequests(mastraStatReq, mn + 2) },
      { measure: "awaited `exists`, warm mount", ours: show(oursExists), peer: "local `fs.promises.stat`", peerResult: show(localStat), ratio: fmtRatio(localStat.median / oursExists.median), oursRequests: ours, peerRequests: "—", target: TARGET, ...judge(oursExists) },
      { measure: "awaited `exists`, warm mount", ours: show(oursExists), peer: "@mastra/s3 `exists`", peerResult: show(mastraExists), ratio: fmtRatio(mastraExists.median / oursExists.median), oursRequests: ours, peerRequests: fmtRequests(mastraExistsReq, mn + 2) },
    );
    out.data = { iterations: n, mastraIterations: mn, oursStat, oursExists, localStat, mastraStat, mastraExists, oursRequests: oursReq, oursProxy, mastraStatReq, mastraExistsReq };
  },
};
