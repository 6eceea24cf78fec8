//! A write transaction: the writer's SQLite transaction plus the data staged for upload. Each user
//! request is validated against the transaction's own view, turned into primitive ops, and applied at
//! once (so later requests in the same transaction see it); nothing is visible outside until commit.

use super::upload::Staged;
use super::*;
use crate::namespace::{Extent, Ino, Op, Resolved};
use crate::protocol::head::now_ms;
use crate::protocol::{chunk_key, hash_hex, pack_key};
use bytes::Bytes;
use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinSet;

/// Part of a file as a transaction reads it.
pub enum Piece {
    Ready(Bytes),
    Remote(Extent),
}

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

struct PackBuilder {
    key: String,
    buf: Vec<u8>,
}

pub struct Txn {
    pub(crate) mount: Arc<Mount>,
    pub(crate) guard: OwnedMutexGuard<WriterState>,
    pub(crate) ops: Vec<Op>,
    pack: Option<PackBuilder>,
    pub(crate) sealed: Vec<(String, Bytes)>,
    pub(crate) uploads: JoinSet<FsResult<()>>,
    /// Chunks staged in this transaction, kept so the transaction can read its own writes.
    staged_chunks: std::collections::HashMap<String, Bytes>,
    pub(crate) bytes: u64,
    /// The next inode number to hand out, once read from the database.
    next_ino: Option<Ino>,
    /// The commit could not be confirmed: the writer must resynchronise with the bucket.
    pub(crate) needs_catch_up: bool,
}

