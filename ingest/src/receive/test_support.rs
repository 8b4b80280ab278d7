//! A recording [`SampleWriter`] for the receivers' tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sluice_model::TimeSeries;
use sluice_model::bus::PbMetricMetadata;

use crate::IngestError;
use crate::publish::{Delivery, SampleWriter};

/// What a [`RecordingWriter`]'s deliveries do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// Acknowledged at once.
    #[default]
    Now,
    /// Never acknowledged (the broker is away).
    Never,
    /// Refused by Kafka.
    Fail,
}

/// Keeps every written batch; refuses writes while `failing` is set (the
/// producer's buffer is full) and acknowledges them as `ack` says.
#[derive(Debug, Default)]
pub(crate) struct RecordingWriter {
    batches: Mutex<Vec<Vec<TimeSeries>>>,
    metadata: Mutex<Vec<PbMetricMetadata>>,
    failing: AtomicBool,
    ack: Mutex<Ack>,
}

impl RecordingWriter {
    /// Makes the following writes fail (or succeed again).
    pub(crate) fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How the following writes are acknowledged.
    pub(crate) fn set_ack(&self, ack: Ack) {
        *self.ack.lock().unwrap() = ack;
    }

    /// Takes the batches written so far.
    pub(crate) fn take(&self) -> Vec<Vec<TimeSeries>> {
        std::mem::take(&mut *self.batches.lock().unwrap())
    }

    /// Takes the metadata entries written so far.
    pub(crate) fn take_metadata(&self) -> Vec<PbMetricMetadata> {
        std::mem::take(&mut *self.metadata.lock().unwrap())
    }
}

impl SampleWriter for RecordingWriter {
    fn submit(&self, series: Vec<TimeSeries>) -> Result<Delivery, IngestError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(IngestError::Backpressure("producer buffer full (test)".into()));
        }
        self.batches.lock().unwrap().push(series);
        Ok(match *self.ack.lock().unwrap() {
            Ack::Now => Box::pin(async { Ok(()) }),
            Ack::Never => Box::pin(std::future::pending()),
            Ack::Fail => Box::pin(async { Err(IngestError::Kafka("message refused (test)".into())) }),
        })
    }

    fn submit_metadata(&self, metadata: Vec<PbMetricMetadata>) -> Result<Delivery, IngestError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(IngestError::Backpressure("producer buffer full (test)".into()));
        }
        self.metadata.lock().unwrap().extend(metadata);
        Ok(Box::pin(async { Ok(()) }))
    }
}
