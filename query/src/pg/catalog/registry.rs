//! The session's functions as `pg_proc` describes them: read from
//! DataFusion's function registry once every function is registered, and
//! turned into [`Proc`]s the first time a statement asks (`pg_proc`, or
//! a `pg_get_function_*` call), not for every statement.
//!
//! DataFusion's own functions, and this catalog's Postgres functions, are
//! Postgres' built-ins here: they go in `pg_catalog`, so psql's `\df`
//! lists them only when asked to (`\dfS`), as it does Postgres'. The
//! functions Sluice adds (`promql`) go in the default schema, where `\df`
//! finds them. Every name a function answers to is a function, as in
//! Postgres, where aliases are rows of their own (`prosrc` names the
//! implementation they share).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::catalog::TableFunction;
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::function::WindowUDFFieldArgs;
use datafusion::logical_expr::{
    AggregateUDF, ReturnFieldArgs, ScalarUDF, TypeSignature, Volatility, WindowUDF,
};
use pgwire::api::Type;

use super::function::PgFunction;
use super::oid;
use super::procs::{Kind, Output, Proc};
use super::signature::{Arg, Params, overloads};
use super::snapshot::PG_CATALOG;
use crate::pg::types::pg_type;
use crate::promql_plan::PromqlFunction;
use crate::promql_plan::nodes::result_schema;

/// The functions of one session, by the names they answer to.
pub(crate) struct Registry {
    /// Where the functions Sluice adds are (the default schema).
    schema: String,
    scalars: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    windows: HashMap<String, Arc<WindowUDF>>,
    tables: HashMap<String, Arc<TableFunction>>,
}

impl Registry {
    /// The functions of `state`; Sluice's own are in `schema`.
    pub(crate) fn of(state: &SessionState, schema: &str) -> Registry {
        Registry {
            schema: schema.to_string(),
            scalars: state.scalar_functions().clone(),
            aggregates: state.aggregate_functions().clone(),
            windows: state.window_functions().clone(),
            tables: state.table_functions().clone(),
        }
    }
}

/// The session's functions: the registry once it is complete, and what
/// `pg_proc` makes of it, computed when first asked.
#[derive(Default)]
pub(crate) struct Functions {
    registry: OnceLock<Registry>,
    procs: OnceLock<Procs>,
}

impl fmt::Debug for Functions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Functions")
            .field("registered", &self.registry.get().is_some())
            .finish()
    }
}

/// Every overload, and where each oid's is.
struct Procs {
    list: Vec<Proc>,
    by_oid: HashMap<u32, usize>,
}

impl Functions {
    /// Describes `registry` from now on (the first one given).
    pub(crate) fn register(&self, registry: Registry) {
        let _ = self.registry.set(registry);
    }

    /// Every function overload, sorted by schema, name and oid (none
    /// before [`Functions::register`]).
    pub(crate) fn procs(&self) -> &[Proc] {
        self.computed().map_or(&[], |p| &p.list)
    }

    /// The overload with oid `oid`.
    pub(crate) fn by_oid(&self, oid: u32) -> Option<&Proc> {
        let procs = self.computed()?;
        procs.by_oid.get(&oid).map(|i| &procs.list[*i])
    }

    fn computed(&self) -> Option<&Procs> {
        let registry = self.registry.get()?;
        Some(self.procs.get_or_init(|| {
            let mut list = describe(registry);
            list.sort_by(|a, b| (&a.schema, &a.name, a.oid).cmp(&(&b.schema, &b.name, b.oid)));
            let by_oid = list.iter().enumerate().map(|(i, p)| (p.oid, i)).collect();
            Procs { list, by_oid }
        }))
    }
}

/// The names DataFusion's default session has, by kind: its built-ins.
struct Builtins {
    scalars: HashSet<String>,
    aggregates: HashSet<String>,
    windows: HashSet<String>,
    tables: HashSet<String>,
}

fn builtins() -> &'static Builtins {
    static BUILTINS: OnceLock<Builtins> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        let state = SessionStateBuilder::new().with_default_features().build();
        Builtins {
            scalars: state.scalar_functions().keys().cloned().collect(),
            aggregates: state.aggregate_functions().keys().cloned().collect(),
            windows: state.window_functions().keys().cloned().collect(),
            tables: state.table_functions().keys().cloned().collect(),
        }
    })
}

