//! The remote protocol: where things live in the bucket, the head (the one mutable object, changed only
//! by conditional PUT), WAL records (immutable, one per commit), and snapshots.

pub mod base;
pub mod block_hashes;
pub mod checkpoint;
pub mod codec;
pub mod extents;
pub mod format;
pub mod head;
pub mod op_log;
pub mod record;
pub mod snapshot;

use crate::error::{Code, FsError, FsResult};
use crate::store::{ObjectStore, PutMode, StoreError};
use bytes::Bytes;

pub const HEAD_KEY: &str = "heads/main.json";
pub const PROBE_PREFIX: &str = "_probe/";

pub fn record_key(seq: u64, epoch: u64) -> String {
    format!("wal/{seq:020}-{epoch:010}-{:016x}.rec", fastrand::u64(..))
}

pub fn snapshot_key(seq: u64) -> String {
    format!("snapshots/{seq:020}-{:016x}.snap", fastrand::u64(..))
}

pub fn pack_key(epoch: u64) -> String {
    format!(
        "packs/{epoch:010}-{:016x}{:016x}.pack",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

pub const CHUNK_PREFIX: &str = "chunks/";

pub fn chunk_key(hash: &str) -> String {
    format!("{CHUNK_PREFIX}{hash}")
}

/// The extent of a whole content-addressed chunk: its key, hash and block hashes, each byte hashed once.
pub fn chunk_extent(chunk: &[u8]) -> crate::namespace::Extent {
    let (hash, blocks) = block_hashes::chunk_hashes(chunk);
    crate::namespace::Extent {
        key: chunk_key(&hash),
        off: 0,
        len: chunk.len() as u64,
        hash,
        blocks,
    }
}

pub fn hash_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Writes an immutable object with create-only semantics. A refusal after a lost response is our own
/// earlier write when the stored bytes are ours; anything else is a real conflict.
pub async fn put_immutable(store: &dyn ObjectStore, key: &str, body: Bytes) -> FsResult<()> {
    match store.put(key, body.clone(), PutMode::Create).await {
        Ok(_) => Ok(()),
        Err(StoreError::AlreadyExists { .. }) => {
            let existing = store
                .get_all(key)
                .await
                .map_err(|e| FsError::from_store("commit", e))?;
            if existing.data == body {
                Ok(())
            } else {
                Err(FsError::new(Code::Io, "commit", Some(key))
                    .with_description("an immutable object already exists with other contents"))
            }
        }
        Err(e) => Err(FsError::from_store("commit", e)),
    }
}
