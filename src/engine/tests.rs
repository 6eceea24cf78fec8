//! Engine tests without JS: commits, readers, fencing, rebuild, and faults between protocol steps.

use super::*;
use crate::store::{
    FailAction, FailRule, FailingObjectStore, LocalObjectStore, RequestKind, StoreError,
};
use std::time::Duration;

pub(super) fn config(dir: &std::path::Path, name: &str, readwrite: bool) -> MountConfig {
    MountConfig {
        name: name.into(),
        readwrite,
        cache_root: dir.join("cache"),
        cache_bytes: 64 << 20,
        store_id: "test".into(),
        snapshot_every: 1000,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        at: None,
    }
}

/// A bucket (a LocalObjectStore) in a fresh temp dir.
pub(super) fn local_bucket() -> (tempfile::TempDir, DynObjectStore) {
    let dir = tempfile::tempdir().unwrap();
    let store: DynObjectStore = Arc::new(LocalObjectStore::new(dir.path().join("bucket")).unwrap());
    (dir, store)
}

/// A mount of `store` with local state under `dir` (see `config`).
pub(super) async fn mount(
    store: &DynObjectStore,
    dir: &tempfile::TempDir,
    name: &str,
    readwrite: bool,
) -> Arc<Mount> {
    Mount::open(store.clone(), config(dir.path(), name, readwrite))
        .await
        .unwrap()
}

pub(super) async fn write(m: &Arc<Mount>, path: &str, data: &[u8]) -> FsResult<CommitInfo> {
    let (p, d) = (path.to_string(), data.to_vec());
    m.write(Box::new(move |tx| {
        tx.write_file(
            &p,
            &d,
            WriteOptions {
                create_parents: true,
                ..Default::default()
            },
        )
    }))
    .await
}

pub(super) async fn read(m: &Arc<Mount>, path: &str) -> FsResult<Vec<u8>> {
    let node = m.with_read(|c| meta::file_inode(c, path, "open"))?;
    m.read_range(node.extents()?, node.size, 0, node.size).await
}

/// The next head PUT fails (after the WAL record is written).
pub(super) fn fail_next_head_put(failing: &FailingObjectStore) {
    failing.add_rule(FailRule {
        kinds: vec![RequestKind::Put],
        key_contains: Some("heads/".into()),
        times: Some(1),
        ..FailRule::new(FailAction::Error(StoreError::other(
            "put",
            "heads/main.json",
            "injected",
        )))
    });
}

