//! The local block cache: a bounded LRU (by bytes) of fetched object ranges under `cacheRoot`. Each file
//! is named by the hash of its id and a checksum of its contents (their blake3, or for a chunk's block its
//! hash as that block, known before it arrives: `@offset` in the name), so every read is checked and a warm
//! remount finds the cache again by listing the directory. A block that fails its check is dropped and
//! refetched, never returned. Pinned blocks are never evicted. Losing the directory loses nothing.

use crate::protocol::block_hashes::{BlockHash, BLOCK_SIZE};
use blake3::hazmat::HasherExt;
use lru::LruCache;
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone)]
struct Entry {
    file: String,
    size: u64,
    hash: String,
    /// Where the block sits in its chunk when `hash` is its block hash; `None`: the blake3 of the bytes.
    offset: Option<u64>,
}

/// A chunk block's hash, known from its extent, given to `put` so storing the block hashes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCheck {
    pub offset: u64,
    pub hash: BlockHash,
}

/// Whether a block of `size` bytes at `offset` can be checked by its block hash (blake3 panics on a
/// subtree that is empty, misaligned or longer than its offset allows; a damaged entry can be any of
/// them, and then it is dropped instead).
fn block_fits(offset: u64, size: u64) -> bool {
    offset.is_multiple_of(BLOCK_SIZE) && size > 0 && size <= BLOCK_SIZE
}

/// A hasher for an entry's checksum: plain blake3, or the block hash at `offset`.
fn checksum_hasher(offset: Option<u64>) -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    if let Some(off) = offset {
        h.set_input_offset(off);
    }
    h
}

/// The checksum as entries keep it (the first 16 bytes, in hex).
fn checksum_of(h: &blake3::Hasher, offset: Option<u64>) -> String {
    let full = match offset {
        // No block is empty (and blake3 has no chaining value for nothing): an empty file is damage.
        Some(_) if h.count() == 0 => return String::new(),
        Some(_) => h.finalize_non_root(),
        None => *h.finalize().as_bytes(),
    };
    crate::protocol::codec::to_hex(&full[..16])
}

#[derive(Debug)]
struct State {
    lru: LruCache<String, Entry>,
    used: u64,
    pinned: HashMap<String, u32>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub corrupt: u64,
    pub evictions: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub entries: u64,
}

#[derive(Debug)]
pub struct BlockCache {
    dir: PathBuf,
    capacity: u64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
    evictions: AtomicU64,
}

fn id_hash(id: &str) -> String {
    blake3::hash(id.as_bytes()).to_hex()[..32].to_string()
}

