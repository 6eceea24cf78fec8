//! Property tests (bounded, run by `cargo test`): the path normaliser and the decoders of everything
//! read back from the bucket must never panic, whatever bytes they get.

use crate::namespace::snapshot::Snapshot;
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
        let _ = serde_json::from_slice::<Snapshot>(&bytes);
    }

    #[test]
    fn json_shaped_garbage_is_refused_not_trusted(seq in any::<u64>(), junk in "[ -~]{0,64}") {
        let text = format!(r#"{{"v":1,"seq":{seq},"epoch":1,"prev":null,"prev_hash":null,"time_ms":0,"bytes":0,"ops":[{{"op":"{junk}"}}]}}"#);
        prop_assert!(Record::decode("wal/x", text.as_bytes()).is_err());
    }
}
