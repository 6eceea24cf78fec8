import { existsSync, mkdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CachedFs } from "../../core.ts";
import { fsError } from "../../errors.ts";
import { flag, expectArgs, isRemoteMarked, remotePath, type Command, type Context } from "../command.ts";
import { UsageError } from "../exit.ts";
import { joinPath } from "../entries.ts";
import { duration, iecBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";
import { startProgress, type Progress } from "../progress.ts";
import { listLocal, listRemote, planIsEmpty, planSync, type Item, type Listing, type SyncPlan } from "../sync-plan.ts";
import { downloadFile, watchUploads } from "../transfer.ts";

/** Downloads in flight at once. */
const DOWNLOAD_CONCURRENCY = 8;

interface Outcome {
  direction: "up" | "down";
  local: string;
  path: string;
  dryRun: boolean;
  /** Files transferred. */
  files: number;
  bytes: number;
  directories: number;
  symlinks: number;
  deleted: number;
  unchanged: number;
  skipped: string[];
  /** Upload: whether a commit was made (nothing changed: no commit). */
  committed: boolean;
  seq: number;
  elapsedMs: number;
  plan?: SyncPlan;
}

/** What a planned sync will do, before it runs (either direction). */
function outcome(direction: Outcome["direction"], local: string, path: string, dryRun: boolean, plan: SyncPlan, skipped: string[], seq: number): Outcome {
  return {
    direction,
    local,
    path,
    dryRun,
    files: plan.copies.length,
    bytes: plan.bytes,
    directories: plan.mkdirs.length,
    symlinks: plan.links.length,
    deleted: plan.deletes.length,
    unchanged: plan.unchanged,
    skipped,
    committed: false,
    seq,
    elapsedMs: 0,
  };
}

const sub = (root: string, rel: string): string => joinPath(root, rel);

/** The workspace side as a listing; a missing root is an empty tree, a file there is an error. */
async function remoteSide(fs: CachedFs, root: string): Promise<{ listing: Listing; exists: boolean }> {
  const st = fs.existsSync(root) ? fs.statSync(root) : undefined;
  if (st !== undefined && !st.isDirectory()) throw fsError("ENOTDIR", "not a directory", "sync", root);
  return { listing: st === undefined ? new Map() : await listRemote(fs, root), exists: st !== undefined };
}

function checkConflicts(plan: SyncPlan, where: string, show: (rel: string) => string): void {
  const first = plan.conflicts[0];
  if (first === undefined) return;
  const more = plan.conflicts.length > 1 ? ` (and ${plan.conflicts.length - 1} more)` : "";
  throw fsError("EEXIST", `the ${where} has a different kind of entry here${more}; pass --delete to replace it`, "sync", show(first));
}

async function upload(ctx: Context, localRoot: string, root: string, dryRun: boolean, allowDelete: boolean): Promise<Outcome> {
  const t0 = performance.now();
  if (!statSync(localRoot).isDirectory()) throw fsError("ENOTDIR", "not a directory", "sync", localRoot);
  const { listing: local, skipped } = await listLocal(localRoot);
  const fs = await ctx.mount(dryRun ? "readonly" : "readwrite");
  const remote = await remoteSide(fs, root);
  const plan = planSync(local, remote.listing, allowDelete);
  checkConflicts(plan, "workspace", (p) => sub(root, p));
  const out = outcome("up", localRoot, root, dryRun, plan, skipped, fs.seq);
  if (dryRun || (planIsEmpty(plan) && remote.exists)) {
    if (dryRun) out.plan = plan;
    out.elapsedMs = performance.now() - t0;
    return out;
  }
  const progress = startProgress(ctx.progress, "upload", { files: plan.copies.length + plan.links.length, bytes: plan.bytes });
  let staged = 0;
  let sent = 0;
  const stop = watchUploads(fs, (up) => {
    sent = up;
    progress.update(staged, up);
  });
  const seqBefore = fs.seq;
  try {
    // One transaction: one WAL record and one head publication for the whole tree, visible all at once.
    await fs.transaction(async (tx) => {
      if (!remote.exists) await tx.mkdir(root, { recursive: true });
      for (const p of plan.deletes) await tx.rm(sub(root, p), { recursive: true, force: true });
      for (const p of plan.mkdirs) await tx.mkdir(sub(root, p), { recursive: true });
      for (const p of plan.copies) {
        const item = local.get(p) as Item;
        const target = sub(root, p);
        const before = remote.listing.get(p);
        const data = await readFile(join(localRoot, p));
        // New files get the local mode at creation; an existing one only when it differs.
        const mode = before?.kind === "file" && before.mode === item.mode ? undefined : item.mode;
        await tx.writeFile(target, data, mode === undefined ? {} : { mode });
        await tx.utimes(target, new Date(), new Date(Math.trunc(item.mtimeMs)));
        staged++;
        progress.update(staged, sent);
      }
      for (const p of plan.links) {
        const target = sub(root, p);
        if (tx.existsSync(target) || remote.listing.has(p)) await tx.rm(target, { force: true });
        await tx.symlink((local.get(p) as Item).target ?? "", target);
        staged++;
      }
      progress.phase("commit");
    });
  } finally {
    stop();
  }
  progress.update(staged, plan.bytes);
  progress.stop();
  out.committed = fs.seq !== seqBefore;
  out.seq = fs.seq;
  out.elapsedMs = performance.now() - t0;
  return out;
}

async function download(ctx: Context, root: string, localRoot: string, dryRun: boolean, allowDelete: boolean): Promise<Outcome> {
  const t0 = performance.now();
  const fs = await ctx.mount("readonly");
  const st = fs.statSync(root);
  if (!st.isDirectory()) throw fsError("ENOTDIR", "not a directory", "sync", root);
  const remote = await listRemote(fs, root);
  const localExists = existsSync(localRoot);
  if (localExists && !statSync(localRoot).isDirectory()) throw fsError("ENOTDIR", "not a directory", "sync", localRoot);
  const { listing: local, skipped } = localExists ? await listLocal(localRoot) : { listing: new Map<string, Item>(), skipped: [] };
  const plan = planSync(remote, local, allowDelete);
  checkConflicts(plan, "local directory", (p) => join(localRoot, p));
  const out = outcome("down", localRoot, root, dryRun, plan, skipped, fs.seq);
  if (dryRun) {
    out.plan = plan;
    out.elapsedMs = performance.now() - t0;
    return out;
  }
  mkdirSync(localRoot, { recursive: true });
  for (const p of plan.deletes) rmSync(join(localRoot, p), { recursive: true, force: true });
  for (const p of plan.mkdirs) mkdirSync(join(localRoot, p), { recursive: true });
  const progress: Progress = planIsEmpty(plan) ? startProgress("off", "", { files: 0, bytes: 0 }) : startProgress(ctx.progress, "download", { files: plan.copies.length + plan.links.length, bytes: plan.bytes });
  let files = 0;
  let bytes = 0;
  try {
    const queue = [...plan.copies];
    const worker = async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        await downloadFile(fs, sub(root, p), join(localRoot, p), (n) => progress.update(files, (bytes += n)));
        files++;
        progress.update(files, bytes);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DOWNLOAD_CONCURRENCY, queue.length) }, worker));
    for (const p of plan.links) {
      const abs = join(localRoot, p);
      rmSync(abs, { force: true });
      symlinkSync(remote.get(p)?.target ?? "", abs);
      files++;
    }
    progress.update(files, bytes);
  } finally {
    progress.stop();
  }
  out.elapsedMs = performance.now() - t0;
  return out;
}

