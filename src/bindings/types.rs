//! The plain objects that cross to JS (options, stats, entries, results) and their conversions.

use crate::engine::{ChangeKind, CommitInfo, RefreshOutcome, WriteOptions};
use crate::namespace::Kind;
use crate::store::StoreErrorKind;
use napi::bindgen_prelude::*;
use napi::{JsString, JsStringUtf8};
use napi_derive::napi;

#[napi(object)]
pub struct JsMountOptions {
    pub name: String,
    pub readwrite: bool,
    pub cache_root: String,
    pub cache_bytes: f64,
    /// Names the bucket and prefix; local state made for another store is discarded.
    pub store_id: String,
    pub snapshot_every: Option<u32>,
    /// Mount the tree as it was at this commit: a seq, or a checkpoint name (readonly).
    pub at: Option<Either<f64, String>>,
}

// The string enums here (`JsEntryKind`, `JsRefreshOutcome`, `JsChangeKind`, `JsStoreErrorKind`) are
// string-literal unions in index.d.ts (`"constEnum": false` in package.json's `napi`), not TS enums:
// JS compares them with plain strings. Inputs stay `string`, checked here with EINVAL messages.

/// What an entry is.
#[napi(string_enum = "lowercase")]
pub enum JsEntryKind {
    File,
    Directory,
    Symlink,
}

impl From<Kind> for JsEntryKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::File => JsEntryKind::File,
            Kind::Dir => JsEntryKind::Directory,
            Kind::Symlink => JsEntryKind::Symlink,
        }
    }
}

#[napi(object)]
pub struct JsDirent {
    pub name: String,
    pub kind: JsEntryKind,
}

#[napi(object)]
pub struct JsDirentList {
    /// Entry names (relative paths when recursive) joined by NUL.
    pub names: String,
    /// One byte per entry: 1 file, 2 directory, 3 symlink.
    pub kinds: Buffer,
}

#[napi(object)]
pub struct JsWriteOptions {
    pub create_parents: Option<bool>,
    pub exclusive: Option<bool>,
    pub mode: Option<u32>,
    pub mtime_ms: Option<f64>,
}

impl From<Option<JsWriteOptions>> for WriteOptions {
    fn from(o: Option<JsWriteOptions>) -> Self {
        let Some(o) = o else {
            return WriteOptions::default();
        };
        WriteOptions {
            create_parents: o.create_parents.unwrap_or(false),
            exclusive: o.exclusive.unwrap_or(false),
            mode: o.mode,
            mtime: o.mtime_ms.filter(|m| m.is_finite()).map(|m| m as i64),
        }
    }
}

#[napi(object)]
pub struct JsCommit {
    pub seq: f64,
    pub committed: bool,
}

impl From<CommitInfo> for JsCommit {
    fn from(c: CommitInfo) -> Self {
        JsCommit {
            seq: c.seq as f64,
            committed: c.committed,
        }
    }
}

/// What a refresh did: nothing new, new commits applied, or the namespace rebuilt from a snapshot.
#[napi(string_enum = "lowercase")]
pub enum JsRefreshOutcome {
    Unchanged,
    Advanced,
    Rebuilt,
}

impl From<&RefreshOutcome> for JsRefreshOutcome {
    fn from(o: &RefreshOutcome) -> Self {
        match o {
            RefreshOutcome::Unchanged => JsRefreshOutcome::Unchanged,
            RefreshOutcome::Advanced { .. } => JsRefreshOutcome::Advanced,
            RefreshOutcome::Rebuilt { .. } => JsRefreshOutcome::Rebuilt,
        }
    }
}

#[napi(object)]
pub struct JsRefresh {
    pub outcome: JsRefreshOutcome,
    pub seq: f64,
}

#[napi(object)]
pub struct JsMountStats {
    pub requests: super::store::JsRequestCounts,
    pub cache_hits: f64,
    pub cache_misses: f64,
    pub cache_corrupt: f64,
    pub cache_evictions: f64,
    pub cache_used_bytes: f64,
    pub cache_capacity_bytes: f64,
    pub commits: f64,
    pub refreshes: f64,
    pub records_applied: f64,
    pub rebuilds: f64,
    pub seq: f64,
    pub epoch: f64,
    /// Entries in the in-memory index `stat` answers from, or `null` while there is none.
    pub index_entries: Option<f64>,
}

