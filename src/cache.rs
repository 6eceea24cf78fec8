//! The local block cache: a bounded LRU (by bytes) of fetched object ranges under `cacheRoot`. Each file
//! is named by the hash of its id and the blake3 of its contents, so every read is checked and a warm
//! remount finds the cache again by listing the directory. A block that fails its check is dropped and
//! refetched, never returned. Pinned blocks are never evicted. Losing the directory loses nothing.

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
            let Some((idh, hash)) = name.split_once('-') else {
                let _ = fs::remove_file(entry.path());
                continue;
            };
            let meta = entry.metadata()?;
            found.push((
                meta.modified().ok(),
                idh.to_string(),
                Entry {
                    file: name.clone(),
                    size: meta.len(),
                    hash: hash.to_string(),
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
            Ok(f.read(&mut [0u8; 1])? == 0 && blake3::hash(buf).to_hex()[..32] == entry.hash[..])
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

    /// Stores a block, evicting least-recently-used unpinned blocks to stay within capacity.
    /// A block larger than the whole cache is not kept.
    pub fn put(&self, id: &str, data: &[u8]) {
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
        self.adopt(
            id,
            &tmp,
            &blake3::hash(data).to_hex()[..32],
            data.len() as u64,
        );
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
        let mut hasher = blake3::Hasher::new();
        let intact = fs::File::open(&path)
            .and_then(|mut f| hasher.update_reader(&mut f).map(|_| ()))
            .is_ok()
            && hasher.finalize().to_hex()[..32] == entry.hash[..];
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
        let idh = id_hash(id);
        let file = format!("{idh}-{hash}");
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
                    hash: hash.to_string(),
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
        c.put("a", &[1u8; 40]);
        c.put("b", &[2u8; 40]);
        assert_eq!(c.get("a").unwrap(), vec![1u8; 40]);
        c.put("c", &[3u8; 40]); // evicts b, the least recently used
        assert!(c.get("b").is_none());
        assert!(c.stats().used_bytes <= 100);
        c.put("huge", &[0u8; 500]);
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
    fn pinned_blocks_survive_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let c = BlockCache::open(dir.path(), 100).unwrap();
        c.put("p", &[1u8; 60]);
        c.pin("p");
        c.put("q", &[2u8; 60]);
        assert!(c.get("p").is_some());
        c.unpin("p");
        assert!(c.stats().used_bytes <= 100);
    }
}
