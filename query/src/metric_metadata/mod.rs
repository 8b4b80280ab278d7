//! Metric metadata (TYPE/HELP/UNIT) for `/api/v1/metadata`.
//!
//! The scrape workers and the remote_write receiver publish metadata to
//! the compacted `<prefix>.metadata` topic (see `docs/bus-format.md`); a
//! query process reads the whole topic from the beginning and keeps
//! following it ([`feed`]) into an in-memory [`store::MetadataStore`],
//! which answers the endpoint the way Prometheus merges its targets'
//! metadata: per metric family, the distinct (type, help, unit) entries.

pub mod feed;
pub mod store;

pub use feed::run_metadata_feed;
pub use store::{MetadataEntry, MetadataQuery, MetadataStore};
