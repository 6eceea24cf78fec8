// Peak RSS growth writing 1 GiB with openWrite and streaming it back, in a child process of its own.
import { join } from "node:path";
import { withParentDeathSignal } from "../../scripts/s3-servers.ts";
import type { RequestCounts } from "../../js/core.ts";
import { fmtRequests } from "../lib/context.ts";
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

export const rss: Measure = {
  id: "rss",
  title: "peak RSS growth writing and reading 1 GiB",
  async run(ctx, out) {
    const size = ctx.sizes.rssBytes;
    const base: Omit<RssConfig, "phase"> = {
      endpoint: ctx.endpoint("ours"),
      bucket: ctx.server.bucket,
      region: ctx.server.region,
      accessKeyId: ctx.server.accessKeyId,
      secretAccessKey: ctx.server.secretAccessKey,
      prefix: ctx.prefix("rss", "ours"),
      size,
      dir: ctx.dir("rss"),
      cacheBytes: 256 * MiB,
    };
    const runChild = async (phase: RssConfig["phase"]): Promise<ChildResult> => {
      const child = Bun.spawn(withParentDeathSignal([process.execPath, join(import.meta.dir, "..", "rss-child.ts")]), {
        env: { ...process.env, BENCH_RSS_CONFIG: JSON.stringify({ ...base, phase }) },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
      if (code !== 0) throw new Error(`the RSS child (${phase}) exited ${code}: ${stderr.trim().split("\n").slice(-5).join(" / ")}`);
      return JSON.parse(stdout.trim().split("\n").pop() ?? "") as ChildResult;
    };
    const w = await runChild("write");
    const r = await runChild("read");
    const result = { write: w.result, read: r.result, fill: w.fill as RssPhase, upload: w.upload as RssPhase };
    const row = (what: string, p: RssPhase, requests: RequestCounts) => ({
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
    out.rows.push(row("writing (`openWrite` + `close()`)", result.write, w.requests), row("reading (`stream()`, fresh reader)", result.read, r.requests));
    out.notes.push(
      `the write, split: filling the local file through \`handle.file.writer()\` peaked ${fmtBytes(result.fill.peakRss - result.write.baselineRss)} above the start (${fmtRate(mibps(size, result.fill.ns))}), \`close()\` (upload and commit) ${fmtBytes(result.upload.peakRss - result.write.baselineRss)} (${fmtRate(mibps(size, result.upload.ns))}).`,
      `each phase measured in a child process of its own: growth = peak RSS (${result.write.peakSource}, reset at the start of each phase) minus the RSS right before it; the mount's block cache is bounded at 256 MiB on disk.`,
    );
    out.data = { size, ...result, writeRequests: w.requests, readRequests: r.requests };
  },
};
