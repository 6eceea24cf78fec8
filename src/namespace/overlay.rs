//! A transaction's private view: the committed namespace as of the transaction's start (a SQLite read
//! transaction on its own connection) with the transaction's staged ops laid over it in memory. Ops are
//! the same primitive ops the WAL carries, so what a transaction reads is what its commit would apply.
//! Inodes it changes are kept encoded (object keys numbered once) and names inline, so a transaction of
//! a million files holds about 150 bytes per file here.

use super::ino_map::InoMap;
use super::short_name::ShortName;
use super::{apply_err, DirEntry, Extent, Ino, Inode, Kind, NsView, Op};
use crate::error::{FsError, FsResult};
use crate::protocol::codec::{CodecError, CodecResult, Reader, Writer};
use crate::protocol::extents::ExtentWriter;
use crate::protocol::op_log::{OpLog, OpMark};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};

/// An entry this transaction removed.
const GONE: Ino = 0;

/// One overwritten slot, to put back when a request fails half-way.
enum Undo {
    Entry(Ino, ShortName, Option<Ino>),
    Node(Ino, Option<usize>),
}

pub struct Overlay {
    base: Connection,
    /// Inodes numbered from here were made after the snapshot: the snapshot has nothing of them (nor
    /// under them), so it is not asked.
    first_new: Ino,
    /// Per directory, the entries this transaction set (`GONE`: removed).
    entries: HashMap<Ino, BTreeMap<ShortName, Ino>>,
    /// Inodes this transaction created or changed: where each one's latest encoding starts in `arena`.
    nodes: InoMap,
    arena: Writer,
    /// Times in `arena` are kept as the difference from this one (the first written), a byte or three.
    arena_time: i64,
    /// The object keys of the extents in `arena`, each written there as its number.
    keys: ExtentWriter,
    /// The ops laid over the snapshot, as the commit's WAL record will carry them. `arena` points into
    /// it for the hashes of the extents they set rather than keep a second copy.
    log: OpLog,
    undo: Vec<Undo>,
    /// Where `log` and `arena` stood when the current request began.
    mark: Option<(OpMark, usize)>,
}

impl Overlay {
    /// `base` must be inside a read transaction that has already read, so its snapshot is fixed;
    /// `first_new`: the mount's next inode number, read after that.
    pub fn new(base: Connection, first_new: Ino) -> Overlay {
        Overlay {
            base,
            first_new,
            entries: HashMap::new(),
            nodes: InoMap::new(first_new),
            arena: Writer::default(),
            arena_time: 0,
            keys: ExtentWriter::default(),
            log: OpLog::default(),
            undo: Vec::new(),
            mark: None,
        }
    }

    /// The snapshot connection (to end its read transaction and reuse it) and the ops laid over it.
    pub fn into_parts(self) -> (Connection, OpLog) {
        (self.base, self.log)
    }

    /// The ops applied so far.
    pub fn log(&self) -> &OpLog {
        &self.log
    }

    pub fn base(&self) -> &Connection {
        &self.base
    }

    /// Whether the snapshot can hold `ino` (or entries under it).
    fn in_base(&self, ino: Ino) -> bool {
        ino < self.first_new
    }

    /// Starts a request: what it changes can be undone until it is kept.
    pub fn begin(&mut self) {
        self.keep();
        self.mark = Some((self.log.mark(), self.arena.len()));
    }

    /// Keeps what the request since `begin` changed.
    pub fn keep(&mut self) {
        self.undo.clear();
        if let Some((m, _)) = self.mark.take() {
            self.log.release(m);
        }
    }

