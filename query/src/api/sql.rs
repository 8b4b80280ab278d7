//! `GET|POST /api/v1/sql?query=...`: SQL over the segments as JSON rows.

use axum::extract::State;
use axum::http::{StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::params::Params;
use super::response::{ApiError, success};
use crate::QueryLayerError;

/// Runs `query` (form/URL parameter, or a `text/plain`/`application/sql`
/// body). `format=text` returns an ASCII table instead of JSON. The
/// annotations of `promql()` calls are the JSON response's `warnings` and
/// `infos`, as on the PromQL endpoints.
pub(super) async fn sql(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let is_plain_body = p
        .headers
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain") || ct.starts_with("application/sql"));
    let stmt = match p.get("query") {
        Some(s) if !s.is_empty() => s.to_string(),
        _ if is_plain_body => String::from_utf8_lossy(&p.body).into_owned(),
        _ => return Err(ApiError::bad_data("invalid parameter \"query\": missing")),
    };
    let admitted = st.queue.admit().await?;
    let sql = st.sql.clone();
    let (batches, notes) = admitted
        .run(async move { sql.query_annotated(&stmt).await })
        .await?
        .map_err(|e| match e {
            QueryLayerError::BadQuery(m) => ApiError::bad_data(m),
            QueryLayerError::Execution(m) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error_type: "execution",
                message: m,
            },
            other => ApiError::internal(other.to_string()),
        })?;
    if p.get("format") == Some("text") {
        let table = arrow::util::pretty::pretty_format_batches(&batches)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok((StatusCode::OK, format!("{table}\n")).into_response());
    }
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&arrow::array::RecordBatch> = batches.iter().collect();
    w.write_batches(&refs)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    w.finish().map_err(|e| ApiError::internal(e.to_string()))?;
    let buf = w.into_inner();
    let rows: serde_json::Value = if buf.is_empty() {
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::from_slice(&buf).map_err(|e| ApiError::internal(e.to_string()))?
    };
    Ok(success(rows, &notes.warnings, &notes.infos))
}
