//! The local namespace as callers read it: the read connection (kept in one read transaction between
//! changes), the cache of recent `stat` answers, read-only connections for snapshots and walks off
//! the JS thread, and inode allocation. Writes go through the writer's own connection (commit.rs).

use super::*;
use crate::namespace::NsView;
use std::collections::HashMap;

/// Opens the namespace database (writer and reader connections) and reads the replication state,
/// discarding state that was made for another store or with another layout (`LOCAL_SCHEMA`). Files
/// are private to the owner.
pub(crate) fn open_local_state(
    db_path: &std::path::Path,
    store_id: &str,
) -> FsResult<(Connection, Connection, Head)> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(db_path)
        .map_err(|e| {
            FsError::new(Code::Io, "mount", Some(&db_path.to_string_lossy()))
                .with_description(e.to_string())
        })?;
    let write_conn = namespace::open(db_path)?;
    if namespace::get_meta(&write_conn, "store_id")?.as_deref() != Some(store_id)
        || namespace::get_meta(&write_conn, "schema")?.as_deref() != Some(namespace::LOCAL_SCHEMA)
    {
        namespace::reset(&write_conn)?;
        namespace::set_meta(&write_conn, "store_id", store_id)?;
        namespace::set_meta(&write_conn, "schema", namespace::LOCAL_SCHEMA)?;
    }
    let mut head = Head::genesis();
    head.seq = namespace::get_meta(&write_conn, "seq")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    head.record = namespace::get_meta(&write_conn, "record")?;
    head.record_hash = namespace::get_meta(&write_conn, "record_hash")?;
    // Touches every table, so a damaged file is found now rather than on the first lookup.
    write_conn
        .query_row("SELECT (SELECT COUNT(*) FROM inodes) + (SELECT COUNT(*) FROM dentries) + (SELECT COUNT(*) FROM refs)", [], |r| r.get::<_, i64>(0))
        .map_err(|e| namespace::db_err("mount", e))?;
    let read_conn = namespace::open(db_path)?;
    Ok((write_conn, read_conn, head))
}

/// Recently answered `stat`s of committed state, keyed by the caller's path. Cleared whenever the
/// committed state changes; a generation number keeps an answer computed before a change from being
/// stored after it. An absent path is kept as its code alone: entries stay small, so the maps stay
/// cheap to grow (a grown map is rehashed on the caller's thread).
#[derive(Default)]
struct StatCache {
    generation: u64,
    follow: HashMap<Box<str>, Result<Stat, Code>>,
    nofollow: HashMap<Box<str>, Result<Stat, Code>>,
    /// Directories met while resolving, by parent and name: paths share their directories, so a
    /// `stat` among a million files asks SQLite for its last name only.
    dirs: HashMap<Ino, HashMap<Box<str>, Inode>>,
    dir_count: usize,
}

const STAT_CACHE_MAX: usize = 32_768;
const DIR_CACHE_MAX: usize = 16_384;

/// The read connection with the directories the stat cache remembers in front of it.
struct WithDirs<'a> {
    conn: &'a Connection,
    cache: &'a Mutex<StatCache>,
    /// The stat cache's generation when the caller began: a directory found after a change since is
    /// not remembered.
    generation: u64,
}

impl WithDirs<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NsView for WithDirs<'_> {
    fn lookup(&self, parent: Ino, name: &str) -> FsResult<Option<Ino>> {
        Ok(self.lookup_inode(parent, name)?.map(|n| n.ino))
    }
    fn get_inode(&self, ino: Ino) -> FsResult<Option<Inode>> {
        self.conn.get_inode(ino)
    }
    fn lookup_inode(&self, parent: Ino, name: &str) -> FsResult<Option<Inode>> {
        if let Some(n) = self.lock().dirs.get(&parent).and_then(|d| d.get(name)) {
            return Ok(Some(n.clone()));
        }
        let node = self.conn.lookup_inode(parent, name)?;
        if let Some(n) = node.as_ref().filter(|n| n.kind == Kind::Dir) {
            let mut c = self.lock();
            if c.generation == self.generation {
                if c.dir_count >= DIR_CACHE_MAX {
                    c.dirs.clear();
                    c.dir_count = 0;
                }
                c.dirs
                    .entry(parent)
                    .or_default()
                    .insert(name.into(), n.clone());
                c.dir_count += 1;
            }
        }
        Ok(node)
    }
    fn list_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        self.conn.list_dir(dir)
    }
    fn has_children(&self, dir: Ino) -> FsResult<bool> {
        self.conn.has_children(dir)
    }
}

/// The read connection, kept inside one read transaction until the committed state changes: opening a
/// WAL read transaction per statement costs several times the lookup itself.
struct ReadConn {
    conn: Connection,
    in_txn: bool,
}

pub(crate) struct LocalMetadata {
    read_conn: Mutex<ReadConn>,
    stat_cache: Mutex<StatCache>,
    /// The next inode number to hand out: transactions allocate while they stage, before they commit,
    /// so numbers come from the mount (the one writer), never from a transaction's own view.
    next_ino: AtomicI64,
    db_path: PathBuf,
    /// Idle read-only connections for transaction snapshots and walks off the JS thread.
    readers: Mutex<Vec<Connection>>,
}

