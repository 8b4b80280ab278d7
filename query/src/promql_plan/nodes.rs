//! The logical nodes PromQL adds to DataFusion where relational operators do
//! not fit:
//!
//! - [`SeriesNormalize`] turns the rows of one read into series order:
//!   sorted by series, then time, one sample per series and timestamp (a
//!   series split across segments can repeat a sample).
//! - `PromInstantManipulate`, `PromRangeManipulate` and `PromRangeFunction`
//!   (one file each) compute the query's leaves over a normalised read:
//!   instant selectors (lookback, staleness) and per-series range
//!   functions over left-open windows.
//! - [`PromEval`] evaluates the rest (aggregation, binary operators, other
//!   functions, subqueries, name dropping, annotations) as Sluice's PromQL
//!   engine over the leaves' results and the normalised reads of the
//!   selectors that are not leaves; its output is one row per series and
//!   step.
//!
//! The scans below them are plain DataFusion plans ([`super::scan`]), so
//! time, metric-name and label filters reach the table provider and the
//! Parquet reader's pruning.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, SecondsFormat};
use datafusion::common::{DFSchema, DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use promql_parser::parser::Expr as PromExpr;

/// Columns of a PromQL result as a table.
pub const COL_LABELS: &str = "labels";
/// The step time of a result row.
pub const COL_TS: &str = "timestamp";
/// The value of a result row.
pub const COL_VAL: &str = "value";

/// The Arrow schema of a PromQL result: the series' labels as a map
/// (`labels['job']` in SQL), the step time and the value.
pub fn result_schema() -> Schema {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    );
    Schema::new(vec![
        Field::new(COL_LABELS, DataType::Map(Arc::new(entries), false), false),
        Field::new(
            COL_TS,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new(COL_VAL, DataType::Float64, false),
    ])
}

/// Milliseconds as RFC 3339, for EXPLAIN.
pub(crate) fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms}ms"),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// Normalises the rows of one engine read into series order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct SeriesNormalize {
    pub(crate) input: LogicalPlan,
    /// The read, for EXPLAIN: its matchers and time span.
    pub(crate) read: String,
}

impl UserDefinedLogicalNodeCore for SeriesNormalize {
    fn name(&self) -> &str {
        "PromSeriesNormalize"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PromSeriesNormalize: read={}", self.read)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(SeriesNormalize {
            input: inputs.swap_remove(0),
            read: self.read.clone(),
        })
    }
}

/// A parsed PromQL expression, compared and hashed by its canonical text.
#[derive(Debug, Clone)]
pub struct ParsedQuery {
    pub(crate) expr: Arc<PromExpr>,
    canonical: String,
}

impl ParsedQuery {
    /// Wraps an expression.
    pub fn new(expr: PromExpr) -> Self {
        ParsedQuery {
            canonical: expr.to_string(),
            expr: Arc::new(expr),
        }
    }
}

impl PartialEq for ParsedQuery {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for ParsedQuery {}

impl Hash for ParsedQuery {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl PartialOrd for ParsedQuery {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.canonical.cmp(&other.canonical))
    }
}

/// What a [`PromEval`] evaluates: the query, its times and the engine's
/// limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct EvalSpec {
    /// The query as written (annotations point into it).
    pub(crate) query: String,
    /// The query parsed (the promqltest harness pins `@` onto it, so it
    /// need not be `query` parsed).
    pub(crate) expr: ParsedQuery,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// 0 for an instant query.
    pub(crate) step_ms: i64,
    pub(crate) lookback_ms: i64,
    pub(crate) max_samples: usize,
    pub(crate) max_fetched_samples: usize,
    pub(crate) timeout_ms: u64,
    pub(crate) experimental_functions: bool,
}

impl EvalSpec {
    /// `expr` (written as `query`) over `[start_ms, end_ms]` every
    /// `step_ms` (0: an instant query at `start_ms`), with `options`.
    pub fn new(
        query: &str,
        expr: PromExpr,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        options: &sluice_promql::EngineOptions,
    ) -> Self {
        EvalSpec {
            query: query.to_string(),
            expr: ParsedQuery::new(expr),
            start_ms,
            end_ms,
            step_ms,
            lookback_ms: options.lookback_delta_ms,
            max_samples: options.max_samples,
            max_fetched_samples: options.max_fetched_samples,
            timeout_ms: options.timeout.as_millis() as u64,
            experimental_functions: options.experimental_functions,
        }
    }
}

impl fmt::Display for EvalSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "query={}", self.query)?;
        if self.step_ms == 0 {
            write!(f, ", at={}", rfc3339(self.start_ms))?;
        } else {
            write!(
                f,
                ", range=[{}, {}], step={}ms",
                rfc3339(self.start_ms),
                rfc3339(self.end_ms),
                self.step_ms
            )?;
        }
        write!(f, ", lookback={}ms", self.lookback_ms)
    }
}

/// Evaluates a PromQL query: its inputs are the query's leaves, then the
/// normalised raw reads, both in [`sluice_promql::Engine::plan_query`]'s
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromEval {
    pub(crate) inputs: Vec<LogicalPlan>,
    pub(crate) spec: EvalSpec,
    pub(crate) schema: DFSchemaRef,
}

impl PromEval {
    pub(crate) fn new(inputs: Vec<LogicalPlan>, spec: EvalSpec) -> DfResult<Self> {
        Ok(PromEval {
            inputs,
            spec,
            schema: Arc::new(DFSchema::try_from(result_schema())?),
        })
    }
}

impl PartialOrd for PromEval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.spec.partial_cmp(&other.spec) {
            Some(Ordering::Equal) => self.inputs.partial_cmp(&other.inputs),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for PromEval {
    fn name(&self) -> &str {
        "PromEval"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        self.inputs.iter().collect()
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PromEval: {}", self.spec)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(PromEval {
            inputs,
            spec: self.spec.clone(),
            schema: Arc::clone(&self.schema),
        })
    }
}
