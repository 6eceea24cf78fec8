//! `CountingObjectStore`: counts requests by kind and bytes moved, for tests, `stats()` and benchmarks.

use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub list: u64,
    pub delete: u64,
    pub delete_many: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete + self.delete_many
    }
}

#[derive(Debug, Default)]
struct Counters {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
    delete_many: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

#[derive(Debug)]
pub struct CountingObjectStore {
    inner: DynObjectStore,
    counters: Counters,
}

impl CountingObjectStore {
    pub fn new(inner: DynObjectStore) -> Self {
        Self {
            inner,
            counters: Counters::default(),
        }
    }

    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestCounts {
            get: l(&c.get),
            head: l(&c.head),
            put: l(&c.put),
            list: l(&c.list),
            delete: l(&c.delete),
            delete_many: l(&c.delete_many),
            bytes_up: l(&c.bytes_up),
            bytes_down: l(&c.bytes_down),
        }
    }

    pub fn reset(&self) {
        let c = &self.counters;
        for a in [
            &c.get,
            &c.head,
            &c.put,
            &c.list,
            &c.delete,
            &c.delete_many,
            &c.bytes_up,
            &c.bytes_down,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[async_trait]
impl ObjectStore for CountingObjectStore {
    fn prefix(&self) -> Option<String> {
        self.inner.prefix()
    }
    fn sibling(&self, prefix: &str) -> Option<DynObjectStore> {
        self.inner.sibling(prefix)
    }

    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        Self::add(&self.counters.get, 1);
        let r = self.inner.get(key, opts).await?;
        Self::add(&self.counters.bytes_down, r.data.len() as u64);
        Ok(r)
    }
    async fn head(&self, key: &str) -> StoreResult<ObjectMeta> {
        Self::add(&self.counters.head, 1);
        self.inner.head(key).await
    }
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        Self::add(&self.counters.put, 1);
        Self::add(&self.counters.bytes_up, body.len() as u64);
        self.inner.put(key, body, mode).await
    }
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        Self::add(&self.counters.list, 1);
        self.inner
            .list_page(prefix, delimiter, token, max_keys)
            .await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        Self::add(&self.counters.delete, 1);
        self.inner.delete(key).await
    }
    async fn delete_many(&self, keys: &[String]) -> StoreResult<()> {
        Self::add(&self.counters.delete_many, 1);
        self.inner.delete_many(keys).await
    }
}
