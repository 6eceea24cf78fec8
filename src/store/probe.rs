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

/// Ok for the expected refusal, Err for any other failure; `Ok(false)` when the write went through.
fn refused(res: StoreResult<String>) -> StoreResult<bool> {
    match res {
        Ok(_) => Ok(false),
        Err(StoreError::PreconditionFailed { .. }) => Ok(true),
        // If-Match on a missing key: AWS says 404, SeaweedFS 412; both are refusals.
        Err(StoreError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

async fn run_probe(
    store: &DynObjectStore,
    key: &str,
    race_key: &str,
    r: &mut ProbeReport,
) -> StoreResult<()> {
    store
        .put(key, Bytes::from_static(b"probe-1"), PutMode::Create)
        .await?;
    r.create_only_enforced = refused(
        store
            .put(key, Bytes::from_static(b"probe-2"), PutMode::Create)
            .await,
    )?;
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
    r.stale_replace_refused = refused(
        store
            .put(
                key,
                Bytes::from_static(b"probe-3"),
                PutMode::Update(stale.into()),
            )
            .await,
    )?;
    if !r.stale_replace_refused {
        r.findings
            .push("a replace-if PUT (If-Match) with a stale ETag was accepted".into());
    }
    let current = store.head(key).await?.etag;
    r.current_replace_accepted = !refused(
        store
            .put(
                key,
                Bytes::from_static(b"probe-4"),
                PutMode::Update(current),
            )
            .await,
    )?;
    if !r.current_replace_accepted {
        r.findings
            .push("a replace-if PUT (If-Match) with the current ETag was refused".into());
    }
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let (store, key) = (store.clone(), race_key.to_string());
        racers.spawn(async move {
            store
                .put(&key, Bytes::from(format!("racer-{i}")), PutMode::Create)
                .await
        });
    }
    while let Some(res) = racers.join_next().await {
        let res = res.map_err(|e| StoreError::other("probe", race_key, e.to_string()))?;
        if !refused(res)? {
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
