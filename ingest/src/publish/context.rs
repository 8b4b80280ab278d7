//! What happens when librdkafka reports a record delivered or failed: its
//! share of the budget is given back, the counters move and whoever waits
//! for the write is told. This runs for every record, whether or not anyone
//! still waits for it (a remote_write request may have been answered, a
//! scrape loop has moved on).

use std::sync::Arc;

use futures::channel::oneshot;
use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use sluice_model::telemetry::{self, Counter, Gauge};
use tracing::warn;

use super::budget::{Budget, Reservation};

/// One record on its way: the opaque librdkafka hands back on delivery.
pub(super) struct Pending {
    pub(super) reservation: Reservation,
    pub(super) samples: usize,
    pub(super) bytes: usize,
    /// A metadata record (counted apart from the samples topic's records).
    pub(super) metadata: bool,
    pub(super) done: oneshot::Sender<Result<(), String>>,
}

/// The publisher's producer context.
pub(super) struct PublishContext {
    pub(super) budget: Arc<Budget>,
    pub(super) gauges: BufferGauges,
    records: Counter,
    samples: Counter,
    bytes: Counter,
    failed: Counter,
    metadata_records: Counter,
    metadata_failed: Counter,
}

impl PublishContext {
    pub(super) fn new(topic: &str, budget: Arc<Budget>) -> Self {
        let reg = telemetry::global();
        let labels = [("topic", topic)];
        PublishContext {
            gauges: BufferGauges::new(topic, &budget),
            budget,
            records: reg.counter(
                "sluice_publish_records_total",
                "Records produced to the samples topic.",
                &labels,
            ),
            samples: reg.counter(
                "sluice_publish_samples_total",
                "Samples acknowledged by Kafka.",
                &labels,
            ),
            bytes: reg.counter(
                "sluice_publish_bytes_total",
                "Record value bytes acknowledged by Kafka.",
                &labels,
            ),
            failed: reg.counter(
                "sluice_publish_failed_samples_total",
                "Samples of records that Kafka finally refused or that timed out (after librdkafka's retries).",
                &labels,
            ),
            metadata_records: reg.counter(
                "sluice_publish_metadata_records_total",
                "Metric metadata records (TYPE/HELP/UNIT) acknowledged by Kafka.",
                &[],
            ),
            metadata_failed: reg.counter(
                "sluice_publish_metadata_failed_records_total",
                "Metric metadata records that Kafka finally refused or that timed out.",
                &[],
            ),
        }
    }
}

impl ClientContext for PublishContext {}

impl ProducerContext for PublishContext {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Box<Pending>) {
        let Pending {
            reservation,
            samples,
            bytes,
            metadata,
            done,
        } = *pending;
        drop(reservation);
        self.gauges.update(&self.budget);
        let outcome = match result {
            Ok(_) if metadata => {
                self.metadata_records.inc();
                Ok(())
            }
            Err((e, _)) if metadata => {
                self.metadata_failed.inc();
                warn!(error = %e, "Kafka did not take a metadata record");
                Err(e.to_string())
            }
            Ok(_) => {
                self.records.inc();
                self.samples.inc_by(samples as u64);
                self.bytes.inc_by(bytes as u64);
                Ok(())
            }
            Err((e, msg)) => {
                self.failed.inc_by(samples as u64);
                warn!(error = %e, partition = msg.partition(), samples, "Kafka did not take a record");
                Err(e.to_string())
            }
        };
        // Nobody waiting any more is normal (the write was answered already).
        let _ = done.send(outcome);
    }
}

/// The budget as self-metrics: what is in flight, the peak, the limit.
pub(super) struct BufferGauges {
    in_flight: Gauge,
    peak: Gauge,
}

impl BufferGauges {
    fn new(topic: &str, budget: &Budget) -> Self {
        let reg = telemetry::global();
        let labels = [("topic", topic)];
        reg.gauge(
            "sluice_publish_buffer_limit_bytes",
            "The producer's memory budget (kafka.producer_buffer_bytes).",
            &labels,
        )
        .set(budget.limit() as f64);
        BufferGauges {
            in_flight: reg.gauge(
                "sluice_publish_buffer_bytes",
                "Bytes of records handed to Kafka and not yet acknowledged.",
                &labels,
            ),
            peak: reg.gauge(
                "sluice_publish_buffer_peak_bytes",
                "The most bytes ever waiting for Kafka at once since start.",
                &labels,
            ),
        }
    }

    pub(super) fn update(&self, budget: &Budget) {
        self.in_flight.set(budget.in_flight() as f64);
        self.peak.set(budget.peak() as f64);
    }
}
