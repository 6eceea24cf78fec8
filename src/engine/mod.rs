//! The engine: a mount of one workspace (a store prefix) with its SQLite namespace and block cache.
//! Metadata reads run synchronously on the caller's thread against the read connection, which sees
//! committed state only; all writes go through one transaction at a time on the write connection,
//! and become visible (locally and remotely) only when the head names their WAL record.

mod commit;
mod diff;
mod fence;
mod fork;
mod gc;
mod history;
mod inspect;
mod materialize;
mod metadata;
mod read;
mod replica;
mod request;
mod stager;
mod txn;
mod upload;
mod writes;

pub use commit::{CommitBatch, CommitInfo};
pub use diff::{Change, ChangeKind};
pub use fork::{fork, ForkInfo};
pub use gc::{GcReport, KeepHistory};
pub use history::{At, Commit};
pub use inspect::{FsckReport, LogEntry};
pub use materialize::Materialized;
pub use replica::RefreshOutcome;
pub use request::{Content, Request, WriteOptions};
pub use stager::{Stager, UploadSet, STAGED_BYTES_MAX};
pub use txn::{Piece, Txn};
pub use upload::{Staged, Upload};
pub use writes::FsWrites;

use crate::cache::{BlockCache, CacheStats};
use crate::error::{Code, FsError, FsResult};
use crate::namespace::{self, DirEntry, Ino, Inode, Kind};
use crate::path::{normalize, VPath};
use crate::protocol::head::Head;
use crate::store::{
    probe_conditional_writes, CountingObjectStore, DynObjectStore, RequestCounts, RetryPolicy,
    RetryingObjectStore,
};
use rusqlite::Connection;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Small files are packed together; larger ones are split into content-addressed chunks.
pub const SMALL_FILE_MAX: usize = 1 << 20;
/// A pack is sealed before it would pass this size, so a cold read may fetch a whole pack cheaply.
pub const PACK_MAX: usize = 4 << 20;
/// Chunk size for large files: big enough that per-request cost is small next to transfer time,
/// small enough that dedup and parallel transfers have something to work with.
pub const CHUNK_SIZE: usize = 8 << 20;
pub use crate::protocol::block_hashes::BLOCK_SIZE;
/// Block downloads in flight per mount.
pub const TRANSFER_CONCURRENCY: usize = 8;
/// Chunk and pack uploads in flight per mount (each holds up to a chunk in memory).
pub const UPLOAD_CONCURRENCY: usize = 4;
/// Memory for recently read packs.
pub const HOT_PACK_BYTES: u64 = 32 << 20;

#[derive(Debug, Clone)]
pub struct MountConfig {
    pub name: String,
    pub readwrite: bool,
    pub cache_root: PathBuf,
    pub cache_bytes: u64,
    /// A string naming the bucket and prefix; a local database made for another store is discarded.
    pub store_id: String,
    /// A metadata snapshot is uploaded after this many commits.
    pub snapshot_every: u64,
    pub retry: RetryPolicy,
    /// A time-travel mount: the tree as it was at this commit (readonly).
    pub at: Option<At>,
}

/// What the writer (or, for readers, the refresher) holds between commits.
pub(crate) struct WriterState {
    pub conn: Connection,
    /// The head this replica has applied, and its ETag.
    pub head: Head,
    pub head_etag: Option<String>,
    pub commits_since_snapshot: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub refreshes: AtomicU64,
    pub records_applied: AtomicU64,
    pub rebuilds: AtomicU64,
}

pub struct Mount {
    pub config: MountConfig,
    pub writer_id: String,
    pub(crate) store: DynObjectStore,
    counting: Arc<CountingObjectStore>,
    pub(crate) writer: Arc<tokio::sync::Mutex<WriterState>>,
    pub(crate) cache: BlockCache,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) fenced: AtomicBool,
    closed: AtomicBool,
    /// The last seq applied locally, readable without the writer lock.
    pub(crate) seq: AtomicU64,
    pub(crate) epoch: AtomicU64,
    pub(crate) commits: commit::CommitQueue,
    pub(crate) counters: Counters,
    pub(crate) reads: read::ReadPath,
    pub(crate) pins: upload::UploadState,
    /// The local namespace as callers read it: the read connection, answers cache, snapshots, inodes.
    pub(crate) local: metadata::LocalMetadata,
    /// Held while open: a second process (or manager) cannot open the same local state.
    dir_lock: Mutex<Option<std::fs::File>>,
}

#[derive(Debug, Clone, Copy)]
pub struct MountStats {
    pub requests: RequestCounts,
    pub cache: CacheStats,
    pub commits: u64,
    pub refreshes: u64,
    pub records_applied: u64,
    pub rebuilds: u64,
    pub seq: u64,
    pub epoch: u64,
    /// Entries in the in-memory index `stat` answers from; `None` while there is none (being built,
    /// or the namespace is larger than it may hold).
    pub index_entries: Option<u64>,
}

