//! Result columns with the same name: Postgres allows them (psql's `\d`
//! footer for publications selects `pubname, NULL, NULL`), DataFusion
//! refuses a projection with two columns of one name. An unaliased select
//! item that repeats an earlier one gets an alias naming its position
//! (`NULL` as the third column becomes `"NULL_3"`); clients that read
//! such results by position, as psql does, see the same rows.

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{Ident, Select, SelectItem};

/// `select` with its repeated unaliased items aliased.
pub(super) fn alias_repeats(select: &mut Select) {
    let mut seen = HashSet::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(e) = item {
            let name = e.to_string();
            if !seen.insert(name.clone()) {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::with_quote('"', format!("{name}_{}", i + 1)),
                };
            }
        }
    }
}
