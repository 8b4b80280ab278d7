//! The functions psql's `\df` and `\da` call about a function (by oid):
//! its result and arguments as SQL text, and whether its bare name finds
//! it. Each is NULL for an oid that is no function, as in Postgres.

use std::sync::Weak;

use datafusion::logical_expr::ScalarUDF;

use super::function::{Out, Param, PgFunction, Returns};
use super::procs::Proc;
use super::registry::Functions;

/// The functions, answering from `functions` (weak: they are part of the
/// registry it describes).
pub(crate) fn all(functions: &Weak<Functions>) -> Vec<ScalarUDF> {
    vec![
        about(functions, "pg_get_function_result", Returns::Text, |p| {
            Out::Text(p.result())
        }),
        about(functions, "pg_get_function_arguments", Returns::Text, |p| {
            Out::Text(p.arguments())
        }),
        // No argument has a default, so the identity is the argument list.
        about(
            functions,
            "pg_get_function_identity_arguments",
            Returns::Text,
            |p| Out::Text(p.arguments()),
        ),
        // DataFusion finds a function by its name alone, wherever
        // `pg_proc` puts it: `pg_catalog` and the default schema are both
        // on the search path.
        about(functions, "pg_function_is_visible", Returns::Bool, |_| {
            Out::Bool(true)
        }),
        // No function is defined by a SQL body.
        PgFunction::udf("pg_get_function_sqlbody", &[Param::Int], 1, Returns::Text, |_| {
            None
        }),
    ]
}

/// `name(oid)`: `answer` about the function with that oid.
fn about(
    functions: &Weak<Functions>,
    name: &'static str,
    returns: Returns,
    answer: fn(&Proc) -> Out,
) -> ScalarUDF {
    let functions = functions.clone();
    PgFunction::udf(name, &[Param::Int], 1, returns, move |a| {
        let oid = u32::try_from(a[0].as_ref()?.int()?).ok()?;
        functions.upgrade()?.by_oid(oid).map(answer)
    })
}
