//! The expression browser: one HTML page, a script and a stylesheet
//! (`query/src/ui/`), compiled into the binary and served by the query role.
//! No build step and nothing fetched from elsewhere: the page talks only to
//! this server's Prometheus API, through relative URLs.
//!
//! The page is served at `/`, at Prometheus' `/graph` (and `/query`, its 3.x
//! name), so `generatorURL` links of alerts (`/graph?g0.expr=...&g0.tab=1`)
//! open their expression, and at `/alerts` and `/targets`.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const STYLE_CSS: &str = include_str!("../ui/style.css");

/// Served with every asset: they change with the binary, so revalidate.
const NO_CACHE: &str = "no-cache";

async fn index() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, NO_CACHE),
        ],
        INDEX_HTML,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, NO_CACHE),
        ],
        APP_JS,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, NO_CACHE),
        ],
        STYLE_CSS,
    )
}

/// The browser's routes (state-free, merged into the API router).
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/graph", get(index))
        .route("/query", get(index))
        .route("/alerts", get(index))
        .route("/targets", get(index))
        .route("/ui/app.js", get(script))
        .route("/ui/style.css", get(stylesheet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets() {
        // Every src/href of the page is relative: no CDN, and the page works
        // behind a path prefix.
        for attr in ["src=\"", "href=\""] {
            for part in INDEX_HTML.split(attr).skip(1) {
                let url = part.split('"').next().unwrap_or_default();
                assert!(
                    !url.contains("//") && !url.starts_with('/'),
                    "{attr}{url} is not a relative URL"
                );
            }
        }
        let js = APP_JS.replace("\"http://www.w3.org/2000/svg\"", "SVG_NS");
        assert!(
            !js.contains("http://") && !js.contains("https://"),
            "absolute URL in app.js"
        );
        assert!(!STYLE_CSS.contains("url("));
    }
}
