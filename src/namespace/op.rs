//! Namespace mutations as they travel in WAL records. The writer validates a user request, turns it into
//! these primitive ops, and applies them with the same code every reader uses, so all replicas agree.

use crate::protocol::block_hashes::{root_of, BlockHash};
use serde::{Deserialize, Serialize};

pub type Ino = i64;
pub const ROOT_INO: Ino = 1;

/// Where a run of file bytes lives: `len` bytes at `off` in object `key` (a pack or a chunk);
/// `hash` is the blake3 of those bytes, checked whenever the whole run is read. A chunk longer than a
/// block written from format version 3 on also carries each block's hash (`protocol::block_hashes`),
/// so each block is checked as it arrives; extents written before have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub key: String,
    pub off: u64,
    pub len: u64,
    pub hash: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "hex_blocks")]
    pub blocks: Vec<BlockHash>,
}

impl Extent {
    /// Bytes `[off, off + len)` of `key` with no block hashes (a pack's file, or a test's).
    pub fn new(key: String, off: u64, len: u64, hash: String) -> Self {
        Extent {
            key,
            off,
            len,
            hash,
            blocks: Vec::new(),
        }
    }

    /// The block hashes when they are whole and make up the extent's hash (never trusted otherwise:
    /// the extent is then checked whole, as extents without them are).
    pub fn checked_blocks(&self) -> Option<&[BlockHash]> {
        (self.off == 0
            && !self.blocks.is_empty()
            && root_of(&self.blocks, self.len).as_deref() == Some(self.hash.as_str()))
        .then_some(&self.blocks[..])
    }
}

/// Block hashes in JSON, as hex strings.
mod hex_blocks {
    use super::BlockHash;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(blocks: &[BlockHash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(blocks.iter().map(|b| crate::protocol::codec::to_hex(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BlockHash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| {
                crate::protocol::codec::hex32(h)
                    .ok_or_else(|| D::Error::custom(format!("not a block hash: {h:?}")))
            })
            .collect()
    }
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
    /// The inode a creating op (mkdir, create, symlink) makes.
    pub fn made_ino(&self) -> Option<Ino> {
        match self {
            Op::Mkdir { ino, .. } | Op::Create { ino, .. } | Op::Symlink { ino, .. } => Some(*ino),
            _ => None,
        }
    }

    /// The data extents this op makes a file use.
    pub fn extents(&self) -> &[Extent] {
        match self {
            Op::Create { extents, .. } | Op::SetContent { extents, .. } => extents,
            _ => &[],
        }
    }
}
