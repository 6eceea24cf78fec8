//! The engine's error: one internal type with a code from one table, the syscall and path it
//! concerns, the cause it came from, and a message shaped like Node's (`ENOENT: no such file or
//! directory, stat '/a/b'`). Store failures keep their kind, the provider's status and code;
//! credentials never reach a message (the S3 store scrubs them). docs/errors.md is this table.

use crate::store::{StoreError, StoreErrorKind};
use std::fmt;
use std::sync::Arc;

/// Declares the codes: the name JS sees and the wording a message uses, in one place.
macro_rules! codes {
    ($($variant:ident = $code:literal : $text:literal,)*) => {
        /// Every code the engine gives.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            /// The wording of a message with this code (Node's, where Node has the code).
            pub fn describe(self) -> &'static str {
                match self { $(Code::$variant => $text),* }
            }
        }
    };
}

codes! {
    NoEnt = "ENOENT": "no such file or directory",
    Exist = "EEXIST": "file already exists",
    NotDir = "ENOTDIR": "not a directory",
    IsDir = "EISDIR": "illegal operation on a directory",
    NotEmpty = "ENOTEMPTY": "directory not empty",
    RoFs = "EROFS": "read-only file system",
    Inval = "EINVAL": "invalid argument",
    NameTooLong = "ENAMETOOLONG": "name too long",
    Loop = "ELOOP": "too many symbolic links encountered",
    Busy = "EBUSY": "resource busy",
    NotSup = "ENOTSUP": "operation not supported",
    Canceled = "ECANCELED": "operation canceled",
    Closed = "ECLOSED": "the mount is closed",
    Fenced = "EFENCED": "this writer was fenced by a newer readwrite mount; its writes are refused",
    Conflict = "ECONFLICT": "the transaction conflicts with a concurrent commit",
    Credentials = "ECREDENTIALS": "no usable object-store credentials",
    Again = "EAGAIN": "the object store is unavailable for now",
    Precondition = "EPRECONDITION": "the object changed meanwhile (precondition failed)",
    NotModified = "ENOTMODIFIED": "the object has not changed",
    Io = "EIO": "i/o error",
    Corrupt = "ECORRUPT": "stored data is damaged or unreadable",
    Internal = "EINTERNAL": "internal error (a bug)",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `e.code == "ENOENT"` reads as the code JS sees.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone)]
pub struct FsError {
    pub code: Code,
    pub description: String,
    pub syscall: String,
    pub path: Option<String>,
    pub dest: Option<String>,
    /// HTTP status from the object store, when a store request failed.
    pub status: Option<u16>,
    /// The store's own kind of failure, when a store request failed.
    pub store_kind: Option<StoreErrorKind>,
    /// What it came from (a store error, a SQLite error, ...), for `std::error::Error::source`.
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Equal when everything said is equal (the cause is not compared).
impl PartialEq for FsError {
    fn eq(&self, o: &Self) -> bool {
        (
            self.code,
            &self.description,
            &self.syscall,
            &self.path,
            &self.dest,
            self.status,
            self.store_kind,
        ) == (
            o.code,
            &o.description,
            &o.syscall,
            &o.path,
            &o.dest,
            o.status,
            o.store_kind,
        )
    }
}

pub type FsResult<T> = Result<T, FsError>;

impl FsError {
    pub fn new(code: Code, syscall: &str, path: Option<&str>) -> Self {
        Self {
            code,
            description: code.describe().to_string(),
            syscall: syscall.to_string(),
            path: path.map(str::to_string),
            dest: None,
            status: None,
            store_kind: None,
            source: None,
        }
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn with_dest(mut self, dest: &str) -> Self {
        self.dest = Some(dest.to_string());
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn invalid(syscall: &str, path: Option<&str>, why: impl Into<String>) -> Self {
        Self::new(Code::Inval, syscall, path).with_description(why)
    }

    /// A failure that is a bug of ours (a panic, a broken invariant); never a user mistake.
    pub fn internal(syscall: &str, why: impl Into<String>) -> Self {
        Self::new(Code::Internal, syscall, None)
            .with_description(format!("internal error: {}", why.into()))
    }

    pub fn from_store(syscall: &str, e: StoreError) -> Self {
        let kind = e.kind();
        let (code, status) = match &e {
            StoreError::NotFound { .. } => (Code::NoEnt, Some(404)),
            StoreError::AlreadyExists { .. } | StoreError::PreconditionFailed { .. } => {
                (Code::Precondition, Some(412))
            }
            StoreError::NotModified { .. } => (Code::NotModified, Some(304)),
            StoreError::Transient { status, .. } => (Code::Again, *status),
            StoreError::Other { status, .. } if kind == StoreErrorKind::Credentials => {
                (Code::Credentials, *status)
            }
            StoreError::Other { status, .. } => (Code::Io, *status),
        };
        let (key, description) = match &e {
            // One line that says what was tried and how to fix it; the object key is noise here.
            StoreError::Other { message, .. } if code == Code::Credentials => {
                (String::new(), message.clone())
            }
            StoreError::NotFound { key }
            | StoreError::AlreadyExists { key }
            | StoreError::PreconditionFailed { key }
            | StoreError::NotModified { key }
            | StoreError::Transient { key, .. }
            | StoreError::Other { key, .. } => (key.clone(), format!("object store: {e}")),
        };
        Self {
            code,
            description,
            syscall: syscall.to_string(),
            path: (!key.is_empty()).then_some(key),
            dest: None,
            status,
            store_kind: Some(kind),
            source: Some(Arc::new(e)),
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}, {}", self.code, self.description, self.syscall)?;
        if let Some(p) = &self.path {
            write!(f, " '{p}'")?;
        }
        if let Some(d) = &self.dest {
            write!(f, " -> '{d}'")?;
        }
        Ok(())
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_look_like_node() {
        assert_eq!(
            FsError::new(Code::NoEnt, "stat", Some("/a/b")).to_string(),
            "ENOENT: no such file or directory, stat '/a/b'"
        );
        assert_eq!(
            FsError::new(Code::Exist, "rename", Some("/a"))
                .with_dest("/b")
                .to_string(),
            "EEXIST: file already exists, rename '/a' -> '/b'"
        );
        let e = FsError::from_store(
            "put",
            StoreError::Other {
                op: "put".into(),
                key: "k".into(),
                status: Some(403),
                code: "AccessDenied".into(),
                message: "no".into(),
            },
        );
        assert_eq!(e.code, "EIO");
        assert_eq!(e.status, Some(403));
        assert!(e.to_string().contains("AccessDenied"));
        let e = FsError::from_store(
            "mount",
            StoreError::Other {
                op: "put".into(),
                key: "_probe/x".into(),
                status: Some(403),
                code: "InvalidAccessKeyId".into(),
                message: "refused: check them".into(),
            },
        );
        assert_eq!(e.code, "ECREDENTIALS");
        assert_eq!(e.store_kind, Some(StoreErrorKind::Credentials));
        assert_eq!(e.to_string(), "ECREDENTIALS: refused: check them, mount");
    }

    /// docs/errors.md lists exactly the codes of `Code`, with the same wording.
    #[test]
    fn the_documented_table_is_the_code_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md"))
            .unwrap();
        let rows: Vec<(String, String)> = doc
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code.to_string(), cells.get(2)?.to_string()))
            })
            .collect();
        let ours: Vec<(String, String)> = Code::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.describe().to_string()))
            .collect();
        assert_eq!(rows, ours, "docs/errors.md and the Code table differ");
    }
}
