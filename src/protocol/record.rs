//! WAL records: one immutable object per commit, persisted before the head names it. Each carries its
//! seq, the writer's epoch, and the previous record's key and hash, so readers walk back from the head
//! with one GET per record and detect a history that is not theirs.

use super::codec::{CodecError, CodecResult, Reader, Writer};
use super::extents::{ExtentReader, ExtentWriter};
use super::format::Compact;
use super::op_log::OpLog;
use super::*;
use crate::namespace::{Ino, Op};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub epoch: u64,
    pub prev: Option<String>,
    pub prev_hash: Option<String>,
    pub time_ms: i64,
    /// Files and bytes this commit wrote, for `log`.
    pub bytes: u64,
    /// Kept encoded, also when read back: a million-op record holds ~50 MB here, not ~350 MB of `Op`s.
    /// Decoding an op can fail (`ECORRUPT` where it is used); a record whose ops do not all decode is
    /// applied nowhere.
    #[serde(with = "super::op_log::as_list")]
    pub ops: OpLog,
}

impl Record {
    /// Compressed as its parts stream in: the ops are not copied into one body first.
    pub fn encode(&self) -> Bytes {
        let mut w = Writer::default();
        self.write_header(&mut w);
        self.ops.write_head(&mut w);
        Bytes::from(codec::seal(
            Self::TAG,
            <Self as format::Format>::CURRENT,
            &[w.as_slice(), self.ops.body()],
        ))
    }

    /// The ops, decoded one at a time; one that does not decode is `ECORRUPT` naming the record.
    pub fn each_op(&self) -> impl Iterator<Item = FsResult<Op>> + '_ {
        self.ops.iter().map(move |op| {
            op.map_err(|e| {
                FsError::new(Code::Corrupt, "decode", None)
                    .with_description(format!("unreadable WAL record (seq {}): {e}", self.seq))
            })
        })
    }

    fn write_header(&self, w: &mut Writer) {
        w.uvar(self.seq);
        w.uvar(self.epoch);
        w.opt_str(self.prev.as_deref());
        w.opt_str(self.prev_hash.as_deref());
        w.ivar(self.time_ms);
        w.uvar(self.bytes);
    }

    pub fn decode(key: &str, data: &[u8]) -> FsResult<Self> {
        format::decode_compact(key, data)
    }
}

impl format::Format for Record {
    const KIND: &'static str = "WAL record";
    /// 1: JSON. 2: compact (`codec.rs`), ops as below.
    const CURRENT: u32 = 3;
    const READS: &'static [u32] = &[1, 2, 3];
}

impl Compact for Record {
    const TAG: u8 = 1;

    fn write_body(&self, w: &mut Writer) {
        self.write_header(w);
        self.ops.write_to(w);
    }

    fn read_body(_version: u32, r: &mut Reader) -> CodecResult<Self> {
        let (seq, epoch) = (r.uvar()?, r.uvar()?);
        let (prev, prev_hash) = (r.opt_str()?, r.opt_str()?);
        let (time_ms, bytes) = (r.ivar()?, r.uvar()?);
        let ops = OpLog::read_from(r)?;
        Ok(Record {
            v: <Self as format::Format>::CURRENT,
            seq,
            epoch,
            prev,
            prev_hash,
            time_ms,
            bytes,
            ops,
        })
    }
}

/// Inodes, parents and times of consecutive ops are close (a transaction writes a directory's files in
/// a row), so each is stored as the difference from the last one seen.
#[derive(Default, Clone, Copy)]
pub(super) struct Deltas {
    parent: Ino,
    ino: Ino,
    mtime: i64,
}

impl Deltas {
    fn put(last: &mut i64, w: &mut Writer, v: i64) {
        w.ivar(v.wrapping_sub(*last));
        *last = v;
    }

    fn get(last: &mut i64, r: &mut Reader) -> CodecResult<i64> {
        *last = last.wrapping_add(r.ivar()?);
        Ok(*last)
    }
}

