// Shared pieces of the reliability suites (issue 7): seeded randomness, tree snapshots, child processes
// that are always killed, a record of every error seen (the secret check greps it), and fast temp dirs.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect } from "bun:test";
import type { CachedFs, ObjectStore, Transaction } from "../../js/core.ts";
import { s3TestServers } from "./servers.ts";
import { withParentDeathSignal } from "../../scripts/s3-servers.ts";

export const BUN = process.execPath;
export const REPO = join(import.meta.dir, "..", "..");
export const FIXTURES = join(import.meta.dir, "..", "fixtures");

/** mulberry32: small, fast, seeded; good enough to pick operations. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    const v = items[this.int(items.length)];
    if (v === undefined) throw new Error("pick from an empty list");
    return v;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * A temp dir on tmpfs when there is one (commits fsync three objects; on tmpfs that is free, so the
 * bulk suites spend their time in the engine, not in the disk), else under the OS temp dir.
 */
export function fastTempDir(label: string): string {
  const shm = "/dev/shm";
  let base = tmpdir();
  try {
    if (existsSync(shm) && statSync(shm).isDirectory()) {
      const probe = mkdtempSync(join(shm, "s3fs-probe-"));
      rmSync(probe, { recursive: true, force: true });
      base = shm;
    }
  } catch {
    base = tmpdir();
  }
  return mkdtempSync(join(base, `s3fs-${label}-`));
}

/** Every path with its kind and contents: two equal snapshots mean two equal trees. */
export async function snapshotTree(fs: CachedFs | Transaction): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of fs.readdirSync("/", { recursive: true, withFileTypes: true })) {
    const p = `/${d.name}`;
    if (d.isFile()) out.set(p, `file:${(await fs.readFile(p)).toString("latin1")}`);
    else if (d.isSymbolicLink()) out.set(p, `link:${fs.readlinkSync(p)}`);
    else out.set(p, "dir");
  }
  return out;
}

/** A tree snapshot as sorted lines (for readable diffs in expect output). */
export function treeLines(tree: Map<string, string>, maxContent = 60): string[] {
  return [...tree.entries()]
    .map(([p, v]) => `${p} ${v.length > maxContent ? `${v.slice(0, maxContent)}…(${v.length})` : v}`)
    .sort();
}

/** Sum of object sizes under the given prefixes (or all), and their count. */
export async function bucketUsage(store: ObjectStore, prefixes: string[] = [""]): Promise<{ bytes: number; objects: number; keys: Map<string, number> }> {
  let bytes = 0;
  let objects = 0;
  const keys = new Map<string, number>();
  for (const prefix of prefixes) {
    for (const o of (await store.list(prefix)).objects) {
      bytes += o.size;
      objects += 1;
      keys.set(o.key, o.size);
    }
  }
  return { bytes, objects, keys };
}

// ---------------------------------------------------------------------------------------------------
// Errors: every error a reliability suite sees is logged, so the secret check can grep them all.

const seenErrors: string[] = [];

/** The text of an error as a user could see it: message, code, every own property, stack. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const props: Record<string, unknown> = {};
    for (const k of Object.getOwnPropertyNames(e)) props[k] = (e as unknown as Record<string, unknown>)[k];
    let json = "";
    try {
      json = JSON.stringify(props);
    } catch {
      json = String(props);
    }
    return `${e.name}: ${e.message} ${json} ${e.stack ?? ""} ${String(e)}`;
  }
  return String(e);
}

/** Records an error (or text a child printed) for the secret check; returns it unchanged. */
export function recordError<T>(e: T, context = ""): T {
  seenErrors.push(`${context} ${errorText(e)}`);
  return e;
}

/** The code of what `f` throws (recording the error), or "resolved". */
export async function codeOfRecorded(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    recordError(e, "codeOf");
    return (e as NodeJS.ErrnoException).code ?? "no code";
  }
  return "resolved";
}

/** Errors recorded in this process so far. */
export function recordedErrors(): readonly string[] {
  return seenErrors;
}