fn valid_mount_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.')
}

impl Mount {
    /// Opens a mount: local state, catch-up to the bucket, and for readwrite the probe and the fence.
    pub async fn open(base: DynObjectStore, config: MountConfig) -> FsResult<Arc<Mount>> {
        if !valid_mount_name(&config.name) {
            return Err(FsError::invalid(
                "mount",
                Some(&config.name),
                "mount names are 1-128 characters of [A-Za-z0-9._-], not starting with '.'",
            ));
        }
        if config.at.is_some() && config.readwrite {
            return Err(FsError::invalid(
                "mount",
                Some(&config.name),
                "a mount at an earlier commit (`at`) is readonly",
            ));
        }
        // A fork reads what it shares with its base through the base's prefix.
        let layered: DynObjectStore =
            Arc::new(crate::protocol::base::LayeredObjectStore::new(base));
        let counting = Arc::new(CountingObjectStore::new(layered));
        let store: DynObjectStore = Arc::new(RetryingObjectStore::new(
            counting.clone(),
            config.retry.clone(),
        ));
        if config.readwrite {
            let report = probe_conditional_writes(store.clone(), crate::protocol::PROBE_PREFIX)
                .await
                .map_err(|e| FsError::from_store("mount", e))?;
            if !report.compliant {
                return Err(FsError::new(Code::NotSup, "mount", Some(&config.name)).with_description(format!(
                    "this object store does not enforce conditional writes ({}); a readwrite mount would not be safe. Mount it readonly, or use a store with If-None-Match/If-Match support",
                    report.findings.join("; ")
                )));
            }
        }
        let dir = config.cache_root.join(&config.name);
        // Private: the database names every file, and the cache holds their bytes.
        std::fs::create_dir_all(&dir)
            .and_then(|()| {
                std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            })
            .map_err(|e| {
                FsError::new(Code::Io, "mount", Some(&dir.to_string_lossy()))
                    .with_description(e.to_string())
            })?;
        let dir_lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join("lock"))
            .map_err(|e| {
                FsError::new(Code::Io, "mount", Some(&config.name)).with_description(e.to_string())
            })?;
        if dir_lock.try_lock().is_err() {
            return Err(FsError::new(Code::Busy, "mount", Some(&config.name)).with_description(format!(
                "the local state {} is in use by another mount (another process, or another manager with the same cacheRoot)",
                dir.display()
            )));
        }
        let db_path = dir.join("namespace.sqlite");
        // The database is disposable: one that cannot be read is replaced and rebuilt from the bucket.
        // A time-travel mount's local state is its own (and rebuilt at every open).
        let local_id = match &config.at {
            Some(At::Seq(n)) => format!("{}@{n}", config.store_id),
            Some(At::Checkpoint(c)) => format!("{}@{c}", config.store_id),
            None => config.store_id.clone(),
        };
        let (write_conn, read_conn, head, entries) =
            match metadata::open_local_state(&db_path, &local_id) {
                Ok(state) => state,
                Err(_) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(dir.join(format!("namespace.sqlite{suffix}")));
                    }
                    metadata::open_local_state(&db_path, &local_id)?
                }
            };
        let cache = BlockCache::open(&dir.join("blocks"), config.cache_bytes).map_err(|e| {
            FsError::new(Code::Io, "mount", Some("cache")).with_description(e.to_string())
        })?;
        let local = metadata::LocalMetadata::new(read_conn, db_path, &head, entries);
        let mount = Arc::new(Mount {
            writer_id: format!("{:016x}", fastrand::u64(..)),
            store,
            counting,
            writer: Arc::new(tokio::sync::Mutex::new(WriterState {
                conn: write_conn,
                head,
                head_etag: None,
                commits_since_snapshot: 0,
            })),
            cache,
            runtime: tokio::runtime::Handle::current(),
            fenced: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            commits: Default::default(),
            counters: Counters::default(),
            reads: read::ReadPath::new(),
            pins: upload::UploadState::new(),
            local,
            dir_lock: Mutex::new(Some(dir_lock)),
            config,
        });
        {
            let mut w = mount.writer.clone().lock_owned().await;
            match &mount.config.at {
                Some(at) => mount.open_at(&mut w, at).await?,
                None => {
                    mount.sync_locked(&mut w, false).await?;
                    if mount.config.readwrite {
                        mount.fence_locked(&mut w).await?;
                    }
                }
            }
            mount.note_inodes(&w.conn)?;
        }
        Ok(mount)
    }

    pub fn is_readwrite(&self) -> bool {
        self.config.readwrite
    }

    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Refuses further calls and lets go of the local state: the database files (the writer's once
    /// any commit in flight is done) and the directory lock.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.flush_cache_writes();
        fn detach(conn: &mut Connection) {
            if let Ok(empty) = Connection::open_in_memory() {
                drop(std::mem::replace(conn, empty));
            }
        }
        self.local.detach(detach);
        match self.writer.clone().try_lock_owned() {
            Ok(mut w) => detach(&mut w.conn),
            Err(_) => {
                let writer = self.writer.clone();
                self.runtime
                    .spawn(async move { detach(&mut writer.lock_owned().await.conn) });
            }
        }
        self.dir_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn check_open(&self, syscall: &str) -> FsResult<()> {
        if self.is_closed() {
            return Err(FsError::new(Code::Closed, syscall, Some(&self.config.name)));
        }
        Ok(())
    }

    /// Every write starts here: EROFS on readonly mounts, EFENCED once a newer writer took over.
    pub(crate) fn check_writable(&self, syscall: &str, path: &str) -> FsResult<()> {
        self.check_open(syscall)?;
        if !self.config.readwrite {
            return Err(FsError::new(Code::RoFs, syscall, Some(path)));
        }
        if self.fenced.load(Ordering::Acquire) {
            return Err(FsError::new(Code::Fenced, syscall, Some(path)));
        }
        Ok(())
    }

    pub fn stats(&self) -> MountStats {
        MountStats {
            requests: self.counting.counts(),
            cache: self.cache.stats(),
            commits: self.counters.commits.load(Ordering::Relaxed),
            refreshes: self.counters.refreshes.load(Ordering::Relaxed),
            records_applied: self.counters.records_applied.load(Ordering::Relaxed),
            rebuilds: self.counters.rebuilds.load(Ordering::Relaxed),
            seq: self.seq(),
            epoch: self.epoch(),
            index_entries: self.index_entries().map(|n| n as u64),
        }
    }

    pub fn reset_request_counts(&self) {
        self.counting.reset();
    }
}

