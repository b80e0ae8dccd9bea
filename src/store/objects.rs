//! The files of the job store (uploaded originals, outputs, manifests, exports) through
//! the `object_store` crate: the data folder by default ([`LocalFileSystem`] rooted at it,
//! so a key is the path a file has under the folder today), or S3-compatible storage
//! (AWS S3, MinIO, Cloudflare R2, ...) named by a URL, `s3://bucket/prefix`, with the
//! standard `AWS_*` variables (endpoint, keys, region, `AWS_ALLOW_HTTP`).
//!
//! Every write is a whole-object put: the local folder stages the bytes under a temp name
//! and renames (with fsync, as every other write of the project), S3 publishes a PUT
//! whole or not at all. So a put that fails midway leaves no object.
//!
//! The API is sync. object_store is async, and its callers here are rayon's threads and
//! `spawn_blocking` threads, never async tasks: each call is run to its end on one small
//! runtime of the seam's own ([`runtime`]). `block_on` from a `spawn_blocking` thread of
//! the server's runtime is allowed (that thread is not inside the server's runtime; the
//! PostgreSQL client relies on the same); from an async task it would panic, as would
//! every other blocking call of the job store.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use super::StoreError;

/// The runtime every object store call runs on: one worker thread for the HTTP client's
/// background tasks (connection pools), plus its blocking pool for the local folder's
/// file calls. A process-wide static: it is never dropped, so no store dropped on an async
/// thread can panic, and stores of watched folders made per batch share it.
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shelfready-objects")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|error| StoreError::ObjectStoreUnusable {
        store: "(any)".into(),
        error: format!("cannot start its runtime: {error}"),
    })
}

/// Runs one object store future to its end on [`runtime`], from a non-async thread.
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, StoreError> {
    Ok(runtime()?.block_on(f))
}

/// Where a job store keeps its files.
#[derive(Clone)]
pub struct Objects {
    inner: Arc<dyn ObjectStore>,
    /// How errors name the store: the folder, or `s3://bucket/prefix` (never a secret).
    name: String,
    /// The folder, when the store is a local one.
    folder: Option<PathBuf>,
    /// What every key is under (a batch's files: `batches/<id>/`), empty or ending in `/`.
    prefix: String,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Objects {
    /// A local folder (created if missing); a key is a path under it.
    pub fn local(folder: &Path) -> Result<Objects, StoreError> {
        std::fs::create_dir_all(folder).map_err(|error| StoreError::Write {
            path: folder.display().to_string(),
            error,
        })?;
        let fs = LocalFileSystem::new_with_prefix(folder)
            .map_err(|e| StoreError::ObjectStoreUnusable {
                store: folder.display().to_string(),
                error: e.to_string(),
            })?
            // Durable before it returns, as every write of the project is; and a deleted
            // batch leaves no empty folders behind.
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Objects {
            inner: Arc::new(fs),
            name: folder.display().to_string(),
            folder: Some(folder.to_path_buf()),
            prefix: String::new(),
        })
    }

    /// The store a URL names: none (or empty) is the data folder `data`; `s3://bucket/prefix`
    /// is that bucket, configured from the `AWS_*` variables. The store is reached before
    /// this returns: a bucket that does not exist or an endpoint that refuses is an error
    /// here, at start, not at the first upload.
    pub fn open(url: Option<&str>, data: &Path) -> Result<Objects, StoreError> {
        Self::open_with(url, data, std::env::vars())
    }

