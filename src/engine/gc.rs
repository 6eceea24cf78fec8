//! Garbage collection, by the writer only. Reachable: every data object a file uses now, the head's
//! snapshot and the WAL records after it. Everything else under packs/, chunks/, wal/ and snapshots/
//! is marked when first seen unreachable and deleted once it has stayed so for the grace period, so a
//! reader still at an older seq keeps working meanwhile (and afterwards rebuilds from the snapshot).

use super::*;
use crate::protocol::head::{now_ms, read_head};
use crate::protocol::record::Record;
use rusqlite::params;
use std::collections::HashSet;

const COLLECTED_PREFIXES: [&str; 4] = ["packs/", "chunks/", "wal/", "snapshots/"];

#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub scanned: u64,
    pub reachable: u64,
    /// Unreachable, waiting out the grace period.
    pub pending: u64,
    pub deleted: u64,
    pub bytes_freed: u64,
    pub deleted_keys: Vec<String>,
    pub dry_run: bool,
}

impl Mount {
    pub async fn gc(self: &Arc<Self>, grace_ms: u64, dry_run: bool) -> FsResult<GcReport> {
        self.check_writable("gc", "/")?;
        let w = self.writer.clone().lock_owned().await;
        self.check_writable("gc", "/")?;
        // Only the current writer collects, and only against the head it has applied.
        let (head, _) = read_head(self.store.as_ref())
            .await?
            .ok_or_else(|| FsError::new("ENOENT", "gc", Some(crate::protocol::HEAD_KEY)))?;
        if head.epoch != w.head.epoch || head.seq != w.head.seq {
            self.fenced
                .store(head.epoch != w.head.epoch, Ordering::Release);
            return Err(
                FsError::new("EFENCED", "gc", Some(crate::protocol::HEAD_KEY))
                    .with_description("the head moved on: only the current writer may collect"),
            );
        }
        let mut reachable: HashSet<String> = namespace::all_extents(&w.conn)?
            .into_iter()
            .map(|x| x.key)
            .collect();
        if let Some(s) = &head.snapshot {
            reachable.insert(s.key.clone());
        }
        let floor = head.snapshot.as_ref().map(|s| s.seq).unwrap_or(0);
        let mut key = head.record.clone();
        let mut seq = head.seq;
        while let (Some(k), true) = (key.clone(), seq > floor) {
            let data = self
                .store
                .get_all(&k)
                .await
                .map_err(|e| FsError::from_store("gc", e))?
                .data;
            let rec = Record::decode(&k, &data)?;
            reachable.insert(k);
            key = rec.prev;
            seq = rec.seq.saturating_sub(1);
        }
        let mut report = GcReport {
            dry_run,
            reachable: reachable.len() as u64,
            ..Default::default()
        };
        let mut sizes = std::collections::HashMap::new();
        for prefix in COLLECTED_PREFIXES {
            for o in self
                .store
                .list(prefix, None, None)
                .await
                .map_err(|e| FsError::from_store("gc", e))?
                .objects
            {
                report.scanned += 1;
                if !reachable.contains(&o.key) {
                    sizes.insert(o.key, o.size);
                }
            }
        }
        let gate = self.gc_gate.write().await;
        // Chunks a streamed upload has just sent are in use though nothing references them yet; their
        // marks are dropped, so the grace period starts afresh if they turn out unused after all.
        {
            let uploading = self.uploading.lock().unwrap_or_else(|p| p.into_inner());
            sizes.retain(|k, _| !uploading.contains_key(k));
        }
        let now = now_ms();
        let e = |e: rusqlite::Error| namespace::db_err("gc", e);
        // Marks and decisions, synchronously (the connection must not be held across an await).
        let doomed = {
            let conn = &w.conn;
            let mut doomed = Vec::new();
            for (key, size) in &sizes {
                let since: Option<i64> = conn
                    .query_row(
                        "SELECT since_ms FROM gc_pending WHERE key = ?1",
                        [key],
                        |r| r.get(0),
                    )
                    .ok();
                let since = match since {
                    Some(s) => s,
                    None => {
                        if !dry_run {
                            conn.execute(
                                "INSERT INTO gc_pending(key, since_ms) VALUES (?1, ?2)",
                                params![key, now],
                            )
                            .map_err(e)?;
                        }
                        now
                    }
                };
                if now - since >= grace_ms as i64 {
                    doomed.push(key.clone());
                    report.bytes_freed += size;
                } else {
                    report.pending += 1;
                }
            }
            if !dry_run {
                // Marks for objects that are reachable again (or gone) are dropped.
                let marked: Vec<String> = conn
                    .prepare("SELECT key FROM gc_pending")
                    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                    .map_err(e)?;
                for k in marked.iter().filter(|k| !sizes.contains_key(*k)) {
                    conn.execute("DELETE FROM gc_pending WHERE key = ?1", [k])
                        .map_err(e)?;
                }
            }
            doomed
        };
        if !dry_run {
            self.store
                .delete_many(&doomed)
                .await
                .map_err(|e| FsError::from_store("gc", e))?;
            for k in &doomed {
                w.conn
                    .execute("DELETE FROM gc_pending WHERE key = ?1", [k])
                    .map_err(e)?;
            }
        }
        drop(gate);
        report.deleted = doomed.len() as u64;
        report.deleted_keys = doomed;
        drop(w);
        Ok(report)
    }
}
