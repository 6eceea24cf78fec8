// Metadata at scale: one transaction of 1,000,000 small files (writer in a child process, bench/scale-child.ts,
// so its peak RSS is its own), the metadata bytes that leaves in the bucket, a cold reader's open (from the
// WAL record alone, then from a snapshot), and stat / readdir at that size.
import { promises as fsp, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withParentDeathSignal } from "../../scripts/s3-servers.ts";
import type { CachedFs, RequestCounts } from "../../js/core.ts";
import { fmtRequests, type BenchContext } from "../lib/context.ts";
import type { KindCounts } from "../lib/proxy.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtBytes, fmtInt, fmtNs, fmtRatio, MiB, now, timeEach, type Summary } from "../lib/util.ts";
import { scaleBody, scalePath, type ScaleConfig, type ScaleTailResult, type ScaleWriterResult } from "../scale-child.ts";

const FILE_BYTES = 100;
const PER_DIR = 1_000;
/** The goals are stated at this many files; time goals are pro-rated to the size run. */
const GOAL_FILES = 1_000_000;
const TX_GOAL_NS = 20e9;
const OPEN_GOAL_NS = 3e9;
const RSS_GOAL = 256 * MiB;
const WAL_GOAL = 60;
const DOWN_GOAL = 40;
/**
 * A fresh reader replays WAL records rather than read the snapshot unless the head is more than this many
 * commits past it (MAX_REPLAY_BEFORE_SNAPSHOT in src/engine/replica.rs); the tail of one-file commits
 * after the big one takes the head there, the last of them writing the snapshot.
 */
const REPLAY_LIMIT = 64;

const show = (s: Summary) => `${fmtNs(s.median)} median (p99 ${fmtNs(s.p99)})`;
const perFile = (bytes: number, files: number) => `${(bytes / files).toFixed(1)} B/file`;

/** Lines a child prints on stdout, one at a time. */
function lineReader(stream: ReadableStream<Uint8Array>): () => Promise<string | undefined> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += decoder.decode(value, { stream: true });
    }
    const at = text.indexOf("\n");
    const line = text.slice(0, at);
    text = text.slice(at + 1);
    return line;
  };
}

/** Count and total size of the objects under `prefix`, listed with Bun's S3 client. */
async function listed(ctx: BenchContext, prefix: string): Promise<{ objects: number; bytes: number }> {
  const raw = ctx.raw();
  let objects = 0;
  let bytes = 0;
  let continuationToken: string | undefined;
  do {
    const page = await raw.list({ prefix, continuationToken });
    for (const o of page.contents ?? []) {
      objects++;
      bytes += o.size ?? 0;
    }
    continuationToken = page.isTruncated === true ? page.nextContinuationToken : undefined;
  } while (continuationToken !== undefined);
  return { objects, bytes };
}

/** "heads ×1, wal ×65": the engine objects a window's GETs fetched, by folder. */
function fetched(c: KindCounts): string {
  const by = new Map<string, number>();
  for (const [k, v] of Object.entries(c.folders)) {
    const [kind, folder] = k.split(":");
    if (kind === "get" || kind === "rangedGet") by.set(folder ?? "?", (by.get(folder ?? "?") ?? 0) + v);
  }
  return [...by].map(([f, v]) => `${f} ×${fmtInt(v)}`).join(", ") || "nothing";
}

interface ColdOpen {
  ns: number;
  proxy: KindCounts;
  engine: RequestCounts;
  reader: CachedFs;
}

