//! Metadata queries (stat, readdir, readlink, realpath, the inode to read), written once against
//! `NsView`: the mount asks its committed state, a transaction its own view.

use super::{resolve, walk, DirEntry, Inode, Kind, NsView};
use crate::error::{Code, FsError, FsResult};
use crate::path::{normalize, VPath};

/// Node-like file status.
#[derive(Debug, Clone)]
pub struct Stat {
    pub ino: i64,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    pub mtime_ms: i64,
    pub ctime_ms: i64,
}

impl From<&Inode> for Stat {
    fn from(i: &Inode) -> Self {
        Stat {
            ino: i.ino,
            kind: i.kind,
            mode: i.kind.type_bits() | i.mode,
            size: i.size,
            mtime_ms: i.mtime,
            ctime_ms: i.ctime,
        }
    }
}

pub fn stat(ns: &(impl NsView + ?Sized), raw: &str, follow: bool) -> FsResult<Stat> {
    let syscall = if follow { "stat" } else { "lstat" };
    let r = resolve(ns, normalize(raw, syscall)?, follow, syscall, raw)?;
    r.node
        .as_ref()
        .map(Stat::from)
        .ok_or_else(|| FsError::new(Code::NoEnt, syscall, Some(raw)))
}

pub fn exists(ns: &(impl NsView + ?Sized), raw: &str) -> bool {
    stat(ns, raw, true).is_ok()
}

/// Entries of a directory; with `recursive`, every descendant, named by its path relative to `raw`.
pub fn readdir(
    ns: &(impl NsView + ?Sized),
    raw: &str,
    recursive: bool,
) -> FsResult<Vec<(String, Kind)>> {
    let dir = dir_inode(ns, raw, "scandir")?;
    if !recursive {
        return Ok(ns
            .list_dir(dir.ino)?
            .into_iter()
            .map(|DirEntry { name, kind, .. }| (name, kind))
            .collect());
    }
    let mut all = Vec::new();
    walk(ns, dir.ino, &VPath::root(), &mut all)?;
    Ok(all
        .into_iter()
        .map(|(p, n)| (p.to_string()[1..].to_string(), n.kind))
        .collect())
}

pub fn dir_inode(ns: &(impl NsView + ?Sized), raw: &str, syscall: &str) -> FsResult<Inode> {
    let r = resolve(ns, normalize(raw, syscall)?, true, syscall, raw)?;
    let node = r
        .node
        .ok_or_else(|| FsError::new(Code::NoEnt, syscall, Some(raw)))?;
    if node.kind != Kind::Dir {
        return Err(FsError::new(Code::NotDir, syscall, Some(raw)));
    }
    Ok(node)
}

pub fn readlink(ns: &(impl NsView + ?Sized), raw: &str) -> FsResult<String> {
    let r = resolve(ns, normalize(raw, "readlink")?, false, "readlink", raw)?;
    match r.node {
        Some(n) if n.kind == Kind::Symlink => Ok(n.target.unwrap_or_default()),
        Some(_) => Err(FsError::new(Code::Inval, "readlink", Some(raw))),
        None => Err(FsError::new(Code::NoEnt, "readlink", Some(raw))),
    }
}

pub fn realpath(ns: &(impl NsView + ?Sized), raw: &str) -> FsResult<String> {
    let r = resolve(ns, normalize(raw, "realpath")?, true, "realpath", raw)?;
    if r.node.is_none() {
        return Err(FsError::new(Code::NoEnt, "realpath", Some(raw)));
    }
    Ok(r.path.to_string())
}

/// The inode of a regular file to read (following symlinks).
pub fn file_inode(ns: &(impl NsView + ?Sized), raw: &str, syscall: &str) -> FsResult<Inode> {
    let r = resolve(ns, normalize(raw, syscall)?, true, syscall, raw)?;
    let node = r
        .node
        .ok_or_else(|| FsError::new(Code::NoEnt, syscall, Some(raw)))?;
    if node.kind == Kind::Dir {
        return Err(FsError::new(Code::IsDir, syscall, Some(raw)));
    }
    Ok(node)
}
