// Workspace history on a workspace of `historyFiles` files with `historyCommits` commits after them: a
// checkpoint's requests, a fork's time and the data objects it copies, a time-travel mount that many
// commits back against a mount of the head, and a diff over those commits.
import { S3CachedFsManagerImpl, S3ObjectStore } from "../../js/core.ts";
import { fmtRequests } from "../lib/context.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtNs, now } from "../lib/util.ts";

export const history: Measure = {
  id: "history",
  title: "history: checkpoint, fork, time travel, diff",
  async run(ctx, out) {
    const { historyFiles: files, historyCommits: commits } = ctx.sizes;
    const prefix = ctx.prefix("history", "ours");
    const w = await ctx.mountOurs({ prefix, mode: "readwrite" });
    const body = "x".repeat(100);
    await w.transaction(async (tx) => {
      for (let i = 0; i < files; i++) await tx.writeFile(`/d${i % 100}/f${i}.txt`, body, { recursive: true });
    });
    const base = w.seq;
    for (let i = 0; i < commits; i++) await w.writeFile(`/d${i % 100}/f${i}.txt`, `changed ${i}`);

    w.resetStats();
    const t0 = now();
    await w.checkpoint("bench");
    const checkpointNs = now() - t0;
    const checkpointReq = w.stats().requests;

    let t = now();
    const head = await ctx.mountOurs({ prefix, mode: "readonly", name: "head" });
    const headNs = now() - t;
    t = now();
    const back = await ctx.mountOurs({ prefix, mode: "readonly", name: "back", at: base });
    const backNs = now() - t;
    if (back.seq !== base || (await back.readText("/d0/f0.txt")) !== body) throw new Error("the time-travel mount is not at its commit");
    await Promise.all([head.close(), back.close()]);

    t = now();
    const changes = await w.diff(base);
    const diffNs = now() - t;
    if (changes.length !== Math.min(commits, files)) throw new Error(`diff found ${changes.length} changes, not ${commits}`);

    const forkPrefix = ctx.prefix("history", "fork").replace(/\/$/, "");
    const manager = new S3CachedFsManagerImpl({ cacheRoot: ctx.dir("fork") });
    t = now();
    await manager.fork({ from: ctx.oursAt(prefix), to: { prefix: forkPrefix } });
    const forkNs = now() - t;
    const forkStore = await S3ObjectStore.connect({ ...ctx.oursAt(forkPrefix) });
    const copied = (await forkStore.list("packs/")).objects.length + (await forkStore.list("chunks/")).objects.length;
    await manager.close();

    const ratio = backNs / headNs;
    const none = { peer: "—", peerResult: "—", peerRequests: "—" };
    out.rows.push(
      {
        measure: "`checkpoint(name)`",
        ours: fmtNs(checkpointNs),
        ...none,
        ratio: "—",
        oursRequests: fmtRequests(checkpointReq),
        target: "1 PUT",
        ...missed([[checkpointReq.put === 1 && checkpointReq.total === 1, `${checkpointReq.total} requests`]]),
      },
      {
        measure: `fork of a ${files.toLocaleString("en-US")}-file workspace`,
        ours: `${fmtNs(forkNs)}, ${copied} data objects copied`,
        ...none,
        ratio: "—",
        oursRequests: "—",
        target: "≤ 2 s, 0 data objects copied",
        ...missed([
          [forkNs <= 2e9, `${fmtNs(forkNs)}`],
          [copied === 0, `${copied} copied`],
        ]),
      },
      {
        measure: `time-travel mount ${commits} commits back`,
        ours: fmtNs(backNs),
        peer: "a mount of the head",
        peerResult: fmtNs(headNs),
        ratio: `${ratio.toFixed(2)}×`,
        oursRequests: "—",
        peerRequests: "—",
        target: "≤ 2× the head mount",
        ...missed([[ratio <= 2, `${ratio.toFixed(2)}×`]]),
      },
      {
        measure: `diff over ${commits} commits (${files.toLocaleString("en-US")} files)`,
        ours: fmtNs(diffNs),
        ...none,
        ratio: "—",
        oursRequests: "—",
        target: "≤ 200 ms",
        ...missed([[diffNs <= 200e6, fmtNs(diffNs)]]),
      },
    );
    out.data = { files, commits, checkpointNs, checkpointRequests: checkpointReq, headNs, backNs, diffNs, forkNs, copied };
  },
};
