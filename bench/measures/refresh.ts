// A reader's refresh(): idle (nothing committed since) and after one commit by the writer.
import { fmtRequests } from "../lib/context.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtNs, now, summarize } from "../lib/util.ts";

export const refresh: Measure = {
  id: "refresh",
  title: "reader refresh",
  async run(ctx, out) {
    const { refreshIdle: idle, refreshCommits: commits } = ctx.sizes;
    const prefix = ctx.prefix("refresh", "ours");
    const writer = await ctx.mountOurs({ prefix, mode: "readwrite" });
    await writer.writeFile("/start.txt", "start");
    const reader = await ctx.mountOurs({ prefix, mode: "readonly" });

    reader.resetStats();
    const idleNs: number[] = [];
    for (let i = 0; i < idle; i++) {
      const t0 = now();
      const r = await reader.refresh();
      idleNs.push(now() - t0);
      if (r.outcome !== "unchanged") throw new Error(`idle refresh was "${r.outcome}"`);
    }
    const idleReq = reader.stats().requests;

    const afterNs: number[] = [];
    let afterReqTotal = 0;
    let afterList = 0;
    let maxPerRefresh = 0;
    const agg = { get: 0, head: 0, put: 0, list: 0, delete: 0, deleteMany: 0 };
    for (let i = 0; i < commits; i++) {
      await writer.writeFile(`/f${i}.txt`, `commit ${i}`);
      reader.resetStats();
      const t0 = now();
      const r = await reader.refresh();
      afterNs.push(now() - t0);
      const s = reader.stats().requests;
      if (r.outcome === "unchanged") throw new Error("the refresh after a commit saw nothing");
      if ((await reader.readText(`/f${i}.txt`)) !== `commit ${i}`) throw new Error("the reader does not see the commit");
      afterReqTotal += s.total;
      afterList += s.list;
      maxPerRefresh = Math.max(maxPerRefresh, s.total);
      for (const k of Object.keys(agg) as (keyof typeof agg)[]) agg[k] += s[k];
    }
    // the readText above fetched the new file's bytes after the counters were read: not counted

    const idleS = summarize(idleNs);
    const afterS = summarize(afterNs);
    const idlePer = idleReq.total / idle;
    out.rows.push(
      {
        measure: `reader \`refresh()\`, idle (${idle}×)`,
        ours: `${fmtNs(idleS.median)} median`,
        peer: "—",
        peerResult: "—",
        ratio: "—",
        oursRequests: fmtRequests(idleReq, idle),
        peerRequests: "—",
        target: "1 request idle, no LIST",
        ...missed([
          [idlePer === 1, `${idlePer} requests per idle refresh`],
          [idleReq.list === 0, `${idleReq.list} LIST`],
        ]),
      },
      {
        measure: `reader \`refresh()\` after one commit (${commits}×)`,
        ours: `${fmtNs(afterS.median)} median`,
        peer: "—",
        peerResult: "—",
        ratio: "—",
        oursRequests: fmtRequests(agg, commits),
        peerRequests: "—",
        target: "no LIST",
        ...missed([[afterList === 0, `${afterList} LIST`]]),
      },
    );
    out.data = { idle, commits, idleNs: idleS, afterNs: afterS, idleRequests: idleReq, afterRequests: agg, afterReqTotal, maxPerRefresh };
  },
};
