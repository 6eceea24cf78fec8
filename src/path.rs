//! Path normalisation: every path the engine sees is absolute POSIX, with `.` and `..` resolved and
//! confined to the root (`/..` is `/`), no empty or NUL components, names of at most 255 bytes and whole
//! paths of at most 4096 bytes. Relative paths are taken from the root.

use crate::error::{Code, FsError, FsResult};

pub const MAX_NAME_BYTES: usize = 255;
pub const MAX_PATH_BYTES: usize = 4096;

/// A normalised path: its components, root first. The root is the empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VPath {
    pub parts: Vec<String>,
}

impl VPath {
    pub fn root() -> Self {
        VPath { parts: Vec::new() }
    }

    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The parent and the last name; `None` for the root.
    pub fn split_last(&self) -> Option<(VPath, &str)> {
        let (last, init) = self.parts.split_last()?;
        Some((
            VPath {
                parts: init.to_vec(),
            },
            last.as_str(),
        ))
    }

    pub fn join(&self, name: &str) -> VPath {
        let mut parts = self.parts.clone();
        parts.push(name.to_string());
        VPath { parts }
    }

    /// True when `self` is `other` or lies under it.
    pub fn starts_with(&self, other: &VPath) -> bool {
        self.parts.len() >= other.parts.len() && self.parts[..other.parts.len()] == other.parts[..]
    }
}

impl std::fmt::Display for VPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.parts.is_empty() {
            return f.write_str("/");
        }
        for p in &self.parts {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

/// Normalises `raw` for `syscall`, or fails with EINVAL / ENAMETOOLONG naming the raw path.
pub fn normalize(raw: &str, syscall: &str) -> FsResult<VPath> {
    if raw.contains('\0') {
        return Err(FsError::invalid(
            syscall,
            Some(&raw.replace('\0', "\\0")),
            "path contains null bytes",
        ));
    }
    if raw.is_empty() {
        return Err(FsError::new(Code::NoEnt, syscall, Some(raw))
            .with_description("no such file or directory (empty path)"));
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(
            FsError::new(Code::NameTooLong, syscall, Some(&raw[..64.min(raw.len())]))
                .with_description(format!("path longer than {MAX_PATH_BYTES} bytes")),
        );
    }
    let mut parts: Vec<String> = Vec::new();
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => {
                if name.len() > MAX_NAME_BYTES {
                    return Err(FsError::new(Code::NameTooLong, syscall, Some(raw))
                        .with_description(format!("name longer than {MAX_NAME_BYTES} bytes")));
                }
                parts.push(name.to_string());
            }
        }
    }
    Ok(VPath { parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> String {
        normalize(p, "stat").unwrap().to_string()
    }

    #[test]
    fn normalises_and_confines() {
        assert_eq!(n("/"), "/");
        assert_eq!(n("."), "/");
        assert_eq!(n("a/b"), "/a/b");
        assert_eq!(n("/a//b/./c/"), "/a/b/c");
        assert_eq!(n("/a/b/../c"), "/a/c");
        assert_eq!(n("../../etc/passwd"), "/etc/passwd");
        assert_eq!(n("/../../.."), "/");
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(normalize("a\0b", "open").unwrap_err().code, "EINVAL");
        assert_eq!(normalize("", "open").unwrap_err().code, "ENOENT");
        assert_eq!(
            normalize(&"x".repeat(256), "open").unwrap_err().code,
            "ENAMETOOLONG"
        );
        assert!(normalize(&"x".repeat(255), "open").is_ok());
        assert_eq!(
            normalize(&"/abc".repeat(1100), "open").unwrap_err().code,
            "ENAMETOOLONG"
        );
    }

    #[test]
    fn prefix_relation() {
        let a = normalize("/a/b", "x").unwrap();
        assert!(a.starts_with(&normalize("/a", "x").unwrap()));
        assert!(a.starts_with(&VPath::root()));
        assert!(!normalize("/ab", "x")
            .unwrap()
            .starts_with(&normalize("/a", "x").unwrap()));
    }
}
