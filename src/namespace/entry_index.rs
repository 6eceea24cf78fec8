//! The namespace's entries in memory, for `stat` at scale. A lookup among a million files in SQLite is
//! two B-tree descents into cold pages (about 4 µs); here it is one hash probe and one slot. It is a copy
//! of committed state: built whole from a snapshot's rows and records (a cold mount), from a scan of the
//! database (a warm one), then kept in step with the ops each commit or refresh applies.
//!
//! A name is kept as a 128-bit keyed hash of (parent, name), with a key random to the mount, so no name
//! is stored and no name chosen by anyone can be made to collide with another. Each entry is one
//! 64-byte slot, found by name through a table of 8-byte cells (at most half full) and by inode through
//! an `InoMap` (4 bytes per inode number in a run): about 81 bytes per entry at a million.

use super::ino_map::InoMap;
use super::{Ino, Inode, Kind, Op, ROOT_INO};

/// Hashes (parent, name) to 128 bits under a key of its own: std's keyed hash (SipHash, a PRF with a
/// random key per hasher) of two inputs told apart by a leading byte. Less than half the time of a
/// keyed blake3 on names this short, and as unpredictable to whoever picks the names.
#[derive(Clone)]
pub struct NameHasher(std::collections::hash_map::RandomState);

impl NameHasher {
    pub fn random() -> NameHasher {
        NameHasher(std::collections::hash_map::RandomState::new())
    }

    pub fn key(&self, parent: Ino, name: &str) -> EntryKey {
        use std::hash::BuildHasher;
        EntryKey([
            self.0.hash_one((0u8, parent, name)),
            self.0.hash_one((1u8, parent, name)),
        ])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EntryKey([u64; 2]);

/// What `stat` needs of an entry, and its parent (to find what a removed directory leaves behind): one
/// cache line, aligned to one, so a lookup touches one line of the slots.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    key: EntryKey,
    parent: Ino,
    ino: Ino,
    size: u64,
    mtime: i64,
    ctime: i64,
    /// Permission bits, and the kind above them (`KIND_SHIFT`).
    mode_kind: u32,
    /// Entries directly under it (directories): how much a removal leaves to sweep.
    children: u32,
}

const KIND_SHIFT: u32 = 24;
/// The parent of an inode no entry has named yet (no directory has inode 0).
const UNNAMED: Ino = 0;
const PERMS: u32 = (1 << KIND_SHIFT) - 1;

impl Slot {
    /// An inode's slot, under `key` in `parent` (`UNNAMED` until an entry names it).
    fn of(key: EntryKey, parent: Ino, node: &Inode) -> Slot {
        Slot {
            key,
            parent,
            ino: node.ino,
            size: node.size,
            mtime: node.mtime,
            ctime: node.ctime,
            mode_kind: ((node.kind as u32) << KIND_SHIFT) | (node.mode & PERMS),
            children: 0,
        }
    }

    fn kind(&self) -> Kind {
        Kind::from_i64((self.mode_kind >> KIND_SHIFT) as i64)
    }
    fn set_mode(&mut self, mode: u32) {
        self.mode_kind = (self.mode_kind & !PERMS) | (mode & PERMS);
    }
}

/// An op as the index applies it: names already hashed, so that the work under the lock lookups
/// share is only the table updates.
#[derive(Debug, Clone)]
pub enum IndexOp {
    Put {
        key: EntryKey,
        parent: Ino,
        node: Inode,
    },
    Content {
        ino: Ino,
        size: u64,
        mtime: i64,
    },
    Attr {
        ino: Ino,
        mode: Option<u32>,
        mtime: Option<i64>,
    },
    Remove {
        key: EntryKey,
    },
    Rename {
        from: EntryKey,
        to: EntryKey,
        new_parent: Ino,
    },
}

impl IndexOp {
    pub fn of(hasher: &NameHasher, op: &Op) -> IndexOp {
        match op {
            Op::SetContent {
                ino, mtime, size, ..
            } => IndexOp::Content {
                ino: *ino,
                size: *size,
                mtime: *mtime,
            },
            Op::SetAttr { ino, mode, mtime } => IndexOp::Attr {
                ino: *ino,
                mode: *mode,
                mtime: *mtime,
            },
            Op::Remove { parent, name } => IndexOp::Remove {
                key: hasher.key(*parent, name),
            },
            Op::Rename {
                parent,
                name,
                new_parent,
                new_name,
            } => IndexOp::Rename {
                from: hasher.key(*parent, name),
                to: hasher.key(*new_parent, new_name),
                new_parent: *new_parent,
            },
            Op::Mkdir { .. } | Op::Create { .. } | Op::Symlink { .. } => {
                let (parent, name, node) = op.new_entry().expect("creating ops make an entry");
                IndexOp::Put {
                    key: hasher.key(parent, name),
                    parent,
                    node,
                }
            }
        }
    }
}

/// What a lookup found.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// The entry's inode, without what `stat` does not need (extents, a link's target).
    Found(Inode),
    /// No such entry: the index holds every entry there is.
    Absent,
    /// A symbolic link: its target is not kept here, so the database answers.
    Unknown,
}

