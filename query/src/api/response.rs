//! Prometheus' JSON envelope and value encoding.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Number, Value as Json_, json};
use sluice_model::Labels;
use sluice_promql::Value;

/// An API error in Prometheus' shape: `{"status":"error","errorType":..,"error":..}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `bad_data`, `execution`, `timeout`, `internal`, `not_found`, ...
    pub error_type: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// A 400 `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// A 500 `internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error_type: "internal",
            message: message.into(),
        }
    }
}

impl From<sluice_promql::QueryError> for ApiError {
    fn from(e: sluice_promql::QueryError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error_type: e.error_type(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.error_type, "error": self.message});
        (self.status, Json(body)).into_response()
    }
}

/// `{"status":"success","data":data}` plus annotations when present.
pub fn success(data: Json_, warnings: &[String], infos: &[String]) -> Response {
    let mut m = Map::new();
    m.insert("status".into(), "success".into());
    m.insert("data".into(), data);
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    if !infos.is_empty() {
        m.insert("infos".into(), json!(infos));
    }
    Json(Json_::Object(m)).into_response()
}

/// [`success`] of [`value_json`]`(value)`, byte for byte, written straight
/// into the body: a range query's result can be 10^5 points, and building a
/// `serde_json::Value` per point (a `Vec`, a `String`, a map per series),
/// then serialising and freeing it, took ~40 % of such a query's CPU.
pub fn success_value(
    value: &Value,
    warnings: &[String],
    infos: &[String],
    stats: Option<&serde_json::Value>,
) -> Response {
    let mut out = Vec::with_capacity(64 + value_size_hint(value));
    out.extend_from_slice(br#"{"data":"#);
    write_value(&mut out, value);
    if let Some(stats) = stats {
        // Inside `data`, after `resultType`, as Prometheus writes it.
        out.pop();
        out.extend_from_slice(br#","stats":"#);
        write_json(&mut out, stats);
        out.push(b'}');
    }
    // Keys in the order serde_json's (sorted) map writes them.
    if !infos.is_empty() {
        out.extend_from_slice(br#","infos":"#);
        write_json(&mut out, infos);
    }
    out.extend_from_slice(br#","status":"success""#);
    if !warnings.is_empty() {
        out.extend_from_slice(br#","warnings":"#);
        write_json(&mut out, warnings);
    }
    out.push(b'}');
    let mut resp = out.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// About how many bytes a value's JSON takes (~32 per point).
fn value_size_hint(v: &Value) -> usize {
    match v {
        Value::Vector(s) => s.len() * 200,
        Value::Matrix(s) => s.iter().map(|s| 200 + s.samples.len() * 32).sum(),
        _ => 64,
    }
}

/// Anything serde can write, as JSON (strings escaped as serde_json does).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing strings, numbers and string lists into a Vec cannot fail.
    let _ = serde_json::to_writer(out, v);
}

/// `{"result": .., "resultType": ..}` as [`value_json`] writes it.
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Scalar { timestamp_ms, value } => {
            out.extend_from_slice(br#"{"result":"#);
            write_point(out, *timestamp_ms, *value);
            out.extend_from_slice(br#","resultType":"scalar"}"#);
        }
        Value::String { timestamp_ms, value } => {
            out.extend_from_slice(br#"{"result":["#);
            write_timestamp(out, *timestamp_ms);
            out.push(b',');
            write_json(out, value);
            out.extend_from_slice(br#"],"resultType":"string"}"#);
        }
        Value::Vector(samples) => {
            out.extend_from_slice(br#"{"result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(out, &s.labels);
                out.extend_from_slice(br#","value":"#);
                write_point(out, s.timestamp_ms, s.value);
                out.push(b'}');
            }
            out.extend_from_slice(br#"],"resultType":"vector"}"#);
        }
        Value::Matrix(series) => {
            out.extend_from_slice(br#"{"result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(out, &s.labels);
                out.extend_from_slice(br#","values":["#);
                for (j, p) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_point(out, p.timestamp_ms, p.value);
                }
                out.extend_from_slice(b"]}");
            }
            out.extend_from_slice(br#"],"resultType":"matrix"}"#);
        }
    }
}

/// `[<seconds>,"<value>"]`
fn write_point(out: &mut Vec<u8>, ms: i64, v: f64) {
    out.push(b'[');
    write_timestamp(out, ms);
    out.extend_from_slice(b",\"");
    // The text of format_value never needs escaping (digits, '.', '-',
    // NaN, +Inf, -Inf); finite values as format_value prints them.
    if v.is_finite() {
        sluice_model::float_text::write_go_decimal(out, v);
    } else {
        out.extend_from_slice(format_value(v).as_bytes());
    }
    out.extend_from_slice(b"\"]");
}

fn write_timestamp(out: &mut Vec<u8>, ms: i64) {
    if ms % 1000 == 0 {
        // serde_json writes integers without the `fmt` machinery.
        write_json(out, &(ms / 1000));
    } else {
        write_json(out, &timestamp(ms));
    }
}

/// A label set as a JSON object ([`Labels`] are sorted by name and unique:
/// the order serde_json's map writes).
fn write_labels(out: &mut Vec<u8>, l: &Labels) {
    out.push(b'{');
    for (i, l) in l.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(out, &l.name);
        out.push(b':');
        write_json(out, &l.value);
    }
    out.push(b'}');
}

/// Seconds as Prometheus prints them: integral when whole, else with the
/// millisecond fraction.
pub fn timestamp(ms: i64) -> Json_ {
    if ms % 1000 == 0 {
        Json_::Number(Number::from(ms / 1000))
    } else {
        Number::from_f64(ms as f64 / 1000.0).map_or(Json_::Null, Json_::Number)
    }
}

/// A sample value as a string, formatted like Go's `FormatFloat(v, 'f', -1)`.
pub fn sample_value(v: f64) -> Json_ {
    Json_::String(format_value(v))
}

/// The string form of a float in Prometheus responses.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        let mut out = Vec::with_capacity(24);
        sluice_model::float_text::write_go_decimal(&mut out, v);
        // Digits, '-' and '.' only.
        String::from_utf8(out).expect("ASCII")
    }
}

/// A label set as a JSON object.
pub fn labels_json(l: &Labels) -> Json_ {
    Json_::Object(
        l.iter()
            .map(|l| (l.name.clone(), Json_::String(l.value.clone())))
            .collect(),
    )
}

/// `{"resultType": .., "result": ..}`
pub fn value_json(v: &Value) -> Json_ {
    match v {
        Value::Scalar { timestamp_ms, value } => {
            json!({"resultType": "scalar", "result": [timestamp(*timestamp_ms), sample_value(*value)]})
        }
        Value::String { timestamp_ms, value } => {
            json!({"resultType": "string", "result": [timestamp(*timestamp_ms), value]})
        }
        Value::Vector(samples) => {
            let result: Vec<Json_> = samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": [timestamp(s.timestamp_ms), sample_value(s.value)]}))
                .collect();
            json!({"resultType": "vector", "result": result})
        }
        Value::Matrix(series) => {
            let result: Vec<Json_> = series
                .iter()
                .map(|s| {
                    let values: Vec<Json_> = s
                        .samples
                        .iter()
                        .map(|p| json!([timestamp(p.timestamp_ms), sample_value(p.value)]))
                        .collect();
                    json!({"metric": labels_json(&s.labels), "values": values})
                })
                .collect();
            json!({"resultType": "matrix", "result": result})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_timestamps_format_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(timestamp(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(timestamp(1_435_781_451_000).to_string(), "1435781451");
    }

    async fn body(r: Response) -> String {
        let b = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    /// The direct writer and the `serde_json::Value` route give the same bytes.
    #[tokio::test]
    async fn success_value_matches_the_json_value_route() {
        use sluice_model::Sample;
        use sluice_promql::{InstantSample, RangeSeries};
        let labels = Labels::new([
            ("__name__", "up"),
            ("job", "a\"b\\c\n\u{e9}\u{1}"),
            ("instance", "x:1"),
        ]);
        let values = [
            1.0,
            0.1,
            -2.5e-7,
            1e21,
            123456.789,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
        ];
        let cases = vec![
            Value::Scalar {
                timestamp_ms: 1_500,
                value: 0.25,
            },
            Value::String {
                timestamp_ms: 2_000,
                value: "a\"\u{1}".into(),
            },
            Value::Vector(vec![]),
            Value::Vector(
                values
                    .iter()
                    .map(|&value| InstantSample {
                        labels: labels.clone(),
                        timestamp_ms: 1_435_781_451_781,
                        value,
                    })
                    .collect(),
            ),
            Value::Matrix(vec![]),
            Value::Matrix(vec![
                RangeSeries {
                    labels: labels.clone(),
                    samples: (0..)
                        .zip(values)
                        .map(|(i, v)| Sample::new(i * 15_001 - 7, v))
                        .collect(),
                },
                RangeSeries {
                    labels: Labels::default(),
                    samples: vec![],
                },
            ]),
        ];
        let notes = [vec![], vec!["w \"1\"".to_string(), "w2".to_string()]];
        for v in &cases {
            for warnings in &notes {
                for infos in &notes {
                    let want = body(success(value_json(v), warnings, infos)).await;
                    let got = success_value(v, warnings, infos, None);
                    assert_eq!(got.headers()[header::CONTENT_TYPE], "application/json");
                    assert_eq!(body(got).await, want);
                }
            }
        }
    }
}