impl Txn {
    /// Waits for the writer role and opens the SQLite transaction.
    pub async fn begin(mount: Arc<Mount>) -> FsResult<Txn> {
        mount.check_writable("transaction", "/")?;
        let guard = mount.writer.clone().lock_owned().await;
        mount.check_writable("transaction", "/")?;
        guard
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| namespace::db_err("transaction", e))?;
        Ok(Txn {
            mount,
            guard,
            ops: Vec::new(),
            pack: None,
            sealed: Vec::new(),
            uploads: JoinSet::new(),
            staged_chunks: Default::default(),
            bytes: 0,
            next_ino: None,
            needs_catch_up: false,
        })
    }

    pub fn conn(&self) -> &Connection {
        &self.guard.conn
    }

    /// Runs one request so that it applies whole or not at all (a savepoint inside the transaction).
    pub fn atomically<T>(&mut self, f: impl FnOnce(&mut Txn) -> FsResult<T>) -> FsResult<T> {
        // Nested savepoints may share a name: RELEASE and ROLLBACK TO act on the innermost.
        let sql = |tx: &Txn, stmt: &str| {
            tx.conn()
                .prepare_cached(stmt)
                .and_then(|mut s| s.execute([]))
                .map(|_| ())
                .map_err(|e| namespace::db_err("transaction", e))
        };
        sql(self, "SAVEPOINT request")?;
        let (n, next_ino) = (self.ops.len(), self.next_ino);
        let r = f(self);
        if r.is_err() {
            self.ops.truncate(n);
            self.next_ino = next_ino;
            sql(self, "ROLLBACK TO request")?;
        }
        sql(self, "RELEASE request")?;
        r
    }

    pub(crate) fn rollback(&mut self) {
        let _ = self.guard.conn.execute_batch("ROLLBACK");
        self.ops.clear();
        self.uploads.abort_all();
    }

    fn push(&mut self, op: Op) -> FsResult<()> {
        namespace::apply(self.conn(), &op)?;
        self.ops.push(op);
        Ok(())
    }

    fn alloc_ino(&mut self) -> FsResult<Ino> {
        let ino = match self.next_ino {
            Some(i) => i,
            None => namespace::next_ino(self.conn())?,
        };
        self.next_ino = Some(ino + 1);
        Ok(ino)
    }

    fn resolve(&self, raw: &str, follow: bool, syscall: &str) -> FsResult<Resolved> {
        namespace::resolve(self.conn(), &normalize(raw, syscall)?, follow, syscall, raw)
    }

    /// Stages bytes for upload and returns where they will live.
    pub fn stage(&mut self, data: &[u8]) -> Vec<Extent> {
        self.bytes += data.len() as u64;
        if data.is_empty() {
            return Vec::new();
        }
        if data.len() < SMALL_FILE_MAX {
            return vec![self.stage_in_pack(data)];
        }
        data.chunks(CHUNK_SIZE)
            .map(|c| self.stage_chunk(Bytes::copy_from_slice(c)))
            .collect()
    }

    fn stage_in_pack(&mut self, data: &[u8]) -> Extent {
        if self
            .pack
            .as_ref()
            .is_some_and(|p| p.buf.len() + data.len() > PACK_MAX)
        {
            self.seal_pack();
        }
        let epoch = self.guard.head.epoch;
        let pack = self.pack.get_or_insert_with(|| PackBuilder {
            key: pack_key(epoch),
            buf: Vec::with_capacity(PACK_MAX),
        });
        let off = pack.buf.len() as u64;
        pack.buf.extend_from_slice(data);
        Extent {
            key: pack.key.clone(),
            off,
            len: data.len() as u64,
            hash: hash_hex(data),
        }
    }

    /// Closes the pack being filled and starts its upload at once, so a large transaction's data is
    /// on its way while the caller is still writing (an aborted transaction leaves an orphan for GC).
    pub(crate) fn seal_pack(&mut self) {
        let Some(p) = self.pack.take() else { return };
        let body = Bytes::from(p.buf);
        self.sealed.push((p.key.clone(), body.clone()));
        let mount = self.mount.clone();
        self.uploads.spawn_on(
            async move {
                let _permit = mount.upload_permit().await;
                mount
                    .store
                    .put(&p.key, body.clone(), crate::store::PutMode::Overwrite)
                    .await
                    .map_err(|e| FsError::from_store("commit", e))?;
                mount.cache.put(&super::read::unit_id(&p.key, None), &body);
                Ok(())
            },
            &self.mount.runtime,
        );
    }

    /// A content-addressed chunk; uploaded now, in the background, unless the bucket already has it.
    pub fn stage_chunk(&mut self, chunk: Bytes) -> Extent {
        let hash = hash_hex(&chunk);
        let key = chunk_key(&hash);
        let extent = Extent {
            key: key.clone(),
            off: 0,
            len: chunk.len() as u64,
            hash,
        };
        if namespace::has_object(self.conn(), &key)
            || self
                .staged_chunks
                .insert(key.clone(), chunk.clone())
                .is_some()
        {
            return extent;
        }
        let mount = self.mount.clone();
        self.uploads.spawn_on(
            async move {
                let permit = mount.upload_permit().await;
                mount.upload_chunk(&key, chunk, permit).await
            },
            &self.mount.runtime,
        );
        extent
    }

    /// A file's bytes as this transaction sees them: staged runs from memory, the rest to fetch.
    pub fn read_pieces(&self, raw: &str) -> FsResult<Vec<Piece>> {
        let node = meta::file_inode(self.conn(), raw, "open")?;
        Ok(node
            .extents()?
            .into_iter()
            .map(|x| {
                let (a, b) = (x.off as usize, (x.off + x.len) as usize);
                let staged = match &self.pack {
                    Some(p) if p.key == x.key => Some(Bytes::copy_from_slice(&p.buf[a..b])),
                    _ => self
                        .sealed
                        .iter()
                        .find(|(k, _)| *k == x.key)
                        .map(|(_, d)| d.slice(a..b))
                        .or_else(|| self.staged_chunks.get(&x.key).map(|d| d.slice(a..b))),
                };
                staged.map(Piece::Ready).unwrap_or(Piece::Remote(x))
            })
            .collect())
    }

    /// The directory a new entry at `r` goes into (only the root has none).
    fn parent_dir(&self, r: &Resolved, raw: &str, syscall: &str) -> FsResult<Ino> {
        r.parent
            .ok_or_else(|| FsError::new("EISDIR", syscall, Some(raw)))
    }

    /// Creates or replaces a regular file with `data`.
    pub fn write_file(&mut self, raw: &str, data: &[u8], opts: WriteOptions) -> FsResult<()> {
        self.mount.check_writable("open", raw)?;
        self.atomically(|tx| {
            let extents = tx.stage(data);
            tx.put_extents(raw, extents, data.len() as u64, opts, "open")
        })
    }

    /// Points a path at bytes uploaded beforehand (streamed writes, openWrite).
    pub fn write_staged(&mut self, raw: &str, staged: Staged, opts: WriteOptions) -> FsResult<()> {
        match staged {
            Staged::Small(data) => self.write_file(raw, &data, opts),
            // The pins drop here, with the writer lock held: GC cannot run before this commit ends.
            Staged::Extents {
                extents,
                size,
                bytes,
                pins: _pins,
            } => {
                self.mount.check_writable("open", raw)?;
                self.bytes += bytes;
                self.atomically(|tx| tx.put_extents(raw, extents, size, opts, "open"))
            }
        }
    }

    /// Points a path at already-staged extents (writeFile, copy, openWrite).
    pub(crate) fn put_extents(
        &mut self,
        raw: &str,
        extents: Vec<Extent>,
        size: u64,
        opts: WriteOptions,
        syscall: &str,
    ) -> FsResult<()> {
        if opts.create_parents {
            if let Some((parent, _)) = normalize(raw, syscall)?.split_last() {
                self.mkdir_path(&parent, raw, true, true, syscall)?;
            }
        }
        let r = self.resolve(raw, true, syscall)?;
        let mtime = opts.mtime.unwrap_or_else(now_ms);
        match r.node {
            Some(n) if n.kind == Kind::Dir => Err(FsError::new("EISDIR", syscall, Some(raw))),
            Some(_) if opts.exclusive => Err(FsError::new("EEXIST", syscall, Some(raw))),
            Some(n) => {
                self.push(Op::SetContent {
                    ino: n.ino,
                    mtime,
                    size,
                    extents,
                })?;
                if let Some(mode) = opts.mode {
                    self.push(Op::SetAttr {
                        ino: n.ino,
                        mode: Some(mode & 0o7777),
                        mtime: None,
                    })?;
                }
                Ok(())
            }
            None => {
                let parent = self.parent_dir(&r, raw, syscall)?;
                let ino = self.alloc_ino()?;
                let name = r.name().to_string();
                self.push(Op::Create {
                    parent,
                    name,
                    ino,
                    mode: opts.mode.unwrap_or(0o644) & 0o7777,
                    mtime,
                    size,
                    extents,
                })
            }
        }
    }

    pub fn append_file(&mut self, raw: &str, data: &[u8]) -> FsResult<()> {
        self.mount.check_writable("open", raw)?;
        self.atomically(|tx| {
            let r = tx.resolve(raw, true, "open")?;
            match r.node {
                Some(n) if n.kind == Kind::Dir => Err(FsError::new("EISDIR", "open", Some(raw))),
                Some(n) => {
                    let mut extents = n.extents()?;
                    extents.extend(tx.stage(data));
                    tx.push(Op::SetContent {
                        ino: n.ino,
                        mtime: now_ms(),
                        size: n.size + data.len() as u64,
                        extents,
                    })
                }
                None => {
                    let extents = tx.stage(data);
                    tx.put_extents(
                        raw,
                        extents,
                        data.len() as u64,
                        WriteOptions::default(),
                        "open",
                    )
                }
            }
        })
    }

    pub fn mkdir(&mut self, raw: &str, recursive: bool) -> FsResult<()> {
        self.mount.check_writable("mkdir", raw)?;
        let path = normalize(raw, "mkdir")?;
        self.atomically(|tx| tx.mkdir_path(&path, raw, recursive, false, "mkdir"))
    }

    /// Makes the directory `path` (and with `recursive` its missing parents). `for_file` says the
    /// directories are the parents of a file being written, which changes the code for a file in the way.
    fn mkdir_path(
        &mut self,
        path: &VPath,
        raw: &str,
        recursive: bool,
        for_file: bool,
        syscall: &str,
    ) -> FsResult<()> {
        if !recursive {
            let r = namespace::resolve(self.conn(), path, true, syscall, raw)?;
            if r.node.is_some() {
                return Err(FsError::new("EEXIST", syscall, Some(raw)));
            }
            let parent = self.parent_dir(&r, raw, syscall)?;
            let ino = self.alloc_ino()?;
            return self.push(Op::Mkdir {
                parent,
                name: r.name().to_string(),
                ino,
                mode: 0o755,
                mtime: now_ms(),
            });
        }
        // One step per component from the root (deep paths stay linear); only a symlink on the way
        // goes through the general resolver.
        let mut dir = crate::namespace::ROOT_INO;
        for (i, part) in path.parts.iter().enumerate() {
            let last = i + 1 == path.parts.len();
            let node = match namespace::lookup(self.conn(), dir, part)? {
                Some(ino) => namespace::get_inode(self.conn(), ino)?,
                None => None,
            };
            let node = match node {
                Some(n) if n.kind == Kind::Symlink => {
                    let prefix = VPath {
                        parts: path.parts[..=i].to_vec(),
                    };
                    namespace::resolve(self.conn(), &prefix, true, syscall, raw)?.node
                }
                other => other,
            };
            match node {
                Some(n) if n.kind == Kind::Dir => dir = n.ino,
                // `mkdir -p` onto a file is EEXIST; a file on the way (or under a new file) is ENOTDIR.
                Some(_) => {
                    return Err(FsError::new(
                        if last && !for_file {
                            "EEXIST"
                        } else {
                            "ENOTDIR"
                        },
                        syscall,
                        Some(raw),
                    ))
                }
                None => {
                    let ino = self.alloc_ino()?;
                    self.push(Op::Mkdir {
                        parent: dir,
                        name: part.clone(),
                        ino,
                        mode: 0o755,
                        mtime: now_ms(),
                    })?;
                    dir = ino;
                }
            }
        }
        Ok(())
    }

    pub fn rm(&mut self, raw: &str, recursive: bool, force: bool) -> FsResult<()> {
        self.mount.check_writable("rm", raw)?;
        self.atomically(|tx| {
            let r = match tx.resolve(raw, false, "rm") {
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
                    Err(FsError::new("ENOENT", "rm", Some(raw)))
                };
            };
            // Like Node's fs.rm: a directory needs `recursive`, empty or not (rmdir is for empty ones).
            if node.kind == Kind::Dir && !recursive {
                return Err(FsError::new("EISDIR", "rm", Some(raw))
                    .with_description("is a directory (use recursive)"));
            }
            let parent = r.parent.expect("non-root has a parent");
            tx.push(Op::Remove {
                parent,
                name: r.name().to_string(),
            })
        })
    }

    /// Removes an empty directory.
    pub fn rmdir(&mut self, raw: &str) -> FsResult<()> {
        self.mount.check_writable("rmdir", raw)?;
        self.atomically(|tx| {
            let r = tx.resolve(raw, false, "rmdir")?;
            let node = r
                .node
                .clone()
                .ok_or_else(|| FsError::new("ENOENT", "rmdir", Some(raw)))?;
            if node.kind != Kind::Dir {
                return Err(FsError::new("ENOTDIR", "rmdir", Some(raw)));
            }
            if r.path.is_root() {
                return Err(FsError::invalid(
                    "rmdir",
                    Some(raw),
                    "refusing to remove the root of the workspace",
                ));
            }
            if namespace::has_children(tx.conn(), node.ino)? {
                return Err(FsError::new("ENOTEMPTY", "rmdir", Some(raw)));
            }
            tx.push(Op::Remove {
                parent: r.parent.expect("non-root"),
                name: r.name().to_string(),
            })
        })
    }

    pub fn rename(&mut self, from: &str, to: &str) -> FsResult<()> {
        self.mount.check_writable("rename", from)?;
        let err = |code: &'static str| FsError::new(code, "rename", Some(from)).with_dest(to);
        self.atomically(|tx| {
            let src = namespace::resolve(
                tx.conn(),
                &normalize(from, "rename")?,
                false,
                "rename",
                from,
            )
            .map_err(|e| FsError {
                dest: Some(to.into()),
                ..e
            })?;
            let src_node = src.node.clone().ok_or_else(|| err("ENOENT"))?;
            if src.path.is_root() {
                return Err(err("EBUSY"));
            }
            let dst = namespace::resolve(tx.conn(), &normalize(to, "rename")?, false, "rename", to)
                .map_err(|e| FsError {
                    dest: Some(to.into()),
                    ..e
                })?;
            if dst.path == src.path {
                return Ok(());
            }
            if src_node.kind == Kind::Dir && dst.path.starts_with(&src.path) {
                return Err(err("EINVAL").with_description("cannot move a directory into itself"));
            }
            if dst.path.is_root() {
                return Err(err("EBUSY"));
            }
            if let Some(d) = &dst.node {
                match (src_node.kind == Kind::Dir, d.kind == Kind::Dir) {
                    (true, false) => return Err(err("ENOTDIR")),
                    (false, true) => return Err(err("EISDIR")),
                    (true, true) if namespace::has_children(tx.conn(), d.ino)? => {
                        return Err(err("ENOTEMPTY"))
                    }
                    _ => {}
                }
            }
            let new_parent = dst.parent.ok_or_else(|| err("ENOENT"))?;
            tx.push(Op::Rename {
                parent: src.parent.expect("non-root"),
                name: src.name().to_string(),
                new_parent,
                new_name: dst.name().to_string(),
            })
        })
    }

    /// Copies a file (sharing its stored bytes: nothing is uploaded again) or, with `recursive`, a tree.
    pub fn copy(&mut self, from: &str, to: &str, recursive: bool) -> FsResult<()> {
        self.mount.check_writable("copyfile", from)?;
        self.atomically(|tx| {
            let src = tx.resolve(from, true, "copyfile")?;
            let node = src
                .node
                .clone()
                .ok_or_else(|| FsError::new("ENOENT", "copyfile", Some(from)).with_dest(to))?;
            let dst_path = normalize(to, "copyfile")?;
            if node.kind != Kind::Dir {
                return tx.put_extents(
                    to,
                    node.extents()?,
                    node.size,
                    WriteOptions {
                        mode: Some(node.mode),
                        ..Default::default()
                    },
                    "copyfile",
                );
            }
            if !recursive {
                return Err(FsError::new("EISDIR", "copyfile", Some(from))
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
            namespace::walk(tx.conn(), node.ino, &VPath::root(), &mut all)?;
            tx.mkdir_path(&dst_path, to, true, false, "copyfile")?;
            for (rel, n) in all {
                let target = format!("{dst_path}{rel}");
                match n.kind {
                    Kind::Dir => tx.mkdir_path(
                        &normalize(&target, "copyfile")?,
                        &target,
                        true,
                        false,
                        "copyfile",
                    )?,
                    Kind::File => tx.put_extents(
                        &target,
                        n.extents()?,
                        n.size,
                        WriteOptions {
                            mode: Some(n.mode),
                            ..Default::default()
                        },
                        "copyfile",
                    )?,
                    Kind::Symlink => {
                        let r = tx.resolve(&target, false, "copyfile")?;
                        if r.node.is_none() {
                            let parent = tx.parent_dir(&r, &target, "copyfile")?;
                            let ino = tx.alloc_ino()?;
                            tx.push(Op::Symlink {
                                parent,
                                name: r.name().to_string(),
                                ino,
                                target: n.target.clone().unwrap_or_default(),
                                mtime: now_ms(),
                            })?;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    pub fn symlink(&mut self, target: &str, raw: &str) -> FsResult<()> {
        self.mount.check_writable("symlink", raw)?;
        if target.is_empty() || target.contains('\0') {
            return Err(FsError::invalid(
                "symlink",
                Some(raw),
                "symlink target must be a non-empty string without NUL",
            ));
        }
        self.atomically(|tx| {
            let r = tx.resolve(raw, false, "symlink")?;
            if r.node.is_some() {
                return Err(FsError::new("EEXIST", "symlink", Some(raw)));
            }
            let parent = tx.parent_dir(&r, raw, "symlink")?;
            let ino = tx.alloc_ino()?;
            tx.push(Op::Symlink {
                parent,
                name: r.name().to_string(),
                ino,
                target: target.to_string(),
                mtime: now_ms(),
            })
        })
    }

    pub fn set_attr(
        &mut self,
        raw: &str,
        mode: Option<u32>,
        mtime: Option<i64>,
        syscall: &str,
    ) -> FsResult<()> {
        self.mount.check_writable(syscall, raw)?;
        self.atomically(|tx| {
            let r = tx.resolve(raw, true, syscall)?;
            let n = r
                .node
                .ok_or_else(|| FsError::new("ENOENT", syscall, Some(raw)))?;
            tx.push(Op::SetAttr {
                ino: n.ino,
                mode: mode.map(|m| m & 0o7777),
                mtime,
            })
        })
    }
}

impl Drop for Txn {
    /// A transaction dropped without commit or abort (say, its JS handle was collected) rolls back,
    /// so the next one starts clean.
    fn drop(&mut self) {
        if !self.guard.conn.is_autocommit() {
            self.rollback();
        }
    }
}
