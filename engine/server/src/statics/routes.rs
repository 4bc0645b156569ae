//! The static folder over HTTP (`krl serve --static DIR`):
//!
//! * `GET /static/<path>[?v=<hash>]`: the file, with its Content-Type and
//!   ETag, cached for a year when `v` is its current fingerprint;
//! * `GET|POST /static-loop/<path>`: TwiML playing it in a loop (hold
//!   music).
//!
//! Without a folder both answer 404. Uses: `statics` (the folder), axum,
//! tokio.

use super::{content_type, Found, StaticError, StaticFiles};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The state of the static routes: the folder, if there is one.
pub type Statics = Option<Arc<StaticFiles>>;

/// The static routes, with their state; `http` merges them at the root.
pub fn router(statics: Statics) -> Router {
    Router::new()
        .route("/static/{*path}", get(serve_file))
        .route("/static-loop/{*path}", get(serve_loop).post(serve_loop))
        .with_state(statics)
}

/// `?v=<fingerprint>`.
#[derive(serde::Deserialize)]
struct Fingerprint {
    v: Option<String>,
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// The folder and the resolved file, or the error answer.
async fn lookup(st: &Statics, rel: String) -> Result<(Arc<StaticFiles>, Found), Response> {
    let Some(statics) = st.clone() else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "no static folder (krl serve --static DIR)".into(),
        ));
    };
    let s = statics.clone();
    let found = tokio::task::spawn_blocking(move || s.find(&rel))
        .await
        .map_err(|e| json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match found {
        Ok(f) => Ok((statics, f)),
        Err(e @ StaticError::Unsafe(_)) => Err(json_error(StatusCode::BAD_REQUEST, e.to_string())),
        Err(e @ StaticError::Missing(_)) => Err(json_error(StatusCode::NOT_FOUND, e.to_string())),
    }
}

/// `GET /static/<path>[?v=<hash>]`: the file, with its Content-Type and
/// ETag; `Cache-Control: public, max-age=31536000, immutable` when `v`
/// is the file's current fingerprint, `no-cache` otherwise.
async fn serve_file(
    State(st): State<Statics>,
    UrlPath(rel): UrlPath<String>,
    Query(q): Query<Fingerprint>,
    headers: HeaderMap,
) -> Response {
    let (_, f) = match lookup(&st, rel).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let etag = format!("\"{}\"", f.hash);
    let cache = if q.v.as_deref() == Some(f.hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let path = f.path.clone();
    let bytes = match tokio::task::spawn_blocking(move || std::fs::read(&path)).await {
        Ok(Ok(b)) => b,
        _ => {
            return json_error(
                StatusCode::NOT_FOUND,
                format!("no such file: {:?}", f.path.file_name().unwrap_or_default()),
            )
        }
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&f.path)),
    );
    (StatusCode::OK, h, bytes).into_response()
}

/// `GET|POST /static-loop/<path>`: TwiML playing the file in a loop
/// (hold music) until the call is redirected.
async fn serve_loop(State(st): State<Statics>, UrlPath(rel): UrlPath<String>) -> Response {
    let (statics, _) = match lookup(&st, rel.clone()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let url = match tokio::task::spawn_blocking(move || statics.url_for(&rel)).await {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => return json_error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Play loop=\"0\">{}</Play></Response>",
        xml_escape(&url)
    );
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// Escapes text for XML (TwiML).
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
