//! `NativeMount`: a mounted workspace as a JS class. Metadata calls are synchronous (SQLite on the
//! caller's thread); byte reads and commits return promises resolved from tokio.

use super::io::{JsMaterialized, NativeFileHandle, NativeUpload};
use super::store::NativeObjectStore;
use super::txn::NativeTxn;
use super::types::*;
use super::{async_call, sync_call, to_mtime, to_u64};
use crate::engine::{
    meta, CommitBatch, FsRead, FsWrites, FsckReport, GcReport, KeepHistory, LogEntry, Mount,
    MountConfig, RefreshOutcome, Txn, Upload, WriteOptions,
};
use crate::error::FsResult;
use crate::store::RetryPolicy;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use std::sync::{Arc, Mutex};

#[napi]
pub struct NativeMount {
    pub(crate) mount: Arc<Mount>,
}

/// Write requests: each becomes part of a (possibly grouped) commit.
macro_rules! write_op {
    ($self:ident, $env:ident, $syscall:literal, |$tx:ident| $body:expr) => {{
        let mount = $self.mount.clone();
        async_call(
            $env,
            $syscall,
            async move {
                mount
                    .write(Box::new(move |$tx: &mut CommitBatch| $body))
                    .await
            },
            |_, c| Ok(JsCommit::from(c)),
        )
    }};
}

