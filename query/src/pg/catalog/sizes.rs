//! `pg_table_size()` and `pg_size_pretty()` (psql's `\dt+`): the bytes of
//! a table's segments, printed as Postgres prints sizes.

use std::collections::HashMap;

use datafusion::catalog::CatalogProviderList;
use datafusion::common::Result as DfResult;

use super::oid;
use super::snapshot::{PG_CATALOG, Stored};

/// The bytes stored for each table over segments, by oid. Read when the
/// session is made: a scalar function cannot wait for a table provider.
pub(crate) async fn table_bytes(
    catalogs: &dyn CatalogProviderList,
    catalog: &str,
) -> DfResult<HashMap<u32, u64>> {
    let mut out = HashMap::new();
    let Some(cat) = catalogs.catalog(catalog) else {
        return Ok(out);
    };
    for schema in cat.schema_names() {
        if schema == PG_CATALOG {
            continue;
        }
        let Some(provider) = cat.schema(&schema) else {
            continue;
        };
        for name in provider.table_names() {
            if let Some(stored) = provider.table(&name).await?.and_then(|t| Stored::of(t.as_ref())) {
                out.insert(oid::relation(&schema, &name), stored.bytes);
            }
        }
    }
    Ok(out)
}

/// `size` bytes as Postgres' `pg_size_pretty` prints them: bytes below
/// 10 kB, else the largest unit (kB, MB, GB, TB, PB; powers of 1024) that
/// keeps the number below 10240, rounded half away from zero.
pub(crate) fn pretty(size: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    if size.abs() < LIMIT {
        return format!("{size} bytes");
    }
    let half_rounded = |x: i64| (x + x.signum()) / 2;
    // One extra bit kept for the rounding.
    let mut size = size >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < LIMIT2 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} PB", half_rounded(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_postgres_prints_them() {
        // Postgres 15: select pg_size_pretty(n::bigint).
        assert_eq!(pretty(0), "0 bytes");
        assert_eq!(pretty(10239), "10239 bytes");
        assert_eq!(pretty(10240), "10 kB");
        assert_eq!(pretty(10752), "11 kB");
        assert_eq!(pretty(1_000_000), "977 kB");
        assert_eq!(pretty(10_485_760), "10 MB");
        assert_eq!(pretty(1 << 40), "1024 GB");
        assert_eq!(pretty(-10240), "-10 kB");
    }
}
