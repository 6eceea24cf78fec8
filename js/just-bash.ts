// s3-bun-cached-fs/just-bash: just-bash's `IFileSystem` over a mounted workspace, and a shell whose every
// `exec()` runs in a transaction of its own and commits as one.
//
// Structural only: the types come from just-bash, the runtime never imports it at module load — only
// `createAcceleratedJustBashShell` loads it, on first use.//
// The parts: just-bash/fs.ts (the filesystem), just-bash/shell.ts (the shell factory, exec in a
// transaction), just-bash/virtual.ts (the in-memory /bin and /dev), just-bash/path-index.ts
// (`getAllPaths`), just-bash/forms.ts (encodings, stat and dirent forms), just-bash/errors.ts; undo of
// an exec is exec-undo.ts; paths and the "absent" rule are the adapters' shared ones (adapters/).
export { ExecUndo, type ExecCheckpointOptions, type ExecUndoResult } from "./exec-undo.ts";
export { normalizeVirtualPath, resolveVirtualPath } from "./adapters/paths.ts";
export type { DirentEntry } from "./just-bash/forms.ts";
export { AcceleratedJustBashFs } from "./just-bash/fs.ts";
export {
  createAcceleratedJustBashShell,
  type AcceleratedJustBashBashOptions,
  type AcceleratedJustBashExecOptions,
  type AcceleratedJustBashExecResult,
  type AcceleratedJustBashShell,
  type AcceleratedJustBashShellOptions,
} from "./just-bash/shell.ts";
