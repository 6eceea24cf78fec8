//! Writes on `NativeMount`: each call becomes part of a (possibly grouped) commit and resolves once
//! it is durable.

use super::*;
use crate::bindings::io::NativeUpload;
use crate::bindings::to_mtime;
use crate::engine::{CommitBatch, FsWrites, Upload, WriteOptions};
use napi::JsString;

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
    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn write_file<'env>(
        &self,
        env: &'env Env,
        path: String,
        data: Either<JsString<'env>, Buffer>,
        options: Option<JsWriteOptions>,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let data = owned(FileBytes::new(data)?.as_slice());
        let opts = WriteOptions::from(options);
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
}
