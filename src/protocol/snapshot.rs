//! `snapshots/<seq>-<rand>`: the whole namespace at one seq (built and loaded by `namespace::snapshot`).
//! Since format 2 it is stored in columns (all inode numbers, then all kinds, ...) so that zstd finds the
//! runs: at a million small files a snapshot costs about what its hashes do. In memory a snapshot keeps
//! its tree as those columns (`SnapshotTree`), built and read one row at a time: a million files are
//! about 60 MB of columns where they were 480 MB of structs.

use super::codec::{self, CodecError, CodecResult, Reader, Writer};
use super::extents::{ExtentReader, ExtentWriter};
use super::format::{self, Compact, Format, Opened};
use crate::error::FsResult;
use crate::namespace::snapshot::{Snapshot, SnapshotInode};
use crate::namespace::Ino;
use bytes::Bytes;

impl Format for Snapshot {
    const KIND: &'static str = "snapshot";
    /// 1: JSON. 2: compact, in columns. 3: with block hashes in chunk extents.
    const CURRENT: u32 = 3;
    const READS: &'static [u32] = &[1, 2, 3];
}

impl Snapshot {
    /// The stored object: the header, then the tree's columns as they are.
    pub fn encode(&self) -> Bytes {
        let mut head = Writer::default();
        self.write_header(&mut head);
        Bytes::from(codec::seal(
            Self::TAG,
            Self::CURRENT,
            &[head.as_slice(), self.tree.bytes()],
        ))
    }

    /// The stored object, its tree kept as the columns it was stored in (their framing checked here,
    /// each row where it is read).
    pub fn decode(key: &str, data: &[u8]) -> FsResult<Self> {
        match format::open_compact::<Self>(key, data)? {
            Opened::Json(s) => Ok(s),
            Opened::Compact { body, .. } => {
                Self::from_body(body).map_err(|e| format::corrupt::<Self>(key, e))
            }
        }
    }

    fn write_header(&self, w: &mut Writer) {
        w.uvar(self.seq);
        w.opt_str(self.record.as_deref());
        w.ivar(self.next_ino);
    }

    fn from_body(body: Vec<u8>) -> CodecResult<Self> {
        let mut r = Reader::new(&body);
        let seq = r.uvar()?;
        let record = r.opt_str()?;
        let next_ino = r.ivar()?;
        let start = r.position();
        Ok(Snapshot {
            v: Self::CURRENT,
            seq,
            record,
            next_ino,
            tree: SnapshotTree::from_bytes(body, start)?,
        })
    }
}

impl Compact for Snapshot {
    const TAG: u8 = 2;

    fn write_body(&self, w: &mut Writer) {
        self.write_header(w);
        w.raw(self.tree.bytes());
    }

    fn read_body(_version: u32, r: &mut Reader) -> CodecResult<Self> {
        Self::from_body(r.rest().to_vec())
    }
}

/// The inodes and entries of a snapshot in their stored columns: the extents' key table; the count of
/// inodes and their columns (numbers as deltas, kinds, modes, sizes, mtimes as deltas, ctimes from the
/// mtime, targets, extents); the count of entries and theirs (parents as deltas, names front-coded against
/// the name before, inode numbers as deltas; entries sorted by parent and name).
#[derive(Clone, Default)]
pub struct SnapshotTree {
    bytes: Vec<u8>,
    start: usize,
}