/// A missing path as `None` rather than an error (for `exists`-then-`stat` callers).
pub(crate) fn dirents(v: Vec<(String, Kind)>) -> Vec<JsDirent> {
    v.into_iter()
        .map(|(name, k)| JsDirent {
            name,
            kind: k.into(),
        })
        .collect()
}

/// Copies a JS buffer into memory the engine owns (it outlives the call).
pub(crate) fn owned(data: &[u8]) -> Vec<u8> {
    data.to_vec()
}

/// File contents as a caller gives them (`string | Buffer`). A string is taken as the UTF-8 the engine
/// writes it out as, without a `Buffer` made for it in JS first (for a small file, `Buffer.from` costs a
/// good part of a write) and without checking again what N-API has just encoded.
pub(crate) enum FileBytes<'env> {
    Text(JsStringUtf8<'env>),
    Bytes(Buffer),
}

impl<'env> FileBytes<'env> {
    pub(crate) fn new(data: Either<JsString<'env>, Buffer>) -> napi::Result<Self> {
        Ok(match data {
            Either::A(s) => FileBytes::Text(s.into_utf8()?),
            Either::B(b) => FileBytes::Bytes(b),
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            FileBytes::Text(s) => s.as_slice(),
            FileBytes::Bytes(b) => b,
        }
    }
}

#[napi(object)]
pub struct JsGcReport {
    pub scanned: f64,
    pub reachable: f64,
    pub pending: f64,
    pub deleted: f64,
    pub bytes_freed: f64,
    pub deleted_keys: Vec<String>,
    pub dry_run: bool,
}

#[napi(object)]
pub struct JsLogEntry {
    pub seq: f64,
    pub epoch: f64,
    pub time_ms: f64,
    pub key: String,
    pub files_changed: f64,
    pub bytes: f64,
}

#[napi(object)]
pub struct JsFsckReport {
    pub objects: f64,
    pub extents: f64,
    pub bytes_checked: f64,
    pub missing: Vec<String>,
    pub corrupt: Vec<String>,
    pub ok: bool,
}

/// How one path changed between two commits (`diff`).
#[napi(string_enum = "camelCase")]
pub enum JsChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed,
    TypeChanged,
    ModeChanged,
}

impl From<ChangeKind> for JsChangeKind {
    fn from(c: ChangeKind) -> Self {
        match c {
            ChangeKind::Added => JsChangeKind::Added,
            ChangeKind::Modified => JsChangeKind::Modified,
            ChangeKind::Deleted => JsChangeKind::Deleted,
            ChangeKind::Renamed => JsChangeKind::Renamed,
            ChangeKind::TypeChanged => JsChangeKind::TypeChanged,
            ChangeKind::ModeChanged => JsChangeKind::ModeChanged,
        }
    }
}

/// The store's kind of failure, on an error as `storeError` (docs/errors.md).
#[napi(string_enum)]
pub enum JsStoreErrorKind {
    NotFound,
    AlreadyExists,
    PreconditionFailed,
    NotModified,
    Transient,
    Credentials,
    Other,
}

impl From<StoreErrorKind> for JsStoreErrorKind {
    fn from(k: StoreErrorKind) -> Self {
        match k {
            StoreErrorKind::NotFound => JsStoreErrorKind::NotFound,
            StoreErrorKind::AlreadyExists => JsStoreErrorKind::AlreadyExists,
            StoreErrorKind::PreconditionFailed => JsStoreErrorKind::PreconditionFailed,
            StoreErrorKind::NotModified => JsStoreErrorKind::NotModified,
            StoreErrorKind::Transient => JsStoreErrorKind::Transient,
            StoreErrorKind::Credentials => JsStoreErrorKind::Credentials,
            StoreErrorKind::Other => JsStoreErrorKind::Other,
        }
    }
}
