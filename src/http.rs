//! The web side: `/metrics`, the landing page, health, readiness and the
//! lifecycle endpoints. Handlers are thin; the work is in `App`.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::app::App;
use crate::exposition::Format;

pub fn router(app: Arc<App>) -> Router {
    let metrics_path = app.settings.telemetry_path.clone();
    Router::new()
        .route(&metrics_path, get(metrics))
        .route("/", get(landing))
        .route("/cardinality", get(cardinality_html))
        .route("/cardinality.json", get(cardinality_json))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", any(reload))
        .route("/-/quit", any(quit))
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept, app.settings.enable_openmetrics);
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let body = tokio::task::spawn_blocking(move || {
        let text = app.render_metrics(format);
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(text.as_bytes());
            enc.finish().unwrap_or_default()
        } else {
            text.into_bytes()
        }
    })
    .await;
    let Ok(body) = body else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "render failed").into_response();
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        format.content_type().parse().expect("static"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, "gzip".parse().expect("static"));
    }
    h.insert(
        header::VARY,
        "Accept-Encoding, Accept".parse().expect("static"),
    );
    resp
}

fn accepts_gzip(v: &str) -> bool {
    v.split(',').any(|part| {
        let mut f = part.split(';').map(str::trim);
        f.next() == Some("gzip") && f.all(|p| p != "q=0" && p != "q=0.0")
    })
}

async fn healthy() -> &'static str {
    "Healthy.\n"
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.is_ready() {
        "Ready.\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Not ready.\n").into_response()
    }
}

fn lifecycle_guard(app: &App, method: &Method) -> Option<Response> {
    if !app.settings.enable_lifecycle {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "Lifecycle API is not enabled (--web.enable-lifecycle).\n",
            )
                .into_response(),
        );
    }
    if method != Method::PUT && method != Method::POST {
        return Some(
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "Only PUT or POST requests allowed.\n",
            )
                .into_response(),
        );
    }
    None
}

async fn reload(State(app): State<Arc<App>>, method: Method) -> Response {
    if let Some(r) = lifecycle_guard(&app, &method) {
        return r;
    }
    match tokio::task::spawn_blocking(move || app.reload()).await {
        Ok(Ok(n)) => format!("Reloaded: {n} mappings.\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Reload failed, keeping the running configuration: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "reload task failed\n").into_response(),
    }
}

async fn quit(State(app): State<Arc<App>>, method: Method) -> Response {
    if let Some(r) = lifecycle_guard(&app, &method) {
        return r;
    }
    app.request_shutdown();
    "Requesting termination... Goodbye!\n".into_response()
}

/// Copies the cardinality report under the store lock, renders it after.
async fn cardinality_page(app: Arc<App>, json: bool) -> Response {
    let body = tokio::task::spawn_blocking(move || {
        let c = crate::cardinality::collect(&app.shared.store.lock());
        if json {
            c.to_json().to_string()
        } else {
            c.to_html()
        }
    })
    .await;
    let Ok(body) = body else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "render failed").into_response();
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    let kind = if json {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    h.insert(header::CONTENT_TYPE, kind.parse().expect("static"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        crate::cardinality::CSP.parse().expect("static"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff".parse().expect("static"),
    );
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    resp
}

async fn cardinality_html(State(app): State<Arc<App>>) -> Response {
    cardinality_page(app, false).await
}

async fn cardinality_json(State(app): State<Arc<App>>) -> Response {
    cardinality_page(app, true).await
}

async fn landing(State(app): State<Arc<App>>) -> Html<String> {
    Html(app.landing_page())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.8"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
