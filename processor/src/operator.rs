//! The stream-operator framework every `sluice process` stage runs on.
//!
//! A stage implements [`Operator`]: how it takes in a batch of records, what
//! it emits once event time has moved (the *watermark* hook), what it does
//! on a wall-clock tick, and what it saves at a checkpoint. [`run`] owns the
//! loop and the order of durability that makes recovery exact:
//!
//! 1. a batch is handed to [`Operator::on_batch`];
//! 2. partitions read to their end are reported ([`Operator::on_caught_up`])
//!    so an idle partition does not hold event time back;
//! 3. [`Operator::on_watermark`] writes the outputs the batch released and
//!    returns only once they are acknowledged;
//! 4. on the checkpoint cadence (and at shutdown) [`Operator::checkpoint`]
//!    saves the state with the offsets it reflects, and only then are
//!    offsets committed (advisory: stages resume from their checkpoints).
//!
//! A crash anywhere replays from the last checkpoint; since each stage's
//! outputs are a function of the record sequence, the replay emits the
//! same outputs again (which the sink keeps once) and nothing is missed.
//! The cadence is measured on an injected clock, so tests run the loop on
//! virtual time ([`RecordSource`] stands in for Kafka).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sluice_model::clock::TimeProvider;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::ProcessorError;
use crate::consumer::{BusConsumer, BusRecord};

/// A stream stage. The runner calls the hooks in the order the module
/// documentation gives, from one task.
pub trait Operator {
    /// The stage's name in logs.
    fn name(&self) -> &'static str;

    /// Takes in a batch: decoded records, in offset order per partition.
    fn on_batch(&mut self, records: Vec<BusRecord>);

    /// `partition` has been read to its current end.
    fn on_caught_up(&mut self, _partition: i32) {}

    /// Writes what the batch released (closed windows, due evaluations) and
    /// returns once it is acknowledged. `shutdown` tells a write that keeps
    /// failing when to give up: no checkpoint follows, the next start replays.
    fn on_watermark(
        &mut self,
        shutdown: &watch::Receiver<bool>,
    ) -> impl Future<Output = Result<(), ProcessorError>>;

    /// Called once per loop with the injected clock's time, for work that
    /// follows the wall clock rather than event time.
    fn on_tick(&mut self, _now_ms: i64) {}

    /// Saves what a restart needs to continue exactly; returns the next
    /// offset per partition, to commit.
    fn checkpoint(&mut self) -> impl Future<Output = Result<BTreeMap<i32, i64>, ProcessorError>>;

    /// After the last checkpoint at shutdown (drain notifiers and the like).
    fn on_stop(&mut self) -> impl Future<Output = ()> {
        async {}
    }
}

/// Where records come from: the Kafka consumer, or a list in tests.
pub trait RecordSource {
    /// Up to `max` records, waiting at most `wait` for the first.
    fn recv_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<BusRecord>, ProcessorError>>;
    /// Partitions that reached their end since the last call.
    fn take_caught_up(&self) -> Vec<i32>;
    /// Commits `next_offsets` (advisory).
    fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<(), ProcessorError>;
}

impl RecordSource for BusConsumer {
    fn recv_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<BusRecord>, ProcessorError>> {
        BusConsumer::recv_batch(self, max, wait)
    }
    fn take_caught_up(&self) -> Vec<i32> {
        BusConsumer::take_caught_up(self)
    }
    fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<(), ProcessorError> {
        BusConsumer::commit(self, next_offsets)
    }
}

/// How [`run`] paces the loop.
#[derive(Clone)]
pub struct RunOptions {
    /// Most records per batch.
    pub batch_max: usize,
    /// Longest wait for a batch's first record.
    pub batch_wait: Duration,
    /// Time between checkpoints, on `clock`.
    pub checkpoint_every: Duration,
    /// The time source (the system clock in production).
    pub clock: Arc<dyn TimeProvider>,
}

