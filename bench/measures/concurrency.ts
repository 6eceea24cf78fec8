// Writers beside each other (issue 11): a 1 KiB `writeFile` while a transaction, or a just-bash exec, is
// open for seconds costs about one commit (it is not queued behind them); and 8 concurrent execs in one
// shell, each writing 100 files, take about as long as one.
import type { CachedFs } from "../../js/core.ts";
import { loadShell, type BenchShell } from "../lib/adapters.ts";
import { missed, Pending, type Measure } from "../lib/measure.ts";
import type { Row } from "../lib/report.ts";
import { fmtNs, fmtRatio, now, summarize, timeEach, timeOnce, type Summary } from "../lib/util.ts";

const BODY = "x".repeat(1024);

type Latencies = Summary & { max: number };

const show = (s: Summary | Latencies) => `${fmtNs(s.median)} median (${"max" in s ? `max ${fmtNs(s.max)}` : `p90 ${fmtNs(s.p90)}`})`;

/**
 * Times `count` 1 KiB writes made one after another through `write`, started once `open` (which holds a
 * transaction or an exec open for `holdMs`) is under way; returns their latencies and `open`'s result.
 */
async function besideOpen(count: number, holdMs: number, open: () => Promise<unknown>, write: (i: number) => Promise<unknown>): Promise<{ s: Latencies; lastEndMs: number; openMs: number }> {
  const t0 = now();
  const held = timeOnce(open);
  await Bun.sleep(Math.min(100, holdMs / 5));
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = now();
    await write(i);
    samples.push(now() - t);
  }
  const lastEndMs = (now() - t0) / 1e6;
  const { ns } = await held;
  return { s: { ...summarize(samples), max: Math.max(...samples) }, lastEndMs, openMs: ns / 1e6 };
}

export const writeBesideTx: Measure = {
  id: "write-beside-tx",
  title: "a 1 KiB writeFile while a 2 s transaction or exec is open",
  async run(ctx, out) {
    const { openTxMs: holdMs, sideWrites: count } = ctx.sizes;
    const fs = await ctx.mountOurs({ prefix: ctx.prefix("write-beside-tx", "ours"), mode: "readwrite" });
    await fs.mkdir("/plain");
    const plain = await timeEach(count * 2, 3, (i) => fs.writeFile(`/plain/f${i}`, BODY));
    const results: { what: string; r: Awaited<ReturnType<typeof besideOpen>> }[] = [];
    const tx = await besideOpen(
      count,
      holdMs,
      () =>
        fs.transaction(async (t) => {
          await t.writeFile("/tx/first", BODY, { recursive: true });
          await Bun.sleep(holdMs);
          await t.writeFile("/tx/last", BODY);
        }),
      (i) => fs.writeFile(`/beside-tx-${i}`, BODY),
    );
    results.push({ what: `\`fs.writeFile\` while a ${fmtNs(holdMs * 1e6)} transaction is open`, r: tx });
    const shellModule = await loadShell();
    let shell: BenchShell | undefined;
    if (shellModule !== undefined) {
      shell = await shellModule.createAcceleratedJustBashShell({ filesystem: fs, cwd: "/" });
      const script = `echo start > /exec-start; sleep ${holdMs / 1000}; echo end > /exec-end`;
      const viaMount = await besideOpen(count, holdMs, () => (shell as BenchShell).exec(script), (i) => fs.writeFile(`/beside-exec-${i}`, BODY));
      results.push({ what: `\`fs.writeFile\` while a ${fmtNs(holdMs * 1e6)} just-bash exec runs`, r: viaMount });
      const viaShell = await besideOpen(count, holdMs, () => (shell as BenchShell).exec(script), (i) => (shell as BenchShell).fs.writeFile(`/beside-shell-${i}`, BODY));
      results.push({ what: `\`shell.fs.writeFile\` (outside the exec) while a ${fmtNs(holdMs * 1e6)} exec runs`, r: viaShell });
    }
    for (let i = 0; i < count; i++) if (!fs.existsSync(`/beside-tx-${i}`)) throw new Error(`/beside-tx-${i} is missing`);
    const rows: Row[] = results.map(({ what, r }) => ({
      measure: `1 KiB write: ${what}`,
      ours: show(r.s),
      peer: "plain `fs.writeFile`, nothing else open",
      peerResult: show(plain),
      ratio: fmtRatio(plain.median / r.s.median),
      oursRequests: "—",
      peerRequests: "—",
      target: `median ≤ 2× plain; no write waits for the transaction or exec`,
      ...missed([
        [r.s.median <= 2 * plain.median, `median ${fmtRatio(r.s.median / plain.median)} plain`],
        [r.s.max < holdMs * 1e6 * 0.5, `slowest ${fmtNs(r.s.max)}`],
      ]),
    }));
    out.rows.push(...rows);
    out.notes.push(
      `${count} writes one after another, started ${Math.min(100, holdMs / 5)} ms after the transaction or exec, which holds its callback or script open for ${fmtNs(holdMs * 1e6)}; "max" is the slowest write. A write queued behind the transaction would take about ${fmtNs(holdMs * 1e6)}.`,
      ...(shellModule === undefined ? ["the just-bash rows are missing: js/just-bash.ts could not be loaded."] : []),
    );
    out.data = { holdMs, count, plain, results: results.map(({ what, r }) => ({ what, ...r })) };
  },
};

