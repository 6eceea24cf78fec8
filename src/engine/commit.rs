//! The commit pipeline: data objects, then the WAL record (create-only), then the head (replace-if).
//! Only after the head names the record does the local SQLite transaction commit, so a failure at any
//! step leaves both the bucket and the local namespace at the last published state.
//!
//! Every write reaches the bucket through one committer per mount, which takes whatever is queued
//! (single requests and whole transactions) and makes it one commit: a `CommitBatch`, the writer's SQLite
//! transaction. An item that fails validation fails alone; a failed or panicking commit fails its own
//! group and the committer goes on with the next.

use super::fence::Published;
use super::request::{execute, Recorder, Request, RequestLog};
use super::stager::Stager;
use super::writes::FsWrites;
use super::*;
use crate::namespace::{snapshot, Op};
use crate::protocol::codec::CodecError;
use crate::protocol::head::{now_ms, Head, SnapshotRef};
use crate::protocol::op_log::OpLog;
use crate::protocol::record::Record;
use crate::protocol::{hash_hex, put_immutable, record_key, snapshot_key};
use futures::FutureExt;
use tokio::sync::OwnedMutexGuard;

/// One unit of work for a commit: a request, or a whole transaction's replay.
pub(crate) type GroupWork = Box<dyn FnOnce(&mut CommitBatch) -> FsResult<()> + Send>;

struct Pending {
    work: GroupWork,
    done: tokio::sync::oneshot::Sender<FsResult<CommitInfo>>,
}

/// What waits to be committed, and whether a committer task is running.
#[derive(Default)]
pub(crate) struct CommitQueue {
    waiting: Mutex<std::collections::VecDeque<Pending>>,
    running: AtomicBool,
}

impl CommitQueue {
    fn take_all(&self) -> Vec<Pending> {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect()
    }
    fn is_empty(&self) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Lets writes queue without a committer starting, until `release` (tests: a known group).
    #[cfg(test)]
    pub(crate) fn hold(&self) {
        assert!(
            !self.running.swap(true, Ordering::AcqRel),
            "a committer is running"
        );
    }

    #[cfg(test)]
    pub(crate) fn release(&self) {
        self.running.store(false, Ordering::Release);
    }

    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    pub seq: u64,
    /// False when nothing changed, so nothing was written.
    pub committed: bool,
}

/// One commit being assembled by the committer: the writer's state (locked) inside a SQLite transaction.
pub struct CommitBatch {
    pub(crate) mount: Arc<Mount>,
    guard: OwnedMutexGuard<WriterState>,
    ops: OpLog,
    /// `ops` are not yet in SQLite: a transaction's own staged ops, the first in the batch, applied
    /// while its record is on its way (`settle` first when anything else needs the database).
    unapplied: bool,
    stager: Stager,
    /// The commit could not be confirmed: the writer must resynchronise with the bucket.
    needs_catch_up: bool,
}

