//! A user transaction: a private stage over the committed state as of its start. Requests are
//! validated and applied to the transaction's own overlay (so it reads its own writes) while its data
//! uploads as it goes; nothing is locked while the caller's code runs. At commit the requests go to the
//! committer like any other write and are replayed, in order, against the namespace of that moment:
//! all of them hold and the transaction is one WAL record, or none is applied (ECONFLICT).

use super::commit::CommitInfo;
use super::request::{execute, Recorder, Request, RequestLog};
use super::stager::{Stager, UploadSet, STAGED_BYTES_MAX};
use super::writes::FsWrites;
use super::*;
use crate::namespace::{Extent, Overlay};
use crate::protocol::head::now_ms;
use bytes::Bytes;

/// Part of a file as a transaction reads it.
pub enum Piece {
    Ready(Bytes),
    Remote(Extent),
}

pub struct Txn {
    mount: Arc<Mount>,
    /// Also holds the ops the requests made against the snapshot (applied as they are at commit when
    /// nothing moved since).
    view: Overlay,
    /// The committed seq the transaction's snapshot shows.
    base_seq: u64,
    requests: RequestLog,
    stager: Stager,
}

impl Txn {
    /// Opens a transaction on the committed state as it is now. Takes no lock.
    pub fn begin(mount: Arc<Mount>) -> FsResult<Txn> {
        mount.check_writable("transaction", "/")?;
        let (conn, base_seq) = mount.snapshot()?;
        // Above every inode in the snapshot, by the snapshot's own count too (the mount's counter may
        // not have caught up with a catch-up that just committed).
        let first_new = mount.next_ino().max(crate::namespace::next_ino(&conn)?);
        Ok(Txn {
            stager: Stager::new(mount.clone()),
            mount,
            view: Overlay::new(conn, first_new),
            base_seq,
            requests: RequestLog::default(),
        })
    }

    /// What the transaction reads: its snapshot with its own changes.
    pub fn view(&self) -> &Overlay {
        &self.view
    }

    /// Bytes staged and not yet in the bucket; past `STAGED_BYTES_MAX` the caller should `drain`.
    pub fn needs_drain(&self) -> bool {
        self.stager.backlog() > STAGED_BYTES_MAX
    }

    /// The uploads to wait on (`UploadSet::wait_below`) without holding the transaction.
    pub fn uploads(&self) -> UploadSet {
        self.stager.uploads()
    }

    /// A file's bytes as this transaction sees them: the pack being filled from memory, the rest to
    /// fetch (wait on `uploads()` first: it may be this transaction's own upload in flight).
    pub fn read_pieces(&self, raw: &str) -> FsResult<Vec<Piece>> {
        let node = meta::file_inode(&self.view, raw, "open")?;
        Ok(node
            .extents()?
            .into_iter()
            .map(|x| match self.stager.unsealed(&x) {
                Some(b) => Piece::Ready(b),
                None => Piece::Remote(x),
            })
            .collect())
    }

    /// `read_pieces` joined on the caller's thread, when every piece is staged or in a hot pack.
    pub fn read_in_memory(&self, raw: &str) -> FsResult<Option<Bytes>> {
        let pieces = self.read_pieces(raw)?;
        let mut out = Vec::new();
        for p in pieces {
            let bytes = match p {
                Piece::Ready(b) => b,
                Piece::Remote(x) => match self.mount.hot_extent(&x) {
                    Some(b) => b,
                    None => return Ok(None),
                },
            };
            if (out.len() + bytes.len()) as u64 > super::read::HOT_FILE_MAX {
                return Ok(None);
            }
            out.extend_from_slice(&bytes);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// Makes the transaction durable and visible as one commit, or nothing of it (ECONFLICT when a
    /// request no longer holds). Its data finishes uploading first, outside the commit queue.
    pub async fn commit(self) -> FsResult<CommitInfo> {
        self.mount.check_writable("commit", "/")?;
        if self.requests.is_empty() {
            let mount = self.mount.clone();
            self.abort();
            return Ok(CommitInfo {
                seq: mount.seq(),
                committed: false,
            });
        }
        let Txn {
            mount,
            view,
            base_seq,
            requests,
            stager,
        } = self;
        let (base, ops) = view.into_parts();
        mount.release_snapshot(base);
        let (bytes, pins, uploads) = stager.into_parts();
        // An upload that already failed fails this transaction alone, before it joins a commit.
        if let Err(e) = uploads.wait_below(u64::MAX).await {
            uploads.abort();
            return Err(e);
        }
        mount
            .write(Box::new(move |batch| {
                if let Err(e) = batch.replay(base_seq, &requests, ops) {
                    uploads.abort();
                    return Err(e);
                }
                batch.stager().bytes += bytes;
                // Applied while the uploads finish; the commit's record waits for them.
                batch.stager().join(uploads);
                // The batch holds the writer now: GC waits for this commit, which references them.
                drop(pins);
                Ok(())
            }))
            .await
    }

    /// Drops the transaction: nothing of it becomes visible. Data already uploaded is garbage.
    pub fn abort(self) {
        self.mount.release_snapshot(self.view.into_parts().0);
    }
}

impl FsWrites for Txn {
    fn mount(&self) -> &Arc<Mount> {
        &self.mount
    }
    fn stager(&mut self) -> &mut Stager {
        &mut self.stager
    }
    fn submit(&mut self, req: Request) -> FsResult<()> {
        let at = now_ms();
        self.view.begin();
        let before = self.view.log().len();
        let mut ns = Recorder {
            ns: &mut self.view,
            ops: None,
            mount: &self.mount,
        };
        match execute(&mut ns, &req, at) {
            Ok(()) => {
                self.view.keep();
                let made = self.view.log().len() - before;
                self.requests.push(&req, at, made);
                Ok(())
            }
            Err(e) => {
                self.view.undo();
                Err(e)
            }
        }
    }
}
