//! A recording [`SampleWriter`] for the receivers' tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sluice_model::TimeSeries;

use crate::IngestError;
use crate::publish::SampleWriter;

/// Keeps every written batch; fails while `failing` is set (Kafka down).
#[derive(Debug, Default)]
pub(crate) struct RecordingWriter {
    batches: Mutex<Vec<Vec<TimeSeries>>>,
    failing: AtomicBool,
}

impl RecordingWriter {
    /// Makes the following writes fail (or succeed again).
    pub(crate) fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Takes the batches written so far.
    pub(crate) fn take(&self) -> Vec<Vec<TimeSeries>> {
        std::mem::take(&mut *self.batches.lock().unwrap())
    }
}

impl SampleWriter for RecordingWriter {
    async fn write(&self, series: Vec<TimeSeries>) -> Result<(), IngestError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(IngestError::Kafka("broker down (test)".into()));
        }
        self.batches.lock().unwrap().push(series);
        Ok(())
    }
}
