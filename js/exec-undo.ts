// Undo for shell execs (the just-bash shell and the Flue sandbox): a checkpoint of the workspace before
// each exec, and `undo()`, which puts back the paths the last exec changed, as one new commit.
//
// Which paths: those the exec's own calls touched (its view records them) that differ between its
// checkpoint and now (computed with `diff`; see `ownChanges`). Those paths, and only those, are restored
// to the checkpoint (`restore(checkpoint, { paths })`), so what concurrent execs and writes did elsewhere
// stays. A path the exec touched that something else also changed meanwhile goes back to its state
// before the exec too, and a directory the exec created or removed comes back whole.
import type { CachedFs, Change } from "./core.ts";
import { fsError } from "./errors.ts";

export interface ExecCheckpointOptions {
  /** Start of the checkpoint names (default `"exec-"`); names are `<prefix><shell id>-<n>`. */
  prefix?: string;
  /** Execs that can be undone, newest first; older checkpoints are deleted (default 16). */
  keep?: number;
}

/** What `undo()` did. */
export interface ExecUndoResult {
  /** The script that was undone. */
  script: string;
  /** The checkpoint taken before it (deleted now). */
  checkpoint: string;
  /** The paths put back (a directory stands for everything under it); empty when nothing had changed. */
  paths: string[];
  /** The commit that put them back (the current seq when there was nothing to change). */
  seq: number;
}

/** A checkpoint taken before an exec that has not finished yet. */
export interface PendingExec {
  readonly id: number;
  readonly script: string;
  readonly checkpoint: string;
}

interface Done extends PendingExec {
  touched: string[];
}

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const DEFAULT_KEEP = 16;

const isUnder = (p: string, root: string): boolean => root === "/" || p === root || p.startsWith(`${root}/`);

/** The paths of `paths` that no other one of them contains. */
function outermost(paths: Iterable<string>): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const p of sorted) if (!out.some((q) => isUnder(p, q))) out.push(p);
  return out.sort();
}

/** Changes that take what was under a path along: the entry itself came, went or moved. */
const STRUCTURAL: ReadonlySet<Change["change"]> = new Set(["added", "deleted", "renamed", "typeChanged"]);

/**
 * The changes since an exec's checkpoint that are the exec's: those at a path it touched, or under one
 * that itself came, went or moved (a directory it removed, created or renamed; not one it merely
 * `mkdir -p`'d again or chmod'ed), and directories created on the way to a path it touched when
 * everything in them is the exec's too.
 */
export function ownChanges(changes: readonly Change[], touched: readonly string[]): Change[] {
  const changed = new Set(changes.filter((c) => STRUCTURAL.has(c.change)).flatMap((c) => (c.fromPath === undefined ? [c.path] : [c.path, c.fromPath])));
  const mine = (p: string): boolean => touched.some((t) => p === t || (isUnder(p, t) && changed.has(t)));
  const own = new Set(changes.filter((c) => mine(c.path) || (c.fromPath !== undefined && mine(c.fromPath))));
  // Created parents, deepest first, so that an outer one sees the inner ones already taken.
  const parents = changes
    .filter((c) => !own.has(c) && c.change === "added" && c.kind === "directory" && touched.some((t) => t !== c.path && isUnder(t, c.path)))
    .sort((a, b) => b.path.length - a.path.length);
  for (const p of parents) if (changes.every((d) => d === p || !isUnder(d.path, p.path) || own.has(d))) own.add(p);
  return changes.filter((c) => own.has(c));
}

function swallow(p: Promise<unknown>): void {
  p.catch(() => {});
}

/**
 * The undo stack of one or more shells over one mount (the Flue factory shares one between the
 * sandboxes it makes for an agent, so `undo()` reaches across its runs).
 */
export class ExecUndo {
  readonly #mount: CachedFs;
  readonly #prefix: string;
  readonly #keep: number;
  readonly #stack: Done[] = [];
  #next = 0;