/// What all overloads of a function share.
struct Function<'a> {
    schema: &'a str,
    kind: Kind,
    /// The name it answers to.
    name: &'a str,
    /// The implementation's name.
    source: &'a str,
    volatility: Volatility,
}

impl Function<'_> {
    /// The overload taking `params` (named `arg_names`, or not) and
    /// returning `result`.
    fn overload(&self, params: Params, arg_names: Vec<&'static str>, result: Output) -> Proc {
        Proc {
            oid: oid::function(self.schema, self.kind.label(), self.name, &params.render(&[])),
            schema: self.schema.to_string(),
            kind: self.kind,
            name: self.name.to_string(),
            params,
            arg_names,
            result,
            volatility: self.volatility,
            source: self.source.to_string(),
        }
    }

    /// Its overloads as `signature` states them, each returning what
    /// `result_of` says for its arguments ([`value`]).
    fn signed(
        &self,
        signature: &TypeSignature,
        result_of: impl Fn(&[FieldRef]) -> Option<FieldRef>,
    ) -> impl Iterator<Item = Proc> {
        overloads(signature).into_iter().map(move |params| {
            let result = value(&params, &result_of);
            self.overload(params, Vec::new(), result)
        })
    }
}

fn describe(reg: &Registry) -> Vec<Proc> {
    let builtins = builtins();
    let schema_of = |builtin: bool| if builtin { PG_CATALOG } else { reg.schema.as_str() };
    let mut out = Vec::new();
    for (name, f) in reg.scalars.iter().filter(|(n, _)| !qualified(n)) {
        let shim = (f.inner().as_ref() as &dyn Any).downcast_ref::<PgFunction>();
        let signature = shim.map_or_else(
            || f.signature().type_signature.clone(),
            PgFunction::argument_lists,
        );
        let function = Function {
            schema: schema_of(shim.is_some() || builtins.scalars.contains(name)),
            kind: Kind::Scalar,
            name,
            source: f.name(),
            volatility: f.signature().volatility,
        };
        out.extend(function.signed(&signature, |fields| {
            let scalars = vec![None; fields.len()];
            f.return_field_from_args(ReturnFieldArgs {
                arg_fields: fields,
                scalar_arguments: &scalars,
            })
            .ok()
        }));
    }
    for (name, f) in reg.aggregates.iter().filter(|(n, _)| !qualified(n)) {
        let function = Function {
            schema: schema_of(builtins.aggregates.contains(name)),
            kind: Kind::Aggregate,
            name,
            source: f.name(),
            volatility: f.signature().volatility,
        };
        out.extend(function.signed(&f.signature().type_signature, |fields| {
            f.return_field(fields).ok()
        }));
    }
    for (name, f) in reg.windows.iter().filter(|(n, _)| !qualified(n)) {
        let function = Function {
            schema: schema_of(builtins.windows.contains(name)),
            kind: Kind::Window,
            name,
            source: f.name(),
            volatility: f.signature().volatility,
        };
        out.extend(function.signed(&f.signature().type_signature, |fields| {
            f.field(WindowUDFFieldArgs::new(fields, name)).ok()
        }));
    }
    for (name, f) in reg.tables.iter().filter(|(n, _)| !qualified(n)) {
        out.extend(table_function(schema_of(builtins.tables.contains(name)), name, f));
    }
    out
}

/// A table function's overloads: `promql`'s as it declares them; any
/// other's (DataFusion's say nothing of their arguments or columns until
/// called) as taking anything and returning rows of some record.
fn table_function(schema: &str, name: &str, f: &TableFunction) -> Vec<Proc> {
    let promql = (f.function().as_ref() as &dyn Any).is::<PromqlFunction>();
    let function = Function {
        schema,
        kind: Kind::Table,
        name,
        source: f.name(),
        // Nothing is known of another, so nothing is promised.
        volatility: if promql {
            PromqlFunction::VOLATILITY
        } else {
            Volatility::Volatile
        },
    };
    if !promql {
        return vec![function.overload(Params::Variadic, Vec::new(), Output::Records)];
    }
    let columns: Vec<(String, Type)> = result_schema()
        .fields()
        .iter()
        .map(|c| (c.name().clone(), pg_type(c.data_type()).0))
        .collect();
    PromqlFunction::FORMS
        .iter()
        .map(|form| {
            let params = form
                .iter()
                .map(|(_, ty)| ty.as_ref().map_or_else(Arg::any, Arg::of))
                .collect();
            let names = form.iter().map(|(n, _)| *n).collect();
            function.overload(Params::Fixed(params), names, Output::Table(columns.clone()))
        })
        .collect()
}

