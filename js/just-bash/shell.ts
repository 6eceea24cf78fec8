// The just-bash shell over a workspace: every `exec()` in a transaction of its own, committed as one.
import type { Bash, BashExecResult, BashOptions, ExecOptions } from "just-bash";
import type { CachedFs, Transaction } from "../core.ts";
import { normalizeVirtualPath } from "../adapters/paths.ts";
import { undoStackFor, type ExecCheckpointOptions, type ExecUndo, type ExecUndoResult } from "../exec-undo.ts";
import { failedCommand, isConflict } from "./errors.ts";
import { AcceleratedJustBashFs } from "./fs.ts";
import { mayListGlobs } from "./path-index.ts";

export type AcceleratedJustBashBashOptions = Omit<BashOptions, "fs" | "files" | "cwd">;

export interface AcceleratedJustBashShellOptions extends AcceleratedJustBashBashOptions {
  /** The workspace: a mount, or an `AcceleratedJustBashFs` over one. */
  filesystem: CachedFs | AcceleratedJustBashFs;
  /** The shell's working directory; created when missing (default `/`, the workspace root). */
  cwd?: string;
  /**
   * Commit all writes of one `exec()` as one transaction of its own (default true). Set `false` to
   * commit every write separately as the script makes it. Ignored on a readonly mount.
   */
  transactionPerExec?: boolean;
  /**
   * Checkpoint the workspace before each `exec()`, so that `undo()` can take the exec back (default
   * off; ignored on a readonly mount). Costs one PUT per exec, and a DELETE for each checkpoint let go
   * (at once for an exec that changed nothing). See `AcceleratedJustBashShell.undo`. An `ExecUndo` of
   * the same mount shares one undo stack between shells.
   */
  checkpointBeforeExec?: boolean | ExecCheckpointOptions | ExecUndo;
}

/** `exec()` options: just-bash's, plus a timeout, and running inside a transaction of the caller's. */
export interface AcceleratedJustBashExecOptions extends ExecOptions {
  /**
   * Cancel the command this many milliseconds after it starts running (at its next statement
   * boundary): it resolves with exit code 124 and a note on stderr, and its writes are rolled back.
   */
  timeoutMs?: number;
  /**
   * After a timeout or an abort, how long to wait for the command to reach a statement boundary (so
   * that its output so far is reported) before resolving anyway. Default 1000 ms.
   */
  abortGraceMs?: number;
  /**
   * Run in this transaction instead of one of the exec's own: the exec neither commits nor rolls back,
   * and its writes are visible only when (and if) the caller's transaction commits.
   */
  transaction?: Transaction;
}

/** What `exec()` resolves with: just-bash's result plus what became of the command's writes. */
export interface AcceleratedJustBashExecResult extends BashExecResult {
  /**
   * True when everything the command wrote is durable in the bucket: it ran to its end (whatever its
   * exit code) and its transaction committed. False when it was aborted or timed out (its transaction
   * was rolled back: nothing it wrote is visible), when its commit conflicted (see `commitError`), or
   * when it ran in the caller's `transaction`, which decides. Without a transaction per exec, writes
   * commit one by one as they are made, and this is true.
   */
  committed: boolean;
  /** Why the command's transaction did not commit, when a concurrent commit made it conflict (`code` ECONFLICT). */
  commitError?: Error;
}

export interface AcceleratedJustBashShell {
  /**
   * A just-bash instance over `this.fs` (the mount itself: every write its own commit). `exec` does not
   * use it: each `exec()` runs a `Bash` of its own, over a view of its own transaction.
   */
  readonly bash: Bash;
  /** The shared filesystem: calls through it go to the mount, each write its own commit. */
  readonly fs: AcceleratedJustBashFs;
  readonly filesystem: CachedFs;
  readonly transactionPerExec: boolean;
  /**
   * Runs a script in a transaction of its own: its writes are published as one commit before this
   * resolves, or not at all (see `committed`). Concurrent calls run concurrently, each in its own
   * transaction.
   */
  exec(script: string, options?: AcceleratedJustBashExecOptions): Promise<AcceleratedJustBashExecResult>;
  /** The shell's working directory (what `exec` starts in unless `options.cwd` says otherwise). */
  getCwd(): string;
  /**
   * With `checkpointBeforeExec`: takes back the last exec not yet undone, as one new commit. It puts
   * back the paths that exec changed (those its own calls touched that differ from its checkpoint),
   * as they were at its checkpoint, and leaves every other path alone, so what concurrent execs and
   * writes did elsewhere stays. A path something else also changed while or after the exec ran goes
   * back too. Resolves undefined when there is nothing to undo (or no `checkpointBeforeExec`); call
   * it again to undo the exec before.
   */
  undo(): Promise<ExecUndoResult | undefined>;
  /** The execs `undo()` can take back, oldest first (empty without `checkpointBeforeExec`). */
  readonly undoable: readonly { script: string; checkpoint: string }[];
  /** Deletes the checkpoints of every exec still undoable (a shell that goes away leaves up to `keep`). */
  clearUndo(): Promise<void>;
}

