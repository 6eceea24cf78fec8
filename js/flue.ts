// s3-bun-cached-fs/flue: a Flue (@flue/runtime 2.x, and 1.0's `createSessionEnv`) sandbox factory over a
// mounted workspace. File verbs go through AcceleratedJustBashFs on the mount (one commit each), `exec`
// through the just-bash shell (one transaction per command). @flue/runtime is imported lazily, by
// `createSandbox`, never at module load.
import type { FileStat, Sandbox, SandboxFactory, SandboxToolFactory, ShellResult } from "@flue/runtime";
import { S3CachedFsManagerImpl, type CachedFs, type ManagerOptions, type MountOptions } from "./core.ts";
import { normalizeVirtualPath, resolveVirtualPath } from "./adapters/paths.ts";
import { codeOf } from "./adapters/absent.ts";
import { fsError } from "./errors.ts";
import { ExecUndo } from "./exec-undo.ts";
import { grepTool } from "./flue/grep.ts";
import { createAcceleratedJustBashShell, type AcceleratedJustBashShell, type AcceleratedJustBashShellOptions, type ExecUndoResult } from "./just-bash.ts";

type FlueRuntime = typeof import("@flue/runtime");

let flueLoading: Promise<FlueRuntime> | undefined;
let flueRuntime: FlueRuntime | undefined;
function loadFlue(): Promise<FlueRuntime> {
  flueLoading ??= import("@flue/runtime").then((m) => (flueRuntime = m));
  return flueLoading;
}

const PROVIDER = "s3-bun-cached-fs";

export interface AcceleratedFsSandboxOptions {
  /** The sandbox's working directory inside the workspace; created when missing (default `/`). */
  cwd?: string;
  /**
   * The workspace: options for `S3CachedFsManagerImpl.mount` (a function of the agent instance id gives
   * each instance its own workspace), or an already open `CachedFs`.
   */
  mount: MountOptions | ((id: string) => MountOptions) | CachedFs;
  /** The manager for mounts this factory opens; required unless `mount` is a `CachedFs`. */
  managerConfig?: ManagerOptions;
  /**
   * just-bash shell options (env, customCommands, executionLimits, `transactionPerExec`, ...);
   * `checkpointBeforeExec: true` makes each `exec` undoable with `sandbox.undo()`.
   */
  shell?: Omit<AcceleratedJustBashShellOptions, "filesystem" | "cwd">;
  /**
   * After `timeoutMs` or an abort, how long to wait for the command to stop at its next statement
   * boundary (so its output so far is reported) before resolving anyway. Default 1000 ms. Its writes
   * are rolled back either way.
   */
  timeoutGraceMs?: number;
}

/** What `exec` resolves with: Flue's `ShellResult`, plus what became of the command's writes. */
export interface AcceleratedShellResult extends ShellResult {
  /**
   * True when everything the command wrote is durable: it ran to its end (any exit code) and its
   * transaction committed. False when it timed out (rolled back) or its commit conflicted (`commitError`).
   * With `shell: { transactionPerExec: false }` each write commits as it is made, and this is true.
   */
  committed: boolean;
  /** Set when a concurrent commit made the command's transaction conflict (`code` ECONFLICT). */
  commitError?: Error;
}

/** A Flue sandbox, plus the shell and mount behind it (dropped by `useSandbox(f, { cwd })` wrapping). */
export interface AcceleratedFsSandbox extends Sandbox {
  readonly shell: AcceleratedJustBashShell;
  readonly filesystem: CachedFs;
  exec(command: string, options?: Parameters<Sandbox["exec"]>[1]): Promise<AcceleratedShellResult>;
  /**
   * With `shell: { checkpointBeforeExec: true }`: takes back the last `exec` not yet undone, as one new
   * commit (the paths it changed go back to its checkpoint; see `AcceleratedJustBashShell.undo`).
   * The sandboxes the factory makes for one agent instance share one undo stack, so this reaches
   * back across the agent's runs (the most recently started exec first). The file verbs (`writeFile`, `mkdir`, `rm`: Flue's write and edit tools) are commits of their own
   * that this does not take back; for a whole agent run, checkpoint before it and `restore` after.
   */
  undo(): Promise<ExecUndoResult | undefined>;
}