/** `count` files under `dir`, written by one just-bash script (after a `sleep` of `waitS` seconds, if any). */
const execScript = (dir: string, count: number, waitS = 0) =>
  `${waitS > 0 ? `sleep ${waitS} && ` : ""}mkdir -p ${dir} && for i in $(seq 1 ${count}); do echo "file $i" > ${dir}/f$i.txt; done`;

async function runExecs(shell: BenchShell, fs: CachedFs, tag: string, n: number, files: number, waitS: number): Promise<number> {
  const { ns, value } = await timeOnce(() => Promise.all(Array.from({ length: n }, (_, k) => shell.exec(execScript(`/${tag}-${k}`, files, waitS)))));
  for (const [k, r] of value.entries()) {
    if (r.exitCode !== 0) throw new Error(`exec ${k} exited ${r.exitCode}: ${r.stderr.slice(0, 200)}`);
    const got = fs.readdirSync(`/${tag}-${k}`).length;
    if (got !== files) throw new Error(`exec ${k} left ${got} files, expected ${files}`);
  }
  return ns;
}

export const parallelExecs: Measure = {
  id: "parallel-execs",
  title: "8 concurrent just-bash execs, each writing 100 files",
  async run(ctx, out) {
    const { execs: n, execFiles: files } = ctx.sizes;
    const shellModule = await loadShell();
    if (shellModule === undefined) throw new Pending("pending: js/just-bash.ts could not be loaded");
    const fs = await ctx.mountOurs({ prefix: ctx.prefix("parallel-execs", "ours"), mode: "readwrite" });
    const shell = await shellModule.createAcceleratedJustBashShell({ filesystem: fs, cwd: "/" });
    await runExecs(shell, fs, "warm", 1, files, 0);
    const repeats = ctx.quick ? 1 : 3;
    const waitS = ctx.quick ? 0.2 : 0.5;
    const data: Record<string, { one: number[]; many: number[] }> = {};
    for (const [label, wait] of [
      ["writes only", 0],
      [`a \`sleep ${waitS}\` first`, waitS],
    ] as const) {
      const one: number[] = [];
      const many: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const tag = `${wait > 0 ? "w" : "c"}${i}`;
        one.push(await runExecs(shell, fs, `one-${tag}`, 1, files, wait));
        many.push(await runExecs(shell, fs, `many-${tag}`, n, files, wait));
      }
      const o = summarize(one).median;
      const m = summarize(many).median;
      data[label] = { one, many };
      out.rows.push({
        measure: `${n} concurrent execs in one shell, each writing ${files} files (one commit each): ${label}`,
        ours: `${fmtNs(m)} (median of ${repeats})`,
        peer: "one such exec alone",
        peerResult: `${fmtNs(o)} (median of ${repeats})`,
        ratio: fmtRatio(o / m),
        oursRequests: "—",
        peerRequests: "—",
        target: `≤ 1.5× one exec`,
        ...missed([[m <= 1.5 * o, `${fmtRatio(m / o)} one exec`]]),
      });
      if (wait === 0) out.notes.push(`each exec runs \`${execScript("/dir", files)}\`; ${n} one after another would take about ${fmtNs(n * o)}; the script's own work runs on the one JS thread, so ${n} of them cannot take less than ${n}× its CPU time.`);
    }
    out.notes.push(`"${`a \`sleep ${waitS}\` first`}": the same script after a command that waits (as a build or a network call would): the waits overlap.`);
    out.data = { n, files, waitS, ...data };
  },
};
