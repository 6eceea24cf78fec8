// 4 KiB random reads in a 1 GiB file from a fresh reader, against ranged GETs with Bun.S3Client.
import { fmtRequests } from "../lib/context.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { bigFileBytes, fmtBytes, fmtNs, fmtRatio, KiB, MiB, now, randomBytes, rng, summarize, type Summary } from "../lib/util.ts";

const READ = 4 * KiB;
/** The engine's block size: what one cold read may fetch at most twice over. */
const BLOCK = 512 * KiB;

const show = (s: Summary) => `${fmtNs(s.median)} median (p90 ${fmtNs(s.p90)})`;

export const randomReads: Measure = {
  id: "random",
  title: "4 KiB random reads in a 1 GiB file, cold",
  async run(ctx, out) {
    const size = ctx.sizes.randomFileBytes;
    const n = Math.min(ctx.sizes.randomReads, size / BLOCK);
    const buf = bigFileBytes(size, 8 * MiB, 42, randomBytes(8 * MiB, 42));

    const prefix = ctx.prefix("random", "ours");
    const writer = await ctx.mountOurs({ prefix, mode: "readwrite" });
    await writer.writeFile("/big.bin", buf);
    const raw = ctx.raw();
    const key = `${ctx.prefix("random", "raw")}big.bin`;
    await raw.write(key, buf);
    await writer.close();

    // n distinct blocks, a 4 KiB-aligned read inside each: every read is cold
    const next = rng(99);
    const blocks = new Set<number>();
    while (blocks.size < n) blocks.add(next() % (size / BLOCK));
    const offsets = [...blocks].map((b) => b * BLOCK + (next() % (BLOCK / READ)) * READ);
    const same = (got: Uint8Array, off: number) => got.byteLength === READ && Buffer.compare(got, buf.subarray(off, off + READ)) === 0;

    const reader = await ctx.mountOurs({ prefix, mode: "readonly" });
    reader.resetStats();
    const oursNs: number[] = [];
    for (const off of offsets) {
      const t0 = now();
      const got = await reader.read("/big.bin", { offset: off, length: READ });
      oursNs.push(now() - t0);
      if (!same(got, off)) throw new Error(`ours read wrong bytes at ${off}`);
    }
    const oursReq = reader.stats().requests;

    const w = await ctx.window("raw");
    const rawNs: number[] = [];
    for (const off of offsets) {
      const t0 = now();
      const got = new Uint8Array(await raw.file(key).slice(off, off + READ).arrayBuffer());
      rawNs.push(now() - t0);
      if (!same(got, off)) throw new Error(`Bun.S3Client read wrong bytes at ${off}`);
    }
    const rawReq = await w.end();

    // what fetching the enclosing 512 KiB block costs the raw client (the network share of ours)
    const wb = await ctx.window("raw");
    const blockNs: number[] = [];
    for (const off of offsets) {
      const start = off - (off % BLOCK);
      const t0 = now();
      const got = await raw.file(key).slice(start, start + BLOCK).arrayBuffer();
      blockNs.push(now() - t0);
      if (got.byteLength !== BLOCK) throw new Error("short block read");
    }
    const blockReq = await wb.end();

    const ours = summarize(oursNs);
    const peer = summarize(rawNs);
    const block = summarize(blockNs);
    const perRead = oursReq.bytesDown / n;
    out.rows.push({
      measure: `4 KiB random reads in a ${fmtBytes(size)} file, cold (${n} reads)`,
      ours: `${show(ours)}; ${fmtBytes(perRead)} fetched/read`,
      peer: "`Bun.S3Client` ranged GET",
      peerResult: `${show(peer)}; ${fmtBytes(rawReq.bytesDown / n)} received/read`,
      ratio: fmtRatio(peer.median / ours.median),
      oursRequests: fmtRequests(oursReq, n),
      peerRequests: fmtRequests(rawReq, n),
      target: `bytes fetched ≤ 2× block size (${fmtBytes(2 * BLOCK)}) per read`,
      ...missed([[perRead <= 2 * BLOCK, `${fmtBytes(perRead)} per read`]]),
    }, {
      measure: `4 KiB random reads in a ${fmtBytes(size)} file, cold (${n} reads)`,
      ours: `${show(ours)}; ${fmtBytes(perRead)} fetched/read`,
      peer: "`Bun.S3Client` ranged GET of the enclosing 512 KiB block",
      peerResult: `${show(block)}; ${fmtBytes(blockReq.bytesDown / n)} received/read`,
      ratio: fmtRatio(block.median / ours.median),
      oursRequests: fmtRequests(oursReq, n),
      peerRequests: fmtRequests(blockReq, n),
    });
    out.notes.push("each read lands in a different 512 KiB block of the file, so none is served from an earlier read's block; ours' bytes are the engine's `bytesDown`, the peer's are the proxy's response bytes (headers included).");
    out.data = { size, reads: n, ours, peer, block, oursRequests: oursReq, rawRequests: rawReq, blockRequests: blockReq, bytesPerRead: perRead };
  },
};