/** Registers an afterAll that fails the file if any recorded error contains an S3 test server's secret. */
export function checkSecretsAfterAll(extra: () => string[] = () => []): void {
  afterAll(() => {
    const secrets = [...s3TestServers().map((s) => s.secretAccessKey), ...extra()];
    figure(`secrets.checkedErrors`, recordedErrors().length);
    expect(leakedSecrets(secrets)).toEqual([]);
  });
}

/** Which of `secrets` occur in any recorded error text of this process (empty = none leaked). */
export function leakedSecrets(secrets: string[]): string[] {
  const found = new Set<string>();
  for (const text of seenErrors) for (const s of secrets) if (s.length > 0 && text.includes(s)) found.add(s);
  return [...found];
}

// ---------------------------------------------------------------------------------------------------
// Child processes: bun running a fixture script; stdout read line by line; always killed in the end.

export interface Child {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  lines: string[];
  stderr: string[];
  /** Resolves with the first line (already seen or future) matching `pred`; rejects on exit or timeout. */
  waitFor(pred: (line: string) => boolean, timeoutMs: number): Promise<string>;
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

const children = new Set<Child>();

export function spawnFixture(script: string, config: unknown, env: Record<string, string | undefined> = {}): Child {
  const proc = Bun.spawn(withParentDeathSignal([BUN, join(FIXTURES, script), JSON.stringify(config)]), {
    cwd: REPO,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, sink: string[], notify: boolean) => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        sink.push(line);
        // What a child reports as an error (or prints on stderr) joins the record the secret check greps.
        if (!notify || /^(error|writeError|mountError|mountBusy|violation|fenced)\b/.test(line)) recordError(line, `child ${script}`);
        if (notify) {
          for (const w of [...waiters]) {
            if (w.pred(line)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(line);
            }
          }
        }
      }
    }
    if (rest !== "") sink.push(rest);
  };
  const outDone = pump(proc.stdout, lines, true);
  const errDone = pump(proc.stderr, stderr, false);
  const holder: { self?: Child } = {};
  const exited = (async () => {
    const code = await proc.exited;
    await Promise.all([outDone, errDone]);
    if (holder.self !== undefined) children.delete(holder.self);
    return code;
  })();
  const self: Child = {
    proc,
    lines,
    stderr,
    exited,
    kill(signal: NodeJS.Signals = "SIGKILL") {
      try {
        proc.kill(signal);
      } catch {
        // already gone
      }
    },
    waitFor(pred, timeoutMs) {
      const seen = lines.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const w = {
          pred,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`child ${script}: no matching line within ${timeoutMs} ms; stdout tail: ${lines.slice(-5).join(" | ")}; stderr tail: ${stderr.slice(-10).join(" | ")}`));
        }, timeoutMs);
        waiters.push(w);
        void exited.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            const late = lines.find(pred);
            if (late !== undefined) resolve(late);
            else reject(new Error(`child ${script} exited (${proc.exitCode ?? proc.signalCode}) before a matching line; stdout tail: ${lines.slice(-5).join(" | ")}; stderr tail: ${stderr.slice(-10).join(" | ")}`));
          }
        });
      });
    },
  };
  holder.self = self;
  children.add(self);
  return self;
}

/** Kills every child still running (call from afterAll / afterEach). */
export async function killAllChildren(): Promise<void> {
  const all = [...children];
  for (const c of all) c.kill("SIGKILL");
  await Promise.all(all.map((c) => c.exited.catch(() => 0)));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One line a fixture prints: `tag {json}`. */
export function parseLine<T>(line: string): { tag: string; data: T } {
  const i = line.indexOf(" ");
  const tag = i < 0 ? line : line.slice(0, i);
  const data = (i < 0 ? {} : JSON.parse(line.slice(i + 1))) as T;
  return { tag, data };
}

/** Prints a figure line the docs quote (`[figures] name: value`), greppable in test output. */
export function figure(name: string, value: unknown): void {
  console.log(`[figures] ${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
}