impl CommitBatch {
    /// Waits for the writer role and opens the SQLite transaction.
    async fn begin(mount: Arc<Mount>) -> FsResult<CommitBatch> {
        mount.check_writable("commit", "/")?;
        let guard = mount.writer.clone().lock_owned().await;
        mount.check_writable("commit", "/")?;
        guard
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| namespace::db_err("commit", e))?;
        Ok(CommitBatch {
            stager: Stager::new(mount.clone()),
            mount,
            guard,
            ops: OpLog::default(),
            unapplied: false,
            needs_catch_up: false,
        })
    }

    /// Runs `f` so that it applies whole or not at all (a savepoint inside the transaction).
    fn atomically<T>(&mut self, f: impl FnOnce(&mut CommitBatch) -> FsResult<T>) -> FsResult<T> {
        self.settle(|_| {})?;
        // Nested savepoints may share a name: RELEASE and ROLLBACK TO act on the innermost.
        let sql = |b: &CommitBatch, stmt: &str| {
            b.guard
                .conn
                .prepare_cached(stmt)
                .and_then(|mut s| s.execute([]))
                .map(|_| ())
                .map_err(|e| namespace::db_err("commit", e))
        };
        sql(self, "SAVEPOINT request")?;
        let mark = self.ops.mark();
        let r = f(self);
        if r.is_err() {
            self.ops.rollback(mark);
            sql(self, "ROLLBACK TO request")?;
        } else {
            self.ops.release(mark);
        }
        sql(self, "RELEASE request")?;
        r
    }

    /// Applies ops the record already holds but the database does not yet (`unapplied`), each shown to
    /// `also` once applied; says whether there were any.
    fn settle(&mut self, also: impl FnMut(&Op)) -> FsResult<bool> {
        if !std::mem::take(&mut self.unapplied) {
            return Ok(false);
        }
        let ops = self.ops.iter().map(|op| op.map_err(undecodable));
        namespace::apply_all(&self.guard.conn, ops, also)?;
        Ok(true)
    }

    fn target(&mut self) -> Recorder<'_, Connection> {
        Recorder {
            ns: &mut self.guard.conn,
            ops: Some(&mut self.ops),
            mount: &self.mount,
        }
    }

    /// Applies a transaction's requests in order, or nothing of them. When nothing was committed since
    /// the transaction's snapshot (and nothing went before it in this batch), the ops it staged are
    /// exactly what a replay would produce, so they are applied as they are.
    pub(crate) fn replay(
        &mut self,
        base_seq: u64,
        requests: &RequestLog,
        staged_ops: OpLog,
    ) -> FsResult<()> {
        self.atomically(|b| {
            if b.ops.is_empty() && b.guard.head.seq == base_seq {
                // Validated against this very state: applied while the record is written.
                b.ops.append(staged_ops).map_err(undecodable)?;
                b.unapplied = true;
                return Ok(());
            }
            let mut ns = b.target();
            for item in requests.iter(&staged_ops) {
                let (req, at) = item.map_err(undecodable)?;
                execute(&mut ns, &req, at).map_err(|e| conflict(&req, e))?;
            }
            Ok(())
        })
    }

    /// Paths of the entries of directory `dir` as this batch sees it.
    pub(crate) fn children(&mut self, dir: &str) -> FsResult<Vec<String>> {
        self.settle(|_| {})?;
        let base = normalize(dir, "scandir")?;
        Ok(meta::readdir(&self.guard.conn, dir, false)?
            .into_iter()
            .map(|(name, _)| base.join(&name).to_string())
            .collect())
    }

    fn rollback(&mut self) {
        let _ = self.guard.conn.execute_batch("ROLLBACK");
        self.ops = OpLog::default();
        self.unapplied = false;
    }

    /// Makes the batch durable and visible, or leaves everything as it was and says why.
    async fn commit(mut self) -> FsResult<CommitInfo> {
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
        // 1. The WAL record, encoded while the last data is still on its way (the pack sealed last, the
        //    packs and chunks already in flight); it is written only once all of that is in the bucket.
        let w = &mut *self.guard;
        let seq = w.head.seq + 1;
        let epoch = w.head.epoch;
        let record = Record {
            v: <Record as crate::protocol::format::Format>::CURRENT,
            seq,
            epoch,
            prev: w.head.record.clone(),
            prev_hash: w.head.record_hash.clone(),
            time_ms: now_ms(),
            bytes: self.stager.bytes,
            ops: std::mem::take(&mut self.ops),
        };
        let key = record_key(seq, epoch);
        let body = record.encode();
        self.ops = record.ops;
        let hash = hash_hex(&body);
        // 2. Data, then the record: on their way while the database takes what it has not yet.
        let uploads = self.stager.seal();
        let store = mount.store.clone();
        let record_key = key.clone();
        let written = mount.runtime.spawn(async move {
            for set in &uploads {
                set.wait_below(0).await?;
            }
            put_immutable(store.as_ref(), &record_key, body).await
        });
        let mut index = mount.local.index_update(false, false, self.ops.len());
        let hasher = &mount.local.hasher;
        let applied = blocking(|| {
            // The entry index's share, hashed here so that the lookups' lock is held only to apply it:
            // beside the database's apply when the batch is one transaction not yet applied (every op in
            // `ops` is then its own), else from the log.
            let settled = self.settle(|op| index.add(hasher, op))?;
            if !settled && index.wants_ops() {
                for op in self.ops.iter() {
                    index.add(hasher, &op.map_err(undecodable)?);
                }
            }
            Ok(())
        });
        if let Err(e) = applied {
            written.abort();
            return Err(e);
        }
        // In the record and in the database: not needed past here (a big commit's ops are megabytes).
        self.ops = OpLog::default();
        written
            .await
            .map_err(|e| FsError::internal("commit", e.to_string()))??;
        self.stager.finished();
        let w = &mut *self.guard;
        // A snapshot now and then, written before the head that names it.
        let snapshot = if w.commits_since_snapshot + 1 >= mount.config.snapshot_every {
            let snap = snapshot::export(&w.conn, seq, Some(key.clone()))?;
            let skey = snapshot_key(seq);
            let body = snap.encode();
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
            base: w.head.base.clone(),
        };
        let expected = w
            .head_etag
            .clone()
            .ok_or_else(|| FsError::internal("commit", "writer has no head ETag"))?;
        let etag = match mount.publish(&head, expected).await? {
            Published::Done(etag) => etag,
            Published::Fenced(e) => return Err(e),
            Published::Retry(err) => {
                // Still our head, but not the one we expected (an earlier commit whose answer was
                // lost did land), or we cannot tell yet: catch up before the next commit.
                self.needs_catch_up = true;
                let why = format!("{}; the commit could not be confirmed, nothing of it is visible, and the writer resynchronises with the bucket: retry", err.description);
                return Err(err.with_description(why));
            }
        };
        // 4. Locally visible.
        let conn = &w.conn;
        namespace::remember_next_ino(conn, mount.next_ino())?;
        namespace::set_meta(conn, "seq", &seq.to_string())?;
        namespace::set_meta(conn, "record", &key)?;
        namespace::set_meta(conn, "record_hash", &hash)?;
        conn.execute_batch("COMMIT")
            .map_err(|e| namespace::db_err("commit", e))?;
        mount.invalidate_stats(index.finish(), (seq, Some(key.clone())));
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

impl FsWrites for CommitBatch {
    fn mount(&self) -> &Arc<Mount> {
        &self.mount
    }
    fn stager(&mut self) -> &mut Stager {
        &mut self.stager
    }
    fn submit(&mut self, req: Request) -> FsResult<()> {
        let at = now_ms();
        self.atomically(|b| execute(&mut b.target(), &req, at))
    }
}

impl Drop for CommitBatch {
    /// A batch dropped half-way (a panic) rolls back, so the next one starts clean.
    fn drop(&mut self) {
        if !self.guard.conn.is_autocommit() {
            self.rollback();
        }
    }
}

/// The transaction's own logs: one that does not decode is a bug, not a conflict.
fn undecodable(e: CodecError) -> FsError {
    FsError::internal("commit", e.to_string())
}

/// Runs `f` on this thread while the runtime's other tasks go on elsewhere (where it can hand them off).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A request of a transaction that no longer holds against the namespace it is committed to.
fn conflict(req: &Request, e: FsError) -> FsError {
    // Only a namespace check that no longer holds is a conflict; every other failure keeps its code.
    if !matches!(
        e.code,
        Code::NoEnt
            | Code::Exist
            | Code::NotDir
            | Code::IsDir
            | Code::NotEmpty
            | Code::Inval
            | Code::Loop
            | Code::Busy
    ) {
        return e;
    }
    let mut c = FsError::new(
        Code::Conflict,
        "commit",
        Some(e.path.as_deref().unwrap_or(req.path())),
    );
    c.dest = e.dest.clone();
    c.description = format!(
        "the transaction conflicts with a concurrent commit: its {} of '{}' no longer holds ({}: {}); nothing of it was applied, retry it",
        req.verb(),
        req.path(),
        e.code,
        e.description
    );
    c
}

impl Mount {
    /// Runs one unit of work (a request, or a whole transaction's replay) in a commit, grouped with
    /// whatever else is waiting; resolves once that commit is durable (or failed).
    pub async fn write(self: &Arc<Self>, work: GroupWork) -> FsResult<CommitInfo> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.commits
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Pending { work, done });
        if !self.commits.running.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            self.runtime
                .spawn(async move { me.run_group_commits().await });
        }
        rx.await.map_err(|_| {
            FsError::internal(
                "commit",
                "the committer dropped this request without an answer",
            )
        })?
    }

    async fn run_group_commits(self: Arc<Self>) {
        loop {
            let batch = self.commits.take_all();
            if batch.is_empty() {
                self.commits.running.store(false, Ordering::Release);
                // A request queued after the drain but before the flag dropped would wait forever.
                if self.commits.is_empty() || self.commits.running.swap(true, Ordering::AcqRel) {
                    return;
                }
                continue;
            }
            let (works, dones): (Vec<GroupWork>, Vec<_>) =
                batch.into_iter().map(|p| (p.work, p.done)).unzip();
            // A panic (a bug) fails this group with EIO and leaves the committer running.
            let results = match std::panic::AssertUnwindSafe(self.clone().commit_group(works))
                .catch_unwind()
                .await
            {
                Ok(results) => results,
                Err(p) => {
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    let e = FsError::internal("commit", format!("the commit panicked: {why}"));
                    vec![Err(e); dones.len()]
                }
            };
            for (done, r) in dones.into_iter().zip(results) {
                let _ = done.send(r);
            }
        }
    }

    /// One commit for a group of works: each work's own outcome, in order.
    async fn commit_group(self: Arc<Self>, works: Vec<GroupWork>) -> Vec<FsResult<CommitInfo>> {
        let mut batch = match CommitBatch::begin(self).await {
            Ok(b) => b,
            Err(e) => return vec![Err(e); works.len()],
        };
        let outcomes: Vec<FsResult<()>> = works
            .into_iter()
            .map(|work| batch.atomically(work))
            .collect();
        let result = batch.commit().await;
        outcomes
            .into_iter()
            .map(|o| o.and_then(|()| result.clone()))
            .collect()
    }
}
