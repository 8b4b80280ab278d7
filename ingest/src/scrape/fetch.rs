//! Fetching a target's exposition over HTTP, as Prometheus asks for it
//! (its `Accept` header and scrape-timeout header), with errors worded as
//! Prometheus shows them in `lastError`.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};

use crate::exposition::{self, Format};
use crate::http_client::ScrapeClient;
use crate::target::Target;

/// Fetches the body, honouring the timeout; returns the body and its format.
pub(super) async fn fetch(client: &ScrapeClient, target: &Target) -> Result<(Bytes, Format), String> {
    let resp = client
        .get(&target.url)?
        .header(ACCEPT, HeaderValue::from_static(exposition::ACCEPT_HEADER))
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        )
        .timeout(target.timeout)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("context deadline exceeded (timeout {:?})", target.timeout)
            } else {
                format!("Get \"{}\": {}", target.url, error_chain(&e))
            }
        })?;
    if !resp.status().is_success() {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let format = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(Format::from_content_type)
        .unwrap_or(Format::PrometheusText);
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading body: {}", error_chain(&e)))?;
    Ok((body, format))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