    /// Undoes everything since `begin`, newest first.
    pub fn undo(&mut self) {
        if let Some((m, arena)) = self.mark.take() {
            self.log.rollback(m);
            self.arena.truncate(arena);
        }
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Entry(parent, name, prev) => {
                    let dir = self.entries.entry(parent).or_default();
                    match prev {
                        Some(v) => dir.insert(name, v),
                        None => dir.remove(name.as_str()),
                    };
                }
                Undo::Node(ino, prev) => match prev {
                    Some(at) => {
                        self.nodes.insert(ino, at);
                    }
                    None => {
                        self.nodes.remove(ino);
                    }
                },
            }
        }
    }

    fn set_entry(&mut self, parent: Ino, name: &str, ino: Ino) {
        let name = ShortName::from(name);
        let prev = self
            .entries
            .entry(parent)
            .or_default()
            .insert(name.clone(), ino);
        self.undo.push(Undo::Entry(parent, name, prev));
    }

    /// The entry this transaction set at `parent`/`name`: `Some(None)` when it removed it.
    fn own_entry(&self, parent: Ino, name: &str) -> Option<Option<Ino>> {
        let ino = *self.entries.get(&parent)?.get(name)?;
        Some((ino != GONE).then_some(ino))
    }

    /// Keeps `node` with `extents` (its own are not read); `logged`: they are the extents of the op just
    /// logged, whose hashes they point at.
    fn set_node(&mut self, node: Inode, extents: &[Extent], logged: bool) {
        let at = self.arena.len();
        if at == 0 {
            self.arena_time = node.mtime;
        }
        let w = &mut self.arena;
        w.u8(node.kind as u8);
        w.uvar(u64::from(node.mode));
        w.uvar(node.size);
        w.ivar(node.mtime.wrapping_sub(self.arena_time));
        w.ivar(node.ctime.wrapping_sub(node.mtime));
        w.opt_str(node.target.as_deref());
        let in_log = if logged { self.log.last_hashes() } else { &[] };
        w.uvar(extents.len() as u64);
        for (i, e) in extents.iter().enumerate() {
            w.uvar(self.keys.learn(&e.key) as u64);
            w.uvar(e.off);
            w.uvar(e.len);
            // 0, then the hash; or where in the log it is, plus one.
            match in_log.get(i).copied().flatten() {
                Some(at) => w.uvar(at as u64 + 1),
                None => {
                    w.uvar(0);
                    w.hash(&e.hash, &e.blocks);
                }
            }
        }
        let prev = self.nodes.insert(node.ino, at);
        self.undo.push(Undo::Node(node.ino, prev));
    }

    fn own_node(&self, ino: Ino) -> Option<FsResult<Inode>> {
        let at = self.nodes.get(ino)?;
        let read = || -> CodecResult<Inode> {
            let mut r = Reader::new(&self.arena.as_slice()[at..]);
            let kind = Kind::from_i64(i64::from(r.u8()?));
            let mode = r.u32()?;
            let size = r.uvar()?;
            let mtime = self.arena_time.wrapping_add(r.ivar()?);
            let ctime = mtime.wrapping_add(r.ivar()?);
            let target = r.opt_str()?;
            let n = r.count(4)?;
            let mut extents = Vec::with_capacity(n);
            for _ in 0..n {
                let key = r.uvar()? as usize;
                let key = self.keys.keys().get(key).cloned();
                let (off, len) = (r.uvar()?, r.uvar()?);
                let hash = match r.uvar()? {
                    0 => Some(r.hash()?),
                    at => self.log.hash_at(at as usize - 1),
                };
                let (Some(key), Some((hash, blocks))) = (key, hash) else {
                    return Err(CodecError("an extent's key or hash is not kept".into()));
                };
                extents.push(Extent {
                    key,
                    off,
                    len,
                    hash,
                    blocks,
                });
            }
            Ok(Inode {
                ino,
                kind,
                mode,
                size,
                mtime,
                ctime,
                target,
                extents_blob: super::stored_extents(&extents),
            })
        };
        Some(read().map_err(|e| {
            FsError::internal(
                "transaction",
                format!("inode {ino} in the transaction: {e}"),
            )
        }))
    }

    fn existing(&self, ino: Ino, what: &str) -> FsResult<Inode> {
        self.get_inode(ino)?
            .ok_or_else(|| apply_err(format!("{what} of a missing inode")))
    }

    /// Applies one op to the overlay, with the checks `namespace::apply` makes on the database.
    pub fn apply(&mut self, op: &Op) -> FsResult<()> {
        self.log.push(op);
        match op {
            Op::Mkdir { .. } | Op::Create { .. } | Op::Symlink { .. } => {
                let (parent, name, node) = op.new_entry().expect("creating ops make an entry");
                if self.lookup(parent, name)?.is_some() {
                    return Err(apply_err(format!("create over an existing entry {name:?}")));
                }
                self.set_entry(parent, name, node.ino);
                self.set_node(node, op.extents(), true);
                Ok(())
            }
            Op::SetContent {
                ino,
                mtime,
                size,
                extents,
            } => {
                let mut n = self.existing(*ino, "set content")?;
                n.size = *size;
                n.mtime = *mtime;
                n.ctime = *mtime;
                self.set_node(n, extents, true);
                Ok(())
            }
            Op::Remove { parent, name } => {
                if self.lookup(*parent, name)?.is_none() {
                    return Err(apply_err(format!("remove of a missing entry {name:?}")));
                }
                self.set_entry(*parent, name, GONE);
                Ok(())
            }
            Op::Rename {
                parent,
                name,
                new_parent,
                new_name,
            } => {
                if parent == new_parent && name == new_name {
                    return Ok(());
                }
                let ino = self
                    .lookup(*parent, name)?
                    .ok_or_else(|| apply_err("rename of a missing entry"))?;
                self.set_entry(*new_parent, new_name, ino);
                self.set_entry(*parent, name, GONE);
                Ok(())
            }
            Op::SetAttr { ino, mode, mtime } => {
                let mut n = self.existing(*ino, "setattr")?;
                if let Some(m) = mode {
                    n.mode = *m;
                }
                if let Some(t) = mtime {
                    n.mtime = *t;
                }
                let extents = n.extents()?;
                self.set_node(n, &extents, false);
                Ok(())
            }
        }
    }
}

