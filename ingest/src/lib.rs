//! Ingest: from exporters to the samples topic.
//!
//! Scrape configs (Prometheus' own format, [`config`]) resolve into
//! [`target::Target`]s; the [`manager::ScrapeManager`] runs one loop per
//! target that fetches and parses the exposition ([`exposition`]), labels
//! the samples and adds `up` & co. ([`scrape`]), and hands them to a
//! [`publish::SampleWriter`] — in production the [`publish::KafkaPublisher`],
//! which batches series per partition into remote-write records. The
//! families' TYPE/HELP/UNIT go to the metadata topic through the same
//! writer ([`publish::SampleWriter::submit_metadata`]), when they change
//! ([`target_metadata`]).

pub mod config;
pub mod discovery;
pub mod exposition;
pub mod http_client;
pub mod manager;
pub mod publish;
pub mod receive;
pub mod relabel;
pub mod scrape;
pub mod shard;
pub mod target;
pub mod target_metadata;
pub mod topics;

/// Ingest failures.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The broker or the Kafka client failed (external).
    #[error("kafka: {0}")]
    Kafka(String),
    /// The producer's memory budget is full: nothing was queued; retry
    /// later or count the samples as dropped.
    #[error("{0}")]
    Backpressure(String),
}
