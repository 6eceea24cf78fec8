//! `NativeObjectStore`: the object-store layer as a JS class (factories for the stores, wrappers for
//! counting, faults and retries, the probe). Used by js/core and by the conformance tests.

use super::{async_call, sync_call, to_u64};
use crate::error::FsError;
use crate::store::*;
use bytes::Bytes;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;

#[napi(object)]
pub struct JsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

#[napi(object)]
pub struct JsS3Options {
    pub bucket: String,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub force_path_style: Option<bool>,
    pub credentials: Option<JsCredentials>,
}

impl From<JsS3Options> for S3Config {
    fn from(o: JsS3Options) -> Self {
        S3Config {
            bucket: o.bucket,
            prefix: o.prefix.unwrap_or_default(),
            region: o.region,
            endpoint: o.endpoint,
            force_path_style: o.force_path_style,
            credentials: o.credentials.map(|c| S3Credentials {
                access_key_id: c.access_key_id,
                secret_access_key: c.secret_access_key,
                session_token: c.session_token,
            }),
        }
    }
}

#[napi(object)]
pub struct JsRetryOptions {
    pub max_attempts: Option<u32>,
    pub base_delay_ms: Option<u32>,
    pub max_delay_ms: Option<u32>,
}

#[napi(object)]
pub struct JsGetOptions {
    /// First byte, inclusive.
    pub start: Option<f64>,
    /// End, exclusive.
    pub end: Option<f64>,
    /// The last `suffix` bytes.
    pub suffix: Option<f64>,
    pub if_none_match: Option<String>,
}

#[napi(object)]
pub struct JsGetResult {
    pub data: Buffer,
    pub etag: String,
    pub size: i64,
}

#[napi(object)]
pub struct JsObjectMeta {
    pub key: String,
    pub size: i64,
    pub etag: String,
}

impl From<ObjectMeta> for JsObjectMeta {
    fn from(m: ObjectMeta) -> Self {
        JsObjectMeta {
            key: m.key,
            size: m.size as i64,
            etag: m.etag,
        }
    }
}

#[napi(object)]
pub struct JsPutOptions {
    /// `"overwrite"` (default), `"create"` (If-None-Match: *) or `"update"` (If-Match: etag).
    pub mode: Option<String>,
    pub etag: Option<String>,
}

#[napi(object)]
pub struct JsListOptions {
    pub delimiter: Option<String>,
    pub page_size: Option<u32>,
}

#[napi(object)]
pub struct JsListResult {
    pub objects: Vec<JsObjectMeta>,
    pub common_prefixes: Vec<String>,
    pub pages: u32,
}

#[napi(object)]
pub struct JsRequestCounts {
    pub get: i64,
    pub head: i64,
    pub put: i64,
    pub list: i64,
    pub delete: i64,
    pub delete_many: i64,
    pub bytes_up: i64,
    pub bytes_down: i64,
    pub total: i64,
}

impl From<RequestCounts> for JsRequestCounts {
    fn from(c: RequestCounts) -> Self {
        JsRequestCounts {
            get: c.get as i64,
            head: c.head as i64,
            put: c.put as i64,
            list: c.list as i64,
            delete: c.delete as i64,
            delete_many: c.delete_many as i64,
            bytes_up: c.bytes_up as i64,
            bytes_down: c.bytes_down as i64,
            total: c.total() as i64,
        }
    }
}

#[napi(object)]
pub struct JsFailRule {
    /// `"error"`, `"transient"`, `"lostResponse"`, `"delay"` or `"ignorePreconditions"`.
    pub action: String,
    /// Request kinds: `get`, `head`, `put`, `list`, `delete`, `deleteMany`; all when absent.
    pub kinds: Option<Vec<String>>,
    pub key_contains: Option<String>,
    /// For `error`/`transient`: the HTTP status and code to report.
    pub status: Option<u32>,
    pub code: Option<String>,
    pub delay_ms: Option<u32>,
    pub skip: Option<u32>,
    pub times: Option<u32>,
    pub probability: Option<f64>,
}