const runningUnderBun = (): boolean => typeof process !== "undefined" && typeof process.versions?.bun === "string";

function defenseEnabled(option: BashOptions["defenseInDepth"]): boolean {
  if (option === undefined || option === false) return false;
  if (option === true) return true;
  return option.enabled !== false;
}

const NOTE = "[s3-bun-cached-fs]";
const DEFAULT_ABORT_GRACE_MS = 1000;


/**
 * `run`, or undefined once `signal` has aborted and `graceMs` more have passed without it settling
 * (it is then left to finish on its own).
 */
function settleOrGiveUp<T>(run: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T | undefined> {
  run.catch(() => {});
  return new Promise<T | undefined>((resolve, reject) => {
    let grace: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => {
      grace = setTimeout(() => resolve(undefined), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      clearTimeout(grace);
      signal.removeEventListener("abort", onAbort);
    };
    run.then(
      (v) => (done(), resolve(v)),
      (e: unknown) => (done(), reject(e)),
    );
  });
}

/** One script's run: its result, and whether it was stopped (then its writes must not be kept). */
interface Run {
  result: BashExecResult;
  stopped: "abort" | "timeout" | undefined;
}

/**
 * A just-bash shell over the workspace. just-bash is imported here, lazily.
 *
 * Defense-in-depth is off unless asked for (it cannot run under Bun: just-bash issue #386); `cwd` is
 * created when missing; each `exec()` runs in a transaction of its own (unless `transactionPerExec:
 * false`), on its own view of the workspace and its own `Bash`, so concurrent execs never share a
 * transaction and calls through `shell.fs` never join one.
 */
export async function createAcceleratedJustBashShell(options: AcceleratedJustBashShellOptions): Promise<AcceleratedJustBashShell> {
  const { filesystem, cwd: cwdOption, transactionPerExec: perExecOption, checkpointBeforeExec, defenseInDepth, ...bashOptions } = options;
  if (defenseEnabled(defenseInDepth) && runningUnderBun()) {
    throw new TypeError("createAcceleratedJustBashShell: just-bash's defense-in-depth cannot run under Bun (just-bash issue #386); leave defenseInDepth off");
  }
  const fs = filesystem instanceof AcceleratedJustBashFs ? filesystem : new AcceleratedJustBashFs(filesystem);
  const mount = fs.filesystem;
  const cwd = normalizeVirtualPath(cwdOption ?? "/");
  if (cwd !== "/" && !mount.readOnly && !(await fs.exists(cwd))) await fs.mkdir(cwd, { recursive: true });

  const jb = await import("just-bash");
  // A Bash's filesystem is fixed when it is made, so each exec gets one over its own view (a Bash costs
  // about a millisecond; every exec starts from fresh shell state anyway, so nothing else differs).
  const newBash = (view: AcceleratedJustBashFs): Bash => new jb.Bash({ ...bashOptions, fs: view, cwd, defenseInDepth: defenseInDepth ?? false });
  const bash = newBash(fs);
  // The names `which` may find under /bin and /usr/bin: what this Bash registered.
  const names = new Set<string>(bashOptions.commands ?? jb.getCommandNames());
  if (bashOptions.network !== undefined || bashOptions.fetch !== undefined) for (const n of jb.getNetworkCommandNames()) names.add(n);
  if (bashOptions.python === true) for (const n of jb.getPythonCommandNames()) names.add(n);
  if (bashOptions.javascript !== undefined && bashOptions.javascript !== false) for (const n of jb.getJavaScriptCommandNames()) names.add(n);
  for (const c of bashOptions.customCommands ?? []) names.add(c.name);
  fs.setCommandNames(names);
  const transactionPerExec = perExecOption !== false;
  const undo = undoStackFor(mount, checkpointBeforeExec);

  /** Runs the script on `view`; a timeout or an abort stops it (after `graceMs` it is given up on). */
  const run = async (view: AcceleratedJustBashFs, script: string, execOptions: AcceleratedJustBashExecOptions): Promise<Run> => {
    const { timeoutMs, abortGraceMs, transaction: _caller, signal, ...bashExec } = execOptions;
    if (mayListGlobs(script)) await view.indexPaths();
    const controller = new AbortController();
    let stopped: Run["stopped"];
    const onAbort = (): void => {
      stopped ??= "abort";
      controller.abort(signal?.reason);
    };
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    // The clock starts now, when the command starts running.
    const timer =
      typeof timeoutMs === "number" && Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            stopped ??= "timeout";
            controller.abort(new DOMException(`Command timed out after ${timeoutMs} ms`, "TimeoutError"));
          }, Math.max(0, timeoutMs))
        : undefined;
    let result: BashExecResult | undefined;
    try {
      result = await settleOrGiveUp(newBash(view).exec(script, { ...bashExec, signal: controller.signal }), controller.signal, abortGraceMs ?? DEFAULT_ABORT_GRACE_MS);
    } catch (e) {
      result = stopped === undefined ? failedCommand(e) : undefined;
      if (stopped === undefined && result === undefined) throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    // Calls the script left running finish before its transaction commits.
    if (stopped === undefined) await view.settle();
    const out = result ?? { stdout: "", stderr: "", exitCode: 124, env: {} };
    if (stopped === "timeout") return { stopped, result: { ...out, exitCode: 124, stderr: `${out.stderr}${NOTE} Command timed out after ${timeoutMs} ms.\n` } };
    return { stopped, result: out };
  };

  const rolledBack = (r: Run): AcceleratedJustBashExecResult => ({
    ...r.result,
    stderr: `${r.result.stderr}${NOTE} The command ${r.stopped === "timeout" ? "timed out" : "was aborted"}: nothing it wrote was committed.\n`,
    committed: false,
  });

  /** One exec in a transaction of its own: committed when it ran to its end, rolled back when stopped. */
  const inTransaction = async (script: string, execOptions: AcceleratedJustBashExecOptions, onView: (view: AcceleratedJustBashFs) => void): Promise<AcceleratedJustBashExecResult> => {
    let ran: Run | undefined;
    const stop = Symbol("stopped");
    try {
      await mount.transaction(async (tx) => {
        const view = fs.view(tx);
        onView(view);
        ran = await run(view, script, execOptions);
        // Throwing out of the callback aborts the transaction.
        if (ran.stopped !== undefined) throw stop;
      });
    } catch (e) {
      if (e === stop && ran !== undefined) return rolledBack(ran);
      if (ran !== undefined && isConflict(e)) {
        // The script ran, but what it relied on changed under it before it could commit: nothing applied.
        const r = ran.result;
        return {
          ...r,
          exitCode: r.exitCode === 0 ? 1 : r.exitCode,
          stderr: `${r.stderr}${NOTE} Nothing this command wrote was committed: ${e.message}\n`,
          committed: false,
          commitError: e,
        };
      }
      throw e;
    }
    if (ran === undefined) throw new Error("createAcceleratedJustBashShell: the transaction callback did not run");
    return { ...ran.result, committed: true };
  };

  /** One exec on views of its own (each reported to `onView`): in a transaction, or committing as it writes. */
  const execOwn = async (script: string, execOptions: AcceleratedJustBashExecOptions, onView: (view: AcceleratedJustBashFs) => void): Promise<AcceleratedJustBashExecResult> => {
    if (transactionPerExec && !mount.readOnly) return inTransaction(script, execOptions, onView);
    // Each write commits as it is made: whatever the command wrote before it stopped stays.
    const view = fs.view();
    onView(view);
    return { ...(await run(view, script, execOptions)).result, committed: true };
  };

  /** With `checkpointBeforeExec`: the exec after a checkpoint, and what it changed remembered for `undo()`. */
  const execUndoable = async (u: ExecUndo, script: string, execOptions: AcceleratedJustBashExecOptions): Promise<AcceleratedJustBashExecResult> => {
    const pending = await u.before(script);
    const views: AcceleratedJustBashFs[] = [];
    const touched = (): Set<string> => new Set(views.flatMap((v) => [...v.changedPaths]));
    let result: AcceleratedJustBashExecResult;
    try {
      result = await execOwn(script, execOptions, (v) => views.push(v));
    } catch (e) {
      // Without a transaction per exec, what it wrote before failing stays (and can be undone).
      u.after(pending, touched(), !transactionPerExec);
      throw e;
    }
    u.after(pending, touched(), result.committed);
    return result;
  };

  return {
    bash,
    fs,
    filesystem: mount,
    transactionPerExec,
    async exec(script: string, execOptions: AcceleratedJustBashExecOptions = {}): Promise<AcceleratedJustBashExecResult> {
      const given = execOptions.transaction;
      if (given !== undefined) return { ...(await run(fs.view(given), script, execOptions)).result, committed: false };
      if (undo !== undefined) return execUndoable(undo, script, execOptions);
      return execOwn(script, execOptions, () => {});
    },
    getCwd: () => bash.getCwd(),
    undo: async () => undo?.undo(),
    clearUndo: async () => undo?.forget(),
    get undoable() {
      return undo?.undoable ?? [];
    },
  };
}
