// readdir of a 1,000-entry directory, against local fs.promises.readdir and @mastra/s3.
import { promises as fsp, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fmtRequests, totalRequests } from "../lib/context.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtNs, fmtRatio, pool, timeEach, type Summary } from "../lib/util.ts";

const show = (s: Summary) => `${fmtNs(s.median)} median (p99 ${fmtNs(s.p99)})`;

export const readdir: Measure = {
  id: "readdir",
  title: "readdir of 1,000 entries",
  async run(ctx, out) {
    const { readdirEntries: entries, readdirIterations: n, mastraReaddirIterations: mn } = ctx.sizes;
    const names = Array.from({ length: entries }, (_, i) => `file-${String(i).padStart(5, "0")}.txt`);
    const fs = await ctx.mountOurs({ prefix: ctx.prefix("readdir", "ours"), mode: "readwrite" });
    await fs.transaction(async (tx) => {
      await tx.mkdir("/dir");
      for (const name of names) await tx.writeFile(`/dir/${name}`, name);
    });
    const localDir = ctx.dir("local-readdir");
    for (const name of names) writeFileSync(join(localDir, name), name);
    const mastra = ctx.mastra(ctx.prefix("readdir", "mastra"));
    await pool(names.length, 32, (i) => mastra.writeFile(`dir/${names[i]}`, names[i] as string));

    Bun.gc(true);
    fs.resetStats();
    const w = await ctx.window("ours");
    let got = 0;
    const ours = await timeEach(n, Math.min(200, n), async () => {
      got = (await fs.readdir("/dir")).length;
    });
    const oursTyped = await timeEach(n, Math.min(200, n), () => fs.readdir("/dir", { withFileTypes: true }));
    const oursReq = fs.stats().requests;
    const oursProxy = await w.end();
    if (got !== entries) throw new Error(`ours listed ${got} entries, expected ${entries}`);

    Bun.gc(true);
    let localGot = 0;
    const local = await timeEach(n, Math.min(200, n), async () => {
      localGot = (await fsp.readdir(localDir)).length;
    });
    const localTyped = await timeEach(n, Math.min(200, n), () => fsp.readdir(localDir, { withFileTypes: true }));
    if (localGot !== entries) throw new Error(`local listed ${localGot} entries`);

    const mw = await ctx.window("mastra");
    let mastraGot = 0;
    const mastraT = await timeEach(mn, 1, async () => {
      mastraGot = (await mastra.readdir("dir")).length;
    });
    const mastraReq = await mw.end();
    if (mastraGot !== entries) throw new Error(`@mastra/s3 listed ${mastraGot} entries`);

    const zero = totalRequests(oursReq) === 0 && oursProxy.total === 0;
    const oursR = fmtRequests(oursReq);
    out.rows.push(
      {
        measure: `\`readdir\` of ${entries.toLocaleString("en-US")} entries`,
        ours: show(ours),
        peer: "local `fs.promises.readdir`",
        peerResult: show(local),
        ratio: fmtRatio(local.median / ours.median),
        oursRequests: oursR,
        peerRequests: "—",
        target: "≤ 2× local time, 0 requests",
        ...missed([
          [ours.median <= 2 * local.median, `${fmtRatio(ours.median / local.median)} local time`],
          [zero, `${oursReq.total} requests`],
        ]),
      },
      { measure: `\`readdir\` of ${entries.toLocaleString("en-US")} entries`, ours: show(ours), peer: "@mastra/s3 `readdir`", peerResult: show(mastraT), ratio: fmtRatio(mastraT.median / ours.median), oursRequests: oursR, peerRequests: fmtRequests(mastraReq, mn + 1) },
      { measure: "`readdir` withFileTypes", ours: show(oursTyped), peer: "local `fs.promises.readdir` withFileTypes", peerResult: show(localTyped), ratio: fmtRatio(localTyped.median / oursTyped.median), oursRequests: oursR, peerRequests: "—" },
    );
    out.data = { entries, iterations: n, ours, oursTyped, local, localTyped, mastra: mastraT, oursRequests: oursReq, oursProxy, mastraReq };
  },
};