const MKDIR: u8 = 0;
const CREATE: u8 = 1;
const SET_CONTENT: u8 = 2;
const SYMLINK: u8 = 3;
const REMOVE: u8 = 4;
const RENAME: u8 = 5;
const SET_ATTR: u8 = 6;

pub(super) fn write_op(w: &mut Writer, d: &mut Deltas, extents: &mut ExtentWriter, op: &Op) {
    match op {
        Op::Mkdir {
            parent,
            name,
            ino,
            mode,
            mtime,
        } => {
            w.u8(MKDIR);
            Deltas::put(&mut d.parent, w, *parent);
            w.str(name);
            Deltas::put(&mut d.ino, w, *ino);
            w.uvar(u64::from(*mode));
            Deltas::put(&mut d.mtime, w, *mtime);
        }
        Op::Create {
            parent,
            name,
            ino,
            mode,
            mtime,
            size,
            extents: ext,
        } => {
            w.u8(CREATE);
            Deltas::put(&mut d.parent, w, *parent);
            w.str(name);
            Deltas::put(&mut d.ino, w, *ino);
            w.uvar(u64::from(*mode));
            Deltas::put(&mut d.mtime, w, *mtime);
            w.uvar(*size);
            extents.write(w, ext);
        }
        Op::SetContent {
            ino,
            mtime,
            size,
            extents: ext,
        } => {
            w.u8(SET_CONTENT);
            Deltas::put(&mut d.ino, w, *ino);
            Deltas::put(&mut d.mtime, w, *mtime);
            w.uvar(*size);
            extents.write(w, ext);
        }
        Op::Symlink {
            parent,
            name,
            ino,
            target,
            mtime,
        } => {
            w.u8(SYMLINK);
            Deltas::put(&mut d.parent, w, *parent);
            w.str(name);
            Deltas::put(&mut d.ino, w, *ino);
            w.str(target);
            Deltas::put(&mut d.mtime, w, *mtime);
        }
        Op::Remove { parent, name } => {
            w.u8(REMOVE);
            Deltas::put(&mut d.parent, w, *parent);
            w.str(name);
        }
        Op::Rename {
            parent,
            name,
            new_parent,
            new_name,
        } => {
            w.u8(RENAME);
            Deltas::put(&mut d.parent, w, *parent);
            w.str(name);
            Deltas::put(&mut d.parent, w, *new_parent);
            w.str(new_name);
        }
        Op::SetAttr { ino, mode, mtime } => {
            w.u8(SET_ATTR);
            Deltas::put(&mut d.ino, w, *ino);
            w.u8(u8::from(mode.is_some()) | u8::from(mtime.is_some()) << 1);
            if let Some(m) = mode {
                w.uvar(u64::from(*m));
            }
            if let Some(t) = mtime {
                Deltas::put(&mut d.mtime, w, *t);
            }
        }
    }
}

