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

/// Blocks on their way into the disk cache. Hashing and writing a block costs about what fetching it
/// does, so one background writer does it off the read's path; reads find the blocks here meanwhile.
/// Past `PENDING_BLOCK_BYTES` the writer is behind, and the caller says what to do (`WhenBehind`).
#[derive(Default)]
struct PendingBlocks {
    blocks: std::collections::HashMap<String, Bytes>,
    queue: std::collections::VecDeque<String>,
    bytes: u64,
    writing: bool,
}

const PENDING_BLOCK_BYTES: u64 = 16 << 20;

/// What `cache_later` does with a block while the background writer is behind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenBehind {
    /// Write it now, on the caller's thread: a block read once is likely read again.
    Write,
    /// Leave it uncached: a block just uploaded is in the bucket, and the upload must not wait.
    Skip,
}
/// A cold read this small, not following on from the last read of its chunk, fetches just its bytes
/// instead of whole blocks: random small reads cost one small GET.
const DIRECT_READ_MAX: u64 = 64 << 10;

/// The largest file `read_in_memory` answers, and what all the files it keeps may hold.
pub(crate) const HOT_FILE_MAX: u64 = 256 << 10;
const HOT_FILES_BYTES: u64 = 16 << 20;

/// Small files read whole and verified, by inode, so a repeated `readFile` neither looks up extents nor
/// hashes again. Cleared whenever committed state changes (with the stat cache); the generation keeps
/// bytes read before a change from being stored after it.
#[derive(Default)]
pub(crate) struct HotFiles {
    inner: Mutex<HotFilesInner>,
}

#[derive(Default)]
struct HotFilesInner {
    generation: u64,
    bytes: u64,
    files: std::collections::HashMap<Ino, Bytes>,
}

impl HotFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, HotFilesInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn clear(&self) {
        let mut g = self.lock();
        g.generation += 1;
        g.bytes = 0;
        g.files.clear();
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn get(&self, ino: Ino) -> Option<Bytes> {
        self.lock().files.get(&ino).cloned()
    }

    fn put(&self, generation: u64, ino: Ino, data: Bytes) {
        let mut g = self.lock();
        if g.generation != generation {
            return;
        }
        if g.bytes + data.len() as u64 > HOT_FILES_BYTES {
            g.bytes = 0;
            g.files.clear();
        }
        g.bytes += data.len() as u64;
        if let Some(old) = g.files.insert(ino, data) {
            g.bytes -= old.len() as u64;
        }
    }
}

/// Recently read packs, verified and in memory, so reading many small files of one pack costs neither
/// disk reads nor re-hashing the pack each time.

pub(crate) struct HotPacks {
    lru: Mutex<(lru::LruCache<String, Bytes>, u64)>,
    max_bytes: u64,
}

impl HotPacks {
    pub(crate) fn new(max_bytes: u64) -> Self {
        HotPacks {
            lru: Mutex::new((lru::LruCache::unbounded(), 0)),
            max_bytes,
        }
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        self.lru
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(key)
            .cloned()
    }

    pub(crate) fn put(&self, key: &str, data: Bytes) {
        if data.len() as u64 > self.max_bytes {
            return;
        }
        let mut g = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        let (lru, used) = &mut *g;
        if let Some(old) = lru.put(key.to_string(), data.clone()) {
            *used -= old.len() as u64;
        }
        *used += data.len() as u64;
        while *used > self.max_bytes {
            match lru.pop_lru() {
                Some((_, d)) => *used -= d.len() as u64,
                None => break,
            }
        }
    }
}

/// Whether `parts`, joined, hash to `hash` (without joining them).
fn hash_is(parts: &[Bytes], hash: &str) -> bool {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_hex().as_str() == hash
}

/// Packs are small (≤ PACK_MAX) and read whole; chunks are read by aligned blocks.
fn whole_object(key: &str) -> bool {
    key.starts_with("packs/")
}

impl Mount {
    /// A small file's bytes, answered on the caller's thread when they are in memory (a hot file, or
    /// every extent in a hot pack). `Ok(None)` means "read it the async way", which also gives the
    /// canonical error for anything but an absent path.
    pub fn read_in_memory(&self, raw: &str) -> FsResult<Option<Bytes>> {
        let generation = self.reads.files.generation();
        let st = match self.stat(raw, true) {
            Ok(st) => st,
            Err(e) if absent(&e) => return Err(FsError::new(e.code, "open", Some(raw))),
            Err(_) => return Ok(None),
        };
        if st.kind != Kind::File || st.size > HOT_FILE_MAX {
            return Ok(None);
        }
        if let Some(b) = self.reads.files.get(st.ino) {
            return Ok(Some(b));
        }
        let Some(node) = self.with_read(|c| namespace::get_inode(c, st.ino))? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(node.size as usize);
        for x in node.extents()? {
            let Some(bytes) = self.hot_extent(&x) else {
                return Ok(None);
            };
            out.extend_from_slice(&bytes);
        }
        if out.len() as u64 != node.size {
            return Ok(None);
        }
        let data = Bytes::from(out);
        self.reads.files.put(generation, node.ino, data.clone());
        Ok(Some(data))
    }

