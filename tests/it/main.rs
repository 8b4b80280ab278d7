//! End-to-end tests: the real `sluice` binary against a real broker (tansu),
//! real HTTP targets (the node exporter and a loopback exporter), real
//! Parquet files (read back with the parquet crate and DuckDB).
//!
//! One test binary on purpose: every test binary links DataFusion again.
//! Tests report the figures they measured on stderr (`--nocapture` shows them).
#![allow(clippy::print_stderr)]

/// The allocator the `sluice` binary ships with (`src/main.rs`), so that
/// what these tests measure in process (the parse and encode benchmarks)
/// allocates as production does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;

mod alerting;
mod alerting_compliance;
mod alerting_live;
mod alerting_shards;
mod bench_alert;
mod bench_downsample;
mod bench_ingest;
mod bench_load;
mod bench_parse;
mod bench_produce;
mod bench_sink;
mod bench_tier_query;
mod broker_outage;
mod browser;
mod compaction;
mod config_check;
mod consumer_close;
mod deploy;
mod downsample;
mod downsample_from_segments;
mod fuzz_corpus;
mod grafana_requests;
mod k8s_sd;
mod kafka_security;
mod metadata_api;
mod openmetrics;
mod pg_catalog;
mod pgwire;
mod pipeline;
mod promqltest;
mod push;
mod remote_write;
mod resolution;
mod rules;
mod rules_api;
mod rules_api_split;
mod s3_segments;
mod scrape_auth;
mod sink_exactly_once;
mod web_security;
