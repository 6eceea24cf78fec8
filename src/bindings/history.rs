//! History on `NativeMount`: checkpoints, diff and restore (see engine/history/).

use super::mount::NativeMount;
use super::store::NativeObjectStore;
use super::types::{JsChangeKind, JsCommit, JsEntryKind};
use super::{async_call, to_u64};
use crate::engine::{At, Change, ForkInfo};
use crate::error::FsResult;
use crate::protocol::checkpoint::Checkpoint;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// A commit as JS names it: a seq, or a checkpoint name.
pub(crate) fn to_at(v: Either<f64, String>) -> FsResult<At> {
    match v {
        Either::A(seq) => to_u64("history", "at", seq).map(At::Seq),
        Either::B(name) => Ok(At::Checkpoint(name)),
    }
}

#[napi(object)]
pub struct JsCheckpoint {
    pub name: String,
    pub seq: f64,
    pub message: Option<String>,
    pub time_ms: f64,
}

impl From<Checkpoint> for JsCheckpoint {
    fn from(c: Checkpoint) -> Self {
        JsCheckpoint {
            name: c.name,
            seq: c.seq as f64,
            message: c.message,
            time_ms: c.time_ms as f64,
        }
    }
}

#[napi(object)]
pub struct JsChange {
    pub path: String,
    pub change: JsChangeKind,
    /// Where a renamed entry was.
    pub from_path: Option<String>,
    pub kind: JsEntryKind,
    pub size_before: Option<f64>,
    pub size_after: Option<f64>,
}

impl From<Change> for JsChange {
    fn from(c: Change) -> Self {
        JsChange {
            path: c.path,
            change: c.change.into(),
            from_path: c.from_path,
            kind: c.kind.into(),
            size_before: c.size_before.map(|s| s as f64),
            size_after: c.size_after.map(|s| s as f64),
        }
    }
}

#[napi]
impl NativeMount {
    /// Names the commit this mount is at (one create-only PUT).
    #[napi(ts_return_type = "Promise<JsCheckpoint>")]
    pub fn checkpoint<'env>(
        &self,
        env: &'env Env,
        name: String,
        message: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, JsCheckpoint>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "checkpoint",
            async move { mount.checkpoint(&name, message).await },
            |_, c| Ok(JsCheckpoint::from(c)),
        )
    }

    #[napi(ts_return_type = "Promise<JsCheckpoint[]>")]
    pub fn checkpoints<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<JsCheckpoint>>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "checkpoint",
            async move { mount.checkpoints().await },
            |_, all| Ok(all.into_iter().map(JsCheckpoint::from).collect()),
        )
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete_checkpoint<'env>(
        &self,
        env: &'env Env,
        name: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "checkpoint",
            async move { mount.delete_checkpoint(&name).await },
            |_, ()| Ok(()),
        )
    }

    /// Forks made from this workspace that still pin its data.
    #[napi(ts_return_type = "Promise<JsCheckpoint[]>")]
    pub fn forks<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Vec<JsCheckpoint>>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "forks",
            async move { mount.forks().await },
            |_, all| Ok(all.into_iter().map(JsCheckpoint::from).collect()),
        )
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn release_fork<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let mount = self.mount.clone();
        async_call(
            env,
            "forks",
            async move { mount.release_fork(&id).await },
            |_, ()| Ok(()),
        )
    }

    /// Changes from `from` to `to` (this mount's state when absent), under `path`.
    #[napi(ts_return_type = "Promise<JsChange[]>")]
    pub fn diff<'env>(
        &self,
        env: &'env Env,
        from: Either<f64, String>,
        to: Option<Either<f64, String>>,
        path: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, Vec<JsChange>>> {
        let args = to_at(from).and_then(|f| Ok((f, to.map(to_at).transpose()?)));
        let mount = self.mount.clone();
        async_call(
            env,
            "diff",
            async move {
                let (from, to) = args?;
                mount.diff(from, to, path).await
            },
            |_, all| Ok(all.into_iter().map(JsChange::from).collect()),
        )
    }

    /// Makes the tree (or `paths`) what it was at `at`, as one new commit.
    #[napi(ts_return_type = "Promise<JsCommit>")]
    pub fn restore<'env>(
        &self,
        env: &'env Env,
        at: Either<f64, String>,
        paths: Option<Vec<String>>,
    ) -> napi::Result<PromiseRaw<'env, JsCommit>> {
        let at = to_at(at);
        let mount = self.mount.clone();
        async_call(
            env,
            "restore",
            async move { mount.restore(at?, paths).await },
            |_, c| Ok(JsCommit::from(c)),
        )
    }
}

#[napi(object)]
pub struct JsFork {
    /// The source commit the fork starts from.
    pub from_seq: f64,
    pub prefix: String,
    /// Its registration under the source's `refs/forks/`.
    pub id: String,
}

impl From<ForkInfo> for JsFork {
    fn from(f: ForkInfo) -> Self {
        JsFork {
            from_seq: f.from_seq as f64,
            prefix: f.prefix,
            id: f.id,
        }
    }
}

/// Forks the workspace in `source` (at `at`, else its head) to `toPrefix` of the same bucket.
#[napi(ts_return_type = "Promise<JsFork>")]
pub fn fork_workspace<'env>(
    env: &'env Env,
    source: &NativeObjectStore,
    to_prefix: String,
    at: Option<Either<f64, String>>,
) -> napi::Result<PromiseRaw<'env, JsFork>> {
    let (store, at) = (source.store.clone(), at.map(to_at).transpose());
    async_call(
        env,
        "fork",
        async move { crate::engine::fork(store, at?, &to_prefix).await },
        |_, f| Ok(JsFork::from(f)),
    )
}
