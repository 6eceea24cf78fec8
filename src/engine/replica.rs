//! Following the bucket: catch up from the head by walking WAL records back to the local seq (one GET
//! per record, no LIST), rebuild from the newest snapshot when far behind or diverged, and for a
//! writer, take the fence by bumping the epoch with a head CAS.

use super::*;
use crate::namespace::snapshot::{self, Snapshot};
use crate::protocol::head::{now_ms, read_head, Head};
use crate::protocol::record::Record;
use crate::protocol::{hash_hex, HEAD_KEY};
use crate::store::{GetOptions, PutMode, StoreError};

/// Records to replay before a snapshot is the cheaper way to catch up.
const MAX_REPLAY_BEFORE_SNAPSHOT: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The head had not changed (one conditional GET).
    Unchanged,
    /// New records were applied.
    Advanced { from: u64, to: u64 },
    /// The local namespace was rebuilt from the bucket.
    Rebuilt { seq: u64 },
}

impl Mount {
    /// Readers: apply whatever the writer has published since the last refresh.
    pub async fn refresh(&self) -> FsResult<RefreshOutcome> {
        self.check_open("refresh")?;
        if self.config.at.is_some() {
            // A time-travel mount shows one commit for good.
            return Ok(RefreshOutcome::Unchanged);
        }
        let mut w = self.writer.clone().lock_owned().await;
        self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
        self.sync_locked(&mut w, true).await
    }

    pub(crate) async fn sync_locked(
        &self,
        w: &mut WriterState,
        conditional: bool,
    ) -> FsResult<RefreshOutcome> {
        let fetched = match (&w.head_etag, conditional) {
            (Some(etag), true) => {
                match self
                    .store
                    .get(
                        HEAD_KEY,
                        GetOptions {
                            range: None,
                            if_none_match: Some(etag.clone()),
                        },
                    )
                    .await
                {
                    Ok(r) => Some((Head::decode(&r.data)?, r.etag)),
                    Err(StoreError::NotModified { .. }) => return Ok(RefreshOutcome::Unchanged),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(FsError::from_store("refresh", e)),
                }
            }
            _ => read_head(self.store.as_ref()).await?,
        };
        let Some((head, etag)) = fetched else {
            // No workspace in the bucket (yet, or any more): an empty namespace.
            if w.head.seq > 0 {
                self.install(w, Vec::new(), None, Head::genesis(), None)?;
                return Ok(RefreshOutcome::Rebuilt { seq: 0 });
            }
            self.epoch.store(0, Ordering::Release);
            return Ok(RefreshOutcome::Unchanged);
        };
        self.follow(w, head, etag).await
    }

    /// Brings the local namespace to `head` (whose ETag is `etag`): nothing, new records, or a rebuild.
    async fn follow(
        &self,
        w: &mut WriterState,
        head: Head,
        etag: String,
    ) -> FsResult<RefreshOutcome> {
        let from = w.head.seq;
        if head.seq == w.head.seq && head.record == w.head.record {
            w.head = head;
            w.head_etag = Some(etag);
            self.epoch.store(w.head.epoch, Ordering::Release);
            self.seq.store(w.head.seq, Ordering::Release);
            return Ok(RefreshOutcome::Unchanged);
        }
        let far_behind = head
            .snapshot
            .as_ref()
            .is_some_and(|s| s.seq > from && head.seq - from > MAX_REPLAY_BEFORE_SNAPSHOT);
        if head.seq > from && !far_behind {
            match self
                .fetch_records(&head, from, w.head.record.as_deref())
                .await
            {
                Ok(Some(records)) => {
                    let to = head.seq;
                    self.install(w, records, None, head, Some(etag))?;
                    return Ok(RefreshOutcome::Advanced { from, to });
                }
                Ok(None) => {}
                // Records this far back were collected: the snapshot is the way forward.
                Err(e) if e.store_kind == Some("NotFound") => {}
                Err(e) => return Err(e),
            }
        }
        // Behind the snapshot, ahead of the bucket, or on another history: rebuild.
        let seq = head.seq;
        let snap = match &head.snapshot {
            Some(s) => {
                let r = self
                    .store
                    .get_all(&s.key)
                    .await
                    .map_err(|e| FsError::from_store("refresh", e))?;
                Some(serde_json::from_slice::<Snapshot>(&r.data).map_err(|e| {
                    FsError::new("EIO", "refresh", Some(&s.key))
                        .with_description(format!("unreadable snapshot: {e}"))
                })?)
            }
            None => None,
        };
        let base_seq = snap.as_ref().map(|s| s.seq).unwrap_or(0);
        let base_record = snap.as_ref().and_then(|s| s.record.clone());
        let records = self
            .fetch_records(&head, base_seq, base_record.as_deref())
            .await?
            .ok_or_else(|| {
                FsError::new("EIO", "refresh", Some(HEAD_KEY))
                    .with_description("the WAL chain does not reach the snapshot it names")
            })?;
        self.install(w, records, Some(snap), head, Some(etag))?;
        self.counters.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(RefreshOutcome::Rebuilt { seq })
    }

