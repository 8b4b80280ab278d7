//! Arrow columns as Postgres values.
//!
//! Each Arrow type maps to the Postgres type a client would expect for it
//! (`Utf8` → `text`, `Timestamp(_, Some(tz))` → `timestamptz`, ...). Before
//! encoding, a column is cast to the one Arrow type that holds its
//! Postgres type's values exactly (every string encoding to `Utf8`, every
//! timestamp unit to microseconds, Postgres' precision), so the encoder
//! knows a dozen arrays, not every Arrow type. Types Postgres has no
//! counterpart for (lists, structs, intervals, durations) are sent as
//! `text`, as Arrow prints them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use rust_decimal::Decimal;

use super::text;

/// The largest precision `rust_decimal` (Postgres `numeric` here) holds.
const MAX_NUMERIC_PRECISION: u8 = 28;

/// The Postgres type of an Arrow type, and the Arrow type its values are
/// cast to before encoding.
pub(crate) fn pg_type(dt: &DataType) -> (Type, DataType) {
    use DataType as D;
    match dt {
        D::Boolean => (Type::BOOL, D::Boolean),
        // Postgres has no one-byte integer (`"char"` is a character), and no
        // unsigned ones: each goes to the smallest type that holds it.
        D::Int8 | D::Int16 | D::UInt8 => (Type::INT2, D::Int16),
        D::Int32 | D::UInt16 => (Type::INT4, D::Int32),
        D::Int64 | D::UInt32 => (Type::INT8, D::Int64),
        D::UInt64 => (Type::NUMERIC, D::Decimal128(20, 0)),
        D::Float16 | D::Float32 => (Type::FLOAT4, D::Float32),
        D::Float64 => (Type::FLOAT8, D::Float64),
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) | D::Decimal256(p, s)
            if *p <= MAX_NUMERIC_PRECISION =>
        {
            (Type::NUMERIC, D::Decimal128(*p, *s))
        }
        D::Utf8 | D::LargeUtf8 | D::Utf8View => (Type::TEXT, D::Utf8),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => (Type::BYTEA, D::Binary),
        D::Timestamp(_, Some(tz)) => (
            Type::TIMESTAMPTZ,
            D::Timestamp(TimeUnit::Microsecond, Some(tz.clone())),
        ),
        D::Timestamp(_, None) => (Type::TIMESTAMP, D::Timestamp(TimeUnit::Microsecond, None)),
        D::Date32 | D::Date64 => (Type::DATE, D::Date32),
        D::Time32(_) | D::Time64(_) => (Type::TIME, D::Time64(TimeUnit::Microsecond)),
        D::Dictionary(_, values) => pg_type(values),
        _ => (Type::TEXT, D::Utf8),
    }
}

/// The row description of `fields`, each column in `format(i)`.
pub(crate) fn field_infos(fields: &[Arc<Field>], format: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| FieldInfo::new(f.name().clone(), None, None, pg_type(f.data_type()).0, format(i)))
        .collect()
}

/// `column` as the Arrow type [`pg_type`] picks for it.
fn normalize(column: &ArrayRef) -> PgWireResult<ArrayRef> {
    let (_, target) = pg_type(column.data_type());
    if column.data_type() == &target {
        return Ok(column.clone());
    }
    // Strict: a value that does not fit fails the query instead of becoming
    // NULL (none should: every target holds its sources' values).
    let opts = CastOptions {
        safe: false,
        ..Default::default()
    };
    match cast_with_options(column, &target, &opts) {
        Ok(a) => Ok(a),
        // Types arrow cannot cast to strings still print.
        Err(_) if target == DataType::Utf8 => display_strings(column),
        Err(e) => Err(encode_error(format!(
            "cannot send a {} column as Postgres {}: {e}",
            column.data_type(),
            pg_type(column.data_type()).0
        ))),
    }
}

/// Each value as Arrow prints it; NULL stays NULL.
fn display_strings(column: &ArrayRef) -> PgWireResult<ArrayRef> {
    let fmt = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
        .map_err(|e| encode_error(e.to_string()))?;
    let values: arrow::array::StringArray = (0..column.len())
        .map(|i| column.is_valid(i).then(|| fmt.value(i).to_string()))
        .collect();
    Ok(Arc::new(values))
}

fn encode_error(message: String) -> PgWireError {
    PgWireError::ApiError(message.into())
}

