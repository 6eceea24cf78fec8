// Issue 7, part 3: model-based randomized testing. Seeded random sequences of writes, appends, mkdir, rm
// (-r, -f), rmdir, renames, copies, transactions (committed and aborted), grouped concurrent writes,
// remounts, reader refreshes and cacheRoot deletion run against the engine (LocalObjectStore) and against
// a plain in-memory model (fixtures/fs-model.ts). After every step the writer's whole tree (paths, kinds,
// contents) must equal the model, every error code must be the model's (ENOENT, EEXIST, ENOTDIR, EISDIR,
// ENOTEMPTY, EINVAL, EBUSY), and a failed operation must leave the seq unchanged. Readers are compared at
// each refresh, and everything again after a remount or an emptied cacheRoot.
//
// A failure prints the seed and a shrunk sequence (ops dropped while it still fails), and writes it to a
// JSON file that `S3FS_MODEL_REPLAY=<file> bun test __test__/reliability.model.test.ts` replays.
// Knobs: S3FS_MODEL_SEEDS=1,2,3 (default: fixed seeds), S3FS_MODEL_OPS (ops per seed), S3FS_MODEL_RANDOM=1
// (one more seed from the clock, printed).
//
// The concurrent mode (issue 11, further down) runs rounds of transactions, just-bash execs, mount-level
// ops and refreshes all at once and checks that some commit order explains what happened; its seeds are
// S3FS_MODEL_CONCURRENT_SEEDS, its size S3FS_MODEL_CONCURRENT_OPS (run it alone with `-t concurrent`).
//
// This test found bug #3: writeFile(p, data, { recursive: true }) whose parent is a file answered EEXIST
// where the model says ENOTDIR (as the engine does without `recursive`, for mkdir -p through a file, and
// as POSIX open() does when a path prefix is not a directory). Every seed reported it (a 2-op shrunk
// case); it is fixed, and every seed now guards it. An exploration run of 41 seeds x 1,300 ops found no
// other divergence.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type CachedFs, type ObjectStore, type Transaction } from "../js/core.ts";
import { defineCommand } from "just-bash";
import { createAcceleratedJustBashShell, type AcceleratedJustBashShell } from "../js/just-bash.ts";
import { applyFsOp, canon, emptyTree, execLine, execRequests, ModelError, normalize, opPaths, serialize, showOp, type ExecCmd, type FsOp, type Op, type Tree, type Unit } from "./fixtures/fs-model.ts";
import { settle, signal, within } from "./helpers/async.ts";
import { fastTempDir, figure, recordError, Rng, checkSecretsAfterAll } from "./helpers/reliability.ts";
import { s3TestServers, uniquePrefix } from "./helpers/servers.ts";
import { removeDir, s3Store } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("model");
afterAll(() => removeDir(root));

// ---------------------------------------------------------------------------------------------------
// Generation

const NAMES = ["a", "b", "c", "d"];

function genPath(rng: Rng, tree: Tree): string {
  const existing = [...tree.keys()];
  const dirs = ["", ...existing.filter((k) => tree.get(k)?.kind === "dir")];
  let parts: string[];
  const r0 = rng.int(100);
  if (existing.length > 0 && r0 < 45) {
    parts = rng.pick(existing).slice(1).split("/");
  } else if (r0 < 75) {
    // A new name in an existing directory (or the root).
    parts = [...rng.pick(dirs).split("/").filter((x) => x !== ""), rng.pick(NAMES)];
  } else {
    parts = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(NAMES));
  }
  if (rng.chance(0.02)) return "/";
  // Other spellings of the same path: relative, `.` and `..` (normalised by the engine).
  const r = rng.int(100);
  if (r < 4) return parts.join("/");
  if (r < 7 && parts.length > 0) return `/${parts.slice(0, -1).join("/")}${parts.length > 1 ? "/" : ""}./${parts[parts.length - 1]}`;
  if (r < 10) return `/${rng.pick(NAMES)}/../${parts.join("/")}`;
  if (r < 11) return `/../../${parts.join("/")}`;
  return `/${parts.join("/")}`;
}

let dataCounter = 0;
function genData(rng: Rng): string {
  const r = rng.int(1000);
  if (r < 60) return "";
  if (r < 62) return `big${dataCounter++}:`.padEnd((1 << 20) + rng.int(5000), String.fromCharCode(97 + rng.int(26)));
  if (r < 120) return `m${dataCounter++}:`.padEnd(1000 + rng.int(4000), "xyz");
  return `s${dataCounter++}:${"abcdefgh".slice(0, rng.int(9))}`;
}

function genFsOp(rng: Rng, tree: Tree): FsOp {
  const r = rng.int(100);
  if (r < 24) return { t: "write", p: genPath(rng, tree), data: genData(rng), recursive: rng.chance(0.5), wx: rng.chance(0.1) };
  if (r < 34) return { t: "append", p: genPath(rng, tree), data: genData(rng) };
  if (r < 48) return { t: "mkdir", p: genPath(rng, tree), recursive: rng.chance(0.5) };
  if (r < 60) return { t: "rm", p: genPath(rng, tree), recursive: rng.chance(0.6), force: rng.chance(0.3) };
  if (r < 66) return { t: "rmdir", p: genPath(rng, tree) };
  if (r < 83) return { t: "rename", from: genPath(rng, tree), to: genPath(rng, tree) };
  return { t: "copy", from: genPath(rng, tree), to: genPath(rng, tree), recursive: rng.chance(0.7) };
}

