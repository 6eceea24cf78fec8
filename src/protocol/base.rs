//! A fork's base: the workspace it was forked from, whose data objects it shares instead of copying.
//! Extents a fork inherits carry keys under `@base/`; reads of those go to the base's store (the same
//! bucket under the prefix the fork's head names, itself possibly a fork), everything else to the
//! fork's own objects. Nothing is ever written or deleted through `@base/`.

use super::head::Head;
use super::HEAD_KEY;
use crate::store::{
    DynObjectStore, GetOptions, GetResult, ListPage, ObjectMeta, ObjectStore, PutMode, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

pub const BASE_KEY_PREFIX: &str = "@base/";

#[derive(Debug)]
pub struct LayeredObjectStore {
    own: DynObjectStore,
    /// Found on first use: most workspaces are not forks and never ask.
    base: tokio::sync::OnceCell<DynObjectStore>,
}

impl LayeredObjectStore {
    pub fn new(own: DynObjectStore) -> Self {
        LayeredObjectStore {
            own,
            base: tokio::sync::OnceCell::new(),
        }
    }

    async fn base(&self) -> StoreResult<&DynObjectStore> {
        self.base
            .get_or_try_init(|| async {
                let fail = |code: &str, message: String| StoreError::Other {
                    op: "get".into(),
                    key: HEAD_KEY.into(),
                    status: None,
                    code: code.into(),
                    message,
                };
                let data = self.own.get_all(HEAD_KEY).await?.data;
                let head =
                    Head::decode(&data).map_err(|e| fail("UnreadableHead", e.to_string()))?;
                let prefix = head.base.ok_or_else(|| {
                    fail(
                        "NoBase",
                        "this workspace is not a fork: it has no base".into(),
                    )
                })?;
                let store = self.own.sibling(&prefix).ok_or_else(|| {
                    fail(
                        "NoBase",
                        format!("this store cannot reach the fork's base at prefix '{prefix}'"),
                    )
                })?;
                Ok(Arc::new(LayeredObjectStore::new(store)) as DynObjectStore)
            })
            .await
    }

    /// The store a key lives in, and its key there.
    async fn route<'k>(&self, key: &'k str) -> StoreResult<(&DynObjectStore, &'k str)> {
        match key.strip_prefix(BASE_KEY_PREFIX) {
            Some(rest) => Ok((self.base().await?, rest)),
            None => Ok((&self.own, key)),
        }
    }

    fn own_key(key: &str) -> StoreResult<&str> {
        if key.starts_with(BASE_KEY_PREFIX) {
            return Err(StoreError::Other {
                op: "put".into(),
                key: key.into(),
                status: Some(400),
                code: "InvalidKey".into(),
                message: "a fork never writes its base's objects".into(),
            });
        }
        Ok(key)
    }
}

#[async_trait]
impl ObjectStore for LayeredObjectStore {
    fn prefix(&self) -> Option<String> {
        self.own.prefix()
    }
    fn sibling(&self, prefix: &str) -> Option<DynObjectStore> {
        self.own.sibling(prefix)
    }
    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        let (store, key) = self.route(key).await?;
        store.get(key, opts).await
    }
    async fn head(&self, key: &str) -> StoreResult<ObjectMeta> {
        let (store, key) = self.route(key).await?;
        store.head(key).await
    }
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        self.own.put(Self::own_key(key)?, body, mode).await
    }
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        self.own.list_page(prefix, delimiter, token, max_keys).await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.own.delete(Self::own_key(key)?).await
    }
    async fn delete_many(&self, keys: &[String]) -> StoreResult<()> {
        for k in keys {
            Self::own_key(k)?;
        }
        self.own.delete_many(keys).await
    }
}