/// What an overload returns, as the wire protocol would send it: known
/// when the signature names every argument's type and the function then
/// names a result (`result_of` those arguments), `"any"` otherwise.
fn value(params: &Params, result_of: &impl Fn(&[FieldRef]) -> Option<FieldRef>) -> Output {
    let result = params.arrow_types().and_then(|types| {
        let fields: Vec<FieldRef> = types
            .into_iter()
            .enumerate()
            .map(|(i, t): (usize, DataType)| Arc::new(Field::new(format!("arg_{i}"), t, true)))
            .collect();
        result_of(&fields)
    });
    Output::Value(result.map(|f| pg_type(f.data_type()).0))
}

/// A `pg_catalog.name` alias (psql qualifies what it calls): the same
/// function as `name`, not one of its own.
fn qualified(name: &str) -> bool {
    name.contains('.')
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::UInt32Type;
    use datafusion::prelude::SessionContext;
    use sluice_sink::segment::SAMPLES_TABLE;
    use sluice_sink::store::SegmentStore;

    use crate::pg::catalog::{oid, plan, with_pg_catalog};
    use crate::segments::index::SegmentIndex;
    use crate::sql::SqlService;

    /// A session as the Postgres listener makes one, over no segments.
    async fn session(dir: &std::path::Path) -> SessionContext {
        let store = SegmentStore::local(dir).unwrap();
        let sql = SqlService::new(Arc::new(SegmentIndex::new(store, SAMPLES_TABLE)));
        with_pg_catalog(sql.session().await.unwrap(), "sluice")
            .await
            .unwrap()
    }

    async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
        plan(ctx, sql).await.unwrap().collect().await.unwrap()
    }

    fn oids(batches: &[RecordBatch]) -> Vec<u32> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_primitive::<UInt32Type>();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn every_overload_has_an_oid_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = session(dir.path()).await;
        let procs = oids(&query(&ctx, "select oid from pg_catalog.pg_proc").await);
        // Hundreds: DataFusion's functions, overloads apart.
        assert!(procs.len() > 300, "{} functions", procs.len());
        let relations = oids(&query(&ctx, "select oid from pg_catalog.pg_class").await);
        let types = oids(&query(&ctx, "select oid from pg_catalog.pg_type").await);
        let all: Vec<u32> = procs.iter().chain(&relations).chain(&types).copied().collect();
        let distinct: HashSet<u32> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        // The same in the next statement's session.
        let again = oids(&query(&session(dir.path()).await, "select oid from pg_catalog.pg_proc").await);
        assert_eq!(
            procs.iter().collect::<HashSet<_>>(),
            again.iter().collect::<HashSet<_>>()
        );
    }

    #[tokio::test]
    async fn sluices_functions_are_in_the_default_schema_the_rest_in_pg_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = session(dir.path()).await;
        let schemas = |name: &str| {
            let sql =
                format!("select distinct pronamespace from pg_catalog.pg_proc where proname = '{name}'");
            let ctx = ctx.clone();
            async move { oids(&query(&ctx, &sql).await) }
        };
        assert_eq!(schemas("promql").await, [oid::PUBLIC_NAMESPACE]);
        // DataFusion's, and this catalog's Postgres functions.
        for name in [
            "sum",
            "abs",
            "row_number",
            "generate_series",
            "pg_get_function_result",
        ] {
            assert_eq!(schemas(name).await, [oid::PG_CATALOG_NAMESPACE], "{name}");
        }
        // The `pg_catalog.` aliases are no functions of their own.
        assert!(schemas("pg_catalog.array_to_string").await.is_empty());
    }
}
