//! Looking inside a workspace without changing it: the commit history (`log`) and a full check that
//! every object the namespace references exists and matches its hashes (`fsck`).

use super::*;
use crate::namespace::Op;
use crate::protocol::head::read_head;
use crate::protocol::record::Record;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: u64,
    pub epoch: u64,
    pub time_ms: i64,
    pub key: String,
    /// Entries created, changed or removed.
    pub files_changed: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    pub objects: u64,
    pub extents: u64,
    pub bytes_checked: u64,
    pub missing: Vec<String>,
    /// Extents whose bytes do not match their hash: "key@off+len".
    pub corrupt: Vec<String>,
    pub ok: bool,
}

impl Mount {
    /// The newest `limit` commits, newest first (one GET per record).
    pub async fn log(&self, limit: usize) -> FsResult<Vec<LogEntry>> {
        self.check_open("log")?;
        let Some((head, _)) = read_head(self.store.as_ref()).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut key = head.record;
        while let (Some(k), true) = (key.clone(), out.len() < limit) {
            let data = match self.store.get_all(&k).await {
                Ok(r) => r.data,
                // Older records may have been collected; the history ends there.
                Err(StoreError::NotFound { .. }) => break,
                Err(e) => return Err(FsError::from_store("log", e)),
            };
            let rec = Record::decode(&k, &data)?;
            let mut files_changed = 0;
            for op in rec.each_op() {
                files_changed += u64::from(!matches!(op?, Op::Mkdir { .. }));
            }
            out.push(LogEntry {
                seq: rec.seq,
                epoch: rec.epoch,
                time_ms: rec.time_ms,
                key: k,
                files_changed,
                bytes: rec.bytes,
            });
            key = rec.prev;
        }
        Ok(out)
    }

    /// Fetches every referenced object and checks every extent against its hash.
    pub async fn fsck(self: &Arc<Self>) -> FsResult<FsckReport> {
        self.check_open("fsck")?;
        let extents = self.with_read(namespace::all_extents)?;
        let mut by_key: std::collections::BTreeMap<String, Vec<crate::namespace::Extent>> =
            Default::default();
        for x in extents {
            by_key.entry(x.key.clone()).or_default().push(x);
        }
        let mut report = FsckReport::default();
        for (key, xs) in by_key {
            report.objects += 1;
            let got = match self.store.get_all(&key).await {
                Ok(g) => g,
                Err(StoreError::NotFound { .. }) => {
                    report.missing.push(key);
                    continue;
                }
                Err(e) => return Err(FsError::from_store("fsck", e)),
            };
            report.bytes_checked += got.data.len() as u64;
            for x in xs {
                report.extents += 1;
                let (a, b) = (x.off as usize, (x.off + x.len) as usize);
                if b > got.data.len() || crate::protocol::hash_hex(&got.data[a..b]) != x.hash {
                    report
                        .corrupt
                        .push(format!("{}@{}+{}", x.key, x.off, x.len));
                }
            }
        }
        report.ok = report.missing.is_empty() && report.corrupt.is_empty();
        Ok(report)
    }
}