    /// Records `(from, head.seq]`, oldest first, checking seqs and hashes along the chain; `None` when
    /// the chain does not lead back to `from_record` (this replica is on another history).
    async fn fetch_records(
        &self,
        head: &Head,
        from: u64,
        from_record: Option<&str>,
    ) -> FsResult<Option<Vec<Record>>> {
        let mut out = Vec::new();
        let mut key = head.record.clone();
        let mut expected_hash = head.record_hash.clone();
        let mut seq = head.seq;
        while seq > from {
            let Some(k) = key else { return Ok(None) };
            let data = self
                .store
                .get_all(&k)
                .await
                .map_err(|e| FsError::from_store("refresh", e))?
                .data;
            if expected_hash
                .as_deref()
                .is_some_and(|h| h != hash_hex(&data))
            {
                return Err(FsError::new("EIO", "refresh", Some(&k))
                    .with_description("WAL record does not match the hash its successor names"));
            }
            let rec = Record::decode(&k, &data)?;
            if rec.seq != seq {
                return Err(
                    FsError::new("EIO", "refresh", Some(&k)).with_description(format!(
                        "WAL record has seq {} where {seq} was expected",
                        rec.seq
                    )),
                );
            }
            key = rec.prev.clone();
            expected_hash = rec.prev_hash.clone();
            out.push(rec);
            seq -= 1;
        }
        if key.as_deref() != from_record {
            return Ok(None);
        }
        out.reverse();
        Ok(Some(out))
    }

    /// Applies records (after replacing everything with a snapshot when given) in one transaction.
    pub(crate) fn install(
        &self,
        w: &mut WriterState,
        records: Vec<Record>,
        snap: Option<Option<Snapshot>>,
        head: Head,
        etag: Option<String>,
    ) -> FsResult<()> {
        let conn = &w.conn;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| namespace::db_err("refresh", e))?;
        let result = (|| -> FsResult<()> {
            if let Some(snap) = &snap {
                let store_id = namespace::get_meta(conn, "store_id")?;
                namespace::reset(conn)?;
                if let Some(id) = store_id {
                    namespace::set_meta(conn, "store_id", &id)?;
                }
                if let Some(s) = snap {
                    snapshot::import(conn, s)?;
                }
            }
            for rec in &records {
                for op in &rec.ops {
                    namespace::apply(conn, op)?;
                }
            }
            namespace::remember_next_ino(conn)?;
            namespace::set_meta(conn, "seq", &head.seq.to_string())?;
            namespace::set_meta(conn, "record", head.record.as_deref().unwrap_or(""))?;
            namespace::set_meta(
                conn,
                "record_hash",
                head.record_hash.as_deref().unwrap_or(""),
            )?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                conn.execute_batch("COMMIT")
                    .map_err(|e| namespace::db_err("refresh", e))?;
                self.invalidate_stats();
                self.note_inodes(conn)?;
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        self.counters
            .records_applied
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.seq.store(head.seq, Ordering::Release);
        self.epoch.store(head.epoch, Ordering::Release);
        w.head = head;
        w.head_etag = etag;
        Ok(())
    }

    /// Takes the writer role: publishes the head with the epoch bumped (creating the head first in an
    /// empty bucket). The previous writer's next head CAS then fails, and it learns it was fenced.
    pub(crate) async fn fence_locked(&self, w: &mut WriterState) -> FsResult<()> {
        // Take the epoch first, against whatever the head is now, and catch up afterwards: once the
        // epoch is ours the previous writer can no longer move the head, so a busy writer cannot keep
        // a new one out by committing faster than it catches up.
        let mut current = w.head_etag.clone().map(|e| (w.head.clone(), e));
        for _ in 0..50 {
            let (base, mode) = match &current {
                Some((h, e)) => (h.clone(), PutMode::Update(e.clone())),
                None => (Head::genesis(), PutMode::Create),
            };
            let next = Head {
                epoch: base.epoch + 1,
                writer: Some(self.writer_id.clone()),
                time_ms: now_ms(),
                ..base
            };
            let taken = match self.store.put(HEAD_KEY, next.encode(), mode).await {
                Ok(etag) => Some((next, etag)),
                Err(StoreError::PreconditionFailed { .. })
                | Err(StoreError::NotFound { .. })
                | Err(StoreError::Transient { .. }) => {
                    // Someone else moved the head, or our own answer was lost: the head says which.
                    current = read_head(self.store.as_ref()).await?;
                    current.clone().filter(|(h, _)| {
                        h.writer.as_deref() == Some(self.writer_id.as_str())
                            && h.epoch == next.epoch
                    })
                }
                Err(e) => return Err(FsError::from_store("mount", e)),
            };
            if let Some((head, etag)) = taken {
                // Catch up to the head we published, not whatever the head is by now: if a newer
                // writer has taken over meanwhile, our first commit must meet its fence.
                self.follow(w, head, etag).await?;
                return Ok(());
            }
        }
        Err(FsError::new("EBUSY", "mount", Some(HEAD_KEY))
            .with_description("could not take the writer role: the head kept changing"))
    }
}