pub(super) fn read_op(
    r: &mut Reader,
    d: &mut Deltas,
    extents: &mut ExtentReader,
) -> CodecResult<Op> {
    Ok(match r.u8()? {
        MKDIR => Op::Mkdir {
            parent: Deltas::get(&mut d.parent, r)?,
            name: r.str()?,
            ino: Deltas::get(&mut d.ino, r)?,
            mode: r.u32()?,
            mtime: Deltas::get(&mut d.mtime, r)?,
        },
        CREATE => Op::Create {
            parent: Deltas::get(&mut d.parent, r)?,
            name: r.str()?,
            ino: Deltas::get(&mut d.ino, r)?,
            mode: r.u32()?,
            mtime: Deltas::get(&mut d.mtime, r)?,
            size: r.uvar()?,
            extents: extents.read(r)?,
        },
        SET_CONTENT => Op::SetContent {
            ino: Deltas::get(&mut d.ino, r)?,
            mtime: Deltas::get(&mut d.mtime, r)?,
            size: r.uvar()?,
            extents: extents.read(r)?,
        },
        SYMLINK => Op::Symlink {
            parent: Deltas::get(&mut d.parent, r)?,
            name: r.str()?,
            ino: Deltas::get(&mut d.ino, r)?,
            target: r.str()?,
            mtime: Deltas::get(&mut d.mtime, r)?,
        },
        REMOVE => Op::Remove {
            parent: Deltas::get(&mut d.parent, r)?,
            name: r.str()?,
        },
        RENAME => Op::Rename {
            parent: Deltas::get(&mut d.parent, r)?,
            name: r.str()?,
            new_parent: Deltas::get(&mut d.parent, r)?,
            new_name: r.str()?,
        },
        SET_ATTR => {
            let ino = Deltas::get(&mut d.ino, r)?;
            let has = r.u8()?;
            if has > 3 {
                return Err(CodecError(format!("bad attribute flags {has}")));
            }
            Op::SetAttr {
                ino,
                mode: if has & 1 != 0 { Some(r.u32()?) } else { None },
                mtime: if has & 2 != 0 {
                    Some(Deltas::get(&mut d.mtime, r)?)
                } else {
                    None
                },
            }
        }
        t => return Err(CodecError(format!("unknown op {t}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::Extent;

    #[test]
    fn records_round_trip() {
        let r = Record {
            v: 1,
            seq: 7,
            epoch: 2,
            prev: Some("wal/6".into()),
            prev_hash: Some("abc".into()),
            time_ms: 1,
            bytes: 3,
            ops: vec![
                Op::Mkdir {
                    parent: 1,
                    name: "d".into(),
                    ino: 2,
                    mode: 0o755,
                    mtime: 5,
                },
                Op::Create {
                    parent: 2,
                    name: "f".into(),
                    ino: 3,
                    mode: 0o644,
                    mtime: 5,
                    size: 3,
                    extents: vec![
                        Extent::new("packs/p".into(), 0, 3, "h".into()),
                        crate::protocol::chunk_extent(&[7u8; 600 << 10]),
                    ],
                },
                Op::Rename {
                    parent: 2,
                    name: "f".into(),
                    new_parent: 1,
                    new_name: "g".into(),
                },
            ]
            .iter()
            .collect(),
        };
        let mut r = r;
        r.v = 3;
        assert_eq!(Record::decode("k", &r.encode()).unwrap(), r);
        let mut old = r.clone();
        old.v = 1;
        assert_eq!(
            Record::decode("k", &format::encode(&old)).unwrap(),
            old,
            "format 1 (JSON) still reads"
        );
        assert_eq!(
            Record::decode("k", b"{not json").unwrap_err().code,
            "ECORRUPT"
        );
    }

    /// The header is checked when a record is read; its ops where they are used, each refusal ECORRUPT.
    #[test]
    fn ops_that_do_not_decode_are_refused_where_used() {
        let one: OpLog = [Op::Remove {
            parent: 1,
            name: "a".into(),
        }]
        .iter()
        .collect();
        let r = Record {
            v: 3,
            seq: 4,
            epoch: 1,
            prev: None,
            prev_hash: None,
            time_ms: 0,
            bytes: 0,
            ops: OpLog::default(),
        };
        let sealed = |count: u64, extra: &[u8]| {
            let mut w = Writer::default();
            r.write_header(&mut w);
            w.uvar(0);
            w.uvar(count);
            w.raw(one.body());
            w.raw(extra);
            codec::seal(Record::TAG, 2, &[w.as_slice()])
        };
        for (count, extra) in [(2, &b""[..]), (1, &b"\x07"[..])] {
            let back = Record::decode("k", &sealed(count, extra)).unwrap();
            let ops: Vec<FsResult<Op>> = back.each_op().collect();
            assert!(ops[0].is_ok() || count == 1, "the first op is whole");
            let err = ops.iter().find_map(|o| o.as_ref().err()).expect("an error");
            assert_eq!(err.code, "ECORRUPT");
            assert!(err.description.contains("seq 4"), "{}", err.description);
        }
        let back = Record::decode("k", &sealed(1, b"")).unwrap();
        assert_eq!(back.ops.to_vec().unwrap(), one.to_vec().unwrap());
    }
}
