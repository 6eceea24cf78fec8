//! History: time-travel mounts, diff, restore, checkpoints, and GC that keeps what history can reach.

use super::tests::{config, local_bucket, mount, read, tree, write};
use super::*;

/// Every path with its kind and (for files) contents.
async fn state(m: &Arc<Mount>) -> Vec<(String, Kind, Vec<u8>)> {
    let mut out = Vec::new();
    for (p, k) in tree(m) {
        let bytes = if k == Kind::File {
            read(m, &format!("/{p}")).await.unwrap()
        } else {
            Vec::new()
        };
        out.push((p, k, bytes));
    }
    out
}

async fn mount_at(store: &DynObjectStore, name: &str, at: At) -> FsResult<Arc<Mount>> {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), name, false);
    c.at = Some(at);
    // The temp dir may go: a time-travel mount is rebuilt from the bucket at every open anyway.
    let m = Mount::open(store.clone(), c).await;
    std::mem::forget(dir);
    m
}

/// A random history of writes, overwrites, renames, removes and directory moves; the state after
/// each commit, by seq.
async fn random_history(
    w: &Arc<Mount>,
    commits: usize,
    seed: u64,
) -> Vec<Vec<(String, Kind, Vec<u8>)>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut states = vec![state(w).await];
    for i in 0..commits {
        let a = format!("/d{}/f{}", rng.usize(..3), rng.usize(..4));
        let b = format!("/d{}/f{}", rng.usize(..3), rng.usize(..4));
        let r = match rng.usize(..6) {
            0 | 1 => write(w, &a, format!("v{i}").repeat(rng.usize(1..50)).as_bytes()).await,
            2 => w.write(Box::new(move |t| t.rename(&a, &b))).await,
            3 => w.write(Box::new(move |t| t.rm(&a, false, true))).await,
            4 => {
                let (x, y) = (
                    format!("/d{}", rng.usize(..3)),
                    format!("/d{}", rng.usize(3..5)),
                );
                w.write(Box::new(move |t| t.rename(&x, &y))).await
            }
            _ => write(w, &a, &vec![i as u8; (2 << 20) + i]).await,
        };
        if r.is_ok_and(|c| c.committed) {
            states.push(state(w).await);
        }
        assert_eq!(states.len() as u64, w.seq() + 1);
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_commit_can_be_mounted_diffed_and_restored() {
    let (dir, store) = local_bucket();
    let mut c = config(dir.path(), "w", true);
    c.snapshot_every = 7;
    let w = Mount::open(store.clone(), c).await.unwrap();
    let states = random_history(&w, 40, 7).await;
    let head = w.seq();
    for (seq, expected) in states.iter().enumerate() {
        let m = mount_at(&store, &format!("at{seq}"), At::Seq(seq as u64))
            .await
            .unwrap();
        assert_eq!(&state(&m).await, expected, "tree at seq {seq}");
        assert_eq!(m.seq(), seq as u64);
        assert!(
            m.write(Box::new(|t| t.mkdir("/x", false))).await.is_err(),
            "readonly"
        );
        m.close();
    }
    assert!(mount_at(&store, "future", At::Seq(head + 1)).await.is_err());

    // Diff: what differs between two states is exactly what the model says.
    let paths = |s: &Vec<(String, Kind, Vec<u8>)>| -> std::collections::BTreeMap<String, Vec<u8>> {
        s.iter()
            .map(|(p, _, b)| (format!("/{p}"), b.clone()))
            .collect()
    };
    for from in [0usize, 5, 17, head as usize - 1] {
        let changes = w.diff(At::Seq(from as u64), None, None).await.unwrap();
        let (a, b) = (paths(&states[from]), paths(&states[head as usize]));
        for (p, bytes) in &b {
            let listed = changes.iter().any(|c| &c.path == p);
            let differs = a.get(p) != Some(bytes);
            // A path inside a renamed directory is covered by the directory's own entry.
            let covered = changes
                .iter()
                .any(|c| c.change == ChangeKind::Renamed && p.starts_with(&format!("{}/", c.path)));
            assert!(
                !differs || listed || covered,
                "{p} changed since {from} but is not in the diff"
            );
        }
        for p in a.keys().filter(|p| !b.contains_key(*p)) {
            let gone = changes.iter().any(|c| {
                &c.path == p
                    || c.from_path.as_deref() == Some(p.as_str())
                    || c.from_path
                        .as_ref()
                        .is_some_and(|f| p.starts_with(&format!("{f}/")))
            });
            assert!(gone, "{p} is gone since {from} but not in the diff");
        }
    }

    // Restore a subtree, then the whole tree, as new commits.
    let target = 12usize;
    let c = w
        .restore(At::Seq(target as u64), Some(vec!["/d1".into()]))
        .await
        .unwrap();
    assert_eq!(c.seq, head + 1);
    let now = state(&w).await;
    let sub = |s: &Vec<(String, Kind, Vec<u8>)>| {
        s.iter()
            .filter(|(p, _, _)| p == "d1" || p.starts_with("d1/"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(sub(&now), sub(&states[target]));
    // A path that is neither there then nor now (under a file, even) restores to nothing, changing nothing.
    write(&w, "/a-file", b"f").await.unwrap();
    w.restore(At::Seq(target as u64), Some(vec!["/a-file/below".into()]))
        .await
        .unwrap();
    assert_eq!(read(&w, "/a-file").await.unwrap(), b"f");
    w.restore(At::Seq(target as u64), None).await.unwrap();
    assert_eq!(state(&w).await, states[target]);
    assert!(w
        .diff(At::Seq(target as u64), None, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_name_commits_and_keep_them_from_gc() {
    let (dir, store) = local_bucket();
    let w = mount(&store, &dir, "w", true).await;
    write(&w, "/a", &vec![1u8; 3 << 20]).await.unwrap();
    write(&w, "/small", b"one").await.unwrap();
    let cp = w
        .checkpoint("before", Some("known good".into()))
        .await
        .unwrap();
    assert_eq!(cp.seq, 2);
    assert_eq!(
        w.checkpoint("before", None).await.unwrap_err().code,
        "EEXIST"
    );
    assert_eq!(w.checkpoint("../x", None).await.unwrap_err().code, "EINVAL");
    write(&w, "/a", &vec![2u8; 3 << 20]).await.unwrap();
    w.write(Box::new(|t| t.rm("/small", false, false)))
        .await
        .unwrap();
    for i in 0..5 {
        write(&w, "/churn", format!("{i}").as_bytes())
            .await
            .unwrap();
    }

    let report = w.gc(0, false, Default::default()).await.unwrap();
    assert!(report.deleted > 0, "the churn is collectable");
    let m = mount_at(&store, "cp", At::Checkpoint("before".into()))
        .await
        .unwrap();
    assert_eq!(read(&m, "/a").await.unwrap(), vec![1u8; 3 << 20]);
    assert_eq!(read(&m, "/small").await.unwrap(), b"one");
    assert_eq!(m.fsck().await.unwrap().ok, true);
    m.close();
    let listed = w.checkpoints().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message.as_deref(), Some("known good"));

    // Deleting the checkpoint lets GC reclaim what only it held.
    w.delete_checkpoint("before").await.unwrap();
    assert_eq!(
        w.delete_checkpoint("before").await.unwrap_err().code,
        "ENOENT"
    );
    let report = w.gc(0, false, Default::default()).await.unwrap();
    assert!(
        report.deleted_keys.iter().any(|k| k.starts_with("chunks/")),
        "{report:?}"
    );
    // Without a snapshot its metadata still rebuilds (the head needs those records), but its bytes are gone.
    let m = mount_at(&store, "cp2", At::Seq(2)).await.unwrap();
    assert!(read(&m, "/a").await.is_err());
    assert_eq!(read(&w, "/a").await.unwrap(), vec![2u8; 3 << 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_window_keeps_recent_commits_readable() {
    let (dir, store) = local_bucket();
    let mut c = config(dir.path(), "w", true);
    c.snapshot_every = 3;
    let w = Mount::open(store.clone(), c).await.unwrap();
    for i in 0..10u8 {
        write(&w, "/f", &vec![i; 2 << 20]).await.unwrap();
    }
    let keep = KeepHistory { commits: 4, ms: 0 };
    w.gc(0, false, keep).await.unwrap();
    for seq in 6..=10u64 {
        let m = mount_at(&store, &format!("k{seq}"), At::Seq(seq))
            .await
            .unwrap();
        assert_eq!(
            read(&m, "/f").await.unwrap(),
            vec![(seq - 1) as u8; 2 << 20],
            "seq {seq}"
        );
        m.close();
    }
    assert!(
        mount_at(&store, "k2", At::Seq(2)).await.is_err(),
        "outside the window"
    );
    let keep_ms = KeepHistory {
        commits: 0,
        ms: 60_000,
    };
    write(&w, "/f", b"new").await.unwrap();
    w.gc(0, false, keep_ms).await.unwrap();
    let m = mount_at(&store, "k7", At::Seq(7)).await.unwrap();
    assert_eq!(read(&m, "/f").await.unwrap(), vec![6u8; 2 << 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_share_data_evolve_apart_and_outlive_the_source_gc() {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &str| -> DynObjectStore {
        Arc::new(
            crate::store::LocalObjectStore::with_prefix(root.path().join("bucket"), p).unwrap(),
        )
    };
    let (src, dir) = (at("ws/src"), tempfile::tempdir().unwrap());
    let w = mount(&src, &dir, "src", true).await;
    write(&w, "/big", &vec![5u8; 9 << 20]).await.unwrap();
    write(&w, "/docs/a.txt", b"a1").await.unwrap();
    let before = state(&w).await;
    write(&w, "/docs/a.txt", b"a2").await.unwrap();

    assert_eq!(
        fork(src.clone(), None, "ws/src").await.unwrap_err().code,
        "EINVAL"
    );
    assert_eq!(
        fork(at("ws/none"), None, "ws/x").await.unwrap_err().code,
        "ENOENT"
    );
    let f = fork(src.clone(), Some(At::Seq(2)), "ws/fork")
        .await
        .unwrap();
    assert_eq!(f.from_seq, 2);
    assert_eq!(
        fork(src.clone(), None, "ws/fork").await.unwrap_err().code,
        "EEXIST"
    );
    let fork_store = at("ws/fork");
    for p in ["packs/", "chunks/"] {
        assert!(
            fork_store
                .list(p, None, None)
                .await
                .unwrap()
                .objects
                .is_empty(),
            "no {p} copied"
        );
    }
    let fd = tempfile::tempdir().unwrap();
    let fw = mount(&fork_store, &fd, "fork", true).await;
    assert_eq!(
        state(&fw).await,
        before,
        "the fork starts at seq 2 of the source"
    );

    // Both evolve; each sees only its own writes.
    write(&fw, "/docs/a.txt", b"fork").await.unwrap();
    write(&fw, "/only-fork", b"f").await.unwrap();
    write(&w, "/only-src", b"s").await.unwrap();
    assert!(w.with_read(|c| Ok(!meta::exists(c, "/only-fork"))).unwrap());
    assert!(fw.with_read(|c| Ok(!meta::exists(c, "/only-src"))).unwrap());
    assert_eq!(read(&w, "/docs/a.txt").await.unwrap(), b"a2");

    // The source empties itself and collects: the fork still reads everything it shares.
    w.write(Box::new(|t| t.rm("/big", false, false)))
        .await
        .unwrap();
    w.write(Box::new(|t| t.rm("/docs", true, false)))
        .await
        .unwrap();
    w.gc(0, false, Default::default()).await.unwrap();
    w.gc(0, false, Default::default()).await.unwrap();
    fw.close();
    let cold = tempfile::tempdir().unwrap();
    let fr = mount(&fork_store, &cold, "fork-cold", false).await;
    assert_eq!(read(&fr, "/big").await.unwrap(), vec![5u8; 9 << 20]);
    assert_eq!(read(&fr, "/docs/a.txt").await.unwrap(), b"fork");
    assert!(fr.fsck().await.unwrap().ok);

    // A fork of the fork reads through both.
    fork(fork_store.clone(), None, "ws/grandchild")
        .await
        .unwrap();
    let gd = tempfile::tempdir().unwrap();
    let g = mount(&at("ws/grandchild"), &gd, "g", false).await;
    assert_eq!(read(&g, "/big").await.unwrap(), vec![5u8; 9 << 20]);
    assert_eq!(read(&g, "/only-fork").await.unwrap(), b"f");
    assert!(g.fsck().await.unwrap().ok);

    // Released, the source's GC may take what only the fork held.
    w.release_fork(&f.id).await.unwrap();
    assert_eq!(w.release_fork(&f.id).await.unwrap_err().code, "ENOENT");
    let report = w.gc(0, false, Default::default()).await.unwrap();
    assert!(
        report.deleted_keys.iter().any(|k| k.starts_with("chunks/")),
        "{report:?}"
    );
}
