//! Where segments live: a local directory or an object-store bucket.
//!
//! Everything that reads or writes segment files goes through
//! [`SegmentStore`], so the sink, the compactor, `sluice import` and the
//! query layer work the same on a laptop directory and on S3 (or anything
//! S3-compatible). Keys are `<base>/<table>/<partition dir>/<name>`.
//!
//! Publication is a single atomic step in both cases: on S3 a `PUT` makes a
//! whole object visible at once; in a local directory the file is written
//! under a temp name, fsynced, renamed and the directory fsynced (so it also
//! survives a power loss, which `object_store`'s own local `put` does not
//! promise).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::SinkError;
use crate::segment::layout::{SegmentKey, parse_segment_key};

/// A segment file as listed by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSegment {
    /// Full object key.
    pub location: ObjPath,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, ms since the epoch (when it was published).
    pub modified_ms: i64,
    /// Partition and offsets, from the key.
    pub key: SegmentKey,
}

/// Handle on the segment storage; cheap to clone.
#[derive(Debug, Clone)]
pub struct SegmentStore {
    store: Arc<dyn ObjectStore>,
    /// Prefix of every key.
    base: ObjPath,
    /// The URL DataFusion finds `store` under (`file:///`, `s3://bucket/`).
    store_url: Url,
    /// The base directory, for a local store.
    local_dir: Option<PathBuf>,
}

impl SegmentStore {
    /// Opens `location`: a directory path, a `file://` URL, or an
    /// `s3://bucket/prefix` URL. `options` are `object_store`'s S3 keys
    /// (`aws_endpoint`, `aws_region`, `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_allow_http`, ...); the standard `AWS_*`
    /// environment variables are read too, so in Kubernetes credentials can
    /// come from the pod's environment.
    pub fn open(location: &str, options: &BTreeMap<String, String>) -> Result<Self, SinkError> {
        let bad = |msg: String| SinkError::Config(format!("storage location {location:?}: {msg}"));
        match parse_location(location, options).map_err(bad)? {
            Location::Local(dir) => Self::local(&dir),
            Location::S3 {
                bucket,
                prefix,
                builder,
            } => {
                let store = builder.build().map_err(|e| bad(e.to_string()))?;
                let base = ObjPath::parse(prefix).map_err(|e| bad(e.to_string()))?;
                let store_url = Url::parse(&format!("s3://{bucket}/")).map_err(|e| bad(e.to_string()))?;
                Ok(SegmentStore {
                    store: Arc::new(store),
                    base,
                    store_url,
                    local_dir: None,
                })
            }
        }
    }

    /// Checks `location` and `options` without touching the store (for
    /// config validation).
    pub fn check_location(location: &str, options: &BTreeMap<String, String>) -> Result<(), String> {
        parse_location(location, options).map(|_| ())
    }

