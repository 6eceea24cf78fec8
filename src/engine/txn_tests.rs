//! Transactions beside other writers: snapshot isolation, commit-time validation, nothing waiting on a
//! transaction's caller, bounded staging, and a committer that survives its own faults.

use super::tests::{fail_next_head_put, local_bucket, mount, read, write};
use super::*;
use crate::store::{FailAction, FailRule, FailingObjectStore, RequestKind, StoreError};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

fn parents() -> WriteOptions {
    WriteOptions {
        create_parents: true,
        ..Default::default()
    }
}

fn exists(m: &Mount, path: &str) -> bool {
    m.with_read(|c| Ok(meta::exists(c, path))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_its_snapshot_and_its_own_writes_and_blocks_no_one() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/old", b"0").await.unwrap();
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.write_file("/t/mine", b"tx", parents()).unwrap();
    // Mount-level writes, refresh, GC and another transaction all go on while this one is open.
    bounded("a mount write", write(&w, "/outside", b"m"))
        .await
        .unwrap();
    bounded("refresh", w.refresh()).await.unwrap();
    bounded("gc", w.gc(60_000, false, Default::default()))
        .await
        .unwrap();
    let mut other = Txn::begin(w.clone()).unwrap();
    other.write_file("/nested", b"n", parents()).unwrap();
    assert!(
        bounded("a second transaction", other.commit())
            .await
            .unwrap()
            .committed
    );

    assert!(meta::exists(tx.view(), "/t/mine"));
    assert!(meta::exists(tx.view(), "/old"));
    assert!(
        !meta::exists(tx.view(), "/outside"),
        "a later commit is outside the snapshot"
    );
    assert!(
        !exists(&w, "/t/mine"),
        "staged writes are private until commit"
    );
    let seq = bounded("commit", tx.commit()).await.unwrap().seq;
    assert_eq!(seq, w.seq());
    for p in ["/old", "/outside", "/nested", "/t/mine"] {
        assert!(exists(&w, p), "{p} after commit");
    }
    assert_eq!(read(&w, "/t/mine").await.unwrap(), b"tx");

    // Everything survives a cold remount from the bucket.
    w.close();
    let cold = tempfile::tempdir().unwrap();
    let r = mount(&store, &cold, "cold", false).await;
    for p in ["/old", "/outside", "/nested", "/t/mine"] {
        assert!(exists(&r, p), "{p} after a cold remount");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_no_longer_holds_rejects_the_whole_transaction() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/d/keep", b"k").await.unwrap();
    write(&w, "/src", b"s").await.unwrap();

    // Each case: what the transaction does, and the path it conflicts on once a concurrent commit
    // (below, by name) has changed the namespace under it.
    type Step = Box<dyn Fn(&mut Txn) -> FsResult<()>>;
    let cases: Vec<(&str, Step, &str)> = vec![
        (
            "parent removed",
            Box::new(|tx| tx.write_file("/d/new", b"x", WriteOptions::default())),
            "/d/new",
        ),
        (
            "exclusive create",
            Box::new(|tx| {
                tx.write_file(
                    "/excl",
                    b"x",
                    WriteOptions {
                        exclusive: true,
                        ..Default::default()
                    },
                )
            }),
            "/excl",
        ),
        (
            "rename source gone",
            Box::new(|tx| tx.rename("/src", "/dst")),
            "/src",
        ),
    ];
    for (i, (name, in_tx, conflicting)) in cases.into_iter().enumerate() {
        let mut tx = Txn::begin(w.clone()).unwrap();
        tx.write_file(&format!("/marker{i}"), b"m", WriteOptions::default())
            .unwrap();
        in_tx(&mut tx).unwrap();
        match name {
            "parent removed" => {
                w.write(Box::new(|b| b.rm("/d", true, false)))
                    .await
                    .unwrap();
            }
            "exclusive create" => {
                write(&w, "/excl", b"first").await.unwrap();
            }
            _ => {
                w.write(Box::new(|b| b.rm("/src", false, false)))
                    .await
                    .unwrap();
            }
        }
        let seq = w.seq();
        let e = bounded("commit", tx.commit()).await.unwrap_err();
        assert_eq!(e.code, "ECONFLICT", "{name}: {e}");
        assert_eq!(e.path.as_deref(), Some(conflicting), "{name}: {e}");
        assert!(e.to_string().contains("no longer holds"), "{name}: {e}");
        assert_eq!(w.seq(), seq, "{name}: nothing committed");
        assert!(
            !exists(&w, &format!("/marker{i}")),
            "{name}: nothing applied"
        );
    }
    assert_eq!(read(&w, "/excl").await.unwrap(), b"first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_overwrites_do_not_conflict_and_the_later_commit_wins() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.write_file("/f", b"from tx", parents()).unwrap();
    tx.mkdir("/made/by/tx", true).unwrap();
    write(&w, "/f", b"from mount").await.unwrap();
    write(&w, "/made/other", b"o").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read(&w, "/f").await.unwrap(), b"from tx");
    assert!(exists(&w, "/made/by/tx") && exists(&w, "/made/other"));
    write(&w, "/f", b"last").await.unwrap();
    assert_eq!(read(&w, "/f").await.unwrap(), b"last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_is_bounded_and_large_writes_read_back_inside_the_transaction() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let mut tx = Txn::begin(w.clone()).unwrap();
    let mut peak = 0;
    for i in 0..12u8 {
        tx.write_file(&format!("/big{i}"), &vec![i; 8 << 20], parents())
            .unwrap();
        peak = peak.max(tx.uploads().backlog());
        if tx.needs_drain() {
            bounded("drain", tx.uploads().wait_below(STAGED_BYTES_MAX / 2))
                .await
                .unwrap();
        }
        assert!(tx.uploads().backlog() <= STAGED_BYTES_MAX + (8 << 20));
    }
    assert!(peak <= STAGED_BYTES_MAX + (8 << 20), "peak backlog {peak}");
    tx.uploads().wait_below(0).await.unwrap();
    let pieces = tx.read_pieces("/big3").unwrap();
    assert_eq!(w.assemble(pieces).await.unwrap(), vec![3u8; 8 << 20]);
    tx.commit().await.unwrap();
    assert_eq!(read(&w, "/big11").await.unwrap(), vec![11u8; 8 << 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committer_survives_a_panic_and_a_failed_commit() {
    let (dir, local) = local_bucket();
    let failing = Arc::new(FailingObjectStore::new(local.clone(), 7));
    let w = mount(&(failing.clone() as DynObjectStore), &dir, "w", true).await;
    let e = bounded(
        "a panicking commit",
        w.write(Box::new(|_| panic!("injected fault"))),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "EINTERNAL");
    assert!(e.to_string().contains("injected fault"), "{e}");
    bounded("a write after the panic", write(&w, "/after-panic", b"1"))
        .await
        .unwrap();

    fail_next_head_put(&failing);
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.write_file("/in-failed-tx", b"x", parents()).unwrap();
    assert!(bounded("a failing commit", tx.commit()).await.is_err());
    assert!(!exists(&w, "/in-failed-tx"));
    bounded(
        "a write after the failure",
        write(&w, "/after-failure", b"2"),
    )
    .await
    .unwrap();
    assert!(exists(&w, "/after-panic") && exists(&w, "/after-failure"));
}

/// A transaction's last uploads go on while its commit applies its ops; the record still waits for
/// them, so an upload that fails late leaves no record, nothing visible, and the writer working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactions_record_waits_for_uploads_that_finish_during_its_commit() {
    let (dir, local) = local_bucket();
    let failing = Arc::new(FailingObjectStore::new(local.clone(), 7));
    let w = mount(&(failing.clone() as DynObjectStore), &dir, "w", true).await;
    let on_packs = |action| FailRule {
        kinds: vec![RequestKind::Put],
        key_contains: Some("packs/".into()),
        ..FailRule::new(action)
    };
    let records = || async {
        let listed = local.list("wal/", None, None).await.unwrap().objects;
        listed.len()
    };

    // Slow: committed once the pack is up, and readable from the bucket alone.
    failing.add_rule(on_packs(FailAction::Delay(Duration::from_millis(150))));
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.write_file("/slow", b"slow", parents()).unwrap();
    let seq = bounded("a commit behind a slow upload", tx.commit())
        .await
        .unwrap()
        .seq;
    let cold = tempfile::tempdir().unwrap();
    let r = mount(&local, &cold, "r", false).await;
    assert_eq!(
        (r.seq(), read(&r, "/slow").await.unwrap()),
        (seq, b"slow".to_vec())
    );

    // Slow, then failing: the commit fails after applying, and writes no record.
    failing.add_rule(on_packs(FailAction::Error(StoreError::other(
        "put", "packs/", "injected",
    ))));
    let before = records().await;
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.write_file("/lost", b"lost", parents()).unwrap();
    assert!(bounded("a commit whose upload fails", tx.commit())
        .await
        .is_err());
    assert_eq!(
        records().await,
        before,
        "no record for data that never landed"
    );
    assert!(!exists(&w, "/lost"));
    assert_eq!(w.seq(), seq);

    failing.clear_rules();
    write(&w, "/after", b"after").await.unwrap();
    assert!(exists(&w, "/slow") && exists(&w, "/after") && !exists(&w, "/lost"));
}

/// The first transaction of a group is applied to the database while its record is written; a
/// transaction after it in the same group is checked against the database with the first one in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_sees_the_transaction_applied_before_it() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let before = w.seq();
    w.commits.hold();
    let commits: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            // Both start from the same state, without /shared; each makes it.
            let mut tx = Txn::begin(w.clone()).unwrap();
            tx.write_file(&format!("/shared/{name}"), name.as_bytes(), parents())
                .unwrap();
            tx
        })
        .map(|tx| tokio::spawn(tx.commit()))
        .collect();
    bounded("both transactions queued", async {
        while w.commits.queued() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    w.commits.release();
    // A third write starts the committer, which takes all three as one group.
    let third = bounded("the group", write(&w, "/c", b"c")).await.unwrap();
    let mut seqs = vec![third.seq];
    for c in commits {
        seqs.push(bounded("a transaction", c).await.unwrap().unwrap().seq);
    }
    assert_eq!(seqs, vec![before + 1; 3], "one commit for the three");
    assert_eq!(read(&w, "/shared/a").await.unwrap(), b"a");
    assert_eq!(read(&w, "/shared/b").await.unwrap(), b"b");
    let cold = tempfile::tempdir().unwrap();
    let r = mount(&store, &cold, "r", false).await;
    assert_eq!(read(&r, "/shared/b").await.unwrap(), b"b");
    assert!(exists(&r, "/shared/a") && exists(&r, "/c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_each_commit_everything() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let w = w.clone();
            tokio::spawn(async move {
                let mut tx = Txn::begin(w.clone())?;
                for i in 0..50 {
                    tx.write_file(
                        &format!("/t{t}/f{i}"),
                        format!("{t}-{i}").as_bytes(),
                        parents(),
                    )?;
                    if i % 10 == 0 {
                        write(&w, &format!("/m{t}/f{i}"), b"m").await?;
                    }
                }
                tx.commit().await
            })
        })
        .collect();
    for t in tasks {
        bounded("a transaction", t).await.unwrap().unwrap();
    }
    for t in 0..8 {
        assert_eq!(
            read(&w, &format!("/t{t}/f49")).await.unwrap(),
            format!("{t}-49").as_bytes()
        );
        assert!(exists(&w, &format!("/m{t}/f40")));
    }
}

/// Where a big transaction's time goes (run by hand: `cargo test --release --no-default-features
/// -- --ignored --nocapture stage_cost`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn stage_cost() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/bench/keep", b"k").await.unwrap();
    let data = vec![7u8; 1024];
    let mut tx = Txn::begin(w.clone()).unwrap();
    let t = std::time::Instant::now();
    for i in 0..10_000 {
        tx.write_file(&format!("/bench/f{i}"), &data, WriteOptions::default())
            .unwrap();
    }
    let staged = t.elapsed();
    let t = std::time::Instant::now();
    tx.commit().await.unwrap();
    println!(
        "stage {:?} ({:?}/file), commit {:?}",
        staged,
        staged / 10_000,
        t.elapsed()
    );
}

fn rss_line(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a transaction of many small files costs the engine, without JS: time per write and memory.
/// By hand: `FILES=1000000 cargo test --release --no-default-features many_files_in_one_transaction -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn many_files_in_one_transaction() {
    let n: usize = std::env::var("FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    eprintln!("before: {} {}", rss_line("VmRSS"), rss_line("RssAnon"));
    let mut tx = Txn::begin(w.clone()).unwrap();
    let start = std::time::Instant::now();
    for d in 0..n.div_ceil(1000) {
        tx.mkdir(&format!("/d{d}"), false).unwrap();
    }
    for i in 0..n {
        let body = format!("file {i} {}", "x".repeat(90));
        tx.write_file(
            &format!("/d{}/f{i}", i / 1000),
            body.as_bytes(),
            WriteOptions::default(),
        )
        .unwrap();
        if tx.needs_drain() {
            tx.uploads().wait_below(STAGED_BYTES_MAX).await.unwrap();
        }
    }
    let loop_time = start.elapsed();
    eprintln!(
        "{n} writes: {:.2} µs each; after: {} {}",
        loop_time.as_secs_f64() * 1e6 / n as f64,
        rss_line("VmRSS"),
        rss_line("RssAnon")
    );
    let start = std::time::Instant::now();
    tx.commit().await.unwrap();
    eprintln!(
        "commit {:.2} s; after: {} {}",
        start.elapsed().as_secs_f64(),
        rss_line("VmHWM"),
        rss_line("RssAnon")
    );
    drop(w);
    // Peak RSS from here (Linux: writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = rss_line("VmRSS");
    let start = std::time::Instant::now();
    let r = mount(&store, &dir, "cold", false).await;
    eprintln!(
        "a cold reader replaying the record: open {:.2} s; {before} before, peak {}",
        start.elapsed().as_secs_f64(),
        rss_line("VmHWM")
    );
    assert!(exists(&r, &format!("/d0/f{}", n.min(999) - 1)));
    // A different file each call, spread over all of them.
    let stats: usize = std::env::var("STATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let paths: Vec<String> = (0..stats)
        .map(|k| (k * 7919) % n)
        .map(|i| format!("/d{}/f{i}", i / 1000))
        .collect();
    let start = std::time::Instant::now();
    for p in &paths {
        r.stat(p, true).unwrap();
    }
    eprintln!(
        "stat among {n} files: {:.2} µs each",
        start.elapsed().as_secs_f64() * 1e6 / paths.len() as f64
    );
    // A snapshot of it all, built and encoded as the writer does every `snapshotEvery` commits, then
    // decoded and imported as a reader opening from it does: time and peak RSS of each.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (before, start) = (rss_line("VmRSS"), std::time::Instant::now());
    let body = r
        .with_read(|c| crate::namespace::snapshot::export(c, r.seq(), None))
        .unwrap()
        .encode();
    eprintln!(
        "snapshot built: {:.2} s, {} bytes; {before} before, peak {}",
        start.elapsed().as_secs_f64(),
        body.len(),
        rss_line("VmHWM")
    );
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (before, start) = (rss_line("VmRSS"), std::time::Instant::now());
    let conn = crate::namespace::open(&dir.path().join("imported.db")).unwrap();
    let snap = crate::namespace::snapshot::Snapshot::decode("s", &body).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    crate::namespace::snapshot::import(&conn, &snap).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    eprintln!(
        "snapshot imported: {:.2} s; {before} before, peak {}",
        start.elapsed().as_secs_f64(),
        rss_line("VmHWM")
    );
}