function summary(o: Outcome): string[] {
  const [from, to] = o.direction === "up" ? [o.local, `:${o.path}`] : [`:${o.path}`, o.local];
  const verb = o.direction === "up" ? "uploaded" : "downloaded";
  const would = o.dryRun ? "would be " : "";
  const parts = [`${o.files} ${would}${verb} (${iecBytes(o.bytes)})`];
  if (o.directories > 0) parts.push(`${o.directories} ${o.directories === 1 ? "directory" : "directories"} ${would}created`);
  if (o.symlinks > 0) parts.push(`${o.symlinks} ${o.symlinks === 1 ? "symlink" : "symlinks"} ${would}linked`);
  parts.push(`${o.deleted} ${would}deleted`, `${o.unchanged} unchanged`);
  if (o.skipped.length > 0) parts.push(`${o.skipped.length} skipped (not a file, directory or symlink)`);
  let tail = ` in ${duration(o.elapsedMs)}`;
  if (o.direction === "up" && !o.dryRun) tail += o.committed ? `, one commit (seq ${o.seq})` : ", nothing to commit";
  const lines = [`sync ${from} -> ${to}: ${parts.join(", ")}${tail}`];
  if (o.plan !== undefined) {
    const p = o.plan;
    for (const x of p.deletes) lines.push(`delete ${x}`);
    for (const x of p.mkdirs) lines.push(`mkdir  ${x}`);
    for (const x of p.copies) lines.push(`${o.direction === "up" ? "upload" : "get   "} ${x}`);
    for (const x of p.links) lines.push(`link   ${x}`);
  }
  return lines;
}

