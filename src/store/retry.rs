//! `RetryingObjectStore`: retries transient failures with capped exponential backoff and full jitter,
//! a bounded number of times. Conditional PUTs are retried too; a retry that then reports
//! `AlreadyExists` or `PreconditionFailed` may mean the first attempt won, which is why the engine
//! reads back before it trusts that answer.

use super::*;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform delay in `[0, min(max, base * 2^attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        Duration::from_micros(fastrand::u64(0..=ceiling.as_micros() as u64))
    }
}

#[derive(Debug)]
pub struct RetryingObjectStore {
    inner: DynObjectStore,
    policy: RetryPolicy,
    retries: AtomicU64,
}

impl RetryingObjectStore {
    pub fn new(inner: DynObjectStore, policy: RetryPolicy) -> Self {
        Self {
            inner,
            policy,
            retries: AtomicU64::new(0),
        }
    }

    /// Retries performed so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    async fn run<T, F, Fut>(&self, mut attempt_fn: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = StoreResult<T>> + Send,
    {
        let mut attempt = 0;
        loop {
            match attempt_fn().await {
                Err(e) if e.is_transient() && attempt + 1 < self.policy.max_attempts => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.policy.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl ObjectStore for RetryingObjectStore {
    fn prefix(&self) -> Option<String> {
        self.inner.prefix()
    }
    fn sibling(&self, prefix: &str) -> Option<DynObjectStore> {
        self.inner.sibling(prefix)
    }

    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        self.run(|| self.inner.get(key, opts.clone())).await
    }
    async fn head(&self, key: &str) -> StoreResult<ObjectMeta> {
        self.run(|| self.inner.head(key)).await
    }
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        self.run(|| self.inner.put(key, body.clone(), mode.clone()))
            .await
    }
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        self.run(|| {
            self.inner
                .list_page(prefix, delimiter, token.clone(), max_keys)
        })
        .await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.run(|| self.inner.delete(key)).await
    }
    async fn delete_many(&self, keys: &[String]) -> StoreResult<()> {
        self.run(|| self.inner.delete_many(keys)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        for attempt in 0..20 {
            let d = p.delay(attempt);
            assert!(d <= Duration::from_millis(50), "attempt {attempt}: {d:?}");
            assert!(d <= Duration::from_millis(10) * (1 << attempt.min(16)));
        }
    }
}
