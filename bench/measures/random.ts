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

    // the same reads from the raw client, into the engine's own 8 MiB chunk objects: SeaweedFS answers a
    // small range of an 8 MiB object more slowly than one of a 1 GiB object, so this is the like-for-like peer
    const listed = await raw.list({ prefix: `${prefix}chunks/` });
    const chunkKeys = (listed.contents ?? []).map((o) => o.key);
    if (chunkKeys.length === 0) throw new Error("no chunk objects listed");
    const wc = await ctx.window("raw");
    const chunkNs: number[] = [];
    for (const [i, off] of offsets.entries()) {
      const at = off % (8 * MiB);
      const t0 = now();
      const got = await raw.file(chunkKeys[i % chunkKeys.length]!).slice(at, at + READ).arrayBuffer();
      chunkNs.push(now() - t0);
      if (got.byteLength !== READ) throw new Error("short chunk read");
    }
    const chunkReq = await wc.end();

    const ours = summarize(oursNs);
    const peer = summarize(rawNs);
    const block = summarize(blockNs);
    const chunk = summarize(chunkNs);
    const perRead = oursReq.bytesDown / n;
    out.rows.push({
      measure: `4 KiB random reads in a ${fmtBytes(size)} file, cold (${n} reads)`,
      ours: `${show(ours)}; ${fmtBytes(perRead)} fetched/read`,
      peer: "`Bun.S3Client` ranged GET",
      peerResult: `${show(peer)}; ${fmtBytes(rawReq.bytesDown / n)} received/read`,
      ratio: fmtRatio(peer.median / ours.median),
      oursRequests: fmtRequests(oursReq, n),
      peerRequests: fmtRequests(rawReq, n),
      target: `≤ 1.5× the raw ranged GET's median; bytes fetched ≤ 2× block size (${fmtBytes(2 * BLOCK)}) per read`,
      ...missed([
        [ours.median <= 1.5 * peer.median, `${fmtRatio(ours.median / peer.median)} the raw GET's time`],
        [perRead <= 2 * BLOCK, `${fmtBytes(perRead)} per read`],
      ]),
    }, {
      measure: `4 KiB random reads in a ${fmtBytes(size)} file, cold (${n} reads)`,
      ours: `${show(ours)}; ${fmtBytes(perRead)} fetched/read`,
      peer: "`Bun.S3Client` ranged GET of 4 KiB in the engine's own 8 MiB chunk objects",
      peerResult: `${show(chunk)}; ${fmtBytes(chunkReq.bytesDown / n)} received/read`,
      ratio: fmtRatio(chunk.median / ours.median),
      oursRequests: fmtRequests(oursReq, n),
      peerRequests: fmtRequests(chunkReq, n),
      target: "≤ 1.5× this peer",
      ...missed([[ours.median <= 1.5 * chunk.median, `${fmtRatio(ours.median / chunk.median)} its time`]]),
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
    out.data = { size, reads: n, ours, peer, block, chunk, oursRequests: oursReq, rawRequests: rawReq, blockRequests: blockReq, bytesPerRead: perRead };
  },
};
