//! `S3ObjectStore`: the production store on aws-sdk-s3 (SigV4, the standard credential chain,
//! `AWS_ENDPOINT_URL_S3`, path-style addressing). It does not retry by itself: wrap it in
//! `RetryingObjectStore`, whose policy is explicit and testable.

mod error;

use super::*;
use aws_sdk_s3::config::{
    retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Credentials, Region,
    RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use error::error_chain;
use std::time::Duration;

#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket; `""` for the bucket root.
    pub prefix: String,
    /// Falls back to the AWS region chain, then `us-east-1`.
    pub region: Option<String>,
    /// Falls back to `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then AWS.
    pub endpoint: Option<String>,
    pub force_path_style: Option<bool>,
    /// Explicit credentials; otherwise the standard AWS credential chain.
    pub credentials: Option<S3Credentials>,
}

#[derive(Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    prefix: String,
    /// Scrubbed from every message, in case a provider or connector ever echoes it.
    secret: Option<String>,
    /// Where requests go, for messages (`s3://bucket at http://host:port`, or `... on AWS`).
    location: String,
}

impl fmt::Debug for S3ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ObjectStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl S3ObjectStore {
    pub async fn new(config: S3Config) -> StoreResult<Self> {
        if config.bucket.is_empty() {
            return Err(StoreError::Other {
                op: "connect".into(),
                key: String::new(),
                status: None,
                code: "InvalidBucketName".into(),
                message: "bucket is required".into(),
            });
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let endpoint = config
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|e| !e.is_empty());
        if let Some(ep) = &endpoint {
            loader = loader.endpoint_url(ep.clone());
        }
        if let Some(c) = &config.credentials {
            loader = loader.credentials_provider(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                c.session_token.clone(),
                None,
                "s3-bun-cached-fs",
            ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.force_path_style.unwrap_or(endpoint.is_some()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(120))
                    .build(),
            )
            // Plain bodies: some S3-compatible servers reject the newer checksum trailers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if shared.region().is_none() {
            builder = builder.region(Region::new("us-east-1"));
        }
        let mut prefix = config.prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        let location = match &endpoint {
            Some(ep) => format!("s3://{} at {ep}", config.bucket),
            None => format!("s3://{} on AWS", config.bucket),
        };
        Ok(Self {
            client: Client::from_conf(builder.build()),
            location,
            bucket: config.bucket,
            prefix,
            secret: config
                .credentials
                .map(|c| c.secret_access_key)
                .filter(|s| !s.is_empty()),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

/// The total size from a `Content-Range` header (`bytes 0-9/100` or `bytes */100`).
fn total_from_content_range(v: &str) -> Option<u64> {
    v.rsplit('/').next()?.trim().parse().ok()
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    fn prefix(&self) -> Option<String> {
        Some(self.prefix.trim_end_matches('/').to_string())
    }
    fn sibling(&self, prefix: &str) -> Option<DynObjectStore> {
        let mut p = prefix.trim_matches('/').to_string();
        if !p.is_empty() {
            p.push('/');
        }
        Some(Arc::new(S3ObjectStore {
            prefix: p,
            ..self.clone()
        }))
    }

    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        if opts.range.is_some_and(|r| r.is_empty_request()) {
            // S3 cannot express an empty range; answer it from a HEAD.
            let meta = self.head(key).await?;
            return Ok(GetResult {
                data: Bytes::new(),
                etag: meta.etag,
                size: meta.size,
            });
        }
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .set_range(opts.range.map(|r| r.to_header()))
            .set_if_none_match(opts.if_none_match.clone());
        let out = match req.send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 416 => {
                // A range that starts past the end: an empty body, as the trait promises.
                let size = se
                    .raw()
                    .headers()
                    .get("content-range")
                    .and_then(total_from_content_range);
                let size = match size {
                    Some(s) => s,
                    None => self.head(key).await?.size,
                };
                let etag = se
                    .raw()
                    .headers()
                    .get("etag")
                    .unwrap_or_default()
                    .to_string();
                return Ok(GetResult {
                    data: Bytes::new(),
                    etag,
                    size,
                });
            }
            Err(e) => return Err(self.error("get", key, e)),
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let content_length = out.content_length().unwrap_or(0).max(0) as u64;
        let size = out
            .content_range()
            .and_then(total_from_content_range)
            .unwrap_or(content_length);
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| {
                StoreError::transient("get", key, format!("reading body: {}", error_chain(&e)))
            })?
            .into_bytes();
        if data.len() as u64 != content_length {
            return Err(StoreError::transient(
                "get",
                key,
                format!("short body: {} of {} bytes", data.len(), content_length),
            ));
        }
        Ok(GetResult { data, etag, size })
    }

    async fn head(&self, key: &str) -> StoreResult<ObjectMeta> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.error("head", key, e))?;
        Ok(ObjectMeta {
            key: key.into(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().unwrap_or_default().to_string(),
        })
    }

    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        let create = mode == PutMode::Create;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_length(body.len() as i64)
            .body(ByteStream::from(body));
        req = match mode {
            PutMode::Overwrite => req,
            PutMode::Create => req.if_none_match("*"),
            PutMode::Update(etag) => req.if_match(etag),
        };
        let out = req
            .send()
            .await
            .map_err(|e| match self.error("put", key, e) {
                StoreError::PreconditionFailed { key } if create => {
                    StoreError::AlreadyExists { key }
                }
                other => other,
            })?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .set_delimiter(delimiter.map(str::to_string))
            .set_continuation_token(token)
            .set_max_keys(max_keys.map(|m| m as i32))
            .send()
            .await
            .map_err(|e| self.error("list", prefix, e))?;
        let strip = |k: &str| {
            k.strip_prefix(self.prefix.as_str())
                .unwrap_or(k)
                .to_string()
        };
        Ok(ListPage {
            objects: out
                .contents()
                .iter()
                .map(|o| ObjectMeta {
                    key: strip(o.key().unwrap_or_default()),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().to_string(),
                })
                .collect(),
            common_prefixes: out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(strip)
                .collect(),
            next_token: if out.is_truncated().unwrap_or(false) {
                out.next_continuation_token().map(str::to_string)
            } else {
                None
            },
        })
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match self.error("delete", key, e) {
                StoreError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn delete_many(&self, keys: &[String]) -> StoreResult<()> {
        for batch in keys.chunks(1000) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(self.full_key(k)).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::other("deleteMany", "", e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::other("deleteMany", "", e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.error("deleteMany", "", e))?;
            if let Some(err) = out.errors().iter().find(|e| e.code() != Some("NoSuchKey")) {
                return Err(StoreError::Other {
                    op: "deleteMany".into(),
                    key: err.key().unwrap_or_default().to_string(),
                    status: None,
                    code: err.code().unwrap_or("Error").to_string(),
                    message: err.message().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_total_from_content_range() {
        assert_eq!(total_from_content_range("bytes 0-9/100"), Some(100));
        assert_eq!(total_from_content_range("bytes */77"), Some(77));
    }
}
