//! The storage backend: `object_store` over a local folder (the default, `storage/` in
//! the data folder) or an S3-compatible bucket (the `s3` settings).
//!
//! Keys are made by [`super::name`] only. Writes go from a finished temporary file: on the
//! local backend it is fsynced and renamed into place (then the folder fsynced), so a
//! crash never leaves a half-written file under a key; on S3 it is sent in one PUT
//! below 8 MiB and as a multipart upload above, a part at a time, so memory per upload
//! stays at one part whatever the file's size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

/// Files at most this large go to S3 in one request; larger ones in parts of this size.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Reads of a local file being served.
const READ_SIZE: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("invalid storage key")]
    BadKey,
    #[error("storage: {0}")]
    Backend(String),
    #[error("storage io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// The S3 settings (PocketBase's `s3` settings object).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct S3Settings {
    pub enabled: bool,
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret: String,
    pub force_path_style: bool,
}

impl S3Settings {
    /// Field errors for settings that cannot work (only checked when enabled).
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        if !self.enabled {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, v) in [
            ("bucket", &self.bucket),
            ("region", &self.region),
            ("endpoint", &self.endpoint),
            ("accessKey", &self.access_key),
            ("secret", &self.secret),
        ] {
            if v.trim().is_empty() {
                out.push((name, "Cannot be blank."));
            }
        }
        if !self.endpoint.is_empty() && url::Url::parse(&self.endpoint).is_err() {
            out.push(("endpoint", "Must be a valid url."));
        }
        out
    }
}

/// One backend, as built from settings.
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    /// The folder of the local backend (files are renamed into it).
    local: Option<PathBuf>,
    /// `local` or `s3://bucket`, for logs.
    pub label: String,
}

impl Backend {
    pub fn local(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(&root)?),
            local: Some(root),
            label: "local".into(),
        })
    }

    pub fn s3(s: &S3Settings) -> Result<Self, StoreError> {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_endpoint(s.endpoint.trim_end_matches('/'))
            .with_access_key_id(&s.access_key)
            .with_secret_access_key(&s.secret)
            .with_virtual_hosted_style_request(!s.force_path_style)
            .with_allow_http(s.endpoint.starts_with("http://"))
            .build()?;
        Ok(Self {
            store: Arc::new(store),
            local: None,
            label: format!("s3://{}", s.bucket),
        })
    }
}

/// What a stored object is.
#[derive(Clone, Debug)]
pub struct Meta {
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// Quoted, ready for an `ETag` header.
    pub etag: String,
}

/// The storage in use; swapped whole when the settings change.
pub struct Storage {
    backend: ArcSwap<Backend>,
    /// Where uploads are written before they are stored (same filesystem as the data).
    tmp: PathBuf,
}

fn key(k: &str) -> Result<Key, StoreError> {
    Key::parse(k).map_err(|_| StoreError::BadKey)
}

impl Storage {
    pub fn new(backend: Backend, tmp: PathBuf) -> Self {
        Self {
            backend: ArcSwap::from_pointee(backend),
            tmp,
        }
    }

    pub fn backend(&self) -> Arc<Backend> {
        self.backend.load_full()
    }

    pub fn set_backend(&self, backend: Backend) {
        tracing::info!(storage = %backend.label, "file storage backend changed");
        self.backend.store(Arc::new(backend));
    }

