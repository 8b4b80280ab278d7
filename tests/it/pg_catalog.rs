//! Postgres' catalog on the query role's Postgres listener: the real
//! `psql` (Debian's postgresql-client 15) runs its own `\d` queries
//! against `sluice query` over segments `sluice import` wrote. The
//! expected columns are the labels of the samples the test generates.

use std::path::Path;
use std::time::Duration;

use crate::compaction::{START_S, import};
use crate::pgwire::{MINUTES, psql, rows, start};
use crate::support::eventually;

/// `\d samples` as psql prints it unaligned: column, type, collation,
/// nullable, default. The labels of `pgwire::samples()` are `code`, `job`
/// and `room`.
fn described(extra_labels: &[&str]) -> String {
    let mut labels = vec!["code", "job", "room"];
    labels.extend(extra_labels);
    labels.sort();
    let mut lines = vec!["__name__|text||not null|".to_string()];
    lines.extend(labels.iter().map(|l| format!("{l}|text|||")));
    lines.push("__series_id__|numeric||not null|".to_string());
    lines.push("__timestamp__|timestamp with time zone||not null|".to_string());
    lines.push("__value__|double precision||not null|".to_string());
    lines.join("\n")
}

/// The bytes of the Parquet segments under `dir` (what `\dt+` sums).
fn segment_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            total += segment_bytes(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            total += std::fs::metadata(&path).unwrap().len();
        }
    }
    total
}

