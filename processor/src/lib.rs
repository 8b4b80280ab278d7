//! The consuming side of the bus, shared by every stream stage.
//!
//! A [`consumer::BusConsumer`] joins a consumer group on a samples topic
//! with auto-commit off, decodes each record into series (a record that
//! does not decode is counted, logged once with its partition and offset,
//! and skipped — never retried into a crash loop), tells its owner which
//! partitions were revoked so buffered work for them can be dropped, and
//! commits offsets only when the owner says the output derived from them is
//! durable. The sink is its first user; downsampling and rules build on it.

mod bounded_close;
pub mod checkpoint;
pub mod config;
pub mod consumer;
pub mod downsample;
pub mod operator;
pub mod rules;
mod state_codec;

/// Stream-stage failures.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The broker or the Kafka client failed (external).
    #[error("kafka: {0}")]
    Kafka(String),
    /// The configuration does not fit the stored state (the user's to fix).
    #[error("{0}")]
    Config(String),
}
