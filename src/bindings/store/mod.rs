//! `NativeObjectStore`: the object-store layer as a JS class: factories for the stores and the
//! requests (here), wrappers for retries, counting and faults (wrappers.rs), the plain objects that
//! cross to JS (types.rs). Used by js/core and by the conformance tests.

mod types;
mod wrappers;

pub use types::*;

use super::{async_call, sync_call, to_u64};
use crate::error::FsError;
use crate::store::*;
use bytes::Bytes;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use std::sync::Arc;

#[napi]
pub struct NativeObjectStore {
    pub(crate) store: DynObjectStore,
    counting: Option<Arc<CountingObjectStore>>,
    failing: Option<Arc<FailingObjectStore>>,
}

impl NativeObjectStore {
    fn wrap(store: DynObjectStore) -> Self {
        Self {
            store,
            counting: None,
            failing: None,
        }
    }
}

fn bad_arg(syscall: &str, why: impl Into<String>) -> FsError {
    FsError::invalid(syscall, None, why)
}

#[napi]
impl NativeObjectStore {
    /// A store whose objects are files under `root` (under `root/prefix` with a prefix).
    #[napi(factory)]
    pub fn local(env: Env, root: String, prefix: Option<String>) -> napi::Result<Self> {
        sync_call(&env, "open", || {
            let store = LocalObjectStore::with_prefix(&root, prefix.as_deref().unwrap_or(""))
                .map_err(|e| FsError::from_store("open", e))?;
            Ok(Self::wrap(Arc::new(store)))
        })
    }

