//! The vocabulary every Sluice stage shares.
//!
//! Data flows through Sluice as [`TimeSeries`] (a sorted [`Labels`] set plus
//! [`Sample`]s). Scrape workers build them, [`bus`] encodes them into Kafka
//! records (Prometheus remote-write protobuf), the processor and the sink
//! decode them again, and the query layer hands them to the PromQL engine.
//! [`partition_for`] fixes which partition a series lives on, so per-series
//! order holds end to end. The [`clock`] and [`telemetry`] modules are the
//! injected time source and the self-metrics registry used by every role;
//! [`health`] holds the readiness checks `/-/ready` reports.

pub mod bus;
pub mod clock;
mod duration;
pub mod float_text;
pub mod fuzz_check;
pub mod health;
pub mod kafka;
mod labels;
mod sample;
pub mod telemetry;
pub mod validate;

pub use duration::{PromDuration, parse_duration};
pub use labels::{AGGR_LABEL, Label, Labels, METRIC_NAME, hash_pairs};
pub use sample::{STALE_NAN_BITS, Sample, TimeSeries, is_stale_nan, stale_nan};

/// The Kafka partition a series belongs to: `hash(labels) % partitions`.
///
/// Every stage that keys state by series relies on this being stable, so it
/// is defined once, here.
pub fn partition_for(labels: &Labels, partitions: i32) -> i32 {
    debug_assert!(partitions > 0);
    (labels.hash() % partitions.max(1) as u64) as i32
}
