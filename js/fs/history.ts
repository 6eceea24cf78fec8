// A mount's history: checkpoints, forks, diff, restore, the log, and GC, which keeps what history retains.
// CachedFs extends this, so these stay methods of the mount.
import type { JsCheckpoint, JsGcReport, JsLogEntry, NativeMount } from "../../index.js";
import { checkPath, fsError } from "../errors.ts";
import type { Change, CommitRef, GcOptions } from "./types.ts";
import { FsView } from "./view.ts";

function checkCommitRef(at: unknown): CommitRef {
  if (typeof at === "string" || (typeof at === "number" && Number.isSafeInteger(at) && at >= 0)) return at;
  throw fsError("EINVAL", "invalid argument (a commit is a seq, a non-negative integer, or a checkpoint name)", "history");
}

export abstract class MountHistory extends FsView {
  protected abstract override source(): NativeMount;

  /**
   * Deletes packs, chunks, WAL records and snapshots that no retained state uses, once they have been
   * unreachable for `graceMs` (default 10 minutes), so readers at an older seq keep working meanwhile.
   * Writer only.
   */
  gc(options: GcOptions = {}): Promise<JsGcReport> {
    const keep = options.keepHistory ?? {};
    return this.source().gc(options.graceMs ?? 10 * 60_000, options.dryRun === true, keep.commits, keep.ms);
  }

  /**
   * Names the commit this mount is at (one create-only PUT). GC keeps whatever a checkpoint needs
   * until it is deleted; `manager.mount({ at: name })`, `diff` and `restore` take the name. EEXIST
   * when the name is taken.
   */
  async checkpoint(name: string, options: { message?: string } = {}): Promise<JsCheckpoint> {
    checkPath(name, "name");
    return this.source().checkpoint(name, options.message);
  }
  /** Every checkpoint, oldest commit first. */
  checkpoints(): Promise<JsCheckpoint[]> {
    return this.source().checkpoints();
  }
  async deleteCheckpoint(name: string): Promise<void> {
    checkPath(name, "name");
    return this.source().deleteCheckpoint(name);
  }
  /** Forks made from this workspace (`manager.fork`) that still pin its data: `name` is the fork's id. */
  forks(): Promise<JsCheckpoint[]> {
    return this.source().forks();
  }
  /**
   * Lets GC reclaim what only the fork `id` held here. A fork reads the files it inherited from this
   * workspace, so release it only once the fork is gone (or no longer needs them).
   */
  async releaseFork(id: string): Promise<void> {
    checkPath(id, "id");
    return this.source().releaseFork(id);
  }
  /**
   * What changed from `from` to `to` (a seq or a checkpoint name; this mount's current state when
   * absent): paths added, modified, deleted, renamed, or whose type or mode changed, with sizes. Read
   * from the WAL and snapshots only, never from file contents.
   */
  async diff(from: CommitRef, to?: CommitRef, options: { path?: string } = {}): Promise<Change[]> {
    if (options.path !== undefined) checkPath(options.path);
    return this.source().diff(checkCommitRef(from), to === undefined ? undefined : checkCommitRef(to), options.path);
  }
  /**
   * Makes the tree (or just `paths`) what it was at `at`, as one new commit that reuses the stored
   * bytes (nothing is uploaded again). History is never rewritten: undo a restore by restoring again.
   */
  async restore(at: CommitRef, options: { paths?: string[] } = {}): Promise<{ seq: number }> {
    for (const p of options.paths ?? []) checkPath(p);
    const c = await this.source().restore(checkCommitRef(at), options.paths);
    return { seq: c.seq };
  }

  /** The newest commits, newest first: seq, time, writer epoch, entries and bytes changed. */
  log(options: { limit?: number } = {}): Promise<JsLogEntry[]> {
    return this.source().log(options.limit ?? 100);
  }
}
