//! `NativeTxn`: a transaction as a JS class. Writes are synchronous (staged in the transaction's own
//! view); reads see its snapshot plus its own writes; `commit` resolves once the commit is durable.

use super::types::{FileBytes, JsCommit, JsWriteOptions};
use super::{async_call, sync_call, to_mtime};
use crate::engine::{FsRead, FsWrites, Mount, Txn, WriteOptions, STAGED_BYTES_MAX};
use crate::error::{FsError, FsResult};
use napi::bindgen_prelude::*;
use napi::Env;
use napi::JsString;
use napi_derive::napi;
use std::sync::{Arc, Mutex};

#[napi]
pub struct NativeTxn {
    pub(crate) mount: Arc<Mount>,
    pub(crate) txn: Arc<Mutex<Option<Txn>>>,
}

read_surface!(NativeTxn);

impl NativeTxn {
    /// Runs a read on the transaction's view.
    fn read_view<T>(
        &self,
        env: &Env,
        syscall: &str,
        f: impl FnOnce(&dyn FsRead) -> FsResult<T>,
    ) -> napi::Result<T> {
        self.with(env, syscall, |tx| f(tx))
    }

    fn with<T>(
        &self,
        env: &Env,
        syscall: &str,
        f: impl FnOnce(&mut Txn) -> FsResult<T>,
    ) -> napi::Result<T> {
        sync_call(env, syscall, || {
            let mut guard = self.txn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = guard.as_mut().ok_or_else(|| {
                FsError::invalid(syscall, None, "the transaction has already finished")
            })?;
            f(tx)
        })
    }
}

#[napi]
impl NativeTxn {
    #[napi]
    pub fn write_file(
        &self,
        env: Env,
        path: String,
        data: Either<JsString<'_>, Buffer>,
        options: Option<JsWriteOptions>,
    ) -> napi::Result<bool> {
        let data = FileBytes::new(data)?;
        self.with(&env, "open", |tx| {
            tx.write_file(&path, data.as_slice(), options.into())?;
            Ok(tx.needs_drain())
        })
    }
    /// Like `write_file`: true when the caller should `drain` before writing more.
    #[napi]
    pub fn append_file(&self, env: Env, path: String, data: Buffer) -> napi::Result<bool> {
        self.with(&env, "open", |tx| {
            tx.append_file(&path, &data)?;
            Ok(tx.needs_drain())
        })
    }
    /// Waits until the transaction's uploads in flight are back under the limit (backpressure).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn drain<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let uploads = self
            .txn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|tx| tx.uploads());
        async_call(
            env,
            "write",
            async move {
                match uploads {
                    Some(u) => u.wait_below(STAGED_BYTES_MAX / 2).await,
                    None => Ok(()),
                }
            },
            |_, ()| Ok(()),
        )
    }
    #[napi]
    pub fn mkdir(&self, env: Env, path: String, recursive: bool) -> napi::Result<()> {
        self.with(&env, "mkdir", |tx| tx.mkdir(&path, recursive))
    }
    #[napi]
    pub fn rm(&self, env: Env, path: String, recursive: bool, force: bool) -> napi::Result<()> {
        self.with(&env, "rm", |tx| tx.rm(&path, recursive, force))
    }
    #[napi]
    pub fn rmdir(&self, env: Env, path: String) -> napi::Result<()> {
        self.with(&env, "rmdir", |tx| tx.rmdir(&path))
    }
    #[napi]
    pub fn rename(&self, env: Env, from: String, to: String) -> napi::Result<()> {
        self.with(&env, "rename", |tx| tx.rename(&from, &to))
    }
    #[napi]
    pub fn copy(&self, env: Env, from: String, to: String, recursive: bool) -> napi::Result<()> {
        self.with(&env, "copyfile", |tx| tx.copy(&from, &to, recursive))
    }
    #[napi]
    pub fn symlink(&self, env: Env, target: String, path: String) -> napi::Result<()> {
        self.with(&env, "symlink", |tx| tx.symlink(&target, &path))
    }
    #[napi]
    pub fn set_attr(
        &self,
        env: Env,
        path: String,
        mode: Option<u32>,
        mtime_ms: Option<f64>,
    ) -> napi::Result<()> {
        let syscall = if mode.is_some() { "chmod" } else { "utime" };
        self.with(&env, syscall, |tx| {
            tx.set_attr(&path, mode, to_mtime(syscall, &path, mtime_ms)?, syscall)
        })
    }

    /// Uploads a local file a chunk at a time (outside the transaction's lock), then writes it here.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn write_local_file<'env>(
        &self,
        env: &'env Env,
        path: String,
        local_path: String,
        options: Option<JsWriteOptions>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (opts, mount, txn) = (
            WriteOptions::from(options),
            self.mount.clone(),
            self.txn.clone(),
        );
        async_call(
            env,
            "open",
            async move {
                let staged = mount
                    .upload_local_file(std::path::Path::new(&local_path))
                    .await?;
                let mut guard = txn.lock().unwrap_or_else(|p| p.into_inner());
                let tx = guard.as_mut().ok_or_else(|| {
                    FsError::invalid("open", Some(&path), "the transaction has already finished")
                })?;
                tx.write_staged(&path, staged, opts)
            },
            |_, ()| Ok(()),
        )
    }

    /// The file as this transaction sees it, its own writes included.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn read_file<'env>(
        &self,
        env: &'env Env,
        path: String,
    ) -> napi::Result<PromiseRaw<'env, Buffer>> {
        let plan = {
            let guard = self.txn.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .ok_or_else(|| {
                    FsError::invalid("open", Some(&path), "the transaction has already finished")
                })
                .and_then(|tx| Ok((tx.read_pieces(&path)?, tx.uploads())))
        };
        let mount = self.mount.clone();
        async_call(
            env,
            "read",
            async move {
                let (pieces, uploads) = plan?;
                // The bytes may be this transaction's own upload, still on its way.
                uploads.wait_below(0).await?;
                mount.assemble(pieces).await
            },
            |_, data| Ok(Buffer::from(data)),
        )
    }

    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn commit<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let tx = self.txn.lock().unwrap_or_else(|p| p.into_inner()).take();
        async_call(
            env,
            "commit",
            async move {
                tx.ok_or_else(|| {
                    FsError::invalid("commit", None, "the transaction has already finished")
                })?
                .commit()
                .await
            },
            |_, c| Ok(JsCommit::from(c)),
        )
    }

    /// Drops everything the transaction did.
    #[napi]
    pub fn abort(&self) {
        if let Some(tx) = self.txn.lock().unwrap_or_else(|p| p.into_inner()).take() {
            tx.abort();
        }
    }
}
