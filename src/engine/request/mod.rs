//! Write requests as callers make them (write this file, make that directory, ...), validated against a
//! namespace and turned into the primitive ops a WAL record carries. One piece of code serves twice: a
//! transaction stages a request against its private view, and the committer replays it against the
//! current namespace, so a request that no longer holds at commit is found by the same checks.

mod log;
mod ops;

pub use log::RequestLog;

use super::*;
use crate::namespace::{ApplyOps, Extent, Ino, NsView, Op, Resolved};
use crate::protocol::op_log::OpLog;
use ops::{copy, mkdir_path, parent_dir, put_extents, rename, resolve, rm, rmdir};

#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Create missing parent directories.
    pub create_parents: bool,
    /// Fail with EEXIST when the file exists.
    pub exclusive: bool,
    pub mode: Option<u32>,
    /// The file's mtime (ms since the epoch) instead of now: lets a sync keep its source's times.
    pub mtime: Option<i64>,
}

/// Where a file's new bytes live once staged.
#[derive(Debug, Clone)]
pub struct Content {
    pub extents: Vec<Extent>,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub enum Request {
    Write {
        path: String,
        content: Content,
        opts: WriteOptions,
    },
    Append {
        path: String,
        content: Content,
    },
    Mkdir {
        path: String,
        recursive: bool,
    },
    Rm {
        path: String,
        recursive: bool,
        force: bool,
    },
    Rmdir {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Copy {
        from: String,
        to: String,
        recursive: bool,
    },
    Symlink {
        target: String,
        path: String,
    },
    SetAttr {
        path: String,
        mode: Option<u32>,
        mtime: Option<i64>,
        syscall: &'static str,
    },
}

impl Request {
    /// The call as a user would name it, for conflict messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Write { .. } => "writeFile",
            Request::Append { .. } => "appendFile",
            Request::Mkdir { .. } => "mkdir",
            Request::Rm { .. } => "rm",
            Request::Rmdir { .. } => "rmdir",
            Request::Rename { .. } => "rename",
            Request::Copy { .. } => "copy",
            Request::Symlink { .. } => "symlink",
            Request::SetAttr { syscall, .. } => syscall,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Request::Write { path, .. }
            | Request::Append { path, .. }
            | Request::Mkdir { path, .. }
            | Request::Rm { path, .. }
            | Request::Rmdir { path }
            | Request::Symlink { path, .. }
            | Request::SetAttr { path, .. } => path,
            Request::Rename { from, .. } | Request::Copy { from, .. } => from,
        }
    }
}

/// A namespace a request can be applied to: `push` applies an op and keeps it for the WAL record.
pub(crate) trait NsTarget: NsView {
    fn push(&mut self, op: Op) -> FsResult<()>;
    fn alloc_ino(&mut self) -> Ino;
}

/// Applies ops to a namespace (the writer's open SQLite transaction, or a transaction's overlay) and
/// records them; inode numbers come from the mount.
pub(crate) struct Recorder<'a, S: ApplyOps> {
    pub ns: &'a mut S,
    /// Where ops are recorded; `None` when the namespace records them itself (a transaction's overlay).
    pub ops: Option<&'a mut OpLog>,
    pub mount: &'a Mount,
}

impl<S: ApplyOps> NsView for Recorder<'_, S> {
    fn lookup(&self, parent: Ino, name: &str) -> FsResult<Option<Ino>> {
        self.ns.lookup(parent, name)
    }
    fn get_inode(&self, ino: Ino) -> FsResult<Option<Inode>> {
        self.ns.get_inode(ino)
    }
    fn list_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        self.ns.list_dir(dir)
    }
    fn has_children(&self, dir: Ino) -> FsResult<bool> {
        self.ns.has_children(dir)
    }
}

impl<S: ApplyOps> NsTarget for Recorder<'_, S> {
    fn push(&mut self, op: Op) -> FsResult<()> {
        self.ns.apply_op(&op)?;
        if let Some(ops) = self.ops.as_deref_mut() {
            ops.push(&op);
        }
        Ok(())
    }
    fn alloc_ino(&mut self) -> Ino {
        self.mount.alloc_ino()
    }
}

/// Validates `req` against `ns` and applies its ops; `now` is the time the caller made the request.
pub(crate) fn execute<T: NsTarget>(ns: &mut T, req: &Request, now: i64) -> FsResult<()> {
    match req {
        Request::Write {
            path,
            content,
            opts,
        } => put_extents(
            ns,
            path,
            content.extents.clone(),
            content.size,
            *opts,
            "open",
            now,
        ),
        Request::Append { path, content } => {
            let r = resolve(ns, path, true, "open")?;
            match r.node {
                Some(n) if n.kind == Kind::Dir => {
                    Err(FsError::new(Code::IsDir, "open", Some(path)))
                }
                Some(n) => {
                    let mut extents = n.extents()?;
                    extents.extend(content.extents.iter().cloned());
                    ns.push(Op::SetContent {
                        ino: n.ino,
                        mtime: now,
                        size: n.size + content.size,
                        extents,
                    })
                }
                None => put_extents(
                    ns,
                    path,
                    content.extents.clone(),
                    content.size,
                    WriteOptions::default(),
                    "open",
                    now,
                ),
            }
        }
        Request::Mkdir { path, recursive } => mkdir_path(
            ns,
            &normalize(path, "mkdir")?,
            path,
            *recursive,
            false,
            "mkdir",
            now,
        ),
        Request::Rm {
            path,
            recursive,
            force,
        } => rm(ns, path, *recursive, *force),
        Request::Rmdir { path } => rmdir(ns, path),
        Request::Rename { from, to } => rename(ns, from, to),
        Request::Copy {
            from,
            to,
            recursive,
        } => copy(ns, from, to, *recursive, now),
        Request::Symlink { target, path } => {
            let r = resolve(ns, path, false, "symlink")?;
            if r.node.is_some() {
                return Err(FsError::new(Code::Exist, "symlink", Some(path)));
            }
            let parent = parent_dir(&r, path, "symlink")?;
            let ino = ns.alloc_ino();
            ns.push(Op::Symlink {
                parent,
                name: r.name().to_string(),
                ino,
                target: target.clone(),
                mtime: now,
            })
        }
        Request::SetAttr {
            path,
            mode,
            mtime,
            syscall,
        } => {
            let r = resolve(ns, path, true, syscall)?;
            let n = r
                .node
                .ok_or_else(|| FsError::new(Code::NoEnt, syscall, Some(path)))?;
            ns.push(Op::SetAttr {
                ino: n.ino,
                mode: mode.map(|m| m & 0o7777),
                mtime: *mtime,
            })
        }
    }
}
