//! The stored formats' versions: every object the engine writes (head, WAL record, snapshot, ref) is
//! JSON with a `v`; a reader takes only the versions it knows, and says so clearly otherwise (a bucket
//! written by a newer release is refused, never misread).

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

/// Decodes `data` (stored at `key`), checking the version first.
pub fn decode<T: Format>(key: &str, data: &[u8]) -> FsResult<T> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let corrupt = |e: serde_json::Error| {
        FsError::new(Code::Corrupt, "decode", Some(key))
            .with_description(format!("unreadable {}: {e}", T::KIND))
    };
    let v = serde_json::from_slice::<Version>(data).map_err(corrupt)?.v;
    if !T::READS.contains(&v) {
        return Err(
            FsError::new(Code::Corrupt, "decode", Some(key)).with_description(format!(
            "{} format version {v} is not one this release reads ({:?}); upgrade s3-bun-cached-fs",
            T::KIND,
            T::READS
        )),
        );
    }
    serde_json::from_slice(data).map_err(corrupt)
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
        let e = decode::<Record>("wal/x", br#"{"v":2,"seq":1}"#).unwrap_err();
        assert!(e.to_string().contains("WAL record format version 2"), "{e}");
        assert!(decode::<Head>("heads/main.json", b"{not json").is_err());
        head.v = Head::CURRENT;
        assert_eq!(
            decode::<Head>("heads/main.json", &encode(&head)).unwrap(),
            head
        );
    }
}
