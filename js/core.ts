// s3-bun-cached-fs/core: the engine's public surface. Loads no framework.
export * from "./store.ts";
export { CachedFs, Dirent, Stats, Transaction, type CachedFsStats, type FsckReport, type GcReport, type LogEntry, type FileData, type MaterializedFile, type WriteHandle, type ReaddirOptions, type RefreshResult, type RmOptions, type WriteFileOptions } from "./fs.ts";
export { S3CachedFsManagerImpl, type ManagerOptions, type MountOptions } from "./manager.ts";
export { isFsError, type FsError } from "./errors.ts";
