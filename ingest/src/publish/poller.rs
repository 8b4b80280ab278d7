//! A producer with its own thread serving delivery reports.
//!
//! rdkafka's `ThreadedProducer` polls in calls of 100 ms, and each call
//! ends by spinning through its last fraction of a millisecond: the time
//! left is truncated to whole milliseconds, 0 polls without waiting, and
//! the call loops until its deadline. That spin was about half of the
//! polling thread's 8 % of the scrape role's CPU (BENCHMARKS.md, "Scrape →
//! Kafka"). This thread polls in
//! calls of [`POLL`], so it spins a tenth as often; a delivery report is
//! served as soon as it comes either way.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::producer::{BaseProducer, ProducerContext};

/// How long one poll call waits for delivery reports: also how long the
/// thread can outlive its [`PolledProducer`].
const POLL: Duration = Duration::from_secs(1);

/// A [`BaseProducer`] whose delivery reports a thread of its own serves.
pub(super) struct PolledProducer<C: ProducerContext + 'static> {
    producer: Arc<BaseProducer<C>>,
    stop: Arc<AtomicBool>,
}

impl<C: ProducerContext + 'static> PolledProducer<C> {
    pub(super) fn new(producer: BaseProducer<C>) -> std::io::Result<Self> {
        let producer = Arc::new(producer);
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (producer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("sluice-producer-poll".to_string())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.poll(POLL);
                }
            })?;
        Ok(PolledProducer { producer, stop })
    }

    /// The producer, for work that runs elsewhere (a metadata fetch).
    pub(super) fn shared(&self) -> Arc<BaseProducer<C>> {
        self.producer.clone()
    }
}

impl<C: ProducerContext + 'static> Deref for PolledProducer<C> {
    type Target = BaseProducer<C>;

    fn deref(&self) -> &BaseProducer<C> {
        &self.producer
    }
}

impl<C: ProducerContext + 'static> Drop for PolledProducer<C> {
    /// The thread stops after its current poll (within [`POLL`]) and drops
    /// the producer then; it is not waited for, so dropping a publisher
    /// does not block. Callers that must deliver what is queued flush
    /// first (`KafkaPublisher::flush`).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