/// Slot numbers by entry key: open addressing with linear probing, at most half full. A cell is 32 bits
/// of the key (not those that place it) and the slot number + 1 (0: empty), so a probe reads one cell,
/// and only a cell whose bits match reads its slot.
struct KeyTable {
    cells: Vec<u64>,
    len: usize,
}

impl KeyTable {
    fn new() -> KeyTable {
        KeyTable {
            cells: Vec::new(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.cells.len().wrapping_sub(1)
    }

    fn home(&self, key: EntryKey) -> usize {
        key.0[0] as usize & self.mask()
    }

    fn cell(key: EntryKey, slot: u32) -> u64 {
        ((key.0[1] >> 32) << 32) | (slot as u64 + 1)
    }

    /// The position of the cell for `key`, and its slot.
    fn find(&self, key: EntryKey, slots: &[Slot]) -> Option<(usize, u32)> {
        if self.cells.is_empty() {
            return None;
        }
        let (mask, tag) = (self.mask(), key.0[1] >> 32);
        let mut pos = self.home(key);
        loop {
            let c = self.cells[pos];
            if c == 0 {
                return None;
            }
            if c >> 32 == tag {
                let slot = (c as u32).wrapping_sub(1);
                if slots[slot as usize].key == key {
                    return Some((pos, slot));
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Room for `n` keys in all, rebuilt from `slots` (the named ones) when it grows.
    fn reserve(&mut self, n: usize, slots: &[Slot]) {
        let want = (n.max(8) * 2).next_power_of_two();
        if want <= self.cells.len() {
            return;
        }
        self.cells = vec![0; want];
        huge_pages(&self.cells);
        self.len = 0;
        for (i, s) in slots.iter().enumerate() {
            if s.parent != UNNAMED {
                self.insert(s.key, i as u32);
            }
        }
    }

    /// Adds a key not in the table (the caller reserved room).
    fn insert(&mut self, key: EntryKey, slot: u32) {
        let mask = self.mask();
        let mut pos = self.home(key);
        while self.cells[pos] != 0 {
            pos = (pos + 1) & mask;
        }
        self.cells[pos] = Self::cell(key, slot);
        self.len += 1;
    }

    /// Points the cell of `key` at slot `to` (its slot moved).
    fn repoint(&mut self, key: EntryKey, from: u32, to: u32) {
        let mask = self.mask();
        let mut pos = self.home(key);
        loop {
            let c = self.cells[pos];
            if c == 0 {
                return;
            }
            if c == Self::cell(key, from) {
                self.cells[pos] = Self::cell(key, to);
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Empties the cell at `pos`, moving later cells of the run back so every key stays reachable from
    /// its home (no tombstones).
    fn remove_at(&mut self, pos: usize, slots: &[Slot]) {
        let mask = self.mask();
        let mut hole = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let c = self.cells[j];
            if c == 0 {
                break;
            }
            let home = self.home(slots[(c as u32 - 1) as usize].key);
            // The cell may fill the hole if its home is not in (hole, j], going round.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.cells[hole] = c;
                hole = j;
            }
        }
        self.cells[hole] = 0;
        self.len -= 1;
    }

    fn bytes(&self) -> usize {
        self.cells.capacity() * 8
    }
}

pub struct EntryIndex {
    hasher: NameHasher,
    slots: Vec<Slot>,
    by_key: KeyTable,
    /// Slot numbers by inode: inode numbers come in runs, so mostly a vector of 4 bytes per number.
    by_ino: InoMap,
    /// Directories removed with entries still under them: those entries can no longer be found (their
    /// parent is gone) and are swept out after the ops that did it, or before an inode number that comes
    /// back is used again.
    removed_dirs: Vec<Ino>,
}

/// Asks the kernel to back a large vector with huge pages: a lookup lands anywhere in tens of MB, and
/// with 4 KiB pages nearly every one also misses the TLB.
#[cfg(target_os = "linux")]
fn huge_pages<T>(v: &Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
    let end = (v.as_ptr() as usize + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: advice only, on whole pages inside the vector's own allocation.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn huge_pages<T>(_: &Vec<T>) {}

impl EntryIndex {
    pub fn new(hasher: NameHasher) -> EntryIndex {
        EntryIndex {
            hasher,
            slots: Vec::new(),
            by_key: KeyTable::new(),
            by_ino: InoMap::new(ROOT_INO + 1),
            removed_dirs: Vec::new(),
        }
    }

    pub fn hasher(&self) -> &NameHasher {
        &self.hasher
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Room for `more` entries, grown by an eighth at a time past a million (doubling a vector of 64 MB
    /// would hold both copies at once).
    fn reserve(&mut self, more: usize) {
        let want = self.slots.len() + more;
        if want > self.slots.capacity() {
            let step = (self.slots.len() / 8).max(more).max(1024);
            self.slots.reserve_exact(step);
            huge_pages(&self.slots);
        }
    }

    fn find_key(&self, key: EntryKey) -> Option<u32> {
        self.by_key.find(key, &self.slots).map(|(_, slot)| slot)
    }

    /// Room for `more` entries in the slots and both tables (a bulk build sizes them once).
    pub fn reserve_entries(&mut self, more: usize) {
        let want = self.slots.len() + more;
        if want > self.slots.capacity() {
            self.slots.reserve_exact(want - self.slots.len());
            huge_pages(&self.slots);
        }
        self.by_key.reserve(want, &self.slots);
    }

    fn find_ino(&self, ino: Ino) -> Option<u32> {
        self.by_ino.get(ino).map(|i| i as u32)
    }

    pub fn lookup(&self, parent: Ino, name: &str) -> Lookup {
        let Some(i) = self.find_key(self.hasher.key(parent, name)) else {
            return Lookup::Absent;
        };
        let s = &self.slots[i as usize];
        let kind = s.kind();
        if kind == Kind::Symlink {
            return Lookup::Unknown;
        }
        let perms = s.mode_kind & PERMS;
        Lookup::Found(Inode::stat_only(
            s.ino, kind, perms, s.size, s.mtime, s.ctime,
        ))
    }

    /// A new entry (or new facts for the one of that name: a rebuild over what is there).
    fn put(&mut self, key: EntryKey, parent: Ino, node: &Inode) {
        let (slot, ino) = (Slot::of(key, parent, node), node.ino);
        // An inode number may come back (a bucket's history from before replays remembered the numbers
        // they made has them). Whatever still holds it is left from a removal: swept out first, with
        // whatever was under it, so the new entry, or a directory's new children, never meet what was
        // there before.
        if self.find_ino(ino).is_some() || self.removed_dirs.contains(&ino) {
            self.sweep();
            if let Some(i) = self.find_ino(ino) {
                self.remove_at(i);
            }
        }
        if let Some(i) = self.find_key(key) {
            self.remove_at(i);
        }
        self.reserve(1);
        let i = self.slots.len() as u32;
        self.slots.push(slot);
        self.by_key
            .reserve(self.slots.len(), &self.slots[..i as usize]);
        self.by_key.insert(key, i);
        self.by_ino.insert(ino, i as usize);
    }

    fn adjust_children(&mut self, dir: Ino, up: bool) {
        if let Some(i) = self.find_ino(dir) {
            let c = &mut self.slots[i as usize].children;
            *c = if up {
                c.saturating_add(1)
            } else {
                c.saturating_sub(1)
            };
        }
    }

    /// Takes slot `i` out of both tables and the vector (the last slot moves into its place).
    fn remove_at(&mut self, i: u32) -> Slot {
        let gone = self.slots[i as usize];
        if gone.parent != UNNAMED {
            if let Some((pos, _)) = self.by_key.find(gone.key, &self.slots) {
                self.by_key.remove_at(pos, &self.slots);
            }
        }
        self.by_ino.remove(gone.ino);
        let last = (self.slots.len() - 1) as u32;
        if i != last {
            let moved = self.slots[last as usize];
            if moved.parent != UNNAMED {
                self.by_key.repoint(moved.key, last, i);
            }
            self.by_ino.insert(moved.ino, i as usize);
        }
        self.slots.swap_remove(i as usize);
        gone
    }

    /// Removes an entry; what was under a directory stays until the sweep.
    fn remove_entry(&mut self, i: u32) {
        let gone = self.remove_at(i);
        self.adjust_children(gone.parent, false);
        if gone.kind() == Kind::Dir && gone.children > 0 {
            self.removed_dirs.push(gone.ino);
        }
    }

    pub fn apply(&mut self, op: &IndexOp) {
        match *op {
            IndexOp::Put {
                key,
                parent,
                ref node,
            } => {
                self.put(key, parent, node);
                self.adjust_children(parent, true);
            }
            IndexOp::Content { ino, size, mtime } => {
                if let Some(i) = self.find_ino(ino) {
                    let s = &mut self.slots[i as usize];
                    s.size = size;
                    s.mtime = mtime;
                    s.ctime = mtime;
                }
            }
            IndexOp::Attr { ino, mode, mtime } => {
                if let Some(i) = self.find_ino(ino) {
                    let s = &mut self.slots[i as usize];
                    if let Some(m) = mode {
                        s.set_mode(m);
                    }
                    if let Some(t) = mtime {
                        s.mtime = t;
                    }
                }
            }
            IndexOp::Remove { key } => {
                if let Some(i) = self.find_key(key) {
                    self.remove_entry(i);
                }
            }
            IndexOp::Rename {
                from,
                to,
                new_parent,
            } => {
                if from == to {
                    return;
                }
                if let Some(i) = self.find_key(to) {
                    self.remove_entry(i);
                }
                let Some(i) = self.find_key(from) else { return };
                let old_parent = self.slots[i as usize].parent;
                if let Some((pos, _)) = self.by_key.find(from, &self.slots) {
                    self.by_key.remove_at(pos, &self.slots);
                }
                let s = &mut self.slots[i as usize];
                s.key = to;
                s.parent = new_parent;
                self.by_key.insert(to, i);
                self.adjust_children(old_parent, false);
                self.adjust_children(new_parent, true);
            }
        }
    }

    /// Every slot found by its inode and (if named) its key, and no inode held twice.
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashMap::new();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(j) = seen.insert(s.ino, i) {
                return Err(format!(
                    "ino {} in slots {j} and {i} (parents {} {})",
                    s.ino, self.slots[j].parent, s.parent
                ));
            }
            if self.by_ino.get(s.ino) != Some(i) {
                return Err(format!(
                    "by_ino of {} is {:?}, slot {i}",
                    s.ino,
                    self.by_ino.get(s.ino)
                ));
            }
            if s.parent != UNNAMED && self.find_key(s.key) != Some(i as u32) {
                return Err(format!(
                    "by_key of ino {} is {:?}, slot {i}",
                    s.ino,
                    self.find_key(s.key)
                ));
            }
        }
        Ok(())
    }

    /// Applies ops in order, then sweeps out what removed directories held.
    pub fn apply_all<'a>(&mut self, ops: impl IntoIterator<Item = &'a IndexOp>) {
        for op in ops {
            self.apply(op);
        }
        self.sweep();
    }

    /// Applies a decoded op (a whole build: a cold mount replaying records).
    pub fn apply_op(&mut self, op: &Op) {
        let op = IndexOp::of(&self.hasher, op);
        self.apply(&op);
    }

    /// An inode as a snapshot's rows have it, before its entry (`name_inode`); `finish_build` drops
    /// any left unnamed (the root).
    pub fn insert_inode(&mut self, node: &Inode) {
        self.reserve(1);
        let i = self.slots.len();
        self.slots.push(Slot::of(EntryKey([0, 0]), UNNAMED, node));
        self.by_ino.insert(node.ino, i);
    }

    /// The entry naming an inode given by `insert_inode`; false when there is no such inode.
    pub fn name_inode(&mut self, parent: Ino, name: &str, ino: Ino) -> bool {
        let Some(i) = self.find_ino(ino) else {
            return false;
        };
        let key = self.hasher.key(parent, name);
        // Room first: a table that grows is refilled from the slots named so far.
        self.by_key.reserve(self.by_key.len + 1, &self.slots);
        let s = &mut self.slots[i as usize];
        s.key = key;
        s.parent = parent;
        self.by_key.insert(key, i);
        true
    }

    /// An entry as a database row has it (bulk builds: `finish_build` then counts children).
    pub fn insert_row(&mut self, parent: Ino, name: &str, node: &Inode) {
        let key = self.hasher.key(parent, name);
        self.put(key, parent, node);
    }

    /// After bulk inserts: inodes no entry named dropped, each directory's child count, and the slots
    /// trimmed to size.
    pub fn finish_build(&mut self) {
        let mut i = self.slots.len();
        while i > 0 {
            i -= 1;
            if self.slots[i].parent == UNNAMED {
                self.remove_at(i as u32);
            }
        }
        for s in self.slots.iter_mut() {
            s.children = 0;
        }
        for i in 0..self.slots.len() {
            let parent = self.slots[i].parent;
            self.adjust_children(parent, true);
        }
        self.slots.shrink_to_fit();
        huge_pages(&self.slots);
        self.sweep();
    }

    /// Removes every entry below a removed directory, at any depth: a pass over the whole index (about
    /// 10 ms at a million entries), and only after ops that removed a directory with entries in it.
    pub(crate) fn sweep(&mut self) {
        if self.removed_dirs.is_empty() {
            return;
        }
        let mut dead: std::collections::HashSet<Ino> = self.removed_dirs.drain(..).collect();
        loop {
            let mut found = false;
            let mut i = self.slots.len();
            while i > 0 {
                i -= 1;
                if dead.contains(&self.slots[i].parent) {
                    let gone = self.remove_at(i as u32);
                    if gone.kind() == Kind::Dir {
                        dead.insert(gone.ino);
                    }
                    found = true;
                }
            }
            if !found {
                break;
            }
        }
    }

    /// Bytes held (slots and both tables), for the bench's and tests' accounting.
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.by_key.bytes()
            + self.by_ino.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::{self, ROOT_INO};
    use proptest::prelude::*;
    use rusqlite::Connection;

    fn db() -> Connection {
        let dir = tempfile::tempdir().unwrap();
        let conn = namespace::open(&dir.path().join("ns.db")).unwrap();
        std::mem::forget(dir);
        conn
    }

    /// Every entry the database has, as the index answers it; and the index holds nothing else that a
    /// path could reach (everything it holds is under a live directory, once swept).
    fn assert_same(conn: &Connection, ix: &mut EntryIndex) {
        let mut rows = conn
            .prepare("SELECT d.parent, d.name FROM dentries d")
            .unwrap();
        let entries: Vec<(Ino, String)> = rows
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (parent, name) in &entries {
            let want = namespace::lookup_inode(conn, *parent, name)
                .unwrap()
                .unwrap();
            match ix.lookup(*parent, name) {
                Lookup::Found(got) => {
                    assert_eq!(
                        (got.ino, got.kind, got.mode, got.size, got.mtime, got.ctime),
                        (want.ino, want.kind, want.mode, want.size, want.mtime, want.ctime),
                        "{name}"
                    );
                }
                Lookup::Unknown => assert_eq!(want.kind, Kind::Symlink),
                Lookup::Absent => panic!("{parent}/{name} is missing from the index"),
            }
        }
        ix.sweep();
        ix.check().unwrap();
        assert_eq!(
            ix.len(),
            entries.len(),
            "the index holds entries the database does not"
        );
    }

    /// A random run of valid ops over a small tree (names drawn from a few, so they collide).
    fn ops_strategy() -> impl Strategy<Value = Vec<(u8, u8, u8, u8)>> {
        prop::collection::vec((0u8..9, 0u8..6, 0u8..6, 0u8..4), 1..160)
    }

    /// Turns draws into ops valid against `conn`'s state, applying each to the database as it goes.
    fn run(conn: &Connection, ix: &mut EntryIndex, draws: &[(u8, u8, u8, u8)], next: &mut Ino) {
        let mut batch = Vec::new();
        for &(what, a, b, n) in draws {
            let dirs: Vec<Ino> = std::iter::once(ROOT_INO)
                .chain(
                    conn.prepare("SELECT ino FROM inodes WHERE kind = 2 AND ino != 1 ORDER BY ino")
                        .unwrap()
                        .query_map([], |r| r.get::<_, Ino>(0))
                        .unwrap()
                        .map(Result::unwrap),
                )
                .collect();
            let dir = dirs[a as usize % dirs.len()];
            let other = dirs[b as usize % dirs.len()];
            let name = format!("n{n}");
            let existing = namespace::lookup_inode(conn, dir, &name).unwrap();
            let op = match (what, &existing) {
                (0, None) => Op::Mkdir {
                    parent: dir,
                    name,
                    ino: *next,
                    mode: 0o755,
                    mtime: *next,
                },
                (1, None) => Op::Create {
                    parent: dir,
                    name,
                    ino: *next,
                    mode: 0o644,
                    mtime: *next,
                    size: n as u64,
                    extents: vec![],
                },
                (2, None) => Op::Symlink {
                    parent: dir,
                    name,
                    ino: *next,
                    target: "x".into(),
                    mtime: *next,
                },
                (3, Some(_)) => Op::Remove { parent: dir, name },
                (4, Some(node)) if node.kind == Kind::File => Op::SetContent {
                    ino: node.ino,
                    mtime: *next,
                    size: 100 + *next as u64,
                    extents: vec![],
                },
                (5, Some(node)) => Op::SetAttr {
                    ino: node.ino,
                    mode: (n % 2 == 0).then_some(0o600),
                    mtime: Some(*next),
                },
                (7, None) | (8, None) => {
                    // A number no inode has now, possibly one a removal freed (restores reuse them).
                    let Some(free) = (2..*next).rev().find(|i| {
                        (i + n as i64) % 3 == 0
                            && conn
                                .query_row("SELECT 1 FROM inodes WHERE ino = ?1", [i], |_| Ok(()))
                                .is_err()
                    }) else {
                        continue;
                    };
                    if what == 7 {
                        Op::Mkdir {
                            parent: dir,
                            name,
                            ino: free,
                            mode: 0o700,
                            mtime: *next,
                        }
                    } else {
                        Op::Create {
                            parent: dir,
                            name,
                            ino: free,
                            mode: 0o600,
                            mtime: *next,
                            size: 7,
                            extents: vec![],
                        }
                    }
                }
                (6, Some(node)) => {
                    let new_name = format!("n{}", (n + 1) % 4);
                    // A directory may not move into itself or below itself, nor replace a directory
                    // that is not empty, nor be replaced by what is not one (the writer refuses those).
                    let below = |mut d: Ino| loop {
                        if d == node.ino {
                            return true;
                        }
                        if d == ROOT_INO {
                            return false;
                        }
                        d = conn
                            .query_row("SELECT parent FROM dentries WHERE ino = ?1", [d], |r| {
                                r.get(0)
                            })
                            .unwrap();
                    };
                    if node.kind == Kind::Dir && below(other) {
                        continue;
                    }
                    if let Some(dest) = namespace::lookup_inode(conn, other, &new_name).unwrap() {
                        if dest.ino == node.ino
                            || (dest.kind == Kind::Dir) != (node.kind == Kind::Dir)
                            || namespace::has_children(conn, dest.ino).unwrap()
                        {
                            continue;
                        }
                    }
                    Op::Rename {
                        parent: dir,
                        name,
                        new_parent: other,
                        new_name,
                    }
                }
                _ => continue,
            };
            *next += 1;
            namespace::apply(conn, &op).unwrap();
            // Ops reach the index in batches, as a commit's do (a removal's sweep comes at the end).
            batch.push(IndexOp::of(ix.hasher(), &op));
            if b == 0 {
                ix.apply_all(&batch);
                batch.clear();
            }
        }
        ix.apply_all(&batch);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn the_index_follows_every_op_the_database_applies(draws in ops_strategy()) {
            let conn = db();
            let mut ix = EntryIndex::new(NameHasher::random());
            let mut next = 2;
            run(&conn, &mut ix, &draws, &mut next);
            assert_same(&conn, &mut ix);
            // A build from the database agrees with the one that followed the ops.
            let mut built = build_from(&conn);
            assert_same(&conn, &mut built);
        }
    }

    fn build_from(conn: &Connection) -> EntryIndex {
        let mut ix = EntryIndex::new(NameHasher::random());
        assert!(crate::namespace::index_rows(conn, &mut ix, usize::MAX, || false).unwrap());
        ix
    }

    #[test]
    fn a_removed_directory_takes_its_whole_subtree_when_swept() {
        let conn = db();
        let h = NameHasher::random();
        let mut ix = EntryIndex::new(h.clone());
        let mut ops = vec![Op::Mkdir {
            parent: ROOT_INO,
            name: "top".into(),
            ino: 2,
            mode: 0o755,
            mtime: 0,
        }];
        let mut next = 3;
        for d in 0..10 {
            let dir = next;
            next += 1;
            ops.push(Op::Mkdir {
                parent: 2,
                name: format!("d{d}"),
                ino: dir,
                mode: 0o755,
                mtime: 0,
            });
            for f in 0..500 {
                ops.push(Op::Create {
                    parent: dir,
                    name: format!("f{f}"),
                    ino: next,
                    mode: 0o644,
                    mtime: 0,
                    size: 1,
                    extents: vec![],
                });
                next += 1;
            }
        }
        ops.push(Op::Create {
            parent: ROOT_INO,
            name: "keep".into(),
            ino: next,
            mode: 0o644,
            mtime: 0,
            size: 1,
            extents: vec![],
        });
        for op in &ops {
            namespace::apply(&conn, op).unwrap();
        }
        let digested: Vec<IndexOp> = ops.iter().map(|op| IndexOp::of(&h, op)).collect();
        ix.apply_all(&digested);
        assert_eq!(ix.len(), 1 + 10 + 5000 + 1);
        let rm = Op::Remove {
            parent: ROOT_INO,
            name: "top".into(),
        };
        namespace::apply(&conn, &rm).unwrap();
        ix.apply_all([&IndexOp::of(&h, &rm)]);
        assert_eq!(ix.lookup(ROOT_INO, "top"), Lookup::Absent);
        assert!(matches!(ix.lookup(ROOT_INO, "keep"), Lookup::Found(_)));
        assert_same(&conn, &mut ix);
        assert_eq!(ix.len(), 1);
    }
}

/// By hand: `FILES=1000000 cargo test --release --no-default-features index_at_scale -- --ignored --nocapture`.
#[cfg(test)]
mod scale {
    use super::*;
    use crate::namespace::{self, snapshot};

    #[test]
    #[ignore]
    fn index_at_scale() {
        let n: i64 = std::env::var("FILES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let snap = snapshot::tests::many_files(n);
        let dir = tempfile::tempdir().unwrap();
        let conn = namespace::open(&dir.path().join("ns.db")).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let t = std::time::Instant::now();
        snapshot::import(&conn, &snap).unwrap();
        let plain = t.elapsed();
        conn.execute_batch("COMMIT").unwrap();
        let t = std::time::Instant::now();
        let mut ix = EntryIndex::new(NameHasher::random());
        snapshot::index_into(&snap, &mut ix).unwrap();
        let with = t.elapsed();
        eprintln!(
            "import {plain:?}; the index from the same rows {with:?}; {} entries, {} MB",
            ix.len(),
            ix.bytes() >> 20
        );
        let t = std::time::Instant::now();
        let mut built = EntryIndex::new(NameHasher::random());
        assert!(namespace::index_rows(&conn, &mut built, usize::MAX, || false).unwrap());
        eprintln!("built from the database in {:?}", t.elapsed());
        let dirs = (n + 999) / 1000;
        let probes: Vec<(i64, String)> = (0..200_000i64)
            .map(|i| {
                let f = (i * 7919) % n;
                (2 + f / 1000, format!("f{f}.txt"))
            })
            .collect();
        let _ = dirs;
        let t = std::time::Instant::now();
        for (p, name) in &probes {
            assert!(
                matches!(ix.lookup(*p, name), Lookup::Found(_)),
                "{p} {name}"
            );
        }
        eprintln!(
            "index lookup: {:.0} ns",
            t.elapsed().as_nanos() as f64 / probes.len() as f64
        );
        let h = NameHasher::random();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        for (p, name) in &probes {
            x ^= h.key(*p, name).0[0];
        }
        eprintln!(
            "hash alone: {:.0} ns ({x})",
            t.elapsed().as_nanos() as f64 / probes.len() as f64
        );
        conn.execute_batch("BEGIN").unwrap();
        let t = std::time::Instant::now();
        for (p, name) in &probes {
            assert!(namespace::lookup_inode(&conn, *p, name).unwrap().is_some());
        }
        eprintln!(
            "sqlite lookup: {:.0} ns",
            t.elapsed().as_nanos() as f64 / probes.len() as f64
        );
    }
}
