//! `sluice test promql PATH...`: Prometheus' promqltest scripts run through
//! the engine over real segments, read by the engine or run as DataFusion
//! plans (`--engine`; see `sluice_query::promqltest`).

use std::path::{Path, PathBuf};

use sluice_promql::promqltest::{Summary, run_dir, run_file};
use sluice_promql::{Engine, EngineOptions};
use sluice_query::promqltest::{EvalPath, SegmentFactory};

/// Runs every `.test` file under each path (file or directory).
pub(crate) async fn run(paths: &[PathBuf], scratch: &Path, path: EvalPath) -> anyhow::Result<Summary> {
    let engine = Engine::new(EngineOptions::default());
    let factory = SegmentFactory::new(scratch.to_path_buf(), path);
    let make = |s| factory.source(s);
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(run_dir(p, &engine, &make).await?.files);
        } else {
            files.push(run_file(p, &engine, &make).await?);
        }
    }
    Ok(Summary { files })
}