pub(super) fn tree(m: &Mount) -> Vec<(String, Kind)> {
    let mut t = m.with_read(|c| meta::readdir(c, "/", true)).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_remount_and_rebuild() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    assert_eq!(write(&w, "/a/b.txt", b"hello").await.unwrap().seq, 1);
    write(&w, "/a/big.bin", &vec![7u8; 3 << 20]).await.unwrap();
    let mut tx = Txn::begin(w.clone()).unwrap();
    tx.mkdir("/d", false).unwrap();
    tx.write_file("/d/x", b"x", WriteOptions::default())
        .unwrap();
    tx.rename("/a/b.txt", "/d/b.txt").unwrap();
    assert_eq!(tx.commit().await.unwrap().seq, 3);
    assert_eq!(read(&w, "/d/b.txt").await.unwrap(), b"hello");
    assert_eq!(read(&w, "/a/big.bin").await.unwrap().len(), 3 << 20);
    let before = tree(&w);
    w.close();
    drop(w);

    // An empty cacheRoot rebuilds the same tree from the bucket.
    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    let r = mount(&store, &dir, "r", false).await;
    assert_eq!(tree(&r), before);
    assert_eq!(read(&r, "/d/b.txt").await.unwrap(), b"hello");
    assert_eq!(r.seq(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_whole_transactions_and_idle_refresh_is_one_get() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/f", b"1").await.unwrap();
    let r = mount(&store, &dir, "r", false).await;
    assert!(r.with_read(|c| Ok(meta::exists(c, "/f"))).unwrap());
    r.reset_request_counts();
    assert_eq!(r.refresh().await.unwrap(), RefreshOutcome::Unchanged);
    let c = r.stats().requests;
    assert_eq!((c.get, c.list, c.total()), (1, 0, 1));

    let mut tx = Txn::begin(w.clone()).unwrap();
    for i in 0..50 {
        tx.write_file(
            &format!("/t/{i}"),
            b"v",
            WriteOptions {
                create_parents: true,
                ..Default::default()
            },
        )
        .unwrap();
    }
    // Not visible to the writer's own readers, nor remotely, before commit.
    assert!(!w.with_read(|c| Ok(meta::exists(c, "/t/0"))).unwrap());
    assert_eq!(r.refresh().await.unwrap(), RefreshOutcome::Unchanged);
    tx.commit().await.unwrap();
    assert_eq!(
        r.refresh().await.unwrap(),
        RefreshOutcome::Advanced { from: 1, to: 2 }
    );
    assert_eq!(
        r.with_read(|c| meta::readdir(c, "/t", false))
            .unwrap()
            .len(),
        50
    );
    assert_eq!(write(&r, "/x", b"no").await.unwrap_err().code, "EROFS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_writer_fences_the_old_one() {
    let (dir, store) = local_bucket();
    let w1 = mount(&store, &dir, "w1", true).await;
    write(&w1, "/one", b"1").await.unwrap();
    let w2 = mount(&store, &dir, "w2", true).await;
    assert!(w2.epoch() > w1.epoch());
    let err = write(&w1, "/late", b"late").await.unwrap_err();
    assert_eq!(err.code, "EFENCED");
    assert_eq!(
        write(&w1, "/later", b"x").await.unwrap_err().code,
        "EFENCED"
    );
    write(&w2, "/two", b"2").await.unwrap();
    let r = mount(&store, &dir, "r", false).await;
    let names: Vec<_> = tree(&r).into_iter().map(|t| t.0).collect();
    assert_eq!(names, vec!["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_between_steps_leave_a_committed_state() {
    let (dir, local) = local_bucket();
    let failing = Arc::new(FailingObjectStore::new(local.clone(), 3));
    let w = mount(&(failing.clone() as DynObjectStore), &dir, "w", true).await;
    write(&w, "/keep", b"1").await.unwrap();

    // The head PUT fails after the WAL record is written: nothing becomes visible.
    fail_next_head_put(&failing);
    assert!(write(&w, "/lost", b"2").await.is_err());
    assert!(!w.with_read(|c| Ok(meta::exists(c, "/lost"))).unwrap());
    let r = mount(&local, &dir, "r1", false).await;
    assert!(!r.with_read(|c| Ok(meta::exists(c, "/lost"))).unwrap());

    // The head PUT happens but its response is lost: the commit stands, acknowledged.
    failing.add_rule(FailRule {
        kinds: vec![RequestKind::Put],
        key_contains: Some("heads/".into()),
        times: Some(1),
        ..FailRule::new(FailAction::LostResponse)
    });
    write(&w, "/ambiguous", b"3").await.unwrap();
    write(&w, "/after", b"4").await.unwrap();
    assert_eq!(
        r.refresh().await.unwrap(),
        RefreshOutcome::Advanced { from: 1, to: 3 }
    );
    assert_eq!(read(&r, "/ambiguous").await.unwrap(), b"3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_bound_catch_up_and_divergence_rebuilds() {
    let (dir, store) = local_bucket();
    let mut cfg = config(dir.path(), "w", true);
    cfg.snapshot_every = 10;
    let w = Mount::open(store.clone(), cfg).await.unwrap();
    for i in 0..25 {
        write(&w, &format!("/f{i}"), format!("{i}").as_bytes())
            .await
            .unwrap();
    }
    let listed = crate::store::ObjectStore::list(store.as_ref(), "snapshots/", None, None)
        .await
        .unwrap()
        .objects
        .len();
    assert_eq!(listed, 2);
    let r = mount(&store, &dir, "fresh", false).await;
    assert_eq!(r.seq(), 25);
    assert_eq!(tree(&r).len(), 25);
    assert_eq!(read(&r, "/f24").await.unwrap(), b"24");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_are_node_style_and_change_nothing() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/dir/file", b"x").await.unwrap();
    let seq = w.seq();
    let mut tx = Txn::begin(w.clone()).unwrap();
    let code = |r: FsResult<()>| r.unwrap_err().code;
    assert_eq!(code(tx.mkdir("/dir", false)), "EEXIST");
    assert_eq!(code(tx.mkdir("/dir/file/sub", true)), "ENOTDIR");
    assert_eq!(
        code(tx.write_file("/missing/f", b"", WriteOptions::default())),
        "ENOENT"
    );
    assert_eq!(
        code(tx.write_file("/dir", b"", WriteOptions::default())),
        "EISDIR"
    );
    assert_eq!(code(tx.rm("/dir", false, false)), "EISDIR");
    assert_eq!(code(tx.rm("/", true, false)), "EINVAL");
    assert_eq!(code(tx.rename("/dir", "/dir/inner")), "EINVAL");
    assert_eq!(code(tx.rename("/nope", "/x")), "ENOENT");
    assert_eq!(
        code(tx.write_file("/a\0b", b"", WriteOptions::default())),
        "EINVAL"
    );
    assert_eq!(
        tx.commit().await.unwrap(),
        CommitInfo {
            seq,
            committed: false
        }
    );
    assert_eq!(w.seq(), seq);
    let e = w.with_read(|c| meta::stat(c, "/nope/x", true)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ENOENT: no such file or directory, stat '/nope/x'"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_reclaims_after_grace_and_spares_readers_meanwhile() {
    let (dir, store) = local_bucket();
    let mut cfg = config(dir.path(), "w", true);
    cfg.snapshot_every = 4;
    let w = Mount::open(store.clone(), cfg).await.unwrap();
    write(&w, "/big", &vec![1u8; 9 << 20]).await.unwrap();
    write(&w, "/small", b"old").await.unwrap();
    let r = mount(&store, &dir, "r", false).await;
    for i in 0..6 {
        write(&w, "/small", format!("v{i}").as_bytes())
            .await
            .unwrap();
    }
    w.write(Box::new(|tx| tx.rm("/big", false, false)))
        .await
        .unwrap();
    let bytes_before: u64 = store
        .list("", None, None)
        .await
        .unwrap()
        .objects
        .iter()
        .map(|o| o.size)
        .sum();

    // First pass marks; with a long grace nothing goes, and the old reader still reads its version.
    let first = w.gc(60_000, false, Default::default()).await.unwrap();
    assert!(first.pending > 0);
    assert_eq!(first.deleted, 0);
    assert_eq!(read(&r, "/big").await.unwrap().len(), 9 << 20);
    assert_eq!(read(&r, "/small").await.unwrap(), b"old");

    // Past the grace period the garbage goes.
    let second = w.gc(0, false, Default::default()).await.unwrap();
    assert!(
        second.deleted > 0 && second.bytes_freed >= 9 << 20,
        "{second:?}"
    );
    let bytes_after: u64 = store
        .list("", None, None)
        .await
        .unwrap()
        .objects
        .iter()
        .map(|o| o.size)
        .sum();
    assert!(bytes_after + (9 << 20) <= bytes_before);
    // The reader catches up (from the snapshot, its old records being gone) and reads the new state.
    r.refresh().await.unwrap();
    assert_eq!(read(&r, "/small").await.unwrap(), b"v5");
    // A fresh mount rebuilds the same tree; fsck finds everything.
    let fresh = mount(&store, &dir, "fresh", false).await;
    assert_eq!(tree(&fresh), tree(&w));
    assert!(fresh.fsck().await.unwrap().ok);
    assert!(w.log(100).await.unwrap().len() >= 1);
}

/// `stat` remembers directories it resolved through; a rename, a removal or a refresh that changes them
/// must not leave it answering from the old tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_never_answers_from_a_directory_that_moved() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let r = mount(&store, &dir, "r", false).await;
    write(&w, "/d/sub/f", b"1").await.unwrap();
    r.refresh().await.unwrap();
    for m in [&w, &r] {
        assert_eq!(m.stat("/d/sub/f", true).unwrap().size, 1);
    }
    w.write(Box::new(|tx| tx.rename("/d", "/e"))).await.unwrap();
    write(&w, "/d/sub/f", b"22").await.unwrap();
    assert_eq!(
        w.stat("/d/sub/f", true).unwrap().size,
        2,
        "a new /d, not the moved one"
    );
    assert_eq!(w.stat("/e/sub/f", true).unwrap().size, 1);
    assert_eq!(
        r.stat("/d/sub/f", true).unwrap().size,
        1,
        "the reader keeps its view until it refreshes"
    );
    r.refresh().await.unwrap();
    assert_eq!(r.stat("/d/sub/f", true).unwrap().size, 2);
    assert_eq!(r.stat("/e/sub/f", true).unwrap().size, 1);
    w.write(Box::new(|tx| tx.rm("/e", true, false)))
        .await
        .unwrap();
    assert_eq!(w.stat("/e/sub/f", true).unwrap_err().code, "ENOENT");
    r.refresh().await.unwrap();
    assert_eq!(r.stat("/e/sub", true).unwrap_err().code, "ENOENT");
}

/// A chunk's blocks are checked one by one as they arrive, so a read of part of a large file never
/// returns damaged bytes (before block hashes, only a read of a whole chunk was checked), and the cache
/// keeps each block under the hash it was checked against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_block_of_a_chunk_is_checked_as_it_arrives() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    let data: Vec<u8> = (0..(3u32 << 20) + 5)
        .map(|i| (i * 13 + i / 4099) as u8)
        .collect();
    write(&w, "/big.bin", &data).await.unwrap();
    let extents = w
        .with_read(|c| meta::file_inode(c, "/big.bin", "open"))
        .unwrap()
        .extents()
        .unwrap();
    assert_eq!(extents.len(), 1);
    assert_eq!(extents[0].blocks.len(), 7, "one hash per 512 KiB block");
    assert!(extents[0].checked_blocks().is_some());
    w.close();
    drop(w);

    // Damage block 5 of the chunk in the bucket.
    let obj = dir.path().join("bucket").join(&extents[0].key);
    let mut stored = std::fs::read(&obj).unwrap();
    stored[5 * BLOCK_SIZE as usize + 77] ^= 0x40;
    std::fs::write(&obj, &stored).unwrap();

    let r = mount(&store, &dir, "r", false).await;
    let part = |a: u64, b: u64| r.read_range(extents.clone(), data.len() as u64, a, b - a);
    let mb = 1u64 << 20;
    assert_eq!(part(0, mb).await.unwrap(), data[..1 << 20]);
    let err = part(2 * mb + mb / 4, 2 * mb + 3 * mb / 4)
        .await
        .unwrap_err();
    assert_eq!(err.code, "ECORRUPT");
    assert!(err.to_string().contains("do not match"), "{err}");
    let err = r
        .read_range(extents.clone(), data.len() as u64, 0, data.len() as u64)
        .await;
    assert_eq!(err.unwrap_err().code, "ECORRUPT", "the whole file too");

    // The blocks that arrived intact are cached under their block hash, and read back from there.
    r.flush_cache_writes();
    let checked = std::fs::read_dir(dir.path().join("cache/r/blocks"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains('@')
        })
        .count();
    assert!(
        checked >= 2,
        "{checked} blocks cached with their block hash"
    );
    let hits = r.cache.stats().hits;
    assert_eq!(part(0, mb).await.unwrap(), data[..1 << 20]);
    assert!(r.cache.stats().hits > hits);
}

/// Inode numbers are not handed out again after a delete, also by a writer whose local state was
/// rebuilt by replaying the records that made and removed them (`diff` tells a rename by its inode).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inode_numbers_are_not_reused_after_a_replayed_delete() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/x", b"1").await.unwrap();
    let old = w.stat("/x", true).unwrap().ino;
    w.write(Box::new(|tx| tx.rm("/x", false, false)))
        .await
        .unwrap();
    w.close();
    drop(w);
    // Local state of its own: it replays both records.
    let w2 = mount(&store, &dir, "w2", true).await;
    write(&w2, "/y", b"2").await.unwrap();
    assert!(w2.stat("/y", true).unwrap().ino > old);
}