impl NsView for Overlay {
    fn lookup(&self, parent: Ino, name: &str) -> FsResult<Option<Ino>> {
        match self.own_entry(parent, name) {
            Some(set) => Ok(set),
            None if self.in_base(parent) => self.base.lookup(parent, name),
            None => Ok(None),
        }
    }

    fn get_inode(&self, ino: Ino) -> FsResult<Option<Inode>> {
        match self.own_node(ino) {
            Some(n) => n.map(Some),
            None if self.in_base(ino) => self.base.get_inode(ino),
            None => Ok(None),
        }
    }

    fn lookup_inode(&self, parent: Ino, name: &str) -> FsResult<Option<Inode>> {
        match self.own_entry(parent, name) {
            Some(Some(ino)) => self.get_inode(ino),
            Some(None) => Ok(None),
            // Not touched here: the snapshot's inode, unless this transaction changed it.
            None if self.in_base(parent) => match self.base.lookup_inode(parent, name)? {
                Some(n) => self.own_node(n.ino).unwrap_or(Ok(n)).map(Some),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    fn list_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        let from_base = || -> FsResult<Vec<DirEntry>> {
            match self.in_base(dir) {
                true => self.base.list_dir(dir),
                false => Ok(Vec::new()),
            }
        };
        let Some(set) = self.entries.get(&dir).filter(|d| !d.is_empty()) else {
            return from_base();
        };
        let mut merged: BTreeMap<String, Ino> =
            from_base()?.into_iter().map(|e| (e.name, e.ino)).collect();
        for (name, &ino) in set {
            match ino {
                GONE => merged.remove(name.as_str()),
                i => merged.insert(name.as_str().to_string(), i),
            };
        }
        merged
            .into_iter()
            .map(|(name, ino)| {
                let kind = self
                    .get_inode(ino)?
                    .ok_or_else(|| FsError::internal("scandir", "dangling entry"))?
                    .kind;
                Ok(DirEntry { name, ino, kind })
            })
            .collect()
    }

    fn has_children(&self, dir: Ino) -> FsResult<bool> {
        match self.entries.get(&dir) {
            Some(set) if !set.is_empty() => Ok(!self.list_dir(dir)?.is_empty()),
            _ => Ok(self.in_base(dir) && self.base.has_children(dir)?),
        }
    }
}
