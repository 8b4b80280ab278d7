//! `promql(query, time)` and `promql(query, start, end, step)`: a PromQL
//! query as a SQL table, so SQL can filter, join and aggregate PromQL
//! results.
//!
//! Times are RFC 3339 strings, Unix seconds or SQL timestamps; the step is
//! a Prometheus duration (`'1m'`) or seconds. The result has the columns of
//! [`super::nodes::result_schema`]. The table is a view over the query's
//! logical plan, so `EXPLAIN` shows the PromQL nodes and the scans with
//! their pushed-down filters.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, LogicalPlan, TableType, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use sluice_promql::{Engine, EngineOptions, MAX_POINTS_PER_SERIES};
use sluice_sink::segment::SAMPLES_TABLE;

use super::logical::promql_plan;
use super::nodes::EvalSpec;
use crate::api::params::{parse_duration_param, parse_time};
use crate::segments::table::SegmentTable;

/// The `promql` table function over the raw samples of one session.
#[derive(Debug)]
pub struct PromqlFunction {
    samples: Arc<SegmentTable>,
    options: EngineOptions,
}

impl PromqlFunction {
    /// The name Sluice registers it under.
    pub const NAME: &'static str = "promql";

    /// The argument lists it takes (as `spec` reads them), each argument
    /// by name and type: the query is a string; a time or step may be a
    /// string, a number or a timestamp, so it has no one type (None).
    pub const FORMS: [&'static [(&'static str, Option<DataType>)]; 2] = [
        &[("query", Some(DataType::Utf8)), ("time", None)],
        &[
            ("query", Some(DataType::Utf8)),
            ("start", None),
            ("end", None),
            ("step", None),
        ],
    ];

    /// Its rows depend on the segments, which stay put for a statement.
    pub const VOLATILITY: Volatility = Volatility::Stable;

    /// `promql()` over `samples`, evaluated with `options`.
    pub fn new(samples: Arc<SegmentTable>, options: EngineOptions) -> Self {
        PromqlFunction { samples, options }
    }

    fn spec(&self, args: &[Expr]) -> DfResult<EvalSpec> {
        const USAGE: &str = "promql(query, time) or promql(query, start, end, step)";
        let query = match args.first() {
            Some(Expr::Literal(
                ScalarValue::Utf8(Some(q)) | ScalarValue::LargeUtf8(Some(q)) | ScalarValue::Utf8View(Some(q)),
                _,
            )) => q.clone(),
            _ => return plan_err!("{USAGE}: the query must be a string literal"),
        };
        let (start_ms, end_ms, step_ms) = match args.len() {
            2 => {
                let t = time_arg(&args[1], "time")?;
                (t, t, 0)
            }
            4 => {
                let start = time_arg(&args[1], "start")?;
                let end = time_arg(&args[2], "end")?;
                let step = step_arg(&args[3])?;
                if end < start {
                    return plan_err!("promql(): end timestamp must not be before start time");
                }
                if step <= 0 {
                    return plan_err!(
                        "promql(): zero or negative query resolution step widths are not accepted"
                    );
                }
                if (end - start) / step > MAX_POINTS_PER_SERIES {
                    return plan_err!(
                        "promql(): exceeded maximum resolution of 11,000 points per timeseries"
                    );
                }
                (start, end, step)
            }
            n => return plan_err!("{USAGE}: got {n} arguments"),
        };
        let expr =
            sluice_promql::parse_expr(&query).map_err(|e| DataFusionError::Plan(format!("promql(): {e}")))?;
        Engine::new(self.options.clone())
            .check_enabled(&expr)
            .map_err(|e| DataFusionError::Plan(format!("promql(): {e}")))?;
        Ok(EvalSpec::new(
            &query,
            expr,
            (start_ms, end_ms, step_ms),
            &self.options,
        ))
    }
}

fn time_arg(e: &Expr, what: &str) -> DfResult<i64> {
    let ms = match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
                parse_time(s).map_err(|e| DataFusionError::Plan(format!("promql(): {what}: {e}")))?
            }
            ScalarValue::Int64(Some(s)) => s.saturating_mul(1000),
            ScalarValue::Float64(Some(s)) => (s * 1000.0).round() as i64,
            ScalarValue::TimestampSecond(Some(s), _) => s.saturating_mul(1000),
            ScalarValue::TimestampMillisecond(Some(ms), _) => *ms,
            ScalarValue::TimestampMicrosecond(Some(us), _) => us.div_euclid(1000),
            ScalarValue::TimestampNanosecond(Some(ns), _) => ns.div_euclid(1_000_000),
            other => return plan_err!("promql(): {what} must be a time, got {other:?}"),
        },
        other => return plan_err!("promql(): {what} must be a literal, got {other}"),
    };
    Ok(ms)
}

fn step_arg(e: &Expr) -> DfResult<i64> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
            _,
        ) => parse_duration_param(s).map_err(|e| DataFusionError::Plan(format!("promql(): step: {e}"))),
        Expr::Literal(ScalarValue::Int64(Some(s)), _) => Ok(s.saturating_mul(1000)),
        Expr::Literal(ScalarValue::Float64(Some(s)), _) => Ok((s * 1000.0).round() as i64),
        other => plan_err!("promql(): step must be a duration such as '1m' or seconds, got {other}"),
    }
}

impl TableFunctionImpl for PromqlFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let spec = self.spec(args.exprs())?;
        let engine = Engine::new(self.options.clone());
        let plan = promql_plan(SAMPLES_TABLE, &self.samples, &engine, spec)?;
        Ok(Arc::new(PromqlView { plan }))
    }
}

/// A PromQL query's plan as a view: DataFusion inlines it into the SQL plan.
#[derive(Debug)]
struct PromqlView {
    plan: LogicalPlan,
}

#[async_trait]
impl TableProvider for PromqlView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(self.plan.schema().inner())
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        Some(Cow::Borrowed(&self.plan))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Only reached when the view was not inlined; the result is small,
        // so DataFusion applies the projection and filters above it.
        state.create_physical_plan(&self.plan).await
    }
}