/// `\dt+`'s line for `samples`: its segments' size, which psql prints in
/// bytes below 10 kB (the tests' segments are smaller).
fn listed_with_size(dir: &Path) -> String {
    let bytes = segment_bytes(&dir.join("segments"));
    assert!(bytes > 0 && bytes < 10 * 1024, "{bytes} bytes of segments");
    format!("public|samples|table|sluice|permanent|parquet|{bytes} bytes|")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (_query, port) = start(dir.path(), None, &[]).await;

    // \dt and \d: the one table, in `public`, owned by the catalog's role.
    assert_eq!(rows(port, &[], "\\dt"), "public|samples|table|sluice");
    assert_eq!(rows(port, &[], "\\d"), "public|samples|table|sluice");
    // \dt+: stored as Parquet, the segments' size.
    assert_eq!(rows(port, &[], "\\dt+"), listed_with_size(dir.path()));
    // \dn: the schemas a user sees (psql hides pg_* and information_schema).
    assert_eq!(rows(port, &[], "\\dn"), "public|sluice");
    // \l: the database the client connected to, UTF-8, byte order.
    assert_eq!(rows(port, &[], "\\l"), "sluice|sluice|UTF8|C|C||libc|");
    // \l+: its size is its tables', in the one tablespace.
    let bytes = segment_bytes(&dir.path().join("segments"));
    assert_eq!(
        rows(port, &[], "\\l+"),
        format!("sluice|sluice|UTF8|C|C||libc||{bytes} bytes|pg_default|")
    );

    // \d samples: every label a text column, then the fixed columns.
    let table = rows(port, &[], "\\d samples");
    assert_eq!(table, described(&[]));

    // The same types a select announces: psql's \gdesc describes the
    // result of `select *` from its RowDescription (through
    // format_type()), independently of pg_attribute.
    let gdesc = dir.path().join("gdesc.sql");
    std::fs::write(&gdesc, "select * from samples \\gdesc\n").unwrap();
    let out = psql(port, &[], &["-f", &gdesc.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let announced = String::from_utf8(out.stdout).unwrap();
    let columns_types = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').take(2).collect::<Vec<_>>().join("|"))
            .collect()
    };
    assert_eq!(columns_types(&table), columns_types(&announced));

    // A name that matches nothing is not found (the pattern is honoured).
    let out = psql(port, &[], &["-c", "\\d nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Did not find any relation named \"nope\""),
        "{stderr}"
    );

    // The catalog answers plain SQL too: tables, their kind and columns.
    assert_eq!(
        rows(
            port,
            &[],
            "select c.relname, c.relkind, count(*) from pg_catalog.pg_class c \
             join pg_catalog.pg_namespace n on n.oid = c.relnamespace \
             join pg_catalog.pg_attribute a on a.attrelid = c.oid \
             where n.nspname = 'public' group by 1, 2"
        ),
        "samples|r|7"
    );
    // Its rows as Postgres' planner statistics: every sample.
    assert_eq!(
        rows(
            port,
            &[],
            "select reltuples from pg_catalog.pg_class where relname = 'samples'"
        ),
        (2 * MINUTES + 5).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_label_shows_up_in_psql_describe() {
    let dir = tempfile::tempdir().unwrap();
    let (_query, port) = start(dir.path(), None, &[]).await;
    assert_eq!(rows(port, &[], "\\d samples"), described(&[]));

    // New data with a label no sample had: a new column of `samples`.
    let more = dir.path().join("more.om");
    std::fs::write(
        &more,
        format!(
            "# TYPE pgw_new gauge\npgw_new{{zone=\"eu\"}} 1 {}\n# EOF\n",
            START_S + 30
        ),
    )
    .unwrap();
    import(&dir.path().join("sluice.yml"), &more);

    let want = described(&["zone"]);
    eventually(Duration::from_secs(30), "zone in \\d samples", || async {
        (rows(port, &[], "\\d samples") == want).then_some(())
    })
    .await;
    // The size is the new segments' too.
    assert_eq!(rows(port, &[], "\\dt+"), listed_with_size(dir.path()));
    // And a select sees it too.
    assert_eq!(
        rows(
            port,
            &[],
            "select zone, __value__ from samples where zone is not null"
        ),
        "eu|1"
    );
}

/// The columns and types psql's `\gdesc` reports for `select` (what the
/// wire protocol announces), as `name type` pairs.
fn announced(port: u16, dir: &Path, select: &str) -> Vec<String> {
    let file = dir.join("gdesc-functions.sql");
    std::fs::write(&file, format!("{select} \\gdesc\n")).unwrap();
    let out = psql(port, &[], &["-f", &file.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.replacen('|', " ", 1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_lists_the_functions() {
    let dir = tempfile::tempdir().unwrap();
    let (_query, port) = start(dir.path(), None, &[]).await;

    // \df: Sluice's own function, its two forms, returning the columns a
    // select from it announces.
    let promql_columns = "labels text, \"timestamp\" timestamp with time zone, value double precision";
    assert_eq!(
        rows(port, &[], "\\df"),
        format!(
            "public|promql|TABLE({promql_columns})|query text, \"time\" \"any\"|func\n\
             public|promql|TABLE({promql_columns})|query text, start \"any\", \"end\" \"any\", step \"any\"|func"
        )
    );
    assert_eq!(
        announced(port, dir.path(), "select * from promql('pgw_temp', 0)"),
        [
            "labels text",
            "timestamp timestamp with time zone",
            "value double precision"
        ]
    );
    // \df+: stable (it reads the segments as they are for the statement),
    // built in, owned by the catalog's role.
    let plus = rows(port, &[], "\\df+ promql");
    for line in plus.lines() {
        let cells: Vec<&str> = line.split('|').collect();
        assert_eq!(
            cells[5..12],
            ["stable", "safe", "sluice", "invoker", "", "internal", "promql"],
            "{line}"
        );
    }
    // A pattern that matches nothing lists nothing.
    assert_eq!(rows(port, &[], "\\df nope"), "");

    // \dfS: DataFusion's functions, in pg_catalog, with the argument and
    // result types their signatures fix: a scalar one per float type ...
    assert_eq!(
        rows(port, &[], "\\dfS sqrt"),
        "pg_catalog|sqrt|double precision|double precision|func\n\
         pg_catalog|sqrt|real|real|func"
    );
    // ... an aggregate (\dfS and \daS), one overload per type it sums,
    // "any" for a decimal of any precision ...
    assert_eq!(
        rows(port, &[], "\\dfS sum"),
        "pg_catalog|sum|\"any\"|\"any\"|agg\n\
         pg_catalog|sum|bigint|bigint|agg\n\
         pg_catalog|sum|double precision|double precision|agg\n\
         pg_catalog|sum|numeric|numeric|agg"
    );
    assert!(
        rows(port, &[], "\\daS sum")
            .lines()
            .any(|l| l == "pg_catalog|sum|bigint|bigint|"),
    );
    // ... no argument list as `*`, as count(*) ...
    assert!(
        rows(port, &[], "\\daS count")
            .lines()
            .any(|l| l == "pg_catalog|count|bigint|*|"),
    );
    // ... and a window function, returning what a select announces.
    let row_number = announced(port, dir.path(), "select row_number() over () as n");
    let [n] = row_number.as_slice() else {
        panic!("{row_number:?}")
    };
    assert_eq!(
        rows(port, &[], "\\dfS row_number"),
        format!("pg_catalog|row_number|{}||window", n.trim_start_matches("n "))
    );
    // Plain \da and \dfw: no aggregate or window function outside pg_catalog.
    assert_eq!(rows(port, &[], "\\da"), "");
    assert_eq!(rows(port, &[], "\\dfw"), "");

    // \dT: no type outside pg_catalog; \dTS: the types columns and
    // function signatures use.
    assert_eq!(rows(port, &[], "\\dT"), "");
    let types = rows(port, &[], "\\dTS");
    for ty in [
        "text",
        "double precision",
        "timestamp with time zone",
        "\"any\"",
        "record",
    ] {
        assert!(
            types.lines().any(|l| l == format!("pg_catalog|{ty}|")),
            "{ty}: {types}"
        );
    }
    assert_eq!(
        rows(port, &[], "\\dTS+ bigint"),
        "pg_catalog|bigint|int8|8||sluice||"
    );
}
