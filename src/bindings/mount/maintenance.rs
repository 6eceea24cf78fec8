//! Upkeep on `NativeMount`: the commit log, fsck, and garbage collection.

use super::*;
use crate::engine::{FsckReport, GcReport, KeepHistory, LogEntry};

#[napi]
impl NativeMount {
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
}
