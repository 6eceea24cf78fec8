// 10,000 × 1 KiB files: ours in one transaction and as concurrent writeFile calls (group commit), against
// @mastra/s3 writeFile × 10,000 (one at a time, and 16 in flight).
import { fmtRequests } from "../lib/context.ts";
import type { KindCounts } from "../lib/proxy.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtInt, fmtNs, fmtRatio, now, pool, timeOnce } from "../lib/util.ts";

const dataPuts = (c: KindCounts): number => (c.folders["put:packs"] ?? 0) + (c.folders["put:chunks"] ?? 0);

export const smallWrites: Measure = {
  id: "small-writes",
  title: "10,000 × 1 KiB files",
  async run(ctx, out) {
    const { smallFiles: count, smallFileBytes: size, mastraConcurrency: conc } = ctx.sizes;
    const filler = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(Math.ceil(size / 50));
    const body = (i: number) => {
      const head = `file ${i} `;
      return head + filler.slice(0, size - head.length);
    };
    const label = `${fmtInt(count)} × ${size / 1024} KiB files`;
    const rate = (ns: number) => `${fmtNs(ns)} (${fmtInt(count / (ns / 1e9))} files/s)`;

    // ours, one transaction, after one untimed transaction of a tenth as many files on a mount of its own
    // (the calls are then compiled, as in any process that has written before; the peers warm up over
    // their own thousands of calls)
    const warm = await ctx.mountOurs({ prefix: ctx.prefix("small", "ours-warm"), mode: "readwrite" });
    await warm.transaction(async (t) => {
      await t.mkdir("/many");
      for (let i = 0; i < count / 10; i++) await t.writeFile(`/many/f${i}.txt`, body(i));
    });
    await warm.close();
    const tx = await ctx.mountOurs({ prefix: ctx.prefix("small", "ours-tx"), mode: "readwrite" });
    tx.resetStats();
    const commitsBefore = tx.stats().commits;
    let w = await ctx.window("ours");
    let loopEnd = 0;
    const oursTx = await timeOnce(() =>
      tx.transaction(async (t) => {
        await t.mkdir("/many");
        for (let i = 0; i < count; i++) await t.writeFile(`/many/f${i}.txt`, body(i));
        loopEnd = now();
      }),
    );
    const txEnd = now();
    const commitNs = txEnd - loopEnd;
    const oursTxReq = tx.stats().requests;
    const oursTxCommits = tx.stats().commits - commitsBefore;
    const oursTxProxy = await w.end();
    if ((await tx.readdir("/many")).length !== count) throw new Error("the transaction did not write every file");

    // ours, concurrent writeFile calls (no transaction): the engine may group them into few commits
    const gc = await ctx.mountOurs({ prefix: ctx.prefix("small", "ours-gc"), mode: "readwrite" });
    await gc.mkdir("/many");
    gc.resetStats();
    const gcCommitsBefore = gc.stats().commits;
    w = await ctx.window("ours");
    const oursGc = await timeOnce(() => Promise.all(Array.from({ length: count }, (_, i) => gc.writeFile(`/many/f${i}.txt`, body(i)))));
    const oursGcReq = gc.stats().requests;
    const oursGcCommits = gc.stats().commits - gcCommitsBefore;
    const oursGcProxy = await w.end();
    if ((await gc.readdir("/many")).length !== count) throw new Error("concurrent writeFile lost files");

    // the same bytes alone, as our packs carry them: raw Bun.S3Client PUTs of 4 MiB objects, all in flight
    // (what the transaction cannot beat on this server, whatever its per-file cost)
    const raw = ctx.raw();
    const packBytes = 4 << 20;
    const all = Buffer.alloc(count * size, "x");
    const rawPrefix = ctx.prefix("small", "raw");
    const parts = Math.ceil(all.length / packBytes);
    const bytesAlone = await timeOnce(() =>
      Promise.all(Array.from({ length: parts }, (_, p) => raw.write(`${rawPrefix}part-${p}`, all.subarray(p * packBytes, (p + 1) * packBytes)))),
    );

    // @mastra/s3, one at a time
    const m1 = ctx.mastra(ctx.prefix("small", "mastra-seq"));
    await m1.init();
    let mw = await ctx.window("mastra");
    const mastraSeq = await timeOnce(async () => {
      for (let i = 0; i < count; i++) await m1.writeFile(`many/f${i}.txt`, body(i));
    });
    const mastraSeqReq = await mw.end();

    // @mastra/s3, `conc` in flight
    const m2 = ctx.mastra(ctx.prefix("small", "mastra-conc"));
    await m2.init();
    mw = await ctx.window("mastra");
    const mastraConc = await timeOnce(() => pool(count, conc, (i) => m2.writeFile(`many/f${i}.txt`, body(i))));
    const mastraConcReq = await mw.end();

    const txPuts = dataPuts(oursTxProxy);
    const gcPuts = dataPuts(oursGcProxy);
    const txReq = `${fmtRequests(oursTxReq)}; ${txPuts} data PUT${txPuts === 1 ? "" : "s"}, ${oursTxCommits} commit`;
    const gcReq = `${fmtRequests(oursGcReq)}; ${gcPuts} data PUTs, ${oursGcCommits} commits`;
    const ratio = mastraSeq.ns / oursTx.ns;
    out.rows.push(
      {
        measure: `${label} in one transaction`,
        ours: rate(oursTx.ns),
        peer: `@mastra/s3 \`writeFile\` × ${fmtInt(count)}, one at a time`,
        peerResult: rate(mastraSeq.ns),
        ratio: fmtRatio(ratio),
        oursRequests: txReq,
        peerRequests: fmtRequests(mastraSeqReq),
        target: "≥ 200× faster than @mastra/s3; ≤ 5 data PUTs",
        ...missed([
          [ratio >= 200, `only ${fmtRatio(ratio)}`],
          [txPuts <= 5, `${txPuts} data PUTs`],
        ]),
      },
      { measure: `${label} in one transaction`, ours: rate(oursTx.ns), peer: `@mastra/s3 \`writeFile\`, ${conc} in flight`, peerResult: rate(mastraConc.ns), ratio: fmtRatio(mastraConc.ns / oursTx.ns), oursRequests: txReq, peerRequests: fmtRequests(mastraConcReq) },
      { measure: `${label}, concurrent \`writeFile\` (no transaction)`, ours: rate(oursGc.ns), peer: `@mastra/s3 \`writeFile\`, ${conc} in flight`, peerResult: rate(mastraConc.ns), ratio: fmtRatio(mastraConc.ns / oursGc.ns), oursRequests: gcReq, peerRequests: fmtRequests(mastraConcReq) },
    );
    out.notes.push(
      `ours, one transaction: ${fmtNs(oursTx.ns - commitNs)} in the ${fmtInt(count)} \`tx.writeFile\` calls (${fmtNs((oursTx.ns - commitNs) / count)} each), ${fmtNs(commitNs)} in the commit (upload and publish), after an untimed transaction of ${fmtInt(count / 10)} files on another mount. The same ${fmtInt((count * size) / 1024)} KiB alone, as ${parts} raw \`Bun.S3Client\` PUTs of 4 MiB all in flight, took ${fmtNs(bytesAlone.ns)}: the transaction took ${fmtRatio(oursTx.ns / bytesAlone.ns)} that, and at that time it would be ${fmtRatio(mastraSeq.ns / bytesAlone.ns)} @mastra/s3.`,
    );
    out.data = { count, size, oursTxNs: oursTx.ns, oursTxCommitNs: commitNs, bytesAloneNs: bytesAlone.ns, bytesAloneParts: parts, oursTxReq, oursTxProxy, oursTxCommits, oursGcNs: oursGc.ns, oursGcReq, oursGcProxy, oursGcCommits, mastraSeqNs: mastraSeq.ns, mastraSeqReq, mastraConcNs: mastraConc.ns, mastraConcReq, mastraConcurrency: conc };
  },
};
