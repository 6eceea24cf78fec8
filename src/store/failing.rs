//! `FailingObjectStore`: injects faults by rule, for tests of the commit protocol and the probe.
//! A rule matches by request kind and key substring, may fire only some times or with a probability
//! (seeded), and then: fails before the request, performs the request but loses the response, delays
//! it, or makes conditional puts unconditional (a store that ignores `If-None-Match`/`If-Match`).

use super::*;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum FailAction {
    /// Fail before the request reaches the store.
    Error(StoreError),
    /// Perform the request, then report a transient error: the write happened, the caller can't know.
    LostResponse,
    /// Wait, then go on with the remaining rules.
    Delay(Duration),
    /// Perform puts as unconditional, silently, as Backblaze B2 and GCS's S3 API do.
    IgnorePreconditions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FailRule {
    /// Request kinds the rule applies to; empty means all.
    pub kinds: Vec<RequestKind>,
    /// Only keys containing this substring.
    pub key_contains: Option<String>,
    pub action: FailAction,
    /// Matching requests to let through before the rule fires.
    pub skip: u32,
    /// How many times the rule fires; `None` for always.
    pub times: Option<u32>,
    /// Chance that a matching request fires the rule (1.0 when `None`).
    pub probability: Option<f64>,
}

impl FailRule {
    pub fn new(action: FailAction) -> Self {
        Self {
            kinds: Vec::new(),
            key_contains: None,
            action,
            skip: 0,
            times: None,
            probability: None,
        }
    }
}

#[derive(Debug)]
struct State {
    rules: Vec<FailRule>,
    rng: fastrand::Rng,
    fired: u64,
}

#[derive(Debug)]
pub struct FailingObjectStore {
    inner: DynObjectStore,
    /// Shared with its siblings (other prefixes of the bucket), so a rule reaches a fork's writes too.
    state: Arc<Mutex<State>>,
}

enum Plan {
    Pass,
    Fail(StoreError),
    Lose,
    Unconditional,
}

impl FailingObjectStore {
    pub fn new(inner: DynObjectStore, seed: u64) -> Self {
        Self {
            inner,
            state: Arc::new(Mutex::new(State {
                rules: Vec::new(),
                rng: fastrand::Rng::with_seed(seed),
                fired: 0,
            })),
        }
    }

    pub fn add_rule(&self, rule: FailRule) {
        self.lock().rules.push(rule);
    }

    pub fn clear_rules(&self) {
        self.lock().rules.clear();
    }

    /// How many times a rule has fired.
    pub fn fired(&self) -> u64 {
        self.lock().fired
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides what happens to one request; delays are returned to be slept outside the lock.
    fn plan(&self, kind: RequestKind, key: &str) -> (Duration, Plan) {
        let mut st = self.lock();
        let State { rules, rng, fired } = &mut *st;
        let mut delay = Duration::ZERO;
        for rule in rules.iter_mut() {
            if !(rule.kinds.is_empty() || rule.kinds.contains(&kind))
                || !rule.key_contains.as_deref().is_none_or(|s| key.contains(s))
            {
                continue;
            }
            if matches!(rule.action, FailAction::IgnorePreconditions) && kind != RequestKind::Put {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            if rule.times == Some(0) || rule.probability.is_some_and(|p| rng.f64() >= p) {
                continue;
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            *fired += 1;
            match &rule.action {
                FailAction::Delay(d) => delay += *d,
                FailAction::Error(e) => return (delay, Plan::Fail(e.clone())),
                FailAction::LostResponse => return (delay, Plan::Lose),
                FailAction::IgnorePreconditions => return (delay, Plan::Unconditional),
            }
        }
        (delay, Plan::Pass)
    }

    /// Runs one request under the plan; `request(true)` asks for the request with preconditions dropped.
    async fn run<T, Fut>(
        &self,
        kind: RequestKind,
        key: &str,
        request: impl FnOnce(bool) -> Fut,
    ) -> StoreResult<T>
    where
        Fut: std::future::Future<Output = StoreResult<T>>,
    {
        let (delay, plan) = self.plan(kind, key);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match plan {
            Plan::Pass => request(false).await,
            Plan::Unconditional => request(true).await,
            Plan::Fail(e) => Err(e),
            Plan::Lose => {
                let _ = request(false).await;
                Err(StoreError::transient(
                    &format!("{kind:?}").to_lowercase(),
                    key,
                    "injected fault: response lost after the request completed",
                ))
            }
        }
    }
}

#[async_trait]
impl ObjectStore for FailingObjectStore {
    fn prefix(&self) -> Option<String> {
        self.inner.prefix()
    }
    fn sibling(&self, prefix: &str) -> Option<DynObjectStore> {
        let inner = self.inner.sibling(prefix)?;
        Some(Arc::new(FailingObjectStore {
            inner,
            state: self.state.clone(),
        }))
    }

    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        self.run(RequestKind::Get, key, |_| self.inner.get(key, opts))
            .await
    }
    async fn head(&self, key: &str) -> StoreResult<ObjectMeta> {
        self.run(RequestKind::Head, key, |_| self.inner.head(key))
            .await
    }
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        self.run(RequestKind::Put, key, |unconditional| {
            self.inner.put(
                key,
                body,
                if unconditional {
                    PutMode::Overwrite
                } else {
                    mode
                },
            )
        })
        .await
    }
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        self.run(RequestKind::List, prefix, |_| {
            self.inner.list_page(prefix, delimiter, token, max_keys)
        })
        .await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.run(RequestKind::Delete, key, |_| self.inner.delete(key))
            .await
    }
    async fn delete_many(&self, keys: &[String]) -> StoreResult<()> {
        let first = keys.first().map(String::as_str).unwrap_or("");
        self.run(RequestKind::DeleteMany, first, |_| {
            self.inner.delete_many(keys)
        })
        .await
    }
}
