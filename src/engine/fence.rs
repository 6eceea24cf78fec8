//! The writer fence. One readwrite mount at a time owns the head's epoch: a new writer takes it with a
//! head CAS that bumps the epoch, and every later publication by the old one fails its CAS, reads the
//! head, and finds itself fenced. Everything that moves or trusts the head (commit, mount, GC) asks here.

use super::*;
use crate::protocol::head::{now_ms, read_head, Head};
use crate::protocol::HEAD_KEY;
use crate::store::{PutMode, StoreError};

/// What became of publishing a new head over the one the writer last saw.
pub(crate) enum Published {
    /// The head is ours; its new ETag.
    Done(String),
    /// A newer writer holds the epoch: this mount's writes are refused from now on.
    Fenced(FsError),
    /// Unconfirmed (an earlier answer lost, or no answer yet): resynchronise, then retry.
    Retry(FsError),
}

impl Mount {
    /// Publishes `next` (this writer's epoch) if the head is still the version `expected` names.
    pub(crate) async fn publish(&self, next: &Head, expected: String) -> FsResult<Published> {
        let e = match self
            .store
            .put(HEAD_KEY, next.encode(), PutMode::Update(expected))
            .await
        {
            Ok(etag) => return Ok(Published::Done(etag)),
            Err(
                e @ (StoreError::PreconditionFailed { .. }
                | StoreError::NotFound { .. }
                | StoreError::Transient { .. }),
            ) => e,
            Err(e) => return Err(FsError::from_store("commit", e)),
        };
        // Lost, refused, or ambiguous: the head itself says whether our record made it.
        Ok(match read_head(self.store.as_ref()).await {
            Ok(Some((now, etag))) if now.record == next.record => Published::Done(etag),
            Ok(Some((now, _)))
                if now.epoch != next.epoch
                    || now.writer.as_deref() != Some(self.writer_id.as_str()) =>
            {
                Published::Fenced(self.fence_error("commit", next.epoch, now.epoch))
            }
            _ => Published::Retry(FsError::from_store("commit", e)),
        })
    }

    /// Marks this mount fenced and says so.
    fn fence_error(&self, syscall: &str, ours: u64, theirs: u64) -> FsError {
        self.fenced.store(true, Ordering::Release);
        FsError::new(Code::Fenced, syscall, Some(HEAD_KEY)).with_description(format!(
            "this writer (epoch {ours}) was fenced by a newer readwrite mount (epoch {theirs}); its writes are refused"
        ))
    }

    /// For GC, which deletes by what this writer's namespace says: the head must still be exactly the
    /// one this writer applied (EFENCED otherwise).
    pub(crate) async fn confirm_writer(&self, applied: &Head, syscall: &str) -> FsResult<Head> {
        let (head, _) = read_head(self.store.as_ref())
            .await?
            .ok_or_else(|| FsError::new(Code::NoEnt, syscall, Some(HEAD_KEY)))?;
        if head.epoch != applied.epoch {
            return Err(self.fence_error(syscall, applied.epoch, head.epoch));
        }
        if head.seq != applied.seq {
            return Err(FsError::new(Code::Fenced, syscall, Some(HEAD_KEY))
                .with_description("the head moved on: only the current writer may collect"));
        }
        Ok(head)
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
                Err(StoreError::AlreadyExists { .. })
                | Err(StoreError::PreconditionFailed { .. })
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
        Err(FsError::new(Code::Busy, "mount", Some(HEAD_KEY))
            .with_description("could not take the writer role: the head kept changing"))
    }
}
