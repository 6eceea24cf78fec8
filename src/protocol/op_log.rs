//! Ops held encoded, the way a WAL record carries them, from the moment they are made: a transaction or
//! a commit of a million files keeps ~40 bytes per op instead of the `Op` itself (~350 bytes with its
//! strings), and the record's body is these bytes behind its header, not a second encoding. A record
//! read back keeps its ops the same way, decoded one at a time as they are applied.

use super::block_hashes::BlockHash;
use super::codec::{CodecError, CodecResult, Reader, Writer};
use super::extents::{ExtentReader, ExtentWriter};
use super::record::{read_op, write_op, Deltas};
use crate::namespace::Op;

#[derive(Default, Clone)]
pub struct OpLog {
    ops: Writer,
    count: u64,
    deltas: Deltas,
    extents: ExtentWriter,
    /// Each extent's key and where that key's extents ended before it, while a mark is open.
    undo: Vec<(usize, u64)>,
    open_marks: usize,
}

/// Where an `OpLog` stood; `rollback` returns it there.
#[derive(Clone, Copy)]
pub struct OpMark {
    len: usize,
    count: u64,
    deltas: Deltas,
    keys: usize,
    undo: usize,
}

impl OpLog {
    pub fn push(&mut self, op: &Op) {
        if op.extents().is_empty() {
            self.extents.forget_written();
        }
        if self.open_marks > 0 {
            for e in op.extents() {
                let i = self.extents.learn(&e.key);
                self.undo.push((i, self.extents.ends[i]));
            }
        }
        write_op(&mut self.ops, &mut self.deltas, &mut self.extents, op);
        self.count += 1;
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Where the last op pushed keeps each of its extents' hashes (see `hash_at`), when it was a
    /// create or set-content (the ops with extents).
    pub fn last_hashes(&self) -> &[Option<usize>] {
        self.extents.written()
    }

    /// The hash and block hashes kept at `at` (from `last_hashes`), while what was pushed there is not
    /// rolled back.
    pub fn hash_at(&self, at: usize) -> Option<(String, Vec<BlockHash>)> {
        let data = self.ops.as_slice();
        let hash = super::codec::to_hex(data.get(at..at + 32)?);
        Some((hash, Reader::blocks_after(data, at).ok()?))
    }

    /// Opens a mark: until it is released or rolled back, what is pushed can be taken back.
    pub fn mark(&mut self) -> OpMark {
        self.open_marks += 1;
        OpMark {
            len: self.ops.len(),
            count: self.count,
            deltas: self.deltas,
            keys: self.extents.key_count(),
            undo: self.undo.len(),
        }
    }

    /// Keeps what was pushed since `mark`.
    pub fn release(&mut self, _mark: OpMark) {
        self.open_marks = self.open_marks.saturating_sub(1);
        if self.open_marks == 0 {
            self.undo.clear();
        }
    }

    /// Takes back everything pushed since `mark`.
    pub fn rollback(&mut self, mark: OpMark) {
        while self.undo.len() > mark.undo {
            let (i, end) = self.undo.pop().expect("undo entries above the mark");
            if i < mark.keys {
                self.extents.ends[i] = end;
            }
        }
        self.extents.forget_from(mark.keys);
        self.ops.truncate(mark.len);
        self.count = mark.count;
        self.deltas = mark.deltas;
        self.release(mark);
    }

    /// Moves `other`'s ops to the end of this log: as they are when this log is empty, decoded and
    /// pushed again otherwise (ops are delta-coded against the ones before them).
    pub fn append(&mut self, other: OpLog) -> CodecResult<()> {
        if !self.is_empty() {
            return other.iter().try_for_each(|op| op.map(|op| self.push(&op)));
        }
        let open_marks = self.open_marks;
        *self = other;
        // The marks open here stay open; none of `other`'s were.
        self.open_marks = open_marks;
        self.undo.clear();
        Ok(())
    }

    /// The ops section of a WAL record: the key table, the count, the ops.
    pub fn write_to(&self, w: &mut Writer) {
        self.write_head(w);
        w.raw(self.body());
    }

    /// The ops section up to the ops: the key table and the count.
    pub fn write_head(&self, w: &mut Writer) {
        self.extents.write_table(w);
        w.uvar(self.count);
    }

    /// The ops as they are encoded, after `write_head`.
    pub fn body(&self) -> &[u8] {
        self.ops.as_slice()
    }

    /// The ops section of a stored record (`write_to`): kept as it is, each op decoded when read.
    /// Such a log is for reading; nothing is pushed onto it.
    pub fn read_from(r: &mut Reader) -> CodecResult<OpLog> {
        let keys = ExtentReader::read_table(r)?.keys();
        let count = r.count(2)? as u64;
        let mut ops = Writer::default();
        ops.raw(r.rest());
        Ok(OpLog {
            ops,
            count,
            extents: ExtentWriter::with_keys(keys),
            ..OpLog::default()
        })
    }

    /// Decodes the ops, in order, up to the first that does not decode; bytes left after the last one
    /// are an error too.
    pub fn iter(&self) -> impl Iterator<Item = CodecResult<Op>> + '_ {
        let mut r = Reader::new(self.ops.as_slice());
        let mut d = Deltas::default();
        let mut extents = ExtentReader::with_keys(self.extents.keys().to_vec());
        let mut failed = false;
        let ops = (0..self.count).map_while(move |i| {
            if failed {
                return None;
            }
            let op = match read_op(&mut r, &mut d, &mut extents) {
                Ok(_) if i + 1 == self.count && !r.at_end() => {
                    Err(CodecError("bytes after the last op".into()))
                }
                other => other,
            };
            failed = op.is_err();
            Some(op)
        });
        let trailing = (self.count == 0 && !self.ops.is_empty())
            .then(|| Err(CodecError("bytes after the last op".into())));
        ops.chain(trailing)
    }