export const scale: Measure = {
  id: "scale",
  title: "metadata at 1,000,000 files",
  async run(ctx, out) {
    const { scaleFiles: files, scaleBigDir: bigDir, scaleStatIterations: n, scaleReaddirIterations: rn } = ctx.sizes;
    const prefix = ctx.prefix("scale", "ours");
    const cfg: ScaleConfig = {
      endpoint: ctx.endpoint("ours"),
      bucket: ctx.server.bucket,
      region: ctx.server.region,
      accessKeyId: ctx.server.accessKeyId,
      secretAccessKey: ctx.server.secretAccessKey,
      prefix,
      dir: ctx.dir("scale-writer"),
      cacheBytes: 256 * MiB,
      files,
      fileBytes: FILE_BYTES,
      bigDir,
      perDir: PER_DIR,
      tailCommits: REPLAY_LIMIT,
    };
    const child = Bun.spawn(withParentDeathSignal([process.execPath, join(import.meta.dir, "..", "scale-child.ts")]), {
      env: { ...process.env, BENCH_SCALE_CONFIG: JSON.stringify(cfg) },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const stderr = new Response(child.stderr).text();
    const nextLine = lineReader(child.stdout);
    const fromChild = async <T>(what: string): Promise<T> => {
      const line = await nextLine();
      if (line === undefined) {
        const code = await child.exited;
        throw new Error(`the scale writer exited ${code} before ${what}: ${(await stderr).trim().split("\n").slice(-5).join(" / ")}`);
      }
      return JSON.parse(line) as T;
    };
    const probe = scalePath(files - 1, bigDir, PER_DIR);
    const coldOpen = async (name: string): Promise<ColdOpen> => {
      const w = await ctx.window("ours");
      const t0 = now();
      const reader = await ctx.mountOurs({ prefix, mode: "readonly", name });
      const st = await reader.stat(probe);
      const ns = now() - t0;
      const proxy = await w.end();
      if (st.size !== FILE_BYTES) throw new Error(`a cold reader saw ${probe} with ${st.size} bytes`);
      return { ns, proxy, engine: reader.stats().requests, reader };
    };

    let writer: ScaleWriterResult;
    let tail: ScaleTailResult;
    let walOnly: { objects: number; bytes: number };
    let fromWal: ColdOpen;
    try {
      // 1. the writer's transaction; the bucket then holds one WAL record and no snapshot
      writer = await fromChild<ScaleWriterResult>("the transaction");
      walOnly = await listed(ctx, `${prefix}wal/`);
      // 2. a cold reader of that: it replays the one record
      fromWal = await coldOpen("cold-wal");
      await fromWal.reader.close();
      // 3. the tail of one-file commits, the last writing a snapshot
      child.stdin.write("go\n");
      await child.stdin.end();
      tail = await fromChild<ScaleTailResult>("the tail commits");
      const code = await child.exited;
      if (code !== 0) throw new Error(`the scale writer exited ${code}: ${(await stderr).trim().split("\n").slice(-5).join(" / ")}`);
    } finally {
      if (child.exitCode === null) child.kill();
    }
    const snaps = await listed(ctx, `${prefix}snapshots/`);
    const wal = await listed(ctx, `${prefix}wal/`);
    const packs = await listed(ctx, `${prefix}packs/`);
    // 4. a cold reader now: the snapshot, and no record after it
    const fromSnap = await coldOpen("cold-snapshot");
    const reader = fromSnap.reader;

    // 5. stat at this size (every call a different file, so no answer is reused) and readdir of /big,
    // against local disk with a directory of as many files
    const localBig = ctx.dir("scale-local-big");
    for (let i = 0; i < bigDir; i++) writeFileSync(join(localBig, `f${i}`), scaleBody(i, FILE_BYTES, "x".repeat(FILE_BYTES)));
    const warmup = Math.min(2000, n);
    const spread = (count: number) => Array.from({ length: n + warmup }, (_, i) => (i * 7919) % count);
    const statPaths = spread(files).map((i) => scalePath(i, bigDir, PER_DIR));
    const localPaths = spread(bigDir).map((i) => join(localBig, `f${i}`));
    Bun.gc(true);
    reader.resetStats();
    const indexEntries = reader.stats().indexEntries;
    const w = await ctx.window("ours");
    let k = 0;
    const oursStat = await timeEach(n, warmup, () => reader.stat(statPaths[k++] as string));
    let got = 0;
    const oursReaddir = await timeEach(rn, 2, async () => {
      got = (await reader.readdir("/big")).length;
    });
    const readReq = reader.stats().requests;
    const readProxy = await w.end();
    if (got !== bigDir) throw new Error(`ours listed ${got} entries in /big, expected ${bigDir}`);
    Bun.gc(true);
    let j = 0;
    const localStat = await timeEach(n, warmup, () => fsp.stat(localPaths[j++] as string));
    let localGot = 0;
    const localReaddir = await timeEach(rn, 2, async () => {
      localGot = (await fsp.readdir(localBig)).length;
    });
    if (localGot !== bigDir) throw new Error(`local listed ${localGot} entries`);
    await reader.close();

    const N = fmtInt(files);
    const dirs = writer.dirs;
    const share = files / GOAL_FILES;
    const txGoal = TX_GOAL_NS * share;
    const openGoal = OPEN_GOAL_NS * share;
    const proRated = (goal: number, unit: string) => (files === GOAL_FILES ? unit : `${unit}; pro-rated to ${N} files: ≤ ${fmtNs(goal)}`);
    const tx = writer.tx;
    const walRecord = walOnly.bytes;
    const commitNs = tx.ns - writer.loopNs;
    const openRow = (what: string, o: ColdOpen, objects: string) => {
      const down = o.proxy.bytesDown;
      return {
        measure: `cold reader, ${what}: open and first \`stat\``,
        ours: `${fmtNs(o.ns)}; ${fmtBytes(down)} downloaded (${perFile(down, files)})`,
        peer: "—",
        peerResult: "—",
        ratio: "—",
        oursRequests: `${fmtRequests(o.engine)}; fetched ${objects}: ${fetched(o.proxy)}`,
        peerRequests: "—",
        target: `${proRated(openGoal, `≤ ${fmtNs(OPEN_GOAL_NS)} at ${fmtInt(GOAL_FILES)} files`)}; ≤ ${DOWN_GOAL} B/file downloaded`,
        ...missed([
          [o.ns <= openGoal, `${fmtNs(o.ns)}`],
          [down <= DOWN_GOAL * files, `${perFile(down, files)} downloaded`],
        ]),
      };
    };
    out.rows.push(
      {
        measure: `writer: one transaction of ${N} × ${FILE_BYTES} B files (${fmtInt(dirs)} directories)`,
        ours: `${fmtNs(tx.ns)} (${fmtInt(files / (tx.ns / 1e9))} files/s; commit ${fmtNs(commitNs)})`,
        peer: "—",
        peerResult: "—",
        ratio: "—",
        oursRequests: fmtRequests(writer.requests),
        peerRequests: "—",
        target: proRated(txGoal, `≤ ${fmtNs(TX_GOAL_NS)} at ${fmtInt(GOAL_FILES)} files`),
        ...missed([[tx.ns <= txGoal, fmtNs(tx.ns)]]),
      },
      {
        measure: `writer: peak RSS growth of that transaction`,
        ours: `${fmtBytes(tx.growth)} (from ${fmtBytes(tx.baselineRss)}; ${perFile(tx.growth, files)})`,
        peer: "—",
        peerResult: "—",
        ratio: "—",
        oursRequests: fmtRequests(writer.requests),
        peerRequests: "—",
        target: `≤ ${fmtBytes(RSS_GOAL)}`,
        ...missed([[tx.growth <= RSS_GOAL, fmtBytes(tx.growth)]]),
      },
      {
        measure: `metadata stored for ${N} files`,
        ours: `WAL record ${fmtBytes(walRecord)} (${perFile(walRecord, files)}); snapshot ${fmtBytes(snaps.bytes)} (${perFile(snaps.bytes, files)})`,
        peer: "—",
        peerResult: "—",
        ratio: "—",
        oursRequests: `${snaps.objects} snapshot${snaps.objects === 1 ? "" : "s"}, ${wal.objects} WAL records in all`,
        peerRequests: "—",
        target: `WAL ≤ ${WAL_GOAL} B per small-file op`,
        ...missed([[walRecord <= WAL_GOAL * files, `${perFile(walRecord, files)}`]]),
      },
      openRow(`WAL only (head at seq ${writer.seq}, no snapshot)`, fromWal, "the head and the record"),
      openRow(`from a snapshot (head at seq ${tail.seq}, snapshot at its last commit)`, fromSnap, snaps.objects > 0 ? "the head and the snapshot" : "(no snapshot was written!)"),
      {
        measure: `awaited \`stat\` among ${N} files (a different file each call)`,
        ours: show(oursStat),
        peer: `local \`fs.promises.stat\` among ${fmtInt(bigDir)} files`,
        peerResult: show(localStat),
        ratio: fmtRatio(localStat.median / oursStat.median),
        oursRequests: fmtRequests(readReq),
        peerRequests: "—",
        target: "≤ 2 µs median, 0 requests",
        ...missed([
          [oursStat.median <= 2_000, `median ${fmtNs(oursStat.median)}`],
          [readReq.total === 0 && readProxy.total === 0, `${readReq.total} requests`],
        ]),
      },
      {
        measure: `\`readdir\` of a ${fmtInt(bigDir)}-entry directory among ${N} files`,
        ours: show(oursReaddir),
        peer: "local `fs.promises.readdir`",
        peerResult: show(localReaddir),
        ratio: fmtRatio(localReaddir.median / oursReaddir.median),
        oursRequests: fmtRequests(readReq),
        peerRequests: "—",
        target: "≤ 2× local time, 0 requests",
        ...missed([
          [oursReaddir.median <= 2 * localReaddir.median, `${fmtRatio(oursReaddir.median / localReaddir.median)} local time`],
          [readReq.total === 0 && readProxy.total === 0, `${readReq.total} requests`],
        ]),
      },
    );
    out.notes.push(
      `the writer (a child process of its own, peak RSS by ${tx.peakSource}) spends ${fmtNs(writer.loopNs)} in the ${N} \`tx.writeFile\` calls (${fmtNs(writer.loopNs / files)} each) and ${fmtNs(commitNs)} committing; after the last call, before the commit, its RSS was ${fmtBytes(writer.loopRss - tx.baselineRss)} above the start (JS heap in use ${fmtBytes(writer.loopHeap)}), the peak ${fmtBytes(tx.growth)}; file data: ${fmtBytes(packs.bytes)} in ${packs.objects} pack${packs.objects === 1 ? "" : "s"} (${perFile(packs.bytes, files)}).`,
      `one commit leaves no snapshot (the engine writes one every snapshotEvery commits, 256 by default), so the first cold reader replays the transaction's WAL record; a fresh reader reads a snapshot only once the head is more than ${REPLAY_LIMIT} commits past it, so the writer then made ${REPLAY_LIMIT} one-file commits (${fmtNs(tail.ns)}; the last, which wrote the ${fmtBytes(snaps.bytes)} snapshot, ${fmtNs(tail.lastNs)}) with snapshotEvery ${REPLAY_LIMIT + 1} before the second cold reader. Downloaded bytes are the proxy's response bytes (headers included); each cold reader has an empty cache directory.`,
      `\`stat\` here asks for a different file on every call (${fmtInt(n)} timed after ${fmtInt(warmup)} untimed, spread over all ${N}), so no answer the mount remembers is reused; small-reads' \`stat\` row asks for one file over and over. The local peer stats files of one ${fmtInt(bigDir)}-entry directory, the same way. The reader's in-memory entry index held ${indexEntries === null ? "nothing (none was in place: SQLite answered)" : `${fmtInt(indexEntries)} entries`} when the timing began.`,
      `the time goals (transaction ≤ ${fmtNs(TX_GOAL_NS)}, cold open ≤ ${fmtNs(OPEN_GOAL_NS)}) are stated at ${fmtInt(GOAL_FILES)} files; at other sizes they are pro-rated to the files written, fixed costs and all.`,
    );
    out.data = { files, bigDir, perDir: PER_DIR, fileBytes: FILE_BYTES, writer, tail, walRecordBytes: walRecord, snapshots: snaps, wal, packs, fromWal: { ns: fromWal.ns, proxy: fromWal.proxy, engine: fromWal.engine }, fromSnap: { ns: fromSnap.ns, proxy: fromSnap.proxy, engine: fromSnap.engine }, oursStat, indexEntries, localStat, oursReaddir, localReaddir, readRequests: readReq, readProxy };
  },
};
