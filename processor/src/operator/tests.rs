//! The runner on virtual time: records from a list, a clock that moves one
//! second per batch, an operator that writes down every hook call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_model::clock::MockClock;
use tokio::sync::watch;

use super::*;

/// Hands out one batch per call and moves the clock a second; when the
/// batches are gone, asks the runner to stop.
struct ListSource {
    batches: Mutex<VecDeque<Vec<BusRecord>>>,
    clock: MockClock,
    caught_up: Mutex<Vec<i32>>,
    commits: Mutex<Vec<BTreeMap<i32, i64>>>,
    stop: watch::Sender<bool>,
}

impl RecordSource for ListSource {
    async fn recv_batch(&self, _max: usize, _wait: Duration) -> Result<Vec<BusRecord>, ProcessorError> {
        self.clock.advance(1_000);
        let next = self.batches.lock().unwrap().pop_front();
        match next {
            Some(b) => Ok(b),
            None => {
                let _ = self.stop.send(true);
                std::future::pending().await
            }
        }
    }
    fn take_caught_up(&self) -> Vec<i32> {
        std::mem::take(&mut *self.caught_up.lock().unwrap())
    }
    fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<(), ProcessorError> {
        self.commits.lock().unwrap().push(next_offsets.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    next: BTreeMap<i32, i64>,
}

impl Operator for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn on_batch(&mut self, records: Vec<BusRecord>) {
        for r in &records {
            self.next.insert(r.partition, r.offset + 1);
        }
        self.calls.push(format!("batch {}", records.len()));
    }
    fn on_caught_up(&mut self, partition: i32) {
        self.calls.push(format!("caught up {partition}"));
    }
    async fn on_watermark(&mut self, _shutdown: &watch::Receiver<bool>) -> Result<(), ProcessorError> {
        self.calls.push("watermark".into());
        Ok(())
    }
    fn on_tick(&mut self, now_ms: i64) {
        self.calls.push(format!("tick {now_ms}"));
    }
    async fn checkpoint(&mut self) -> Result<BTreeMap<i32, i64>, ProcessorError> {
        self.calls.push("checkpoint".into());
        Ok(self.next.clone())
    }
    async fn on_stop(&mut self) {
        self.calls.push("stop".into());
    }
}

fn record(partition: i32, offset: i64) -> BusRecord {
    BusRecord {
        partition,
        offset,
        series: Vec::new(),
        indexed: Default::default(),
    }
}

#[tokio::test]
async fn hooks_run_in_durability_order_and_checkpoints_follow_the_injected_clock() {
    let clock = MockClock::at(0);
    let (stop, shutdown) = watch::channel(false);
    let source = ListSource {
        batches: Mutex::new((0..5).map(|i| vec![record(0, i * 2), record(1, i)]).collect()),
        clock: clock.clone(),
        caught_up: Mutex::new(vec![1]),
        commits: Mutex::new(Vec::new()),
        stop,
    };
    let mut op = Recorder::default();
    let opts = RunOptions {
        batch_max: 10,
        batch_wait: Duration::from_millis(1),
        checkpoint_every: Duration::from_secs(3),
        clock: Arc::new(clock),
    };
    run(&mut op, &source, opts, shutdown).await.unwrap();

    // Batches at t = 1..5 s; checkpoints when 3 s have passed (t = 3) and at
    // the stop (t = 6, an empty batch); each loop: batch, caught-up,
    // watermark, tick, then maybe the checkpoint.
    let expected = [
        "batch 2",
        "caught up 1",
        "watermark",
        "tick 1000",
        "batch 2",
        "watermark",
        "tick 2000",
        "batch 2",
        "watermark",
        "tick 3000",
        "checkpoint",
        "batch 2",
        "watermark",
        "tick 4000",
        "batch 2",
        "watermark",
        "tick 5000",
        "batch 0",
        "watermark",
        "tick 6000",
        "checkpoint",
        "stop",
    ];
    assert_eq!(op.calls, expected);
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(
        commits,
        vec![BTreeMap::from([(0, 5), (1, 3)]), BTreeMap::from([(0, 9), (1, 5)])],
        "commits are what each checkpoint reflected"
    );
}

#[tokio::test]
async fn a_write_that_keeps_failing_gives_up_only_at_shutdown() {
    let (stop, shutdown) = watch::channel(false);
    let attempts = Arc::new(Mutex::new(0));
    let a = attempts.clone();
    let stop_after_two = move || {
        let a = a.clone();
        let stop = stop.clone();
        async move {
            let mut n = a.lock().unwrap();
            *n += 1;
            if *n == 2 {
                let _ = stop.send(true);
            }
            Err::<(), _>("broker away")
        }
    };
    let err = retry_until_written("writing", &shutdown, stop_after_two)
        .await
        .unwrap_err();
    assert_eq!(*attempts.lock().unwrap(), 2);
    assert!(
        err.to_string().contains("writing at shutdown: broker away"),
        "{err}"
    );
}
