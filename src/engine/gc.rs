//! Garbage collection, by the writer only. Reachable: every data object a file uses now, the head's
//! snapshot and the WAL records after it. Everything else under packs/, chunks/, wal/ and snapshots/
//! is marked when first seen unreachable and deleted once it has stayed so for the grace period, so a
//! reader still at an older seq keeps working meanwhile (and afterwards rebuilds from the snapshot).

use super::history;
use super::*;
use crate::protocol::checkpoint::FORK_PREFIX;
use crate::protocol::head::now_ms;
use crate::protocol::record::Record;
use rusqlite::params;
use std::collections::HashSet;

const COLLECTED_PREFIXES: [&str; 4] = ["packs/", "chunks/", "wal/", "snapshots/"];

/// History GC keeps besides the head and every checkpoint: the last `commits` commits, and those made
/// in the last `ms` milliseconds. The default keeps neither (checkpoints are how history is kept).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepHistory {
    pub commits: u64,
    pub ms: u64,
}

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
    pub async fn gc(
        self: &Arc<Self>,
        grace_ms: u64,
        dry_run: bool,
        keep: KeepHistory,
    ) -> FsResult<GcReport> {
        self.check_writable("gc", "/")?;
        let w = self.writer.clone().lock_owned().await;
        self.check_writable("gc", "/")?;
        // Only the current writer collects, and only against the head it has applied.
        let applied = w.head.clone();
        let head = self.confirm_writer(&applied, "gc").await?;
        let mut reachable: HashSet<String> = namespace::all_extents(&w.conn)?
            .into_iter()
            .map(|x| x.key)
            .collect();
        // Retention: every commit from `floor` to the head stays readable (time-travel, diff,
        // restore), which takes the newest snapshot at or before it and every record after that.
        let mut floor = head.seq.saturating_sub(keep.commits);
        let listing = history::Listing::load(self.store.as_ref()).await?;
        let snapshots = &listing.snapshots;
        let base_for = |floor: u64| {
            snapshots
                .iter()
                .filter(|(s, _)| *s <= floor)
                .max()
                .cloned()
                // The head's snapshot always serves the head itself.
                .or_else(|| {
                    head.snapshot
                        .as_ref()
                        .filter(|s| s.seq <= floor)
                        .map(|s| (s.seq, s.key.clone()))
                })
        };
        let window_start = (keep.ms > 0).then(|| now_ms() - keep.ms as i64);
        let mut key = head.record.clone();
        let mut seq = head.seq;
        let mut history_extents = Vec::new();
        // Walks back from the head while the records are in the window or above the base.
        let mut in_window = window_start.is_some();
        while let Some(k) = key.clone() {
            if !in_window && seq <= base_for(floor).map(|(s, _)| s).unwrap_or(0) {
                break;
            }
            let data = match self.store.get_all(&k).await {
                Ok(r) => r.data,
                // Below the head's snapshot the chain may already be collected: the window ends there.
                Err(crate::store::StoreError::NotFound { .. })
                    if head.snapshot.as_ref().is_some_and(|s| seq <= s.seq) =>
                {
                    break
                }
                Err(e) => return Err(FsError::from_store("gc", e)),
            };
            let rec = Record::decode(&k, &data)?;
            in_window = window_start.is_some_and(|t| rec.time_ms >= t);
            if in_window {
                floor = floor.min(rec.seq);
            }
            for op in rec.each_op() {
                history_extents.extend(op?.extents().iter().map(|x| x.key.clone()));
            }
            reachable.insert(k);
            key = rec.prev;
            seq = rec.seq.saturating_sub(1);
        }
        let base = base_for(floor);
        let base_seq = base.as_ref().map(|(s, _)| *s).unwrap_or(0);
        reachable.extend(
            snapshots
                .iter()
                .filter(|(s, _)| *s >= base_seq)
                .map(|(_, k)| k.clone()),
        );
        if let Some(s) = &head.snapshot {
            reachable.insert(s.key.clone());
        }
        // A checkpoint older than the window keeps just what rebuilds it.
        // So does a fork's starting point (registered before the fork exists): the fork shares its data.
        let mut pins = self.checkpoints().await?;
        pins.extend(history::list_refs(self.store.as_ref(), FORK_PREFIX).await?);
        for c in pins.into_iter().filter(|c| c.seq < floor) {
            let commit = history::Commit {
                seq: c.seq,
                record: c.record,
            };
            match history::history_in(self.store.as_ref(), &listing, &commit).await {
                Ok(h) => reachable.extend(h.keys()?),
                // Already unrebuildable (collected before checkpoints were kept): nothing to keep.
                Err(e) if e.code == "ENOENT" => {}
                Err(e) => return Err(e),
            }
        }
        if floor < head.seq {
            // Older states need what their files used: the base snapshot's, and every record's since.
            reachable.extend(history_extents);
            if let Some((_, k)) = &base {
                let snap = history::read_snapshot(self.store.as_ref(), k).await?;
                reachable.extend(snap.data_keys()?);
            }
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
        let gate = self.pins.gc_gate.write().await;
        // Chunks a streamed upload has just sent are in use though nothing references them yet; their
        // marks are dropped, so the grace period starts afresh if they turn out unused after all.
        {
            let uploading = self.pins.pinned.lock().unwrap_or_else(|p| p.into_inner());
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