#[napi(object)]
pub struct JsProbeReport {
    pub create_only_enforced: bool,
    pub stale_replace_refused: bool,
    pub current_replace_accepted: bool,
    pub create_race_single_winner: bool,
    pub race_winners: u32,
    pub compliant: bool,
    pub findings: Vec<String>,
}

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

    #[napi]
    pub fn with_retry(&self, options: Option<JsRetryOptions>) -> NativeObjectStore {
        let mut policy = RetryPolicy::default();
        if let Some(o) = options {
            policy.max_attempts = o.max_attempts.unwrap_or(policy.max_attempts).max(1);
            policy.base_delay = o
                .base_delay_ms
                .map(|m| Duration::from_millis(m as u64))
                .unwrap_or(policy.base_delay);
            policy.max_delay = o
                .max_delay_ms
                .map(|m| Duration::from_millis(m as u64))
                .unwrap_or(policy.max_delay);
        }
        Self::wrap(Arc::new(RetryingObjectStore::new(
            self.store.clone(),
            policy,
        )))
    }

    /// A wrapper that counts requests by kind and bytes moved (`counts()`).
    #[napi]
    pub fn counting(&self) -> NativeObjectStore {
        let c = Arc::new(CountingObjectStore::new(self.store.clone()));
        Self {
            store: c.clone(),
            counting: Some(c),
            failing: None,
        }
    }

    /// A wrapper that injects faults by rule (`addFailRule`).
    #[napi]
    pub fn failing(&self, seed: Option<u32>) -> NativeObjectStore {
        let f = Arc::new(FailingObjectStore::new(
            self.store.clone(),
            seed.unwrap_or(1) as u64,
        ));
        Self {
            store: f.clone(),
            counting: None,
            failing: Some(f),
        }
    }

    /// Request counts, on a store made by `counting()`.
    #[napi]
    pub fn counts(&self, env: Env) -> napi::Result<JsRequestCounts> {
        sync_call(&env, "counts", || {
            Ok(self
                .counting
                .as_ref()
                .ok_or_else(|| bad_arg("counts", "not a counting store; call counting() first"))?
                .counts()
                .into())
        })
    }

    #[napi]
    pub fn reset_counts(&self) {
        if let Some(c) = &self.counting {
            c.reset();
        }
    }

    #[napi]
    pub fn add_fail_rule(&self, env: Env, rule: JsFailRule) -> napi::Result<()> {
        sync_call(&env, "addFailRule", || {
            let failing = self.failing.as_ref().ok_or_else(|| {
                bad_arg("addFailRule", "not a failing store; call failing() first")
            })?;
            let status = rule.status.map(|s| s as u16);
            let code = rule.code.clone().unwrap_or_else(|| "InjectedFault".into());
            let action = match rule.action.as_str() {
                "error" => FailAction::Error(StoreError::Other {
                    op: "injected".into(),
                    key: String::new(),
                    status,
                    code,
                    message: "injected fault".into(),
                }),
                "transient" => FailAction::Error(StoreError::Transient {
                    op: "injected".into(),
                    key: String::new(),
                    status: status.or(Some(503)),
                    code,
                    message: "injected fault".into(),
                }),
                "lostResponse" => FailAction::LostResponse,
                "delay" => {
                    FailAction::Delay(Duration::from_millis(rule.delay_ms.unwrap_or(0) as u64))
                }
                "ignorePreconditions" => FailAction::IgnorePreconditions,
                other => return Err(bad_arg("addFailRule", format!("unknown action {other:?}"))),
            };
            let kinds = rule
                .kinds
                .unwrap_or_default()
                .iter()
                .map(|k| {
                    RequestKind::parse(k).ok_or_else(|| {
                        bad_arg("addFailRule", format!("unknown request kind {k:?}"))
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if rule.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                return Err(bad_arg("addFailRule", "probability must be within [0, 1]"));
            }
            failing.add_rule(FailRule {
                kinds,
                key_contains: rule.key_contains,
                action,
                skip: rule.skip.unwrap_or(0),
                times: rule.times,
                probability: rule.probability,
            });
            Ok(())
        })
    }

    #[napi]
    pub fn clear_fail_rules(&self) {
        if let Some(f) = &self.failing {
            f.clear_rules();
        }
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
