//! `LocalObjectStore`: objects are plain files under a directory. Writes go to a temp file and are renamed
//! into place, so readers see whole objects only; conditional puts and deletes hold an exclusive `flock`
//! on one lock file, so create-only and replace-if hold across threads and processes.

use super::*;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const RESERVED_PREFIX: &str = ".s3fs-";
const DEFAULT_PAGE: u32 = 1000;

#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
    /// Keys live under `root/prefix/` (`""`: directly under root), as under a bucket's prefix.
    prefix: String,
}

/// A content hash, used as the ETag of a local object.
pub fn content_etag(data: &[u8]) -> String {
    blake3::hash(data).to_hex()[..32].to_string()
}

impl LocalObjectStore {
    /// Creates `root` if missing; the temp directory waits for the first put, so a store that is
    /// only read is never written to.
    pub fn new(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io_err("open", &root.to_string_lossy(), e))?;
        Ok(Self {
            root,
            prefix: String::new(),
        })
    }

    /// The store under `prefix` inside `root` (a directory per prefix, like a bucket's key prefix).
    pub fn with_prefix(root: impl Into<PathBuf>, prefix: &str) -> StoreResult<Self> {
        let prefix = prefix.trim_matches('/').to_string();
        let valid = prefix.is_empty()
            || prefix
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.starts_with(RESERVED_PREFIX));
        if !valid {
            return Err(StoreError::Other {
                op: "open".into(),
                key: prefix,
                status: Some(400),
                code: "InvalidPrefix".into(),
                message: "a prefix is a relative path without empty, '.' or '..' components".into(),
            });
        }
        let store = Self::new(root)?;
        Ok(Self { prefix, ..store })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, op: &str, key: &str) -> StoreResult<PathBuf> {
        let valid = !key.is_empty()
            && !key.starts_with('/')
            && !key.starts_with(RESERVED_PREFIX)
            && key
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
            && !key.contains('\0');
        if !valid {
            return Err(StoreError::Other {
                op: op.into(),
                key: key.into(),
                status: Some(400),
                code: "InvalidKey".into(),
                message: "object keys must be relative paths without empty, '.' or '..' components"
                    .into(),
            });
        }
        Ok(self.dir().join(key))
    }

    /// Where this store's keys live.
    fn dir(&self) -> PathBuf {
        self.root.join(&self.prefix)
    }

    fn lock(&self) -> StoreResult<File> {
        let path = self.root.join(format!("{RESERVED_PREFIX}lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("lock", "", e))?;
        file.lock().map_err(|e| io_err("lock", "", e))?;
        Ok(file)
    }

    fn read_etag(path: &Path, key: &str) -> StoreResult<Option<String>> {
        match fs::read(path) {
            Ok(data) => Ok(Some(content_etag(&data))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(io_err("head", key, e)),
        }
    }

    fn get_blocking(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        let path = self.path_of("get", key)?;
        let mut file = match File::open(&path) {
            Ok(f) if f.metadata().map(|m| m.is_file()).unwrap_or(false) => f,
            Ok(_) => return Err(StoreError::NotFound { key: key.into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound { key: key.into() })
            }
            Err(e) => return Err(io_err("get", key, e)),
        };
        let size = file.metadata().map_err(|e| io_err("get", key, e))?.len();
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(&mut file)
            .map_err(|e| io_err("get", key, e))?;
        let etag = hasher.finalize().to_hex()[..32].to_string();
        if opts.if_none_match.as_deref() == Some(etag.as_str()) {
            return Err(StoreError::NotModified { key: key.into() });
        }
        let (start, end) = opts.range.map(|r| r.resolve(size)).unwrap_or((0, size));
        let mut data = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .map_err(|e| io_err("get", key, e))?;
        file.read_exact(&mut data)
            .map_err(|e| io_err("get", key, e))?;
        Ok(GetResult {
            data: Bytes::from(data),
            etag,
            size,
        })
    }

    fn put_blocking(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        let path = self.path_of("put", key)?;
        let etag = content_etag(&body);
        let tmp = self
            .root
            .join(format!("{RESERVED_PREFIX}tmp"))
            .join(format!("{}.{}", std::process::id(), fastrand::u64(..)));
        let write = || -> std::io::Result<()> {
            let mut f = match File::create(&tmp) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Not create_dir_all: a store whose root was removed stays gone.
                    match fs::create_dir(self.root.join(format!("{RESERVED_PREFIX}tmp"))) {
                        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                        _ => {}
                    }
                    File::create(&tmp)?
                }
                other => other?,
            };
            f.write_all(&body)?;
            f.sync_data()?;
            Ok(())
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("put", key, e));
        }
        let _guard = self.lock()?;
        let allowed = match &mode {
            PutMode::Overwrite => true,
            PutMode::Create => Self::read_etag(&path, key)?.is_none(),
            PutMode::Update(expected) => {
                Self::read_etag(&path, key)?.as_deref() == Some(expected.as_str())
            }
        };
        if !allowed {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::put_refused(&mode, key));
        }
        // Under the lock: a delete prunes the directories it empties, also one a put just made.
        if let Some(parent) = path.parent() {
            if let Err(e) = fs::create_dir_all(parent) {
                let _ = fs::remove_file(&tmp);
                return Err(io_err("put", key, e));
            }
        }
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err("put", key, e)
        })?;
        Ok(etag)
    }

    fn delete_blocking(&self, keys: &[String]) -> StoreResult<()> {
        let _guard = self.lock()?;
        for key in keys {
            let path = self.path_of("delete", key)?;
            match fs::remove_file(&path) {
                Ok(()) => self.prune_empty_dirs(&path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("delete", key, e)),
            }
        }
        Ok(())
    }

    /// Removes directories left empty by a delete, up to the root, so listings stay clean.
    fn prune_empty_dirs(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || d == self.dir() || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    fn list_blocking(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        // Walk only the directory the prefix names, not the whole store.
        let base = match prefix.rfind('/') {
            Some(i) => &prefix[..i + 1],
            None => "",
        };
        let mut keys = Vec::new();
        collect_keys(&self.dir().join(base), base, &mut keys)
            .map_err(|e| io_err("list", prefix, e))?;
        keys.retain(|(k, _)| k.starts_with(prefix) && !k.starts_with(RESERVED_PREFIX));
        keys.sort();
        let max = max_keys.unwrap_or(DEFAULT_PAGE).max(1) as usize;
        let mut page = ListPage::default();
        let mut last = None;
        for (key, size) in keys {
            if let Some(t) = &token {
                if key.as_str() <= t.as_str() {
                    continue;
                }
            }
            let rest = &key[prefix.len()..];
            let entry_key = match delimiter.and_then(|d| rest.find(d).map(|i| i + d.len())) {
                Some(end) => {
                    let cp = format!("{prefix}{}", &rest[..end]);
                    if page.common_prefixes.last() == Some(&cp) {
                        continue;
                    }
                    if page.objects.len() + page.common_prefixes.len() == max {
                        page.next_token = last;
                        return Ok(page);
                    }
                    page.common_prefixes.push(cp.clone());
                    // Continue after every key under this prefix.
                    format!("{cp}\u{10FFFF}")
                }
                None => {
                    if page.objects.len() + page.common_prefixes.len() == max {
                        page.next_token = last;
                        return Ok(page);
                    }
                    let etag = Self::read_etag(&self.dir().join(&key), &key)?.unwrap_or_default();
                    page.objects.push(ObjectMeta {
                        key: key.clone(),
                        size,
                        etag,
                    });
                    key
                }
            };
            last = Some(entry_key);
        }
        Ok(page)
    }
}

