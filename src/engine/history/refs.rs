//! Named commits: checkpoints, and the registrations forks leave in their source (`refs/forks/`) so
//! GC keeps what they read.

use super::*;
use crate::protocol::checkpoint::{fork_ref_key, CHECKPOINT_PREFIX, FORK_PREFIX};
use crate::protocol::head::now_ms;
use crate::store::PutMode;

/// Every ref (checkpoint or fork registration) under `prefix`, oldest commit first.
pub(crate) async fn list_refs(store: &dyn ObjectStore, prefix: &str) -> FsResult<Vec<Checkpoint>> {
    let keys: Vec<String> = store
        .list(prefix, None, None)
        .await
        .map_err(|e| FsError::from_store("checkpoints", e))?
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut all: Vec<Checkpoint> = futures::stream::iter(keys)
        .map(|k| async move {
            match store.get_all(&k).await {
                Ok(r) => Checkpoint::decode(&k, &r.data).map(Some),
                // Deleted since the listing.
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(FsError::from_store("checkpoints", e)),
            }
        })
        .buffered(HISTORY_FETCH_CONCURRENCY)
        .try_filter_map(|c| async move { Ok(c) })
        .try_collect()
        .await?;
    all.sort_by(|a, b| (a.seq, &a.name).cmp(&(b.seq, &b.name)));
    Ok(all)
}

impl Mount {
    /// Names the commit this mount is at. EEXIST when the name is taken (a lost answer to our own PUT
    /// is recognised by reading it back).
    pub async fn checkpoint(&self, name: &str, message: Option<String>) -> FsResult<Checkpoint> {
        self.check_writable("checkpoint", name)?;
        if !valid_checkpoint_name(name) {
            return Err(FsError::invalid(
                "checkpoint",
                Some(name),
                "checkpoint names are 1-128 characters of [A-Za-z0-9._-], not starting with '.'",
            ));
        }
        let cp = {
            let w = self.writer.lock().await;
            Checkpoint {
                v: 1,
                name: name.to_string(),
                seq: w.head.seq,
                record: w.head.record.clone(),
                record_hash: w.head.record_hash.clone(),
                message,
                time_ms: now_ms(),
            }
        };
        let key = checkpoint_key(name);
        let body = cp.encode();
        match self.store.put(&key, body.clone(), PutMode::Create).await {
            Ok(_) => Ok(cp),
            Err(StoreError::AlreadyExists { .. }) => {
                let existing = self
                    .store
                    .get_all(&key)
                    .await
                    .map_err(|e| FsError::from_store("checkpoint", e))?;
                if existing.data == body {
                    Ok(cp)
                } else {
                    Err(FsError::new(Code::Exist, "checkpoint", Some(name))
                        .with_description("a checkpoint with this name already exists"))
                }
            }
            Err(e) => Err(FsError::from_store("checkpoint", e)),
        }
    }

    /// Every checkpoint, oldest commit first.
    pub async fn checkpoints(&self) -> FsResult<Vec<Checkpoint>> {
        self.check_open("checkpoints")?;
        list_refs(self.store.as_ref(), CHECKPOINT_PREFIX).await
    }

    pub async fn delete_checkpoint(&self, name: &str) -> FsResult<()> {
        self.delete_ref(
            "checkpoint",
            &checkpoint_key(name),
            name,
            "no such checkpoint",
        )
        .await
    }

    /// The forks made from this workspace that still hold its data (oldest starting point first).
    pub async fn forks(&self) -> FsResult<Vec<Checkpoint>> {
        self.check_open("forks")?;
        list_refs(self.store.as_ref(), FORK_PREFIX).await
    }

    /// Lets GC reclaim what only the fork `id` held here (do it once the fork is deleted or no longer
    /// needs this workspace's data: a fork reads its inherited files from here).
    pub async fn release_fork(&self, id: &str) -> FsResult<()> {
        self.delete_ref(
            "releaseFork",
            &fork_ref_key(id),
            id,
            "no such fork registration",
        )
        .await
    }

    async fn delete_ref(
        &self,
        syscall: &str,
        key: &str,
        name: &str,
        missing: &str,
    ) -> FsResult<()> {
        self.check_writable(syscall, name)?;
        if !valid_checkpoint_name(name) || self.store.head(key).await.is_err() {
            return Err(
                FsError::new(Code::NoEnt, "checkpoint", Some(name)).with_description(missing)
            );
        }
        self.store
            .delete(key)
            .await
            .map_err(|e| FsError::from_store(syscall, e))
    }
}
