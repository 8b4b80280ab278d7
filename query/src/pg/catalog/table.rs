//! A catalog table: a fixed column list and the rows computed for one
//! statement.
//!
//! The table hands DataFusion its rows as a `VALUES` plan
//! ([`TableProvider::get_logical_plan`]), which the SQL planner inlines.
//! That is not only shorter than a scan: psql's `\d` queries use
//! correlated scalar subqueries without an aggregate (`(SELECT
//! pg_get_expr(d.adbin, ...) FROM pg_attrdef d WHERE d.adrelid =
//! a.attrelid ...)`), which DataFusion plans only when it can prove the
//! subquery yields at most one row, and it can for a `VALUES` list of
//! known length (an empty table is an empty relation), not for a scan.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{EmptyRelation, Expr, LogicalPlan, Values, lit};
use datafusion::physical_plan::ExecutionPlan;

/// A catalog column's Postgres type, as an Arrow type the wire protocol
/// maps back to the nearest Postgres type (`oid` goes out as `int8`, as
/// every `UInt32`; `name` and `"char"` as `text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Oid,
    Text,
    Bool,
    Int2,
    Int4,
    Float4,
    TextArray,
    OidArray,
    Int2Array,
}

impl Ty {
    pub(crate) fn arrow(self) -> DataType {
        match self {
            Ty::Oid => DataType::UInt32,
            Ty::Text => DataType::Utf8,
            Ty::Bool => DataType::Boolean,
            Ty::Int2 => DataType::Int16,
            Ty::Int4 => DataType::Int32,
            Ty::Float4 => DataType::Float32,
            Ty::TextArray => DataType::new_list(DataType::Utf8, true),
            Ty::OidArray => DataType::new_list(DataType::UInt32, true),
            Ty::Int2Array => DataType::new_list(DataType::Int16, true),
        }
    }
}

/// A catalog table's columns.
pub(crate) type Columns = &'static [(&'static str, Ty)];

/// The Arrow schema of `columns` (all nullable, as Postgres' catalog
/// columns hold NULLs where a value does not apply).
pub(crate) fn schema_of(columns: Columns) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, ty)| Field::new(*name, ty.arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

/// One row's values, in column order.
pub(crate) type Row = Vec<ScalarValue>;

/// The values of row cells.
pub(crate) fn oid(v: u32) -> ScalarValue {
    ScalarValue::UInt32(Some(v))
}
pub(crate) fn text(v: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}
pub(crate) fn boolean(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}
pub(crate) fn int2(v: i16) -> ScalarValue {
    ScalarValue::Int16(Some(v))
}
pub(crate) fn int4(v: i32) -> ScalarValue {
    ScalarValue::Int32(Some(v))
}
pub(crate) fn float4(v: f32) -> ScalarValue {
    ScalarValue::Float32(Some(v))
}
/// An array of oids (`oidvector`, `oid[]`).
pub(crate) fn oid_array(v: Vec<u32>) -> ScalarValue {
    let values: Vec<ScalarValue> = v.into_iter().map(oid).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::UInt32))
}
/// An array of strings (`text[]`, `name[]`, `"char"[]`).
pub(crate) fn text_array(v: Vec<String>) -> ScalarValue {
    let values: Vec<ScalarValue> = v.into_iter().map(text).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Utf8))
}
/// NULL of `ty`.
pub(crate) fn null(ty: Ty) -> DfResult<ScalarValue> {
    ScalarValue::try_from(ty.arrow())
}

/// A catalog table's rows for one statement.
#[derive(Debug)]
pub(crate) struct CatalogTable {
    schema: SchemaRef,
    batch: RecordBatch,
    plan: LogicalPlan,
}

impl CatalogTable {
    /// `rows` under `columns`; a row of the wrong width or types fails.
    pub(crate) fn new(columns: Columns, rows: Vec<Row>) -> DfResult<Self> {
        let schema = schema_of(columns);
        let arrays = (0..columns.len())
            .map(|i| match rows.is_empty() {
                true => Ok(arrow::array::new_empty_array(schema.field(i).data_type())),
                false => ScalarValue::iter_to_array(rows.iter().map(|r| r[i].clone())),
            })
            .collect::<DfResult<Vec<_>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let df_schema = Arc::new(DFSchema::try_from(schema.clone())?);
        let plan = if rows.is_empty() {
            LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: df_schema,
            })
        } else {
            LogicalPlan::Values(Values {
                schema: df_schema,
                values: rows
                    .into_iter()
                    .map(|r| r.into_iter().map(lit).collect::<Vec<Expr>>())
                    .collect(),
            })
        };
        Ok(CatalogTable { schema, batch, plan })
    }
}

#[async_trait]
impl TableProvider for CatalogTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        Some(Cow::Borrowed(&self.plan))
    }

    /// Only reached when a plan was built without inlining the rows.
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let exec = MemorySourceConfig::try_new_exec(
            &[vec![self.batch.clone()]],
            self.schema.clone(),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}
