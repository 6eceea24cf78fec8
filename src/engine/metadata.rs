//! The local namespace as callers read it: the read connection (kept in one read transaction between
//! changes), the cache of recent `stat` answers, read-only connections for snapshots and walks off
//! the JS thread, and inode allocation. Writes go through the writer's own connection (commit.rs).

use super::*;
use crate::namespace::entry_index::Lookup;
use crate::namespace::{EntryIndex, IndexOp, NameHasher, NsView, Op};
use std::collections::HashMap;

/// Opens the namespace database (writer and reader connections) and reads the replication state,
/// discarding state that was made for another store or with another layout (`LOCAL_SCHEMA`). Files
/// are private to the owner.
pub(crate) fn open_local_state(
    db_path: &std::path::Path,
    store_id: &str,
) -> FsResult<(Connection, Connection, Head, u64)> {
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
    let (_, entries) = write_conn
        .query_row("SELECT (SELECT COUNT(*) FROM inodes) + (SELECT COUNT(*) FROM refs), (SELECT COUNT(*) FROM dentries)", [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .map_err(|e| namespace::db_err("mount", e))?;
    let read_conn = namespace::open(db_path)?;
    Ok((write_conn, read_conn, head, entries as u64))
}

/// The most entries the in-memory index holds (about 80 bytes each); a larger namespace is answered
/// by SQLite alone.
pub(crate) const INDEX_MAX_ENTRIES: usize = 2_000_000;
/// The most ops a commit or refresh hands the index to follow; past this the index is dropped and
/// built again from the database when next wanted (a million-file transaction must not hold the
/// index's growth beside its own ops).
pub(crate) const INDEX_FOLLOW_MAX: u64 = 100_000;

/// A committed state as the index tells them apart: its seq and WAL record (none at the start).
type StateId = (u64, Option<String>);

/// The in-memory entry index (`namespace::entry_index`) and the committed state it must agree with.
pub(crate) struct IndexState {
    pub index: Option<EntryIndex>,
    /// The committed state lookups see, as (seq, WAL record): a build from the database is kept only
    /// if it read this very state.
    at: StateId,
    /// A build from the database is under way.
    building: bool,
    /// The mount closed: a build under way stops, and none starts.
    closed: bool,
    /// While it is, the changes committed meanwhile, for it to catch up on (each with the state it led
    /// to), up to `INDEX_FOLLOW_MAX` ops; `None` once more than that, or a change it cannot follow,
    /// came.
    missed: Option<Vec<(StateId, Vec<IndexOp>)>>,
    /// The namespace outgrew `INDEX_MAX_ENTRIES`: no builds until a cold rebuild replaces it.
    too_big: bool,
}

/// What a change to committed state does to the index.
pub(crate) enum IndexUpdate {
    /// These ops, applied on top of what it holds.
    Follow(Vec<IndexOp>),
    /// A new index of the whole namespace (built beside a rebuild from the bucket), or none when the
    /// namespace is larger than the index may be.
    Replace(Option<EntryIndex>),
    /// More changed than it follows: dropped, and built from the database when next wanted.
    Drop,
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

/// The read connection with the entry index and the directories the stat cache remembers in front of
/// it.
struct WithDirs<'a> {
    conn: &'a Connection,
    index: &'a Mutex<IndexState>,
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
        // Directories remembered first (a small map the CPU keeps cached, where the index's cells
        // for them are pushed out by lookups all over it), then the index, then SQLite.
        if let Some(n) = self.lock().dirs.get(&parent).and_then(|d| d.get(name)) {
            return Ok(Some(n.clone()));
        }
        let indexed = match &lock(self.index).index {
            Some(ix) => ix.lookup(parent, name),
            None => Lookup::Unknown,
        };
        let node = match indexed {
            Lookup::Found(n) => Some(n),
            Lookup::Absent => return Ok(None),
            Lookup::Unknown => self.conn.lookup_inode(parent, name)?,
        };
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
    /// Shared with a build running off the caller's thread.
    index: Arc<Mutex<IndexState>>,
    /// The index's name hasher: ops are hashed with it before the index's lock is taken.
    pub hasher: NameHasher,
    /// The next inode number to hand out: transactions allocate while they stage, before they commit,
    /// so numbers come from the mount (the one writer), never from a transaction's own view.
    next_ino: AtomicI64,
    db_path: PathBuf,
    /// Idle read-only connections for transaction snapshots and walks off the JS thread.
    readers: Mutex<Vec<Connection>>,
}

impl LocalMetadata {
    /// `head` and `entries` are the local database's state: with no entries the index starts whole
    /// (and empty); otherwise it is built from the database when first wanted.
    pub fn new(read_conn: Connection, db_path: PathBuf, head: &Head, entries: u64) -> Self {
        let hasher = NameHasher::random();
        LocalMetadata {
            read_conn: Mutex::new(ReadConn {
                conn: read_conn,
                in_txn: false,
            }),
            stat_cache: Mutex::new(StatCache::default()),
            index: Arc::new(Mutex::new(IndexState {
                index: (entries == 0).then(|| EntryIndex::new(hasher.clone())),
                at: state_id(head.seq, head.record.as_deref()),
                building: false,
                closed: false,
                missed: None,
                too_big: false,
            })),
            hasher,
            next_ino: AtomicI64::new(0),
            db_path,
            readers: Mutex::new(Vec::new()),
        }
    }

    /// Lets go of the database files (at close).
    pub fn detach(&self, detach: fn(&mut Connection)) {
        // An index build holds a connection of its own: stopped and waited for (it checks every few
        // thousand rows), so that nothing of the local state stays open after close.
        lock(&self.index).closed = true;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while lock(&self.index).building && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
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
        self.local.want_index();
        let r = self.with_read(|conn| {
            let view = WithDirs {
                conn,
                index: &self.local.index,
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

    /// Called after every change to committed state (now at `at`: its seq and WAL record): forget
    /// cached answers, bring the entry index along, and end the read transaction so the next lookup
    /// sees the change.
    pub(crate) fn invalidate_stats(&self, update: IndexUpdate, at: StateId) {
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
        {
            let mut guard = lock(&self.local.index);
            let ix = &mut *guard;
            let at = state_id(at.0, at.1.as_deref());
            match update {
                IndexUpdate::Follow(ops) => match (ix.index.as_mut(), ix.missed.as_mut()) {
                    (Some(index), _) => index.apply_all(&ops),
                    (None, Some(missed)) => missed.push((at.clone(), ops)),
                    (None, None) => {}
                },
                IndexUpdate::Replace(index) => {
                    ix.too_big = index.is_none();
                    ix.index = index;
                }
                IndexUpdate::Drop => {
                    ix.index = None;
                    ix.missed = None;
                }
            }
            let held: usize = ix.missed.iter().flatten().map(|(_, ops)| ops.len()).sum();
            if held as u64 > INDEX_FOLLOW_MAX {
                ix.missed = None;
            }
            ix.at = at;
        }
        self.reads.files.clear();
        if r.in_txn {
            r.in_txn = false;
            let _ = r.conn.execute_batch("COMMIT");
        }
    }

    /// Whether a build of the index from the database is under way.
    #[cfg(test)]
    pub(crate) fn index_building(&self) -> bool {
        lock(&self.local.index).building
    }

    /// Entries the in-memory index holds, if there is one now.
    pub(crate) fn index_entries(&self) -> Option<usize> {
        lock(&self.local.index).index.as_ref().map(EntryIndex::len)
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IndexUpdate {
    /// Takes in one op of the change (applied to the database beside it).
    pub(crate) fn add(&mut self, hasher: &NameHasher, op: &Op) {
        match self {
            IndexUpdate::Follow(ops) => ops.push(IndexOp::of(hasher, op)),
            IndexUpdate::Replace(Some(index)) => index.apply_op(op),
            IndexUpdate::Replace(None) | IndexUpdate::Drop => {}
        }
    }

    /// The new index a `Replace` is building, to be built elsewhere (this update is `Drop` until it is
    /// put back).
    pub(crate) fn take_fresh(&mut self) -> Option<EntryIndex> {
        match std::mem::replace(self, IndexUpdate::Drop) {
            IndexUpdate::Replace(Some(index)) => Some(index),
            other => {
                *self = other;
                None
            }
        }
    }

    /// Whether `add` does anything with ops.
    pub(crate) fn wants_ops(&self) -> bool {
        matches!(self, IndexUpdate::Follow(_) | IndexUpdate::Replace(Some(_)))
    }

    /// The update, once every op is in: a new index past `INDEX_MAX_ENTRIES` is none.
    pub(crate) fn finish(self) -> IndexUpdate {
        match self {
            IndexUpdate::Replace(Some(mut index)) => {
                index.sweep();
                IndexUpdate::Replace((index.len() <= INDEX_MAX_ENTRIES).then_some(index))
            }
            other => other,
        }
    }
}

impl LocalMetadata {
    /// How the index takes a change of `ops` ops: built anew beside it when `rebuild` (the namespace is
    /// replaced) or when it is empty and `from_empty` (a refresh may build it from nothing; a commit
    /// may not, as a million-file transaction holds its ops meanwhile); else it follows up to
    /// `INDEX_FOLLOW_MAX` ops, and is dropped past that (or when there is none to follow, nor a build
    /// under way to catch up on it).
    pub(crate) fn index_update(&self, rebuild: bool, from_empty: bool, ops: u64) -> IndexUpdate {
        let (present, empty) = {
            let ix = lock(&self.index);
            let held = ix.index.as_ref();
            (
                held.is_some() || ix.missed.is_some(),
                held.is_some_and(EntryIndex::is_empty),
            )
        };
        if rebuild || (from_empty && empty) {
            let mut index = EntryIndex::new(self.hasher.clone());
            // Sized once for what the ops may create (a snapshot's import sizes it for its own rows).
            index.reserve_entries(ops.min(INDEX_MAX_ENTRIES as u64) as usize);
            IndexUpdate::Replace(Some(index))
        } else if present && ops <= INDEX_FOLLOW_MAX {
            IndexUpdate::Follow(Vec::with_capacity(ops as usize))
        } else {
            IndexUpdate::Drop
        }
    }

    /// Starts building the entry index from the database, off the caller's thread, when there is none
    /// (and none on the way). Until it is in place, lookups go to SQLite.
    fn want_index(&self) {
        {
            let mut ix = lock(&self.index);
            if ix.index.is_some() || ix.building || ix.too_big || ix.closed {
                return;
            }
            ix.building = true;
            // Starts at the state lookups see now, which the build is most likely to read.
            ix.missed = Some(vec![(ix.at.clone(), Vec::new())]);
        }
        let (state, db_path, hasher) = (
            self.index.clone(),
            self.db_path.clone(),
            self.hasher.clone(),
        );
        // A thread of its own at the lowest priority: the build (about 0.6 s at a million entries) is
        // background work, and must not slow what the application is doing meanwhile.
        let spawned = std::thread::Builder::new()
            .name("entry-index".into())
            .spawn(move || {
                lowest_priority();
                let built = build_index(&db_path, hasher, || lock(&state).closed);
                let mut ix = lock(&state);
                ix.building = false;
                let log = ix.missed.take();
                let (Ok((built_at, index)), Some(log)) = (built, log) else {
                    // Unreadable, or more changed meanwhile than it keeps: the next lookup tries again.
                    return;
                };
                let Some(mut index) = index else {
                    ix.too_big = true;
                    return;
                };
                // The changes committed after the state it read, in order; nothing to do if it read the
                // state lookups see now. If that state is not in the log (a change it could not follow,
                // or one the database had before the lookups did), it is not kept.
                let after = log.iter().position(|(at, _)| *at == built_at);
                if built_at != ix.at {
                    let Some(after) = after else { return };
                    for (_, ops) in &log[after + 1..] {
                        index.apply_all(ops);
                    }
                }
                if ix.index.is_none() {
                    ix.index = Some(index);
                }
            });
        if spawned.is_err() {
            let mut ix = lock(&self.index);
            ix.building = false;
            ix.missed = None;
        }
    }
}

/// Lowers the calling thread's priority as far as it goes (Linux: a thread's nice value is its own).
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: changes only this thread's scheduling priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
    }
}

/// The entry index of the committed state as it is now, and which state that is (seq, WAL record);
/// `None` for a namespace larger than `INDEX_MAX_ENTRIES`.
fn build_index(
    db_path: &std::path::Path,
    hasher: NameHasher,
    stop: impl Fn() -> bool,
) -> FsResult<(StateId, Option<EntryIndex>)> {
    let conn = namespace::open_reader(db_path)?;
    conn.execute_batch("BEGIN")
        .map_err(|e| namespace::db_err("stat", e))?;
    let seq = namespace::get_meta(&conn, "seq")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let record = namespace::get_meta(&conn, "record")?;
    let mut index = EntryIndex::new(hasher);
    let whole = namespace::index_rows(&conn, &mut index, INDEX_MAX_ENTRIES, stop)?;
    Ok((state_id(seq, record.as_deref()), whole.then_some(index)))
}

fn state_id(seq: u64, record: Option<&str>) -> StateId {
    (seq, record.filter(|r| !r.is_empty()).map(str::to_string))
}