#[napi]
impl NativeMount {
    #[napi(ts_return_type = "Promise<NativeMount>")]
    pub fn open<'env>(
        env: &'env Env,
        store: &NativeObjectStore,
        options: JsMountOptions,
    ) -> napi::Result<PromiseRaw<'env, NativeMount>> {
        let base = store.store.clone();
        let config = to_u64("mount", "cacheBytes", options.cache_bytes)
            .map(|cache_bytes| MountConfig {
                name: options.name,
                readwrite: options.readwrite,
                cache_root: options.cache_root.into(),
                cache_bytes,
                store_id: options.store_id,
                snapshot_every: options.snapshot_every.unwrap_or(256).max(1) as u64,
                retry: RetryPolicy::default(),
                at: None,
            })
            .and_then(|c| {
                Ok(MountConfig {
                    at: options.at.map(super::history::to_at).transpose()?,
                    ..c
                })
            });
        async_call(
            env,
            "mount",
            async move { Mount::open(base, config?).await },
            |_, mount| Ok(NativeMount { mount }),
        )
    }

    #[napi(getter)]
    pub fn seq(&self) -> f64 {
        self.mount.seq() as f64
    }

    #[napi(getter)]
    pub fn epoch(&self) -> f64 {
        self.mount.epoch() as f64
    }

    #[napi(getter)]
    pub fn readwrite(&self) -> bool {
        self.mount.is_readwrite()
    }

    #[napi]
    pub fn close(&self) {
        self.mount.close();
    }

    #[napi]
    pub fn stats(&self) -> JsMountStats {
        let s = self.mount.stats();
        JsMountStats {
            requests: s.requests.into(),
            cache_hits: s.cache.hits as f64,
            cache_misses: s.cache.misses as f64,
            cache_corrupt: s.cache.corrupt as f64,
            cache_evictions: s.cache.evictions as f64,
            cache_used_bytes: s.cache.used_bytes as f64,
            cache_capacity_bytes: s.cache.capacity_bytes as f64,
            commits: s.commits as f64,
            refreshes: s.refreshes as f64,
            records_applied: s.records_applied as f64,
            rebuilds: s.rebuilds as f64,
            seq: s.seq as f64,
            epoch: s.epoch as f64,
        }
    }

    #[napi]
    pub fn reset_request_counts(&self) {
        self.mount.reset_request_counts();
    }

    // ---- metadata, synchronous (stat, readdir, ...: see `read_surface!`) ----

    /// Entry names only: no per-entry objects for the common `readdir` call.
    #[napi]
    pub fn readdir_names(
        &self,
        env: Env,
        path: String,
        recursive: bool,
    ) -> napi::Result<Vec<String>> {
        sync_call(&env, "scandir", || {
            let entries = self
                .mount
                .with_read(|c| meta::readdir(c, &path, recursive))?;
            Ok(entries.into_iter().map(|(name, _)| name).collect())
        })
    }

    /// `readdir` on a blocking thread with a connection of its own, for whole trees: the JS thread
    /// goes on meanwhile. Names come back joined by NUL (which no name holds) and kinds as one byte
    /// each (1 file, 2 directory, 3 symlink): two values to cross the boundary, not one per entry.
    #[napi(ts_return_type = "Promise<JsDirentList>")]
    pub fn readdir_async<'env>(
        &self,
        env: &'env Env,
        path: String,
        recursive: bool,
    ) -> napi::Result<PromiseRaw<'env, JsDirentList>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "scandir",
            async move {
                mount
                    .with_snapshot(move |c| meta::readdir(c, &path, recursive))
                    .await
            },
            |_, entries| {
                let kinds: Vec<u8> = entries.iter().map(|(_, k)| *k as u8).collect();
                let names = entries
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>()
                    .join("\0");
                Ok(JsDirentList {
                    names,
                    kinds: Buffer::from(kinds),
                })
            },
        )
    }

    // ---- bytes ----


    /// `[offset, offset + length)` of a file (to its end when `length` is absent).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        path: String,
        offset: Option<f64>,
        length: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, Buffer>> {
        let plan = (|| {
            self.mount.check_open("read")?;
            let node = self
                .mount
                .with_read(|c| meta::file_inode(c, &path, "open"))?;
            let offset = to_u64("read", "offset", offset.unwrap_or(0.0))?;
            let length = match length {
                Some(l) => to_u64("read", "length", l)?,
                None => node.size.saturating_sub(offset),
            };
            Ok((node, offset, length))
        })();
        let mount = self.mount.clone();
        async_call(
            env,
            "read",
            async move {
                let (node, offset, length) = plan?;
                mount
                    .read_range(node.extents()?, node.size, offset, length)
                    .await
            },
            |_, data| Ok(Buffer::from(data)),
        )
    }

    #[napi(ts_return_type = "Promise<JsRefresh>")]
    pub fn refresh<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsRefresh>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "refresh",
            async move { Ok((mount.refresh().await?, mount.seq())) },
            |_, (outcome, seq)| {
                let outcome = match outcome {
                    RefreshOutcome::Unchanged => "unchanged",
                    RefreshOutcome::Advanced { .. } => "advanced",
                    RefreshOutcome::Rebuilt { .. } => "rebuilt",
                };
                Ok(JsRefresh {
                    outcome: outcome.into(),
                    seq: seq as f64,
                })
            },
        )
    }

    // ---- writes, one commit each (grouped when concurrent) ----

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn write_file<'env>(
        &self,
        env: &'env Env,
        path: String,
        data: Buffer,
        options: Option<JsWriteOptions>,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let (data, opts) = (owned(&data), WriteOptions::from(options));
        write_op!(self, env, "open", |tx| tx.write_file(&path, &data, opts))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn append_file<'env>(
        &self,
        env: &'env Env,
        path: String,
        data: Buffer,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let data = owned(&data);
        write_op!(self, env, "open", |tx| tx.append_file(&path, &data))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn mkdir<'env>(
        &self,
        env: &'env Env,
        path: String,
        recursive: bool,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        write_op!(self, env, "mkdir", |tx| tx.mkdir(&path, recursive))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn rm<'env>(
        &self,
        env: &'env Env,
        path: String,
        recursive: bool,
        force: bool,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        write_op!(self, env, "rm", |tx| tx.rm(&path, recursive, force))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn rmdir<'env>(
        &self,
        env: &'env Env,
        path: String,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        write_op!(self, env, "rmdir", |tx| tx.rmdir(&path))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn rename<'env>(
        &self,
        env: &'env Env,
        from: String,
        to: String,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        write_op!(self, env, "rename", |tx| tx.rename(&from, &to))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn copy<'env>(
        &self,
        env: &'env Env,
        from: String,
        to: String,
        recursive: bool,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        write_op!(self, env, "copyfile", |tx| tx.copy(&from, &to, recursive))
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn symlink<'env>(
        &self,
        env: &'env Env,
        target: String,
        path: String,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        write_op!(self, env, "symlink", |tx| tx.symlink(&target, &path))
    }

    /// chmod (`mode`) and utimes (`mtimeMs`).
    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn set_attr<'env>(
        &self,
        env: &'env Env,
        path: String,
        mode: Option<u32>,
        mtime_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let syscall = if mode.is_some() { "chmod" } else { "utime" };
        let mtime = to_mtime(syscall, &path, mtime_ms);
        let mount = self.mount.clone();
        async_call(
            env,
            "setattr",
            async move {
                let mtime = mtime?;
                mount
                    .write(Box::new(move |tx: &mut CommitBatch| {
                        tx.set_attr(&path, mode, mtime, syscall)
                    }))
                    .await
            },
            |_, c| Ok(JsCommit::from(c)),
        )
    }

    /// Streams bytes into a new file: `push` them, then `commit` to a path.
    #[napi]
    pub fn create_upload(&self, env: Env) -> napi::Result<NativeUpload> {
        sync_call(&env, "open", || {
            Ok(NativeUpload {
                upload: Arc::new(tokio::sync::Mutex::new(Some(Upload::new(
                    self.mount.clone(),
                )?))),
                mount: self.mount.clone(),
            })
        })
    }

    /// Uploads a local file (read a chunk at a time) and commits it at `path`.
    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn write_local_file<'env>(
        &self,
        env: &'env Env,
        path: String,
        local_path: String,
        options: Option<JsWriteOptions>,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let opts = WriteOptions::from(options);
        let mount = self.mount.clone();
        async_call(
            env,
            "open",
            async move {
                mount.check_writable("open", &path)?;
                let staged = mount
                    .upload_local_file(std::path::Path::new(&local_path))
                    .await?;
                mount.commit_staged(path, staged, opts).await
            },
            |_, c| Ok(JsCommit::from(c)),
        )
    }

    /// A handle on the file as it is now: later commits do not change what it reads.
    #[napi]
    pub fn open_file(&self, env: Env, path: String) -> napi::Result<NativeFileHandle> {
        sync_call(&env, "open", || {
            self.mount.check_open("open")?;
            let node = self
                .mount
                .with_read(|c| meta::file_inode(c, &path, "open"))?;
            Ok(NativeFileHandle {
                mount: self.mount.clone(),
                extents: Arc::new(node.extents()?),
                size: node.size,
            })
        })
    }

    /// A real local read-only copy under cacheRoot, pinned until `release(id)`.
    #[napi(ts_return_type = "Promise<JsMaterialized>")]
    pub fn materialize<'env>(
        &self,
        env: &'env Env,
        path: String,
    ) -> napi::Result<PromiseRaw<'env, JsMaterialized>> {
        let node = self
            .mount
            .check_open("materialize")
            .and_then(|_| self.mount.with_read(|c| meta::file_inode(c, &path, "open")));
        let mount = self.mount.clone();
        async_call(
            env,
            "materialize",
            async move {
                let node = node?;
                mount.materialize(node.extents()?, node.size).await
            },
            |_, m| {
                Ok(JsMaterialized {
                    id: m.id,
                    path: m.path.to_string_lossy().into_owned(),
                    size: m.size as f64,
                })
            },
        )
    }

    #[napi]
    pub fn release(&self, id: String) {
        self.mount.release(&id);
    }

    /// Deletes objects no retained state uses once they have been unreachable for `graceMs`.
    #[napi(ts_return_type = "Promise<JsGcReport>")]
    pub fn gc<'env>(
        &self,
        env: &'env Env,
        grace_ms: f64,
        dry_run: bool,
        keep_commits: Option<f64>,
        keep_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, JsGcReport>> {
        let args = (|| {
            Ok((
                to_u64("gc", "graceMs", grace_ms)?,
                KeepHistory {
                    commits: to_u64("gc", "keepHistory.commits", keep_commits.unwrap_or(0.0))?,
                    ms: to_u64("gc", "keepHistory.ms", keep_ms.unwrap_or(0.0))?,
                },
            ))
        })();
        let mount = self.mount.clone();
        async_call(
            env,
            "gc",
            async move {
                let (grace, keep) = args?;
                mount.gc(grace, dry_run, keep).await
            },
            |_, r: GcReport| {
                Ok(JsGcReport {
                    scanned: r.scanned as f64,
                    reachable: r.reachable as f64,
                    pending: r.pending as f64,
                    deleted: r.deleted as f64,
                    bytes_freed: r.bytes_freed as f64,
                    deleted_keys: r.deleted_keys,
                    dry_run: r.dry_run,
                })
            },
        )
    }

    /// The newest commits, newest first.
    #[napi(ts_return_type = "Promise<JsLogEntry[]>")]
    pub fn log<'env>(
        &self,
        env: &'env Env,
        limit: u32,
    ) -> napi::Result<PromiseRaw<'env, Vec<JsLogEntry>>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "log",
            async move { mount.log(limit as usize).await },
            |_, entries: Vec<LogEntry>| {
                Ok(entries
                    .into_iter()
                    .map(|e| JsLogEntry {
                        seq: e.seq as f64,
                        epoch: e.epoch as f64,
                        time_ms: e.time_ms as f64,
                        key: e.key,
                        files_changed: e.files_changed as f64,
                        bytes: e.bytes as f64,
                    })
                    .collect())
            },
        )
    }

    /// Fetches every referenced object and checks it against its hashes.
    #[napi(ts_return_type = "Promise<JsFsckReport>")]
    pub fn fsck<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsFsckReport>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "fsck",
            async move { mount.fsck().await },
            |_, r: FsckReport| {
                Ok(JsFsckReport {
                    objects: r.objects as f64,
                    extents: r.extents as f64,
                    bytes_checked: r.bytes_checked as f64,
                    missing: r.missing,
                    corrupt: r.corrupt,
                    ok: r.ok,
                })
            },
        )
    }

    /// Opens a transaction on the committed state as it is now (no lock is taken); nothing in it is
    /// visible until `commit`.
    #[napi(ts_return_type = "Promise<NativeTxn>")]
    pub fn begin<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, NativeTxn>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "transaction",
            async move { Txn::begin(mount.clone()).map(|tx| (tx, mount)) },
            |_, (tx, mount)| {
                Ok(NativeTxn {
                    mount,
                    txn: Arc::new(Mutex::new(Some(tx))),
                })
            },
        )
    }
}

read_surface!(NativeMount);

impl NativeMount {
    /// Runs a read on the committed state (behind the panic guard).
    fn read_view<T>(
        &self,
        env: &Env,
        syscall: &str,
        f: impl FnOnce(&dyn FsRead) -> FsResult<T>,
    ) -> napi::Result<T> {
        sync_call(env, syscall, || f(&*self.mount))
    }
}