    /// An S3 store (not retrying; see `withRetry`).
    #[napi(ts_return_type = "Promise<NativeObjectStore>")]
    pub fn s3(env: &Env, options: JsS3Options) -> napi::Result<PromiseRaw<'_, NativeObjectStore>> {
        let config = S3Config::from(options);
        async_call(
            env,
            "connect",
            async move {
                S3ObjectStore::new(config)
                    .await
                    .map_err(|e| FsError::from_store("connect", e))
            },
            |_, s| Ok(NativeObjectStore::wrap(Arc::new(s))),
        )
    }

    #[napi(ts_return_type = "Promise<JsGetResult>")]
    pub fn get<'env>(
        &self,
        env: &'env Env,
        key: String,
        options: Option<JsGetOptions>,
    ) -> napi::Result<PromiseRaw<'env, JsGetResult>> {
        let opts = (|| -> std::result::Result<GetOptions, FsError> {
            let Some(o) = options else {
                return Ok(GetOptions::default());
            };
            let range = match (o.start, o.end, o.suffix) {
                (None, None, None) => None,
                (_, _, Some(n)) => Some(ByteRange::Suffix(to_u64("get", "suffix", n)?)),
                (Some(s), Some(e), None) => Some(ByteRange::Bounded {
                    start: to_u64("get", "start", s)?,
                    end: to_u64("get", "end", e)?,
                }),
                (Some(s), None, None) => Some(ByteRange::From(to_u64("get", "start", s)?)),
                (None, Some(e), None) => Some(ByteRange::Bounded {
                    start: 0,
                    end: to_u64("get", "end", e)?,
                }),
            };
            Ok(GetOptions {
                range,
                if_none_match: o.if_none_match,
            })
        })();
        let store = self.store.clone();
        async_call(
            env,
            "get",
            async move {
                store
                    .get(&key, opts?)
                    .await
                    .map_err(|e| FsError::from_store("get", e))
            },
            |_, r| {
                Ok(JsGetResult {
                    data: r.data.to_vec().into(),
                    etag: r.etag,
                    size: r.size as i64,
                })
            },
        )
    }

    #[napi(ts_return_type = "Promise<JsObjectMeta>")]
    pub fn head<'env>(
        &self,
        env: &'env Env,
        key: String,
    ) -> napi::Result<PromiseRaw<'env, JsObjectMeta>> {
        let store = self.store.clone();
        async_call(
            env,
            "head",
            async move {
                store
                    .head(&key)
                    .await
                    .map_err(|e| FsError::from_store("head", e))
            },
            |_, m| Ok(JsObjectMeta::from(m)),
        )
    }

    /// Returns the new ETag.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn put<'env>(
        &self,
        env: &'env Env,
        key: String,
        data: Buffer,
        options: Option<JsPutOptions>,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let mode = match options
            .as_ref()
            .and_then(|o| o.mode.as_deref())
            .unwrap_or("overwrite")
        {
            "overwrite" => Ok(PutMode::Overwrite),
            "create" => Ok(PutMode::Create),
            "update" => options
                .as_ref()
                .and_then(|o| o.etag.clone())
                .map(PutMode::Update)
                .ok_or_else(|| bad_arg("put", "mode 'update' needs an etag")),
            other => Err(bad_arg("put", format!("unknown put mode {other:?}"))),
        };
        let body = Bytes::copy_from_slice(&data);
        let store = self.store.clone();
        async_call(
            env,
            "put",
            async move {
                store
                    .put(&key, body, mode?)
                    .await
                    .map_err(|e| FsError::from_store("put", e))
            },
            |_, etag| Ok(etag),
        )
    }

    /// Every page of a listing (`pageSize` keys per LIST request).
    #[napi(ts_return_type = "Promise<JsListResult>")]
    pub fn list<'env>(
        &self,
        env: &'env Env,
        prefix: String,
        options: Option<JsListOptions>,
    ) -> napi::Result<PromiseRaw<'env, JsListResult>> {
        let (delimiter, page_size) = options
            .map(|o| (o.delimiter, o.page_size))
            .unwrap_or((None, None));
        let store = self.store.clone();
        async_call(
            env,
            "list",
            async move {
                store
                    .list(&prefix, delimiter.as_deref(), page_size)
                    .await
                    .map_err(|e| FsError::from_store("list", e))
            },
            |_, r| {
                Ok(JsListResult {
                    objects: r.objects.into_iter().map(JsObjectMeta::from).collect(),
                    common_prefixes: r.common_prefixes,
                    pages: r.pages,
                })
            },
        )
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete<'env>(&self, env: &'env Env, key: String) -> napi::Result<PromiseRaw<'env, ()>> {
        let store = self.store.clone();
        async_call(
            env,
            "delete",
            async move {
                store
                    .delete(&key)
                    .await
                    .map_err(|e| FsError::from_store("delete", e))
            },
            |_, ()| Ok(()),
        )
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete_many<'env>(
        &self,
        env: &'env Env,
        keys: Vec<String>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let store = self.store.clone();
        async_call(
            env,
            "deleteMany",
            async move {
                store
                    .delete_many(&keys)
                    .await
                    .map_err(|e| FsError::from_store("deleteMany", e))
            },
            |_, ()| Ok(()),
        )
    }

    /// Checks that the store enforces create-only and replace-if puts (DESIGN.md invariant 5).
    #[napi(ts_return_type = "Promise<JsProbeReport>")]
    pub fn probe<'env>(
        &self,
        env: &'env Env,
        scratch_prefix: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, JsProbeReport>> {
        let store = self.store.clone();
        let prefix = scratch_prefix.unwrap_or_else(|| "_probe/".into());
        async_call(
            env,
            "probe",
            async move {
                probe_conditional_writes(store, &prefix)
                    .await
                    .map_err(|e| FsError::from_store("probe", e))
            },
            |_, r| {
                Ok(JsProbeReport {
                    create_only_enforced: r.create_only_enforced,
                    stale_replace_refused: r.stale_replace_refused,
                    current_replace_accepted: r.current_replace_accepted,
                    create_race_single_winner: r.create_race_single_winner,
                    race_winners: r.race_winners,
                    compliant: r.compliant,
                    findings: r.findings,
                })
            },
        )
    }
}