    /// Every op, decoded.
    pub fn to_vec(&self) -> CodecResult<Vec<Op>> {
        self.iter().collect()
    }
}

impl<'a> FromIterator<&'a Op> for OpLog {
    fn from_iter<I: IntoIterator<Item = &'a Op>>(ops: I) -> Self {
        let mut log = OpLog::default();
        ops.into_iter().for_each(|op| log.push(op));
        log
    }
}

/// Two logs are equal when they hold the same ops (their key tables may differ in unused keys).
impl PartialEq for OpLog {
    fn eq(&self, other: &Self) -> bool {
        self.to_vec() == other.to_vec()
    }
}

impl std::fmt::Debug for OpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_vec() {
            Ok(ops) => f.debug_list().entries(ops).finish(),
            Err(e) => write!(f, "<{} undecodable ops: {e}>", self.count),
        }
    }
}

/// A log in JSON (format 1 records) is the list of its ops.
pub mod as_list {
    use super::OpLog;
    use crate::namespace::Op;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(log: &OpLog, s: S) -> Result<S::Ok, S::Error> {
        log.to_vec()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OpLog, D::Error> {
        Ok(Vec::<Op>::deserialize(d)?.iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::Extent;

    fn create(name: &str, ino: i64, key: &str, off: u64) -> Op {
        Op::Create {
            parent: 1,
            name: name.into(),
            ino,
            mode: 0o644,
            mtime: 10 + ino,
            size: 3,
            extents: vec![Extent::new(
                key.into(),
                off,
                3,
                blake3::hash(name.as_bytes()).to_hex().to_string(),
            )],
        }
    }

    fn decoded(log: &OpLog) -> Vec<Op> {
        log.iter().collect::<CodecResult<_>>().unwrap()
    }

    #[test]
    fn rollback_returns_to_the_mark_and_the_log_continues_as_if_never_pushed() {
        let a = create("a", 2, "packs/1", 0);
        let b = create("b", 3, "packs/2", 0);
        let c = create("c", 4, "packs/1", 3);
        let mut log = OpLog::default();
        log.push(&a);
        let m = log.mark();
        log.push(&b);
        log.push(&c);
        log.rollback(m);
        log.push(&c);

        let mut straight = OpLog::default();
        straight.push(&a);
        straight.push(&c);
        let (mut w1, mut w2) = (Writer::default(), Writer::default());
        log.write_to(&mut w1);
        straight.write_to(&mut w2);
        assert_eq!(
            w1.into_inner(),
            w2.into_inner(),
            "same bytes as a log that never had b"
        );
        assert_eq!(decoded(&log), vec![a, c]);
    }

    #[test]
    fn released_marks_keep_what_was_pushed_and_a_moved_log_reads_back() {
        let ops: Vec<Op> = (0..50)
            .map(|i| {
                create(
                    &format!("f{i}"),
                    i + 2,
                    &format!("packs/{}", i / 7),
                    (i % 7) as u64 * 3,
                )
            })
            .collect();
        let mut tx = OpLog::default();
        for op in &ops {
            let m = tx.mark();
            tx.push(op);
            tx.release(m);
        }
        let mut batch = OpLog::default();
        let m = batch.mark();
        batch.append(tx).unwrap();
        assert_eq!(decoded(&batch), ops);
        batch.rollback(m);
        assert!(batch.is_empty());
        assert_eq!(decoded(&batch), Vec::<Op>::new());

        // Onto a log that already holds ops, they are pushed again after its own.
        let (head, tail) = ops.split_at(20);
        let mut batch: OpLog = head.iter().collect();
        batch.append(tail.iter().collect()).unwrap();
        assert_eq!(decoded(&batch), ops);
    }
}