  constructor(mount: CachedFs, options: ExecCheckpointOptions = {}) {
    const prefix = options.prefix ?? "exec-";
    if (prefix !== "" && !NAME.test(prefix)) throw new TypeError(`checkpointBeforeExec.prefix must be characters of [A-Za-z0-9._-], not starting with '.'; got ${JSON.stringify(prefix)}`);
    const keep = options.keep ?? DEFAULT_KEEP;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new TypeError(`checkpointBeforeExec.keep must be a positive integer; got ${String(keep)}`);
    this.#mount = mount;
    this.#keep = keep;
    this.#prefix = `${prefix}${crypto.randomUUID().slice(0, 8)}-`;
  }

  /** The mount whose execs this stack undoes. */
  get filesystem(): CachedFs {
    return this.#mount;
  }

  /** Execs that `undo()` can take back, newest last. */
  get undoable(): readonly { script: string; checkpoint: string }[] {
    return this.#stack.map(({ script, checkpoint }) => ({ script, checkpoint }));
  }

  /** Checkpoints the workspace as it is now, before an exec (one PUT). */
  async before(script: string): Promise<PendingExec> {
    const id = ++this.#next;
    const checkpoint = `${this.#prefix}${String(id).padStart(6, "0")}`;
    await this.#mount.checkpoint(checkpoint, { message: script.length > 200 ? `${script.slice(0, 199)}…` : script });
    return { id, script, checkpoint };
  }

  /**
   * After the exec: `touched` are the paths its calls changed. An exec that left nothing (it changed
   * nothing, or its writes were rolled back) cannot be undone, and its checkpoint goes at once.
   */
  after(pending: PendingExec, touched: ReadonlySet<string>, kept: boolean): void {
    if (!kept || touched.size === 0) {
      swallow(this.#mount.deleteCheckpoint(pending.checkpoint));
      return;
    }
    this.#stack.push({ ...pending, touched: [...touched] });
    this.#stack.sort((a, b) => a.id - b.id);
    while (this.#stack.length > this.#keep) {
      const dropped = this.#stack.shift();
      if (dropped !== undefined) swallow(this.#mount.deleteCheckpoint(dropped.checkpoint));
    }
  }

  /** The exec failed before it ran: its checkpoint goes. */
  abandon(pending: PendingExec): void {
    swallow(this.#mount.deleteCheckpoint(pending.checkpoint));
  }

  /** Puts back what the last exec not yet undone changed, as one commit; undefined when there is none. */
  async undo(): Promise<ExecUndoResult | undefined> {
    if (this.#mount.readOnly) throw fsError("EROFS", "read-only file system", "undo");
    const last = this.#stack.pop();
    if (last === undefined) return undefined;
    try {
      const paths = outermost(ownChanges(await this.#mount.diff(last.checkpoint), last.touched).flatMap((c) => (c.fromPath === undefined ? [c.path] : [c.path, c.fromPath])));
      const seq = paths.length === 0 ? this.#mount.seq : (await this.#mount.restore(last.checkpoint, { paths })).seq;
      await this.#mount.deleteCheckpoint(last.checkpoint).catch(() => {});
      return { script: last.script, checkpoint: last.checkpoint, paths, seq };
    } catch (e) {
      // Still undoable: it goes back where it was.
      this.#stack.push(last);
      this.#stack.sort((a, b) => a.id - b.id);
      throw e;
    }
  }

  /** Deletes the checkpoints of every exec still undoable (nothing can be undone afterwards). */
  async forget(): Promise<void> {
    const all = this.#stack.splice(0);
    await Promise.allSettled(all.map((d) => this.#mount.deleteCheckpoint(d.checkpoint)));
  }
}

/** The undo stack `checkpointBeforeExec` asks for on `mount` (none when off, or on a readonly mount). */
export function undoStackFor(mount: CachedFs, option: boolean | ExecCheckpointOptions | ExecUndo | undefined): ExecUndo | undefined {
  if (option === undefined || option === false || mount.readOnly) return undefined;
  if (option instanceof ExecUndo) {
    if (option.filesystem !== mount) throw new TypeError("checkpointBeforeExec: this ExecUndo belongs to another mount");
    return option;
  }
  return new ExecUndo(mount, option === true ? {} : option);
}
