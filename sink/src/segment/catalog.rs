//! The published segments of one table, from their footers.
//!
//! A refresh lists the store (the listing is the manifest) and reads the
//! footer of each segment not seen before; footers are immutable, so each
//! is read once per process. The compactor and the query layer share it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object_store::path::Path as ObjPath;
use tracing::warn;

use super::layout::split_superseded;
use super::meta::{SegmentMeta, read_segment_meta};
use crate::SinkError;
use crate::store::SegmentStore;

/// A table's segments at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// What readers see, sorted by key.
    pub visible: Vec<Arc<SegmentMeta>>,
    /// Inputs of merges whose output is published: hidden, awaiting deletion.
    pub superseded: Vec<Arc<SegmentMeta>>,
}

/// Footer cache over one table of a store.
#[derive(Debug)]
pub struct Catalog {
    store: SegmentStore,
    table: String,
    known: Mutex<HashMap<ObjPath, Arc<SegmentMeta>>>,
}

impl Catalog {
    /// A catalog of `table` in `store`.
    pub fn new(store: SegmentStore, table: &str) -> Self {
        Catalog {
            store,
            table: table.to_string(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The store the catalog reads.
    pub fn store(&self) -> &SegmentStore {
        &self.store
    }

    /// The table it catalogs.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Lists the table again; reads footers of new segments only.
    pub async fn refresh(&self) -> Result<Snapshot, SinkError> {
        let listed = self.store.list(&self.table).await?;
        let cached: HashMap<ObjPath, Arc<SegmentMeta>> = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            listed
                .iter()
                .filter_map(|s| known.get(&s.location).map(|m| (s.location.clone(), m.clone())))
                .collect()
        };
        let mut current = HashMap::with_capacity(listed.len());
        for seg in &listed {
            if let Some(m) = cached.get(&seg.location) {
                current.insert(seg.location.clone(), m.clone());
                continue;
            }
            match read_segment_meta(&self.store, seg).await {
                Ok(m) => {
                    current.insert(seg.location.clone(), Arc::new(m));
                }
                // Deleted between the listing and the read (compaction).
                Err(SinkError::Store {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => {}
                // A foreign or damaged file is reported, not fatal: the
                // rest of the data stays usable.
                Err(e) => warn!(error = %e, "ignoring unreadable segment"),
            }
        }
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = current.clone();
        let mut all: Vec<Arc<SegmentMeta>> = current.into_values().collect();
        all.sort_by(|a, b| a.location.cmp(&b.location));
        let (visible, superseded) = split_superseded(all, |m: &Arc<SegmentMeta>| m.key());
        Ok(Snapshot { visible, superseded })
    }
}