/// The columns of a tree, located.
struct Columns<'a> {
    keys: Vec<String>,
    inodes: usize,
    inode_cols: [Reader<'a>; 8],
    entries: usize,
    entry_cols: [Reader<'a>; 3],
}

impl SnapshotTree {
    /// Builds the columns from rows as they come (entries sorted by parent, then name); only the columns
    /// are held, never the rows.
    pub fn build(
        inodes: impl IntoIterator<Item = FsResult<SnapshotInode>>,
        entries: impl IntoIterator<Item = FsResult<(Ino, String, Ino)>>,
    ) -> FsResult<Self> {
        let mut keys = ExtentWriter::default();
        let mut cols: [Writer; 8] = Default::default();
        let (mut n, mut last_ino, mut last_mtime) = (0u64, 0i64, 0i64);
        for i in inodes {
            let i = i?;
            let [inos, kinds, modes, sizes, mtimes, ctimes, targets, extents] = &mut cols;
            inos.ivar(i.ino.wrapping_sub(last_ino));
            kinds.u8(i.kind);
            modes.uvar(u64::from(i.mode));
            sizes.uvar(i.size);
            mtimes.ivar(i.mtime.wrapping_sub(last_mtime));
            ctimes.ivar(i.ctime.wrapping_sub(i.mtime));
            targets.opt_str(i.target.as_deref());
            keys.write(extents, &i.extents);
            (last_ino, last_mtime) = (i.ino, i.mtime);
            n += 1;
        }
        let mut ecols: [Writer; 3] = Default::default();
        let (mut m, mut last_parent, mut last_ino) = (0u64, 0i64, 0i64);
        let mut prev = String::new();
        for e in entries {
            let (parent, name, ino) = e?;
            let [parents, names, inos] = &mut ecols;
            parents.ivar(parent.wrapping_sub(last_parent));
            let shared = common_prefix(&prev, &name);
            names.uvar(shared as u64);
            names.str(&name[shared..]);
            inos.ivar(ino.wrapping_sub(last_ino));
            (last_parent, last_ino, prev) = (parent, ino, name);
            m += 1;
        }
        let mut w = Writer::default();
        keys.write_table(&mut w);
        w.uvar(n);
        for c in cols {
            w.column(c);
        }
        w.uvar(m);
        for c in ecols {
            w.column(c);
        }
        Ok(SnapshotTree {
            bytes: w.into_inner(),
            start: 0,
        })
    }

    /// The tree stored from byte `start` of `bytes`, its framing checked.
    fn from_bytes(bytes: Vec<u8>, start: usize) -> CodecResult<Self> {
        let tree = SnapshotTree { bytes, start };
        tree.columns()?;
        Ok(tree)
    }

    /// The columns as stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn columns(&self) -> CodecResult<Columns<'_>> {
        let mut r = Reader::new(self.bytes());
        let keys = ExtentReader::read_table(&mut r)?.keys();
        let inodes = r.count(8)?;
        let inode_cols = [(); 8].map(|_| r.column());
        let entries = r.count(3)?;
        let entry_cols = [(); 3].map(|_| r.column());
        r.finish()?;
        Ok(Columns {
            keys,
            inodes,
            inode_cols: transpose(inode_cols)?,
            entries,
            entry_cols: transpose(entry_cols)?,
        })
    }

    /// Every object key the tree's files use (its extents' key table).
    pub fn keys(&self) -> CodecResult<Vec<String>> {
        Ok(self.columns()?.keys)
    }

    /// How many inodes and entries it holds.
    pub fn len(&self) -> CodecResult<(usize, usize)> {
        let c = self.columns()?;
        Ok((c.inodes, c.entries))
    }

    /// The inodes, one at a time; the first that does not decode is an error, and the last item.
    pub fn inodes(&self) -> impl Iterator<Item = CodecResult<SnapshotInode>> + '_ {
        let start = self.columns().map(|c| {
            let extents = ExtentReader::with_keys(c.keys);
            ((extents, c.inode_cols, 0i64, 0i64), c.inodes)
        });
        rows(
            start,
            |(extents, cols, last_ino, last_mtime)| {
                let [inos, kinds, modes, sizes, mtimes, ctimes, targets, exts] = cols;
                let ino = last_ino.wrapping_add(inos.ivar()?);
                let mtime = last_mtime.wrapping_add(mtimes.ivar()?);
                (*last_ino, *last_mtime) = (ino, mtime);
                Ok(SnapshotInode {
                    ino,
                    kind: kinds.u8()?,
                    mode: modes.u32()?,
                    size: sizes.uvar()?,
                    mtime,
                    ctime: mtime.wrapping_add(ctimes.ivar()?),
                    target: targets.opt_str()?,
                    extents: extents.read(exts)?,
                })
            },
            |(_, cols, _, _)| cols.iter().try_for_each(Reader::finish),
        )
    }

    /// The entries `(parent, name, inode)`, one at a time, sorted by parent and name; the first that does
    /// not decode is an error, and the last item.
    pub fn entries(&self) -> impl Iterator<Item = CodecResult<(Ino, String, Ino)>> + '_ {
        let start = self
            .columns()
            .map(|c| ((c.entry_cols, 0i64, 0i64, String::new()), c.entries));
        rows(
            start,
            |(cols, last_parent, last_ino, prev)| {
                let [parents, names, inos] = cols;
                let parent = last_parent.wrapping_add(parents.ivar()?);
                let shared = names.uvar()? as usize;
                let rest = names.str()?;
                if shared > prev.len() || !prev.is_char_boundary(shared) {
                    return Err(CodecError(
                        "a name shares more than the name before it".into(),
                    ));
                }
                let name = format!("{}{rest}", &prev[..shared]);
                let ino = last_ino.wrapping_add(inos.ivar()?);
                (*last_parent, *last_ino) = (parent, ino);
                prev.clone_from(&name);
                Ok((parent, name, ino))
            },
            |(cols, _, _, _)| cols.iter().try_for_each(Reader::finish),
        )
    }

    /// The same tree with every object key mapped by `f` (a fork's keys into its base): only the key
    /// table changes.
    pub fn with_keys(&self, f: impl Fn(&str) -> String) -> CodecResult<Self> {
        let mut r = Reader::new(self.bytes());
        let keys = ExtentReader::read_table(&mut r)?.keys();
        let mut w = Writer::default();
        ExtentWriter::with_keys(keys.iter().map(|k| f(k)).collect()).write_table(&mut w);
        w.raw(r.rest());
        Ok(SnapshotTree {
            bytes: w.into_inner(),
            start: 0,
        })
    }
}

