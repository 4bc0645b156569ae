//! The developer console at `/ui/`: plain HTML, CSS and JavaScript
//! embedded in the binary (`assets/`, no build step, nothing fetched from
//! elsewhere), and the admin routes only it needs besides the contract's
//! (`api`). `http` serves the pages behind the `krl_admin` cookie (a
//! browser without it is sent to `/login`) and nests `api` under `/api`
//! behind the admin guard. docs/console.md tells the story. Uses:
//! `engine`, `trace`, `twilio` (call sessions, signatures), `mqtt::subs`,
//! `store`, `ids`, `error`, axum.

pub mod api;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The embedded files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/console.js"),
    ),
    (
        "krl.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/krl.js"),
    ),
    (
        "phone.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/phone.js"),
    ),
];

/// The console's pages: `/ui/` and `/ui/{file}` (`/ui` redirects).
/// `http` puts them behind the login.
pub fn pages() -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/{*file}",
            get(|Path(f): Path<String>| async move { asset(&f) }),
        )
}

/// One embedded file, or 404.
fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, bytes)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no such console file: {name}"),
        )
            .into_response(),
    }
}
