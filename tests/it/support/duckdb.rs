//! DuckDB (Python package) as an independent reader of the segments.

use std::process::Command;

/// Runs `sql` in DuckDB and returns the first column of the first row.
pub(crate) fn scalar(sql: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import duckdb, sys; print(duckdb.sql(sys.argv[1]).fetchall()[0][0])",
            sql,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "DuckDB failed (install it with `pip install duckdb`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `read_parquet` over every segment of the samples table.
pub(crate) fn samples_relation(segments: &std::path::Path) -> String {
    format!(
        "read_parquet('{}/samples/*/*.parquet', union_by_name = true)",
        segments.display()
    )
}
