//! Write requests as callers make them (write this file, make that directory, ...), validated against a
//! namespace and turned into the primitive ops a WAL record carries. One piece of code serves twice: a
//! transaction stages a request against its private view, and the committer replays it against the
//! current namespace, so a request that no longer holds at commit is found by the same checks.

use super::*;
use crate::namespace::{ApplyOps, Extent, Ino, NsView, Op, Resolved};

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
    pub ops: &'a mut Vec<Op>,
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
        self.ops.push(op);
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

fn resolve<T: NsView + ?Sized>(
    ns: &T,
    raw: &str,
    follow: bool,
    syscall: &str,
) -> FsResult<Resolved> {
    namespace::resolve(ns, &normalize(raw, syscall)?, follow, syscall, raw)
}

/// The directory a new entry at `r` goes into (only the root has none).
fn parent_dir(r: &Resolved, raw: &str, syscall: &str) -> FsResult<Ino> {
    r.parent
        .ok_or_else(|| FsError::new(Code::IsDir, syscall, Some(raw)))
}

/// Points a path at staged extents (writeFile, copy, openWrite).
fn put_extents<T: NsTarget>(
    ns: &mut T,
    raw: &str,
    extents: Vec<Extent>,
    size: u64,
    opts: WriteOptions,
    syscall: &str,
    now: i64,
) -> FsResult<()> {
    if opts.create_parents {
        if let Some((parent, _)) = normalize(raw, syscall)?.split_last() {
            mkdir_path(ns, &parent, raw, true, true, syscall, now)?;
        }
    }
    let r = resolve(ns, raw, true, syscall)?;
    let mtime = opts.mtime.unwrap_or(now);
    match r.node {
        Some(n) if n.kind == Kind::Dir => Err(FsError::new(Code::IsDir, syscall, Some(raw))),
        Some(_) if opts.exclusive => Err(FsError::new(Code::Exist, syscall, Some(raw))),
        Some(n) => {
            ns.push(Op::SetContent {
                ino: n.ino,
                mtime,
                size,
                extents,
            })?;
            if let Some(mode) = opts.mode {
                ns.push(Op::SetAttr {
                    ino: n.ino,
                    mode: Some(mode & 0o7777),
                    mtime: None,
                })?;
            }
            Ok(())
        }
        None => {
            let parent = parent_dir(&r, raw, syscall)?;
            let ino = ns.alloc_ino();
            ns.push(Op::Create {
                parent,
                name: r.name().to_string(),
                ino,
                mode: opts.mode.unwrap_or(0o644) & 0o7777,
                mtime,
                size,
                extents,
            })
        }
    }
}

/// Makes the directory `path` (and with `recursive` its missing parents). `for_file` says the
/// directories are the parents of a file being written, which changes the code for a file in the way.
fn mkdir_path<T: NsTarget>(
    ns: &mut T,
    path: &VPath,
    raw: &str,
    recursive: bool,
    for_file: bool,
    syscall: &str,
    now: i64,
) -> FsResult<()> {
    if !recursive {
        let r = namespace::resolve(ns, path, true, syscall, raw)?;
        if r.node.is_some() {
            return Err(FsError::new(Code::Exist, syscall, Some(raw)));
        }
        let parent = parent_dir(&r, raw, syscall)?;
        let ino = ns.alloc_ino();
        return ns.push(Op::Mkdir {
            parent,
            name: r.name().to_string(),
            ino,
            mode: 0o755,
            mtime: now,
        });
    }
    // One step per component from the root (deep paths stay linear); only a symlink on the way
    // goes through the general resolver.
    let mut dir = crate::namespace::ROOT_INO;
    for (i, part) in path.parts.iter().enumerate() {
        let last = i + 1 == path.parts.len();
        let node = match ns.lookup(dir, part)? {
            Some(ino) => ns.get_inode(ino)?,
            None => None,
        };
        let node = match node {
            Some(n) if n.kind == Kind::Symlink => {
                let prefix = VPath {
                    parts: path.parts[..=i].to_vec(),
                };
                namespace::resolve(ns, &prefix, true, syscall, raw)?.node
            }
            other => other,
        };
        match node {
            Some(n) if n.kind == Kind::Dir => dir = n.ino,
            // `mkdir -p` onto a file is EEXIST; a file on the way (or under a new file) is ENOTDIR.
            Some(_) => {
                return Err(FsError::new(
                    if last && !for_file {
                        Code::Exist
                    } else {
                        Code::NotDir
                    },
                    syscall,
                    Some(raw),
                ))
            }
            None => {
                let ino = ns.alloc_ino();
                ns.push(Op::Mkdir {
                    parent: dir,
                    name: part.clone(),
                    ino,
                    mode: 0o755,
                    mtime: now,
                })?;
                dir = ino;
            }
        }
    }
    Ok(())
}