    /// [`Objects::open`] with the `AWS_*` settings given rather than read from the
    /// environment (a test, or a process serving two stores).
    pub fn open_with(
        url: Option<&str>,
        data: &Path,
        settings: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Objects, StoreError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Objects::local(data);
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            // Only the scheme is repeated: the rest is the user's and may be long.
            let scheme = url.split_once("://").map_or("(none)", |(s, _)| s);
            return Err(StoreError::BadStoreUrl {
                error: format!("its scheme is {scheme}; shelfready reads s3://bucket/prefix URLs (or none, for the data folder)"),
            });
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() || bucket.contains(['@', ':', '?', '#']) {
            return Err(StoreError::BadStoreUrl {
                error: "it names no bucket: write s3://bucket or s3://bucket/prefix (keys and endpoint come from the AWS_* variables)".into(),
            });
        }
        let name = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        // The HTTP client's TLS runs on ring (Cargo.toml); installing it twice is no error.
        // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange
        // (aws-lc-rs has it, at a minute of C in every cold build): the bucket is still
        // reached over TLS 1.3, with classical key exchange.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new();
        for (k, v) in settings {
            // Only AWS variables, as AmazonS3Builder::from_env reads them.
            if let Some(config) = k
                .starts_with("AWS_")
                .then(|| k.to_ascii_lowercase().parse().ok())
                .flatten()
            {
                builder = builder.with_config(config, v);
            }
        }
        let s3 = builder
            .with_bucket_name(bucket)
            // A refused endpoint is said within seconds, not after minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| StoreError::ObjectStoreUnusable {
                store: name.clone(),
                error: e.to_string(),
            })?;
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, key(prefix)))
        };
        let objects = Objects {
            inner,
            name,
            folder: None,
            prefix: String::new(),
        };
        objects.check()?;
        Ok(objects)
    }

    /// How messages name the store.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder of the store (with its prefix), when the files are in a local one (the
    /// embedded default).
    pub fn folder(&self) -> Option<PathBuf> {
        self.local_path("")
    }

    /// Whether the files are in a local folder (every process that reads them must reach it).
    pub fn is_local(&self) -> bool {
        self.folder.is_some()
    }

    /// The same store with every key under `prefix` (a folder: `batches/<id>`); keys are
    /// then given, and listed, relative to it.
    pub fn scoped(&self, prefix: &str) -> Objects {
        let mut o = self.clone();
        let p = prefix.trim_matches('/');
        if !p.is_empty() {
            o.prefix = format!("{}{p}/", self.prefix);
        }
        o
    }

    /// Where the file `k` is: its path when the store is a local folder (read as any
    /// file), else the object.
    pub fn at(&self, k: &str) -> FileAt {
        match self.local_path(k) {
            Some(p) => FileAt::Path(p),
            None => FileAt::Object {
                objects: self.clone(),
                key: k.to_string(),
            },
        }
    }

    /// The key `k` has in the whole store (with this one's prefix).
    fn full(&self, k: &str) -> Key {
        key(&format!("{}{k}", self.prefix))
    }

    /// Whether the store answers: one listing of at most a page (a bucket that went away
    /// or an endpoint that stopped answering fails it).
    pub fn check(&self) -> Result<(), StoreError> {
        let mut list = self.inner.list(Some(&key(".ready-probe")));
        match block_on(async move { list.next().await })? {
            Some(Err(e)) => Err(self.unusable(e)),
            _ => Ok(()),
        }
    }

    /// Puts a whole object: after an error there is no object, or the one there before.
    pub fn put(&self, k: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let payload = PutPayload::from(bytes.to_vec());
        block_on(self.inner.put(&self.full(k), payload))?
            .map(|_| ())
            .map_err(|e| self.write_err(k, e))
    }

    /// An object's bytes; `None` when there is none.
    pub fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let got = block_on(async {
            let r = self.inner.get(&self.full(k)).await?;
            r.bytes().await
        })?;
        match got {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.read_err(k, e)),
        }
    }

    /// The key a source's bytes are kept under: `originals/<sha256>`.
    pub fn original_key(bytes: &[u8]) -> String {
        format!("originals/{}", super::sha256_hex(bytes))
    }

    /// Keeps a source's bytes by their content ([`Objects::original_key`]), once an asset
    /// naming that key is recorded (the job store counts it, so no batch letting go of the
    /// same photo deletes it meanwhile): the same photo sent twice is kept once (a put of
    /// a key already there is skipped).
    pub fn keep_original(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let k = Self::original_key(bytes);
        if self.size(&k)? != Some(bytes.len() as u64) {
            self.put(&k, bytes)?;
        }
        Ok(())
    }

    /// Bytes `range` of an object.
    pub fn get_range(&self, k: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        block_on(self.inner.get_range(&self.full(k), range))?
            .map(|b| b.to_vec())
            .map_err(|e| self.read_err(k, e))
    }

    /// A reader of an object, its bytes fetched as they are read (a chunk at a time):
    /// a download or a zip streams from the store without holding the object.
    pub fn reader(&self, k: &str) -> Result<ObjectReader, StoreError> {
        self.reader_of(k, None)
    }

    /// A reader of bytes `range` of an object, streamed as [`Objects::reader`] streams.
    pub fn range_reader(&self, k: &str, range: Range<u64>) -> Result<ObjectReader, StoreError> {
        self.reader_of(k, Some(range))
    }

    fn reader_of(&self, k: &str, range: Option<Range<u64>>) -> Result<ObjectReader, StoreError> {
        let opts = object_store::GetOptions::default().with_range(range);
        let stream = block_on(self.inner.get_opts(&self.full(k), opts))?
            .map_err(|e| self.read_err(k, e))?
            .into_stream();
        Ok(ObjectReader {
            stream,
            chunk: bytes::Bytes::new(),
            key: k.to_string(),
            store: self.name.clone(),
        })
    }

    /// An object's size in bytes; `None` when there is none.
    pub fn size(&self, k: &str) -> Result<Option<u64>, StoreError> {
        match block_on(self.inner.head(&self.full(k)))? {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.read_err(k, e)),
        }
    }

    /// Deletes an object; one already gone is not an error.
    pub fn delete(&self, k: &str) -> Result<(), StoreError> {
        match block_on(self.inner.delete(&self.full(k)))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.write_err(k, e)),
        }
    }

    /// Deletes every object under `prefix` (a folder: `batches/<id>`); returns how many.
    pub fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let keys = self.list(prefix)?;
        for (k, _) in &keys {
            self.delete(k)?;
        }
        Ok(keys.len())
    }

    /// Every object under `prefix` (a folder), with its size, by key.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let p = self.full(prefix);
        let listed = block_on(async {
            let mut out = Vec::new();
            let mut s = self.inner.list(Some(&p));
            while let Some(meta) = s.next().await {
                out.push(meta);
            }
            out
        })?;
        let mut out = Vec::with_capacity(listed.len());
        for meta in listed {
            match meta {
                Ok(m) => {
                    let k = key_text(&m.location);
                    let k = k.strip_prefix(&self.prefix).unwrap_or(&k).to_string();
                    out.push((k, m.size));
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.read_err(prefix, e)),
            }
        }
        out.sort();
        Ok(out)
    }

    /// The path of `k` in a local store (messages name files as before the seam).
    fn local_path(&self, k: &str) -> Option<PathBuf> {
        Some(self.folder.as_ref()?.join(format!("{}{k}", self.prefix)))
    }

    fn read_err(&self, k: &str, e: object_store::Error) -> StoreError {
        if let Some(path) = self.local_path(k) {
            return StoreError::Read {
                path: path.display().to_string(),
                error: io_error(e),
            };
        }
        StoreError::ObjectRead {
            key: k.to_string(),
            store: self.name.clone(),
            error: e.to_string(),
        }
    }

    fn write_err(&self, k: &str, e: object_store::Error) -> StoreError {
        if let Some(path) = self.local_path(k) {
            return StoreError::Write {
                path: path.display().to_string(),
                error: io_error(e),
            };
        }
        StoreError::ObjectWrite {
            key: k.to_string(),
            store: self.name.clone(),
            error: e.to_string(),
        }
    }

    fn unusable(&self, e: object_store::Error) -> StoreError {
        StoreError::ObjectStoreUnusable {
            store: self.name.clone(),
            error: e.to_string(),
        }
    }
}