export interface AcceleratedFsSandboxFactory extends SandboxFactory {
  createSandbox(options: { id: string }): Promise<AcceleratedFsSandbox>;
  /** Flue 1.0's name for `createSandbox`. */
  createSessionEnv(options: { id: string }): Promise<AcceleratedFsSandbox>;
  /** Flue's read/write/edit/bash/glob tools, and a grep that works on just-bash 3.4. */
  tools: SandboxToolFactory;
  /**
   * The sandbox last created for agent instance `id` (Flue hands the agent a wrapper of it without
   * `undo` or `shell`; this is how the app reaches them).
   */
  sandbox(id: string): AcceleratedFsSandbox | undefined;
  /**
   * Closes the mounts this factory opened (a `CachedFs` passed in stays open), after deleting the exec
   * checkpoints of its sandboxes (`checkpointBeforeExec`): nothing can be undone afterwards.
   */
  close(): Promise<void>;
}

const isCachedFs = (m: AcceleratedFsSandboxOptions["mount"]): m is CachedFs =>
  typeof m === "object" && m !== null && typeof (m as Partial<CachedFs>).transaction === "function";

function abortErrorFor(signal: AbortSignal): DOMException {
  const reason: unknown = signal.reason;
  const base = reason instanceof Error && reason.message !== "" ? reason.message : typeof reason === "string" && reason !== "" ? reason : "The operation was aborted.";
  const error = new DOMException(`${base} The command stops at its next statement boundary; nothing it wrote is committed.`, "AbortError");
  Object.defineProperty(error, "cause", { value: reason, configurable: true });
  return error;
}

/** `run`, or an AbortError as soon as `signal` aborts (the command then rolls back on its own). */
function rejectOnAbort<T>(run: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortErrorFor(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => signal.removeEventListener("abort", onAbort);
    run.then(
      (v) => (done(), resolve(v)),
      (e: unknown) => (done(), reject(e)),
    );
  });
}

function makeSandbox(shell: AcceleratedJustBashShell, cwd: string, graceMs: number): AcceleratedFsSandbox {
  const fs = shell.fs;
  const resolvePath = (p: string): string => resolveVirtualPath(cwd, p);

  // Each exec runs in a transaction of its own (the shell's), so concurrent execs, and the file verbs
  // below (which go to the mount, each its own commit), never wait for or swallow each other's writes.
  const exec = async (command: string, options?: Parameters<Sandbox["exec"]>[1]): Promise<AcceleratedShellResult> => {
    const signal = options?.signal;
    if (signal?.aborted === true) throw abortErrorFor(signal);
    const run = shell.exec(command, {
      cwd: options?.cwd !== undefined ? resolvePath(options.cwd) : cwd,
      env: options?.env,
      signal,
      timeoutMs: options?.timeoutMs,
      abortGraceMs: graceMs,
    });
    const r = await (signal === undefined ? run : rejectOnAbort(run, signal));
    const out: AcceleratedShellResult = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, committed: r.committed };
    if (r.commitError !== undefined) out.commitError = r.commitError;
    return out;
  };

  const stat = async (path: string): Promise<FileStat> => {
    const p = resolvePath(path);
    const target = await fs.stat(p);
    const link = await fs.lstat(p);
    // Only what the store knows: directories have no size, and a time it never recorded is left out.
    const out: FileStat = { isFile: target.isFile, isDirectory: target.isDirectory, isSymbolicLink: link.isSymbolicLink };
    if (target.isFile) out.size = target.size;
    if (target.mtime.getTime() > 0) out.mtime = target.mtime;
    return out;
  };

  const rm = async (path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void> => {
    const given = options ?? {};
    const unsupported = Object.entries(given)
      .filter(([key, value]) => value !== undefined && !((key === "recursive" || key === "force") && typeof value === "boolean"))
      .map(([key]) => key);
    if (unsupported.length > 0) {
      const { SandboxOperationUnsupportedError } = await loadFlue();
      throw new SandboxOperationUnsupportedError({ operation: "rm", provider: PROVIDER, options: unsupported });
    }
    const p = resolvePath(path);
    // Node's fs.rm: force ignores a missing path only; a directory needs recursive.
    let isDirectory: boolean;
    try {
      isDirectory = (await fs.lstat(p)).isDirectory;
    } catch (e) {
      if (codeOf(e) === "ENOENT" && given.force === true) return;
      throw e;
    }
    if (isDirectory && given.recursive !== true) throw fsError("EISDIR", "is a directory (use recursive)", "rm", p);
    await fs.rm(p, { recursive: given.recursive === true, force: given.force === true });
  };

  return {
    shell,
    filesystem: shell.filesystem,
    cwd,
    resolvePath,
    exec,
    readFile: (p) => fs.readFile(resolvePath(p), "utf8"),
    readFileBuffer: (p) => fs.readFileBuffer(resolvePath(p)),
    // AcceleratedJustBashFs.writeFile creates missing parents (Flue's writeFile guarantee).
    writeFile: (p, content) => fs.writeFile(resolvePath(p), content),
    stat,
    readdir: (p) => fs.readdir(resolvePath(p)),
    exists: (p) => fs.exists(resolvePath(p)),
    mkdir: (p, o) => fs.mkdir(resolvePath(p), { recursive: o?.recursive === true }),
    rm,
    undo: () => shell.undo(),
  };
}

