//! The checks and primitive ops behind each request: resolving paths, creating files and
//! directories, removing, renaming and copying, each validated against the namespace it is applied to.

use super::*;

pub(super) fn resolve<T: NsView + ?Sized>(
    ns: &T,
    raw: &str,
    follow: bool,
    syscall: &str,
) -> FsResult<Resolved> {
    namespace::resolve(ns, normalize(raw, syscall)?, follow, syscall, raw)
}

/// The directory a new entry at `r` goes into (only the root has none).
pub(super) fn parent_dir(r: &Resolved, raw: &str, syscall: &str) -> FsResult<Ino> {
    r.parent
        .ok_or_else(|| FsError::new(Code::IsDir, syscall, Some(raw)))
}

/// Points a path at staged extents (writeFile, copy, openWrite).
pub(super) fn put_extents<T: NsTarget>(
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
pub(super) fn mkdir_path<T: NsTarget>(
    ns: &mut T,
    path: &VPath,
    raw: &str,
    recursive: bool,
    for_file: bool,
    syscall: &str,
    now: i64,
) -> FsResult<()> {
    if !recursive {
        let r = namespace::resolve(ns, path.clone(), true, syscall, raw)?;
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
                namespace::resolve(ns, prefix, true, syscall, raw)?.node
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

pub(super) fn rm<T: NsTarget>(ns: &mut T, raw: &str, recursive: bool, force: bool) -> FsResult<()> {
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
pub(super) fn rmdir<T: NsTarget>(ns: &mut T, raw: &str) -> FsResult<()> {
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

pub(super) fn rename<T: NsTarget>(ns: &mut T, from: &str, to: &str) -> FsResult<()> {
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
pub(super) fn copy<T: NsTarget>(
    ns: &mut T,
    from: &str,
    to: &str,
    recursive: bool,
    now: i64,
) -> FsResult<()> {
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
