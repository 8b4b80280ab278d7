//! Request parameters the way Prometheus reads them: URL query and form
//! body merged (so GET and form POST behave alike), repeated keys kept
//! (`match[]`), times as RFC 3339 or Unix seconds, durations as Prometheus
//! durations or float seconds.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, header::CONTENT_TYPE};
use chrono::DateTime;
use sluice_model::parse_duration;

/// All parameters of one request (plus its headers and raw body, for
/// endpoints that also accept a non-form body).
#[derive(Debug, Default, Clone)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Params {
    /// Merges the query string and, for a form POST, the body.
    pub(super) fn from_request(
        method: &Method,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut v: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if *method == Method::POST && is_form {
            v.extend(form_urlencoded::parse(body).into_owned());
        }
        Params {
            pairs: v,
            ..Params::default()
        }
    }

    /// First value of `key` (form values come after query values).
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, e.g. `match[]`.
    pub(super) fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Handlers take `Params` directly: it reads the URL query and, for a form
/// POST, the body.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = super::response::ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let query = req.uri().query().map(str::to_string);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| super::response::ApiError::bad_data(format!("reading request body: {e}")))?;
        let mut p = Params::from_request(&method, query.as_deref(), &headers, &body);
        p.headers = headers;
        p.body = body;
        Ok(p)
    }
}

/// Prometheus' smallest and largest representable times, used as defaults.
pub(super) const MIN_TIME_MS: i64 = -9_223_372_036_854_775 / 1000 * 1000;
/// See [`MIN_TIME_MS`].
pub(super) const MAX_TIME_MS: i64 = 9_223_372_036_854_775 / 1000 * 1000;

/// Parses a time parameter: Unix seconds (float) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        return Ok((f * 1000.0).round() as i64);
    }
    // Go's special min/max time strings, which clients such as Grafana send.
    match s {
        "0001-01-01T00:00:00Z" | "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME_MS),
        "9999-12-31T23:59:59Z" | "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME_MS),
        _ => {}
    }
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration parameter: float seconds or a Prometheus duration.
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || f * 1000.0 > i64::MAX as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok((f * 1000.0).round() as i64);
    }
    parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z").unwrap(), 1_435_781_451_781);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration_param("15s").unwrap(), 15_000);
        assert_eq!(parse_duration_param("0.5").unwrap(), 500);
    }

    #[test]
    fn repeated_keys_and_form_body() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
        let p = Params::from_request(&Method::POST, Some("match[]=a"), &h, b"match[]=b&query=up");
        assert_eq!(p.all("match[]"), vec!["a", "b"]);
        assert_eq!(p.get("query"), Some("up"));
    }
}
