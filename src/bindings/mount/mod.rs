//! `NativeMount`: a mounted workspace as a JS class. Metadata calls are synchronous (SQLite on the
//! caller's thread); byte reads and commits return promises resolved from tokio.
//! Writes are in writes.rs, log/fsck/gc in maintenance.rs, history in ../history.rs.

mod maintenance;
mod writes;

use super::io::{JsMaterialized, NativeFileHandle};
use super::store::NativeObjectStore;
use super::txn::NativeTxn;
use super::types::*;
use super::{async_call, sync_call, to_u64};
use crate::engine::{meta, FsRead, Mount, MountConfig, Txn};
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
            index_entries: s.index_entries.map(|n| n as f64),
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
                Ok(JsRefresh {
                    outcome: JsRefreshOutcome::from(&outcome),
                    seq: seq as f64,
                })
            },
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
