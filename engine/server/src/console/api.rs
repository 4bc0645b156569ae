//! The console's admin routes (filled in below).
use crate::engine::Engine;
use axum::Router;
use std::sync::Arc;

/// The console's admin routes; `http` nests them under `/api`.
pub fn router(_engine: Arc<Engine>) -> Router {
    Router::new()
}
