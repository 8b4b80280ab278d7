//! `pg_proc` and `pg_language`: one row per function overload of the
//! session ([`super::registry`]), all in the `internal` language (built
//! into the server), and the text `pg_get_function_result` and
//! `pg_get_function_arguments` print for each.

use datafusion::common::Result as DfResult;
use datafusion::logical_expr::Volatility;
use pgwire::api::Type;

use super::ident::quote_ident;
use super::oid::{self, INTERNAL_LANGUAGE, OWNER_ROLE};
use super::signature::Params;
use super::table::{Row, Ty, boolean, float4, int2, null, oid, oid_array, text, text_array};
use super::types;

/// What kind of function an overload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar,
    Aggregate,
    Window,
    /// Returns rows (`FROM f(...)`).
    Table,
}

impl Kind {
    /// `prokind`: a table function is an ordinary function returning a set.
    fn code(self) -> &'static str {
        match self {
            Kind::Scalar | Kind::Table => "f",
            Kind::Aggregate => "a",
            Kind::Window => "w",
        }
    }

    /// Tells overloads apart in oids (a scalar and a table function, an
    /// aggregate and a window function may share names and arguments).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Scalar => "scalar",
            Kind::Aggregate => "aggregate",
            Kind::Window => "window",
            Kind::Table => "table",
        }
    }
}

/// What an overload returns.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// A value of this type; None: `"any"` (it depends on the arguments).
    Value(Option<Type>),
    /// Rows of these columns (`RETURNS TABLE(...)`).
    Table(Vec<(String, Type)>),
    /// Rows whose columns are known only once called (`SETOF record`).
    Records,
}

/// One function overload.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub(crate) oid: u32,
    pub(crate) schema: String,
    pub(crate) kind: Kind,
    /// The name it is called by.
    pub(crate) name: String,
    pub(crate) params: Params,
    /// The arguments' names, if it names them.
    pub(crate) arg_names: Vec<&'static str>,
    pub(crate) result: Output,
    pub(crate) volatility: Volatility,
    /// `prosrc`: the implementation's name (an alias has its target's).
    pub(crate) source: String,
}

impl Proc {
    /// `pg_get_function_arguments` (no argument has a default, so also
    /// `pg_get_function_identity_arguments`).
    pub(crate) fn arguments(&self) -> String {
        self.params.render(&self.arg_names)
    }

    /// `pg_get_function_result`.
    pub(crate) fn result(&self) -> String {
        match &self.result {
            Output::Value(ty) => types::format_type(i64::from(self.return_type(ty))),
            Output::Table(columns) => {
                let columns: Vec<String> = columns
                    .iter()
                    .map(|(name, ty)| {
                        format!(
                            "{} {}",
                            quote_ident(name),
                            types::format_type(i64::from(ty.oid()))
                        )
                    })
                    .collect();
                format!("TABLE({})", columns.join(", "))
            }
            Output::Records => "SETOF record".to_string(),
        }
    }

    /// `prorettype`.
    fn return_type(&self, value: &Option<Type>) -> u32 {
        value.as_ref().map_or(Type::ANY.oid(), Type::oid)
    }

    fn returns_set(&self) -> bool {
        matches!(self.result, Output::Table(_) | Output::Records)
    }

    /// The table columns, which Postgres lists after the arguments in
    /// `proallargtypes`, `proargmodes` and `proargnames`.
    fn columns(&self) -> &[(String, Type)] {
        match &self.result {
            Output::Table(columns) => columns,
            _ => &[],
        }
    }

    /// One `pg_proc` row (in `defs::PG_PROC`'s column order).
    fn row(&self) -> DfResult<Row> {
        let variadic = matches!(self.params, Params::Variadic);
        let columns = self.columns();
        let nargs = i16::try_from(self.params.count()).unwrap_or(i16::MAX);
        let in_types = self.params.type_oids();
        // Postgres fills these only when some argument is not a plain
        // input one (variadic, or a table column).
        let all_types = (!columns.is_empty()).then(|| {
            let mut all = in_types.clone();
            all.extend(columns.iter().map(|(_, t)| t.oid()));
            all
        });
        let modes = if variadic {
            Some(vec!["v".to_string()])
        } else if columns.is_empty() {
            None
        } else {
            Some(
                std::iter::repeat_n("i", in_types.len())
                    .chain(std::iter::repeat_n("t", columns.len()))
                    .map(str::to_string)
                    .collect(),
            )
        };
        let names = (!self.arg_names.is_empty() || !columns.is_empty()).then(|| {
            let mut names: Vec<String> = self.arg_names.iter().map(|n| n.to_string()).collect();
            names.extend(columns.iter().map(|(n, _)| n.clone()));
            names
        });
        let return_type = match &self.result {
            Output::Value(ty) => self.return_type(ty),
            Output::Table(_) | Output::Records => Type::RECORD.oid(),
        };
        let volatility = match self.volatility {
            Volatility::Immutable => "i",
            Volatility::Stable => "s",
            Volatility::Volatile => "v",
        };
        Ok(vec![
            oid(self.oid),
            text(self.name.as_str()),
            oid(oid::namespace(&self.schema)),
            oid(OWNER_ROLE),
            oid(INTERNAL_LANGUAGE),
            // Postgres' defaults: an internal function costs 1 unit, a set
            // is guessed at 1000 rows.
            float4(1.0),
            float4(if self.returns_set() { 1000.0 } else { 0.0 }),
            oid(if variadic { Type::ANY.oid() } else { 0 }),
            oid(0),
            text(self.kind.code()),
            boolean(false),
            boolean(false),
            // DataFusion hands NULL arguments to every function: none is
            // skipped for them as a strict one would be.
            boolean(false),
            boolean(self.returns_set()),
            text(volatility),
            // DataFusion runs every function in parallel partitions.
            text("s"),
            int2(nargs),
            int2(0),
            oid(return_type),
            oid_array(in_types),
            all_types.map_or_else(|| null(Ty::OidArray), |t| Ok(oid_array(t)))?,
            modes.map_or_else(|| null(Ty::TextArray), |m| Ok(text_array(m)))?,
            names.map_or_else(|| null(Ty::TextArray), |n| Ok(text_array(n)))?,
            null(Ty::Text)?,
            null(Ty::OidArray)?,
            text(self.source.as_str()),
            null(Ty::Text)?,
            null(Ty::Text)?,
            null(Ty::TextArray)?,
            null(Ty::TextArray)?,
        ])
    }
}

/// The `pg_proc` rows.
pub(crate) fn rows(procs: &[Proc]) -> DfResult<Vec<Row>> {
    procs.iter().map(Proc::row).collect()
}

/// The one language every function is in.
pub(crate) fn languages() -> DfResult<Vec<Row>> {
    Ok(vec![vec![
        oid(INTERNAL_LANGUAGE),
        text("internal"),
        oid(OWNER_ROLE),
        boolean(false),
        boolean(false),
        oid(0),
        oid(0),
        oid(0),
        null(Ty::TextArray)?,
    ]])
}
