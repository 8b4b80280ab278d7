//! `sluice`: one binary, roles chosen by subcommand.
//!
//! `sluice all` runs scrape workers, the sink and the query API in one
//! process; `sluice scrape|sink|query` run one role each, so a cluster can
//! scale them separately. `sluice check config` validates a config file.

mod compact;
mod config;
mod config_view;
mod health;
mod import;
mod roles;
mod rules_cli;
mod test_promql;
mod tier_from_segments;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_query::promqltest::EvalPath;
use tokio::sync::watch;

/// mimalloc instead of glibc's malloc: the roles allocate and free many
/// short-lived buffers from several threads, and mimalloc holds less memory
/// doing so (the query role's peak RSS 15–33 % lower at the same CPU). Built
/// with `no_thp`: its huge-page advice made a new process's first queries
/// compact memory in page faults (BENCHMARKS.md, "PromQL latency", session 8).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sluice", version, about = "Kafka-native Prometheus pipeline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role (scrape, sink, query) in one process.
    All(RoleArgs),
    /// Scrape targets and publish samples to Kafka.
    Scrape(RoleArgs),
    /// Consume samples from Kafka into Parquet segments.
    Sink(RoleArgs),
    /// Serve the Prometheus HTTP API and SQL over the segments.
    Query(RoleArgs),
    /// Run the stream operators (downsampling) over the samples topic.
    Process {
        #[command(flatten)]
        role: RoleArgs,
        /// Ignore the downsampler's checkpoints and recompute every tier
        /// from the beginning of the retained raw topic (after adding a
        /// resolution, or to rebuild a tier); then carry on live.
        #[arg(long)]
        replay: bool,
        /// Recompute every tier from the raw Parquet segments instead, for
        /// history the raw topic no longer retains; writes the windows as
        /// import segments of the tier tables, then exits (no broker needed).
        #[arg(long, conflicts_with = "replay")]
        replay_from_segments: bool,
        /// With --replay-from-segments: recompute windows after this time
        /// (RFC 3339 or Unix seconds; rounded down to whole windows).
        /// Default: the first raw sample.
        #[arg(long, requires = "replay_from_segments")]
        from: Option<String>,
        /// With --replay-from-segments: recompute windows up to this time
        /// (rounded down to whole windows). Default: the newest raw sample
        /// less `downsample.allowed_lateness`.
        #[arg(long, requires = "replay_from_segments")]
        to: Option<String>,
    },
    /// Backfill OpenMetrics text (with timestamps) into segments.
    Import {
        /// OpenMetrics file, as `promtool tsdb create-blocks-from openmetrics` takes.
        file: PathBuf,
        /// Config whose `sink.path` receives the segments.
        #[arg(long, short = 'c', default_value = "sluice.yml")]
        config: PathBuf,
        /// Time span of one segment.
        #[arg(long, default_value = "2h")]
        block_duration: String,
    },
    /// One compaction and retention pass over every partition, then exit.
    Compact(RoleArgs),
    /// Run conformance test files through Sluice's own engine and storage.
    #[command(subcommand)]
    Test(TestCommand),
    /// Validate inputs without running anything.
    #[command(subcommand)]
    Check(CheckCommand),
}