/// The rows of `batch`, encoded as `fields` (from [`field_infos`] over the
/// batch's schema) say: text or binary per column.
pub(crate) fn encode_rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .map(normalize)
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut rows = Vec::with_capacity(batch.num_rows());
    let text: Vec<bool> = fields.iter().map(|f| f.format() == FieldFormat::Text).collect();
    for row in 0..batch.num_rows() {
        for (column, text) in columns.iter().zip(&text) {
            encode_value(&mut encoder, column.as_ref(), row, *text)?;
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// One value of a normalized column, in text format if `text`.
fn encode_value(enc: &mut DataRowEncoder, a: &dyn Array, row: usize, text: bool) -> PgWireResult<()> {
    if a.is_null(row) {
        return enc.encode_field(&None::<i8>);
    }
    match a.data_type() {
        DataType::Boolean => enc.encode_field(&a.as_boolean().value(row)),
        DataType::Int16 => enc.encode_field(&a.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => enc.encode_field(&a.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => enc.encode_field(&a.as_primitive::<Int64Type>().value(row)),
        // Text as Postgres prints floats, not as pgwire (ryu: `90.0`) does.
        DataType::Float32 if text => {
            enc.encode_field(&text::float4(a.as_primitive::<Float32Type>().value(row)))
        }
        DataType::Float64 if text => {
            enc.encode_field(&text::float8(a.as_primitive::<Float64Type>().value(row)))
        }
        DataType::Float32 => enc.encode_field(&a.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => enc.encode_field(&a.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => enc.encode_field(&a.as_string::<i32>().value(row)),
        DataType::Binary => enc.encode_field(&a.as_binary::<i32>().value(row)),
        DataType::Decimal128(_, scale) => {
            let v = a.as_primitive::<Decimal128Type>().value(row);
            let d = u32::try_from(*scale)
                .ok()
                .and_then(|s| Decimal::try_from_i128_with_scale(v, s).ok())
                .ok_or_else(|| encode_error(format!("numeric {v}e-{scale} does not fit 28 digits")))?;
            enc.encode_field(&d)
        }
        DataType::Timestamp(_, tz) if text => {
            let us = a.as_primitive::<TimestampMicrosecondType>().value(row);
            let t = text::timestamp(us, tz.is_some())
                .ok_or_else(|| encode_error(format!("timestamp {us}us is out of range")))?;
            enc.encode_field(&t)
        }
        DataType::Timestamp(_, tz) => {
            let us = a.as_primitive::<TimestampMicrosecondType>().value(row);
            let t = DateTime::<Utc>::from_timestamp_micros(us)
                .ok_or_else(|| encode_error(format!("timestamp {us}us is out of range")))?;
            // A zone-aware timestamp is an instant (`timestamptz`, shown in
            // the session's TimeZone, UTC); a naive one is wall-clock time.
            match tz {
                Some(_) => enc.encode_field(&t),
                None => enc.encode_field(&t.naive_utc()),
            }
        }
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(row);
            let d = NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|e| e.checked_add_signed(chrono::Duration::days(days.into())))
                .ok_or_else(|| encode_error(format!("date {days} days after 1970-01-01 is out of range")))?;
            enc.encode_field(&d)
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let us = a.as_primitive::<Time64MicrosecondType>().value(row);
            let t = NaiveTime::from_num_seconds_from_midnight_opt(
                u32::try_from(us.div_euclid(1_000_000)).unwrap_or(u32::MAX),
                u32::try_from(us.rem_euclid(1_000_000) * 1000).unwrap_or(0),
            )
            .ok_or_else(|| encode_error(format!("time {us}us is out of range")))?;
            enc.encode_field(&t)
        }
        other => Err(encode_error(format!("no Postgres encoding for {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        BooleanArray, DictionaryArray, Float64Array, Int8Array, StringArray, StringViewArray,
        TimestampMillisecondArray, TimestampNanosecondArray, UInt64Array,
    };
    use arrow::datatypes::{Int32Type as Keys, Schema};

    use super::*;

    fn text_rows(batch: &RecordBatch) -> (Vec<Type>, Vec<Vec<Option<String>>>) {
        let fields = Arc::new(field_infos(batch.schema().fields(), |_| FieldFormat::Text));
        let types = fields.iter().map(|f| f.datatype().clone()).collect();
        let rows = encode_rows(batch, &fields).unwrap();
        let decoded = rows.iter().map(|r| decode_text(r, batch.num_columns())).collect();
        (types, decoded)
    }

    /// A DataRow's fields: each an i32 length (-1 for NULL) and the bytes.
    fn decode_text(row: &DataRow, n: usize) -> Vec<Option<String>> {
        let mut buf = &row.data[..];
        let mut out = Vec::new();
        for _ in 0..n {
            let len = i32::from_be_bytes(buf[..4].try_into().unwrap());
            buf = &buf[4..];
            if len < 0 {
                out.push(None);
            } else {
                let len = len as usize;
                out.push(Some(String::from_utf8(buf[..len].to_vec()).unwrap()));
                buf = &buf[len..];
            }
        }
        out
    }

    #[test]
    fn sample_table_types_map_to_their_postgres_types() {
        let cases = [
            (DataType::Utf8, Type::TEXT),
            (DataType::Utf8View, Type::TEXT),
            (DataType::LargeUtf8, Type::TEXT),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                Type::TEXT,
            ),
            (DataType::Int8, Type::INT2),
            (DataType::UInt16, Type::INT4),
            (DataType::UInt32, Type::INT8),
            (DataType::UInt64, Type::NUMERIC),
            (DataType::Float64, Type::FLOAT8),
            (DataType::Boolean, Type::BOOL),
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                Type::TIMESTAMPTZ,
            ),
            (DataType::Timestamp(TimeUnit::Nanosecond, None), Type::TIMESTAMP),
            (DataType::Date64, Type::DATE),
            (DataType::Decimal128(38, 2), Type::TEXT),
            (DataType::Decimal128(10, 2), Type::NUMERIC),
            (DataType::Null, Type::TEXT),
        ];
        for (arrow, pg) in cases {
            assert_eq!(pg_type(&arrow).0, pg, "{arrow}");
        }
    }

    #[test]
    fn values_print_as_postgres_prints_them() {
        let dict: DictionaryArray<Keys> = vec![Some("up"), None, Some("up")].into_iter().collect();
        let schema = Schema::new(vec![
            Field::new("name", DataType::Utf8View, true),
            Field::new("job", dict.data_type().clone(), true),
            Field::new("value", DataType::Float64, true),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("naive", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            Field::new("small", DataType::Int8, false),
            Field::new("big", DataType::UInt64, false),
            Field::new("ok", DataType::Boolean, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringViewArray::from(vec![Some("a"), Some("b"), None])),
                Arc::new(dict),
                Arc::new(Float64Array::from(vec![Some(1.5), Some(-0.25), None])),
                Arc::new(
                    TimestampMillisecondArray::from(vec![1_699_920_000_000, 1_699_920_000_123, 0])
                        .with_timezone("UTC"),
                ),
                Arc::new(TimestampNanosecondArray::from(vec![
                    1_699_920_000_000_000_001,
                    0,
                    0,
                ])),
                Arc::new(Int8Array::from(vec![-128, 0, 127])),
                Arc::new(UInt64Array::from(vec![u64::MAX, 0, 1])),
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            ],
        )
        .unwrap();
        let (types, rows) = text_rows(&batch);
        assert_eq!(
            types,
            [
                Type::TEXT,
                Type::TEXT,
                Type::FLOAT8,
                Type::TIMESTAMPTZ,
                Type::TIMESTAMP,
                Type::INT2,
                Type::NUMERIC,
                Type::BOOL
            ]
        );
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            rows[0],
            [
                s("a"),
                s("up"),
                s("1.5"),
                s("2023-11-14 00:00:00+00"),
                s("2023-11-14 00:00:00"),
                s("-128"),
                s("18446744073709551615"),
                s("t")
            ]
        );
        assert_eq!(rows[1][3], s("2023-11-14 00:00:00.123+00"));
        assert_eq!(rows[1][2], s("-0.25"));
        assert_eq!(rows[1][7], s("f"));
        // NULLs stay NULL whatever the type.
        assert_eq!(rows[2][0], None);
        assert_eq!(rows[1][1], None);
        assert_eq!(rows[2][2], None);
        assert_eq!(rows[2][7], None);
    }

    #[test]
    fn binary_format_is_postgres_binary() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("s", DataType::Utf8, false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(arrow::array::Int64Array::from(vec![42])),
                // 2000-01-01T00:00:01Z: Postgres counts microseconds from 2000.
                Arc::new(TimestampMillisecondArray::from(vec![946_684_801_000]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let fields = Arc::new(field_infos(batch.schema().fields(), |_| FieldFormat::Binary));
        let rows = encode_rows(&batch, &fields).unwrap();
        let mut want = Vec::new();
        want.extend(8i32.to_be_bytes());
        want.extend(42i64.to_be_bytes());
        want.extend(8i32.to_be_bytes());
        want.extend(1_000_000i64.to_be_bytes());
        want.extend(1i32.to_be_bytes());
        want.extend(b"x");
        assert_eq!(&rows[0].data[..], &want[..]);
    }

    #[test]
    fn types_without_a_postgres_counterpart_are_sent_as_text() {
        let list = arrow::array::ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        let schema = Schema::new(vec![Field::new("l", list.data_type().clone(), true)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(list)]).unwrap();
        let (types, rows) = text_rows(&batch);
        assert_eq!(types, [Type::TEXT]);
        assert_eq!(rows[0][0].as_deref(), Some("[1, 2]"));
        assert_eq!(rows[1][0], None);
    }
}
