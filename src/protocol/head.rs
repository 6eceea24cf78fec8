//! `heads/main.json`: the writer's epoch (its fence), the last committed seq and the record it names,
//! and the newest snapshot. Publishing a new head is the commit point.

use super::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub seq: u64,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub v: u32,
    pub epoch: u64,
    pub seq: u64,
    /// The WAL record at `seq` (none before the first commit).
    pub record: Option<String>,
    pub record_hash: Option<String>,
    pub snapshot: Option<SnapshotRef>,
    /// The mount that owns `epoch`.
    pub writer: Option<String>,
    pub time_ms: i64,
    /// For a fork: the prefix (in the same bucket) of the workspace it shares data objects with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

impl Head {
    pub fn genesis() -> Self {
        Head {
            v: <Head as format::Format>::CURRENT,
            epoch: 0,
            seq: 0,
            record: None,
            record_hash: None,
            snapshot: None,
            writer: None,
            time_ms: now_ms(),
            base: None,
        }
    }

    pub fn encode(&self) -> Bytes {
        format::encode(self)
    }

    pub fn decode(data: &[u8]) -> FsResult<Self> {
        format::decode(HEAD_KEY, data)
    }
}

impl format::Format for Head {
    const KIND: &'static str = "head";
    const CURRENT: u32 = 1;
    const READS: &'static [u32] = &[1];
}

/// The head and its ETag, or `None` when the bucket has no workspace yet.
pub async fn read_head(store: &dyn ObjectStore) -> FsResult<Option<(Head, String)>> {
    match store.get_all(HEAD_KEY).await {
        Ok(r) => Ok(Some((Head::decode(&r.data)?, r.etag))),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(FsError::from_store("mount", e)),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
