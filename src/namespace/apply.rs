//! Applying ops to the namespace in SQLite: the same code for a writer's own commit and for a replica
//! replaying a published WAL record, so every replica agrees.

use super::*;

/// Applies one op. Ops come from a validated request or a published WAL record; they assume the
/// state they were made against and fail loudly (EIO) if it is not there.
pub fn apply(conn: &Connection, op: &Op) -> FsResult<()> {
    let e = |e: rusqlite::Error| db_err("apply", e);
    match op {
        Op::Mkdir { .. } | Op::Create { .. } | Op::Symlink { .. } => {
            let (parent, name, mut node) = op.new_entry().expect("creating ops make an entry");
            node.set_extents(op.extents())?;
            insert_node(conn, parent, name, &node)?;
            add_refs(conn, node.ino, op.extents())?;
        }
        Op::SetContent {
            ino,
            mtime,
            size,
            extents,
        } => {
            let ext = stored_extents(extents);
            let n = conn
                .prepare_cached("UPDATE inodes SET size = ?2, mtime = ?3, ctime = ?3, extents = ?4 WHERE ino = ?1")
                .and_then(|mut s| s.execute(params![ino, *size as i64, mtime, ext]))
                .map_err(e)?;
            expect_one(n, "set content of a missing inode")?;
            set_refs(conn, *ino, extents)?;
        }
        Op::Remove { parent, name } => {
            let ino = lookup(conn, *parent, name)?.ok_or_else(|| {
                FsError::internal("apply", format!("remove of a missing entry {name:?}"))
            })?;
            remove_subtree(conn, ino)?;
            conn.prepare_cached("DELETE FROM dentries WHERE parent = ?1 AND name = ?2")
                .and_then(|mut s| s.execute(params![parent, name]))
                .map_err(e)?;
        }
        Op::Rename {
            parent,
            name,
            new_parent,
            new_name,
        } => {
            if parent == new_parent && name == new_name {
                return Ok(());
            }
            if let Some(existing) = lookup(conn, *new_parent, new_name)? {
                remove_subtree(conn, existing)?;
                conn.prepare_cached("DELETE FROM dentries WHERE parent = ?1 AND name = ?2")
                    .and_then(|mut s| s.execute(params![new_parent, new_name]))
                    .map_err(e)?;
            }
            let n = conn
                .prepare_cached(
                    "UPDATE dentries SET parent = ?3, name = ?4 WHERE parent = ?1 AND name = ?2",
                )
                .and_then(|mut s| s.execute(params![parent, name, new_parent, new_name]))
                .map_err(e)?;
            expect_one(n, "rename of a missing entry")?;
        }
        Op::SetAttr { ino, mode, mtime } => {
            let n = conn
                .prepare_cached("UPDATE inodes SET mode = COALESCE(?2, mode), mtime = COALESCE(?3, mtime) WHERE ino = ?1")
                .and_then(|mut s| s.execute(params![ino, mode.map(|m| m as i64), mtime]))
                .map_err(e)?;
            expect_one(n, "setattr of a missing inode")?;
        }
    }
    Ok(())
}

/// Applies ops in order (a record's, a transaction's), stopping at the first that does not decode or
/// does not apply; `also` sees each op once applied.
pub fn apply_all(
    conn: &Connection,
    ops: impl IntoIterator<Item = FsResult<Op>>,
    mut also: impl FnMut(&Op),
) -> FsResult<()> {
    ops.into_iter().try_for_each(|op| {
        let op = op?;
        apply(conn, &op)?;
        also(&op);
        Ok(())
    })
}

/// Extents as the `inodes.extents` column holds them (`protocol::extents::encode_list`), or NULL for
/// none (an empty file), so that a tree built from a snapshot and one built by replaying records store
/// the same value.
pub(crate) fn stored_extents(extents: &[Extent]) -> Option<Vec<u8>> {
    (!extents.is_empty()).then(|| crate::protocol::extents::encode_list(extents))
}

