//! The commit pipeline: data objects, then the WAL record (create-only), then the head (replace-if).
//! Only after the head names the record does the local transaction commit, so a failure at any step
//! leaves both the bucket and the local namespace at the last published state. Concurrent single
//! requests are grouped into one commit; each caller hears back only once its commit is durable.

use super::*;
use crate::namespace::snapshot;
use crate::protocol::head::{now_ms, read_head, Head, SnapshotRef};
use crate::protocol::record::Record;
use crate::protocol::{hash_hex, put_immutable, record_key, snapshot_key, HEAD_KEY};
use crate::store::{PutMode, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    pub seq: u64,
    /// False when the transaction changed nothing, so nothing was written.
    pub committed: bool,
}

impl Txn {
    /// Makes the transaction durable and visible, or leaves everything as it was and says why.
    pub async fn commit(mut self) -> FsResult<CommitInfo> {
        let r = self.commit_inner().await;
        if r.is_err() {
            self.rollback();
            if self.needs_catch_up {
                // Best effort now; if the bucket is unreachable the next commit lands here again.
                let mount = self.mount.clone();
                let _ = mount.sync_locked(&mut self.guard, false).await;
            }
        }
        r
    }

    /// Drops the transaction: nothing of it becomes visible. Chunks already uploaded are garbage.
    pub fn abort(mut self) {
        self.rollback();
    }

    async fn commit_inner(&mut self) -> FsResult<CommitInfo> {
        let mount = self.mount.clone();
        mount.check_writable("commit", "/")?;
        if self.ops.is_empty() {
            self.rollback();
            return Ok(CommitInfo {
                seq: self.guard.head.seq,
                committed: false,
            });
        }
        // 1. Data: the last pack, and the packs and chunks already on their way.
        self.seal_pack();
        while let Some(done) = self.uploads.join_next().await {
            done.map_err(|e| FsError::internal("commit", e.to_string()))??;
        }
        // 2. The WAL record.
        let w = &mut *self.guard;
        let seq = w.head.seq + 1;
        let epoch = w.head.epoch;
        let record = Record {
            v: 1,
            seq,
            epoch,
            prev: w.head.record.clone(),
            prev_hash: w.head.record_hash.clone(),
            time_ms: now_ms(),
            bytes: self.bytes,
            ops: std::mem::take(&mut self.ops),
        };
        let key = record_key(seq, epoch);
        let body = record.encode();
        let hash = hash_hex(&body);
        put_immutable(mount.store.as_ref(), &key, body).await?;
        // A snapshot now and then, written before the head that names it.
        let snapshot = if w.commits_since_snapshot + 1 >= mount.config.snapshot_every {
            let snap = snapshot::export(&w.conn, seq, Some(key.clone()))?;
            let skey = snapshot_key(seq);
            let body = bytes::Bytes::from(
                serde_json::to_vec(&snap)
                    .map_err(|e| FsError::internal("commit", e.to_string()))?,
            );
            put_immutable(mount.store.as_ref(), &skey, body).await?;
            Some(SnapshotRef { seq, key: skey })
        } else {
            w.head.snapshot.clone()
        };
        // 3. The head: the commit point.
        let head = Head {
            v: 1,
            epoch,
            seq,
            record: Some(key.clone()),
            record_hash: Some(hash.clone()),
            snapshot,
            writer: Some(mount.writer_id.clone()),
            time_ms: now_ms(),
        };
        let expected = w
            .head_etag
            .clone()
            .ok_or_else(|| FsError::internal("commit", "writer has no head ETag"))?;
        let etag = match mount
            .store
            .put(HEAD_KEY, head.encode(), PutMode::Update(expected))
            .await
        {
            Ok(etag) => etag,
            Err(
                e @ (StoreError::PreconditionFailed { .. }
                | StoreError::NotFound { .. }
                | StoreError::Transient { .. }),
            ) => {
                // Lost, refused, or ambiguous: the head itself says whether our record made it.
                match read_head(mount.store.as_ref()).await {
                    Ok(Some((now, etag))) if now.record.as_deref() == Some(key.as_str()) => etag,
                    Ok(Some((now, _)))
                        if now.epoch != epoch
                            || now.writer.as_deref() != Some(mount.writer_id.as_str()) =>
                    {
                        mount.fenced.store(true, Ordering::Release);
                        return Err(FsError::new("EFENCED", "commit", Some(HEAD_KEY)).with_description(format!(
                            "this writer (epoch {epoch}) was fenced by a newer readwrite mount (epoch {}); its writes are refused",
                            now.epoch
                        )));
                    }
                    _ => {
                        // Still our head, but not the one we expected (an earlier commit whose answer
                        // was lost did land), or we cannot tell yet: catch up before the next commit.
                        self.needs_catch_up = true;
                        let err = FsError::from_store("commit", e);
                        let why = format!("{}; the commit could not be confirmed, nothing of it is visible, and the writer resynchronises with the bucket: retry", err.description);
                        return Err(err.with_description(why));
                    }
                }
            }
            Err(e) => return Err(FsError::from_store("commit", e)),
        };
        // 4. Locally visible.
        let conn = &w.conn;
        namespace::remember_next_ino(conn)?;
        namespace::set_meta(conn, "seq", &seq.to_string())?;
        namespace::set_meta(conn, "record", &key)?;
        namespace::set_meta(conn, "record_hash", &hash)?;
        conn.execute_batch("COMMIT")
            .map_err(|e| namespace::db_err("commit", e))?;
        mount.invalidate_stats();
        w.commits_since_snapshot = if head.snapshot.as_ref().is_some_and(|s| s.seq == seq) {
            0
        } else {
            w.commits_since_snapshot + 1
        };
        w.head = head;
        w.head_etag = Some(etag);
        mount.seq.store(seq, Ordering::Release);
        mount.counters.commits.fetch_add(1, Ordering::Relaxed);
        Ok(CommitInfo {
            seq,
            committed: true,
        })
    }
}

impl Mount {
    /// Runs one write request in a commit, grouped with whatever other requests are waiting.
    pub async fn write(self: &Arc<Self>, work: GroupWork) -> FsResult<CommitInfo> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Pending { work, done });
        if !self.committing.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            self.runtime
                .spawn(async move { me.run_group_commits().await });
        }
        rx.await
            .map_err(|_| FsError::internal("write", "the committer stopped"))?
    }

    async fn run_group_commits(self: Arc<Self>) {
        loop {
            let batch: Vec<Pending> = self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..)
                .collect();
            if batch.is_empty() {
                self.committing.store(false, Ordering::Release);
                // A request queued after the drain but before the flag dropped would wait forever.
                if self
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty()
                    || self.committing.swap(true, Ordering::AcqRel)
                {
                    return;
                }
                continue;
            }
            let mut tx = match Txn::begin(self.clone()).await {
                Ok(tx) => tx,
                Err(e) => {
                    for p in batch {
                        let _ = p.done.send(Err(e.clone()));
                    }
                    continue;
                }
            };
            let mut accepted = Vec::new();
            for p in batch {
                match tx.atomically(p.work) {
                    Ok(()) => accepted.push(p.done),
                    Err(e) => {
                        let _ = p.done.send(Err(e));
                    }
                }
            }
            let result = tx.commit().await;
            for done in accepted {
                let _ = done.send(result.clone());
            }
        }
    }
}
