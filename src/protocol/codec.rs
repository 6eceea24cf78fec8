//! The compact encoding of the large stored objects (WAL records, snapshots): a magic, the object's tag and
//! format version in the clear, then a zstd-compressed body of varints and length-prefixed bytes. Every
//! read is bounds-checked and every count is checked against the bytes left, so no input can panic the
//! decoder or make it allocate more than the object's own size.

use super::block_hashes::BlockHash;
use std::fmt;

/// The first bytes of every compact object; a JSON (format 1) object starts with `{` instead.
pub const MAGIC: &[u8; 4] = b"S3FS";
/// The largest body a compact object may decompress to: far above any real snapshot, and a bound on
/// what a damaged object can make the reader allocate.
const MAX_BODY: u64 = 4 << 30;
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type CodecResult<T> = Result<T, CodecError>;

fn err<T>(what: impl Into<String>) -> CodecResult<T> {
    Err(CodecError(what.into()))
}

#[derive(Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// LEB128.
    pub fn uvar(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Zigzag, so small negative deltas stay small.
    pub fn ivar(&mut self, v: i64) {
        self.uvar(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.uvar(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    /// An extent's hash: a blake3 hex digest as its 32 bytes, followed by its block hashes when it has
    /// them (from format version 3); anything else as text (so any string round-trips). Says where the
    /// 32 bytes went, when they did (`blocks_after` reads the block hashes from there).
    pub fn hash(&mut self, h: &str, blocks: &[BlockHash]) -> Option<usize> {
        match hex32(h) {
            Some(raw) => {
                self.u8(if blocks.is_empty() { 0 } else { 2 });
                let at = self.buf.len();
                self.buf.extend_from_slice(&raw);
                if !blocks.is_empty() {
                    self.uvar(blocks.len() as u64);
                    for b in blocks {
                        self.buf.extend_from_slice(b);
                    }
                }
                Some(at)
            }
            None => {
                self.u8(1);
                self.str(h);
                None
            }
        }
    }

    /// Appends another writer's bytes as one length-prefixed column.
    pub fn column(&mut self, col: Writer) {
        self.bytes(&col.buf);
    }

    /// Appends bytes encoded elsewhere, as they are.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn take(&mut self, n: usize) -> CodecResult<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return err("truncated");
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self) -> CodecResult<u8> {
        Ok(self.take(1)?[0])
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.data[self.pos..];
        self.pos = self.data.len();
        out
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    pub fn uvar(&mut self) -> CodecResult<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return err("varint overflows 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        err("varint overflows 64 bits")
    }

    pub fn ivar(&mut self) -> CodecResult<i64> {
        let u = self.uvar()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub fn u32(&mut self) -> CodecResult<u32> {
        u32::try_from(self.uvar()?).or_else(|_| err("value out of range"))
    }

    /// A count of items that each take at least `min_bytes`, refused when the bytes left cannot hold them.
    pub fn count(&mut self, min_bytes: usize) -> CodecResult<usize> {
        let n = self.uvar()?;
        let left = (self.data.len() - self.pos) as u64;
        if n.saturating_mul(min_bytes.max(1) as u64) > left {
            return err("count exceeds the object");
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> CodecResult<&'a [u8]> {
        let n = self.uvar()?;
        let n = usize::try_from(n).or_else(|_| err("length out of range"))?;
        self.take(n)
    }

    pub fn str(&mut self) -> CodecResult<String> {
        String::from_utf8(self.bytes()?.to_vec()).or_else(|_| err("a name is not UTF-8"))
    }

    pub fn opt_str(&mut self) -> CodecResult<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            t => err(format!("bad option tag {t}")),
        }
    }

    /// An extent's hash and block hashes (see `Writer::hash`).
    pub fn hash(&mut self) -> CodecResult<(String, Vec<BlockHash>)> {
        match self.u8()? {
            0 => Ok((to_hex(self.take(32)?), Vec::new())),
            1 => Ok((self.str()?, Vec::new())),
            2 => {
                let root = to_hex(self.take(32)?);
                Ok((root, self.block_hashes()?))
            }
            t => err(format!("bad hash tag {t}")),
        }
    }

    fn block_hashes(&mut self) -> CodecResult<Vec<BlockHash>> {
        let n = self.count(32)?;
        (0..n)
            .map(|_| Ok(self.take(32)?.try_into().expect("32 bytes")))
            .collect()
    }

    /// The block hashes a `Writer::hash` put after the 32 bytes at `at` of `data` (none for tag 0).
    pub fn blocks_after(data: &'a [u8], at: usize) -> CodecResult<Vec<BlockHash>> {
        if at == 0 || data.get(at - 1) != Some(&2) {
            return Ok(Vec::new());
        }
        let mut r = Reader { data, pos: at + 32 };
        r.block_hashes()
    }

    /// The next length-prefixed column, read on its own.
    pub fn column(&mut self) -> CodecResult<Reader<'a>> {
        Ok(Reader::new(self.bytes()?))
    }

    /// Where the next read starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn finish(&self) -> CodecResult<()> {
        if self.pos == self.data.len() {
            Ok(())
        } else {
            err("trailing bytes")
        }
    }
}

pub fn hex32(h: &str) -> Option<[u8; 32]> {
    let b = h.as_bytes();
    if b.len() != 64 {
        return None;
    }
    // One table lookup per digit (0xff: not a lowercase hex digit), checked once at the end.
    const NIBBLE: [u8; 256] = {
        let mut t = [0xffu8; 256];
        let mut c = 0;
        while c < 10 {
            t[b'0' as usize + c] = c as u8;
            c += 1;
        }
        let mut c = 0;
        while c < 6 {
            t[b'a' as usize + c] = 10 + c as u8;
            c += 1;
        }
        t
    };
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= hi | lo;
        *o = hi << 4 | lo;
    }
    (bad & 0xf0 == 0).then_some(out)
}