fn collect_keys(dir: &Path, rel: &str, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if rel.is_empty() && name.starts_with(RESERVED_PREFIX) {
            continue;
        }
        // A listing runs beside deletes (they take the lock, a listing does not): gone is not an error.
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let key = format!("{rel}{name}");
        if meta.is_dir() {
            collect_keys(&entry.path(), &format!("{key}/"), out)?;
        } else {
            out.push((key, meta.len()));
        }
    }
    Ok(())
}

fn io_err(op: &str, key: &str, e: std::io::Error) -> StoreError {
    StoreError::Other {
        op: op.into(),
        key: key.into(),
        status: None,
        code: format!("{:?}", e.kind()),
        message: e.to_string(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::other("local", "", format!("worker failed: {e}")))?
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    fn prefix(&self) -> Option<String> {
        Some(self.prefix.clone())
    }
    fn sibling(&self, prefix: &str) -> Option<DynObjectStore> {
        Self::with_prefix(self.root.clone(), prefix)
            .ok()
            .map(|s| Arc::new(s) as DynObjectStore)
    }

    async fn get(&self, key: &str, opts: GetOptions) -> StoreResult<GetResult> {
        let (this, key) = (self.clone(), key.to_string());
        blocking(move || this.get_blocking(&key, opts)).await
    }

    async fn head(&self, key: &str) -> StoreResult<ObjectMeta> {
        let path = self.path_of("head", key)?;
        let key = key.to_string();
        blocking(move || {
            let etag = Self::read_etag(&path, &key)?
                .ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
            let size = fs::metadata(&path)
                .map_err(|e| io_err("head", &key, e))?
                .len();
            Ok(ObjectMeta { key, size, etag })
        })
        .await
    }

    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> StoreResult<String> {
        let (this, key) = (self.clone(), key.to_string());
        blocking(move || this.put_blocking(&key, body, mode)).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        max_keys: Option<u32>,
    ) -> StoreResult<ListPage> {
        let (this, prefix, delimiter) = (
            self.clone(),
            prefix.to_string(),
            delimiter.map(str::to_string),
        );
        blocking(move || this.list_blocking(&prefix, delimiter.as_deref(), token, max_keys)).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let (this, keys) = (self.clone(), vec![key.to_string()]);
        blocking(move || this.delete_blocking(&keys)).await
    }

    async fn delete_many(&self, keys: &[String]) -> StoreResult<()> {
        let (this, keys) = (self.clone(), keys.to_vec());
        blocking(move || this.delete_blocking(&keys)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lost_create_is_already_exists_and_a_lost_update_a_failed_precondition() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path()).unwrap();
        let etag = store
            .put("k", Bytes::from_static(b"a"), PutMode::Create)
            .await
            .unwrap();
        let lost_create = store.put("k", Bytes::from_static(b"b"), PutMode::Create);
        assert_eq!(
            lost_create.await,
            Err(StoreError::AlreadyExists { key: "k".into() })
        );
        let lost_update = store.put("k", Bytes::from_static(b"c"), PutMode::Update("x".into()));
        assert_eq!(
            lost_update.await,
            Err(StoreError::PreconditionFailed { key: "k".into() })
        );
        let won = store.put("k", Bytes::from_static(b"d"), PutMode::Update(etag));
        assert!(won.await.is_ok());
        assert_eq!(store.get_all("k").await.unwrap().data.as_ref(), b"d");
    }

    /// A delete prunes the directories it empties; a put into one of them at that moment still lands.
    #[test]
    fn a_put_beside_a_delete_that_empties_its_directory_lands() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path()).unwrap();
        let rounds = 2_000;
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (other, go) = (store.clone(), start.clone());
        // One thread keeps emptying each directory while the other puts into it.
        let deleter = std::thread::spawn(move || {
            for i in 0..rounds {
                go.wait();
                other.delete_blocking(&[format!("refs/d{i}/b")]).unwrap();
            }
        });
        for i in 0..rounds {
            let (a, b) = (format!("refs/d{i}/a"), format!("refs/d{i}/b"));
            store
                .put_blocking(&b, Bytes::from_static(b"b"), PutMode::Create)
                .unwrap();
            start.wait();
            let put = store.put_blocking(&a, Bytes::from_static(b"a"), PutMode::Create);
            assert!(put.is_ok(), "put {a}: {put:?}");
            assert!(store.path_of("get", &a).unwrap().exists());
        }
        deleter.join().unwrap();
    }
}
