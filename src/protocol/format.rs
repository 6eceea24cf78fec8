//! The stored formats' versions. The small objects (head, refs) are JSON with a `v`; the large ones (WAL
//! records, snapshots) were JSON at version 1 and are the compact encoding of `codec.rs` from version 2 on.
//! A reader takes only the versions it knows, and says so clearly otherwise (a bucket written by a newer
//! release is refused, never misread).

use super::codec::{self, CodecResult, Reader, Writer};
use crate::error::{Code, FsError, FsResult};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A stored object type: its name in messages, the version written now, and every version read.
pub trait Format: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const CURRENT: u32;
    const READS: &'static [u32];
}

/// A stored object type written in the compact encoding: its tag in the envelope, and its body codec.
pub trait Compact: Format {
    const TAG: u8;
    /// The versions that were JSON (read by serde), below the compact ones.
    const JSON_READS: &'static [u32] = &[1];
    fn write_body(&self, w: &mut Writer);
    /// Reads a body of `version` (one of `READS`, not in `JSON_READS`).
    fn read_body(version: u32, r: &mut Reader) -> CodecResult<Self>;
}

pub(crate) fn corrupt<T: Format>(key: &str, what: impl std::fmt::Display) -> FsError {
    FsError::new(Code::Corrupt, "decode", Some(key))
        .with_description(format!("unreadable {}: {what}", T::KIND))
}

fn check_version<T: Format>(key: &str, v: u32, known: &[u32]) -> FsResult<()> {
    if known.contains(&v) {
        return Ok(());
    }
    Err(
        FsError::new(Code::Corrupt, "decode", Some(key)).with_description(format!(
            "{} format version {v} is not one this release reads ({:?}); upgrade s3-bun-cached-fs",
            T::KIND,
            T::READS
        )),
    )
}

fn decode_json<T: Format>(key: &str, data: &[u8], known: &[u32]) -> FsResult<T> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let v = serde_json::from_slice::<Version>(data)
        .map_err(|e| corrupt::<T>(key, e))?
        .v;
    check_version::<T>(key, v, known)?;
    serde_json::from_slice(data).map_err(|e| corrupt::<T>(key, e))
}

/// Decodes `data` (stored at `key`), checking the version first.
pub fn decode<T: Format>(key: &str, data: &[u8]) -> FsResult<T> {
    decode_json(key, data, T::READS)
}

/// A stored object as `open_compact` finds it: JSON of a version before the compact format (decoded), or
/// a compact body of a version this release reads (inflated, not decoded).
pub enum Opened<T> {
    Json(T),
    Compact { version: u32, body: Vec<u8> },
}

/// Decodes a compact object, or a JSON one written before the compact format.
pub fn decode_compact<T: Compact>(key: &str, data: &[u8]) -> FsResult<T> {
    let (version, body) = match open_compact::<T>(key, data)? {
        Opened::Json(value) => return Ok(value),
        Opened::Compact { version, body } => (version, body),
    };
    let mut r = Reader::new(&body);
    let value = T::read_body(version, &mut r).map_err(|e| corrupt::<T>(key, e))?;
    r.finish().map_err(|e| corrupt::<T>(key, e))?;
    Ok(value)
}

/// Checks a stored object's envelope and version, and inflates a compact body (for types that keep
/// their body as it is instead of decoding it: see `Snapshot::decode`).
pub fn open_compact<T: Compact>(key: &str, data: &[u8]) -> FsResult<Opened<T>> {
    if data.first() == Some(&b'{') {
        return decode_json(key, data, T::JSON_READS).map(Opened::Json);
    }
    let (env, rest) = codec::open(data).map_err(|e| corrupt::<T>(key, e))?;
    if env.tag != T::TAG {
        return Err(corrupt::<T>(
            key,
            format!("tag {} is another object type", env.tag),
        ));
    }
    check_version::<T>(key, env.version, T::READS)?;
    if T::JSON_READS.contains(&env.version) {
        return Err(corrupt::<T>(key, "a JSON version in a compact envelope"));
    }
    let body = codec::inflate(rest).map_err(|e| corrupt::<T>(key, e))?;
    Ok(Opened::Compact {
        version: env.version,
        body,
    })
}

pub fn encode_compact<T: Compact>(value: &T) -> Bytes {
    let mut w = Writer::default();
    value.write_body(&mut w);
    Bytes::from(codec::seal(T::TAG, T::CURRENT, &[w.as_slice()]))
}

pub fn encode<T: Format>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("stored formats serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::head::Head;
    use crate::protocol::record::Record;

    #[test]
    fn unknown_versions_are_refused_by_name() {
        let mut head = Head::genesis();
        head.v = 99;
        let e = decode::<Head>("heads/main.json", &encode(&head)).unwrap_err();
        assert!(e.to_string().contains("head format version 99"), "{e}");
        let e = Record::decode("wal/x", br#"{"v":2,"seq":1}"#).unwrap_err();
        assert!(e.to_string().contains("WAL record format version 2"), "{e}");
        let e = Record::decode("wal/x", &codec::seal(Record::TAG, 9, &[b""])).unwrap_err();
        assert!(e.to_string().contains("WAL record format version 9"), "{e}");
        assert!(e.to_string().contains("upgrade"), "{e}");
        assert!(decode::<Head>("heads/main.json", b"{not json").is_err());
        head.v = Head::CURRENT;
        assert_eq!(
            decode::<Head>("heads/main.json", &encode(&head)).unwrap(),
            head
        );
    }
}
