//! Prometheus' JSON envelope and value encoding.

use axum::Json;
use axum::http::StatusCode;
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
        // Rust's Display is the shortest round-trip form without exponent,
        // as Go's 'f', -1.
        format!("{v}")
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
}