fn rm<T: NsTarget>(ns: &mut T, raw: &str, recursive: bool, force: bool) -> FsResult<()> {
    let r = match resolve(ns, raw, false, "rm") {
        Err(e) if force && e.code == "ENOENT" => return Ok(()),
        other => other?,
    };
    if r.path.is_root() {
        return Err(FsError::invalid(
            "rm",
            Some(raw),
            "refusing to remove the root of the workspace",
        ));
    }
    let Some(node) = r.node.clone() else {
        return if force {
            Ok(())
        } else {
            Err(FsError::new(Code::NoEnt, "rm", Some(raw)))
        };
    };
    // Like Node's fs.rm: a directory needs `recursive`, empty or not (rmdir is for empty ones).
    if node.kind == Kind::Dir && !recursive {
        return Err(FsError::new(Code::IsDir, "rm", Some(raw))
            .with_description("is a directory (use recursive)"));
    }
    let parent = r.parent.expect("non-root has a parent");
    ns.push(Op::Remove {
        parent,
        name: r.name().to_string(),
    })
}

/// Removes an empty directory.
fn rmdir<T: NsTarget>(ns: &mut T, raw: &str) -> FsResult<()> {
    let r = resolve(ns, raw, false, "rmdir")?;
    let node = r
        .node
        .clone()
        .ok_or_else(|| FsError::new(Code::NoEnt, "rmdir", Some(raw)))?;
    if node.kind != Kind::Dir {
        return Err(FsError::new(Code::NotDir, "rmdir", Some(raw)));
    }
    if r.path.is_root() {
        return Err(FsError::invalid(
            "rmdir",
            Some(raw),
            "refusing to remove the root of the workspace",
        ));
    }
    if ns.has_children(node.ino)? {
        return Err(FsError::new(Code::NotEmpty, "rmdir", Some(raw)));
    }
    ns.push(Op::Remove {
        parent: r.parent.expect("non-root"),
        name: r.name().to_string(),
    })
}

fn rename<T: NsTarget>(ns: &mut T, from: &str, to: &str) -> FsResult<()> {
    let err = |code: Code| FsError::new(code, "rename", Some(from)).with_dest(to);
    let with_dest = |e: FsError| FsError {
        dest: Some(to.into()),
        ..e
    };
    let src = resolve(ns, from, false, "rename").map_err(with_dest)?;
    let src_node = src.node.clone().ok_or_else(|| err(Code::NoEnt))?;
    if src.path.is_root() {
        return Err(err(Code::Busy));
    }
    let dst = resolve(ns, to, false, "rename").map_err(with_dest)?;
    if dst.path == src.path {
        return Ok(());
    }
    if src_node.kind == Kind::Dir && dst.path.starts_with(&src.path) {
        return Err(err(Code::Inval).with_description("cannot move a directory into itself"));
    }
    if dst.path.is_root() {
        return Err(err(Code::Busy));
    }
    if let Some(d) = &dst.node {
        match (src_node.kind == Kind::Dir, d.kind == Kind::Dir) {
            (true, false) => return Err(err(Code::NotDir)),
            (false, true) => return Err(err(Code::IsDir)),
            (true, true) if ns.has_children(d.ino)? => return Err(err(Code::NotEmpty)),
            _ => {}
        }
    }
    let new_parent = dst.parent.ok_or_else(|| err(Code::NoEnt))?;
    ns.push(Op::Rename {
        parent: src.parent.expect("non-root"),
        name: src.name().to_string(),
        new_parent,
        new_name: dst.name().to_string(),
    })
}

/// Copies a file (sharing its stored bytes: nothing is uploaded again) or, with `recursive`, a tree.
fn copy<T: NsTarget>(ns: &mut T, from: &str, to: &str, recursive: bool, now: i64) -> FsResult<()> {
    let src = resolve(ns, from, true, "copyfile")?;
    let node = src
        .node
        .clone()
        .ok_or_else(|| FsError::new(Code::NoEnt, "copyfile", Some(from)).with_dest(to))?;
    let dst_path = normalize(to, "copyfile")?;
    let keep_mode = |mode| WriteOptions {
        mode: Some(mode),
        ..Default::default()
    };
    if node.kind != Kind::Dir {
        return put_extents(
            ns,
            to,
            node.extents()?,
            node.size,
            keep_mode(node.mode),
            "copyfile",
            now,
        );
    }
    if !recursive {
        return Err(FsError::new(Code::IsDir, "copyfile", Some(from))
            .with_dest(to)
            .with_description("is a directory (use recursive)"));
    }
    if dst_path.starts_with(&src.path) {
        return Err(FsError::invalid(
            "copyfile",
            Some(from),
            "cannot copy a directory into itself",
        )
        .with_dest(to));
    }
    let mut all = Vec::new();
    namespace::walk(ns, node.ino, &VPath::root(), &mut all)?;
    mkdir_path(ns, &dst_path, to, true, false, "copyfile", now)?;
    for (rel, n) in all {
        let target = format!("{dst_path}{rel}");
        match n.kind {
            Kind::Dir => mkdir_path(
                ns,
                &normalize(&target, "copyfile")?,
                &target,
                true,
                false,
                "copyfile",
                now,
            )?,
            Kind::File => put_extents(
                ns,
                &target,
                n.extents()?,
                n.size,
                keep_mode(n.mode),
                "copyfile",
                now,
            )?,
            Kind::Symlink => {
                let r = resolve(ns, &target, false, "copyfile")?;
                if r.node.is_none() {
                    let parent = parent_dir(&r, &target, "copyfile")?;
                    let ino = ns.alloc_ino();
                    ns.push(Op::Symlink {
                        parent,
                        name: r.name().to_string(),
                        ino,
                        target: n.target.clone().unwrap_or_default(),
                        mtime: now,
                    })?;
                }
            }
        }
    }
    Ok(())
}