/**
 * A Flue sandbox factory over an S3-backed workspace:
 * `useSandbox(acceleratedFsSandbox({ cwd: "/workspace", mount: { name, mode: "readwrite", bucket, cacheBytes }, managerConfig: { cacheRoot } }))`.
 */
export function acceleratedFsSandbox(options: AcceleratedFsSandboxOptions): AcceleratedFsSandboxFactory {
  const cwd = normalizeVirtualPath(options.cwd ?? "/");
  const graceMs = options.timeoutGraceMs ?? 1000;
  const given = options.mount;
  if (!isCachedFs(given) && options.managerConfig === undefined) {
    throw new TypeError("acceleratedFsSandbox: managerConfig is required unless mount is an open CachedFs");
  }
  let manager: S3CachedFsManagerImpl | undefined;
  const mounts = new Map<string, Promise<CachedFs>>();
  const sandboxes = new Map<string, AcceleratedFsSandbox>();
  // One undo stack per agent instance, shared by the sandboxes Flue makes for it (one per run).
  const undoStacks = new Map<string, ExecUndo>();

  const mountFor = (id: string): Promise<CachedFs> => {
    if (isCachedFs(given)) return Promise.resolve(given);
    const mountOptions = typeof given === "function" ? given(id) : given;
    let open = mounts.get(mountOptions.name);
    if (open === undefined) {
      manager ??= new S3CachedFsManagerImpl(options.managerConfig as ManagerOptions);
      open = manager.mount(mountOptions);
      mounts.set(mountOptions.name, open);
      open.catch(() => mounts.delete(mountOptions.name));
    }
    return open;
  };

  const createSandbox = async ({ id }: { id: string }): Promise<AcceleratedFsSandbox> => {
    await loadFlue();
    const filesystem = await mountFor(id);
    let checkpointBeforeExec = options.shell?.checkpointBeforeExec;
    if (checkpointBeforeExec !== undefined && checkpointBeforeExec !== false && !(checkpointBeforeExec instanceof ExecUndo) && !filesystem.readOnly) {
      const key = `${filesystem.name}\0${id}`;
      const stack = undoStacks.get(key) ?? new ExecUndo(filesystem, checkpointBeforeExec === true ? {} : checkpointBeforeExec);
      undoStacks.set(key, stack);
      checkpointBeforeExec = stack;
    }
    const shell = await createAcceleratedJustBashShell({ ...options.shell, checkpointBeforeExec, filesystem, cwd });
    const sandbox = makeSandbox(shell, cwd, graceMs);
    sandboxes.set(id, sandbox);
    return sandbox;
  };

  const tools: SandboxToolFactory = (sandbox) => {
    const flue = flueRuntime;
    if (flue === undefined) throw new Error("acceleratedFsSandbox: tools() before createSandbox()");
    return [
      flue.createReadTool(sandbox),
      flue.createWriteTool(sandbox),
      flue.createEditTool(sandbox),
      flue.createBashTool(sandbox),
      grepTool(flue, sandbox),
      flue.createGlobTool(sandbox),
    ];
  };

  return {
    createSandbox,
    createSessionEnv: createSandbox,
    tools,
    sandbox: (id) => sandboxes.get(id),
    async close() {
      // Nothing can be undone once the factory is closed: the exec checkpoints go.
      await Promise.allSettled([...undoStacks.values()].map((u) => u.forget()));
      undoStacks.clear();
      sandboxes.clear();
      mounts.clear();
      await manager?.close();
    },
  };
}
