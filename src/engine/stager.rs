//! Data on its way to the bucket for one commit: small files go into a pack that uploads as soon as it
//! seals, large ones into content-addressed chunks that upload as they fill. Memory holds the pack being
//! filled and the uploads in flight; `backlog` lets a caller wait before handing over more.

use super::request::Content;
use super::upload::{Staged, UploadPins};
use super::*;
use crate::namespace::Extent;
use crate::protocol::{chunk_extent, hash_hex, pack_key};
use bytes::Bytes;
use tokio::sync::Notify;

/// Bytes a transaction may have queued or in flight before its writes wait (`Stager::backlog`).
pub const STAGED_BYTES_MAX: u64 = 4 * CHUNK_SIZE as u64;

struct PackBuilder {
    key: String,
    buf: Vec<u8>,
}

#[derive(Default)]
struct UploadState {
    pending: usize,
    bytes: u64,
    failed: Option<FsError>,
    tasks: Vec<tokio::task::AbortHandle>,
}

/// Uploads started for one commit, awaitable by whoever holds a clone (without the stager's lock).
#[derive(Clone, Default)]
pub struct UploadSet {
    state: Arc<Mutex<UploadState>>,
    changed: Arc<Notify>,
}

impl UploadSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, UploadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn(
        &self,
        mount: &Arc<Mount>,
        key: String,
        body: Bytes,
        cache: impl FnOnce(&Arc<Mount>, &str, &Bytes) + Send + 'static,
    ) {
        let len = body.len() as u64;
        {
            let mut s = self.lock();
            s.pending += 1;
            s.bytes += len;
        }
        let (set, m) = (self.clone(), mount.clone());
        let task = mount.runtime.spawn(async move {
            let result = async {
                let _permit = m.upload_permit().await;
                // Not while a GC is deleting: a chunk it judged unused may be this very content.
                let _gate = m.pins.gc_gate.read().await;
                m.store
                    .put(&key, body.clone(), crate::store::PutMode::Overwrite)
                    .await
                    .map_err(|e| FsError::from_store("write", e))
            }
            .await;
            if result.is_ok() {
                cache(&m, &key, &body);
            }
            let mut s = set.lock();
            s.pending -= 1;
            s.bytes -= len;
            if let Err(e) = result {
                s.failed.get_or_insert(e);
            }
            drop(s);
            set.changed.notify_waiters();
        });
        self.lock().tasks.push(task.abort_handle());
    }

    /// Bytes queued or in flight.
    pub fn backlog(&self) -> u64 {
        self.lock().bytes
    }

    /// Waits until at most `bytes` are queued or in flight; the first failed upload's error, if any.
    pub async fn wait_below(&self, bytes: u64) -> FsResult<()> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let s = self.lock();
                if let Some(e) = &s.failed {
                    return Err(e.clone());
                }
                if s.bytes <= bytes && (bytes > 0 || s.pending == 0) {
                    return Ok(());
                }
            }
            changed.await;
        }
    }

    /// Stops the uploads; anyone still waiting hears that they were cancelled.
    pub fn abort(&self) {
        let mut s = self.lock();
        for t in s.tasks.drain(..) {
            t.abort();
        }
        s.failed.get_or_insert_with(|| {
            FsError::new(Code::Canceled, "write", None)
                .with_description("the transaction finished before its uploads did")
        });
        s.pending = 0;
        s.bytes = 0;
        drop(s);
        self.changed.notify_waiters();
    }
}

pub struct Stager {
    mount: Arc<Mount>,
    pack: Option<PackBuilder>,
    uploads: UploadSet,
    /// Keeps GC away from what this commit uploads (or reuses) until the commit holds the writer.
    pins: UploadPins,
    /// Chunk keys staged here, so one commit uploads a repeated chunk once.
    chunks: std::collections::HashSet<String>,
    /// Bytes this commit sends or references anew (reported in the WAL record).
    pub bytes: u64,
    /// Uploads of transactions in this commit, still in flight: its record waits for them too.
    joined: Vec<UploadSet>,
    done: bool,
}

impl Stager {
    pub fn new(mount: Arc<Mount>) -> Stager {
        Stager {
            pins: UploadPins::new(mount.clone()),
            mount,
            pack: None,
            uploads: UploadSet::default(),
            chunks: Default::default(),
            bytes: 0,
            joined: Vec::new(),
            done: false,
        }
    }

    /// Stages bytes for upload and says where they will live.
    pub fn place(&mut self, data: &[u8]) -> Content {
        self.bytes += data.len() as u64;
        let extents = if data.is_empty() {
            Vec::new()
        } else if data.len() < SMALL_FILE_MAX {
            vec![self.in_pack(data)]
        } else {
            data.chunks(CHUNK_SIZE)
                .map(|c| self.chunk(Bytes::copy_from_slice(c)))
                .collect()
        };
        Content {
            extents,
            size: data.len() as u64,
        }
    }

