/**
 * The project's test command: `bun scripts/test.ts [extra bun test args]` (what `npm test` runs).
 *
 * 1. Starts the S3 test servers (SeaweedFS + moto, or the one external server when S3FS_TEST_ENDPOINT is
 *    set) and hands them to the tests as S3FS_TEST_SERVERS (a JSON array of S3ServerInfo), with
 *    AWS_EC2_METADATA_DISABLED=true. If they cannot start: with CI=true that is a failure; otherwise a
 *    loud warning and the tests run without them (the S3 suite then skips itself).
 *    Plain `bun test` does the same through its preload (scripts/test-preload.ts, named in bunfig.toml).
 * 2. Runs `bun test` with the same bun binary and the extra args, streaming its output while keeping a copy.
 * 3. Stops the servers (always), prints the plain summary line `bun: N passed, N failed[, N skipped]`, and
 *    exits with bun test's exit code — non-zero also when no test ran.
 */
import { startTestServers, stopTestServers, withParentDeathSignal, type RunningServer } from "./s3-servers.ts";

function say(message: string): void {
  process.stderr.write(`[test] ${message}\n`);
}

/** Copy a child's stream to one of our own, keeping the text. */
async function pump(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream, chunks: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    chunks.push(decoder.decode(chunk, { stream: true }));
    if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
  }
  chunks.push(decoder.decode());
}

interface Summary {
  pass: number;
  fail: number;
  skip: number;
  found: boolean;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

/** Read bun test's final ` N pass` / ` N fail` / ` N skip` lines (the last of each wins). */
export function parseBunSummary(output: string): Summary {
  const summary: Summary = { pass: 0, fail: 0, skip: 0, found: false };
  const seen = { pass: false, fail: false };
  for (const raw of output.replace(ANSI, "").split(/\r?\n/)) {
    const m = /^\s*(\d+) (pass|fail|skip)\s*$/.exec(raw);
    if (m === null) continue;
    const n = Number(m[1]);
    const kind = m[2] as "pass" | "fail" | "skip";
    summary[kind] = n;
    if (kind !== "skip") seen[kind] = true;
  }
  summary.found = seen.pass || seen.fail;
  return summary;
}

function signalNumber(signal: NodeJS.Signals | number | null): number {
  if (typeof signal === "number") return signal;
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 };
  return (signal !== null ? table[signal] : undefined) ?? 1;
}

async function main(): Promise<number> {
  const extraArgs = process.argv.slice(2);
  let servers: RunningServer[] = [];
  let child: Bun.Subprocess<"inherit", "pipe", "pipe"> | undefined;

  // Forward termination signals to bun test (it is in our process group for Ctrl-C, but not for a
  // `kill <pid>` from a CI timeout). Registered before the servers start, so it runs before the
  // harness's own handler, which stops the servers and exits.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      child?.kill(signal);
    });
  }

  try {
    // The servers' description (and AWS_EC2_METADATA_DISABLED) go to bun test in its environment; the
    // preload (bunfig.toml) sees S3FS_TEST_SERVERS set and starts nothing of its own.
    const env: Record<string, string | undefined> = { ...process.env };
    try {
      servers = await startTestServers(env);
    } catch (err) {
      process.stderr.write(`\n[test] ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
    if (process.stdout.isTTY && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined) env.FORCE_COLOR = "1";

    // pdeathsig: bun test must not outlive a SIGKILLed runner (its servers are gone by then anyway).
    const cmd = withParentDeathSignal([process.execPath, "test", ...extraArgs]);
    say(`$ ${["bun", "test", ...extraArgs].join(" ")}`);
    child = Bun.spawn(cmd, { stdin: "inherit", stdout: "pipe", stderr: "pipe", env });
    const out: string[] = [];
    const err: string[] = [];
    await Promise.all([pump(child.stdout, process.stdout, out), pump(child.stderr, process.stderr, err)]);
    const exitCode = await child.exited;
    const signal = child.signalCode;

    const summary = parseBunSummary(`${out.join("")}\n${err.join("")}`);
    let code = signal !== null ? 128 + signalNumber(signal) : exitCode;
    if (summary.found) {
      const skipped = summary.skip > 0 ? `, ${summary.skip} skipped` : "";
      process.stdout.write(`\nbun: ${summary.pass} passed, ${summary.fail} failed${skipped}\n`);
    } else {
      process.stdout.write(`\nbun: 0 passed, 0 failed\n`);
      say("could not find bun test's pass/fail summary in its output");
    }
    if (code === 0 && summary.pass + summary.fail === 0) {
      say("no tests ran: treating this as a failure");
      code = 1;
    }
    if (code === 0 && summary.fail > 0) code = 1;
    return code;
  } finally {
    await stopTestServers(servers);
  }
}

if (import.meta.main) {
  process.exit(await main());
}
