//! Streamed writes: bytes arrive in pieces (a Web stream, a local file for `openWrite`), are cut into
//! content-addressed chunks and uploaded as they fill, with a bounded number in flight, so memory stays
//! bounded whatever the file's size. A file that turns out small is handed back whole to go in a pack.

use super::*;
use crate::namespace::Extent;
use crate::protocol::block_hashes::BlockHash;
use crate::protocol::chunk_extent;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

/// Uploads' shared state: permits bounding them, the data objects sent but not yet referenced by a
/// commit (GC must spare them), and the gate GC holds while it chooses and deletes.
pub(crate) struct UploadState {
    pub permits: Arc<tokio::sync::Semaphore>,
    pub pinned: Mutex<std::collections::HashMap<String, usize>>,
    pub gc_gate: tokio::sync::RwLock<()>,
}

impl UploadState {
    pub fn new() -> Self {
        UploadState {
            permits: Arc::new(tokio::sync::Semaphore::new(UPLOAD_CONCURRENCY)),
            pinned: Mutex::new(Default::default()),
            gc_gate: tokio::sync::RwLock::new(()),
        }
    }
}

/// What a finished upload leaves for the commit.
#[derive(Debug)]
pub enum Staged {
    /// Small enough for a pack: the bytes themselves.
    Small(Vec<u8>),
    /// Chunks already in the bucket. `bytes` counts what this upload actually sent. `pins` keeps GC
    /// away from the chunks until the commit that references them holds the writer lock.
    Extents {
        extents: Vec<Extent>,
        size: u64,
        bytes: u64,
        pins: UploadPins,
    },
}

/// Chunks an upload has sent (or reuses) and no commit references yet: GC must not collect them,
/// however long ago the same content was last in use.
pub struct UploadPins {
    mount: Arc<Mount>,
    keys: Vec<String>,
}

impl UploadPins {
    pub(crate) fn new(mount: Arc<Mount>) -> Self {
        UploadPins {
            mount,
            keys: Vec::new(),
        }
    }

    /// Takes over another set's pins (a streamed upload joining a commit).
    pub(crate) fn absorb(&mut self, mut other: UploadPins) {
        self.keys.append(&mut other.keys);
    }

    pub(crate) fn pin(&mut self, key: &str) {
        *self
            .mount
            .pins
            .pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_insert(0) += 1;
        self.keys.push(key.to_string());
    }
}

impl std::fmt::Debug for UploadPins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadPins")
            .field("keys", &self.keys)
            .finish()
    }
}

impl Drop for UploadPins {
    fn drop(&mut self) {
        let mut map = self
            .mount
            .pins
            .pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            if let Some(n) = map.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(k);
                }
            }
        }
    }
}

pub struct Upload {
    mount: Arc<Mount>,
    pending: BytesMut,
    extents: Vec<Extent>,
    size: u64,
    sent: u64,
    tasks: JoinSet<FsResult<()>>,
    pins: UploadPins,
}

impl Mount {
    /// Uploads one chunk (unless the namespace already has it) and caches it; `permit` bounds transfers.
    pub(crate) async fn upload_chunk(
        self: &Arc<Self>,
        key: &str,
        chunk: Bytes,
        blocks: &[BlockHash],
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> FsResult<()> {
        self.store
            .put(key, chunk.clone(), crate::store::PutMode::Overwrite)
            .await
            .map_err(|e| FsError::from_store("write", e))?;
        drop(permit);
        self.cache_chunk(key, &chunk, blocks);
        Ok(())
    }

    /// Commits bytes uploaded beforehand (a streamed upload, a local file) at `path`.
    pub async fn commit_staged(
        self: &Arc<Self>,
        path: String,
        staged: Staged,
        opts: WriteOptions,
    ) -> FsResult<CommitInfo> {
        self.write(Box::new(move |batch| {
            batch.write_staged(&path, staged, opts)
        }))
        .await
    }

    /// Streams a local file into the bucket, one chunk at a time; its bytes are never all in memory.
    pub async fn upload_local_file(self: &Arc<Self>, path: &std::path::Path) -> FsResult<Staged> {
        let mut file = tokio::fs::File::open(path).await.map_err(|e| {
            FsError::new(Code::Io, "open", Some(&path.to_string_lossy()))
                .with_description(e.to_string())
        })?;
        let mut up = Upload::new(self.clone())?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await.map_err(|e| {
                FsError::new(Code::Io, "read", Some(&path.to_string_lossy()))
                    .with_description(e.to_string())
            })?;
            if n == 0 {
                break;
            }
            up.push(&buf[..n]).await?;
        }
        up.finish().await
    }
}

impl Upload {
    pub fn new(mount: Arc<Mount>) -> FsResult<Self> {
        mount.check_writable("open", "/")?;
        Ok(Upload {
            pins: UploadPins::new(mount.clone()),
            mount,
            pending: BytesMut::new(),
            extents: Vec::new(),
            size: 0,
            sent: 0,
            tasks: JoinSet::new(),
        })
    }

    /// Takes more bytes; waits while too many chunks are in flight (that is the backpressure).
    pub async fn push(&mut self, data: &[u8]) -> FsResult<()> {
        self.size += data.len() as u64;
        self.pending.extend_from_slice(data);
        while self.pending.len() >= CHUNK_SIZE {
            let chunk = self.pending.split_to(CHUNK_SIZE).freeze();
            self.send(chunk).await?;
        }
        Ok(())
    }

    async fn send(&mut self, chunk: Bytes) -> FsResult<()> {
        // Reap finished uploads so errors surface early and the set stays small.
        while let Some(done) = self.tasks.try_join_next() {
            done.map_err(|e| FsError::internal("write", e.to_string()))??;
        }
        let extent = chunk_extent(&chunk);
        let key = extent.key.clone();
        {
            // Not while a GC is deciding what to delete: pinned before, or after its deletes.
            let _gate = self.mount.pins.gc_gate.read().await;
            self.pins.pin(&key);
        }
        let blocks = extent.blocks.clone();
        self.extents.push(extent);
        let already = self
            .mount
            .with_read(|c| Ok(namespace::has_object(c, &key)))?;
        if already
            || self.extents[..self.extents.len() - 1]
                .iter()
                .any(|x| x.key == key)
        {
            return Ok(());
        }
        self.sent += chunk.len() as u64;
        let permit = self.mount.upload_permit().await;
        let mount = self.mount.clone();
        self.tasks.spawn_on(
            async move { mount.upload_chunk(&key, chunk, &blocks, permit).await },
            &self.mount.runtime,
        );
        Ok(())
    }

    /// Uploads the tail and waits for every chunk.
    pub async fn finish(mut self) -> FsResult<Staged> {
        if self.extents.is_empty() && self.pending.len() < SMALL_FILE_MAX {
            return Ok(Staged::Small(self.pending.to_vec()));
        }
        if !self.pending.is_empty() {
            let tail = std::mem::take(&mut self.pending).freeze();
            self.send(tail).await?;
        }
        while let Some(done) = self.tasks.join_next().await {
            done.map_err(|e| FsError::internal("write", e.to_string()))??;
        }
        Ok(Staged::Extents {
            extents: self.extents,
            size: self.size,
            bytes: self.sent,
            pins: self.pins,
        })
    }
}
