//! Reading file bytes: each extent maps to fetch units (a whole pack, or an aligned block of a chunk),
//! served from the block cache or fetched once (concurrent readers of one unit share the fetch), with
//! a bounded number of transfers in flight. Whole extents are checked against their hash.

use super::*;
use crate::namespace::Extent;
use crate::protocol::block_hashes::{block_hash, BlockHash};
use crate::store::{ByteRange, GetOptions};
use bytes::Bytes;

mod cache_writer;
mod memory;

use cache_writer::PendingBlocks;
pub(crate) use cache_writer::WhenBehind;
use futures::future::try_join_all;
pub(crate) use memory::{HotFiles, HotPacks, HOT_FILE_MAX};

/// The cache id of a fetch unit: a whole object (`block = None`) or one block of it.
pub(crate) fn unit_id(key: &str, block: Option<u64>) -> String {
    match block {
        None => format!("{key}#all"),
        Some(b) => format!("{key}#{b}"),
    }
}

/// The read path's shared state: transfers in flight (bounded), one fetch per unit at a time,
/// recently read packs in memory, and recently read small files, whole and verified.
pub(crate) struct ReadPath {
    pub transfers: Arc<tokio::sync::Semaphore>,
    pub inflight: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub hot: HotPacks,
    pub files: HotFiles,
    pending: Mutex<PendingBlocks>,
    /// Where the last read of each recently read chunk ended: a read starting there is sequential.
    recent_ends: Mutex<lru::LruCache<String, u64>>,
}

impl ReadPath {
    pub fn new() -> Self {
        ReadPath {
            transfers: Arc::new(tokio::sync::Semaphore::new(TRANSFER_CONCURRENCY)),
            inflight: Mutex::new(Default::default()),
            hot: HotPacks::new(HOT_PACK_BYTES),
            files: HotFiles::default(),
            pending: Mutex::new(PendingBlocks::default()),
            recent_ends: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(256).expect("non-zero"),
            )),
        }
    }
}

/// A cold read this small, not following on from the last read of its chunk, fetches just its bytes
/// instead of whole blocks: random small reads cost one small GET.
const DIRECT_READ_MAX: u64 = 64 << 10;

/// One cached block's part of a read: bytes `[from, to)` of block `id` go to byte `at` of the result.
struct BlockRead {
    id: String,
    at: usize,
    from: usize,
    to: usize,
}

/// The extents of a file that `[offset, end)` of it touches, each with where it starts in the file and
/// the part `[a, b)` of it (relative to the extent) the range covers.
fn overlapping(
    extents: &[Extent],
    offset: u64,
    end: u64,
) -> impl Iterator<Item = (&Extent, u64, u64, u64)> {
    extents
        .iter()
        .scan(0u64, |pos, x| {
            let xs = *pos;
            *pos += x.len;
            Some((x, xs))
        })
        .filter(move |(x, xs)| xs + x.len > offset && *xs < end)
        .map(move |(x, xs)| (x, xs, offset.max(xs) - xs, end.min(xs + x.len) - xs))
}

/// Whether `parts`, joined, hash to `hash` (without joining them).
fn hash_is(parts: &[Bytes], hash: &str) -> bool {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_hex().as_str() == hash
}

/// Whether each block of `data` (blocks `first..` of a chunk) has its hash in `hashes`.
fn blocks_match(data: &[u8], first: u64, hashes: &[BlockHash]) -> bool {
    data.chunks(BLOCK_SIZE as usize).enumerate().all(|(i, b)| {
        let block = first + i as u64;
        hashes.get(block as usize) == Some(&block_hash(block * BLOCK_SIZE, b))
    })
}

fn mismatch(key: &str) -> FsError {
    FsError::new(Code::Corrupt, "read", Some(key))
        .with_description("stored bytes do not match their hash")
}

/// Packs are small (≤ PACK_MAX) and read whole; chunks are read by aligned blocks.
fn whole_object(key: &str) -> bool {
    key.starts_with("packs/")
}

