//! Runs one promqltest file (or directory) through `MemorySource` and
//! prints failures: `cargo run -p sluice-promql --example promqltest_file -- PATH`.
#![allow(clippy::print_stdout)]

use std::path::Path;

use sluice_promql::Engine;
use sluice_promql::promqltest::{self, run_dir, run_file};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: promqltest_file PATH");
    let engine = Engine::default();
    let p = Path::new(&path);
    let files = if p.is_dir() {
        run_dir(p, &engine, &promqltest::memory_source_factory)
            .await
            .expect("run")
            .files
    } else {
        vec![
            run_file(p, &engine, &promqltest::memory_source_factory)
                .await
                .expect("run"),
        ]
    };
    for f in &files {
        for fail in &f.failures {
            println!(
                "FAIL {}:{} {}\n     {}",
                f.file, fail.line, fail.expr, fail.message
            );
        }
        if std::env::var_os("SHOW_SKIPS").is_some() {
            for (line, reason) in &f.skips {
                println!("SKIP {}:{} {}", f.file, line, reason);
            }
        }
        println!(
            "{}: {} passed, {} failed, {} skipped",
            f.file, f.passed, f.failed, f.skipped
        );
    }
}