    /// Takes over what a streamed upload staged (its pins included).
    pub fn adopt(&mut self, staged: Staged) -> Content {
        match staged {
            Staged::Small(data) => self.place(&data),
            Staged::Extents {
                extents,
                size,
                bytes,
                pins,
            } => {
                self.bytes += bytes;
                self.pins.absorb(pins);
                Content { extents, size }
            }
        }
    }

    fn in_pack(&mut self, data: &[u8]) -> Extent {
        if self
            .pack
            .as_ref()
            .is_some_and(|p| p.buf.len() + data.len() > PACK_MAX)
        {
            self.seal_pack();
        }
        let epoch = self.mount.epoch();
        let pack = self.pack.get_or_insert_with(|| PackBuilder {
            key: pack_key(epoch),
            buf: Vec::with_capacity(PACK_MAX),
        });
        let off = pack.buf.len() as u64;
        pack.buf.extend_from_slice(data);
        Extent::new(pack.key.clone(), off, data.len() as u64, hash_hex(data))
    }

    /// Closes the pack being filled and starts its upload (an aborted commit leaves an orphan for GC).
    fn seal_pack(&mut self) {
        let Some(p) = self.pack.take() else { return };
        self.pins.pin(&p.key);
        self.uploads
            .spawn(&self.mount, p.key, Bytes::from(p.buf), |m, key, body| {
                let id = super::read::unit_id(key, None);
                m.cache_later(id, body.clone(), None, super::read::WhenBehind::Skip);
                // Files just written are the likeliest to be read next: keep their pack at hand.
                m.reads.hot.put(key, body.clone());
            });
    }

    /// A content-addressed chunk; uploaded in the background unless the bucket already has it.
    fn chunk(&mut self, chunk: Bytes) -> Extent {
        let extent = chunk_extent(&chunk);
        let key = extent.key.clone();
        if !self.chunks.insert(key.clone()) {
            return extent;
        }
        // Pinned while GC is not choosing (or it would not see the pin); if it is, upload regardless.
        let in_use = match self.mount.pins.gc_gate.try_read() {
            Ok(_gate) => {
                self.pins.pin(&key);
                self.mount
                    .with_read(|c| Ok(namespace::has_object(c, &key)))
                    .unwrap_or(false)
            }
            Err(_) => {
                self.pins.pin(&key);
                false
            }
        };
        if !in_use {
            let blocks = extent.blocks.clone();
            self.uploads
                .spawn(&self.mount, key, chunk, move |m, key, body| {
                    m.cache_chunk(key, body, &blocks)
                });
        }
        extent
    }

    /// Bytes of an extent still in the pack being filled (not yet anywhere else).
    pub fn unsealed(&self, x: &Extent) -> Option<Bytes> {
        let p = self.pack.as_ref().filter(|p| p.key == x.key)?;
        let (a, b) = (x.off as usize, (x.off + x.len) as usize);
        Some(Bytes::copy_from_slice(&p.buf[a..b]))
    }

    /// Bytes of this commit queued or in flight.
    pub fn backlog(&self) -> u64 {
        self.uploads.backlog()
    }

    pub fn uploads(&self) -> UploadSet {
        self.uploads.clone()
    }

    /// Seals the last pack: what this commit waits for before its record is every upload here, these
    /// and the joined ones (then `finished`).
    pub fn seal(&mut self) -> Vec<UploadSet> {
        self.seal_pack();
        std::iter::once(self.uploads.clone())
            .chain(self.joined.iter().cloned())
            .collect()
    }

    /// Every upload is in the bucket: dropping the stager no longer stops anything.
    pub fn finished(&mut self) {
        self.done = true;
    }

    /// Makes this commit wait also for a transaction's uploads still in flight (see `into_parts`).
    pub fn join(&mut self, uploads: UploadSet) {
        self.joined.push(uploads);
    }

    /// A transaction's data as its commit takes it over: the last pack sealed and on its way, the byte
    /// count, the pins (held until applied), and the uploads, which the commit waits for before its
    /// record (`join`), so they go on while it applies the transaction's ops.
    pub fn into_parts(mut self) -> (u64, UploadPins, UploadSet) {
        self.seal_pack();
        self.done = true;
        let pins = std::mem::replace(&mut self.pins, UploadPins::new(self.mount.clone()));
        (self.bytes, pins, self.uploads.clone())
    }
}

impl Drop for Stager {
    /// A commit abandoned before its data was all up stops its uploads (what landed is garbage).
    fn drop(&mut self) {
        if !self.done {
            self.uploads.abort();
            for set in &self.joined {
                set.abort();
            }
        }
    }
}