    /// An extent of a pack held in memory, checked against its hash (`None` when not there or not
    /// good: the async path then goes to the bucket for a good copy).
    pub(crate) fn hot_extent(&self, x: &Extent) -> Option<Bytes> {
        if !whole_object(&x.key) {
            return None;
        }
        let pack = self.reads.hot.get(&x.key)?;
        let bytes = pack.get(x.off as usize..x.off.checked_add(x.len)? as usize)?;
        (crate::protocol::hash_hex(bytes) == x.hash).then(|| pack.slice_ref(bytes))
    }

    /// A place among the downloads in flight; held for the length of one GET.
    pub(crate) async fn transfer_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.reads.transfers.clone().acquire_owned().await.ok()
    }

    /// A place among the uploads in flight: fewer than downloads, since each holds a chunk in memory.
    pub(crate) async fn upload_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.pins.permits.clone().acquire_owned().await.ok()
    }

    /// Puts a freshly uploaded chunk in the cache, block by block, so reading it back is free.
    pub(crate) fn cache_chunk(self: &Arc<Self>, key: &str, chunk: &Bytes) {
        for (i, a) in (0..chunk.len()).step_by(BLOCK_SIZE as usize).enumerate() {
            let b = (a + BLOCK_SIZE as usize).min(chunk.len());
            self.cache_later(unit_id(key, Some(i as u64)), chunk.slice(a..b), WhenBehind::Skip);
        }
    }

    /// Queues a block for the disk cache (see `PendingBlocks`).
    pub(crate) fn cache_later(self: &Arc<Self>, id: String, data: Bytes, behind: WhenBehind) {
        let start_writer = {
            let mut p = self.reads.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.bytes + data.len() as u64 > PENDING_BLOCK_BYTES {
                drop(p);
                if behind == WhenBehind::Write {
                    self.cache.put(&id, &data);
                }
                return;
            }
            p.bytes += data.len() as u64;
            if let Some(old) = p.blocks.insert(id.clone(), data) {
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
            let (id, data) = {
                let mut p = self.reads.pending.lock().unwrap_or_else(|p| p.into_inner());
                let Some(id) = p.queue.pop_front() else {
                    p.writing = false;
                    return;
                };
                match p.blocks.get(&id) {
                    Some(d) => (id, d.clone()),
                    None => continue,
                }
            };
            self.cache.put(&id, &data);
            let mut p = self.reads.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.blocks.get(&id).is_some_and(|d| d.as_ptr() == data.as_ptr()) {
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
        while !self.reads.pending.lock().unwrap_or_else(|p| p.into_inner()).blocks.is_empty()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// A cache unit's bytes: on their way to the disk cache, or from it (checked there).
    fn cached(&self, id: &str) -> Option<Bytes> {
        let pending = self
            .reads
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocks
            .get(id)
            .cloned();
        pending.or_else(|| self.cache.get(id).map(Bytes::from))
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
                    self.cache_later(id.clone(), data.clone(), WhenBehind::Skip);
                    Ok(data)
                })
                .await?
            }
        };
        self.reads.hot.put(key, data.clone());
        Ok(data)
    }

    /// Blocks `first..=last` of a chunk: cached ones as given, the rest with one ranged GET.
    /// Also says whether any block came from the bucket (so the caller knows what to verify).
    /// `blocks` holds what the cache had for each (looked up by the caller).
    async fn chunk_blocks(
        self: &Arc<Self>,
        key: &str,
        first: u64,
        last: u64,
        mut blocks: Vec<Option<Bytes>>,
    ) -> FsResult<(Vec<Bytes>, bool)> {
        let missing: Vec<u64> = (first..=last)
            .filter(|b| blocks[(b - first) as usize].is_none())
            .collect();
        let fetched = !missing.is_empty();
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            let id = format!("{key}#{lo}-{hi}");
            let span = self
                .single_flight(&id, async {
                    let data = self
                        .get_range(
                            key,
                            Some(ByteRange::Bounded {
                                start: lo * BLOCK_SIZE,
                                end: (hi + 1) * BLOCK_SIZE,
                            }),
                        )
                        .await?;
                    for (i, a) in (0..data.len()).step_by(BLOCK_SIZE as usize).enumerate() {
                        let b = (a + BLOCK_SIZE as usize).min(data.len());
                        let id = unit_id(key, Some(lo + i as u64));
                        self.cache_later(id, data.slice(a..b), WhenBehind::Skip);
                    }
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
        Ok((blocks, fetched))
    }

    /// Bytes `[start, end)` of one extent, as slices of what was fetched or cached (not copied), and
    /// whether they must be checked against the extent's hash: always for packs (small), and for
    /// chunks when any block came from the bucket (cached blocks were checked when they arrived, and
    /// again against their own checksum on the way out).
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
                .get_range(&x.key, Some(ByteRange::Bounded { start: abs_start, end: abs_end }))
                .await?;
            if data.len() as u64 != abs_end - abs_start {
                return Err(short());
            }
            return Ok((vec![data], false));
        }
        let (blocks, fetched) = self.chunk_blocks(&x.key, first, last, cached).await?;
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
        // Extents are read (and hashed) as separate tasks, so large reads use every core.
        let tasks: Vec<_> = parts
            .into_iter()
            .map(|(x, a, b)| self.runtime.spawn(self.clone().checked_part(x, a, b)))
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
            return Err(FsError::new(Code::Corrupt, "read", Some(&x.key))
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
