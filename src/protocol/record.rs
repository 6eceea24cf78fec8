//! WAL records: one immutable object per commit, persisted before the head names it. Each carries its
//! seq, the writer's epoch, and the previous record's key and hash, so readers walk back from the head
//! with one GET per record and detect a history that is not theirs.

use super::*;
use crate::namespace::Op;
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
    pub ops: Vec<Op>,
}

impl Record {
    pub fn encode(&self) -> Bytes {
        format::encode(self)
    }

    pub fn decode(key: &str, data: &[u8]) -> FsResult<Self> {
        format::decode(key, data)
    }
}

impl format::Format for Record {
    const KIND: &'static str = "WAL record";
    const CURRENT: u32 = 1;
    const READS: &'static [u32] = &[1];
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
                    extents: vec![Extent {
                        key: "packs/p".into(),
                        off: 0,
                        len: 3,
                        hash: "h".into(),
                    }],
                },
                Op::Rename {
                    parent: 2,
                    name: "f".into(),
                    new_parent: 1,
                    new_name: "g".into(),
                },
            ],
        };
        assert_eq!(Record::decode("k", &r.encode()).unwrap(), r);
        assert_eq!(
            Record::decode("k", b"{not json").unwrap_err().code,
            "ECORRUPT"
        );
    }
}
