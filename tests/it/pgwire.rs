//! SQL over the PostgreSQL wire protocol: the real `psql` (libpq, Debian's
//! postgresql-client) against `sluice query`'s `query.postgres_listen`,
//! over segments `sluice import` wrote. Every expected value is computed
//! from the samples the test generates.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::compaction::{START_S, import};
use crate::support::sluice::TestConfig;
use crate::support::tls::TestPki;
use crate::support::{eventually, free_port};

/// Samples of `pgw_requests_total{job="api",code=...}`: one a minute.
pub(crate) const MINUTES: i64 = 10;

/// OpenMetrics text: the counter for codes 200 (value 2m at minute m) and
/// 500 (value m), and the gauge `pgw_temp{room="a"}` (20.5) for the first
/// 5 minutes.
fn samples() -> String {
    let mut text = String::from("# TYPE pgw_requests counter\n");
    for code in ["200", "500"] {
        let per = if code == "200" { 2 } else { 1 };
        for m in 0..MINUTES {
            let t = START_S + 60 * m;
            text.push_str(&format!(
                "pgw_requests_total{{job=\"api\",code=\"{code}\"}} {} {t}\n",
                per * m
            ));
        }
    }
    text.push_str("# TYPE pgw_temp gauge\n");
    for m in 0..5 {
        text.push_str(&format!("pgw_temp{{room=\"a\"}} 20.5 {}\n", START_S + 60 * m));
    }
    text.push_str("# EOF\n");
    text
}

/// `psql` with `args` against `port`: unaligned, tuples only, `|`
/// between fields, verbose errors (with the SQLSTATE), no ~/.psqlrc.
pub(crate) fn psql(port: u16, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-A", "-t", "-F", "|", "-v", "VERBOSITY=verbose"])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "sluice",
            "-d",
            "sluice",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "5")
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("psql (Debian package postgresql-client)")
}