#[derive(clap::Args)]
struct RoleArgs {
    /// Path of the YAML config file.
    #[arg(long, short = 'c', default_value = "sluice.yml")]
    config: PathBuf,
    /// This instance's shard index (overrides the role's `shard_index`):
    /// a number, or a StatefulSet pod name whose trailing ordinal is the
    /// index (`sluice-scrape-2` → 2).
    #[arg(long, env = "SLUICE_SHARD", value_parser = config::parse_shard_index)]
    shard: Option<u32>,
    /// Number of shards (overrides the role's `shard_count`).
    #[arg(long, env = "SLUICE_SHARD_COUNT")]
    shard_count: Option<u32>,
    /// TLS, basic auth and headers for every HTTP listener of the process,
    /// in the format of Prometheus' `--web.config.file`.
    #[arg(long = "web.config.file", env = "SLUICE_WEB_CONFIG_FILE")]
    web_config_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CheckCommand {
    /// Validate a config file and report every problem.
    Config {
        /// Path of the YAML config file.
        file: PathBuf,
    },
    /// Parse an exposition from stdin, like `promtool check metrics`.
    /// Validate Prometheus rule files, like `promtool check rules`.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Accept keys Prometheus' rule format does not define.
        #[arg(long)]
        ignore_unknown_fields: bool,
    },
    Metrics {
        /// Parser to use.
        #[arg(long, value_enum, default_value_t = ExpositionFormat::Text)]
        format: ExpositionFormat,
        /// Apply every OpenMetrics 1.0 value rule, even those Prometheus relaxes
        /// when scraping (negative `_sum`/quantiles); the conformance suite's mode.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Subcommand)]
enum TestCommand {
    /// Prometheus' promqltest `.test` files (files or directories).
    Promql {
        /// Files or directories of `.test` files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print every failing eval with its expected and actual result.
        #[arg(long, short = 'v')]
        verbose: bool,
        /// How each eval is evaluated over the written segments.
        #[arg(long, value_enum, default_value_t = PromqlEvalPath::Source)]
        engine: PromqlEvalPath,
    },
    /// Prometheus rule unit-test files, like `promtool test rules`.
    Rules {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Run only test groups whose name matches this regex (repeatable).
        #[arg(long)]
        run: Vec<String>,
        /// Accept keys Prometheus' rule format does not define.
        #[arg(long)]
        ignore_unknown_fields: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PromqlEvalPath {
    /// The engine reading the segments (the HTTP API's path).
    Source,
    /// The DataFusion plan of the SQL `promql()` function (leaf nodes and
    /// `PromEval`).
    Plan,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExpositionFormat {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    Openmetrics,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,datafusion=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Turns SIGINT/SIGTERM into a shutdown signal every role watches.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// Reads an exposition on stdin; exit 1 with `line N: reason` when it is invalid.
#[allow(clippy::print_stderr, clippy::print_stdout)]
fn check_metrics(format: ExpositionFormat, strict: bool) -> ExitCode {
    use sluice_ingest::exposition::{Format, ParseOptions, Validation, parse_with};
    let mut input = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input) {
        eprintln!("reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    let format = match format {
        ExpositionFormat::Text => Format::PrometheusText,
        ExpositionFormat::Openmetrics => Format::OpenMetrics,
    };
    let options = ParseOptions {
        validation: if strict {
            Validation::Strict
        } else {
            Validation::Scrape
        },
        ..ParseOptions::default()
    };
    match parse_with(&input, format, &options) {
        Ok(expo) => {
            println!(
                "{} samples, {} metric families: OK",
                expo.samples.len(),
                expo.metadata.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error while linting: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
fn run_import(file: &std::path::Path, config: &std::path::Path, block: &str) -> ExitCode {
    let cfg = match config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}: {e}", config.display());
            return ExitCode::from(2);
        }
    };
    let block_ms = match sluice_model::parse_duration(block) {
        Ok(d) if !d.is_zero() => d.as_millis() as i64,
        _ => {
            eprintln!("--block-duration: {block:?} is not a positive duration");
            return ExitCode::from(2);
        }
    };
    let run = async {
        let store = sluice_sink::store::SegmentStore::open(&cfg.sink.path, &cfg.sink.storage_options)?;
        import::import(file, &store, block_ms).await
    };
    let Some(rt) = runtime("sluice import") else {
        return ExitCode::FAILURE;
    };
    match rt.block_on(run) {
        Ok(s) => {
            println!(
                "imported {} samples of {} series into {} segments ({} bytes, {:.2} bytes/sample)",
                s.samples,
                s.series,
                s.segments,
                s.bytes,
                s.bytes as f64 / s.samples.max(1) as f64
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice import: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
fn run_replay_from_segments(config: &std::path::Path, from: Option<&str>, to: Option<&str>) -> ExitCode {
    let cfg = match config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}: {e}", config.display());
            return ExitCode::from(2);
        }
    };
    if !cfg.downsample.enabled {
        eprintln!(
            "{}: downsample.enabled is false: there are no tiers to recompute",
            config.display()
        );
        return ExitCode::from(2);
    }
    let time = |flag: &str, v: Option<&str>| match v.map(sluice_query::api::parse_time) {
        Some(Err(e)) => Err(format!("--{flag}: {e}")),
        Some(Ok(t)) => Ok(Some(t)),
        None => Ok(None),
    };
    let (from, to) = match (time("from", from), time("to", to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let run = async {
        let store = sluice_sink::store::SegmentStore::open(&cfg.sink.path, &cfg.sink.storage_options)?;
        tier_from_segments::recompute(&store, &cfg.downsample, from, to).await
    };
    let Some(rt) = runtime("sluice process --replay-from-segments") else {
        return ExitCode::FAILURE;
    };
    match rt.block_on(run) {
        Ok(s) => {
            let range = match s.from_ms {
                Some(f) => format!("({f}, {}] ms", s.to_ms),
                None => format!("(first raw sample, {}] ms", s.to_ms),
            };
            println!(
                "recomputed {range} from {} raw segments ({} samples, {} late): windows {:?} in {} tier segments",
                s.raw_segments, s.raw_samples, s.late, s.windows, s.segments
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice process --replay-from-segments: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime for a one-shot command; `None` (reported) if it
/// cannot start.
#[allow(clippy::print_stderr)]
pub(crate) fn runtime(command: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("{command}: starting the async runtime: {e}");
            None
        }
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
fn run_compact(config: &std::path::Path) -> ExitCode {
    let cfg = match config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}: {e}", config.display());
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let Some(rt) = runtime("sluice compact") else {
        return ExitCode::FAILURE;
    };
    match rt.block_on(compact::compact(&cfg)) {
        Ok(r) => {
            println!(
                "merged {} segments into {}; deleted {} superseded and {} expired segments",
                r.merged_inputs, r.merged_outputs, r.deleted_superseded, r.deleted_expired
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice compact: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
fn run_test_promql(paths: &[PathBuf], verbose: bool, path: EvalPath) -> ExitCode {
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a scratch directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(rt) = runtime("sluice test promql") else {
        return ExitCode::FAILURE;
    };
    match rt.block_on(test_promql::run(paths, scratch.path(), path)) {
        Ok(summary) => {
            for f in &summary.files {
                for fail in &f.failures {
                    if verbose {
                        eprintln!(
                            "FAIL {}:{}: {}\n    {}",
                            f.file, fail.line, fail.expr, fail.message
                        );
                    } else {
                        eprintln!("FAIL {}:{}: {}", f.file, fail.line, fail.expr);
                    }
                }
                for (what, why) in &f.skips {
                    if verbose {
                        eprintln!("SKIP {}: {what}: {why}", f.file);
                    }
                }
            }
            println!("{summary}");
            if summary.failed() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sluice test promql: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy)]
enum Role {
    All,
    Scrape,
    Sink,
    Query,
    Process { replay: bool },
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
fn main() -> ExitCode {
    // Every TLS connection (scrapes, Alertmanager, object storage, the
    // Kubernetes API) uses rustls on ring; reqwest has no provider of its own.
    sluice_ingest::http_client::install_crypto_provider();
    let cli = Cli::parse();
    let (role, args) = match cli.command {
        Command::Check(CheckCommand::Config { file }) => {
            return match config::load(&file) {
                Ok(_) => {
                    println!("{}: config is valid", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprint!("{}: {e}", file.display());
                    ExitCode::FAILURE
                }
            };
        }
        Command::Check(CheckCommand::Metrics { format, strict }) => return check_metrics(format, strict),
        Command::Import {
            file,
            config,
            block_duration,
        } => return run_import(&file, &config, &block_duration),
        Command::Test(TestCommand::Promql {
            paths,
            verbose,
            engine,
        }) => {
            let path = match engine {
                PromqlEvalPath::Source => EvalPath::Source,
                PromqlEvalPath::Plan => EvalPath::Plan,
            };
            return run_test_promql(&paths, verbose, path);
        }
        Command::Compact(a) => return run_compact(&a.config),
        Command::Test(TestCommand::Rules {
            files,
            run,
            ignore_unknown_fields,
        }) => return rules_cli::test(&files, run, ignore_unknown_fields),
        Command::Check(CheckCommand::Rules {
            files,
            ignore_unknown_fields,
        }) => return rules_cli::check(&files, ignore_unknown_fields),
        Command::All(a) => (Role::All, a),
        Command::Scrape(a) => (Role::Scrape, a),
        Command::Sink(a) => (Role::Sink, a),
        Command::Query(a) => (Role::Query, a),
        Command::Process {
            role,
            replay_from_segments: true,
            from,
            to,
            ..
        } => return run_replay_from_segments(&role.config, from.as_deref(), to.as_deref()),
        Command::Process { role, replay, .. } => (Role::Process { replay }, role),
    };
    use config::ShardedSection as S;
    let sharded: &[S] = match role {
        Role::All => &[S::Scrape, S::Sink, S::Downsample, S::RuleEvaluation],
        Role::Scrape => &[S::Scrape],
        Role::Sink => &[S::Sink],
        Role::Process { .. } => &[S::Downsample, S::RuleEvaluation],
        Role::Query => &[],
    };
    let cfg = config::load(&args.config).and_then(|mut c| {
        c.override_shard(sharded, args.shard, args.shard_count)?;
        Ok(c)
    });
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let web = match &args.web_config_file {
        Some(path) => match sluice_web::WebSecurity::load(path) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("--web.config.file {e}");
                return ExitCode::from(2);
            }
        },
        None => sluice_web::WebSecurity::default(),
    };
    init_tracing();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        let shutdown = shutdown_signal();
        match role {
            Role::All => roles::all(cfg, web, shutdown).await,
            Role::Scrape => roles::scrape(cfg, web, shutdown).await,
            Role::Sink => roles::sink(cfg, web, shutdown).await,
            Role::Query => roles::query(cfg, web, shutdown).await,
            Role::Process { replay } => roles::process(cfg, web, replay, shutdown).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}
