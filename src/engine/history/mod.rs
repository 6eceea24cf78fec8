//! Workspace history: every commit is addressable by its seq, checkpoints name commits, and the tree at
//! any retained commit is rebuilt from the newest snapshot at or before it plus the WAL records after
//! that snapshot (one LIST of `snapshots/`, one of `wal/`, then parallel GETs; data objects are never
//! listed or read). On top: time-travel mounts (here), checkpoints and fork refs (refs.rs), restore as
//! one new commit (restore.rs), and diff between two commits (../diff.rs).

mod refs;
mod restore;

pub(crate) use refs::list_refs;

use super::*;
use crate::namespace::snapshot::{self, Snapshot};
use crate::protocol::checkpoint::{checkpoint_key, valid_checkpoint_name, Checkpoint};
use crate::protocol::hash_hex;
use crate::protocol::head::read_head;
use crate::protocol::record::Record;
use crate::store::{ObjectStore, StoreError};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// GETs in flight while fetching history.
const HISTORY_FETCH_CONCURRENCY: usize = 16;

/// A commit, as callers name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Seq(u64),
    Checkpoint(String),
}

/// One commit of the chain: its seq and WAL record (none for the empty workspace at seq 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub seq: u64,
    pub record: Option<String>,
}

/// The seq in a key `<prefix><seq:020>-...`.
pub(crate) fn key_seq(key: &str, prefix: &str) -> Option<u64> {
    key.strip_prefix(prefix)?.get(..20)?.parse().ok()
}

/// The records from `snap` (or the empty workspace) up to `at`, each the one whose predecessor is the
/// record before it.
fn follow_chain(
    snap: Option<&Snapshot>,
    by_seq: &HashMap<u64, Vec<(String, String, Record)>>,
    at: &Commit,
) -> FsResult<Vec<(String, Record)>> {
    let base = snap.map(|s| s.seq).unwrap_or(0);
    let mut prev = snap.and_then(|s| s.record.clone());
    let mut prev_hash: Option<&str> = None;
    let mut records = Vec::new();
    for seq in base + 1..=at.seq {
        let pick = by_seq.get(&seq).and_then(|cands| {
            cands.iter().find(|(_, _, r)| {
                r.prev == prev && prev_hash.is_none_or(|h| r.prev_hash.as_deref() == Some(h))
            })
        });
        let Some((key, hash, rec)) = pick else {
            return Err(FsError::new(Code::NoEnt, "history", None).with_description(format!(
                "commit {} is no longer retained (no WAL record at seq {seq} continues the chain); checkpoints and gc({{ keepHistory }}) keep history",
                at.seq
            )));
        };
        prev = Some(key.clone());
        prev_hash = Some(hash);
        records.push((key.clone(), rec.clone()));
    }
    if at.record.is_some() && prev != at.record {
        return Err(FsError::new(Code::Corrupt, "history", at.record.as_deref())
            .with_description("the WAL chain does not lead to the record this commit names"));
    }
    Ok(records)
}

/// What rebuilds one commit: the newest snapshot at or before it (with its key) and the records
/// after that snapshot up to the commit (with their keys), oldest first.
pub(crate) struct History {
    pub snapshot: Option<(Snapshot, String)>,
    pub records: Vec<(String, Record)>,
}

impl History {
    /// Every key it takes to rebuild the commit, and every data object its files may use (`ECORRUPT`
    /// when a record's ops do not decode: nothing is judged unused from a record not read whole).
    pub fn keys(&self) -> FsResult<Vec<String>> {
        let mut keys = Vec::new();
        if let Some((s, k)) = &self.snapshot {
            keys.push(k.clone());
            keys.extend(s.data_keys()?);
        }
        for (k, r) in &self.records {
            keys.push(k.clone());
            for op in r.each_op() {
                keys.extend(op?.extents().iter().map(|x| x.key.clone()));
            }
        }
        Ok(keys)
    }
}

/// A namespace in memory holding the tree of one commit.
pub(crate) fn tree_db(h: &History) -> FsResult<Connection> {
    let conn = namespace::open(std::path::Path::new(":memory:"))?;
    if let Some((s, _)) = &h.snapshot {
        snapshot::import(&conn, s)?;
    }
    for (_, rec) in &h.records {
        namespace::apply_all(&conn, rec.each_op(), |_| {})?;
    }
    Ok(conn)
}

/// The commit `at` names.
pub async fn resolve_at(store: &dyn ObjectStore, at: &At) -> FsResult<Commit> {
    match at {
        At::Checkpoint(name) => {
            let key = checkpoint_key(name);
            let missing = || {
                FsError::new(Code::NoEnt, "checkpoint", Some(name))
                    .with_description("no such checkpoint")
            };
            if !valid_checkpoint_name(name) {
                return Err(missing());
            }
            let r = match store.get_all(&key).await {
                Ok(r) => r,
                Err(StoreError::NotFound { .. }) => return Err(missing()),
                Err(e) => return Err(FsError::from_store("checkpoint", e)),
            };
            let cp = Checkpoint::decode(&key, &r.data)?;
            Ok(Commit {
                seq: cp.seq,
                record: cp.record,
            })
        }
        At::Seq(seq) => {
            let head = read_head(store).await?.map(|(h, _)| h);
            let head_seq = head.as_ref().map(|h| h.seq).unwrap_or(0);
            if *seq > head_seq {
                return Err(FsError::invalid(
                    "history",
                    None,
                    format!("commit {seq} is beyond the head (seq {head_seq})"),
                ));
            }
            Ok(Commit {
                seq: *seq,
                record: head.filter(|h| h.seq == *seq).and_then(|h| h.record),
            })
        }
    }
}

