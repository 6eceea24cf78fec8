// Benchmarks against peers, side by side on one SeaweedFS server (issue 6).
//
//   bun bench/run.ts            full run (a few minutes), the numbers docs/benchmarks.md quotes
//   bun bench/run.ts --quick    small sizes and few iterations: checks every measure still runs (CI)
//   bun bench/run.ts --only=metadata,grep   run some measures only (ids below)
//
// Writes bench/results/latest.md and latest.json and prints the table. Exits non-zero only when a measure
// crashes (or times out), never because a target was missed.
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { ensureVenv, startSeaweedFS, type RunningServer } from "../scripts/s3-servers.ts";
import { BenchContext, startProxy, type Proxy } from "./lib/context.ts";
import { Pending, type Measure, type MeasureOut } from "./lib/measure.ts";
import { renderMarkdown, renderTable, type MachineInfo, type MeasureResult, type RunReport } from "./lib/report.ts";
import { errorText } from "./lib/util.ts";
import { juicefsVersion } from "./lib/juicefs.ts";
import { metadata } from "./measures/metadata.ts";
import { readdir } from "./measures/readdir.ts";
import { smallWrites } from "./measures/small-writes.ts";
import { grep } from "./measures/grep.ts";
import { sequential } from "./measures/sequential.ts";
import { randomReads } from "./measures/random.ts";
import { refresh } from "./measures/refresh.ts";
import { rss, txRss } from "./measures/rss.ts";
import { parallelExecs, writeBesideTx } from "./measures/concurrency.ts";
import { stall } from "./measures/stall.ts";
import { history } from "./measures/history.ts";
import { smallReads } from "./measures/small-reads.ts";
import { scale } from "./measures/scale.ts";

const MEASURES: Measure[] = [metadata, readdir, smallWrites, grep, sequential, randomReads, refresh, rss, txRss, writeBesideTx, parallelExecs, stall, history, smallReads, scale];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function parseArgs(argv: string[]): { quick: boolean; only: Set<string> | undefined } {
  let quick = false;
  let only: Set<string> | undefined;
  for (const a of argv) {
    if (a === "--quick") quick = true;
    else if (a.startsWith("--only=")) only = new Set(a.slice("--only=".length).split(",").filter((s) => s !== ""));
    else if (a === "--help" || a === "-h") {
      process.stdout.write(`usage: bun bench/run.ts [--quick] [--only=${MEASURES.map((m) => m.id).join(",")}]\n`);
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (only !== undefined) {
    for (const id of only) if (!MEASURES.some((m) => m.id === id)) throw new Error(`no measure "${id}"`);
  }
  return { quick, only };
}

async function weedVersion(bin: string): Promise<string> {
  const p = Bun.spawnSync([join(bin, "weed"), "version"], { stdout: "pipe", stderr: "pipe" });
  const m = /version\s+\S+\s+([\d.]+)/.exec(p.stdout.toString());
  return m?.[1] ?? "unknown";
}

function buildInfo(): string {
  const root = join(import.meta.dir, "..");
  const git = (args: string[]) => Bun.spawnSync(["git", ...args], { cwd: root, stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  const head = git(["rev-parse", "--short", "HEAD"]) || "unknown";
  const dirty = git(["status", "--porcelain", "--", "src", "js", "Cargo.toml", "Cargo.lock"]) !== "";
  const addon = readdirSync(root).find((f) => f.endsWith(".node"));
  const built = addon === undefined ? "no addon" : `addon built ${statSync(join(root, addon)).mtime.toISOString().slice(0, 16)}Z`;
  return `commit ${head}${dirty ? " + uncommitted src/js changes" : ""}, ${built}`;
}

async function machineInfo(bin: string, loadAtStart: number): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    kernel: `${os.type()} ${os.release()}`,
    bun: Bun.version,
    seaweedfs: await weedVersion(bin),
    juicefs: await juicefsVersion(bin),
    build: buildInfo(),
    load: `${loadAtStart.toFixed(1)} → ${(os.loadavg()[0] ?? 0).toFixed(1)}`,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function runMeasure(ctx: BenchContext, m: Measure): Promise<MeasureResult> {
  const out: MeasureOut = { rows: [], notes: [], data: {} };
  const t0 = performance.now();
  log(`${m.id}: ${m.title} ...`);
  let status: MeasureResult["status"] = "ok";
  let error: string | undefined;
  try {
    await withTimeout(m.run(ctx, out), ctx.quick ? 90_000 : 420_000, m.id);
  } catch (e) {
    if (e instanceof Pending) {
      status = "pending";
      error = e.message;
    } else {
      status = "crashed";
      error = errorText(e);
      if (e instanceof Error && e.stack !== undefined) log(e.stack);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  log(`${m.id}: ${status}${error !== undefined ? ` (${error})` : ""} in ${seconds.toFixed(1)} s`);
  return { id: m.id, title: m.title, status, error, rows: out.rows, notes: out.notes, data: out.data, seconds };
}

async function main(): Promise<number> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0] ?? 0;
  if (loadAtStart > os.availableParallelism() * 0.5) log(`the machine is busy (load average ${loadAtStart.toFixed(1)} on ${os.availableParallelism()} cores): timings will be noisy`);
  const t0 = performance.now();
  const bin = await ensureVenv();
  let server: RunningServer | undefined;
  let proxy: Proxy | undefined;
  let ctx: BenchContext | undefined;
  const results: MeasureResult[] = [];
  try {
    server = await startSeaweedFS();
    proxy = await startProxy(server.endpoint);
    ctx = new BenchContext(quick, server, proxy, bin);
    for (const m of MEASURES) {
      if (only !== undefined && !only.has(m.id)) continue;
      results.push(await runMeasure(ctx, m));
    }
  } finally {
    // The server process is unref'd: while its stop waits on nothing else (a SIGKILL after an ignored
    // SIGTERM), the event loop would otherwise run dry and the run exit 0 before writing its report.
    const keepAlive = setInterval(() => {}, 1000);
    await ctx?.close().catch((e: unknown) => log(`cleanup: ${errorText(e)}`));
    await proxy?.stop().catch(() => {});
    await server?.stop().catch(() => {});
    clearInterval(keepAlive);
  }
  const report: RunReport = {
    mode: quick ? "quick" : "full",
    startedAt: startedAt.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    machine: await machineInfo(bin, loadAtStart),
    measures: results,
  };
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "latest.md"), renderMarkdown(report));
  writeFileSync(join(dir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${renderTable(results)}\n\n`);
  for (const r of results) for (const n of r.notes) process.stdout.write(`- ${r.title}: ${n}\n`);
  const crashed = results.filter((r) => r.status === "crashed");
  const missedTargets = results.flatMap((r) => r.rows.filter((row) => row.holds === "no").map((row) => `${row.measure} (${row.target ?? ""})`));
  process.stdout.write(
    `\n${quick ? "quick" : "full"} run: ${results.length} measures, ${crashed.length} crashed, ${results.filter((r) => r.status === "pending").length} pending, ${missedTargets.length} targets missed; ${report.seconds.toFixed(0)} s; wrote bench/results/latest.{md,json}\n`,
  );
  return crashed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