/** A sequence of `count` ops, generated against the model so paths often exist. */
export function generate(seed: number, count: number): Op[] {
  const rng = new Rng(seed);
  let tree = emptyTree();
  const ops: Op[] = [];
  const step = (op: FsOp) => {
    try {
      tree = applyFsOp(tree, op);
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
    }
  };
  while (ops.length < count) {
    const r = rng.int(100);
    if (r < 78) {
      const op = genFsOp(rng, tree);
      ops.push(op);
      step(op);
    } else if (r < 86) {
      const inner: FsOp[] = [];
      let t = tree;
      for (let k = 0; k < 2 + rng.int(5); k++) {
        const op = genFsOp(rng, t);
        inner.push(op);
        try {
          t = applyFsOp(t, op);
        } catch (e) {
          if (!(e instanceof ModelError)) throw e;
        }
      }
      const abort = rng.chance(0.2);
      ops.push({ t: "tx", ops: inner, abort });
      if (!abort) tree = t;
    } else if (r < 91) {
      const members: FsOp[] = [];
      const used: string[] = [];
      for (let k = 0; k < 2 + rng.int(5); k++) {
        const op: FsOp = rng.chance(0.7) ? { t: "write", p: genPath(rng, tree), data: genData(rng) } : { t: "append", p: genPath(rng, tree), data: genData(rng) };
        const k1 = `/${normalize(opPaths(op)[0]!).join("/")}`;
        if (k1 === "/") continue;
        if (used.some((u) => u === k1 || u.startsWith(`${k1}/`) || k1.startsWith(`${u}/`))) continue;
        used.push(k1);
        members.push(op);
      }
      ops.push({ t: "batch", ops: members });
      for (const m of members) step(m);
    } else if (r < 95) {
      ops.push({ t: "refresh" });
    } else if (r < 98) {
      ops.push({ t: "remount" });
    } else {
      ops.push({ t: "wipe" });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------------
// Running a sequence against the engine and the model

interface Failure {
  index: number;
  message: string;
}

/**
 * An error-code disagreement where both sides refused the op (so neither changed anything, which the tree
 * comparison after it still checks): recorded and the run goes on, so one run reports every kind.
 * Anything else (a state difference, an op one side did and the other refused) stops the run.
 */
interface Divergence extends Failure {
  signature: string;
}

const HARD = "hard failure";

class StopRun extends Error {}

interface RunStats {
  ops: number;
  fsOps: number;
  errorsExpected: number;
  commits: number;
  codes: Record<string, number>;
}

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? `no code: ${String(e)}`;

async function engineOp(fs: CachedFs | Transaction, op: FsOp): Promise<void> {
  switch (op.t) {
    case "write":
      return fs.writeFile(op.p, op.data, { recursive: op.recursive === true, flag: op.wx === true ? "wx" : "w" });
    case "append":
      return fs.appendFile(op.p, op.data);
    case "mkdir":
      return fs.mkdir(op.p, { recursive: op.recursive === true });
    case "rm":
      return fs.rm(op.p, { recursive: op.recursive === true, force: op.force === true });
    case "rmdir":
      return fs.rmdir(op.p);
    case "rename":
      return fs.rename(op.from, op.to);
    case "copy":
      return fs.copy(op.from, op.to, { recursive: op.recursive === true });
  }
}

/** The model's outcome of one op: the new tree and "ok", or the old tree and the error code. */
function modelOp(tree: Tree, op: FsOp): { tree: Tree; code: string } {
  try {
    return { tree: applyFsOp(tree, op), code: "ok" };
  } catch (e) {
    if (e instanceof ModelError) return { tree, code: e.code };
    throw e;
  }
}

/** Differences between the engine's view and the model (empty when equal). */
async function diff(fs: CachedFs | Transaction, tree: Tree, contents: boolean): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const d of fs.readdirSync("/", { recursive: true, withFileTypes: true })) {
    const p = `/${d.name}`;
    seen.add(p);
    const want = tree.get(p);
    const kind = d.isDirectory() ? "dir" : d.isFile() ? "file" : "other";
    if (want === undefined) {
      out.push(`${p}: engine has a ${kind}, model has nothing`);
      continue;
    }
    if (want.kind !== kind) {
      out.push(`${p}: engine has a ${kind}, model a ${want.kind}`);
      continue;
    }
    if (want.kind === "file" && fs.statSync(p).size !== Buffer.byteLength(want.data, "latin1")) out.push(`${p}: stat size ${fs.statSync(p).size} != ${want.data.length}`);
    if (contents && want.kind === "file") {
      const got = (await fs.readFile(p)).toString("latin1");
      if (got !== want.data) out.push(`${p}: contents ${JSON.stringify(got.slice(0, 40))}(${got.length}) != model ${JSON.stringify(want.data.slice(0, 40))}(${want.data.length})`);
    }
  }
  for (const p of tree.keys()) if (!seen.has(p)) out.push(`${p}: model has a ${tree.get(p)?.kind}, engine has nothing`);
  return out;
}

async function run(
  ops: Op[],
  opts: { store?: () => Promise<ObjectStore>; snapshotEvery?: number; stopAt?: string } = {},
): Promise<{ failure?: Failure; divergences: Map<string, Divergence & { count: number }>; stats: RunStats }> {
  const dir = fastTempDir("model-run");
  const store = opts.store !== undefined ? await opts.store() : new LocalObjectStore(join(dir, "bucket"));
  const cacheRoot = join(dir, "cache");
  const stats: RunStats = { ops: 0, fsOps: 0, errorsExpected: 0, commits: 0, codes: {} };
  let manager = new S3CachedFsManagerImpl({ cacheRoot });
  const mountOpts = (name: string, mode: "readwrite" | "readonly") => ({ name, mode, cacheBytes: 16 << 20, store, snapshotEvery: opts.snapshotEvery ?? 7 });
  let w = await manager.mount(mountOpts("w", "readwrite"));
  let r = await manager.mount(mountOpts("r", "readonly"));
  let tree = emptyTree();
  const count = (code: string) => {
    stats.codes[code] = (stats.codes[code] ?? 0) + 1;
    if (code !== "ok") stats.errorsExpected++;
  };
  const divergences = new Map<string, Divergence & { count: number }>();
  let index = 0;
  const compareCode = (op: FsOp, got: string, want: string, where: string) => {
    if (got === want) return;
    const message = `${where}${showOp(op)}: engine ${got}, model ${want}`;
    if (got === "ok" || want === "ok") throw new Error(message);
    const recursive = "recursive" in op && op.recursive === true ? " (recursive)" : "";
    const signature = `${op.t}${recursive}: engine ${got}, model ${want}`;
    const d = divergences.get(signature);
    if (d !== undefined) d.count++;
    else divergences.set(signature, { signature, index, message, count: 1 });
    if (opts.stopAt === signature) throw new StopRun(message);
  };
  try {
    for (; index < ops.length; index++) {
      const op = ops[index]!;
      stats.ops++;
      const seqBefore = w.seq;
      switch (op.t) {
        case "tx": {
          let inner = tree;
          let problem: string | undefined;
          const marker = new Error("abort");
          const txResult = await w
            .transaction(async (tx) => {
              for (const sub of op.ops) {
                stats.fsOps++;
                const m = modelOp(inner, sub);
                let got = "ok";
                await engineOp(tx, sub).catch((e: unknown) => {
                  recordError(e, "model tx");
                  got = codeOf(e);
                });
                count(m.code);
                try {
                  compareCode(sub, got, m.code, "in a transaction, ");
                } catch (e) {
                  if (e instanceof StopRun) throw e;
                  problem ??= (e as Error).message;
                }
                inner = m.tree;
              }
              const d = await diff(tx, inner, true);
              if (d.length > 0) problem ??= `inside the transaction the view differs from the model:\n  ${d.join("\n  ")}`;
              if (op.abort) throw marker;
            })
            .then(
              () => "committed",
              (e: unknown) => {
                if (e instanceof StopRun) throw e;
                return e === marker ? "aborted" : `failed: ${codeOf(e)} ${(e as Error).message}`;
              },
            );
          if (problem !== undefined) throw new Error(problem);
          if (txResult !== (op.abort ? "aborted" : "committed")) throw new Error(`transaction ${txResult}`);
          if (!op.abort) tree = inner;
          if (op.abort && w.seq !== seqBefore) throw new Error(`an aborted transaction moved seq ${seqBefore} -> ${w.seq}`);
          break;
        }
        case "batch": {
          const results = await Promise.allSettled(op.ops.map((sub) => engineOp(w, sub)));
          for (let k = 0; k < op.ops.length; k++) {
            const sub = op.ops[k]!;
            stats.fsOps++;
            const m = modelOp(tree, sub);
            const res = results[k]!;
            if (res.status === "rejected") recordError(res.reason, "model batch");
            const got = res.status === "fulfilled" ? "ok" : codeOf(res.reason);
            count(m.code);
            compareCode(sub, got, m.code, "in a batch, ");
            tree = m.tree;
          }
          break;
        }
        case "refresh": {
          await r.refresh();
          if (r.seq !== w.seq) throw new Error(`reader at seq ${r.seq} after refresh, writer at ${w.seq}`);
          const d = await diff(r, tree, true);
          if (d.length > 0) throw new Error(`the reader differs from the model after refresh:\n  ${d.join("\n  ")}`);
          break;
        }
        case "remount": {
          await manager.close();
          manager = new S3CachedFsManagerImpl({ cacheRoot });
          w = await manager.mount(mountOpts("w", "readwrite"));
          r = await manager.mount(mountOpts("r", "readonly"));
          break;
        }
        case "wipe": {
          await manager.close();
          rmSync(cacheRoot, { recursive: true, force: true });
          manager = new S3CachedFsManagerImpl({ cacheRoot });
          w = await manager.mount(mountOpts("w", "readwrite"));
          r = await manager.mount(mountOpts("r", "readonly"));
          const d = await diff(r, tree, true);
          if (d.length > 0) throw new Error(`a reader rebuilt from an empty cacheRoot differs from the model:\n  ${d.join("\n  ")}`);
          break;
        }
        default: {
          stats.fsOps++;
          const m = modelOp(tree, op);
          let got = "ok";
          await engineOp(w, op).catch((e: unknown) => {
            recordError(e, "model op");
            got = codeOf(e);
          });
          count(m.code);
          compareCode(op, got, m.code, "");
          if (got !== "ok" && w.seq !== seqBefore) throw new Error(`${showOp(op)} failed with ${got} but moved seq ${seqBefore} -> ${w.seq}`);
          tree = m.tree;
        }
      }
      const d = await diff(w, tree, true);
      if (d.length > 0) throw new Error(`after ${showOp(op)} the writer differs from the model:\n  ${d.join("\n  ")}`);
    }
    stats.commits = w.seq;
    return { stats, divergences };
  } catch (e) {
    if (e instanceof StopRun) return { stats, divergences };
    recordError(e, "model run");
    return { failure: { index, message: (e as Error).message }, stats, divergences };
  } finally {
    await manager.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Shrinking: drop chunks of ops (halving the chunk size) while the sequence still shows the same
// problem (the same divergence signature, or a hard failure); then drop ops inside transactions and
// batches. Bounded in time.

/** Where `ops` first shows `signature` (a divergence) or a hard failure, if it does. */
async function firstOccurrence(ops: Op[], signature: string): Promise<Failure | undefined> {
  const r = await run(ops, { stopAt: signature === HARD ? undefined : signature });
  if (signature === HARD) return r.failure;
  return r.divergences.get(signature);
}

async function shrink(ops: Op[], signature: string, budgetMs: number): Promise<{ ops: Op[]; failure: Failure; attempts: number }> {
  const deadline = Date.now() + budgetMs;
  let attempts = 0;
  const fails = async (candidate: Op[]) => {
    attempts++;
    return firstOccurrence(candidate, signature);
  };
  let failure = await fails(ops);
  if (failure === undefined) throw new Error(`the failure (${signature}) did not reproduce`);
  let current = ops.slice(0, failure.index + 1);
  let chunk = Math.max(1, Math.floor(current.length / 2));
  while (chunk >= 1 && Date.now() < deadline) {
    let removed = false;
    for (let start = 0; start < current.length && Date.now() < deadline; ) {
      const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
      const f = candidate.length > 0 ? await fails(candidate) : undefined;
      if (f !== undefined) {
        current = candidate.slice(0, f.index + 1);
        failure = f;
        removed = true;
      } else {
        start += chunk;
      }
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  // Inner ops of transactions and batches.
  for (let i = 0; i < current.length && Date.now() < deadline; i++) {
    const op = current[i]!;
    if (op.t !== "tx" && op.t !== "batch") continue;
    for (let k = 0; k < op.ops.length && Date.now() < deadline; ) {
      const smaller = { ...op, ops: op.ops.filter((_, j) => j !== k) };
      const candidate = [...current.slice(0, i), smaller, ...current.slice(i + 1)];
      const f = await fails(candidate);
      if (f !== undefined) {
        current = candidate.slice(0, f.index + 1);
        failure = f;
        op.ops = smaller.ops;
      } else {
        k++;
      }
    }
  }
  return { ops: current, failure, attempts };
}

/** Shrinks each distinct problem of a failed run (up to 4) and throws one report naming the seed. */
async function reportFailure(label: string, seed: number | string, ops: Op[], result: Awaited<ReturnType<typeof run>>): Promise<never> {
  const problems: { signature: string; first: Failure; count: number }[] = [];
  if (result.failure !== undefined) problems.push({ signature: HARD, first: result.failure, count: 1 });
  for (const d of result.divergences.values()) problems.push({ signature: d.signature, first: d, count: d.count });
  const lines = [`${label}: seed ${seed}: ${problems.length} distinct problem(s) in ${ops.length} ops${result.failure !== undefined ? ` (the run stopped at op ${result.failure.index})` : ""}`];
  for (const [i, p] of problems.entries()) {
    lines.push(``, `problem ${i + 1}: ${p.signature === HARD ? "the engine and the model disagree on the state" : `error codes disagree: ${p.signature}`} (${p.count}x, first at op ${p.first.index}):`, `  ${p.first.message.split("\n").join("\n  ")}`);
    if (i >= 4) {
      lines.push("  (not shrunk)");
      continue;
    }
    const shrunk = await shrink(ops, p.signature, 20_000);
    const file = join(tmpdir(), `s3fs-model-failure-${String(seed)}-${i + 1}-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(shrunk.ops, null, 1));
    lines.push(`  shrunk to ${shrunk.ops.length} ops (${shrunk.attempts} replays):`, ...shrunk.ops.map((op, k) => `    ${k}: ${showOp(op)}`), `  replay: S3FS_MODEL_REPLAY=${file} bun test __test__/reliability.model.test.ts`);
  }
  throw new Error(lines.join("\n"));
}

// ---------------------------------------------------------------------------------------------------
// Concurrent mode (issue 11). Rounds of work all in flight at once: up to three transactions (some
// aborted by throwing; some with a nested transaction, or an awaited mount-level op, refresh or gc inside
// their callback; some waiting inside until the round's mount-level ops have committed, so they commit
// after them and conflict when a request no longer holds), up to two just-bash execs in one shell (each
// its own transaction; some failing, which keeps their writes, some aborted through their signal, which
// rolls them back), up to four mount-level ops, and refreshes of the writer and of a reader. Every call is bounded by a timeout (a hang fails the run). Inside each
// transaction every error code is the model's against the transaction's snapshot (the state at the
// round's start) plus its own writes, and so is its whole view at the end, whatever committed meanwhile.
// After the round, some commit order of what resolved must explain everything: each mount-level op's
// outcome, each transaction's (committed, or ECONFLICT when replaying its requests in order against the
// namespace as it is at its commit fails), and the writer's tree with contents (fixtures/fs-model.ts,
// `serialize`); an exec's requests are what its commands ask of the engine (fixtures/fs-model.ts,
// `execRequests`), and it reports `committed`, or a `commitError` with ECONFLICT. Real-time order constrains it: a nested transaction, or a mount-level op awaited inside a
// callback, commits before the enclosing transaction, and so do the round's mount-level ops for a
// transaction that waited for them. Every write carries unique contents, so the tree says which write won.
// Every 40 rounds the writer is remounted (alternately over its cacheRoot and over an empty one) and
// compared; at the end a fresh mount (empty cacheRoot) must read the model's tree from the bucket: every
// resolved write is there, nothing of a rejected one is.
//
// Operations come from the seed alone (paths over a small alphabet, not from the tree), so a seed replays
// the same operations: S3FS_MODEL_CONCURRENT_SEEDS=<seed> (S3FS_MODEL_CONCURRENT_OPS=<n>); the
// interleaving, and so the outcomes, can differ between runs.

const CNAMES = ["a", "b", "c"];

interface TxPlan {
  ops: FsOp[];
  abort: boolean;
  /** Wait inside the callback until the round's mount-level ops settled (they commit first). */
  awaitMount: boolean;
  /** A mount-level op awaited inside the callback. */
  side?: FsOp;
  refresh: boolean;
  gc: boolean;
  nested?: { ops: FsOp[]; abort: boolean };
}

interface ExecPlan {
  cmds: ExecCmd[];
  /** Abort the exec (its AbortSignal) after this many commands: it must roll back. */
  abortAt?: number;
  /** End with `false` (exit 1): the exec still commits what it wrote. */
  fail: boolean;
  awaitMount: boolean;
}

interface RoundPlan {
  txs: TxPlan[];
  execs: ExecPlan[];
  mount: FsOp[];
  writerRefresh: boolean;
  readerRefresh: boolean;
}

/** Rounds from a seed alone. */
class RoundGen {
  readonly #rng: Rng;
  #data = 0;
  constructor(seed: number) {
    this.#rng = new Rng(seed);
  }
  path(): string {
    const rng = this.#rng;
    const depth = rng.chance(0.45) ? 1 : rng.chance(0.7) ? 2 : 3;
    return `/${Array.from({ length: depth }, () => rng.pick(CNAMES)).join("/")}`;
  }
  /** Unique contents (so the final tree tells which write won), now and then a few KiB. */
  data(): string {
    const id = `d${this.#data++}.`;
    return this.#rng.chance(0.03) ? id.padEnd(1000 + this.#rng.int(4000), "x") : id;
  }
  op(): FsOp {
    const rng = this.#rng;
    const r = rng.int(100);
    if (r < 30) return { t: "write", p: this.path(), data: this.data(), recursive: rng.chance(0.6), wx: rng.chance(0.15) };
    if (r < 40) return { t: "append", p: this.path(), data: this.data() };
    if (r < 55) return { t: "mkdir", p: this.path(), recursive: rng.chance(0.5) };
    if (r < 68) return { t: "rm", p: this.path(), recursive: rng.chance(0.6), force: rng.chance(0.3) };
    if (r < 75) return { t: "rmdir", p: this.path() };
    if (r < 90) return { t: "rename", from: this.path(), to: this.path() };
    return { t: "copy", from: this.path(), to: this.path(), recursive: rng.chance(0.7) };
  }
  ops(min: number, max: number): FsOp[] {
    return Array.from({ length: min + this.#rng.int(max - min + 1) }, () => this.op());
  }
  cmd(): ExecCmd {
    const rng = this.#rng;
    const r = rng.int(100);
    if (r < 35) return { t: "write", p: this.path(), data: this.data().slice(0, 16) };
    if (r < 50) return { t: "append", p: this.path(), data: this.data().slice(0, 16) };
    if (r < 75) return { t: "mkdir", p: this.path(), recursive: rng.chance(0.5) };
    return { t: "rm", p: this.path(), recursive: rng.chance(0.6), force: rng.chance(0.4) };
  }
  exec(): ExecPlan {
    const rng = this.#rng;
    const cmds = Array.from({ length: 1 + rng.int(5) }, () => this.cmd());
    return { cmds, abortAt: rng.chance(0.15) ? rng.int(cmds.length + 1) : undefined, fail: rng.chance(0.2), awaitMount: rng.chance(0.4) };
  }
  round(): RoundPlan {
    const rng = this.#rng;
    const r = rng.int(100);
    const txCount = r < 15 ? 0 : r < 50 ? 1 : r < 80 ? 2 : 3;
    const txs: TxPlan[] = Array.from({ length: txCount }, () => ({
      ops: this.ops(1, 5),
      abort: rng.chance(0.15),
      awaitMount: rng.chance(0.4),
      side: rng.chance(0.2) ? this.op() : undefined,
      refresh: rng.chance(0.1),
      gc: rng.chance(0.02),
      nested: rng.chance(0.12) ? { ops: this.ops(1, 3), abort: rng.chance(0.2) } : undefined,
    }));
    const execs = Array.from({ length: rng.chance(0.3) ? 1 + rng.int(2) : 0 }, () => this.exec());
    const mount = this.ops(txCount + execs.length === 0 ? 1 : 0, 4);
    return { txs, execs, mount, writerRefresh: rng.chance(0.15), readerRefresh: rng.chance(0.2) };
  }
}

interface ConcurrentStats {
  rounds: number;
  ops: number;
  units: number;
  maxUnitsInRound: number;
  outcomes: Record<string, number>;
  codes: Record<string, number>;
  searchStates: number;
  checkpoints: number;
}

const C_HANG_MS = 15_000;

async function codeOfCall(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return "ok";
  } catch (e) {
    recordError(e, "model concurrent");
    return codeOf(e);
  }
}

/** The whole tree (kinds and contents) as the model's Tree. */
async function readTree(fs: CachedFs | Transaction): Promise<Tree> {
  const t: Tree = new Map();
  for (const d of fs.readdirSync("/", { recursive: true, withFileTypes: true })) {
    const p = `/${d.name}`;
    if (d.isDirectory()) t.set(p, { kind: "dir" });
    else t.set(p, { kind: "file", data: d.isFile() ? (await fs.readFile(p)).toString("latin1") : `<${d.isSymbolicLink() ? "symlink" : "other"}>` });
  }
  return t;
}

const showTree = (t: Tree): string[] => canon(t).split("\n").filter((l) => l !== "").map((l) => (l.length > 70 ? `${l.slice(0, 60)}…(${l.length})` : l));

/** What an exec's gate commands reach: `mgate K` (started, then wait for the round), `mwait K`, `mabort K`. */
interface Gate {
  started: () => void;
  release: Promise<void>;
  mountSettled: () => Promise<unknown>;
  abort: () => void;
}

const gates = new Map<string, Gate>();
let gateSeq = 0;
const gateOk = { stdout: "", stderr: "", exitCode: 0 };
const GATE_COMMANDS = [
  defineCommand("mgate", async (args) => {
    const g = gates.get(args[0] ?? "");
    if (g === undefined) return { stdout: "", stderr: `mgate: no gate ${args[0]}\n`, exitCode: 2 };
    g.started();
    await g.release;
    return gateOk;
  }),
  defineCommand("mwait", async (args) => {
    await gates.get(args[0] ?? "")?.mountSettled();
    return gateOk;
  }),
  defineCommand("mabort", async (args) => {
    gates.get(args[0] ?? "")?.abort();
    return gateOk;
  }),
];

const gatedShell = (w: CachedFs): Promise<AcceleratedJustBashShell> => createAcceleratedJustBashShell({ filesystem: w, cwd: "/", customCommands: GATE_COMMANDS });

/** Runs one round; returns its units (with outcomes and order constraints) and any problem seen. */
async function runRound(w: CachedFs, r: CachedFs, shell: AcceleratedJustBashShell, start: Tree, plan: RoundPlan, stats: ConcurrentStats): Promise<{ units: Unit[]; problems: string[] }> {
  const problems: string[] = [];
  const units: Unit[] = [];
  const unit = (label: string, kind: Unit["kind"], ops: FsOp[]): Unit => {
    const u: Unit = { id: units.length, label, kind, ops, outcome: "pending", after: [] };
    units.push(u);
    return u;
  };
  const count = (code: string) => {
    stats.codes[code] = (stats.codes[code] ?? 0) + 1;
  };
  const bounded = <T,>(p: Promise<T>, what: string): Promise<T | undefined> =>
    within(p, what, C_HANG_MS).catch((e: unknown) => {
      problems.push((e as Error).message);
      return undefined;
    });
  const barrier = signal();
  const marker = new Error("aborted by the model test");
  let mountSettled: Promise<unknown> = Promise.resolve();
  const mountUnits = plan.mount.map((op, i) => unit(`mount op ${i} ${showOp(op)}`, "op", [op]));

  const launchTx = (label: string, p: { ops: FsOp[]; abort: boolean }, hooks: { beforeStart?: () => Promise<void>; inside?: () => Promise<void> }) => {
    const u = unit(label, "tx", []);
    const started = signal();
    const done = settle(
      w.transaction(async (tx) => {
        if (hooks.beforeStart !== undefined) await hooks.beforeStart();
        started.fire();
        await barrier.promise;
        let inner = start;
        for (const op of p.ops) {
          stats.ops++;
          const m = modelOp(inner, op);
          const got = (await bounded(codeOfCall(() => engineOp(tx, op)), `${label}: ${showOp(op)}`)) ?? "hang";
          count(m.code);
          if (got !== m.code) problems.push(`${label}: inside the transaction ${showOp(op)}: engine ${got}, model ${m.code} (against its snapshot plus its own writes)`);
          if (m.code === "ok") u.ops.push(op);
          inner = m.tree;
        }
        if (hooks.inside !== undefined) await hooks.inside();
        const d = await diff(tx, inner, true);
        if (d.length > 0) problems.push(`${label}: the view inside the transaction is not its snapshot plus its own writes:\n  ${d.join("\n  ")}`);
        if (p.abort) throw marker;
      }),
    ).then((res) => {
      if (res.ok) u.outcome = "committed";
      else if (res.error === marker) u.outcome = "aborted";
      else if (res.error.code === "ECONFLICT" && res.error.conflict === true && typeof res.error.path === "string") u.outcome = "conflict";
      else {
        u.outcome = `failed: ${res.error.code ?? "no code"} ${res.error.message}`;
        problems.push(`${label}: ${u.outcome}`);
      }
    });
    return { unit: u, started: started.promise, done };
  };

  const txs = plan.txs.map((t, i) => {
    const label = `tx ${i}`;
    const side = t.side === undefined ? undefined : unit(`${label}.side ${showOp(t.side)}`, "op", [t.side]);
    let nested: ReturnType<typeof launchTx> | undefined;
    const launched = launchTx(label, t, {
      beforeStart: async () => {
        await null; // `launched` is assigned by then, even if the callback started synchronously
        if (t.nested === undefined) return;
        nested = launchTx(`${label}.nested`, t.nested, {});
        launched.unit.after.push(nested.unit.id);
        await bounded(nested.started, `${label}: the nested transaction's callback to start`);
      },
      inside: async () => {
        if (side !== undefined && t.side !== undefined) {
          stats.ops++;
          side.outcome = (await bounded(codeOfCall(() => engineOp(w, t.side as FsOp)), `${label}: the mount-level ${showOp(t.side)} inside the callback`)) ?? "hang";
          count(side.outcome);
        }
        if (t.refresh) {
          stats.ops++;
          await bounded(w.refresh(), `${label}: fs.refresh() inside the callback`);
        }
        if (t.gc) {
          stats.ops++;
          await bounded(w.gc({ graceMs: 10 * 60_000 }), `${label}: fs.gc() inside the callback`);
        }
        if (t.awaitMount) await bounded(mountSettled, `${label}: the round's mount-level ops`);
        if (nested !== undefined) await bounded(nested.done, `${label}: the nested transaction`);
      },
    });
    if (side !== undefined) launched.unit.after.push(side.id);
    if (t.awaitMount) launched.unit.after.push(...mountUnits.map((u) => u.id));
    return { launched, nested: () => nested };
  });

  const execs = plan.execs.map((e, i) => {
    const label = `exec ${i}`;
    const key = `g${++gateSeq}`;
    const model = execRequests(start, e.cmds);
    // A failed redirect before `mabort` ends the script first: then it is not aborted, and commits.
    const aborts = e.abortAt !== undefined && (model.stoppedAt === undefined || model.stoppedAt >= e.abortAt);
    const ran = e.cmds.slice(0, Math.min(aborts ? (e.abortAt ?? 0) : e.cmds.length, (model.stoppedAt ?? e.cmds.length) + 1));
    const u = unit(label, "tx", model.ops);
    // `mwait` runs only when the script gets that far (a failed redirect ends it first).
    if (e.awaitMount && model.stoppedAt === undefined) u.after.push(...mountUnits.map((m) => m.id));
    const started = signal();
    const controller = new AbortController();
    gates.set(key, { started: started.fire, release: barrier.promise, mountSettled: () => mountSettled, abort: () => controller.abort() });
    const lines = e.cmds.map(execLine);
    if (e.abortAt !== undefined) lines.splice(e.abortAt, 0, `mabort ${key}`);
    const script = [`mgate ${key}`, ...lines, ...(e.awaitMount ? [`mwait ${key}`] : []), ...(e.fail ? ["false"] : [])].join("\n");
    u.label = `${label} ${JSON.stringify(script)}`;
    stats.ops += ran.length;
    const done = settle(shell.exec(script, { signal: controller.signal })).then((res) => {
      gates.delete(key);
      if (!res.ok) u.outcome = `failed: exec threw ${res.error.code ?? ""} ${res.error.message}`;
      else if (res.value.committed) {
        u.outcome = "committed";
        if (res.value.exitCode !== 0) stats.outcomes["exec committed with exit ≠ 0"] = (stats.outcomes["exec committed with exit ≠ 0"] ?? 0) + 1;
      }
      else if ((res.value.commitError as { code?: string; conflict?: unknown } | undefined)?.code === "ECONFLICT") u.outcome = (res.value.commitError as { conflict?: unknown }).conflict === true ? "conflict" : "failed: ECONFLICT without conflict === true";
      else if (aborts) u.outcome = "aborted";
      else u.outcome = `failed: not committed, exit ${res.value.exitCode}: ${res.value.stderr.trim()}`;
      if (aborts && u.outcome !== "aborted") u.outcome = `failed: aborted through its signal, yet ${u.outcome}`;
      if (u.outcome.startsWith("failed")) problems.push(`${u.label}: ${u.outcome}`);
    });
    return { unit: u, started: started.promise, done };
  });

  try {
    await bounded(
      Promise.all([...txs.map((t) => t.launched.started), ...execs.map((e) => e.started)]),
      "every transaction callback of the round to start (no engine lock may be held while a callback runs)",
    );
    const mountDone = plan.mount.map(async (op, i) => {
      stats.ops++;
      const code = (await bounded(codeOfCall(() => engineOp(w, op)), `mount-level ${showOp(op)}`)) ?? "hang";
      count(code);
      mountUnits[i]!.outcome = code;
    });
    mountSettled = Promise.all(mountDone);
    const refreshes: Promise<unknown>[] = [];
    if (plan.writerRefresh) refreshes.push(bounded(w.refresh(), "the writer's refresh()"));
    if (plan.readerRefresh) refreshes.push(bounded(r.refresh(), "a reader's refresh()"));
    stats.ops += refreshes.length;
    barrier.fire();
    await Promise.all([...mountDone, ...refreshes]);
    await Promise.all(txs.map((t) => bounded(t.launched.done, `${t.launched.unit.label}: the transaction`)));
    await Promise.all(execs.map((e) => bounded(e.done, `${e.unit.label}: the exec`)));
    await Promise.all(txs.map((t) => t.nested()?.done).filter((d) => d !== undefined));
  } finally {
    barrier.fire();
  }
  for (const u of units) if (u.outcome === "pending" || u.outcome === "hang") problems.push(`${u.label}: never settled`);
  return { units, problems };
}

async function runConcurrent(seed: number, opsTarget: number, opts: { store?: () => Promise<ObjectStore>; checkpointEvery?: number } = {}): Promise<{ stats: ConcurrentStats; failure?: string }> {
  const dir = fastTempDir("model-concurrent");
  const store = opts.store !== undefined ? await opts.store() : new LocalObjectStore(join(dir, "bucket"));
  let caches = 0;
  let cacheRoot = join(dir, `cache-${caches}`);
  const mountOpts = (name: string, mode: "readwrite" | "readonly") => ({ name, mode, cacheBytes: 16 << 20, store, snapshotEvery: 16 });
  let manager = new S3CachedFsManagerImpl({ cacheRoot });
  let w = await manager.mount(mountOpts("w", "readwrite"));
  let r = await manager.mount(mountOpts("r", "readonly"));
  let shell = await gatedShell(w);
  const stats: ConcurrentStats = { rounds: 0, ops: 0, units: 0, maxUnitsInRound: 0, outcomes: {}, codes: {}, searchStates: 0, checkpoints: 0 };
  const gen = new RoundGen(seed);
  const every = opts.checkpointEvery ?? 40;
  let tree = emptyTree();
  const replay = `replay the same operations: S3FS_MODEL_CONCURRENT_SEEDS=${seed} S3FS_MODEL_CONCURRENT_OPS=${opsTarget} bun test __test__/reliability.model.test.ts -t concurrent`;
  const fail = (why: string, extra: string[] = []) => ({ stats, failure: [`concurrent model, seed ${seed}, round ${stats.rounds}: ${why}`, ...extra, replay].join("\n") });
  const remount = async (fresh: boolean) => {
    await manager.close();
    if (fresh) {
      rmSync(cacheRoot, { recursive: true, force: true });
      cacheRoot = join(dir, `cache-${++caches}`);
    }
    manager = new S3CachedFsManagerImpl({ cacheRoot });
    w = await manager.mount(mountOpts("w", "readwrite"));
    r = await manager.mount(mountOpts("r", "readonly"));
    shell = await gatedShell(w);
  };
  try {
    while (stats.ops < opsTarget) {
      const plan = gen.round();
      const round = await runRound(w, r, shell, tree, plan, stats);
      const engine = await readTree(w);
      const units = round.units.filter((u) => u.outcome !== "aborted");
      for (const u of round.units) {
        const kind = u.outcome.startsWith("failed") ? "failed" : u.kind === "op" && u.outcome !== "ok" ? "refused" : u.outcome;
        const what = `${u.label.startsWith("exec") ? "exec" : u.kind} ${kind}`;
        stats.outcomes[what] = (stats.outcomes[what] ?? 0) + 1;
      }
      const described = [
        "the round started from:",
        ...showTree(tree).map((l) => `  ${l}`),
        "what ran (outcome; the requests a transaction staged; which units it committed after):",
        ...round.units.map((u) => `  #${u.id} ${u.label}: ${u.outcome}${u.kind === "tx" ? `; staged [${u.ops.map((o) => showOp(o)).join(", ")}]` : ""}${u.after.length > 0 ? `; after #${u.after.join(", #")}` : ""}`),
        "the writer's tree after it:",
        ...showTree(engine).map((l) => `  ${l}`),
      ];
      if (round.problems.length > 0) return fail(round.problems.join("\n"), described);
      const found = serialize(tree, units, canon(engine));
      if (found === undefined) return fail("no commit order of what resolved explains the outcomes and the tree", described);
      stats.searchStates += found.states;
      stats.units += round.units.length;
      stats.maxUnitsInRound = Math.max(stats.maxUnitsInRound, round.units.length);
      tree = engine;
      stats.rounds++;
      if (plan.readerRefresh || stats.rounds % 10 === 0) {
        await within(r.refresh(), "a reader's refresh()", C_HANG_MS);
        if (r.seq !== w.seq) return fail(`the reader is at seq ${r.seq} after refresh, the writer at ${w.seq}`);
        const d = await diff(r, tree, true);
        if (d.length > 0) return fail(`the reader differs from the model after refresh:\n  ${d.join("\n  ")}`);
      }
      if (stats.rounds % every === 0) {
        stats.checkpoints++;
        await remount(stats.checkpoints % 2 === 0);
        const d = [...(await diff(w, tree, true)), ...(await diff(r, tree, true))];
        if (d.length > 0) return fail(`after a remount (${stats.checkpoints % 2 === 0 ? "empty" : "same"} cacheRoot) the tree differs from the model:\n  ${d.join("\n  ")}`);
      }
    }
    // Close, then a fresh mount over an empty cacheRoot reads exactly the model's tree from the bucket.
    await manager.close();
    manager = new S3CachedFsManagerImpl({ cacheRoot: join(dir, "cold") });
    const cold = await manager.mount(mountOpts("cold", "readonly"));
    const d = await diff(cold, tree, true);
    if (d.length > 0) return fail(`after close, a cold mount of the bucket differs from the model:\n  ${d.join("\n  ")}`);
    return { stats };
  } catch (e) {
    recordError(e, "model concurrent run");
    return fail(`the run stopped: ${(e as Error).stack ?? String(e)}`);
  } finally {
    await manager.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------

const envSeeds = process.env.S3FS_MODEL_SEEDS?.split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n));
const SEEDS = envSeeds !== undefined && envSeeds.length > 0 ? envSeeds : [1, 2, 3, 4, 5, 6, 7, 8];
if (process.env.S3FS_MODEL_RANDOM === "1") SEEDS.push(Date.now() % 1_000_000_007);
const OPS_PER_SEED = Number(process.env.S3FS_MODEL_OPS ?? 1300);
const totals = { seeds: 0, ops: 0, fsOps: 0, expectedErrors: 0, commits: 0, codes: {} as Record<string, number> };

afterAll(() => {
  figure("model.totals", { ...totals, seeds: SEEDS });
});

describe("model-based randomized test on LocalObjectStore", () => {
  const replay = process.env.S3FS_MODEL_REPLAY;
  if (replay !== undefined && replay !== "") {
    test(`replay ${replay}`, async () => {
      const ops = JSON.parse(readFileSync(replay, "utf8")) as Op[];
      const r = await run(ops);
      const problems = [...(r.failure !== undefined ? [r.failure] : []), ...r.divergences.values()];
      if (problems.length > 0) throw new Error(problems.map((p) => `op ${p.index}: ${p.message}`).join("\n"));
    }, 120_000);
    return;
  }
  for (const seed of SEEDS) {
    test(`seed ${seed}: ${OPS_PER_SEED} operations, checked after every one`, async () => {
      const ops = generate(seed, OPS_PER_SEED);
      const r = await run(ops);
      totals.seeds++;
      totals.ops += r.stats.ops;
      totals.fsOps += r.stats.fsOps;
      totals.expectedErrors += r.stats.errorsExpected;
      totals.commits += r.stats.commits;
      for (const [c, k] of Object.entries(r.stats.codes)) totals.codes[c] = (totals.codes[c] ?? 0) + k;
      if (r.failure !== undefined || r.divergences.size > 0) await reportFailure("model", seed, ops, r);
      expect(r.stats.ops).toBe(OPS_PER_SEED);
    }, 180_000);
  }
});

// The same model, shorter, against a real S3 server: the protocol over HTTP, not only over files.
for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
  describe(`model-based randomized test on ${server.name}`, () => {
    test("seed 1001: 150 operations", async () => {
      const ops = generate(1001, 150);
      const r = await run(ops, { store: () => s3Store(server, uniquePrefix("model")) });
      totals.ops += r.stats.ops;
      totals.fsOps += r.stats.fsOps;
      const problems = [...(r.failure !== undefined ? [r.failure] : []), ...r.divergences.values()];
      if (problems.length > 0) {
        throw new Error(`seaweedfs model run (seed 1001): ${problems.map((p) => `op ${p.index}: ${p.message}`).join("\n")}\n(the same sequence replays on LocalObjectStore with S3FS_MODEL_SEEDS=1001 S3FS_MODEL_OPS=150)`);
      }
    }, 180_000);
  });
}

// Concurrent mode: seeds of their own; the whole of it at least 10,000 operations per run.
const envConcurrentSeeds = process.env.S3FS_MODEL_CONCURRENT_SEEDS?.split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n));
const CONCURRENT_SEEDS = envConcurrentSeeds !== undefined && envConcurrentSeeds.length > 0 ? envConcurrentSeeds : [101, 102, 103, 104, 105, 106];
if (process.env.S3FS_MODEL_RANDOM === "1") CONCURRENT_SEEDS.push(Date.now() % 1_000_000_007);
const CONCURRENT_OPS = Number(process.env.S3FS_MODEL_CONCURRENT_OPS ?? 2600);
const concurrentTotals = { seeds: 0, rounds: 0, ops: 0, units: 0, maxUnitsInRound: 0, outcomes: {} as Record<string, number>, codes: {} as Record<string, number>, searchStates: 0, checkpoints: 0, ms: 0 };

afterAll(() => {
  figure("model.concurrent.totals", { ...concurrentTotals, seedList: CONCURRENT_SEEDS });
});

function addConcurrent(stats: ConcurrentStats, ms: number): void {
  concurrentTotals.seeds++;
  concurrentTotals.rounds += stats.rounds;
  concurrentTotals.ops += stats.ops;
  concurrentTotals.units += stats.units;
  concurrentTotals.maxUnitsInRound = Math.max(concurrentTotals.maxUnitsInRound, stats.maxUnitsInRound);
  concurrentTotals.searchStates += stats.searchStates;
  concurrentTotals.checkpoints += stats.checkpoints;
  concurrentTotals.ms += Math.round(ms);
  for (const [k, v] of Object.entries(stats.outcomes)) concurrentTotals.outcomes[k] = (concurrentTotals.outcomes[k] ?? 0) + v;
  for (const [k, v] of Object.entries(stats.codes)) concurrentTotals.codes[k] = (concurrentTotals.codes[k] ?? 0) + v;
}

describe("concurrent model-based test on LocalObjectStore", () => {
  for (const seed of CONCURRENT_SEEDS) {
    test(`concurrent seed ${seed}: ${CONCURRENT_OPS} operations in rounds of concurrent transactions, mount-level ops and refreshes`, async () => {
      figure("model.concurrent.seed", seed);
      const t0 = performance.now();
      const r = await runConcurrent(seed, CONCURRENT_OPS);
      if (r.failure !== undefined) throw new Error(r.failure);
      addConcurrent(r.stats, performance.now() - t0);
      figure(`model.concurrent.seed${seed}`, r.stats);
      expect(r.stats.ops).toBeGreaterThanOrEqual(CONCURRENT_OPS);
      // The run exercised what it claims to: commits, conflicts, aborts, refusals.
      for (const k of ["tx committed", "tx conflict", "tx aborted", "op ok", "op refused", "exec committed", "exec aborted", "exec committed with exit ≠ 0"]) expect(`${k}: ${(r.stats.outcomes[k] ?? 0) > 0}`).toBe(`${k}: true`);
    }, 180_000);
  }
});

for (const server of s3TestServers().filter((s) => s.name === "seaweedfs")) {
  describe(`concurrent model-based test on ${server.name}`, () => {
    test("concurrent seed 2001: 400 operations", async () => {
      const r = await runConcurrent(2001, 400, { store: () => s3Store(server, uniquePrefix("model-concurrent")), checkpointEvery: 15 });
      if (r.failure !== undefined) throw new Error(`${r.failure}\n(on seaweedfs)`);
      addConcurrent(r.stats, 0);
      expect(r.stats.ops).toBeGreaterThanOrEqual(400);
    }, 180_000);
  });
}
