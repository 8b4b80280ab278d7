//! Postgres' system catalog, so that `psql`'s `\d` commands and BI tools'
//! schema browsers work against the Postgres listener.
//!
//! Each statement's session gets a `pg_catalog` schema ([`schema`]) whose
//! tables are computed, when a statement names them, from DataFusion's
//! catalog of that session ([`snapshot`]): the tables registered for the
//! statement with the columns they have then (a new label is a new column
//! of `samples` in the next statement). Relations and columns are typed
//! as the wire protocol types result columns ([`crate::pg::types`]), so
//! `\d samples` shows what a `select` returns. Oids are derived from names
//! ([`oid`]), so an oid psql reads in one statement finds the same table in
//! the next. Things Sluice does not have (indexes, constraints, comments,
//! ...) are tables without rows ([`defs`]).
//!
//! The session's functions are `pg_proc`'s rows ([`registry`],
//! [`procs`]), each DataFusion signature shown as Postgres would show it
//! ([`signature`]). The functions psql calls that DataFusion lacks are
//! here too ([`functions`], [`proc_functions`]), as is the syntax psql
//! writes that DataFusion does not plan: `OPERATOR(pg_catalog.~)`
//! ([`operator`]), casts to `oid`, `regclass` and the like ([`casts`]),
//! array literals compared with arrays ([`array_literal`]) through planner
//! hooks, and, rewritten in the parsed statement as DataFusion has no hook
//! for them ([`rewrite`]), `COLLATE pg_catalog.default` ([`collate`]),
//! `ARRAY(SELECT ...)` ([`array_subquery`]) and repeated result column
//! names ([`duplicate_names`]). A few pieces of psql's `\d` and `\dT`
//! that DataFusion cannot plan (lateral table functions, a correlated
//! subquery it cannot bound to one row) are replaced by their value here
//! or an equivalent it plans, by their exact text ([`psql_fragments`]).
//!
//! Only the Postgres listener's sessions get this: it describes the tables
//! in Postgres' terms (Postgres type oids, `relkind`) for Postgres clients,
//! while `/api/v1/sql` answers with Arrow types and has
//! `information_schema` for the same questions; adding the Postgres
//! catalog there would put twenty-odd `pg_*` tables into its `SHOW TABLES`
//! for no client that reads them.

mod array_literal;
mod array_subquery;
mod casts;
mod collate;
mod database;
mod defs;
mod duplicate_names;
mod function;
mod functions;
mod ident;
mod oid;
mod operator;
mod proc_functions;
mod procs;
mod psql_fragments;
mod regclass;
mod registry;
mod relations;
mod rewrite;
mod schema;
mod signature;
mod sizes;
mod snapshot;
mod table;
mod types;

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::dataframe::DataFrame;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use self::registry::{Functions, Registry};
use self::schema::PgCatalogSchema;
use self::snapshot::PG_CATALOG;
use crate::sql::read_only;

/// DataFusion functions psql calls with the `pg_catalog.` qualifier (all
/// of Postgres' built-ins live in `pg_catalog`); DataFusion looks a
/// qualified name up as one string, so they get it as an alias.
const QUALIFIED_BUILTINS: &[(&str, &str)] = &[("array_to_string", "pg_catalog.array_to_string")];

/// `ctx` with Postgres' catalog: the `pg_catalog` schema, its functions and
/// the planners for psql's syntax; `database` is the name the catalog
/// shows for the database (the one the client connected to).
pub(crate) async fn with_pg_catalog(ctx: SessionContext, database: &str) -> DfResult<SessionContext> {
    let state = ctx.state();
    let mut planners = state.expr_planners().to_vec();
    planners.insert(0, Arc::new(operator::QualifiedOperators));
    planners.insert(1, Arc::new(array_literal::ArrayLiterals));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_expr_planners(planners)
        .with_type_planner(Arc::new(casts::CatalogTypes))
        .build();
    let ctx = SessionContext::new_with_state(state);

    let options = ctx.copied_config();
    let options = options.options();
    let catalog_name = options.catalog.default_catalog.clone();
    // Through `state_ref`: `ctx.state()` clones the whole session state,
    // and this runs for every statement.
    let catalogs = ctx.state_ref().read().catalog_list().clone();
    let catalog = catalogs
        .catalog(&catalog_name)
        .ok_or_else(|| DataFusionError::Internal(format!("no catalog {catalog_name}")))?;
    // Described once every function below is registered.
    let functions = Arc::new(Functions::default());
    catalog.register_schema(
        PG_CATALOG,
        Arc::new(PgCatalogSchema::new(
            &catalogs,
            &catalog_name,
            database,
            options.catalog.information_schema,
            functions.clone(),
        )),
    )?;
    let table_bytes = sizes::table_bytes(catalogs.as_ref(), &catalog_name).await?;
    for f in functions::all(
        &catalogs,
        &catalog_name,
        &options.catalog.default_schema,
        table_bytes,
    )
    .into_iter()
    .chain(proc_functions::all(&Arc::downgrade(&functions)))
    {
        ctx.register_udf(f);
    }
    for (name, qualified) in QUALIFIED_BUILTINS {
        // The read lock is released before `register_udf` takes the write lock.
        let builtin = ctx.state_ref().read().scalar_functions().get(*name).cloned();
        if let Some(f) = builtin {
            ctx.register_udf(f.as_ref().clone().with_aliases([*qualified]));
        }
    }
    functions.register(Registry::of(
        &ctx.state_ref().read(),
        &options.catalog.default_schema,
    ));
    Ok(ctx)
}

/// Plans `sql` in `ctx` (from [`with_pg_catalog`]) as
/// `SessionContext::sql_with_options` with [`read_only`] does, but with
/// psql's constructs DataFusion has no hook for rewritten first
/// ([`psql_fragments`], [`rewrite`]).
pub(crate) async fn plan(ctx: &SessionContext, sql: &str) -> DfResult<DataFrame> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let sql = psql_fragments::replace(sql);
    let mut stmt = state.sql_to_statement(&sql, &dialect)?;
    rewrite::statement(&mut stmt, &state.config().options().catalog.default_schema);
    let plan = state.statement_to_plan(stmt).await?;
    read_only().verify_plan(&plan)?;
    ctx.execute_logical_plan(plan).await
}