pub fn to_hex(raw: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(raw.len() * 2);
    for b in raw {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The clear header of a compact object: its tag and format version.
pub struct Envelope {
    pub tag: u8,
    pub version: u32,
}

/// A compact object whose body is `parts` one after another (compressed as they come, so a large body
/// is never copied whole first).
pub fn seal(tag: u8, version: u32, parts: &[&[u8]]) -> Vec<u8> {
    use std::io::Write;
    let mut w = Writer::default();
    w.buf.extend_from_slice(MAGIC);
    w.u8(tag);
    w.uvar(u64::from(version));
    let compress = || -> std::io::Result<Vec<u8>> {
        let mut z = zstd::stream::write::Encoder::new(w.into_inner(), ZSTD_LEVEL)?;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        z.set_pledged_src_size(Some(len as u64))?;
        for p in parts {
            z.write_all(p)?;
        }
        z.finish()
    };
    compress().expect("zstd compresses any input into memory")
}

/// Splits a compact object into its header and the rest (still compressed).
pub fn open(data: &[u8]) -> CodecResult<(Envelope, &[u8])> {
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return err("not a compact object");
    }
    let mut r = Reader::new(&data[MAGIC.len()..]);
    let tag = r.u8()?;
    let version = r.u32()?;
    Ok((Envelope { tag, version }, &data[MAGIC.len() + r.pos..]))
}

pub fn inflate(compressed: &[u8]) -> CodecResult<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(compressed)
        .and_then(|d| d.take(MAX_BODY + 1).read_to_end(&mut out))
        .map_err(|e| CodecError(format!("bad compressed body: {e}")))?;
    if out.len() as u64 > MAX_BODY {
        return err("body too large");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = Writer::default();
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            w.uvar(v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            w.ivar(v);
        }
        let h = blake3::hash(b"x").to_hex().to_string();
        let blocks = [[7u8; 32], [9u8; 32]];
        w.hash(&h, &[]);
        w.hash("not-hex", &[]);
        let at = w.hash(&h, &blocks).unwrap();
        assert_eq!(Reader::blocks_after(w.as_slice(), at).unwrap(), blocks);
        w.opt_str(None);
        w.opt_str(Some("ü"));
        let buf = w.into_inner();
        let mut r = Reader::new(&buf);
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.uvar().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(r.ivar().unwrap(), v);
        }
        assert_eq!(r.hash().unwrap(), (h.clone(), vec![]));
        assert_eq!(r.hash().unwrap(), ("not-hex".to_string(), vec![]));
        assert_eq!(r.hash().unwrap(), (h, blocks.to_vec()));
        assert_eq!(r.opt_str().unwrap(), None);
        assert_eq!(r.opt_str().unwrap().as_deref(), Some("ü"));
        r.finish().unwrap();
        assert!(Reader::new(&[0xff; 11]).uvar().is_err());
        assert!(Reader::new(&[0x05]).count(1).is_err());
    }

    #[test]
    fn sealed_bodies_open() {
        let sealed = seal(7, 2, &[b"bo", b"dy"]);
        let (env, rest) = open(&sealed).unwrap();
        assert_eq!((env.tag, env.version), (7, 2));
        assert_eq!(inflate(rest).unwrap(), b"body");
        assert!(open(b"{}").is_err());
        assert!(inflate(b"garbage").is_err());
    }
}
