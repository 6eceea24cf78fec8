//! The plain objects `NativeObjectStore` takes and gives (options, results, counts, fault rules).

use crate::store::*;
use napi::bindgen_prelude::*;
use napi_derive::napi;

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