/// Metadata queries, shared by the mount (committed state) and transactions (their own view).
pub use crate::namespace::query as meta;
pub use crate::namespace::query::Stat;

/// The read surface, the same for the mount (committed state) and a transaction (its own view).
pub trait FsRead {
    fn stat(&self, raw: &str, follow: bool) -> FsResult<Stat>;
    fn readdir(&self, raw: &str, recursive: bool) -> FsResult<Vec<(String, Kind)>>;
    fn readlink(&self, raw: &str) -> FsResult<String>;
    fn realpath(&self, raw: &str) -> FsResult<String>;
    /// A small file's bytes when they are all in memory (`None`: read it the async way). An absent
    /// path is its error, at once.
    fn read_in_memory(&self, raw: &str) -> FsResult<Option<bytes::Bytes>>;

    fn exists(&self, raw: &str) -> bool {
        self.stat(raw, true).is_ok()
    }
}

/// Whether an error says the path is not there: ENOENT, or ENOTDIR (a file where a directory would be).
pub fn absent(e: &FsError) -> bool {
    e.code == "ENOENT" || e.code == "ENOTDIR"
}

impl FsRead for Mount {
    fn stat(&self, raw: &str, follow: bool) -> FsResult<Stat> {
        Mount::stat(self, raw, follow)
    }
    fn readdir(&self, raw: &str, recursive: bool) -> FsResult<Vec<(String, Kind)>> {
        self.with_read(|c| meta::readdir(c, raw, recursive))
    }
    fn readlink(&self, raw: &str) -> FsResult<String> {
        self.with_read(|c| meta::readlink(c, raw))
    }
    fn realpath(&self, raw: &str) -> FsResult<String> {
        self.with_read(|c| meta::realpath(c, raw))
    }
    fn read_in_memory(&self, raw: &str) -> FsResult<Option<bytes::Bytes>> {
        Mount::read_in_memory(self, raw)
    }
}

impl FsRead for Txn {
    fn stat(&self, raw: &str, follow: bool) -> FsResult<Stat> {
        meta::stat(self.view(), raw, follow)
    }
    fn readdir(&self, raw: &str, recursive: bool) -> FsResult<Vec<(String, Kind)>> {
        meta::readdir(self.view(), raw, recursive)
    }
    fn readlink(&self, raw: &str) -> FsResult<String> {
        meta::readlink(self.view(), raw)
    }
    fn realpath(&self, raw: &str) -> FsResult<String> {
        meta::realpath(self.view(), raw)
    }
    fn read_in_memory(&self, raw: &str) -> FsResult<Option<bytes::Bytes>> {
        Txn::read_in_memory(self, raw)
    }
}

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
