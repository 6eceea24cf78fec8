//! Byte handles: `NativeFileHandle` (reads of a file as it was when opened) and `NativeUpload` (a
//! streamed write, committed at a path).

use super::types::{owned, JsCommit, JsWriteOptions};
use super::{async_call, to_u64};
use crate::engine::{Mount, Upload, WriteOptions};
use crate::error::FsError;
use crate::namespace::Extent;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use std::sync::Arc;

#[napi(object)]
pub struct JsMaterialized {
    pub id: String,
    pub path: String,
    pub size: f64,
}

#[napi]
pub struct NativeFileHandle {
    pub(crate) mount: Arc<Mount>,
    pub(crate) extents: Arc<Vec<Extent>>,
    pub(crate) size: u64,
}

#[napi]
impl NativeFileHandle {
    #[napi(getter)]
    pub fn size(&self) -> f64 {
        self.size as f64
    }

    /// `[offset, offset + length)`, clipped to the file's size.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        offset: f64,
        length: f64,
    ) -> napi::Result<PromiseRaw<'env, Buffer>> {
        let range = to_u64("read", "offset", offset)
            .and_then(|o| Ok((o, to_u64("read", "length", length)?)));
        let (mount, extents, size) = (self.mount.clone(), self.extents.clone(), self.size);
        async_call(
            env,
            "read",
            async move {
                let (offset, length) = range?;
                mount
                    .read_range(extents.to_vec(), size, offset, length)
                    .await
            },
            |_, data| Ok(Buffer::from(data)),
        )
    }
}

#[napi]
pub struct NativeUpload {
    pub(crate) mount: Arc<Mount>,
    pub(crate) upload: Arc<tokio::sync::Mutex<Option<Upload>>>,
}

#[napi]
impl NativeUpload {
    /// Resolves once the bytes are taken; waits while too many chunks are in flight.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn push<'env>(&self, env: &'env Env, data: Buffer) -> napi::Result<PromiseRaw<'env, ()>> {
        let (data, upload) = (owned(&data), self.upload.clone());
        async_call(
            env,
            "write",
            async move {
                let mut guard = upload.lock().await;
                guard
                    .as_mut()
                    .ok_or_else(|| {
                        FsError::invalid("write", None, "the upload has already finished")
                    })?
                    .push(&data)
                    .await
            },
            |_, ()| Ok(()),
        )
    }

    /// Finishes the upload and commits it at `path`.
    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn commit<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<JsWriteOptions>,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let (opts, upload, mount) = (
            WriteOptions::from(options),
            self.upload.clone(),
            self.mount.clone(),
        );
        async_call(
            env,
            "open",
            async move {
                let up = upload.lock().await.take().ok_or_else(|| {
                    FsError::invalid("open", Some(&path), "the upload has already finished")
                })?;
                let staged = up.finish().await?;
                mount.commit_staged(path, staged, opts).await
            },
            |_, c| Ok(JsCommit::from(c)),
        )
    }

    /// Drops the upload; chunks already sent are unreferenced garbage.
    #[napi]
    pub fn abort(&self) {
        if let Ok(mut g) = self.upload.try_lock() {
            g.take();
        }
    }
}
