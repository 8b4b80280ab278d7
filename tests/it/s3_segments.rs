//! Segments on S3 (moto's S3 API server on loopback): backfill, compaction
//! and queries go through the object store, and DuckDB reads the same
//! objects through pyarrow's S3 client.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::compaction::{START_S, compact, history, import};
use crate::support::eventually;
use crate::support::http::{get_json, sql_scalar};
use crate::support::s3::S3Server;
use crate::support::sluice::TestConfig;

/// DuckDB over every segment object under `prefix`, read with pyarrow's S3
/// filesystem (DuckDB's own httpfs extension would be downloaded at run
/// time, which this environment does not allow).
fn duckdb_over_s3(s3: &S3Server, prefix: &str, sql: &str) -> String {
    let script = r#"
import sys, duckdb, pyarrow as pa, pyarrow.fs as fs, pyarrow.parquet as pq
endpoint, bucket, prefix, sql = sys.argv[1:5]
s3 = fs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="test", secret_key="test", region="us-east-1")
files = [f.path for f in s3.get_file_info(fs.FileSelector(f"{bucket}/{prefix}", recursive=True))
         if f.path.endswith(".parquet")]
samples = pa.concat_tables([pq.read_table(f, filesystem=s3) for f in files], promote_options="default")
print(duckdb.sql(sql).fetchall()[0][0])
"#;
    let out = Command::new("python3")
        .args(["-c", script, &s3.endpoint, &s3.bucket, prefix, sql])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "DuckDB over S3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_on_s3_import_compact_query_and_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(dir.path(), "sluice").await;
    let mut cfg = TestConfig::new(dir.path(), "127.0.0.1:1".into());
    cfg.sink_location = Some(format!("s3://{}/archive", s3.bucket));
    cfg.sink_extra = format!(
        "{}  compaction:\n    ranges: [1d]\n    settle: 0s\n    delete_delay: 0s\n",
        s3.storage_options_yaml()
    );
    let config = cfg.write();

    let (text, n) = history("s3_test", 20, 300, 2);
    let input = dir.path().join("history.om");
    std::fs::write(&input, text).unwrap();
    import(&config, &input);
    let summary = compact(&config);
    eprintln!("compaction on S3: {summary}");
    assert!(summary.starts_with("merged 48 segments into 2;"), "{summary}");
    assert!(!cfg.segments().exists(), "nothing may be written locally");

    let _query = cfg.start("query");
    let api = cfg.api();
    eventually(Duration::from_secs(30), "query API", || async {
        get_json(&format!("{api}/-/ready")).await.0.eq(&200).then_some(())
    })
    .await;
    let via_sql = sql_scalar(&api, "select count(*) as n from samples").await;
    assert_eq!(via_sql, n.to_string());

    // PromQL over the objects: samples of each series in the last day.
    let (status, v) = get_json(&format!(
        "{api}/api/v1/query?query=sum(count_over_time(s3_test_total[1d]))&time={}",
        START_S + 2 * 86_400 - 1
    ))
    .await;
    assert_eq!(status, 200, "{v}");
    let got = v["data"]["result"][0]["value"][1].clone();
    assert_eq!(got, Value::String((n / 2).to_string()), "{v}");

    let duck = duckdb_over_s3(
        &s3,
        "archive/samples",
        "SELECT count(*) || '/' || count(DISTINCT (__series_id__, __timestamp__)) FROM samples",
    );
    assert_eq!(duck, format!("{n}/{n}"));
    eprintln!("S3: {n} samples via Sluice SQL, PromQL and DuckDB (pyarrow S3)");
}
