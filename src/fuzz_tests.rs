//! Property tests (bounded, run by `cargo test`): the path normaliser and the decoders of everything
//! read back from the bucket must never panic, whatever bytes they get.

use crate::namespace::snapshot::{Snapshot, SnapshotInode};
use crate::namespace::{Extent, Op};
use crate::path::{normalize, MAX_NAME_BYTES, MAX_PATH_BYTES};
use crate::protocol::head::Head;
use crate::protocol::record::Record;
use proptest::prelude::*;

fn path_like() -> impl Strategy<Value = String> {
    let comp = prop_oneof![
        Just("".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        "[a-z]{1,8}",
        "[^/]{1,20}",
        Just("x".repeat(300)),
        Just("a\0b".to_string()),
    ];
    (any::<bool>(), proptest::collection::vec(comp, 0..12)).prop_map(|(abs, parts)| {
        let p = parts.join("/");
        if abs {
            format!("/{p}")
        } else {
            p
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn normalised_paths_are_clean_confined_and_stable(raw in path_like()) {
        match normalize(&raw, "stat") {
            Ok(p) => {
                for part in &p.parts {
                    prop_assert!(!part.is_empty() && part != "." && part != ".." && !part.contains('/') && !part.contains('\0'));
                    prop_assert!(part.len() <= MAX_NAME_BYTES);
                }
                let shown = p.to_string();
                prop_assert!(shown.starts_with('/'));
                prop_assert!(shown.len() <= MAX_PATH_BYTES);
                prop_assert_eq!(normalize(&shown, "stat").unwrap(), p);
            }
            Err(e) => prop_assert!(["EINVAL", "ENOENT", "ENAMETOOLONG"].contains(&e.code.as_str())),
        }
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Record::decode("wal/x", &bytes);
        let _ = Head::decode(&bytes);
        read_whole(Snapshot::decode("snapshots/x", &bytes));
    }

    #[test]
    fn json_shaped_garbage_is_refused_not_trusted(seq in any::<u64>(), junk in "[ -~]{0,64}") {
        let text = format!(r#"{{"v":1,"seq":{seq},"epoch":1,"prev":null,"prev_hash":null,"time_ms":0,"bytes":0,"ops":[{{"op":"{junk}"}}]}}"#);
        prop_assert!(Record::decode("wal/x", text.as_bytes()).is_err());
    }

    #[test]
    fn compact_records_round_trip(ops in proptest::collection::vec(op(), 0..24), seq in any::<u64>(), time in any::<i64>()) {
        let r = Record { v: 3, seq, epoch: seq / 3, prev: Some("wal/p".into()), prev_hash: None, time_ms: time, bytes: 1, ops: ops.iter().collect() };
        prop_assert_eq!(Record::decode("wal/x", &r.encode()).unwrap(), r);
    }

    #[test]
    fn compact_snapshots_round_trip(inodes in proptest::collection::vec(inode(), 0..24), names in proptest::collection::vec(("[a-zé]{0,6}", any::<i64>()), 0..24)) {
        let mut dentries: Vec<(i64, String, i64)> = names.into_iter().map(|(n, i)| (i % 4, n, i)).collect();
        dentries.sort();
        let s = Snapshot::from_rows(3, 3, None, 9, inodes.clone(), dentries.clone());
        let back = Snapshot::decode("snapshots/x", &s.encode()).unwrap();
        prop_assert_eq!(&back, &s);
        prop_assert_eq!(back.tree.inodes().collect::<Result<Vec<_>, _>>().unwrap(), inodes);
        prop_assert_eq!(back.tree.entries().collect::<Result<Vec<_>, _>>().unwrap(), dentries);
    }

    /// Damage anywhere in a compact object (the envelope, the compressed body) is refused, never a panic.
    #[test]
    fn damaged_compact_objects_are_refused(ops in proptest::collection::vec(op(), 1..8), at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let r = Record { v: 3, seq: 1, epoch: 1, prev: None, prev_hash: None, time_ms: 0, bytes: 0, ops: ops.iter().collect() };
        let mut body = r.encode().to_vec();
        let i = at % body.len();
        if cut { body.truncate(i); } else { body[i] ^= byte | 1; }
        // A record's ops are decoded where they are used: damage there is an error too, not a panic.
        if let Ok(r) = Record::decode("wal/x", &body) {
            let _ = r.each_op().count();
        }
        read_whole(Snapshot::decode("snapshots/x", &body));
    }

    /// Valid compression around arbitrary bodies: the body decoders see every shape of garbage.
    #[test]
    fn garbage_bodies_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..256), tag in 1u8..3) {
        let sealed = crate::protocol::codec::seal(tag, 2, &[&bytes]);
        if let Ok(r) = Record::decode("wal/x", &sealed) {
            let _ = r.each_op().count();
        }
        read_whole(Snapshot::decode("snapshots/x", &sealed));
    }
}

/// A snapshot's rows are decoded where they are used: damage there is an error too, not a panic.
fn read_whole(s: crate::error::FsResult<Snapshot>) {
    if let Ok(s) = s {
        let _ = (
            s.tree.inodes().count(),
            s.tree.entries().count(),
            s.data_keys(),
        );
    }
}

fn extent() -> impl Strategy<Value = Extent> {
    (
        prop_oneof![
            Just("packs/a".to_string()),
            Just("packs/b".to_string()),
            "[a-z/]{1,12}"
        ],
        any::<u64>(),
        any::<u64>(),
        prop_oneof!["[0-9a-f]{64}", "[a-z]{0,8}"],
        proptest::collection::vec(any::<[u8; 32]>(), 0..3),
    )
        .prop_map(|(key, off, len, hash, blocks)| Extent {
            key,
            off,
            len,
            // Block hashes are kept only beside a digest (a hash kept as text has none).
            blocks: if hash.len() == 64 { blocks } else { Vec::new() },
            hash,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let name = "[^/]{0,10}";
    prop_oneof![
        (any::<i64>(), name, any::<i64>(), any::<u32>(), any::<i64>()).prop_map(
            |(parent, name, ino, mode, mtime)| Op::Mkdir {
                parent,
                name,
                ino,
                mode,
                mtime
            }
        ),
        (
            any::<i64>(),
            name,
            any::<i64>(),
            any::<u32>(),
            any::<i64>(),
            any::<u64>(),
            proptest::collection::vec(extent(), 0..3)
        )
            .prop_map(
                |(parent, name, ino, mode, mtime, size, extents)| Op::Create {
                    parent,
                    name,
                    ino,
                    mode,
                    mtime,
                    size,
                    extents
                }
            ),
        (
            any::<i64>(),
            any::<i64>(),
            any::<u64>(),
            proptest::collection::vec(extent(), 0..3)
        )
            .prop_map(|(ino, mtime, size, extents)| Op::SetContent {
                ino,
                mtime,
                size,
                extents
            }),
        (any::<i64>(), name, any::<i64>(), name, any::<i64>()).prop_map(
            |(parent, name, ino, target, mtime)| Op::Symlink {
                parent,
                name,
                ino,
                target,
                mtime
            }
        ),
        (any::<i64>(), name).prop_map(|(parent, name)| Op::Remove { parent, name }),
        (any::<i64>(), name, any::<i64>(), name).prop_map(
            |(parent, name, new_parent, new_name)| Op::Rename {
                parent,
                name,
                new_parent,
                new_name
            }
        ),
        (
            any::<i64>(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<i64>())
        )
            .prop_map(|(ino, mode, mtime)| Op::SetAttr { ino, mode, mtime }),
    ]
}

fn inode() -> impl Strategy<Value = SnapshotInode> {
    (
        any::<i64>(),
        any::<u8>(),
        any::<u32>(),
        any::<u64>(),
        any::<i64>(),
        any::<i64>(),
        proptest::option::of("[^/]{0,10}"),
        proptest::collection::vec(extent(), 0..3),
    )
        .prop_map(
            |(ino, kind, mode, size, mtime, ctime, target, extents)| SnapshotInode {
                ino,
                kind,
                mode,
                size,
                mtime,
                ctime,
                target,
                extents,
            },
        )
}