impl RunOptions {
    /// Batches of up to 5,000 records, 200 ms waits, the system clock.
    pub fn every(checkpoint_every: Duration) -> RunOptions {
        RunOptions {
            batch_max: 5_000,
            batch_wait: Duration::from_millis(200),
            checkpoint_every,
            clock: Arc::new(sluice_model::clock::SystemClock),
        }
    }
}

/// Runs `op` over `source` until `shutdown` turns true, then checkpoints,
/// stops the operator and returns.
pub async fn run<O: Operator, S: RecordSource>(
    op: &mut O,
    source: &S,
    opts: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    let every_ms = opts.checkpoint_every.as_millis() as i64;
    let mut last_checkpoint_ms = opts.clock.now_ms();
    loop {
        let batch = tokio::select! {
            b = source.recv_batch(opts.batch_max, opts.batch_wait) => b,
            _ = shutdown.changed() => Ok(Vec::new()),
        };
        let stopping = *shutdown.borrow();
        match batch {
            Ok(records) => op.on_batch(records),
            Err(e) => {
                warn!(stage = op.name(), error = %e, "consume failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for p in source.take_caught_up() {
            op.on_caught_up(p);
        }
        if stopping {
            return stop(op, source, &opts, &shutdown).await;
        }
        op.on_watermark(&shutdown).await?;
        let now = opts.clock.now_ms();
        op.on_tick(now);
        if now - last_checkpoint_ms >= every_ms {
            checkpoint(op, source).await?;
            last_checkpoint_ms = now;
        }
    }
}

/// How long a stopping stage waits for its last outputs, checkpoint and
/// `on_stop`. With the broker gone a Kafka write waits for librdkafka's
/// delivery timeout (5 minutes), which would hold the whole process.
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// The last round of a stopping stage: outputs due at the watermark, a
/// checkpoint, then `on_stop`, bounded by [`STOP_WITHIN`]. Past it the stage
/// stops without a new checkpoint, so the next start replays from the
/// previous one (outputs written meanwhile are written again, as after a
/// crash).
async fn stop<O: Operator, S: RecordSource>(
    op: &mut O,
    source: &S,
    opts: &RunOptions,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    let deadline = tokio::time::Instant::now() + STOP_WITHIN;
    let last_round = async {
        op.on_watermark(shutdown).await?;
        op.on_tick(opts.clock.now_ms());
        checkpoint(op, source).await
    };
    let outcome = tokio::time::timeout_at(deadline, last_round).await;
    match outcome {
        Ok(r) => r?,
        Err(_) => warn!(
            stage = op.name(),
            "last outputs and checkpoint not acknowledged within {STOP_WITHIN:?} (broker unreachable?); \
             the next start replays from the previous checkpoint"
        ),
    }
    if tokio::time::timeout_at(deadline, op.on_stop()).await.is_err() {
        warn!(stage = op.name(), "stop did not finish within {STOP_WITHIN:?}");
    }
    info!(stage = op.name(), "stopped");
    Ok(())
}

/// Writes a checkpoint, then commits the offsets it covers to the group.
async fn checkpoint<O: Operator, S: RecordSource>(op: &mut O, source: &S) -> Result<(), ProcessorError> {
    let next = op.checkpoint().await?;
    // The group's offsets only show lag (the checkpoint is the truth).
    if let Err(e) = source.commit(&next) {
        warn!(stage = op.name(), error = %e, "offset commit failed");
    }
    Ok(())
}

/// Retries `write` while it fails (Kafka away), so an output is never
/// skipped: a checkpoint must not get ahead of its outputs. At shutdown it
/// gives up with an error instead; no checkpoint follows and the next start
/// replays.
pub async fn retry_until_written<F, Fut, E>(
    what: &str,
    shutdown: &watch::Receiver<bool>,
    mut write: F,
) -> Result<(), ProcessorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if !*shutdown.borrow() => {
                warn!(error = %e, "{what} failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(ProcessorError::Kafka(format!("{what} at shutdown: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests;
