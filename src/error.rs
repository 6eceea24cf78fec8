//! The engine's error: a Node-style code, the syscall and path it concerns, and a message shaped like
//! Node's (`ENOENT: no such file or directory, stat '/a/b'`). Store failures keep the provider's status
//! and code; credentials never reach a message (the S3 store scrubs them).

use crate::store::StoreError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsError {
    pub code: &'static str,
    pub description: String,
    pub syscall: String,
    pub path: Option<String>,
    pub dest: Option<String>,
    /// HTTP status from the object store, when a store request failed.
    pub status: Option<u16>,
    /// The store's own error kind (`NotFound`, `PreconditionFailed`, `Transient`, ...), when it failed.
    pub store_kind: Option<&'static str>,
}

pub type FsResult<T> = Result<T, FsError>;

impl FsError {
    pub fn new(code: &'static str, syscall: &str, path: Option<&str>) -> Self {
        Self {
            code,
            description: describe(code).to_string(),
            syscall: syscall.to_string(),
            path: path.map(str::to_string),
            dest: None,
            status: None,
            store_kind: None,
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

    pub fn invalid(syscall: &str, path: Option<&str>, why: impl Into<String>) -> Self {
        Self::new("EINVAL", syscall, path).with_description(why)
    }

    /// A failure that is a bug of ours (a panic, a broken invariant); never a user mistake.
    pub fn internal(syscall: &str, why: impl Into<String>) -> Self {
        Self::new("EIO", syscall, None).with_description(format!("internal error: {}", why.into()))
    }

    pub fn from_store(syscall: &str, e: StoreError) -> Self {
        if let StoreError::Other {
            status, message, ..
        } = &e
        {
            if e.is_credentials() {
                // One line that says what was tried and how to fix it; the object key is noise here.
                return Self {
                    code: "ECREDENTIALS",
                    description: message.clone(),
                    syscall: syscall.to_string(),
                    path: None,
                    dest: None,
                    status: *status,
                    store_kind: Some(e.kind()),
                };
            }
        }
        let (code, status) = match &e {
            StoreError::NotFound { .. } => ("ENOENT", Some(404)),
            StoreError::PreconditionFailed { .. } => ("EPRECONDITION", Some(412)),
            StoreError::NotModified { .. } => ("ENOTMODIFIED", Some(304)),
            StoreError::Transient { status, .. } => ("EAGAIN", *status),
            StoreError::Other { status, .. } => ("EIO", *status),
        };
        let key = match &e {
            StoreError::NotFound { key }
            | StoreError::PreconditionFailed { key }
            | StoreError::NotModified { key } => key.clone(),
            StoreError::Transient { key, .. } | StoreError::Other { key, .. } => key.clone(),
        };
        Self {
            code,
            description: format!("object store: {e}"),
            syscall: syscall.to_string(),
            path: (!key.is_empty()).then_some(key),
            dest: None,
            status,
            store_kind: Some(e.kind()),
        }
    }
}

/// Node's wording for each code.
fn describe(code: &str) -> &'static str {
    match code {
        "ENOENT" => "no such file or directory",
        "EEXIST" => "file already exists",
        "ENOTDIR" => "not a directory",
        "EISDIR" => "illegal operation on a directory",
        "ENOTEMPTY" => "directory not empty",
        "EROFS" => "read-only file system",
        "EINVAL" => "invalid argument",
        "EFENCED" => "this writer was fenced by a newer readwrite mount; its writes are refused",
        "ENAMETOOLONG" => "name too long",
        "ELOOP" => "too many symbolic links encountered",
        "EBUSY" => "resource busy",
        "ECLOSED" => "the mount is closed",
        "ECANCELED" => "operation canceled",
        "ECONFLICT" => "the transaction conflicts with a concurrent commit",
        "ENOTSUP" => "operation not supported",
        "ECREDENTIALS" => "no usable object-store credentials",
        _ => "i/o error",
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

impl std::error::Error for FsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_look_like_node() {
        assert_eq!(
            FsError::new("ENOENT", "stat", Some("/a/b")).to_string(),
            "ENOENT: no such file or directory, stat '/a/b'"
        );
        assert_eq!(
            FsError::new("EEXIST", "rename", Some("/a"))
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
        assert_eq!(e.store_kind, Some("Credentials"));
        assert_eq!(e.to_string(), "ECREDENTIALS: refused: check them, mount");
    }
}
