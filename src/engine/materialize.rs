//! `materialize`: a real local, read-only copy of a file under cacheRoot, written window by window (never
//! whole in memory) and kept as a pinned cache entry until released; after release it is evicted like
//! any other block when space is needed. Identical contents share one copy.

use super::*;
use crate::namespace::Extent;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

/// Bytes read per step while writing a materialized copy.
const WINDOW: u64 = 4 << 20;

#[derive(Debug, Clone)]
pub struct Materialized {
    /// Release handle.
    pub id: String,
    pub path: PathBuf,
    pub size: u64,
}

impl Mount {
    pub async fn materialize(
        self: &Arc<Self>,
        extents: Vec<Extent>,
        size: u64,
    ) -> FsResult<Materialized> {
        let digest = crate::protocol::hash_hex(
            &serde_json::to_vec(&extents)
                .map_err(|e| FsError::internal("materialize", e.to_string()))?,
        );
        let id = format!("materialized:{digest}");
        self.cache.pin(&id);
        match self.write_materialized(&id, &extents, size).await {
            Ok(path) => Ok(Materialized { id, path, size }),
            Err(e) => {
                self.cache.unpin(&id);
                Err(e)
            }
        }
    }

    async fn write_materialized(
        self: &Arc<Self>,
        id: &str,
        extents: &[Extent],
        size: u64,
    ) -> FsResult<PathBuf> {
        if let Some(path) = self.cache.path_of(id) {
            return Ok(path);
        }
        let io = |e: std::io::Error| {
            FsError::new(Code::Io, "materialize", None).with_description(e.to_string())
        };
        let (tmp, mut file) = self.cache.temp_file().map_err(io)?;
        let mut hasher = blake3::Hasher::new();
        let mut offset = 0;
        let written = async {
            while offset < size {
                let data = self
                    .read_range(extents.to_vec(), size, offset, WINDOW)
                    .await?;
                hasher.update(&data);
                file.write_all(&data).map_err(io)?;
                offset += data.len() as u64;
                if data.is_empty() {
                    return Err(FsError::internal("materialize", "short read"));
                }
            }
            file.sync_data().map_err(io)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o400)).map_err(io)
        }
        .await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(self
            .cache
            .adopt(id, &tmp, &hasher.finalize().to_hex()[..32], size))
    }

    /// Unpins a materialized copy; it stays until the cache needs the room.
    pub fn release(&self, id: &str) {
        self.cache.unpin(id);
    }
}