    /// The folder for uploads in progress; emptied at start.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Store the finished temporary file `file` under `k`.
    pub async fn put_file(&self, k: &str, file: tempfile::TempPath) -> Result<(), StoreError> {
        let b = self.backend();
        let location = key(k)?;
        if let Some(root) = &b.local {
            let target = root.join(location.as_ref());
            return tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                let dir = target.parent().ok_or(StoreError::BadKey)?;
                std::fs::create_dir_all(dir)?;
                std::fs::File::open(&file)?.sync_all()?;
                file.persist(&target).map_err(|e| e.error)?;
                std::fs::File::open(dir)?.sync_all()?;
                Ok(())
            })
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        let mut f = tokio::fs::File::open(&file).await?;
        let size = f.metadata().await?.len();
        if size as usize <= PART_SIZE {
            let mut buf = Vec::with_capacity(size as usize);
            f.read_to_end(&mut buf).await?;
            b.store.put(&location, PutPayload::from(buf)).await?;
            return Ok(());
        }
        let upload = b.store.put_multipart(&location).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(1).await?;
            w.write(&buf[..n]);
        }
        w.finish().await?;
        Ok(())
    }

    /// Store `bytes` under `k` (thumbnails).
    pub async fn put_bytes(&self, k: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let b = self.backend();
        b.store.put(&key(k)?, PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub async fn head(&self, k: &str) -> Result<Meta, StoreError> {
        let b = self.backend();
        let m = b.store.head(&key(k)?).await?;
        let etag = match &m.e_tag {
            Some(t) if t.starts_with('"') => t.clone(),
            Some(t) => format!("\"{t}\""),
            None => format!(
                "\"{:x}-{:x}\"",
                m.size,
                m.last_modified.timestamp_nanos_opt().unwrap_or(0)
            ),
        };
        Ok(Meta {
            size: m.size,
            last_modified: m.last_modified,
            etag,
        })
    }

    /// The bytes of `k` in `range` (end exclusive), or all of them.
    pub async fn get(
        &self,
        k: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let b = self.backend();
        if let Some(root) = &b.local {
            // Straight from the file in large reads: the generic local store reads 8 KiB
            // per blocking task, which caps a download far below the disk.
            let path = root.join(key(k)?.as_ref());
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound)
                }
                Err(e) => return Err(e.into()),
            };
            let (start, len) = match &range {
                Some(r) => (r.start, r.end.saturating_sub(r.start)),
                None => (0, file.metadata().await?.len()),
            };
            if start > 0 {
                use tokio::io::AsyncSeekExt;
                file.seek(std::io::SeekFrom::Start(start)).await?;
            }
            let stream =
                futures_util::stream::try_unfold((file, len), |(mut file, left)| async move {
                    if left == 0 {
                        return Ok(None);
                    }
                    let mut buf = vec![0u8; (READ_SIZE as u64).min(left) as usize];
                    let n = file.read(&mut buf).await?;
                    if n == 0 {
                        return Err(StoreError::Backend("the file ended early".into()));
                    }
                    buf.truncate(n);
                    Ok(Some((Bytes::from(buf), (file, left - n as u64))))
                });
            return Ok(stream.boxed());
        }
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let r = b.store.get_opts(&key(k)?, opts).await?;
        Ok(r.into_stream().map_err(StoreError::from).boxed())
    }

    /// The whole of `k`, read into memory (thumbnail sources, bounded by `maxSize`).
    pub async fn read(&self, k: &str) -> Result<Bytes, StoreError> {
        let b = self.backend();
        Ok(b.store.get(&key(k)?).await?.bytes().await?)
    }

    /// Delete `k`; a missing object is fine.
    pub async fn delete(&self, k: &str) -> Result<(), StoreError> {
        let b = self.backend();
        match b.store.delete(&key(k)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete everything under the folder `prefix` (no trailing slash).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let b = self.backend();
        let p = key(prefix)?;
        let keys: Vec<Key> = b
            .store
            .list(Some(&p))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        let n = keys.len() as u64;
        for k in keys {
            match b.store.delete(&k).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(root) = &b.local {
            // Empty folders left behind on disk (best effort; a racing upload may refill one).
            let dir = root.join(p.as_ref());
            let _ = remove_empty_dirs(&dir);
        }
        Ok(n)
    }

    /// Check that the backend answers: write, read back and delete a probe object.
    pub async fn test(backend: &Backend) -> Result<(), StoreError> {
        let probe = key(&format!(
            "_keelbase_probe_{}",
            crate::util::random_lower(10)
        ))?;
        backend
            .store
            .put(&probe, PutPayload::from_static(b"keelbase"))
            .await?;
        let got = backend.store.get(&probe).await?.bytes().await?;
        backend.store.delete(&probe).await?;
        if &got[..] != b"keelbase" {
            return Err(StoreError::Backend("read back different bytes".into()));
        }
        Ok(())
    }
}

fn remove_empty_dirs(dir: &Path) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            remove_empty_dirs(&p)?;
        }
    }
    std::fs::remove_dir(dir)
}
