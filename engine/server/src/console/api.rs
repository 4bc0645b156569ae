//! The admin routes the console and the command line's listings use,
//! besides the contract's (`http` nests them under `/api`, behind the
//! admin guard):
//!
//! * `GET /api/picos`: the pico tree from the root, each node
//!   `{"id", "name", "parent", "channels": [eci], "rulesets": [rid],
//!   "children": [node]}` (`krl pico list`).
//!
//! Uses: `engine`, `error`, `ids`, axum, serde_json.

use crate::engine::Engine;
use crate::error::{ApiError, Result};
use crate::ids::PicoId;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// The console's admin routes; `http` nests them under `/api`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new().route("/picos", get(tree)).with_state(engine)
}

/// `GET /api/picos`.
async fn tree(State(engine): State<Arc<Engine>>) -> std::result::Result<Json<Value>, ApiError> {
    Ok(Json(node(&engine, &engine.meta().root_pico, 0)?))
}

/// Pico `id` and its subtree (children that vanished meanwhile are left
/// out; the depth is bounded against a corrupt, cyclic tree).
fn node(engine: &Engine, id: &PicoId, depth: usize) -> Result<Value> {
    let info = engine.pico(id)?;
    let mut children = Vec::new();
    if depth < 256 {
        for c in &info.children {
            if let Ok(n) = node(engine, c, depth + 1) {
                children.push(n);
            }
        }
    }
    Ok(json!({
        "id": info.id,
        "name": info.name,
        "parent": info.parent,
        "channels": info.channels,
        "rulesets": info.rulesets,
        "children": children,
    }))
}