export const sync: Command = {
  name: "sync",
  summary: "make a workspace directory match a local one, or the reverse",
  usage: "sync [--delete] [-n] LOCAL_DIR :PATH     (upload)\nsync [--delete] [-n] :PATH LOCAL_DIR     (download)",
  details: `The side written with a leading ':' is the workspace; the direction goes from the first
argument to the second:
  sync ./site :/site     upload: the workspace's /site becomes like ./site
  sync :/site ./site     download: ./site becomes like the workspace's /site
Only files whose size or mtime differ are transferred; each transferred file gets its source's mtime
(and permission bits), so the next sync of an unchanged tree transfers nothing. Directories are
created as needed and symlinks are copied as symlinks.

An upload is ONE commit (one transaction) for the whole tree: readers see all of it or none of it,
and an interrupted upload commits nothing. It mounts the workspace readwrite (the writer role),
which fences any other readwrite mount, whose next commit then fails with EFENCED. File bodies of an
upload are held in memory until the commit. A download mounts readonly and writes each file beside
its place before renaming it in.

Nothing is deleted unless --delete is given: then entries of the destination that the source does
not have are removed, and entries whose kind differs (a file where the source has a directory) are
replaced; without it such a difference is an error (exit 4).

On a terminal a progress bar shows files, bytes and rate on stderr; piped, sync is quiet but for the
summary line (-q drops that too); --json prints the summary as an object.`,
  options: {
    delete: { type: "boolean", description: "delete destination entries the source does not have" },
    "dry-run": { type: "boolean", short: "n", description: "print what would change; change nothing" },
  },
  async run(ctx) {
    expectArgs(ctx, "sync", 2, 2);
    const [a = "", b = ""] = ctx.args;
    if (isRemoteMarked(a) === isRemoteMarked(b)) {
      throw new UsageError("mark the workspace side with a leading ':' — sync LOCAL_DIR :PATH uploads, sync :PATH LOCAL_DIR downloads");
    }
    const dryRun = flag(ctx.values, "dry-run");
    const allowDelete = flag(ctx.values, "delete");
    const outcome = isRemoteMarked(b) ? await upload(ctx, resolve(a), remotePath(b), dryRun, allowDelete) : await download(ctx, remotePath(a), resolve(b), dryRun, allowDelete);
    if (ctx.json) await printJson({ ...outcome, elapsedMs: Math.round(outcome.elapsedMs) });
    else if (!ctx.quiet || dryRun) await printLines(summary(outcome));
    return 0;
  },
};
