// s3-bun-cached-fs/core: the engine's public surface. Loads no framework.
export * from "./store.ts";
export { CachedFs, Dirent, Stats, Transaction, type CachedFsStats, type FsckReport, type GcReport, type LogEntry, type FileData, type MaterializedFile, type WriteHandle, type ReaddirOptions, type RefreshResult, type RmOptions, type WriteFileOptions, type Checkpoint, type Change, type CommitRef, type GcOptions } from "./fs.ts";
export { S3CachedFsManagerImpl, type ManagerOptions, type MountOptions, type ForkOptions, type ForkResult, type WorkspaceLocation } from "./manager.ts";
export { isFsError, type FsError, type StoreErrorKind } from "./errors.ts";
export { NodeLocalFile, type LocalFile, type LocalFileSink } from "./local-file.ts";
