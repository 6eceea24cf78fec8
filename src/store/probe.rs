//! The start-up probe (DESIGN.md invariant 5): does this store really enforce `If-None-Match: *` and
//! `If-Match`? Some S3 APIs (Backblaze B2, GCS) accept the headers and ignore them, which would let two
//! writers both "win". The probe writes under a scratch key, checks every case, and cleans up.

use super::*;
use tokio::task::JoinSet;

// Enough to catch a check-then-write store; SeaweedFS makes losers of a crowded race wait ~1 s each.
const RACERS: usize = 4;

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// A second create-only PUT of an existing key was refused.
    pub create_only_enforced: bool,
    /// A replace-if PUT with a stale ETag was refused.
    pub stale_replace_refused: bool,
    /// A replace-if PUT with the current ETag succeeded.
    pub current_replace_accepted: bool,
    /// Of concurrent create-only PUTs of one new key, exactly one won.
    pub create_race_single_winner: bool,
    pub race_winners: u32,
    /// All of the above.
    pub compliant: bool,
    /// What went wrong, in words.
    pub findings: Vec<String>,
}

pub async fn probe_conditional_writes(
    store: DynObjectStore,
    scratch_prefix: &str,
) -> StoreResult<ProbeReport> {
    let id = format!("{:016x}", fastrand::u64(..));
    let key = format!("{scratch_prefix}probe-{id}");
    let race_key = format!("{scratch_prefix}probe-{id}-race");
    let mut r = ProbeReport::default();
    let result = run_probe(&store, &key, &race_key, &mut r).await;
    let _ = store.delete_many(&[key, race_key]).await;
    result?;
    r.compliant = r.create_only_enforced
        && r.stale_replace_refused
        && r.current_replace_accepted
        && r.create_race_single_winner;
    Ok(r)
}

/// Whether a put of `body` took effect. A refusal is double-checked by reading the object back: with
/// retries, a refused second attempt may follow a first one that landed but lost its answer.
async fn wrote(
    store: &DynObjectStore,
    key: &str,
    body: &'static [u8],
    mode: PutMode,
) -> StoreResult<bool> {
    match store.put(key, Bytes::from_static(body), mode).await {
        Ok(_) => Ok(true),
        // If-Match on a missing key: AWS says 404, SeaweedFS 412; both are refusals.
        Err(StoreError::AlreadyExists { .. })
        | Err(StoreError::PreconditionFailed { .. })
        | Err(StoreError::NotFound { .. }) => match store.get_all(key).await {
            Ok(r) => Ok(r.data == body),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

const RACER_BODIES: [&[u8]; RACERS] = [b"racer-0", b"racer-1", b"racer-2", b"racer-3"];

async fn run_probe(
    store: &DynObjectStore,
    key: &str,
    race_key: &str,
    r: &mut ProbeReport,
) -> StoreResult<()> {
    if !wrote(store, key, b"probe-1", PutMode::Create).await? {
        return Err(StoreError::other(
            "probe",
            key,
            "the probe could not create its scratch object",
        ));
    }
    r.create_only_enforced = !wrote(store, key, b"probe-2", PutMode::Create).await?;
    if !r.create_only_enforced {
        r.findings
            .push("a create-only PUT (If-None-Match: *) overwrote an existing object".into());
    }
    let current = store.head(key).await?.etag;
    let stale = if current == "\"00000000000000000000000000000000\"" {
        "\"11111111111111111111111111111111\""
    } else {
        "\"00000000000000000000000000000000\""
    };
    r.stale_replace_refused = !wrote(store, key, b"probe-3", PutMode::Update(stale.into())).await?;
    if !r.stale_replace_refused {
        r.findings
            .push("a replace-if PUT (If-Match) with a stale ETag was accepted".into());
    }
    let current = store.head(key).await?.etag;
    r.current_replace_accepted = wrote(store, key, b"probe-4", PutMode::Update(current)).await?;
    if !r.current_replace_accepted {
        r.findings
            .push("a replace-if PUT (If-Match) with the current ETag was refused".into());
    }
    let mut racers = JoinSet::new();
    for body in RACER_BODIES {
        let (store, key) = (store.clone(), race_key.to_string());
        racers.spawn(async move { wrote(&store, &key, body, PutMode::Create).await });
    }
    while let Some(res) = racers.join_next().await {
        if res.map_err(|e| StoreError::other("probe", race_key, e.to_string()))?? {
            r.race_winners += 1;
        }
    }
    r.create_race_single_winner = r.race_winners == 1;
    if !r.create_race_single_winner {
        r.findings.push(format!(
            "{} of {RACERS} concurrent create-only PUTs of one key succeeded",
            r.race_winners
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_store_is_compliant_and_ignoring_store_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let local: DynObjectStore = Arc::new(LocalObjectStore::new(dir.path()).unwrap());
        let report = probe_conditional_writes(local.clone(), "_probe/")
            .await
            .unwrap();
        assert!(report.compliant, "{report:?}");
        assert_eq!(report.race_winners, 1);

        let failing = Arc::new(FailingObjectStore::new(local.clone(), 1));
        failing.add_rule(FailRule::new(FailAction::IgnorePreconditions));
        let report = probe_conditional_writes(failing, "_probe/").await.unwrap();
        assert!(!report.compliant);
        assert!(!report.create_only_enforced && !report.stale_replace_refused);
        assert_eq!(report.race_winners, RACERS as u32);
        assert!(
            local.list("", None, None).await.unwrap().objects.is_empty(),
            "the probe cleans up"
        );
    }
}
