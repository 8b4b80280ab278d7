//! Helpers shared by the per-series nodes (`PromInstantManipulate`,
//! `PromRangeManipulate`, `PromRangeFunction`): the series runs of a
//! normalised read, output schemas that keep a read's label columns, and
//! durations for EXPLAIN.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{Field, FieldRef, Float64Type, Schema, TimestampMillisecondType, UInt64Type};
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result as DfResult};
use sluice_model::Sample;
use sluice_promql::LeafSteps;
use sluice_sink::segment::{COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};

use super::nodes::rfc3339;

/// The rows of one series in a batch sorted by series id, then time.
pub(crate) struct SeriesRun {
    pub(crate) rows: Range<usize>,
    pub(crate) samples: Vec<Sample>,
}

/// The series of a normalised read (sorted by series id, then time).
pub(crate) fn series_runs(batch: &RecordBatch) -> DfResult<Vec<SeriesRun>> {
    let ids = column(batch, COL_SERIES_ID)?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| internal("series id column of an unexpected type"))?
        .values();
    let ts = column(batch, COL_TIMESTAMP)?
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| internal("timestamp column of an unexpected type"))?
        .values();
    let vals = column(batch, COL_VALUE)?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| internal("value column of an unexpected type"))?
        .values();
    let mut out = Vec::new();
    let mut row = 0;
    while row < ids.len() {
        let id = ids[row];
        let end = row + ids[row..].iter().take_while(|&&x| x == id).count();
        let samples = ts[row..end]
            .iter()
            .zip(&vals[row..end])
            .map(|(&t, &v)| Sample::new(t, v))
            .collect();
        out.push(SeriesRun {
            rows: row..end,
            samples,
        });
        row = end;
    }
    Ok(out)
}

pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str) -> DfResult<&'a ArrayRef> {
    Ok(batch.column(batch.schema().index_of(name)?))
}

pub(crate) fn internal(msg: &str) -> DataFusionError {
    DataFusionError::Internal(msg.to_string())
}

/// How many leading columns identify a series: `__name__`, the labels and
/// the series id.
pub(crate) fn series_columns(schema: &Schema) -> DfResult<usize> {
    Ok(schema.index_of(COL_SERIES_ID)? + 1)
}

/// The series columns of `batch` at `rows` (one output row each).
pub(crate) fn take_series(batch: &RecordBatch, rows: &[u32]) -> DfResult<Vec<ArrayRef>> {
    let n = series_columns(&batch.schema())?;
    let idx = UInt32Array::from(rows.to_vec());
    (0..n)
        .map(|c| Ok(take(batch.column(c).as_ref(), &idx, None)?))
        .collect()
}

/// `input`'s series columns (qualified as in `input`) followed by `extra`.
pub(crate) fn series_schema(input: &DFSchemaRef, extra: Vec<Field>) -> DfResult<DFSchemaRef> {
    let n = series_columns(input.as_arrow())?;
    let mut fields: Vec<(Option<datafusion::common::TableReference>, FieldRef)> = input
        .iter()
        .take(n)
        .map(|(q, f)| (q.cloned(), Arc::clone(f)))
        .collect();
    fields.extend(extra.into_iter().map(|f| (None, Arc::new(f))));
    Ok(Arc::new(DFSchema::new_with_metadata(fields, HashMap::new())?))
}

/// `5m`, `1h30m`, `1500ms`: a duration as PromQL writes it.
pub(crate) fn duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let mut rest = ms.unsigned_abs();
    let mut out = String::from(sign);
    for (unit, len) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}

/// The steps of a leaf for EXPLAIN: `at=t` or `steps=[t0, t1] every 30s`,
/// then any `offset` and `@`.
pub(crate) fn describe_steps(s: &LeafSteps) -> String {
    let mut out = if s.start_ms == s.end_ms {
        format!("at={}", rfc3339(s.start_ms))
    } else {
        format!(
            "steps=[{}, {}] every {}",
            rfc3339(s.start_ms),
            rfc3339(s.end_ms),
            duration(s.step_ms)
        )
    };
    if s.offset_ms != 0 {
        out.push_str(&format!(", offset={}", duration(s.offset_ms)));
    }
    if let Some(at) = s.at_ms {
        out.push_str(&format!(", @={}", rfc3339(at)));
    }
    out
}
