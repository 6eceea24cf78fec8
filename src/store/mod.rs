//! The object-store layer: one async trait with explicit put modes, and the stores and wrappers that
//! implement it. Keys are relative to the store's own prefix (an S3 prefix or a local directory).

mod counting;
mod failing;
mod local;
mod probe;
mod retry;
mod s3;

pub use counting::{CountingObjectStore, RequestCounts};
pub use failing::{FailAction, FailRule, FailingObjectStore};
pub use local::LocalObjectStore;
pub use probe::{probe_conditional_writes, ProbeReport};
pub use retry::{RetryPolicy, RetryingObjectStore};
pub use s3::{S3Config, S3Credentials, S3ObjectStore};

use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// How a PUT treats an object that may already exist (the `object_store` crate's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Unconditional write.
    Overwrite,
    /// Succeeds only if the key does not exist (`If-None-Match: *`).
    Create,
    /// Succeeds only if the current object has this ETag (`If-Match: <etag>`).
    Update(String),
}

/// A byte range of an object. Ranges that reach past the end are clipped; a range starting at or past
/// the end yields an empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `[start, end)`.
    Bounded { start: u64, end: u64 },
    /// From `start` to the end.
    From(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The `Range` header value (inclusive end, as HTTP wants it).
    pub fn to_header(&self) -> String {
        match *self {
            ByteRange::Bounded { start, end } => {
                format!("bytes={}-{}", start, end.saturating_sub(1))
            }
            ByteRange::From(start) => format!("bytes={start}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// The `[start, end)` this range selects from an object of `size` bytes.
    pub fn resolve(&self, size: u64) -> (u64, u64) {
        match *self {
            ByteRange::Bounded { start, end } => {
                (start.min(size), end.min(size).max(start.min(size)))
            }
            ByteRange::From(start) => (start.min(size), size),
            ByteRange::Suffix(n) => (size.saturating_sub(n), size),
        }
    }

    pub(crate) fn is_empty_request(&self) -> bool {
        matches!(*self, ByteRange::Bounded { start, end } if end <= start)
            || *self == ByteRange::Suffix(0)
    }
}

#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub range: Option<ByteRange>,
    /// Conditional GET: fails with `StoreError::NotModified` when the object still has this ETag.
    pub if_none_match: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GetResult {
    pub data: Bytes,
    pub etag: String,
    /// Size of the whole object, when the store reported it.
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    pub common_prefixes: Vec<String>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListResult {
    pub objects: Vec<ObjectMeta>,
    pub common_prefixes: Vec<String>,
    /// How many LIST requests the listing took.
    pub pages: u32,
}

/// The kinds of request a store serves; counters and fault rules are keyed by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Get,
    Head,
    Put,
    List,
    Delete,
    DeleteMany,
}

impl RequestKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "get" => Self::Get,
            "head" => Self::Head,
            "put" => Self::Put,
            "list" => Self::List,
            "delete" => Self::Delete,
            "deleteMany" => Self::DeleteMany,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound {
        key: String,
    },
    /// A create-only PUT (`PutMode::Create`) lost: the key exists (412, or 409
    /// ConditionalRequestConflict, to `If-None-Match: *`).
    AlreadyExists {
        key: String,
    },
    /// A replace-if PUT (`PutMode::Update`) lost: the object is no longer the version named (412, or
    /// 409 ConditionalRequestConflict, to `If-Match`).
    PreconditionFailed {
        key: String,
    },
    /// 304 on a conditional GET.
    NotModified {
        key: String,
    },
    /// Worth retrying: 5xx, SlowDown, throttling, timeouts, dropped connections.
    Transient {
        op: String,
        key: String,
        status: Option<u16>,
        code: String,
        message: String,
    },
    /// Anything else; the provider's status and code are kept.
    Other {
        op: String,
        key: String,
        status: Option<u16>,
        code: String,
        message: String,
    },
}

/// Codes of `StoreError::Other` that mean the credentials are missing, wrong or expired (not a
/// permission or network problem): `NoCredentials` is ours (the credential chain found none or failed),
/// the rest are the providers'. They surface as `ECREDENTIALS` and are never retried.
pub const CREDENTIAL_CODES: &[&str] = &[
    "NoCredentials",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
];

/// What kind of store failure it was (kept by `FsError`, shown to JS as `storeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    NotFound,
    AlreadyExists,
    PreconditionFailed,
    NotModified,
    Transient,
    Credentials,
    Other,
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient { .. })
    }

    /// Whether the store refused or could not find the credentials (see `CREDENTIAL_CODES`).
    pub fn is_credentials(&self) -> bool {
        matches!(self, StoreError::Other { code, .. } if CREDENTIAL_CODES.contains(&code.as_str()))
    }

    /// A short machine-readable kind for bindings and tests.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::NotFound { .. } => StoreErrorKind::NotFound,
            StoreError::AlreadyExists { .. } => StoreErrorKind::AlreadyExists,
            StoreError::PreconditionFailed { .. } => StoreErrorKind::PreconditionFailed,
            StoreError::NotModified { .. } => StoreErrorKind::NotModified,
            StoreError::Transient { .. } => StoreErrorKind::Transient,
            StoreError::Other { .. } if self.is_credentials() => StoreErrorKind::Credentials,
            StoreError::Other { .. } => StoreErrorKind::Other,
        }
    }

    /// A conditional PUT refused: `AlreadyExists` for a create-only PUT, `PreconditionFailed` for a
    /// replace-if PUT (the `object_store` crate's split).
    pub fn put_refused(mode: &PutMode, key: &str) -> Self {
        match mode {
            PutMode::Create => StoreError::AlreadyExists { key: key.into() },
            _ => StoreError::PreconditionFailed { key: key.into() },
        }
    }

    pub fn transient(op: &str, key: &str, message: impl Into<String>) -> Self {
        StoreError::Transient {
            op: op.into(),
            key: key.into(),
            status: None,
            code: "Transient".into(),
            message: message.into(),
        }
    }

    pub fn other(op: &str, key: &str, message: impl Into<String>) -> Self {
        StoreError::Other {
            op: op.into(),
            key: key.into(),
            status: None,
            code: "Error".into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound { key } => write!(f, "object not found: {key}"),
            StoreError::AlreadyExists { key } => write!(f, "already exists: {key}"),
            StoreError::PreconditionFailed { key } => write!(f, "precondition failed: {key}"),
            StoreError::NotModified { key } => write!(f, "not modified: {key}"),
            StoreError::Transient {
                op,
                key,
                status,
                code,
                message,
            }
            | StoreError::Other {
                op,
                key,
                status,
                code,
                message,
            } => {
                write!(f, "{op} {key}: ")?;
                if let Some(s) = status {
                    write!(f, "HTTP {s} ")?;
                }
                write!(f, "{code}: {message}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// An object store with the operations the engine needs. Implementations must make `PutMode::Create` and
/// `PutMode::Update` atomic with respect to every other writer of the same store.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult>;
    async fn head(&self, key: &str) -> StoreResult<ObjectMeta>;
    /// Returns the new object's ETag.
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String>;
    /// One LIST request. `start_after` is the continuation token of the previous page.
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage>;
    /// Deleting a missing key succeeds, as on S3.
    async fn delete(&self, key: &str) -> StoreResult<()>;

    /// The key prefix this store works under, for stores that can name it (forks record it).
    fn prefix(&self) -> Option<String> {
        None
    }

    /// The same bucket (or root directory) under another prefix: a fork reads its base through it.
    fn sibling(&self, _prefix: &str) -> Option<DynObjectStore> {
        None
    }
    async fn delete_many(&self, keys: &[String]) -> StoreResult<()>;

    /// Every page of a listing.
    async fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListResult> {
        let mut out = ListResult::default();
        let mut token = None;
        loop {
            let page = self.list_page(prefix, delimiter, token, max_keys).await?;
            out.pages += 1;
            out.objects.extend(page.objects);
            out.common_prefixes.extend(page.common_prefixes);
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    async fn get_all(&self, key: &str) -> StoreResult<GetResult> {
        self.get(key, GetOptions::default()).await
    }
}

pub type DynObjectStore = Arc<dyn ObjectStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_and_clip() {
        assert_eq!(
            ByteRange::Bounded { start: 10, end: 20 }.resolve(100),
            (10, 20)
        );
        assert_eq!(
            ByteRange::Bounded {
                start: 90,
                end: 200
            }
            .resolve(100),
            (90, 100)
        );
        assert_eq!(
            ByteRange::Bounded {
                start: 150,
                end: 200
            }
            .resolve(100),
            (100, 100)
        );
        assert_eq!(ByteRange::Suffix(5).resolve(100), (95, 100));
        assert_eq!(ByteRange::Suffix(500).resolve(100), (0, 100));
        assert_eq!(ByteRange::From(40).resolve(100), (40, 100));
        assert_eq!(
            ByteRange::Bounded { start: 10, end: 20 }.to_header(),
            "bytes=10-19"
        );
        assert_eq!(ByteRange::Suffix(5).to_header(), "bytes=-5");
    }
}