impl BlockCache {
    /// Opens the cache directory, adopting the blocks already there (oldest first in LRU order).
    pub fn open(dir: &Path, capacity: u64) -> std::io::Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((idh, check)) = name.split_once('-') else {
                let _ = fs::remove_file(entry.path());
                continue;
            };
            let meta = entry.metadata()?;
            let (hash, offset) = match check.split_once('@') {
                None => (check, None),
                Some((hash, off)) => match off.parse() {
                    Ok(off) if block_fits(off, meta.len()) => (hash, Some(off)),
                    _ => {
                        let _ = fs::remove_file(entry.path());
                        continue;
                    }
                },
            };
            found.push((
                meta.modified().ok(),
                idh.to_string(),
                Entry {
                    file: name.clone(),
                    size: meta.len(),
                    hash: hash.to_string(),
                    offset,
                },
            ));
        }
        found.sort_by_key(|f| f.0);
        let mut state = State {
            lru: LruCache::unbounded(),
            used: 0,
            pinned: HashMap::new(),
        };
        for (_, idh, e) in found {
            state.used += e.size;
            state.lru.put(idh, e);
        }
        let cache = BlockCache {
            dir: dir.to_path_buf(),
            capacity,
            state: Mutex::new(state),
            hits: 0.into(),
            misses: 0.into(),
            corrupt: 0.into(),
            evictions: 0.into(),
        };
        let doomed = cache.evict_to(capacity, &mut cache.lock());
        cache.remove_files(doomed);
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The block's bytes when cached and intact.
    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        let mut data = Vec::new();
        self.read_with(id, |len| {
            data.resize(len, 0);
            &mut data[..]
        })
        .then_some(data)
    }

    /// Whether `id` is cached (not checked: a read may still find it damaged).
    pub fn contains(&self, id: &str) -> bool {
        self.lock().lru.contains(&id_hash(id))
    }

    /// Reads the block, when cached and intact, into the buffer `dest(len)` gives for its length (so a
    /// caller can read straight into its result); false when missing or damaged (then dropped).
    pub fn read_with<'a>(&self, id: &str, dest: impl FnOnce(usize) -> &'a mut [u8]) -> bool {
        let idh = id_hash(id);
        let entry = self.lock().lru.get(&idh).cloned();
        let Some(entry) = entry else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let read = fs::File::open(self.dir.join(&entry.file)).and_then(|mut f| {
            let buf = dest(entry.size as usize);
            f.read_exact(buf)?;
            // Longer than recorded is damage too.
            let mut h = checksum_hasher(entry.offset);
            h.update(buf);
            Ok(f.read(&mut [0u8; 1])? == 0 && checksum_of(&h, entry.offset) == entry.hash)
        });
        match read {
            Ok(true) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => {
                // Flipped, truncated or deleted behind our back: forget it; the caller refetches.
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                let mut st = self.lock();
                if let Some(e) = st.lru.pop(&idh) {
                    st.used -= e.size;
                }
                drop(st);
                let _ = fs::remove_file(self.dir.join(&entry.file));
                false
            }
        }
    }

    /// Stores a block, evicting least-recently-used unpinned blocks to stay within capacity; `known` is
    /// its block hash when it is a chunk's block (checked by the caller: not hashed again here).
    /// A block larger than the whole cache is not kept.
    pub fn put(&self, id: &str, data: &[u8], known: Option<BlockCheck>) {
        if data.len() as u64 > self.capacity {
            return;
        }
        // Room first, so the file being written never takes the directory past capacity.
        let doomed = self.evict_to(self.capacity - data.len() as u64, &mut self.lock());
        self.remove_files(doomed);
        let Ok((tmp, mut f)) = self.temp_file() else {
            return;
        };
        if f.write_all(data).is_err() {
            let _ = fs::remove_file(&tmp);
            return;
        }
        let (hash, offset) = match known {
            Some(k) if block_fits(k.offset, data.len() as u64) => (
                crate::protocol::codec::to_hex(&k.hash[..16]),
                Some(k.offset),
            ),
            _ => (blake3::hash(data).to_hex()[..32].to_string(), None),
        };
        self.adopt_entry(id, &tmp, hash, offset, data.len() as u64);
    }

    fn evict_to(&self, capacity: u64, st: &mut State) -> Vec<String> {
        let mut doomed = Vec::new();
        let mut skipped = Vec::new();
        while st.used > capacity {
            let Some((idh, e)) = st.lru.pop_lru() else {
                break;
            };
            if st.pinned.contains_key(&idh) {
                skipped.push((idh, e));
                continue;
            }
            st.used -= e.size;
            self.evictions.fetch_add(1, Ordering::Relaxed);
            doomed.push(e.file);
        }
        // Pinned blocks go back as most recently used.
        for (idh, e) in skipped {
            st.lru.put(idh, e);
        }
        doomed
    }

    fn remove_files(&self, files: Vec<String>) {
        for f in files {
            let _ = fs::remove_file(self.dir.join(f));
        }
    }

    /// The file of a cached entry, when present (materialized copies are read in place).
    /// Checked against its hash first: a copy changed on disk is dropped, never handed out again.
    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        let idh = id_hash(id);
        let entry = self.lock().lru.get(&idh).cloned()?;
        let path = self.dir.join(&entry.file);
        let mut hasher = checksum_hasher(entry.offset);
        // No more than the entry's size is hashed (a block hash panics past its block); longer is damage.
        let intact = fs::File::open(&path)
            .and_then(|f| {
                let mut f = f.take(entry.size);
                hasher.update_reader(&mut f)?;
                Ok(hasher.count() == entry.size && f.into_inner().read(&mut [0u8; 1])? == 0)
            })
            .unwrap_or(false)
            && checksum_of(&hasher, entry.offset) == entry.hash;
        if intact {
            return Some(path);
        }
        self.corrupt.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        if st.lru.peek(&idh).is_some_and(|e| e.file == entry.file) {
            st.lru.pop(&idh);
            st.used -= entry.size;
        }
        drop(st);
        let _ = fs::remove_file(&path);
        None
    }

    /// A new private temp file in the cache directory, to be `adopt`ed once written.
    pub fn temp_file(&self) -> std::io::Result<(PathBuf, fs::File)> {
        let tmp = self.dir.join(format!(".tmp-{}", fastrand::u64(..)));
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        Ok((tmp, f))
    }

    /// Moves a written temp file into the cache as entry `id` (its contents hash to `hash`).
    pub fn adopt(&self, id: &str, tmp: &Path, hash: &str, size: u64) -> PathBuf {
        self.adopt_entry(id, tmp, hash.to_string(), None, size)
    }

    fn adopt_entry(
        &self,
        id: &str,
        tmp: &Path,
        hash: String,
        offset: Option<u64>,
        size: u64,
    ) -> PathBuf {
        let idh = id_hash(id);
        let file = match offset {
            None => format!("{idh}-{hash}"),
            Some(off) => format!("{idh}-{hash}@{off}"),
        };
        let path = self.dir.join(&file);
        if fs::rename(tmp, &path).is_err() {
            let _ = fs::remove_file(tmp);
        }
        let doomed = {
            let mut st = self.lock();
            let mut doomed = Vec::new();
            if let Some(old) = st.lru.put(
                idh,
                Entry {
                    file: file.clone(),
                    size,
                    hash,
                    offset,
                },
            ) {
                st.used -= old.size;
                if old.file != file {
                    doomed.push(old.file);
                }
            }
            st.used += size;
            doomed.extend(self.evict_to(self.capacity, &mut st));
            doomed
        };
        self.remove_files(doomed);
        path
    }

    pub fn pin(&self, id: &str) {
        *self.lock().pinned.entry(id_hash(id)).or_insert(0) += 1;
    }

    pub fn unpin(&self, id: &str) {
        let mut st = self.lock();
        let idh = id_hash(id);
        if let Some(n) = st.pinned.get_mut(&idh) {
            *n -= 1;
            if *n == 0 {
                st.pinned.remove(&idh);
            }
        }
        let doomed = self.evict_to(self.capacity, &mut st);
        drop(st);
        self.remove_files(doomed);
    }

    pub fn stats(&self) -> CacheStats {
        let st = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            used_bytes: st.used,
            capacity_bytes: self.capacity,
            entries: st.lru.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_checked_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        let c = BlockCache::open(dir.path(), 100).unwrap();
        c.put("a", &[1u8; 40], None);
        c.put("b", &[2u8; 40], None);
        assert_eq!(c.get("a").unwrap(), vec![1u8; 40]);
        c.put("c", &[3u8; 40], None); // evicts b, the least recently used
        assert!(c.get("b").is_none());
        assert!(c.stats().used_bytes <= 100);
        c.put("huge", &[0u8; 500], None);
        assert!(c.get("huge").is_none());

        // Corrupt a block on disk: detected, dropped, never returned.
        let f = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| fs::read(p).unwrap() == vec![3u8; 40])
            .unwrap();
        fs::write(&f, [9u8; 40]).unwrap();
        assert!(c.get("c").is_none());
        assert_eq!(c.stats().corrupt, 1);

        drop(c);
        let c = BlockCache::open(dir.path(), 100).unwrap();
        assert_eq!(
            c.get("a").unwrap(),
            vec![1u8; 40],
            "a warm reopen finds the cache again"
        );
    }

    #[test]
    fn chunk_blocks_are_checked_by_their_block_hash() {
        use crate::protocol::block_hashes::{block_hash, BLOCK_SIZE};
        let dir = tempfile::tempdir().unwrap();
        let c = BlockCache::open(dir.path(), 1 << 20).unwrap();
        let block = vec![5u8; 1000];
        let offset = 3 * BLOCK_SIZE;
        let known = |hash| Some(BlockCheck { offset, hash });
        let only_file = || {
            fs::read_dir(dir.path())
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
        };
        c.put("k#3", &block, known(block_hash(offset, &block)));
        assert_eq!(c.get("k#3").unwrap(), block);
        // Given the hash of other bytes, or of the same bytes elsewhere in the chunk: never returned.
        c.put("wrong", &block, known(block_hash(offset, &[6u8; 1000])));
        c.put("moved", &block, known(block_hash(0, &block)));
        assert!(c.get("wrong").is_none() && c.get("moved").is_none());
        assert_eq!(c.stats().corrupt, 2);

        drop(c);
        let c = BlockCache::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(c.get("k#3").unwrap(), block, "found again with its check");
        assert!(c.path_of("k#3").is_some());
        let f = only_file();
        assert!(f.to_string_lossy().ends_with(&format!("@{offset}")));
        fs::write(&f, [5u8; 999]).unwrap();
        assert!(c.get("k#3").is_none(), "a damaged block is dropped");
        c.put("k#3", &block, known(block_hash(offset, &block)));
        let f = only_file();
        fs::write(&f, []).unwrap();
        assert!(
            c.path_of("k#3").is_none(),
            "an emptied block is damage, not a panic"
        );
    }

    #[test]
    fn pinned_blocks_survive_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let c = BlockCache::open(dir.path(), 100).unwrap();
        c.put("p", &[1u8; 60], None);
        c.pin("p");
        c.put("q", &[2u8; 60], None);
        assert!(c.get("p").is_some());
        c.unpin("p");
        assert!(c.stats().used_bytes <= 100);
    }
}