/// The OS error under a local folder's failure (a full disk stays a full disk), else the
/// message.
fn io_error(e: object_store::Error) -> std::io::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return std::io::Error::from_raw_os_error(code);
            }
            return std::io::Error::new(io.kind(), io.to_string());
        }
        cause = c.source();
    }
    std::io::Error::other(e.to_string())
}

/// A key as object_store takes it: `/`-separated parts, each percent-encoded where it
/// holds a character object stores refuse (names shelfready makes hold none of them, so
/// in the local folder a key is the file's path under it, as today).
fn key(k: &str) -> Key {
    Key::from_iter(k.split('/').filter(|p| !p.is_empty()))
}

/// A listed key back as the text it was put with (its parts decoded).
fn key_text(k: &Key) -> String {
    k.parts()
        .map(|p| {
            percent_encoding::percent_decode_str(p.as_ref())
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An object read a chunk at a time ([`Objects::reader`]).
pub struct ObjectReader {
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
    key: String,
    store: String,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let next = block_on(self.stream.next()).map_err(std::io::Error::other)?;
            match next {
                None => return Ok(0),
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!(
                        "cannot read {} in {}: {e}",
                        self.key, self.store
                    )))
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Where a file's bytes are: a local path (a walked folder, a watched inbox, the data
/// folder), or an object of the store.
#[derive(Debug, Clone)]
pub enum FileAt {
    Path(PathBuf),
    Object { objects: Objects, key: String },
}

impl FileAt {
    /// A reader of the bytes, streamed from the store for an object.
    pub fn reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match self {
            FileAt::Path(p) => Ok(Box::new(std::fs::File::open(p)?)),
            FileAt::Object { objects, key } => objects
                .reader(key)
                .map(|r| Box::new(r) as Box<dyn Read + Send>)
                .map_err(std::io::Error::other),
        }
    }

    /// The whole file.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader()?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Whether the file is there (an object the store cannot be asked about is not).
    pub fn exists(&self) -> bool {
        match self {
            FileAt::Path(p) => p.is_file(),
            FileAt::Object { objects, key } => objects.size(key).ok().flatten().is_some(),
        }
    }

    /// The file's size and, for a local file, when it was last changed.
    pub fn size_and_time(&self) -> Option<(u64, Option<std::time::SystemTime>)> {
        match self {
            FileAt::Path(p) => {
                let m = std::fs::metadata(p).ok()?;
                Some((m.len(), m.modified().ok()))
            }
            FileAt::Object { objects, key } => Some((objects.size(key).ok()??, None)),
        }
    }

    /// What messages call it: the path, or the key in its store.
    pub fn display(&self) -> String {
        match self {
            FileAt::Path(p) => p.display().to_string(),
            FileAt::Object { objects, key } => format!("{key} in {}", objects.name()),
        }
    }
}
