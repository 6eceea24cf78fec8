//! `snapshots/<seq>-<rand>`: the whole namespace at one seq (built and loaded by `namespace::snapshot`).
//! Since format 2 it is stored in columns (all inode numbers, then all kinds, ...) so that zstd finds the
//! runs: at a million small files a snapshot costs about what its hashes do.

use super::codec::{CodecError, CodecResult, Reader, Writer};
use super::extents::{ExtentReader, ExtentWriter};
use super::format::{self, Compact, Format};
use crate::error::FsResult;
use crate::namespace::snapshot::{Snapshot, SnapshotInode};
use bytes::Bytes;

impl Format for Snapshot {
    const KIND: &'static str = "snapshot";
    /// 1: JSON. 2: compact, in columns.
    const CURRENT: u32 = 3;
    const READS: &'static [u32] = &[1, 2, 3];
}

impl Snapshot {
    pub fn encode(&self) -> Bytes {
        format::encode_compact(self)
    }

    pub fn decode(key: &str, data: &[u8]) -> FsResult<Self> {
        format::decode_compact(key, data)
    }
}

/// Writes a delta column: each value as its difference from the one before.
fn deltas(values: impl Iterator<Item = i64>) -> Writer {
    let mut w = Writer::default();
    let mut last = 0i64;
    for v in values {
        w.ivar(v.wrapping_sub(last));
        last = v;
    }
    w
}

fn read_deltas(r: &mut Reader, n: usize) -> CodecResult<Vec<i64>> {
    let mut last = 0i64;
    (0..n)
        .map(|_| {
            last = last.wrapping_add(r.ivar()?);
            Ok(last)
        })
        .collect()
}

fn column<T>(items: &[T], mut put: impl FnMut(&mut Writer, &T)) -> Writer {
    let mut w = Writer::default();
    for i in items {
        put(&mut w, i);
    }
    w
}

impl Compact for Snapshot {
    const TAG: u8 = 2;

    fn write_body(&self, w: &mut Writer) {
        w.uvar(self.seq);
        w.opt_str(self.record.as_deref());
        w.ivar(self.next_ino);
        let mut extents = ExtentWriter::new(self.inodes.iter().flat_map(|i| &i.extents));
        extents.write_table(w);

        let inodes = &self.inodes;
        w.uvar(inodes.len() as u64);
        w.column(deltas(inodes.iter().map(|i| i.ino)));
        w.column(column(inodes, |w, i| w.u8(i.kind)));
        w.column(column(inodes, |w, i| w.uvar(u64::from(i.mode))));
        w.column(column(inodes, |w, i| w.uvar(i.size)));
        w.column(deltas(inodes.iter().map(|i| i.mtime)));
        w.column(column(inodes, |w, i| w.ivar(i.ctime.wrapping_sub(i.mtime))));
        w.column(column(inodes, |w, i| w.opt_str(i.target.as_deref())));
        w.column(column(inodes, |w, i| extents.write(w, &i.extents)));

        // Dentries come sorted by (parent, name): names share prefixes with the one before.
        let dentries = &self.dentries;
        w.uvar(dentries.len() as u64);
        w.column(deltas(dentries.iter().map(|d| d.0)));
        let mut names = Writer::default();
        let mut prev: &str = "";
        for (_, name, _) in dentries {
            let shared = common_prefix(prev, name);
            names.uvar(shared as u64);
            names.str(&name[shared..]);
            prev = name;
        }
        w.column(names);
        w.column(deltas(dentries.iter().map(|d| d.2)));
    }

    fn read_body(_version: u32, r: &mut Reader) -> CodecResult<Self> {
        let seq = r.uvar()?;
        let record = r.opt_str()?;
        let next_ino = r.ivar()?;
        let mut extents = ExtentReader::read_table(r)?;

        let n = r.count(1)?;
        let inos = read_deltas(&mut r.column()?, n)?;
        let mut kinds = r.column()?;
        let mut modes = r.column()?;
        let mut sizes = r.column()?;
        let mtimes = read_deltas(&mut r.column()?, n)?;
        let mut ctimes = r.column()?;
        let mut targets = r.column()?;
        let mut exts = r.column()?;
        let mut inodes = Vec::with_capacity(n);
        for (ino, mtime) in inos.into_iter().zip(mtimes) {
            inodes.push(SnapshotInode {
                ino,
                kind: kinds.u8()?,
                mode: modes.u32()?,
                size: sizes.uvar()?,
                mtime,
                ctime: mtime.wrapping_add(ctimes.ivar()?),
                target: targets.opt_str()?,
                extents: extents.read(&mut exts)?,
            });
        }
        for c in [&kinds, &modes, &sizes, &ctimes, &targets, &exts] {
            c.finish()?;
        }

        let m = r.count(1)?;
        let parents = read_deltas(&mut r.column()?, m)?;
        let mut names = r.column()?;
        let inos = read_deltas(&mut r.column()?, m)?;
        let mut dentries = Vec::with_capacity(m);
        let mut prev = String::new();
        for (parent, ino) in parents.into_iter().zip(inos) {
            let shared = names.uvar()? as usize;
            let rest = names.str()?;
            if shared > prev.len() || !prev.is_char_boundary(shared) {
                return Err(CodecError(
                    "a name shares more than the name before it".into(),
                ));
            }
            let name = format!("{}{rest}", &prev[..shared]);
            prev.clone_from(&name);
            dentries.push((parent, name, ino));
        }
        names.finish()?;
        Ok(Snapshot {
            v: Self::CURRENT,
            seq,
            record,
            next_ino,
            inodes,
            dentries,
        })
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
        Snapshot {
            v: Snapshot::CURRENT,
            seq: 9,
            record: Some("wal/9".into()),
            next_ino: 6,
            inodes: vec![
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
            dentries: vec![
                (1, "aé".into(), 2),
                (1, "aéb".into(), 3),
                (1, "ü".into(), 5),
            ],
        }
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