/// `count` rows, each read from `state` by `row`; after the last, `finish` checks the columns are used up.
/// The first error (in the columns' framing, a row, or what is left over) is the last item.
fn rows<S, T>(
    start: CodecResult<(S, usize)>,
    mut row: impl FnMut(&mut S) -> CodecResult<T>,
    finish: impl Fn(&S) -> CodecResult<()>,
) -> impl Iterator<Item = CodecResult<T>> {
    let mut state = Some(start);
    std::iter::from_fn(move || {
        let (s, left) = match state.as_mut()? {
            Ok((s, left)) => (s, left),
            Err(e) => {
                let e = e.clone();
                state = None;
                return Some(Err(e));
            }
        };
        let next = if *left == 0 {
            finish(s).err().map(Err)
        } else {
            *left -= 1;
            Some(row(s))
        };
        if !matches!(next, Some(Ok(_))) {
            state = None;
        }
        next
    })
}

fn transpose<const N: usize>(cols: [CodecResult<Reader<'_>>; N]) -> CodecResult<[Reader<'_>; N]> {
    let mut out = Vec::with_capacity(N);
    for c in cols {
        out.push(c?);
    }
    Ok(out.try_into().unwrap_or_else(|_| unreachable!("N columns")))
}

/// The same columns, wherever they sit in their buffer.
impl PartialEq for SnapshotTree {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for SnapshotTree {}

impl std::fmt::Debug for SnapshotTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotTree")
            .field("inodes", &self.inodes().collect::<Vec<_>>())
            .field("entries", &self.entries().collect::<Vec<_>>())
            .finish()
    }
}

/// The length in bytes of the longest common prefix that ends on a character boundary of both.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::Extent;

    pub(crate) fn sample() -> Snapshot {
        let ext = |off: u64, len: u64| {
            Extent::new(
                "packs/p".into(),
                off,
                len,
                blake3::hash(&off.to_le_bytes()).to_hex().to_string(),
            )
        };
        Snapshot::from_rows(
            Snapshot::CURRENT,
            9,
            Some("wal/9".into()),
            6,
            vec![
                SnapshotInode {
                    ino: 1,
                    kind: 2,
                    mode: 0o755,
                    size: 0,
                    mtime: 0,
                    ctime: 0,
                    target: None,
                    extents: vec![],
                },
                SnapshotInode {
                    ino: 2,
                    kind: 1,
                    mode: 0o644,
                    size: 3,
                    mtime: 50,
                    ctime: 49,
                    target: None,
                    extents: vec![ext(0, 3)],
                },
                SnapshotInode {
                    ino: 3,
                    kind: 1,
                    mode: 0o600,
                    size: 9,
                    mtime: 40,
                    ctime: 60,
                    target: None,
                    extents: vec![ext(3, 4), ext(100, 5)],
                },
                SnapshotInode {
                    ino: 5,
                    kind: 3,
                    mode: 0o777,
                    size: 1,
                    mtime: -1,
                    ctime: 0,
                    target: Some("é/x".into()),
                    extents: vec![],
                },
            ],
            vec![
                (1, "aé".into(), 2),
                (1, "aéb".into(), 3),
                (1, "ü".into(), 5),
            ],
        )
    }

    /// Rows come back as they went in, one at a time; the key table is the keys the extents use, and a
    /// fork's key mapping changes only it.
    #[test]
    fn a_tree_is_built_and_read_row_by_row() {
        let s = sample();
        let inodes: Vec<_> = s.tree.inodes().collect::<CodecResult<_>>().unwrap();
        assert_eq!(inodes.len(), 4);
        assert_eq!(inodes[2].extents.len(), 2);
        assert_eq!(inodes[3].target.as_deref(), Some("é/x"));
        let entries: Vec<_> = s.tree.entries().collect::<CodecResult<_>>().unwrap();
        assert_eq!(entries[1], (1, "aéb".to_string(), 3));
        assert_eq!(s.tree.len().unwrap(), (4, 3));
        assert_eq!(s.data_keys().unwrap(), vec!["packs/p".to_string()]);
        let based = s.tree.with_keys(|k| format!("@base/{k}")).unwrap();
        let moved: Vec<_> = based.inodes().collect::<CodecResult<_>>().unwrap();
        assert_eq!(moved[2].extents[1].key, "@base/packs/p");
        assert_eq!(moved[2].extents[1].off, 100);
        assert_eq!(based.entries().count(), 3);
        // Damage in a row stops the rows there, with an error.
        let mut bytes = s.tree.bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        let damaged = SnapshotTree::from_bytes(bytes, 0).unwrap();
        let rows: Vec<_> = damaged.entries().collect();
        assert!(rows.last().unwrap().is_err() && rows.len() <= 3);
    }

    #[test]
    fn snapshots_round_trip_in_both_formats() {
        let s = sample();
        let back = Snapshot::decode("s", &s.encode()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{s:?}"));
        let mut old = s.clone();
        old.v = 1;
        let back = Snapshot::decode("s", &format::encode(&old)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{old:?}"));
        let mut body = s.encode().to_vec();
        body[4] = 1; // a record's tag
        assert!(Snapshot::decode("s", &body)
            .unwrap_err()
            .to_string()
            .contains("another object type"));
    }
}