/// One `-c` statement's rows; panics with psql's stderr if it failed.
pub(crate) fn rows(port: u16, env: &[(&str, &str)], sql: &str) -> String {
    let out = psql(port, env, &["-c", sql]);
    assert!(
        out.status.success(),
        "psql -c {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_string()
}

/// Writes the samples as segments and starts `sluice query` with the
/// Postgres listener; returns it with its port once psql gets an answer.
pub(crate) async fn start(
    dir: &Path,
    web_config: Option<&Path>,
    env: &[(&str, &str)],
) -> (crate::support::process::Proc, u16) {
    let pg_port = free_port();
    let mut cfg = TestConfig::new(dir, "127.0.0.1:1".into());
    cfg.query_extra = format!("  postgres_listen: \"127.0.0.1:{pg_port}\"\n");
    if let Some(web) = web_config {
        cfg.args = vec!["--web.config.file".into(), web.display().to_string()];
    }
    let config = cfg.write();
    let input = dir.join("samples.om");
    std::fs::write(&input, samples()).unwrap();
    import(&config, &input);
    let proc = cfg.start("query");
    eventually(Duration::from_secs(30), "psql connecting", || async {
        psql(pg_port, env, &["-c", "select 1"])
            .status
            .success()
            .then_some(())
    })
    .await;
    (proc, pg_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_the_segments_over_the_postgres_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (_query, port) = start(dir.path(), None, &[]).await;

    // Every sample: 2 series × MINUTES + 5 of the gauge.
    let n = 2 * MINUTES + 5;
    assert_eq!(rows(port, &[], "select count(*) from samples"), n.to_string());

    // A group-by over a label column; sums of 0..MINUTES (×2 for 200).
    let sum: i64 = (0..MINUTES).sum();
    assert_eq!(
        rows(
            port,
            &[],
            "select code, count(*), sum(__value__) from samples \
             where __name__ = 'pgw_requests_total' group by code order by code"
        ),
        format!("200|{MINUTES}|{}\n500|{MINUTES}|{sum}", 2 * sum)
    );

    // A timestamp filter: from minute 5 on only the counters have samples.
    let from = chrono::DateTime::from_timestamp(START_S + 300, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(
        rows(
            port,
            &[],
            &format!("select count(*) from samples where __timestamp__ >= '{from}'")
        ),
        (2 * (MINUTES - 5)).to_string()
    );

    // Types: timestamptz in Postgres' text form, float8, text, NULL for a
    // label the series does not have.
    let last = chrono::DateTime::from_timestamp(START_S + 60 * (MINUTES - 1), 0).unwrap();
    assert_eq!(
        rows(
            port,
            &[],
            "select max(__timestamp__), avg(__value__), min(room), max(code) is null \
             from samples where __name__ = 'pgw_temp'"
        ),
        format!(
            "{}|20.5|a|t",
            chrono::DateTime::from_timestamp(START_S + 240, 0)
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S+00")
        )
    );
    assert_eq!(
        rows(port, &[], "select max(__timestamp__) from samples"),
        last.format("%Y-%m-%d %H:%M:%S+00").to_string()
    );

    // PromQL joined with the raw samples at the same instant (minute 9):
    // the per-minute rate of each code beside its counter's raw value.
    let t9 = START_S + 60 * (MINUTES - 1);
    let t9_rfc = chrono::DateTime::from_timestamp(t9, 0).unwrap().to_rfc3339();
    assert_eq!(
        rows(
            port,
            &[],
            &format!(
                "select p.labels['code'], round(p.value * 60, 6), s.__value__ \
                 from promql('rate(pgw_requests_total[5m])', {t9}) p \
                 join samples s on s.__name__ = 'pgw_requests_total' \
                 and s.code = p.labels['code'] and s.__timestamp__ = '{t9_rfc}' \
                 order by 1"
            )
        ),
        format!("200|2|{}\n500|1|{}", 2 * (MINUTES - 1), MINUTES - 1)
    );

    // PromQL's annotations are notices: psql prints them on stderr, the
    // rows on stdout.
    let out = psql(
        port,
        &[],
        &[
            "-c",
            &format!(
                "select count(*) from promql('quantile_over_time(2, pgw_temp[5m]) \
                 or rate(pgw_temp[5m])', {})",
                START_S + 240
            ),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert!(
        stderr.contains("WARNING:  01000: PromQL warning: quantile value should be between 0 and 1, got 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("INFO:  00000: PromQL info: metric might not be a counter"),
        "{stderr}"
    );

    // Two statements in one query string: both answered, in order.
    assert_eq!(rows(port, &[], "select 1; select 'two'"), "1\ntwo");

    // Bad statements: an ErrorResponse with a SQLSTATE on stderr, exit 1.
    for (sql, code, text) in [
        (
            "select * from nope",
            "42P01",
            "table 'datafusion.public.nope' not found",
        ),
        ("selec 1", "42601", "Expected: an SQL statement, found: selec"),
        ("create table t (a int)", "0A000", "DDL not supported"),
        ("select nope from samples", "42703", "nope"),
    ] {
        let out = psql(port, &[], &["-c", sql]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("psql -c {sql:?}: {}", stderr.trim());
        assert_eq!(out.status.code(), Some(1), "{sql}: {stderr}");
        assert!(stderr.contains(&format!("ERROR:  {code}:")), "{sql}: {stderr}");
        assert!(
            stderr.to_lowercase().contains(&text.to_lowercase()),
            "{sql}: {stderr}"
        );
    }

    // The connection stays usable after an error: psql runs the second -c
    // on the same connection.
    let out = psql(
        port,
        &[],
        &["-c", "select * from nope", "-c", "select count(*) from samples"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), n.to_string());
    assert!(String::from_utf8_lossy(&out.stderr).contains("42P01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_web_config_psql_needs_tls_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate_for(&dir.path().join("pki"), "IP:127.0.0.1");
    let hash = bcrypt::hash("s3cret", 6).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  sluice: {hash}\n",
            pki.server_cert.display(),
            pki.server_key.display()
        ),
    )
    .unwrap();
    let ca = pki.ca.display().to_string();
    let good = [
        ("PGPASSWORD", "s3cret"),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", ca.as_str()),
    ];
    let (_query, port) = start(dir.path(), Some(&web), &good).await;
    assert_eq!(
        rows(port, &good, "select count(*) from samples"),
        (2 * MINUTES + 5).to_string()
    );

    let refused = |env: &[(&str, &str)]| {
        let out = psql(port, env, &["-c", "select 1"]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let wrong = refused(&[
        ("PGPASSWORD", "wrong"),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", ca.as_str()),
    ]);
    assert!(
        wrong.contains("password authentication failed for user \"sluice\""),
        "{wrong}"
    );
    let plain = refused(&[("PGPASSWORD", "s3cret"), ("PGSSLMODE", "disable")]);
    assert!(plain.contains("TLS is required"), "{plain}");
}
