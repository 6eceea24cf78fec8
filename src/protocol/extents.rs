//! Extents in the compact encoding, shared by WAL records and snapshots. Object keys go once into a table
//! at the front (thousands of small files share one pack), hashes as their 32 bytes, and each offset as
//! the distance from where the previous extent in the same object ended (0 for files packed in order).

use super::codec::{CodecError, CodecResult, Reader, Writer};
use crate::error::{Code, FsError, FsResult};
use crate::namespace::Extent;
use std::collections::HashMap;

/// Numbers object keys in the order they are first written (the table a record or op log carries) and
/// remembers where each key's last extent ended.
#[derive(Default, Clone)]
pub struct ExtentWriter {
    index: HashMap<String, usize>,
    keys: Vec<String>,
    pub(super) ends: Vec<u64>,
    /// Where the last `write` put each extent's hash bytes (`None`: not a blake3 digest, kept as text).
    written: Vec<Option<usize>>,
}

impl ExtentWriter {
    /// Learns every key first, so the table can be written ahead of the extents.
    pub fn new<'a>(all: impl Iterator<Item = &'a Extent>) -> Self {
        let mut t = ExtentWriter::default();
        for e in all {
            t.learn(&e.key);
        }
        t
    }

    /// The table as it was stored, numbered in that order (a repeated key keeps both numbers).
    pub(super) fn with_keys(keys: Vec<String>) -> Self {
        let mut index = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            index.entry(k.clone()).or_insert(i);
        }
        ExtentWriter {
            index,
            ends: vec![0; keys.len()],
            keys,
            written: Vec::new(),
        }
    }

    /// The key's number, given on first sight.
    pub fn learn(&mut self, key: &str) -> usize {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len();
        self.index.insert(key.to_string(), i);
        self.keys.push(key.to_string());
        self.ends.push(0);
        i
    }

    pub(super) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Forgets the keys numbered `n` and above.
    pub(super) fn forget_from(&mut self, n: usize) {
        for k in self.keys.drain(n..) {
            self.index.remove(&k);
        }
        self.ends.truncate(n);
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn write_table(&self, w: &mut Writer) {
        w.uvar(self.keys.len() as u64);
        for k in &self.keys {
            w.str(k);
        }
    }

    pub fn write(&mut self, w: &mut Writer, extents: &[Extent]) {
        self.written.clear();
        w.uvar(extents.len() as u64);
        for e in extents {
            let i = self.learn(&e.key);
            w.uvar(i as u64);
            w.ivar(e.off.wrapping_sub(self.ends[i]) as i64);
            w.uvar(e.len);
            self.written.push(w.hash(&e.hash, &e.blocks));
            self.ends[i] = e.off.wrapping_add(e.len);
        }
    }

    /// After an op with no extents: no hash positions to give.
    pub(super) fn forget_written(&mut self) {
        self.written.clear();
    }

    /// Where the last `write` put each extent's hash bytes in its writer.
    pub(super) fn written(&self) -> &[Option<usize>] {
        &self.written
    }
}

pub struct ExtentReader {
    keys: Vec<String>,
    ends: Vec<u64>,
}

impl ExtentReader {
    pub fn keys(self) -> Vec<String> {
        self.keys
    }

    pub fn with_keys(keys: Vec<String>) -> Self {
        ExtentReader {
            ends: vec![0; keys.len()],
            keys,
        }
    }

    pub fn read_table(r: &mut Reader) -> CodecResult<Self> {
        let n = r.count(1)?;
        let keys = (0..n).map(|_| r.str()).collect::<CodecResult<Vec<_>>>()?;
        Ok(Self::with_keys(keys))
    }

    pub fn read(&mut self, r: &mut Reader) -> CodecResult<Vec<Extent>> {
        let n = r.count(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let i = r.uvar()? as usize;
            let key = self
                .keys
                .get(i)
                .ok_or_else(|| CodecError(format!("extent names key {i} of {}", self.keys.len())))?
                .clone();
            let off = self.ends[i].wrapping_add(r.ivar()? as u64);
            let len = r.uvar()?;
            let (hash, blocks) = r.hash()?;
            self.ends[i] = off.wrapping_add(len);
            out.push(Extent {
                key,
                off,
                len,
                hash,
                blocks,
            });
        }
        Ok(out)
    }
}

/// One file's extents as the local database keeps them (`inodes.extents`): the same fields, without the
/// key table (one file rarely repeats a key). A third of the size of JSON, and several times faster.
pub fn encode_list(extents: &[Extent]) -> Vec<u8> {
    let mut w = Writer::default();
    w.uvar(extents.len() as u64);
    for e in extents {
        w.str(&e.key);
        w.uvar(e.off);
        w.uvar(e.len);
        w.hash(&e.hash, &e.blocks);
    }
    w.into_inner()
}

pub fn decode_list(ino: i64, data: &[u8]) -> FsResult<Vec<Extent>> {
    let read = || -> CodecResult<Vec<Extent>> {
        let mut r = Reader::new(data);
        let n = r.count(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (key, off, len) = (r.str()?, r.uvar()?, r.uvar()?);
            let (hash, blocks) = r.hash()?;
            out.push(Extent {
                key,
                off,
                len,
                hash,
                blocks,
            });
        }
        r.finish()?;
        Ok(out)
    };
    read().map_err(|e| {
        FsError::new(Code::Corrupt, "read", None)
            .with_description(format!("unreadable extents of inode {ino}: {e}"))
    })
}
