//! A transaction's private view: the committed namespace as of the transaction's start (a SQLite read
//! transaction on its own connection) with the transaction's staged ops laid over it in memory. Ops are
//! the same primitive ops the WAL carries, so what a transaction reads is what its commit would apply.

use super::{apply_err, DirEntry, Ino, Inode, NsView, Op};
use crate::error::{FsError, FsResult};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};

/// One overwritten slot, to put back when a request fails half-way.
enum Undo {
    Entry(Ino, String, Option<Option<Ino>>),
    Node(Ino, Option<Inode>),
}

pub struct Overlay {
    base: Connection,
    /// Per directory, the entries this transaction set (`None`: removed).
    entries: HashMap<Ino, BTreeMap<String, Option<Ino>>>,
    /// Inodes this transaction created or changed.
    nodes: HashMap<Ino, Inode>,
    undo: Vec<Undo>,
}

impl Overlay {
    /// `base` must be inside a read transaction that has already read, so its snapshot is fixed.
    pub fn new(base: Connection) -> Overlay {
        Overlay {
            base,
            entries: HashMap::new(),
            nodes: HashMap::new(),
            undo: Vec::new(),
        }
    }

    /// Gives the snapshot connection back (to end its read transaction and reuse it).
    pub fn into_base(self) -> Connection {
        self.base
    }

    pub fn base(&self) -> &Connection {
        &self.base
    }

    /// Starts a request: what it changes can be undone until the next `begin`.
    pub fn begin(&mut self) {
        self.undo.clear();
    }

    /// Undoes everything since `begin`, newest first.
    pub fn undo(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Entry(parent, name, prev) => {
                    let dir = self.entries.entry(parent).or_default();
                    match prev {
                        Some(v) => dir.insert(name, v),
                        None => dir.remove(&name),
                    };
                }
                Undo::Node(ino, prev) => match prev {
                    Some(n) => {
                        self.nodes.insert(ino, n);
                    }
                    None => {
                        self.nodes.remove(&ino);
                    }
                },
            }
        }
    }

    fn set_entry(&mut self, parent: Ino, name: &str, ino: Option<Ino>) {
        let prev = self
            .entries
            .entry(parent)
            .or_default()
            .insert(name.to_string(), ino);
        self.undo.push(Undo::Entry(parent, name.to_string(), prev));
    }

    fn set_node(&mut self, node: Inode) {
        let ino = node.ino;
        let prev = self.nodes.insert(ino, node);
        self.undo.push(Undo::Node(ino, prev));
    }

    fn existing(&self, ino: Ino, what: &str) -> FsResult<Inode> {
        self.get_inode(ino)?
            .ok_or_else(|| apply_err(format!("{what} of a missing inode")))
    }

    /// Applies one op to the overlay, with the checks `namespace::apply` makes on the database.
    pub fn apply(&mut self, op: &Op) -> FsResult<()> {
        match op {
            Op::Mkdir { .. } | Op::Create { .. } | Op::Symlink { .. } => {
                let (parent, name, node) = op.new_entry()?.expect("creating ops make an entry");
                if self.lookup(parent, name)?.is_some() {
                    return Err(apply_err(format!("create over an existing entry {name:?}")));
                }
                self.set_entry(parent, name, Some(node.ino));
                self.set_node(node);
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
                n.set_extents(extents)?;
                self.set_node(n);
                Ok(())
            }
            Op::Remove { parent, name } => {
                if self.lookup(*parent, name)?.is_none() {
                    return Err(apply_err(format!("remove of a missing entry {name:?}")));
                }
                self.set_entry(*parent, name, None);
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
                self.set_entry(*new_parent, new_name, Some(ino));
                self.set_entry(*parent, name, None);
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
                self.set_node(n);
                Ok(())
            }
        }
    }
}

impl NsView for Overlay {
    fn lookup(&self, parent: Ino, name: &str) -> FsResult<Option<Ino>> {
        match self.entries.get(&parent).and_then(|d| d.get(name)) {
            Some(set) => Ok(*set),
            None => self.base.lookup(parent, name),
        }
    }

    fn get_inode(&self, ino: Ino) -> FsResult<Option<Inode>> {
        match self.nodes.get(&ino) {
            Some(n) => Ok(Some(n.clone())),
            None => self.base.get_inode(ino),
        }
    }

    fn lookup_inode(&self, parent: Ino, name: &str) -> FsResult<Option<Inode>> {
        match self.entries.get(&parent).and_then(|d| d.get(name)) {
            Some(Some(ino)) => self.get_inode(*ino),
            Some(None) => Ok(None),
            // Not touched here: the snapshot's inode, unless this transaction changed it.
            None => match self.base.lookup_inode(parent, name)? {
                Some(n) => Ok(Some(self.nodes.get(&n.ino).cloned().unwrap_or(n))),
                None => Ok(None),
            },
        }
    }

    fn list_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        let Some(set) = self.entries.get(&dir).filter(|d| !d.is_empty()) else {
            return self.base.list_dir(dir);
        };
        let mut merged: BTreeMap<String, Ino> = self
            .base
            .list_dir(dir)?
            .into_iter()
            .map(|e| (e.name, e.ino))
            .collect();
        for (name, ino) in set {
            match ino {
                Some(i) => merged.insert(name.clone(), *i),
                None => merged.remove(name),
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
            _ => self.base.has_children(dir),
        }
    }
}
