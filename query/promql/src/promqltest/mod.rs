//! A runner for Prometheus' `promqltest` scripts (`.test` files).
//!
//! The runner is generic over storage and evaluation: every time the
//! loaded data changes it hands the full set of series to a
//! [`SourceFactory`] and evaluates the following `eval` commands against
//! the [`Target`] it returns. Tests use the engine over
//! [`crate::MemorySource`]; the server plugs in its Parquet segments, read
//! by the engine ([`SourceTarget`]) or run as DataFusion plans, to run the
//! same scripts end to end.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sluice_promql::{Engine, promqltest};
//! let summary = promqltest::run_dir(
//!     std::path::Path::new("testdata/promqltest/v3.5"),
//!     &Engine::default(),
//!     &promqltest::memory_source_factory,
//! )
//! .await?;
//! println!("{summary}"); // ends with `promqltest: N passed, M failed, K skipped`
//! # Ok(())
//! # }
//! ```
//!
//! Counting: one `eval` command is one case. Like upstream, an instant
//! eval is also re-run (a) as a range query from `t-1m` to `t+1m` step 1m,
//! comparing the point at `t`, and (b) with every selector and subquery
//! pinned by `@ t` at the evaluation times upstream uses (`-10t, 0, t/5, t,
//! 10t`, or `-1000, 0, 1000` ms when `t = 0`). These re-runs are part of the
//! case: it passes only if all of them pass, and the failure message names
//! the variant that failed. As upstream, `@` variants are not run for
//! expressions using time-dependent functions (`time()`, `timestamp()`,
//! calendar functions, `predict_linear`), and neither re-run is done for
//! `step()`, `range()`, `start()`, `end()`, whose value differs between an
//! instant and a range query by definition.

mod compare;
mod parse;
mod run;
mod target;

pub use parse::{SeriesDesc, SeriesDescError, parse_metric, parse_series_desc};
pub use run::{
    Failure, FileResult, SourceFactory, SourceFuture, Summary, memory_source_factory, run_dir, run_file,
    run_script, skip_reason,
};
pub use target::{SourceTarget, Target};