impl LocalMetadata {
    pub fn new(read_conn: Connection, db_path: PathBuf) -> Self {
        LocalMetadata {
            read_conn: Mutex::new(ReadConn {
                conn: read_conn,
                in_txn: false,
            }),
            stat_cache: Mutex::new(StatCache::default()),
            next_ino: AtomicI64::new(0),
            db_path,
            readers: Mutex::new(Vec::new()),
        }
    }

    /// Lets go of the database files (at close).
    pub fn detach(&self, detach: fn(&mut Connection)) {
        {
            let mut r = self.read_conn.lock().unwrap_or_else(|p| p.into_inner());
            r.in_txn = false;
            detach(&mut r.conn);
        }
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Mount {
    /// The inode number `alloc_ino` hands out next: every inode committed so far is below it.
    pub(crate) fn next_ino(&self) -> Ino {
        self.local.next_ino.load(Ordering::Acquire)
    }

    /// An inode number no other entry has or will have.
    pub(crate) fn alloc_ino(&self) -> Ino {
        self.local.next_ino.fetch_add(1, Ordering::AcqRel)
    }

    /// Keeps inode allocation above everything the namespace holds (after open or catching up).
    pub(crate) fn note_inodes(&self, conn: &Connection) -> FsResult<()> {
        self.local
            .next_ino
            .fetch_max(namespace::next_ino(conn)?, Ordering::AcqRel);
        Ok(())
    }

    /// A read-only connection inside a read transaction on the committed state as it is now, and the
    /// seq of that state. Give it back with `release_snapshot`.
    pub(crate) fn snapshot(&self) -> FsResult<(Connection, u64)> {
        self.check_open("transaction")?;
        let idle = self
            .local
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => namespace::open_reader(&self.local.db_path)?,
        };
        conn.execute_batch("BEGIN")
            .map_err(|e| namespace::db_err("transaction", e))?;
        // The first read fixes the snapshot.
        let seq = namespace::get_meta(&conn, "seq")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((conn, seq))
    }

    pub(crate) fn release_snapshot(&self, conn: Connection) {
        if conn.execute_batch("ROLLBACK").is_err() || self.is_closed() {
            return;
        }
        let mut idle = self.local.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < 8 {
            idle.push(conn);
        }
    }

    /// Runs `f` on a snapshot of the committed state, on a blocking thread: whole-tree reads that
    /// must not hold up the JS thread (or the read connection it uses).
    pub async fn with_snapshot<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> FsResult<T> + Send + 'static,
    ) -> FsResult<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let (conn, _) = me.snapshot()?;
            let r = f(&conn);
            me.release_snapshot(conn);
            r
        })
        .await
        .map_err(|e| FsError::internal("scandir", e.to_string()))?
    }

    /// `stat` of committed state, served from memory when nothing changed since it was last asked.
    pub fn stat(&self, raw: &str, follow: bool) -> FsResult<Stat> {
        self.check_open("stat")?;
        let generation = {
            let c = self
                .local
                .stat_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let map = if follow { &c.follow } else { &c.nofollow };
            if let Some(r) = map.get(raw) {
                let syscall = if follow { "stat" } else { "lstat" };
                return r
                    .clone()
                    .map_err(|code| FsError::new(code, syscall, Some(raw)));
            }
            c.generation
        };
        let r = self.with_read(|conn| {
            let view = WithDirs {
                conn,
                cache: &self.local.stat_cache,
                generation,
            };
            meta::stat(&view, raw, follow)
        });
        let cached = match &r {
            Ok(s) => Some(Ok(s.clone())),
            Err(e) if absent(e) => Some(Err(e.code)),
            Err(_) => None,
        };
        let mut c = self
            .local
            .stat_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let (Some(cached), true) = (cached, c.generation == generation) {
            let map = if follow {
                &mut c.follow
            } else {
                &mut c.nofollow
            };
            if map.len() >= STAT_CACHE_MAX {
                map.clear();
            }
            map.insert(raw.into(), cached);
        }
        r
    }

    /// Called after every change to committed state: forget cached answers, and end the read
    /// transaction so the next lookup sees the change.
    pub(crate) fn invalidate_stats(&self) {
        // The read connection first (the order lookups take the two locks in): no lookup can read the
        // old state under the new generation and remember what it found.
        let mut r = self
            .local
            .read_conn
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        {
            let mut c = self
                .local
                .stat_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            c.generation += 1;
            c.follow.clear();
            c.nofollow.clear();
            c.dirs.clear();
            c.dir_count = 0;
        }
        self.reads.files.clear();
        if r.in_txn {
            r.in_txn = false;
            let _ = r.conn.execute_batch("COMMIT");
        }
    }

    /// Runs `f` with the read connection (committed state), on the calling thread.
    pub fn with_read<T>(&self, f: impl FnOnce(&Connection) -> FsResult<T>) -> FsResult<T> {
        self.check_open("stat")?;
        let mut r = self
            .local
            .read_conn
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !r.in_txn {
            r.conn
                .execute_batch("BEGIN")
                .map_err(|e| namespace::db_err("stat", e))?;
            r.in_txn = true;
        }
        f(&r.conn)
    }
}
