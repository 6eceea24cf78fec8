//! Following the bucket: catch up from the head by walking WAL records back to the local seq (one GET
//! per record, no LIST), and rebuild from the newest snapshot when far behind or diverged.

use super::metadata::IndexUpdate;
use super::*;
use crate::namespace::snapshot::{self, Snapshot};
use crate::namespace::EntryIndex;
use crate::protocol::head::{read_head, Head};
use crate::protocol::record::Record;
use crate::protocol::{hash_hex, HEAD_KEY};
use crate::store::{GetOptions, StoreError};

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
    pub(crate) async fn follow(
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
                Err(e) if e.store_kind == Some(crate::store::StoreErrorKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        // Behind the snapshot, ahead of the bucket, or on another history: rebuild.
        let seq = head.seq;
        let snap = match &head.snapshot {
            Some(s) => Some(super::history::read_snapshot(self.store.as_ref(), &s.key).await?),
            None => None,
        };
        let base_seq = snap.as_ref().map(|s| s.seq).unwrap_or(0);
        let base_record = snap.as_ref().and_then(|s| s.record.clone());
        let records = self
            .fetch_records(&head, base_seq, base_record.as_deref())
            .await?
            .ok_or_else(|| {
                FsError::new(Code::Corrupt, "refresh", Some(HEAD_KEY))
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
                return Err(FsError::new(Code::Corrupt, "refresh", Some(&k))
                    .with_description("WAL record does not match the hash its successor names"));
            }
            let rec = Record::decode(&k, &data)?;
            if rec.seq != seq {
                return Err(
                    FsError::new(Code::Corrupt, "refresh", Some(&k)).with_description(format!(
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
        let ops = records.iter().map(|r| r.ops.len()).sum();
        let mut index = self.local.index_update(snap.is_some(), true, ops);
        let hasher = &self.local.hasher;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| namespace::db_err("refresh", e))?;
        let fresh = index.take_fresh();
        let snapshot_rows = snap.as_ref().and_then(Option::as_ref);
        let (built, result) = std::thread::scope(|s| {
            // A new index is built from the same snapshot and records on another core, beside the
            // database's import (a cold reader of a million files would otherwise wait for both).
            let builder = fresh.map(|ix| s.spawn(|| build_fresh(ix, snapshot_rows, &records)));
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
                // The highest number any record made, though a later one may have removed it again.
                let mut made: Ino = 0;
                for rec in &records {
                    namespace::apply_all(conn, rec.each_op(), |op| {
                        index.add(hasher, op);
                        made = made.max(op.made_ino().unwrap_or(0));
                    })?;
                }
                namespace::remember_next_ino(conn, made + 1)?;
                namespace::set_meta(conn, "seq", &head.seq.to_string())?;
                namespace::set_meta(conn, "record", head.record.as_deref().unwrap_or(""))?;
                namespace::set_meta(
                    conn,
                    "record_hash",
                    head.record_hash.as_deref().unwrap_or(""),
                )?;
                Ok(())
            })();
            (builder.map(|b| b.join()), result)
        });
        if let Some(Ok(Ok(ix))) = built {
            index = IndexUpdate::Replace(Some(ix));
        }
        match result {
            Ok(()) => {
                // Inode numbers above what is being committed before anyone can see it.
                self.note_inodes(conn)?;
                conn.execute_batch("COMMIT")
                    .map_err(|e| namespace::db_err("refresh", e))?;
                self.invalidate_stats(index.finish(), (head.seq, head.record.clone()));
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
}

/// A new entry index of what `install` puts in the database: the snapshot's rows, then the records'
/// ops (each decoded again, on the builder's core).
fn build_fresh(
    mut index: EntryIndex,
    snap: Option<&Snapshot>,
    records: &[Record],
) -> FsResult<EntryIndex> {
    if let Some(s) = snap {
        snapshot::index_into(s, &mut index)?;
    }
    for rec in records {
        for op in rec.each_op() {
            index.apply_op(&op?);
        }
    }
    Ok(index)
}
