//! Namespace mutations as they travel in WAL records. The writer validates a user request, turns it into
//! these primitive ops, and applies them with the same code every reader uses, so all replicas agree.

use serde::{Deserialize, Serialize};

pub type Ino = i64;
pub const ROOT_INO: Ino = 1;

/// Where a run of file bytes lives: `len` bytes at `off` in object `key` (a pack or a chunk);
/// `hash` is the blake3 of those bytes, checked whenever the whole run is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub key: String,
    pub off: u64,
    pub len: u64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    Mkdir {
        parent: Ino,
        name: String,
        ino: Ino,
        mode: u32,
        mtime: i64,
    },
    /// A new regular file.
    Create {
        parent: Ino,
        name: String,
        ino: Ino,
        mode: u32,
        mtime: i64,
        size: u64,
        extents: Vec<Extent>,
    },
    /// New contents for an existing file.
    SetContent {
        ino: Ino,
        mtime: i64,
        size: u64,
        extents: Vec<Extent>,
    },
    Symlink {
        parent: Ino,
        name: String,
        ino: Ino,
        target: String,
        mtime: i64,
    },
    /// Removes an entry and, for a directory, everything under it.
    Remove { parent: Ino, name: String },
    /// Moves an entry, replacing whatever the destination held.
    Rename {
        parent: Ino,
        name: String,
        new_parent: Ino,
        new_name: String,
    },
    SetAttr {
        ino: Ino,
        mode: Option<u32>,
        mtime: Option<i64>,
    },
}

impl Op {
    /// The data extents this op makes a file use.
    pub fn extents(&self) -> &[Extent] {
        match self {
            Op::Create { extents, .. } | Op::SetContent { extents, .. } => extents,
            _ => &[],
        }
    }
}
