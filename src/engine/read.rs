//! Reading file bytes: each extent maps to fetch units (a whole pack, or an aligned block of a chunk),
//! served from the block cache or fetched once (concurrent readers of one unit share the fetch), with
//! a bounded number of transfers in flight. Whole extents are checked against their hash.

use super::*;
use crate::namespace::Extent;
use crate::store::{ByteRange, GetOptions};
use bytes::Bytes;
use futures::future::try_join_all;

/// The cache id of a fetch unit: a whole object (`block = None`) or one block of it.
pub(crate) fn unit_id(key: &str, block: Option<u64>) -> String {
    match block {
        None => format!("{key}#all"),
        Some(b) => format!("{key}#{b}"),
    }
}

/// Packs are small (≤ PACK_MAX) and read whole; chunks are read by aligned blocks.
fn whole_object(key: &str) -> bool {
    key.starts_with("packs/")
}

impl Mount {
    /// A place among the transfers in flight; held for the length of one GET or PUT.
    pub(crate) async fn transfer_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.transfers.clone().acquire_owned().await.ok()
    }

    /// Puts a freshly uploaded chunk in the cache, block by block, so reading it back is free.
    pub(crate) fn cache_chunk(&self, key: &str, chunk: &[u8]) {
        for (i, block) in chunk.chunks(BLOCK_SIZE as usize).enumerate() {
            self.cache.put(&unit_id(key, Some(i as u64)), block);
        }
    }

    /// One fetch unit, from the cache or the store (once, however many readers want it).
    async fn unit(&self, key: &str, block: Option<u64>) -> FsResult<Bytes> {
        let id = unit_id(key, block);
        if let Some(data) = self.cache.get(&id) {
            return Ok(Bytes::from(data));
        }
        let gate = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.clone())
            .or_default()
            .clone();
        let _guard = gate.lock().await;
        let result = async {
            if let Some(data) = self.cache.get(&id) {
                return Ok(Bytes::from(data));
            }
            let range = block.map(|b| ByteRange::Bounded {
                start: b * BLOCK_SIZE,
                end: (b + 1) * BLOCK_SIZE,
            });
            let _permit = self.transfer_permit().await;
            let got = self
                .store
                .get(
                    key,
                    GetOptions {
                        range,
                        if_none_match: None,
                    },
                )
                .await
                .map_err(|e| FsError::from_store("read", e))?;
            self.cache.put(&id, &got.data);
            Ok(got.data)
        }
        .await;
        drop(_guard);
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&gate) <= 2 {
            map.remove(&id);
        }
        result
    }

    /// Bytes `[start, end)` of one extent.
    async fn extent_bytes(&self, x: &Extent, start: u64, end: u64) -> FsResult<Bytes> {
        if whole_object(&x.key) {
            let obj = self.unit(&x.key, None).await?;
            let (a, b) = ((x.off + start) as usize, (x.off + end) as usize);
            if b > obj.len() {
                return Err(FsError::new("EIO", "read", Some(&x.key))
                    .with_description("pack is shorter than its extents say"));
            }
            return Ok(obj.slice(a..b));
        }
        let (first, last) = ((x.off + start) / BLOCK_SIZE, (x.off + end - 1) / BLOCK_SIZE);
        let blocks = try_join_all((first..=last).map(|b| self.unit(&x.key, Some(b)))).await?;
        let mut out = Vec::with_capacity((end - start) as usize);
        for (i, data) in blocks.iter().enumerate() {
            let base = (first + i as u64) * BLOCK_SIZE;
            let a = (x.off + start).max(base) - base;
            let b = ((x.off + end).min(base + data.len() as u64)).saturating_sub(base);
            if a > b || b as usize > data.len() {
                return Err(FsError::new("EIO", "read", Some(&x.key))
                    .with_description("chunk is shorter than its extent says"));
            }
            out.extend_from_slice(&data[a as usize..b as usize]);
        }
        Ok(Bytes::from(out))
    }

    /// Reads `[offset, offset + len)` of a file made of `extents`, clipped to its size.
    pub async fn read_range(
        self: &Arc<Self>,
        extents: Vec<Extent>,
        size: u64,
        offset: u64,
        len: u64,
    ) -> FsResult<Vec<u8>> {
        let end = offset.saturating_add(len).min(size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut parts = Vec::new();
        let mut pos = 0u64;
        for x in &extents {
            let (xs, xe) = (pos, pos + x.len);
            pos = xe;
            if xe <= offset || xs >= end {
                continue;
            }
            parts.push((x.clone(), offset.max(xs) - xs, end.min(xe) - xs));
        }
        let chunks = try_join_all(parts.iter().map(|(x, a, b)| async move {
            let data = self.extent_bytes(x, *a, *b).await?;
            if *a == 0 && *b == x.len && crate::protocol::hash_hex(&data) != x.hash {
                // A bad copy somewhere: drop cached units and go to the bucket once more.
                return self.refetch_extent(x).await;
            }
            Ok(data)
        }))
        .await?;
        let mut out = Vec::with_capacity((end - offset) as usize);
        for c in chunks {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    async fn refetch_extent(&self, x: &Extent) -> FsResult<Bytes> {
        let range = Some(ByteRange::Bounded {
            start: x.off,
            end: x.off + x.len,
        });
        let got = self
            .store
            .get(
                &x.key,
                GetOptions {
                    range,
                    if_none_match: None,
                },
            )
            .await
            .map_err(|e| FsError::from_store("read", e))?;
        if crate::protocol::hash_hex(&got.data) != x.hash {
            return Err(FsError::new("EIO", "read", Some(&x.key))
                .with_description("stored bytes do not match their hash"));
        }
        Ok(got.data)
    }

    /// Joins a transaction's view of a file: staged bytes as they are, the rest fetched.
    pub async fn assemble(self: &Arc<Self>, pieces: Vec<super::txn::Piece>) -> FsResult<Vec<u8>> {
        let parts = try_join_all(pieces.into_iter().map(|p| async move {
            match p {
                super::txn::Piece::Ready(b) => Ok(b.to_vec()),
                super::txn::Piece::Remote(x) => {
                    let len = x.len;
                    self.read_range(vec![x], len, 0, len).await
                }
            }
        }))
        .await?;
        Ok(parts.concat())
    }
}
