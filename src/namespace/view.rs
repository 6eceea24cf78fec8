//! What path resolution needs from a namespace: the committed state in SQLite answers it, and so does a
//! transaction's overlay of staged changes on top of the snapshot it started from. The resolver, walks
//! and request validation are written once against this trait.

use super::{DirEntry, Ino, Inode};
use crate::error::FsResult;
use rusqlite::Connection;

pub trait NsView {
    fn lookup(&self, parent: Ino, name: &str) -> FsResult<Option<Ino>>;
    fn get_inode(&self, ino: Ino) -> FsResult<Option<Inode>>;
    /// The inode an entry names: `lookup` then `get_inode` (one query on the database).
    fn lookup_inode(&self, parent: Ino, name: &str) -> FsResult<Option<Inode>> {
        match self.lookup(parent, name)? {
            Some(ino) => self.get_inode(ino),
            None => Ok(None),
        }
    }
    /// Entries of a directory, sorted by name.
    fn list_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>>;
    fn has_children(&self, dir: Ino) -> FsResult<bool>;
}

impl NsView for Connection {
    fn lookup(&self, parent: Ino, name: &str) -> FsResult<Option<Ino>> {
        super::lookup(self, parent, name)
    }
    fn get_inode(&self, ino: Ino) -> FsResult<Option<Inode>> {
        super::get_inode(self, ino)
    }
    fn lookup_inode(&self, parent: Ino, name: &str) -> FsResult<Option<Inode>> {
        super::lookup_inode(self, parent, name)
    }
    fn list_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        super::list_dir(self, dir)
    }
    fn has_children(&self, dir: Ino) -> FsResult<bool> {
        super::has_children(self, dir)
    }
}

/// A namespace ops can be applied to: the writer's database, or a transaction's overlay.
pub trait ApplyOps: NsView {
    fn apply_op(&mut self, op: &super::Op) -> FsResult<()>;
}

impl ApplyOps for Connection {
    fn apply_op(&mut self, op: &super::Op) -> FsResult<()> {
        super::apply(self, op)
    }
}

impl ApplyOps for super::Overlay {
    fn apply_op(&mut self, op: &super::Op) -> FsResult<()> {
        self.apply(op)
    }
}
