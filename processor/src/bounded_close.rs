//! A Kafka consumer whose close on drop is bounded in time.
//!
//! rdkafka closes a consumer that has a `group.id` in its `Drop`, polling
//! until librdkafka reports the close done — and librdkafka waits for the
//! consumer's outstanding offset commits first. With the broker gone those
//! commits do not complete, so the drop waits until librdkafka gives up
//! (~45 s per consumer on tansu), and a stopping process drops its
//! consumers one after another: `sluice all` stopped right after its broker
//! took minutes. Offsets are only a fallback here (every stage resumes from
//! its own durable output), so losing the last commit is harmless; a
//! process that cannot stop is not.

use std::ops::Deref;
use std::sync::mpsc;
use std::time::Duration;

use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use tracing::warn;

/// How long a drop waits for librdkafka's close before leaving it behind.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// A [`StreamConsumer`] that is closed on a helper thread when dropped; the
/// drop returns once the close is done or after [`CLOSE_WITHIN`], whichever
/// comes first. A close that is left behind finishes (or dies with the
/// process) on its own thread.
pub(crate) struct BoundedClose<C: ConsumerContext + 'static> {
    consumer: Option<StreamConsumer<C>>,
    /// Names the consumer in the warning when its close is left behind.
    what: String,
}

impl<C: ConsumerContext + 'static> BoundedClose<C> {
    pub(crate) fn new(consumer: StreamConsumer<C>, what: String) -> Self {
        BoundedClose {
            consumer: Some(consumer),
            what,
        }
    }
}

impl<C: ConsumerContext + 'static> Deref for BoundedClose<C> {
    type Target = StreamConsumer<C>;

    fn deref(&self) -> &StreamConsumer<C> {
        // Only `drop` takes the consumer out.
        self.consumer.as_ref().expect("consumer present until dropped")
    }
}

impl<C: ConsumerContext + 'static> Drop for BoundedClose<C> {
    fn drop(&mut self) {
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        let (done, closed) = mpsc::channel::<()>();
        let close = move || {
            drop(consumer);
            let _ = done.send(());
        };
        // If no thread can be started, the closure is dropped here, which
        // closes the consumer inline: unbounded, but no worse than rdkafka.
        if std::thread::Builder::new()
            .name("kafka-close".into())
            .spawn(close)
            .is_err()
        {
            return;
        }
        if closed.recv_timeout(CLOSE_WITHIN).is_err() {
            warn!(
                consumer = %self.what,
                "the Kafka consumer did not close within {CLOSE_WITHIN:?} (broker unreachable?); \
                 leaving it behind, its last offset commit may be lost"
            );
        }
    }
}