impl Mount {
    /// A place among the downloads in flight; held for the length of one GET.
    pub(crate) async fn transfer_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.reads.transfers.clone().acquire_owned().await.ok()
    }

    /// A place among the uploads in flight: fewer than downloads, since each holds a chunk in memory.
    pub(crate) async fn upload_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.pins.permits.clone().acquire_owned().await.ok()
    }

    /// Whether a cold read of `[start, end)` in `key` should fetch just those bytes: small, and not
    /// where the last read of that chunk ended (a sequential reader is better served by blocks).
    fn direct_read(&self, key: &str, start: u64, end: u64) -> bool {
        let mut recent = self
            .reads
            .recent_ends
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sequential = recent.get(key) == Some(&start);
        recent.put(key.to_string(), end);
        !sequential && end - start <= DIRECT_READ_MAX
    }

    /// Runs `fetch` once for `id` however many readers want it at the same time; the others wait and
    /// then find the result in the cache.
    async fn single_flight<T>(
        &self,
        id: &str,
        fetch: impl std::future::Future<Output = FsResult<T>>,
    ) -> FsResult<T> {
        let gate = self
            .reads
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone();
        let guard = gate.lock().await;
        let result = fetch.await;
        drop(guard);
        let mut map = self
            .reads
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&gate) <= 2 {
            map.remove(id);
        }
        result
    }

    async fn get_range(&self, key: &str, range: Option<ByteRange>) -> FsResult<Bytes> {
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
        Ok(got.data)
    }

    /// A whole pack: from memory, the disk cache, or one GET.
    async fn pack(self: &Arc<Self>, key: &str) -> FsResult<Bytes> {
        if let Some(b) = self.reads.hot.get(key) {
            return Ok(b);
        }
        let id = unit_id(key, None);
        let data = match self.cached(&id) {
            Some(d) => d,
            None => {
                self.single_flight(&id, async {
                    if let Some(d) = self.cached(&id) {
                        return Ok(d);
                    }
                    let data = self.get_range(key, None).await?;
                    self.cache_later(id.clone(), data.clone(), None, WhenBehind::Write);
                    Ok(data)
                })
                .await?
            }
        };
        self.reads.hot.put(key, data.clone());
        Ok(data)
    }

    /// Blocks `first..=last` of chunk `x`: cached ones as given, the rest with one ranged GET, each
    /// checked against its block hash when the extent has them. Also says whether any block came from
    /// the bucket unchecked (so the caller knows what to verify). `blocks` holds what the cache had for
    /// each (looked up by the caller).
    async fn chunk_blocks(
        self: &Arc<Self>,
        x: &Extent,
        first: u64,
        last: u64,
        mut blocks: Vec<Option<Bytes>>,
    ) -> FsResult<(Vec<Bytes>, bool)> {
        let key = &x.key;
        let hashes = x.checked_blocks();
        let missing: Vec<u64> = (first..=last)
            .filter(|b| blocks[(b - first) as usize].is_none())
            .collect();
        let fetched = !missing.is_empty();
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            let id = format!("{key}#{lo}-{hi}");
            let span = self
                .single_flight(&id, async {
                    let range = Some(ByteRange::Bounded {
                        start: lo * BLOCK_SIZE,
                        end: (hi + 1) * BLOCK_SIZE,
                    });
                    let mut data = self.get_range(key, range).await?;
                    if let Some(hashes) = hashes {
                        if !blocks_match(&data, lo, hashes) {
                            // A bad copy somewhere on the way: once more from the bucket.
                            data = self.get_range(key, range).await?;
                            if !blocks_match(&data, lo, hashes) {
                                return Err(mismatch(key));
                            }
                        }
                    }
                    self.cache_blocks(key, lo, &data, hashes.unwrap_or(&[]), WhenBehind::Write);
                    Ok(data)
                })
                .await?;
            for b in lo..=hi {
                let a = ((b - lo) * BLOCK_SIZE) as usize;
                if a < span.len() {
                    blocks[(b - first) as usize] =
                        Some(span.slice(a..(a + BLOCK_SIZE as usize).min(span.len())));
                }
            }
        }
        let blocks = blocks
            .into_iter()
            .map(|b| {
                b.ok_or_else(|| {
                    FsError::new(Code::Corrupt, "read", Some(key))
                        .with_description("chunk is shorter than its extent says")
                })
            })
            .collect::<FsResult<Vec<_>>>()?;
        Ok((blocks, fetched && hashes.is_none()))
    }

    /// Bytes `[start, end)` of one extent, as slices of what was fetched or cached (not copied), and
    /// whether they must be checked against the extent's hash: always for packs (small), and for
    /// chunks without block hashes when any block came from the bucket (cached blocks were checked when
    /// they arrived, and again against their own checksum on the way out).
    async fn extent_bytes(
        self: &Arc<Self>,
        x: &Extent,
        start: u64,
        end: u64,
    ) -> FsResult<(Vec<Bytes>, bool)> {
        let short = || {
            FsError::new(Code::Corrupt, "read", Some(&x.key))
                .with_description("stored object is shorter than its extents say")
        };
        if whole_object(&x.key) {
            let obj = self.pack(&x.key).await?;
            let (a, b) = ((x.off + start) as usize, (x.off + end) as usize);
            if b > obj.len() {
                return Err(short());
            }
            return Ok((vec![obj.slice(a..b)], true));
        }
        let (abs_start, abs_end) = (x.off + start, x.off + end);
        let (first, last) = (abs_start / BLOCK_SIZE, (abs_end - 1) / BLOCK_SIZE);
        let cached: Vec<Option<Bytes>> = (first..=last)
            .map(|b| self.cached(&unit_id(&x.key, Some(b))))
            .collect();
        if cached.iter().any(Option::is_none) && self.direct_read(&x.key, abs_start, abs_end) {
            let data = self
                .get_range(
                    &x.key,
                    Some(ByteRange::Bounded {
                        start: abs_start,
                        end: abs_end,
                    }),
                )
                .await?;
            if data.len() as u64 != abs_end - abs_start {
                return Err(short());
            }
            return Ok((vec![data], false));
        }
        let (blocks, fetched) = self.chunk_blocks(x, first, last, cached).await?;
        let mut out = Vec::with_capacity(blocks.len());
        for (i, data) in blocks.into_iter().enumerate() {
            let base = (first + i as u64) * BLOCK_SIZE;
            let a = abs_start.max(base) - base;
            let b = (abs_end.min(base + data.len() as u64)).saturating_sub(base);
            if a > b || b as usize > data.len() {
                return Err(short());
            }
            out.push(data.slice(a as usize..b as usize));
        }
        Ok((out, fetched))
    }

    /// One extent's part, checked against the extent's hash when it is the whole extent.
    async fn checked_part(self: Arc<Self>, x: Extent, a: u64, b: u64) -> FsResult<Vec<Bytes>> {
        let (parts, verify) = self.extent_bytes(&x, a, b).await?;
        if verify && a == 0 && b == x.len && !hash_is(&parts, &x.hash) {
            // A bad copy somewhere: go to the bucket once more.
            return Ok(vec![self.refetch_extent(&x).await?]);
        }
        Ok(parts)
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
        if end - offset >= 2 * BLOCK_SIZE {
            let (me, all) = (self.clone(), extents.clone());
            let warm = self
                .runtime
                .spawn_blocking(move || me.read_cached_blocks(&all, offset, end))
                .await;
            if let Ok(Some(out)) = warm {
                return Ok(out);
            }
        }
        // Extents are read (and hashed) as separate tasks, so large reads use every core.
        let tasks: Vec<_> = overlapping(&extents, offset, end)
            .map(|(x, _, a, b)| {
                self.runtime
                    .spawn(self.clone().checked_part(x.clone(), a, b))
            })
            .collect();
        let pieces = try_join_all(tasks.into_iter().map(|t| async move {
            t.await
                .map_err(|e| FsError::internal("read", e.to_string()))?
        }))
        .await?;
        // The one copy: from what was fetched or cached into the caller's buffer.
        let mut out = Vec::with_capacity((end - offset) as usize);
        for piece in pieces.iter().flatten() {
            out.extend_from_slice(piece);
        }
        Ok(out)
    }

    /// `[offset, end)` when every byte is in cached chunk blocks, read straight into the result (no
    /// buffer per block, no second copy); `None` when any part is a pack, not on disk
    /// yet, or damaged: the general path then takes it (and counts and refetches the damage).
    /// Large reads are split over two threads.
    fn read_cached_blocks(&self, extents: &[Extent], offset: u64, end: u64) -> Option<Vec<u8>> {
        let mut plan = Vec::new();
        for (x, xs, a, b) in overlapping(extents, offset, end) {
            if whole_object(&x.key) {
                return None;
            }
            let (a, b) = (x.off + a, x.off + b);
            for block in a / BLOCK_SIZE..b.div_ceil(BLOCK_SIZE) {
                let id = unit_id(&x.key, Some(block));
                if !self.cache.contains(&id) {
                    return None;
                }
                let base = block * BLOCK_SIZE;
                let (ra, rb) = (a.max(base), b.min(base + BLOCK_SIZE));
                let at = (xs + ra - x.off - offset) as usize;
                plan.push(BlockRead {
                    id,
                    at,
                    from: (ra - base) as usize,
                    to: (rb - base) as usize,
                });
            }
        }
        let mut out = vec![0u8; (end - offset) as usize];
        // A second thread pays for itself only on large reads (a stream's 4 MiB pieces read on one).
        if plan.len() < 32 {
            return self.fill_from_cache(&plan, &mut out, 0).then_some(out);
        }
        let mid = plan.len() / 2;
        let split = plan.get(mid).map_or(out.len(), |r| r.at);
        let (low, high) = out.split_at_mut(split);
        let ok = std::thread::scope(|s| {
            let other = s.spawn(|| self.fill_from_cache(&plan[mid..], high, split));
            let mine = self.fill_from_cache(&plan[..mid], low, 0);
            mine && other.join().unwrap_or(false)
        });
        ok.then_some(out)
    }

    /// Reads each planned block into `dest` (which starts at byte `base` of the result).
    fn fill_from_cache(&self, plan: &[BlockRead], dest: &mut [u8], base: usize) -> bool {
        let mut tmp = Vec::new();
        plan.iter().all(|r| {
            let d = &mut dest[r.at - base..r.at - base + (r.to - r.from)];
            if r.from == 0 && d.len() == BLOCK_SIZE as usize {
                // A whole block: straight into the result, if it is the size it should be.
                let mut wrong = false;
                let (spare, flag) = (&mut tmp, &mut wrong);
                let ok = self.cache.read_with(&r.id, move |len| {
                    if len == d.len() {
                        d
                    } else {
                        *flag = true;
                        spare.resize(len, 0);
                        &mut spare[..]
                    }
                });
                ok && !wrong
            } else {
                let ok = self.cache.read_with(&r.id, |len| {
                    tmp.resize(len, 0);
                    &mut tmp[..]
                });
                ok && tmp.len() >= r.to && {
                    d.copy_from_slice(&tmp[r.from..r.to]);
                    true
                }
            }
        })
    }

    /// The extent once more from the bucket (a place among the transfers like any fetch), checked whole.
    async fn refetch_extent(&self, x: &Extent) -> FsResult<Bytes> {
        let range = Some(ByteRange::Bounded {
            start: x.off,
            end: x.off + x.len,
        });
        let data = self.get_range(&x.key, range).await?;
        if crate::protocol::hash_hex(&data) != x.hash {
            return Err(mismatch(&x.key));
        }
        Ok(data)
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
