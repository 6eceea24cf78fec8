//! What the read path keeps in memory: recently read packs, and small files read whole, both verified;
//! and `read_in_memory`, which answers `readFile` from them on the caller's thread.

use super::*;

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

    pub(super) fn get(&self, key: &str) -> Option<Bytes> {
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
}
