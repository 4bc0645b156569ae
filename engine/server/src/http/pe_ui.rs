//! `krl serve --pico-engine DIR`'s HTTP side: `GET /api/ui-context`
//! (`{version, eci}`: the root's `engine,ui` channel, behind the admin
//! token like the rest of `/api`) and the Pico Engine's developer UI,
//! the files of `DIR/public`, at `/`. Uses: `http` (its state), `engine`,
//! axum.

use super::{ApiResult, AppState};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// `GET /api/ui-context`.
pub(super) async fn ui_context(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let eci = st.engine.ui_eci().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no Pico Engine UI here: start krl serve with --pico-engine DIR",
        )
    })?;
    Ok(Json(json!({"version": crate::engine::VERSION, "eci": eci})))
}

/// `GET /`: the UI's index.
pub(super) async fn index(st: State<AppState>) -> Response {
    file(st, Path("index.html".to_string())).await
}

/// `GET /{path}`: a file of `DIR/public`.
pub(super) async fn file(State(st): State<AppState>, Path(path): Path<String>) -> Response {
    let Some(dir) = st.engine.settings().pico_engine.clone() else {
        return ApiError::new(StatusCode::NOT_FOUND, format!("no such route: GET /{path}"))
            .into_response();
    };
    // Only plain names below the folder: no `..`, no absolute paths.
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\'))
    {
        return ApiError::new(StatusCode::NOT_FOUND, format!("no such file: /{path}"))
            .into_response();
    }
    let full = dir.join("public").join(&path);
    match tokio::task::spawn_blocking(move || std::fs::read(full)).await {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        _ => ApiError::new(StatusCode::NOT_FOUND, format!("no such file: /{path}")).into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
