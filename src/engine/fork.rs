//! Forks: a new workspace (another prefix of the same bucket) whose first state is a source workspace at
//! some commit. Only metadata is written: a snapshot whose extents point into the source (`@base/`
//! keys, see protocol/base.rs) and a head naming the source's prefix. The source learns of the fork
//! first, through a registration GC honours like a checkpoint, so its data stays for the fork however
//! the source changes. The fork's head is written last: a crash leaves no fork, or a complete one.

use super::history::{history_to, resolve_at, tree_db, At, Commit};
use super::*;
use crate::namespace::snapshot;
use crate::protocol::base::{LayeredObjectStore, BASE_KEY_PREFIX};
use crate::protocol::checkpoint::{fork_ref_key, Checkpoint};
use crate::protocol::head::{now_ms, read_head, Head, SnapshotRef};
use crate::protocol::{put_immutable, snapshot_key, HEAD_KEY};
use crate::store::{PutMode, StoreError};

/// The seq a fork starts at: its snapshot's.
const FORK_SEQ: u64 = 1;

#[derive(Debug, Clone)]
pub struct ForkInfo {
    /// The source commit the fork starts from.
    pub from_seq: u64,
    pub prefix: String,
    /// The registration's name under the source's `refs/forks/`.
    pub id: String,
}

/// Forks the workspace in `source` (at `at`, else its head) to `to_prefix` of the same bucket.
pub async fn fork(source: DynObjectStore, at: Option<At>, to_prefix: &str) -> FsResult<ForkInfo> {
    let to = to_prefix.trim_matches('/').to_string();
    let from = source.prefix().unwrap_or_default();
    let target = source.sibling(&to).ok_or_else(|| {
        FsError::new(Code::NotSup, "fork", Some(&to)).with_description(
            "this store cannot reach another prefix of its bucket, so it cannot fork",
        )
    })?;
    if to.is_empty() || to == from.trim_matches('/') {
        return Err(FsError::invalid(
            "fork",
            Some(&to),
            "a fork needs a prefix of its own",
        ));
    }
    let retry = |s: DynObjectStore| -> DynObjectStore {
        Arc::new(RetryingObjectStore::new(s, RetryPolicy::default()))
    };
    let source = retry(Arc::new(LayeredObjectStore::new(source)));
    let target = retry(target);
    if read_head(target.as_ref()).await?.is_some() {
        return Err(FsError::new(Code::Exist, "fork", Some(&to))
            .with_description("a workspace already exists at this prefix"));
    }
    let (head, _) = read_head(source.as_ref()).await?.ok_or_else(|| {
        FsError::new(Code::NoEnt, "fork", Some(&from))
            .with_description("no workspace to fork at this prefix")
    })?;
    let commit = match at {
        Some(at) => resolve_at(source.as_ref(), &at).await?,
        None => Commit {
            seq: head.seq,
            record: head.record.clone(),
        },
    };
    let tree = tree_db(&history_to(source.as_ref(), &commit).await?)?;
    let mut snap = snapshot::export(&tree, FORK_SEQ, None)?;
    snap.tree = snap
        .tree
        .with_keys(|k| format!("{BASE_KEY_PREFIX}{k}"))
        .map_err(|e| FsError::internal("fork", e.to_string()))?;
    let id = format!(
        "{}-{:08x}",
        to.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        fastrand::u32(..)
    );
    let registration = Checkpoint {
        v: 1,
        name: id.clone(),
        seq: commit.seq,
        record: commit.record.clone(),
        record_hash: None,
        message: Some(format!("fork to {to}")),
        time_ms: now_ms(),
    };
    put_immutable(source.as_ref(), &fork_ref_key(&id), registration.encode()).await?;
    let skey = snapshot_key(FORK_SEQ);
    put_immutable(target.as_ref(), &skey, snap.encode()).await?;
    let fork_head = Head {
        v: 1,
        epoch: 0,
        seq: FORK_SEQ,
        record: None,
        record_hash: None,
        snapshot: Some(SnapshotRef {
            seq: FORK_SEQ,
            key: skey,
        }),
        writer: None,
        time_ms: now_ms(),
        base: Some(from),
    };
    match target
        .put(HEAD_KEY, fork_head.encode(), PutMode::Create)
        .await
    {
        Ok(_) => {}
        // Our own head whose answer was lost, or someone else's workspace.
        Err(StoreError::AlreadyExists { .. }) => match read_head(target.as_ref()).await? {
            Some((h, _)) if h.snapshot == fork_head.snapshot => {}
            _ => {
                return Err(FsError::new(Code::Exist, "fork", Some(&to))
                    .with_description("a workspace was created at this prefix meanwhile"))
            }
        },
        Err(e) => return Err(FsError::from_store("fork", e)),
    }
    Ok(ForkInfo {
        from_seq: commit.seq,
        prefix: to,
        id,
    })
}
