//! The sink: samples topic in, Parquet segments out, exactly once.
//!
//! A consumer-group member ([`sluice_processor::consumer::BusConsumer`])
//! buffers decoded series per partition. Every `flush_interval` (or when a
//! buffer reaches `max_segment_samples`) each partition's buffer becomes one
//! segment ([`segment::writer`]) named after the offset range it covers; only
//! after the segment is published (fsynced and renamed) is the offset after
//! it committed. On restart, records at or below the highest published
//! offset of a partition are skipped, so a crash between publication and
//! commit duplicates nothing, and a crash before publication loses nothing
//! (the uncommitted records are read again). A sample is stored only when it
//! is newer than its series' newest stored one ([`watermark`]), so a second
//! copy of a write (a retry whose first copy Kafka took after all) is not
//! stored twice either.

pub mod compact;
pub mod config;
mod run;
pub mod segment;
pub mod store;
pub mod watermark;

use std::path::Path;

pub use config::SinkConfig;
pub use run::{SinkTable, run_sink, run_sink_table};

/// Sink failures.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Filesystem failure (external).
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Object-store failure (external).
    #[error("{location}: {source}")]
    Store {
        /// The object key.
        location: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A storage location or option that cannot be used.
    #[error("{0}")]
    Config(String),
    /// A segment file that does not read back as a Sluice segment.
    #[error("corrupt segment: {0}")]
    Corrupt(String),
    /// Kafka failure (external).
    #[error(transparent)]
    Kafka(#[from] sluice_processor::ProcessorError),
    /// A bug.
    #[error("internal: {0}")]
    Internal(String),
}

impl SinkError {
    pub(crate) fn store(location: &object_store::path::Path, source: object_store::Error) -> Self {
        SinkError::Store {
            location: location.to_string(),
            source,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
