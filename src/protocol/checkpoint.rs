//! `refs/checkpoints/<name>.json`: a name for one commit (its seq and WAL record), written once with a
//! create-only PUT. GC keeps whatever a checkpoint can reach, so a checkpoint is also a retention pin.

use super::*;
use serde::{Deserialize, Serialize};

pub const CHECKPOINT_PREFIX: &str = "refs/checkpoints/";
/// Where a workspace registers each fork made from it, in the same format: GC keeps what a fork's
/// starting point needs as it keeps a checkpoint's.
pub const FORK_PREFIX: &str = "refs/forks/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub v: u32,
    pub name: String,
    pub seq: u64,
    /// The WAL record at `seq` (none for the empty workspace at seq 0).
    pub record: Option<String>,
    pub record_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub time_ms: i64,
}

pub fn checkpoint_key(name: &str) -> String {
    format!("{CHECKPOINT_PREFIX}{name}.json")
}

pub fn fork_ref_key(id: &str) -> String {
    format!("{FORK_PREFIX}{id}.json")
}

/// Checkpoint names are 1-128 characters of `[A-Za-z0-9._-]`, not starting with `.` (they become keys).
pub fn valid_checkpoint_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Checkpoint {
    pub fn encode(&self) -> Bytes {
        format::encode(self)
    }

    pub fn decode(key: &str, data: &[u8]) -> FsResult<Self> {
        format::decode(key, data)
    }
}

impl format::Format for Checkpoint {
    const KIND: &'static str = "checkpoint";
    const CURRENT: u32 = 1;
    const READS: &'static [u32] = &[1];
}
