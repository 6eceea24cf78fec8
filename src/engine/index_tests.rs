//! The in-memory entry index against the database it copies: every `stat` answered through it must be
//! the answer SQLite gives, on the writer and on a reader, across commits, refreshes, a reopen and a
//! change too large to follow.

use super::commit::GroupWork;
use super::metadata::INDEX_FOLLOW_MAX;
use super::tests::{local_bucket, mount, tree};
use super::*;
use crate::engine::writes::FsWrites;
use crate::namespace::Kind;

type Summary = Result<(i64, Kind, u32, u64, i64, i64), String>;

fn summary(r: FsResult<meta::Stat>) -> Summary {
    r.map(|s| (s.ino, s.kind, s.mode, s.size, s.mtime_ms, s.ctime_ms))
        .map_err(|e| e.code.to_string())
}

const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/a/b/f1",
    "/a/b/f2",
    "/a/c",
    "/a/c/g",
    "/a/l",
    "/a/l/x",
    "/e",
    "/e/b2",
    "/e/b2/f1",
    "/e/b2/f2",
    "/a/missing",
    "/nope/deeper",
    "/a/b/f1/under-a-file",
];

/// Each path's `stat` (and `lstat`) through the mount, against the database alone, and the index
/// holding exactly the entries there are.
fn agrees(m: &Mount, when: &str) {
    for p in PATHS {
        for follow in [true, false] {
            let fast = summary(m.stat(p, follow));
            let db = summary(m.with_read(|c| meta::stat(c, p, follow)));
            assert_eq!(fast, db, "{when}: stat({p}, follow {follow})");
        }
    }
    assert_eq!(
        m.index_entries(),
        Some(tree(m).len()),
        "{when}: entries held"
    );
}

/// The index once a build from the database is in place (it starts on the first `stat` that wants it).
async fn built(m: &Mount) {
    for i in 0..500 {
        // A path asked for the first time: only a lookup the stat cache cannot answer wants the index.
        let _ = m.stat(&format!("/not-there-{i}"), true);
        if m.index_entries().is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the index was never built");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_through_the_entry_index_is_what_the_database_says() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let r = mount(&store, &dir, "r", false).await;
    assert_eq!(
        w.index_entries(),
        Some(0),
        "a fresh mount's index starts whole"
    );
    let steps: Vec<(&str, GroupWork)> = vec![
        (
            "creates",
            Box::new(|tx| {
                tx.mkdir("/a/b", true)?;
                tx.write_file("/a/b/f1", b"one", Default::default())?;
                tx.write_file("/a/b/f2", b"two!", Default::default())?;
                tx.mkdir("/a/c", false)?;
                tx.write_file("/a/c/g", b"gee", Default::default())?;
                tx.symlink("b", "/a/l")?;
                tx.mkdir("/e", false)
            }),
        ),
        (
            "content and attributes",
            Box::new(|tx| {
                tx.write_file("/a/b/f1", b"one, longer", Default::default())?;
                tx.set_attr("/a/b/f2", Some(0o600), Some(1234), "chmod")
            }),
        ),
        (
            "a directory moved, a file moved over another",
            Box::new(|tx| {
                tx.rename("/a/b", "/e/b2")?;
                tx.rename("/a/c/g", "/e/b2/f1")
            }),
        ),
        (
            "a directory removed with what is in it",
            Box::new(|tx| tx.rm("/e/b2", true, false)),
        ),
        (
            "a name used again",
            Box::new(|tx| {
                tx.write_file(
                    "/a/b/f1",
                    b"again",
                    WriteOptions {
                        create_parents: true,
                        ..Default::default()
                    },
                )
            }),
        ),
    ];
    for (what, work) in steps {
        w.write(work).await.unwrap();
        agrees(&w, &format!("writer after {what}"));
        r.refresh().await.unwrap();
        agrees(&r, &format!("reader after {what}"));
    }

    // A transaction alone in its commit: its ops reach the database (and the index) while its record is
    // written, not through a replay.
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.mkdir("/t", false).unwrap();
    tx.write_file("/t/x", b"from a transaction", Default::default())
        .unwrap();
    tx.rename("/a/c", "/t/c").unwrap();
    tx.commit().await.unwrap();
    agrees(&w, "writer after a transaction");
    assert_eq!(summary(w.stat("/t/x", true)).map(|s| s.3), Ok(18));
    r.refresh().await.unwrap();
    agrees(&r, "reader after a transaction");

    // Reopened on its local state: no index until a build from the database, then the same answers.
    w.close();
    drop(w);
    let w = mount(&store, &dir, "w", true).await;
    assert_eq!(w.index_entries(), None);
    built(&w).await;
    agrees(&w, "writer reopened");

    // More than the index follows in one commit: dropped on the writer and on the reader that
    // replays it, then built again from the database.
    let n = INDEX_FOLLOW_MAX as usize + 1;
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.mkdir("/many", false).unwrap();
    for i in 0..n {
        tx.write_file(&format!("/many/f{i}"), b"x", Default::default())
            .unwrap();
        if tx.needs_drain() {
            tx.uploads().wait_below(0).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    assert_eq!(w.index_entries(), None, "too large a change to follow");
    // Commits while the build runs: it catches up on them (or is not kept, and runs again).
    let _ = w.stat("/a", true);
    for i in 0..5 {
        let (from, to) = if i % 2 == 0 {
            ("/a/b", "/e/b3")
        } else {
            ("/e/b3", "/a/b")
        };
        w.write(Box::new(move |tx| tx.rename(from, to)))
            .await
            .unwrap();
        w.write(Box::new(move |tx| {
            tx.write_file(&format!("/many/f{i}"), b"changed", Default::default())
        }))
        .await
        .unwrap();
    }
    built(&w).await;
    agrees(&w, "writer after a large commit");
    assert_eq!(summary(w.stat("/many/f4", true)).map(|s| s.3), Ok(7));
    r.refresh().await.unwrap();
    assert_eq!(r.index_entries(), None);
    built(&r).await;
    agrees(&r, "reader after a large commit");
    assert_eq!(
        summary(r.stat(&format!("/many/f{}", n - 1), true)).map(|s| s.3),
        Ok(1)
    );

    // A cold reader builds its index beside the rebuild, whole from the first lookup.
    let cold = mount(&store, &dir, "cold", false).await;
    assert!(cold.index_entries().is_some());
    agrees(&cold, "a cold reader");
}

/// Files of the mount's local state this process holds open.
fn open_files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|p| p.starts_with(dir))
        .count()
}

/// A build from the database holds a connection of its own: `close()` stops it and waits, so nothing
/// of the local state stays open after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_an_index_build_and_leaves_no_file_open() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let mut tx = Txn::begin(w.clone()).unwrap();
    for i in 0..50_000 {
        tx.write_file(
            &format!("/d{}/f{i}", i / 1000),
            b"x",
            WriteOptions {
                create_parents: true,
                ..Default::default()
            },
        )
        .unwrap();
        if tx.needs_drain() {
            tx.uploads().wait_below(0).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    w.close();
    drop(w);
    let w = mount(&store, &dir, "w", true).await;
    assert_eq!(w.index_entries(), None);
    let _ = w.stat("/d0/f0", true); // starts the build
    assert!(w.index_building());
    w.close();
    assert!(!w.index_building(), "close waits for the build");
    assert_eq!(open_files_under(&dir.path().join("cache")), 0);
    assert_eq!(w.index_entries(), None);
}