/// The newest snapshot at or before `seq` and the records after it up to `seq`, oldest first,
/// following the chain (so a fenced writer's orphan records are never taken for history).
pub(crate) async fn history_to(store: &dyn ObjectStore, at: &Commit) -> FsResult<History> {
    history_in(store, &Listing::load(store).await?, at).await
}

/// The keys history is rebuilt from: every snapshot (with its seq) and every WAL record. One listing
/// serves any number of commits (GC rebuilds one per checkpoint).
pub(crate) struct Listing {
    pub snapshots: Vec<(u64, String)>,
    pub wal: Vec<String>,
}

impl Listing {
    pub async fn load(store: &dyn ObjectStore) -> FsResult<Listing> {
        let list = |prefix: &'static str| async move {
            store
                .list(prefix, None, None)
                .await
                .map_err(|e| FsError::from_store("history", e))
                .map(|l| l.objects.into_iter().map(|o| o.key).collect::<Vec<_>>())
        };
        let mut snapshots: Vec<(u64, String)> = list("snapshots/")
            .await?
            .into_iter()
            .filter_map(|k| key_seq(&k, "snapshots/").map(|s| (s, k)))
            .collect();
        snapshots.sort();
        Ok(Listing {
            snapshots,
            wal: list("wal/").await?,
        })
    }
}

/// `history_to`, with the keys already listed.
pub(crate) async fn history_in(
    store: &dyn ObjectStore,
    listing: &Listing,
    at: &Commit,
) -> FsResult<History> {
    let snaps: Vec<(u64, String)> = listing
        .snapshots
        .iter()
        .filter(|(s, _)| *s <= at.seq)
        .cloned()
        .collect();
    let oldest = snaps.first().map(|(s, _)| *s).unwrap_or(0);
    let wal: Vec<String> = listing
        .wal
        .iter()
        .filter(|k| key_seq(k, "wal/").is_some_and(|s| s > oldest && s <= at.seq))
        .cloned()
        .collect();
    let fetched: Vec<(String, String, Record)> = futures::stream::iter(wal)
        .map(|k| async move {
            let data = store
                .get_all(&k)
                .await
                .map_err(|e| FsError::from_store("history", e))?
                .data;
            let rec = Record::decode(&k, &data)?;
            Ok::<_, FsError>((k, hash_hex(&data), rec))
        })
        .buffer_unordered(HISTORY_FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    let mut by_seq: HashMap<u64, Vec<(String, String, Record)>> = HashMap::new();
    for f in fetched {
        by_seq.entry(f.2.seq).or_default().push(f);
    }
    // The newest snapshot the chain leads from (a fenced writer's orphan snapshot does not).
    let mut last_err = None;
    let mut bases: Vec<Option<(u64, String)>> = snaps.into_iter().rev().map(Some).collect();
    bases.push(None);
    for base in bases.into_iter().take(4) {
        let snapshot = match base {
            Some((_, key)) => Some((read_snapshot(store, &key).await?, key)),
            None => None,
        };
        match follow_chain(snapshot.as_ref().map(|(s, _)| s), &by_seq, at) {
            Ok(records) => return Ok(History { snapshot, records }),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.expect("at least the genesis base was tried"))
}

pub(crate) async fn read_snapshot(store: &dyn ObjectStore, key: &str) -> FsResult<Snapshot> {
    let r = store
        .get_all(key)
        .await
        .map_err(|e| FsError::from_store("history", e))?;
    Snapshot::decode(key, &r.data)
}

impl Mount {
    /// Opens a time-travel mount: the local namespace becomes the tree at `at` (readonly, fixed).
    pub(crate) async fn open_at(&self, w: &mut WriterState, at: &At) -> FsResult<()> {
        let commit = resolve_at(self.store.as_ref(), at).await?;
        let h = history_to(self.store.as_ref(), &commit).await?;
        let last = h.records.last().map(|(_, r)| r);
        let head = crate::protocol::head::Head {
            v: 1,
            epoch: last.map(|r| r.epoch).unwrap_or(0),
            seq: commit.seq,
            record: h
                .records
                .last()
                .map(|(k, _)| k.clone())
                .or_else(|| h.snapshot.as_ref().and_then(|(s, _)| s.record.clone())),
            record_hash: None,
            snapshot: None,
            writer: None,
            time_ms: last.map(|r| r.time_ms).unwrap_or(0),
            base: None,
        };
        let History { snapshot, records } = h;
        let records = records.into_iter().map(|(_, r)| r).collect();
        self.install(w, records, Some(snapshot.map(|(s, _)| s)), head, None)
    }

    /// The tree at `at`, in memory.
    pub(super) async fn tree_at(&self, at: &At) -> FsResult<(Commit, Connection)> {
        let commit = resolve_at(self.store.as_ref(), at).await?;
        let conn = tree_db(&history_to(self.store.as_ref(), &commit).await?)?;
        Ok((commit, conn))
    }
}
