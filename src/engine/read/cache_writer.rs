//! The background cache writer: fetched and uploaded blocks reach the disk cache off the transfer's path.

use super::*;
use crate::cache::BlockCheck;
use crate::protocol::block_hashes::BlockHash;

/// Blocks on their way into the disk cache. Hashing and writing a block costs about what fetching it
/// does, so one background writer does it off the read's path; reads find the blocks here meanwhile.
/// Past `PENDING_BLOCK_BYTES` the writer is behind, and the caller says what to do (`WhenBehind`).
#[derive(Default)]
pub(super) struct PendingBlocks {
    blocks: std::collections::HashMap<String, (Bytes, Option<BlockCheck>)>,
    queue: std::collections::VecDeque<String>,
    bytes: u64,
    writing: bool,
}

const PENDING_BLOCK_BYTES: u64 = 16 << 20;

/// What `cache_later` does with a block while the background writer is behind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenBehind {
    /// Write it now on the caller's task (a block read once is likely read again, so a reader pays for
    /// the disk rather than leave a hole in the cache; several readers then write in parallel, where
    /// waiting for the one background writer would hold them all to its pace).
    Write,
    /// Leave it uncached: a block just uploaded is in the bucket, and the upload must not wait.
    Skip,
}

impl Mount {
    /// Puts a freshly uploaded chunk in the cache, block by block, so reading it back is free.
    /// `blocks` are its block hashes (none for a chunk of one block).
    pub(crate) fn cache_chunk(self: &Arc<Self>, key: &str, chunk: &Bytes, blocks: &[BlockHash]) {
        self.cache_blocks(key, 0, chunk, blocks, WhenBehind::Skip);
    }

    /// Queues `data`, the blocks of chunk `key` from block `first` on, block by block, each with its
    /// hash from `hashes` (the chunk's block hashes, already checked; empty when it has none).
    pub(super) fn cache_blocks(
        self: &Arc<Self>,
        key: &str,
        first: u64,
        data: &Bytes,
        hashes: &[BlockHash],
        behind: WhenBehind,
    ) {
        for (i, a) in (0..data.len()).step_by(BLOCK_SIZE as usize).enumerate() {
            let b = (a + BLOCK_SIZE as usize).min(data.len());
            let block = first + i as u64;
            let check = hashes.get(block as usize).map(|&hash| BlockCheck {
                offset: block * BLOCK_SIZE,
                hash,
            });
            self.cache_later(unit_id(key, Some(block)), data.slice(a..b), check, behind);
        }
    }

    /// Queues a block for the disk cache (see `PendingBlocks`), with its block hash when it has one.
    pub(crate) fn cache_later(
        self: &Arc<Self>,
        id: String,
        data: Bytes,
        check: Option<BlockCheck>,
        behind: WhenBehind,
    ) {
        let start_writer = {
            let mut p = self.reads.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.bytes + data.len() as u64 > PENDING_BLOCK_BYTES {
                drop(p);
                if behind == WhenBehind::Write {
                    self.cache.put(&id, &data, check);
                }
                return;
            }
            p.bytes += data.len() as u64;
            if let Some((old, _)) = p.blocks.insert(id.clone(), (data, check)) {
                p.bytes -= old.len() as u64;
            }
            p.queue.push_back(id);
            !std::mem::replace(&mut p.writing, true)
        };
        if start_writer {
            let m = self.clone();
            self.runtime.spawn_blocking(move || m.write_pending());
        }
    }

    /// The background writer: drains the queue, then stops until `cache_later` starts it again.
    fn write_pending(&self) {
        loop {
            let (id, data, check) = {
                let mut p = self.reads.pending.lock().unwrap_or_else(|p| p.into_inner());
                let Some(id) = p.queue.pop_front() else {
                    p.writing = false;
                    return;
                };
                match p.blocks.get(&id) {
                    Some((d, check)) => (id, d.clone(), *check),
                    None => continue,
                }
            };
            self.cache.put(&id, &data, check);
            let mut p = self.reads.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.blocks
                .get(&id)
                .is_some_and(|(d, _)| d.as_ptr() == data.as_ptr())
            {
                p.blocks.remove(&id);
                p.bytes -= data.len() as u64;
            }
        }
    }

    /// Writes every queued block now (at close, so that the next mount finds them all).
    pub(crate) fn flush_cache_writes(&self) {
        self.write_pending();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // The background writer may still be putting its last block.
        while !self
            .reads
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocks
            .is_empty()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// A cache unit's bytes: on their way to the disk cache, or from it (checked there).
    pub(super) fn cached(&self, id: &str) -> Option<Bytes> {
        let pending = self
            .reads
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocks
            .get(id)
            .map(|(d, _)| d.clone());
        pending.or_else(|| self.cache.get(id).map(Bytes::from))
    }
}