    /// A store over a local directory (created if missing).
    pub fn local(dir: &Path) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        let dir = dir.canonicalize().map_err(|e| SinkError::io(dir, e))?;
        let base = ObjPath::from_absolute_path(&dir)
            .map_err(|e| SinkError::Config(format!("{}: {e}", dir.display())))?;
        Ok(SegmentStore {
            store: Arc::new(LocalFileSystem::new()),
            base,
            store_url: Url::parse("file:///").map_err(|e| SinkError::Internal(e.to_string()))?,
            local_dir: Some(dir),
        })
    }

    /// The underlying object store (for DataFusion's registry).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The URL to register [`Self::object_store`] under.
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    /// A URL DataFusion can read `location` by (once the store is registered).
    pub fn url_of(&self, location: &ObjPath) -> String {
        format!("{}{}", self.store_url, location)
    }

    /// The key of a file of `table` (relative parts joined under the base).
    pub fn key(&self, table: &str, relative: &str) -> ObjPath {
        let mut p = self.base.clone().join(table);
        for part in relative.split('/') {
            p = p.join(part);
        }
        p
    }

    /// Every segment of `table`, sorted by key. Temp files and foreign
    /// files are left out.
    pub async fn list(&self, table: &str) -> Result<Vec<StoredSegment>, SinkError> {
        let prefix = self.base.clone().join(table);
        let objects: Vec<_> = match self.store.list(Some(&prefix)).try_collect().await {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(SinkError::store(&prefix, e)),
        };
        let mut out: Vec<StoredSegment> = objects
            .into_iter()
            .filter_map(|o| {
                let rel: Vec<_> = o.location.prefix_match(&prefix)?.collect();
                if rel.len() != 2 {
                    return None;
                }
                let key = parse_segment_key(rel[0].as_ref(), rel[1].as_ref())?;
                Some(StoredSegment {
                    location: o.location,
                    size: o.size,
                    modified_ms: o.last_modified.timestamp_millis(),
                    key,
                })
            })
            .collect();
        out.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(out)
    }

    /// Publishes `data` under `location` atomically.
    pub async fn put(&self, location: &ObjPath, data: Bytes) -> Result<(), SinkError> {
        match &self.local_dir {
            Some(_) => {
                let path = self.local_path(location)?;
                tokio::task::spawn_blocking(move || write_durably(&path, &data))
                    .await
                    .map_err(|e| SinkError::Internal(format!("writer task: {e}")))?
            }
            None => self
                .store
                .put(location, PutPayload::from_bytes(data))
                .await
                .map(|_| ())
                .map_err(|e| SinkError::store(location, e)),
        }
    }

    /// Removes a segment (already gone is fine).
    pub async fn delete(&self, location: &ObjPath) -> Result<(), SinkError> {
        match self.store.delete(location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(SinkError::store(location, e)),
        }
    }

    /// Bytes `range` of an object.
    pub async fn get_range(
        &self,
        location: &ObjPath,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, SinkError> {
        self.store
            .get_range(location, range)
            .await
            .map_err(|e| SinkError::store(location, e))
    }

    /// The whole object.
    pub async fn get(&self, location: &ObjPath) -> Result<Bytes, SinkError> {
        let r = self
            .store
            .get(location)
            .await
            .map_err(|e| SinkError::store(location, e))?;
        r.bytes().await.map_err(|e| SinkError::store(location, e))
    }

    /// Removes temp files a crashed local writer left in `table` (they were
    /// never published). Object stores have none: a failed `PUT` leaves
    /// nothing behind.
    pub fn remove_temp_files(&self, table: &str) -> Result<usize, SinkError> {
        let Some(dir) = &self.local_dir else { return Ok(0) };
        let mut n = 0;
        let table_dir = dir.join(table);
        let Ok(parts) = std::fs::read_dir(&table_dir) else {
            return Ok(0);
        };
        for part in parts.flatten() {
            let Ok(files) = std::fs::read_dir(part.path()) else {
                continue;
            };
            for f in files.flatten() {
                if f.file_name().to_string_lossy().ends_with(".tmp") {
                    std::fs::remove_file(f.path()).map_err(|e| SinkError::io(&f.path(), e))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn local_path(&self, location: &ObjPath) -> Result<PathBuf, SinkError> {
        // Keys of a local store are absolute paths without the leading `/`.
        let p = PathBuf::from(format!("/{location}"));
        match &self.local_dir {
            Some(dir) if p.starts_with(dir) => Ok(p),
            _ => Err(SinkError::Internal(format!("{location} is outside the store"))),
        }
    }
}

enum Location {
    Local(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        // Boxed: the builder is large and the local variant tiny.
        builder: Box<AmazonS3Builder>,
    },
}

fn parse_location(location: &str, options: &BTreeMap<String, String>) -> Result<Location, String> {
    let url = match Url::parse(location) {
        // A plain path (a one-letter "scheme" is a Windows drive).
        Err(_) => return local_without_options(PathBuf::from(location), options),
        Ok(u) if u.scheme().len() == 1 => return local_without_options(PathBuf::from(location), options),
        Ok(u) => u,
    };
    match url.scheme() {
        "file" => {
            let dir = url.to_file_path().map_err(|_| "not a local path".to_string())?;
            local_without_options(dir, options)
        }
        "s3" => {
            let bucket = url
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or("no bucket")?
                .to_string();
            let mut builder = AmazonS3Builder::from_env().with_url(location);
            let mut unknown = Vec::new();
            for (k, v) in options {
                match AmazonS3ConfigKey::from_str(k) {
                    Ok(key) => builder = builder.with_config(key, v),
                    Err(_) => unknown.push(k.as_str()),
                }
            }
            if !unknown.is_empty() {
                return Err(format!("unknown S3 option(s): {}", unknown.join(", ")));
            }
            Ok(Location::S3 {
                bucket,
                prefix: url.path().trim_matches('/').to_string(),
                builder: Box::new(builder),
            })
        }
        other => Err(format!(
            "unsupported scheme {other:?} (use a directory, file:// or s3://)"
        )),
    }
}

fn local_without_options(dir: PathBuf, options: &BTreeMap<String, String>) -> Result<Location, String> {
    if options.is_empty() {
        Ok(Location::Local(dir))
    } else {
        Err("storage_options apply to object stores, not to a local directory".into())
    }
}

/// Temp file, fsync, rename, fsync the directory: readers see either no
/// file or the complete one, even after a crash or power loss.
fn write_durably(path: &Path, data: &[u8]) -> Result<(), SinkError> {
    let dir = path
        .parent()
        .ok_or_else(|| SinkError::Internal(format!("{} has no directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp).map_err(|e| SinkError::io(&tmp, e))?;
    f.write_all(data).map_err(|e| SinkError::io(&tmp, e))?;
    f.sync_all().map_err(|e| SinkError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SinkError::io(path, e))?;
    let d = OpenOptions::new()
        .read(true)
        .open(dir)
        .map_err(|e| SinkError::io(dir, e))?;
    d.sync_all().map_err(|e| SinkError::io(dir, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_put_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = SegmentStore::open(dir.path().to_str().unwrap(), &BTreeMap::new()).unwrap();
        let loc = store.key(
            "samples",
            "p00002/00000000000000000005-00000000000000000009.parquet",
        );
        store.put(&loc, Bytes::from_static(b"x")).await.unwrap();
        std::fs::write(dir.path().join("samples/p00002/.junk.tmp"), b"t").unwrap();
        let listed = store.list("samples").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].key.partition, listed[0].key.first_offset), (2, 5));
        assert_eq!(store.remove_temp_files("samples").unwrap(), 1);
        store.delete(&loc).await.unwrap();
        assert!(store.list("samples").await.unwrap().is_empty());
        assert!(store.list("absent").await.unwrap().is_empty());
    }

    #[test]
    fn rejects_unknown_schemes_and_options() {
        assert!(SegmentStore::open("gs://b/x", &BTreeMap::new()).is_err());
        let opts = BTreeMap::from([("aws_no_such_option".to_string(), "1".to_string())]);
        assert!(SegmentStore::open("s3://b/x", &opts).is_err());
    }
}
