// Peak RSS growth, each phase in a child process of its own (bench/rss-child.ts): writing 1 GiB with
// openWrite and streaming it back; and a 1 GiB transaction of 64 × 16 MiB `tx.writeFile` calls.
import { join } from "node:path";
import { withParentDeathSignal } from "../../scripts/s3-servers.ts";
import type { RequestCounts } from "../../js/core.ts";
import { fmtRequests, type BenchContext } from "../lib/context.ts";
import type { RssConfig, RssPhase } from "../rss-child.ts";
import { missed, type Measure } from "../lib/measure.ts";
import { fmtBytes, fmtRate, MiB, mibps } from "../lib/util.ts";

const LIMIT = 128 * MiB;

interface ChildResult {
  result: RssPhase;
  fill?: RssPhase;
  upload?: RssPhase;
  requests: RequestCounts;
}

/** Runs one phase in a child over a fresh prefix shared by the phases of one measure. */
function rssChild(ctx: BenchContext, measure: string, size: number): (phase: RssConfig["phase"], extra?: Partial<RssConfig>) => Promise<ChildResult> {
  const base: Omit<RssConfig, "phase"> = {
    endpoint: ctx.endpoint("ours"),
    bucket: ctx.server.bucket,
    region: ctx.server.region,
    accessKeyId: ctx.server.accessKeyId,
    secretAccessKey: ctx.server.secretAccessKey,
    prefix: ctx.prefix(measure, "ours"),
    size,
    dir: ctx.dir(measure),
    cacheBytes: 256 * MiB,
  };
  return async (phase, extra = {}) => {
    const child = Bun.spawn(withParentDeathSignal([process.execPath, join(import.meta.dir, "..", "rss-child.ts")]), {
      env: { ...process.env, BENCH_RSS_CONFIG: JSON.stringify({ ...base, ...extra, phase }) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
    if (code !== 0) throw new Error(`the RSS child (${phase}) exited ${code}: ${stderr.trim().split("\n").slice(-5).join(" / ")}`);
    return JSON.parse(stdout.trim().split("\n").pop() ?? "") as ChildResult;
  };
}

const rssRow = (what: string, size: number, p: RssPhase, requests: RequestCounts) => ({
  measure: `peak RSS growth, ${what} ${fmtBytes(size)}`,
  ours: `${fmtBytes(p.growth)} (from ${fmtBytes(p.baselineRss)}; ${fmtRate(mibps(size, p.ns))})`,
  peer: "—",
  peerResult: "—",
  ratio: "—",
  oursRequests: fmtRequests(requests),
  peerRequests: "—",
  target: `≤ ${fmtBytes(LIMIT)}`,
  ...missed([[p.growth <= LIMIT, `${fmtBytes(p.growth)}`]]),
});

export const rss: Measure = {
  id: "rss",
  title: "peak RSS growth writing and reading 1 GiB",
  async run(ctx, out) {
    const size = ctx.sizes.rssBytes;
    const runChild = rssChild(ctx, "rss", size);
    const w = await runChild("write");
    const r = await runChild("read");
    const result = { write: w.result, read: r.result, fill: w.fill as RssPhase, upload: w.upload as RssPhase };
    out.rows.push(rssRow("writing (`openWrite` + `close()`)", size, result.write, w.requests), rssRow("reading (`stream()`, fresh reader)", size, result.read, r.requests));
    out.notes.push(
      `the write, split: filling the local file through \`handle.file.writer()\` peaked ${fmtBytes(result.fill.peakRss - result.write.baselineRss)} above the start (${fmtRate(mibps(size, result.fill.ns))}), \`close()\` (upload and commit) ${fmtBytes(result.upload.peakRss - result.write.baselineRss)} (${fmtRate(mibps(size, result.upload.ns))}).`,
      `each phase measured in a child process of its own: growth = peak RSS (${result.write.peakSource}, reset at the start of each phase) minus the RSS right before it; the mount's block cache is bounded at 256 MiB on disk.`,
    );
    out.data = { size, ...result, writeRequests: w.requests, readRequests: r.requests };
  },
};

export const txRss: Measure = {
  id: "tx-rss",
  title: "peak RSS growth of a 1 GiB transaction",
  async run(ctx, out) {
    const { txRssBytes: size, txRssFiles: files } = ctx.sizes;
    // Each over a prefix of its own: the same bytes again would be deduplicated, not uploaded.
    const held = await rssChild(ctx, "tx-rss", size)("transaction", { files, gcEach: true });
    const plain = await rssChild(ctx, "tx-rss", size)("transaction", { files, gcEach: false });
    const what = `one transaction of ${files} × ${fmtBytes(size / files)} \`tx.writeFile\``;
    out.rows.push(rssRow(`${what} (what the engine holds),`, size, held.result, held.requests), {
      ...rssRow(`${what} (as the application sees it),`, size, plain.result, plain.requests),
      target: "—",
      holds: undefined,
      holdsDetail: undefined,
    });
    out.notes.push(
      `each file is a new buffer handed to \`tx.writeFile\`; the phase runs from the first call to the resolved commit, in a child process of its own (${held.result.peakSource}). "What the engine holds" runs a full GC after each call, so the buffers already handed over (garbage by then) do not count; "as the application sees it" leaves collecting them to the runtime, whose timing varies from run to run.`,
    );
    out.data = { size, files, held: held.result, plain: plain.result, requests: held.requests };
  },
};
