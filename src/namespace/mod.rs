//! The namespace in SQLite: inodes and directory entries (so a directory rename is one row), plus the
//! replication state (`meta`). Lookups take a `&Connection` so the same code serves the read connection
//! (committed state, on the caller's thread) and the writer's open transaction (its own pending ops).

mod apply;
pub mod entry_index;
mod ino_map;
mod op;
mod overlay;
pub mod query;
mod short_name;
pub mod snapshot;
mod view;

pub(crate) use apply::{add_refs, apply_err, stored_extents};
pub use apply::{apply, apply_all, remember_next_ino};
pub use entry_index::{EntryIndex, IndexOp, NameHasher};
pub use op::{Extent, Ino, Op, ROOT_INO};
pub use overlay::Overlay;
pub use view::{ApplyOps, NsView};

use crate::error::{Code, FsError, FsResult};
use crate::path::VPath;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const MAX_SYMLINK_HOPS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File = 1,
    Dir = 2,
    Symlink = 3,
}

impl Kind {
    fn from_i64(v: i64) -> Kind {
        match v {
            2 => Kind::Dir,
            3 => Kind::Symlink,
            _ => Kind::File,
        }
    }

    pub fn type_bits(self) -> u32 {
        match self {
            Kind::File => 0o100000,
            Kind::Dir => 0o040000,
            Kind::Symlink => 0o120000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Inode {
    pub ino: Ino,
    pub kind: Kind,
    /// Permission bits only; `type_bits` adds the file type.
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub ctime: i64,
    pub target: Option<String>,
    /// Kept as stored and parsed only when the bytes are wanted: `stat` never pays for it.
    extents_blob: Option<Vec<u8>>,
}

impl Op {
    /// The entry a creating op (mkdir, create, symlink) makes: its parent, name and new inode (whose
    /// extents, if any, are the op's: `extents()`, not yet stored in it).
    pub(crate) fn new_entry(&self) -> Option<(Ino, &str, Inode)> {
        Some(match self {
            Op::Mkdir {
                parent,
                name,
                ino,
                mode,
                mtime,
            } => (
                *parent,
                name.as_str(),
                Inode::new(*ino, Kind::Dir, *mode, 0, *mtime, None),
            ),
            Op::Create {
                parent,
                name,
                ino,
                mode,
                mtime,
                size,
                ..
            } => (
                *parent,
                name.as_str(),
                Inode::new(*ino, Kind::File, *mode, *size, *mtime, None),
            ),
            Op::Symlink {
                parent,
                name,
                ino,
                target,
                mtime,
            } => (
                *parent,
                name.as_str(),
                Inode::new(
                    *ino,
                    Kind::Symlink,
                    0o777,
                    target.len() as u64,
                    *mtime,
                    Some(target.clone()),
                ),
            ),
            _ => return None,
        })
    }
}

impl Inode {
    /// An inode as `stat` sees it, with its change time as stored: no extents, no link target (a row
    /// of the database or a snapshot, as the entry index keeps it).
    pub(crate) fn stat_only(
        ino: Ino,
        kind: Kind,
        mode: u32,
        size: u64,
        mtime: i64,
        ctime: i64,
    ) -> Inode {
        Inode {
            ctime,
            ..Inode::new(ino, kind, mode, size, mtime, None)
        }
    }

    /// A new inode as an op makes it, without extents (`set_extents`).
    pub(crate) fn new(
        ino: Ino,
        kind: Kind,
        mode: u32,
        size: u64,
        mtime: i64,
        target: Option<String>,
    ) -> Inode {
        Inode {
            ino,
            kind,
            mode,
            size,
            mtime,
            ctime: mtime,
            target,
            extents_blob: None,
        }
    }

    pub(crate) fn set_extents(&mut self, extents: &[Extent]) -> FsResult<()> {
        self.extents_blob = stored_extents(extents);
        Ok(())
    }

    /// Same bytes: same size, and the same extents as stored, or else extents of the same lengths and
    /// hashes (the same bytes written again, in another pack, or with block hashes where the first
    /// copy, from before format 3, had none).
    pub fn same_content(&self, other: &Inode) -> bool {
        self.size == other.size
            && self.target == other.target
            && (self.extents_blob == other.extents_blob || self.same_hashes(other))
    }

    fn same_hashes(&self, other: &Inode) -> bool {
        match (self.extents(), other.extents()) {
            (Ok(a), Ok(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(&b)
                        .all(|(x, y)| x.len == y.len && x.hash == y.hash)
            }
            _ => false,
        }
    }

    pub fn extents(&self) -> FsResult<Vec<Extent>> {
        match &self.extents_blob {
            None => Ok(Vec::new()),
            Some(b) => crate::protocol::extents::decode_list(self.ino, b),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    pub ino: Ino,
    pub kind: Kind,
}

/// A resolved path: its parent directory, and the entry itself when it exists.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Canonical path after following symlinks in the parent components (and the last one, if asked).
    pub path: VPath,
    /// The parent directory's inode; `None` only for the root.
    pub parent: Option<Ino>,
    pub node: Option<Inode>,
}

impl Resolved {
    pub fn name(&self) -> &str {
        self.path.parts.last().map(String::as_str).unwrap_or("")
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -16384;
PRAGMA mmap_size = 1073741824;
PRAGMA temp_store = MEMORY;
CREATE TABLE IF NOT EXISTS inodes(
  ino INTEGER PRIMARY KEY, kind INTEGER NOT NULL, mode INTEGER NOT NULL, size INTEGER NOT NULL,
  mtime INTEGER NOT NULL, ctime INTEGER NOT NULL, target TEXT, extents BLOB);
CREATE TABLE IF NOT EXISTS dentries(
  parent INTEGER NOT NULL, name TEXT NOT NULL, ino INTEGER NOT NULL, PRIMARY KEY(parent, name)) WITHOUT ROWID;
-- No query finds an entry by its inode: such an index only slowed every create (older databases drop it).
DROP INDEX IF EXISTS dentries_ino;
-- Which inode uses which chunk: dedup asks whether a chunk is in use (GC reads extents from inodes).
CREATE TABLE IF NOT EXISTS refs(key TEXT NOT NULL, ino INTEGER NOT NULL, PRIMARY KEY(key, ino)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refs_ino ON refs(ino);
CREATE TABLE IF NOT EXISTS gc_pending(key TEXT PRIMARY KEY, since_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
";

/// The layout of the local database. The database is a disposable copy of the bucket's state: one made
/// with another layout is emptied and rebuilt from the bucket (1: extents as JSON; 2: as blobs, refs for
/// chunks only).
pub const LOCAL_SCHEMA: &str = "2";

/// Prepared statements kept per connection: more than the writer uses (rusqlite keeps 16, and a commit
/// that cycles through more than that compiles its SQL again on every op).
const STATEMENT_CACHE: usize = 64;

/// What every connection needs so a prepared statement stays prepared: room in the cache, and a plan
/// that does not depend on the values bound (without the query planner stability guarantee, SQLite
/// compiles a lookup's join again on every call, most of a `stat`'s time).
fn tune(conn: &Connection) -> FsResult<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
    .map_err(|e| db_err("open", e))
}

/// Opens (creating if needed) the namespace database with its root directory.
pub fn open(path: &Path) -> FsResult<Connection> {
    let conn = Connection::open(path).map_err(|e| db_err("open", e))?;
    tune(&conn)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| db_err("open", e))?;
    conn.execute_batch(SCHEMA).map_err(|e| db_err("open", e))?;
    conn.execute("INSERT OR IGNORE INTO inodes(ino, kind, mode, size, mtime, ctime) VALUES (?1, 2, 493, 0, 0, 0)", params![ROOT_INO])
        .map_err(|e| db_err("open", e))?;
    Ok(conn)
}

/// A connection for reading only (a transaction's snapshot, a walk off the JS thread): it changes
/// nothing on open, so it never waits for the writer.
pub fn open_reader(path: &Path) -> FsResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_err("open", e))?;
    tune(&conn)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| db_err("open", e))?;
    conn.execute_batch(
        "PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 1073741824;",
    )
    .map_err(|e| db_err("open", e))?;
    Ok(conn)
}

/// Empties the namespace back to a bare root, keeping nothing of the replication state.
pub fn reset(conn: &Connection) -> FsResult<()> {
    conn.execute_batch(
        "DELETE FROM dentries; DELETE FROM inodes; DELETE FROM meta; DELETE FROM refs;
         INSERT INTO inodes(ino, kind, mode, size, mtime, ctime) VALUES (1, 2, 493, 0, 0, 0);",
    )
    .map_err(|e| db_err("reset", e))
}

pub fn db_err(syscall: &str, e: rusqlite::Error) -> FsError {
    FsError::new(Code::Io, syscall, None)
        .with_description(format!("metadata database: {e}"))
        .with_source(e)
}

pub fn get_meta(conn: &Connection, key: &str) -> FsResult<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(|e| db_err("meta", e))
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> FsResult<()> {
    conn.prepare_cached("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .and_then(|mut s| s.execute([key, value]))
        .map(|_| ())
        .map_err(|e| db_err("meta", e))
}

pub fn next_ino(conn: &Connection) -> FsResult<Ino> {
    let max: Ino = conn
        .query_row("SELECT COALESCE(MAX(ino), 1) FROM inodes", [], |r| r.get(0))
        .map_err(|e| db_err("alloc", e))?;
    let stored = get_meta(conn, "next_ino")?
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as Ino)
        .unwrap_or(0);
    Ok(stored.max(max + 1))
}

fn row_to_inode(r: &rusqlite::Row<'_>) -> rusqlite::Result<Inode> {
    Ok(Inode {
        ino: r.get(0)?,
        kind: Kind::from_i64(r.get(1)?),
        mode: r.get::<_, i64>(2)? as u32,
        size: r.get::<_, i64>(3)? as u64,
        mtime: r.get(4)?,
        ctime: r.get(5)?,
        target: r.get(6)?,
        extents_blob: r.get(7)?,
    })
}

pub fn get_inode(conn: &Connection, ino: Ino) -> FsResult<Option<Inode>> {
    conn.prepare_cached(
        "SELECT ino, kind, mode, size, mtime, ctime, target, extents FROM inodes WHERE ino = ?1",
    )
    .and_then(|mut s| s.query_row([ino], row_to_inode).optional())
    .map_err(|e| db_err("stat", e))
}

const LOOKUP_INODE: &str =
    "SELECT i.ino, i.kind, i.mode, i.size, i.mtime, i.ctime, i.target, i.extents
    FROM dentries d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ?1 AND d.name = ?2";
const LIST_DIR: &str = "SELECT d.name, d.ino, i.kind FROM dentries d JOIN inodes i ON i.ino = d.ino
    WHERE d.parent = ?1 ORDER BY d.name";

pub fn lookup_inode(conn: &Connection, parent: Ino, name: &str) -> FsResult<Option<Inode>> {
    conn.prepare_cached(LOOKUP_INODE)
        .and_then(|mut s| s.query_row(params![parent, name], row_to_inode).optional())
        .map_err(|e| db_err("stat", e))
}

pub fn lookup(conn: &Connection, parent: Ino, name: &str) -> FsResult<Option<Ino>> {
    conn.prepare_cached("SELECT ino FROM dentries WHERE parent = ?1 AND name = ?2")
        .and_then(|mut s| s.query_row(params![parent, name], |r| r.get(0)).optional())
        .map_err(|e| db_err("lookup", e))
}

/// Every entry of the database into `ix` (a build of the in-memory index), unless there are more than
/// `max`: then `false`, and `ix` holds a part. `stop` is asked now and then: when it says so, the build
/// ends with `ECLOSED`.
pub fn index_rows(
    conn: &Connection,
    ix: &mut EntryIndex,
    max: usize,
    stop: impl Fn() -> bool,
) -> FsResult<bool> {
    let e = |e: rusqlite::Error| db_err("stat", e);
    let mut stmt = conn
        .prepare(
            "SELECT d.parent, d.name, i.ino, i.kind, i.mode, i.size, i.mtime, i.ctime
             FROM dentries d JOIN inodes i ON i.ino = d.ino",
        )
        .map_err(e)?;
    let mut rows = stmt.query([]).map_err(e)?;
    while let Some(r) = rows.next().map_err(e)? {
        if ix.len() >= max {
            return Ok(false);
        }
        if ix.len().is_multiple_of(4096) && stop() {
            return Err(FsError::new(Code::Closed, "stat", None));
        }
        let name = r.get_ref(1).and_then(|v| Ok(v.as_str()?)).map_err(e)?;
        let node = Inode::stat_only(
            r.get(2).map_err(e)?,
            Kind::from_i64(r.get(3).map_err(e)?),
            r.get(4).map_err(e)?,
            r.get::<_, i64>(5).map_err(e)? as u64,
            r.get(6).map_err(e)?,
            r.get(7).map_err(e)?,
        );
        ix.insert_row(r.get(0).map_err(e)?, name, &node);
    }
    ix.finish_build();
    Ok(true)
}

pub fn list_dir(conn: &Connection, dir: Ino) -> FsResult<Vec<DirEntry>> {
    let mut stmt = conn
        .prepare_cached(LIST_DIR)
        .map_err(|e| db_err("scandir", e))?;
    let rows = stmt
        .query_map([dir], |r| {
            Ok(DirEntry {
                name: r.get(0)?,
                ino: r.get(1)?,
                kind: Kind::from_i64(r.get(2)?),
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| db_err("scandir", e))?;
    Ok(rows)
}

pub fn has_children(conn: &Connection, dir: Ino) -> FsResult<bool> {
    conn.prepare_cached("SELECT 1 FROM dentries WHERE parent = ?1 LIMIT 1")
        .and_then(|mut s| s.exists([dir]))
        .map_err(|e| db_err("scandir", e))
}

/// Resolves `path`, following symlinks in parent components always and in the last one when
/// `follow_last`. A missing last component is not an error (`node` is `None`); a missing or
/// non-directory parent is (ENOENT / ENOTDIR), reported against `shown` (the caller's path).
pub fn resolve<V: NsView + ?Sized>(
    ns: &V,
    path: VPath,
    follow_last: bool,
    syscall: &str,
    shown: &str,
) -> FsResult<Resolved> {
    let mut hops = 0;
    // Taken, not cloned: `stat` among a million files pays for every allocation.
    let mut pending = path.parts;
    pending.reverse();
    let mut cur = VPath::root();
    let mut cur_ino = ROOT_INO;
    let mut parent = None;
    let mut node: Option<Inode> = None;
    // At the root, a directory that is always there, so it is fetched only when it is the answer.
    let mut at_root = true;
    while let Some(name) = pending.pop() {
        if !at_root {
            let dir = node
                .as_ref()
                .ok_or_else(|| FsError::new(Code::NoEnt, syscall, Some(shown)))?;
            if dir.kind != Kind::Dir {
                return Err(FsError::new(Code::NotDir, syscall, Some(shown)));
            }
        }
        at_root = false;
        parent = Some(cur_ino);
        node = ns.lookup_inode(cur_ino, &name)?;
        cur.parts.push(name);
        let is_last = pending.is_empty();
        if let Some(n) = &node {
            if n.kind == Kind::Symlink && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(FsError::new(Code::Loop, syscall, Some(shown)));
                }
                let target = n.target.clone().unwrap_or_default();
                let base = if target.starts_with('/') {
                    VPath::root()
                } else {
                    cur.split_last().map(|(p, _)| p).unwrap_or_else(VPath::root)
                };
                // Re-walk from the root through the target, confined like any path.
                let joined = format!("{base}/{target}");
                let target_path = crate::path::normalize(&joined, syscall)?;
                pending.extend(target_path.parts.into_iter().rev());
                cur = VPath::root();
                cur_ino = ROOT_INO;
                parent = None;
                node = None;
                at_root = true;
                continue;
            }
            cur_ino = n.ino;
        } else if !is_last {
            return Err(FsError::new(Code::NoEnt, syscall, Some(shown)));
        }
    }
    if at_root {
        node = ns.get_inode(ROOT_INO)?;
    }
    Ok(Resolved {
        path: cur,
        parent,
        node,
    })
}

/// Whether a chunk is in use by some file now (so an upload of the same chunk can be skipped).
pub fn has_object(conn: &Connection, key: &str) -> bool {
    conn.prepare_cached("SELECT 1 FROM refs WHERE key = ?1")
        .and_then(|mut s| s.exists([key]))
        .unwrap_or(false)
}

/// Every data extent the namespace uses, read from the inodes themselves (the authority GC trusts).
pub fn all_extents(conn: &Connection) -> FsResult<Vec<Extent>> {
    let mut stmt = conn
        .prepare("SELECT ino, extents FROM inodes WHERE extents IS NOT NULL")
        .map_err(|e| db_err("gc", e))?;
    let rows: Vec<(Ino, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|r| r.collect::<Result<_, _>>())
        .map_err(|e| db_err("gc", e))?;
    let mut out = Vec::new();
    for (ino, row) in rows {
        out.extend(crate::protocol::extents::decode_list(ino, &row)?);
    }
    Ok(out)
}

/// Every path under `dir` (depth-first, sorted), with its inode; used by recursive readdir, copy and walks.
pub fn walk<V: NsView + ?Sized>(
    ns: &V,
    dir: Ino,
    base: &VPath,
    out: &mut Vec<(VPath, Inode)>,
) -> FsResult<()> {
    for entry in ns.list_dir(dir)? {
        let path = base.join(&entry.name);
        let node = ns
            .get_inode(entry.ino)?
            .ok_or_else(|| FsError::internal("walk", "dangling entry"))?;
        let is_dir = node.kind == Kind::Dir;
        out.push((path.clone(), node));
        if is_dir {
            walk(ns, entry.ino, &path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same bytes are the same content wherever they are stored and whatever the format kept of
    /// them; other bytes never are.
    #[test]
    fn content_is_compared_by_hashes_when_the_stored_extents_differ() {
        let data = vec![9u8; 700 << 10];
        let with_blocks = crate::protocol::chunk_extent(&data);
        let mut without = with_blocks.clone();
        without.blocks.clear();
        let mut other = with_blocks.clone();
        other.hash = crate::protocol::hash_hex(b"other");
        let file = |extents: Vec<Extent>| {
            let mut i = Inode {
                ino: 5,
                kind: Kind::File,
                mode: 0o644,
                size: data.len() as u64,
                mtime: 0,
                ctime: 0,
                target: None,
                extents_blob: None,
            };
            i.set_extents(&extents).unwrap();
            i
        };
        let repacked = Extent::new(
            "packs/b".into(),
            7,
            with_blocks.len,
            with_blocks.hash.clone(),
        );
        let a = file(vec![with_blocks]);
        assert!(a.same_content(&file(vec![without])));
        assert!(a.same_content(&file(vec![repacked])));
        assert!(!a.same_content(&file(vec![other])));
    }

    /// Without the query planner stability guarantee SQLite compiled these joins again on every call.
    #[test]
    fn lookups_stay_prepared_across_calls() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("m.db")).unwrap();
        for i in 0..5 {
            lookup_inode(&conn, ROOT_INO + i, &format!("x{i}")).unwrap();
            list_dir(&conn, ROOT_INO + i).unwrap();
        }
        for sql in [LOOKUP_INODE, LIST_DIR] {
            let s = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                s.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }
}
