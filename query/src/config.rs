//! The `query:` section.

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;

/// The `query:` section of Sluice's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryConfig {
    /// Listen address of the HTTP API. 9091-9093 and 9100 belong to the
    /// Pushgateway, Alertmanager and node exporter, 9090 to Prometheus;
    /// 9464 is unassigned among the Prometheus family's default ports.
    pub listen: String,
    /// Listen address of SQL over the PostgreSQL wire protocol (`psql -h
    /// HOST -p PORT`), empty for none (the default). Off unless asked for:
    /// it is one more port, and 5432 is usually a real Postgres' (the docs
    /// suggest 5433). The web config file's TLS and users apply to it.
    pub postgres_listen: String,
    /// `--query.lookback-delta`.
    pub lookback_delta: PromDuration,
    /// `--query.timeout`.
    pub timeout: PromDuration,
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// Raw samples one PromQL query may read from the segments (Sluice's
    /// own: a query's reads are held whole while it evaluates).
    pub max_fetched_samples: usize,
    /// MiB of decoded series kept in memory for segments PromQL reads more
    /// than once (dashboards re-reading the last hours); 0 turns it off.
    /// Sluice's own (see `segments::series_cache`).
    pub series_cache_mib: usize,
    /// `--query.max-concurrency`: PromQL and SQL queries evaluated at once;
    /// more wait in a queue, and the wait counts toward `timeout`.
    pub max_concurrency: usize,
    /// The `max_source_resolution` of PromQL queries that do not pass one:
    /// `0s` (raw samples only, Prometheus' answers), `auto` (tiers whose
    /// windows fit five times into the step and the range), or a duration
    /// (tiers up to it). See `sluice_promql::resolution`.
    pub max_source_resolution: String,
    /// `--enable-feature=promql-experimental-functions`: PromQL's
    /// experimental `limitk` and `limit_ratio` aggregations, refused with
    /// Prometheus' error when off (the default).
    pub experimental_functions: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            listen: "127.0.0.1:9464".into(),
            postgres_listen: String::new(),
            lookback_delta: PromDuration::from_secs(300),
            timeout: PromDuration::from_secs(120),
            max_samples: 50_000_000,
            max_fetched_samples: 100_000_000,
            series_cache_mib: 256,
            max_concurrency: 20,
            max_source_resolution: "0s".into(),
            experimental_functions: false,
        }
    }
}

impl QueryConfig {
    /// `series_cache_mib` in bytes.
    pub fn series_cache_bytes(&self) -> usize {
        self.series_cache_mib.saturating_mul(1 << 20)
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        errs.extend(sluice_model::validate::check_listen_address(path, &self.listen));
        if !self.postgres_listen.is_empty() {
            let key = format!("{path}.postgres_listen");
            match sluice_model::validate::check_address(&key, &self.postgres_listen) {
                Some(e) => errs.push(e),
                None if self.postgres_listen == self.listen => {
                    errs.push(format!("{key}: {:?} is also {path}.listen", self.postgres_listen));
                }
                None => {}
            }
        }
        if self.lookback_delta.0.is_zero() {
            errs.push(format!("{path}.lookback_delta: must be greater than 0"));
        }
        if self.timeout.0.is_zero() {
            errs.push(format!("{path}.timeout: must be greater than 0"));
        }
        // Prometheus takes 0 too, and then never runs a query.
        if self.max_fetched_samples == 0 {
            errs.push(format!("{path}.max_fetched_samples: must be at least 1"));
        }
        if self.max_concurrency == 0 {
            errs.push(format!("{path}.max_concurrency: must be at least 1"));
        }
        if let Err(e) = sluice_promql::MaxSourceResolution::parse(&self.max_source_resolution) {
            errs.push(format!("{path}.max_source_resolution: {e}"));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_prometheus_flags_defaults() {
        let c: QueryConfig = serde_yaml::from_str("{}").unwrap();
        assert_eq!(c, QueryConfig::default());
        assert_eq!(c.max_concurrency, 20);
        assert_eq!(c.max_samples, 50_000_000);
        assert_eq!(c.timeout, PromDuration::from_secs(120));
        assert!(!c.experimental_functions);
        assert!(c.validate("query").is_empty());
    }

    #[test]
    fn every_error_at_once() {
        let c: QueryConfig =
            serde_yaml::from_str("{timeout: 0s, max_concurrency: 0, max_source_resolution: 2x}").unwrap();
        let errs = c.validate("query");
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(errs[0], "query.timeout: must be greater than 0");
        assert_eq!(errs[1], "query.max_concurrency: must be at least 1");
        assert!(errs[2].starts_with("query.max_source_resolution: "), "{errs:?}");
    }

    #[test]
    fn postgres_listener_is_off_by_default_and_checked_when_set() {
        assert_eq!(QueryConfig::default().postgres_listen, "");
        let ok: QueryConfig = serde_yaml::from_str("{postgres_listen: '127.0.0.1:5433'}").unwrap();
        assert!(ok.validate("query").is_empty());
        let bad: QueryConfig = serde_yaml::from_str("{postgres_listen: 'localhost'}").unwrap();
        assert_eq!(
            bad.validate("query"),
            ["query.postgres_listen: \"localhost\" is not an ip:port address"]
        );
        let same: QueryConfig = serde_yaml::from_str("{postgres_listen: '127.0.0.1:9464'}").unwrap();
        assert_eq!(
            same.validate("query"),
            ["query.postgres_listen: \"127.0.0.1:9464\" is also query.listen"]
        );
    }
}
