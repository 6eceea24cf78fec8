//! A full copy of the namespace at one seq, so a mount rebuilds from snapshot + WAL tail instead of
//! replaying every record since the beginning. Built from the database and loaded into it one row at a
//! time: the tree is never held as rows (`protocol::snapshot::SnapshotTree`).

use super::*;
pub use crate::protocol::snapshot::SnapshotTree;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInode {
    pub ino: Ino,
    pub kind: u8,
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub ctime: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extents: Vec<Extent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SnapshotRows", into = "SnapshotRows")]
pub struct Snapshot {
    pub v: u32,
    pub seq: u64,
    /// The WAL record this snapshot includes (the one at `seq`).
    pub record: Option<String>,
    pub next_ino: Ino,
    /// The inodes and entries (parent, name, inode), in their stored columns.
    pub tree: SnapshotTree,
}

/// A snapshot as rows: its JSON form (format 1), and how tests write one.
#[derive(Serialize, Deserialize)]
struct SnapshotRows {
    v: u32,
    seq: u64,
    record: Option<String>,
    next_ino: Ino,
    inodes: Vec<SnapshotInode>,
    dentries: Vec<(Ino, String, Ino)>,
}

impl From<SnapshotRows> for Snapshot {
    fn from(s: SnapshotRows) -> Self {
        Snapshot::from_rows(s.v, s.seq, s.record, s.next_ino, s.inodes, s.dentries)
    }
}

impl From<Snapshot> for SnapshotRows {
    /// Rows that do not decode are left out (a JSON copy is only ever made of a tree built here).
    fn from(s: Snapshot) -> Self {
        SnapshotRows {
            inodes: s.tree.inodes().map_while(Result::ok).collect(),
            dentries: s.tree.entries().map_while(Result::ok).collect(),
            v: s.v,
            seq: s.seq,
            record: s.record,
            next_ino: s.next_ino,
        }
    }
}

impl Snapshot {
    /// A snapshot of these rows (entries sorted by parent, then name).
    pub fn from_rows(
        v: u32,
        seq: u64,
        record: Option<String>,
        next_ino: Ino,
        inodes: Vec<SnapshotInode>,
        dentries: Vec<(Ino, String, Ino)>,
    ) -> Self {
        let tree = SnapshotTree::build(inodes.into_iter().map(Ok), dentries.into_iter().map(Ok))
            .expect("rows in memory always encode");
        Snapshot {
            v,
            seq,
            record,
            next_ino,
            tree,
        }
    }
}

impl Snapshot {
    /// Every data object the snapshot's files use (the key table of its extents).
    pub fn data_keys(&self) -> FsResult<Vec<String>> {
        self.tree.keys().map_err(corrupt)
    }
}

fn corrupt(e: crate::protocol::codec::CodecError) -> FsError {
    FsError::new(Code::Corrupt, "snapshot", None)
        .with_description(format!("unreadable snapshot: {e}"))
}

/// The namespace as a snapshot at `seq`, read from the database row by row into columns.
pub fn export(conn: &Connection, seq: u64, record: Option<String>) -> FsResult<Snapshot> {
    let e = |e: rusqlite::Error| db_err("snapshot", e);
    let mut inodes = conn
        .prepare(
            "SELECT ino, kind, mode, size, mtime, ctime, target, extents FROM inodes ORDER BY ino",
        )
        .map_err(e)?;
    let mut entries = conn
        .prepare("SELECT parent, name, ino FROM dentries ORDER BY parent, name")
        .map_err(e)?;
    let inodes = inodes.query_map([], row_to_inode).map_err(e)?.map(|r| {
        let i = r.map_err(e)?;
        Ok(SnapshotInode {
            extents: i.extents()?,
            ino: i.ino,
            kind: i.kind as u8,
            mode: i.mode,
            size: i.size,
            mtime: i.mtime,
            ctime: i.ctime,
            target: i.target,
        })
    });
    let entries = entries
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(e)?
        .map(|r| r.map_err(e));
    Ok(Snapshot {
        v: <Snapshot as crate::protocol::format::Format>::CURRENT,
        seq,
        record,
        next_ino: next_ino(conn)?,
        tree: SnapshotTree::build(inodes, entries)?,
    })
}

/// The snapshot's entries into `index` (an empty one): what `import` puts in the database, as the entry
/// index keeps it (a second pass over the rows, run beside the import).
pub fn index_into(snap: &Snapshot, index: &mut EntryIndex) -> FsResult<()> {
    index.reserve_entries(snap.tree.len().map_err(corrupt)?.0);
    for i in snap.tree.inodes() {
        let i = i.map_err(corrupt)?;
        let kind = Kind::from_i64(i.kind as i64);
        index.insert_inode(&Inode::stat_only(
            i.ino, kind, i.mode, i.size, i.mtime, i.ctime,
        ));
    }
    for d in snap.tree.entries() {
        let (parent, name, ino) = d.map_err(corrupt)?;
        index.name_inode(parent, &name, ino);
    }
    index.finish_build();
    Ok(())
}

/// Replaces the namespace with the snapshot's (inside the caller's transaction), row by row. A row that
/// does not decode is `ECORRUPT`, and the caller's transaction is then rolled back.
pub fn import(conn: &Connection, snap: &Snapshot) -> FsResult<()> {
    let e = |e: rusqlite::Error| db_err("snapshot", e);
    conn.execute_batch("DELETE FROM dentries; DELETE FROM inodes; DELETE FROM refs;")
        .map_err(e)?;
    {
        let mut ins = conn.prepare("INSERT INTO inodes(ino, kind, mode, size, mtime, ctime, target, extents) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)").map_err(e)?;
        for i in snap.tree.inodes() {
            let i = i.map_err(corrupt)?;
            let ext = stored_extents(&i.extents);
            ins.execute(params![
                i.ino,
                i.kind as i64,
                i.mode as i64,
                i.size as i64,
                i.mtime,
                i.ctime,
                i.target,
                ext
            ])
            .map_err(e)?;
            add_refs(conn, i.ino, &i.extents)?;
        }
        let mut ins = conn
            .prepare("INSERT INTO dentries(parent, name, ino) VALUES (?1, ?2, ?3)")
            .map_err(e)?;
        for d in snap.tree.entries() {
            let (p, n, i) = d.map_err(corrupt)?;
            ins.execute(params![p, n, i]).map_err(e)?;
        }
    }
    conn.execute("INSERT OR IGNORE INTO inodes(ino, kind, mode, size, mtime, ctime) VALUES (1, 2, 493, 0, 0, 0)", []).map_err(e)?;
    set_meta(conn, "next_ino", &snap.next_ino.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A snapshot of `n` small files in directories of 1,000, as one transaction of the scale bench leaves.
    pub(crate) fn many_files(n: i64) -> Snapshot {
        let dirs = (n + 999) / 1000;
        let mut inodes = vec![SnapshotInode {
            ino: 1,
            kind: 2,
            mode: 0o755,
            size: 0,
            mtime: 0,
            ctime: 0,
            target: None,
            extents: vec![],
        }];
        let mut dentries = Vec::new();
        for d in 0..dirs {
            let ino = 2 + d;
            inodes.push(SnapshotInode {
                ino,
                kind: 2,
                mode: 0o755,
                size: 0,
                mtime: 5,
                ctime: 5,
                target: None,
                extents: vec![],
            });
            dentries.push((1, format!("d{d}"), ino));
        }
        for f in 0..n {
            let ino = 2 + dirs + f;
            let key = format!("packs/0000000001-{:032x}.pack", f / 40_000);
            inodes.push(SnapshotInode {
                ino,
                kind: 1,
                mode: 0o644,
                size: 100,
                mtime: 1_700_000_000_000 + f / 50,
                ctime: 1_700_000_000_000 + f / 50,
                target: None,
                extents: vec![Extent::new(
                    key,
                    (f % 40_000) as u64 * 100,
                    100,
                    blake3::hash(&f.to_le_bytes()).to_hex().to_string(),
                )],
            });
            dentries.push((2 + f / 1000, format!("f{f}.txt"), ino));
        }
        dentries.sort();
        Snapshot::from_rows(3, 1, None, 3 + dirs + n, inodes, dentries)
    }

    /// By hand: `cargo test --release --no-default-features import_at_scale -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn import_at_scale() {
        let n = std::env::var("FILES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let snap = many_files(n);
        let t = std::time::Instant::now();
        let body = snap.encode();
        println!("encode {:?}, {} B/file", t.elapsed(), body.len() as i64 / n);
        let t = std::time::Instant::now();
        let back = Snapshot::decode("s", &body).unwrap();
        println!("decode {:?}", t.elapsed());
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("ns.db")).unwrap();
        let t = std::time::Instant::now();
        conn.execute_batch("BEGIN").unwrap();
        import(&conn, &back).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        println!("import {:?}", t.elapsed());
    }
}