pub(crate) fn set_refs(conn: &Connection, ino: Ino, extents: &[Extent]) -> FsResult<()> {
    conn.prepare_cached("DELETE FROM refs WHERE ino = ?1")
        .and_then(|mut s| s.execute([ino]))
        .map_err(|e| db_err("apply", e))?;
    add_refs(conn, ino, extents)
}

/// Records which content-addressed chunks an inode uses (what `has_object` asks before uploading one).
/// Packs are never shared by content, so they need no row: a million small files cost no refs at all.
pub(crate) fn add_refs(conn: &Connection, ino: Ino, extents: &[Extent]) -> FsResult<()> {
    for x in extents
        .iter()
        .filter(|x| x.key.starts_with(crate::protocol::CHUNK_PREFIX))
    {
        conn.prepare_cached("INSERT OR IGNORE INTO refs(key, ino) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![x.key, ino]))
            .map_err(|e| db_err("apply", e))?;
    }
    Ok(())
}

fn expect_one(n: usize, what: &str) -> FsResult<()> {
    if n == 1 {
        Ok(())
    } else {
        Err(apply_err(what))
    }
}

/// An op that does not fit the state it is applied to: a bug, or a damaged record.
pub(crate) fn apply_err(what: impl Into<String>) -> FsError {
    FsError::internal("apply", what)
}

fn insert_node(conn: &Connection, parent: Ino, name: &str, node: &Inode) -> FsResult<()> {
    let e = |e: rusqlite::Error| db_err("apply", e);
    // The entry first: its primary key refuses a create over an existing name.
    conn.prepare_cached("INSERT INTO dentries(parent, name, ino) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![parent, name, node.ino]))
        .map_err(|x| match x {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                FsError::internal("apply", format!("create over an existing entry {name:?}"))
            }
            other => e(other),
        })?;
    conn.prepare_cached("INSERT INTO inodes(ino, kind, mode, size, mtime, ctime, target, extents) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)")
        .and_then(|mut s| {
            s.execute(params![
                node.ino,
                node.kind as i64,
                node.mode as i64,
                node.size as i64,
                node.mtime,
                node.target,
                node.extents_blob
            ])
        })
        .map(|_| ())
        .map_err(e)
}

/// Remembers the next inode number to hand out, at least `at_least` (numbers handed out or replayed
/// since, some perhaps already removed again), so numbers are never reused after deletes: `diff` tells
/// a rename by its inode. Called once per applied commit or refresh, not per create.
pub fn remember_next_ino(conn: &Connection, at_least: Ino) -> FsResult<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES ('next_ino', MAX((SELECT COALESCE(MAX(ino), 1) + 1 FROM inodes), ?1))
         ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
    )
    .and_then(|mut s| s.execute([at_least]))
    .map(|_| ())
    .map_err(|e| db_err("commit", e))
}

/// Deletes an inode and, for a directory, every inode and entry below it (not its own entry).
fn remove_subtree(conn: &Connection, ino: Ino) -> FsResult<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed(ino INTEGER PRIMARY KEY); DELETE FROM temp.doomed;",
    )
    .map_err(|e| db_err("rm", e))?;
    conn.prepare_cached(
        "INSERT INTO temp.doomed(ino) WITH RECURSIVE sub(ino) AS (SELECT ?1 UNION ALL SELECT d.ino FROM dentries d JOIN sub ON d.parent = sub.ino) SELECT ino FROM sub",
    )
    .and_then(|mut s| s.execute([ino]))
    .map_err(|e| db_err("rm", e))?;
    conn.execute_batch(
        "DELETE FROM dentries WHERE parent IN (SELECT ino FROM temp.doomed);
         DELETE FROM refs WHERE ino IN (SELECT ino FROM temp.doomed);
         DELETE FROM inodes WHERE ino IN (SELECT ino FROM temp.doomed);
         DELETE FROM temp.doomed;",
    )
    .map_err(|e| db_err("rm", e))
}
