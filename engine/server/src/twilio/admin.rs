//! The Twilio admin routes (admin token, like all of `/api`; `http`
//! nests this router under `/api` behind its guard):
//!
//! * `GET /api/outbox[?state=queued|sent|failed]`: the outbox entries,
//!   oldest first, without credentials.
//! * `GET /api/picos/{id}/sessions`: the pico's stored call sessions
//!   (docs/twilio.md, call sessions).
//!
//! Uses: `twilio` (its state), `twilio::outbox`, `dispatch`, `error`,
//! `store`, `ids`, `clock`, axum.

use super::outbox;
use super::Twilio;
use crate::clock::now_ms;
use crate::dispatch::Dispatch;
use crate::error::{ApiError, EngineError, Result};
use crate::ids::PicoId;
use crate::store::{Key, SessionRecord};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// The Twilio admin routes, with their state; `http` nests them under
/// `/api`.
pub fn router(twilio: Twilio) -> Router {
    Router::new()
        .route("/outbox", get(list_outbox))
        .route("/picos/{id}/sessions", get(list_sessions))
        .with_state(twilio)
}

/// `?state=` of `GET /api/outbox`.
#[derive(serde::Deserialize)]
struct OutboxQuery {
    state: Option<String>,
}

/// `GET /api/outbox[?state=queued|sent|failed]`: the Twilio outbox,
/// oldest first, without credentials.
async fn list_outbox(
    State(tw): State<Twilio>,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Value>, ApiError> {
    let state = q.state.filter(|s| !s.is_empty());
    if let Some(s) = &state {
        if !["queued", "sent", "failed"].contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "state must be queued, sent or failed, not {s:?}"
            )));
        }
    }
    let entries = outbox::list(tw.dispatch.store(), state.as_deref()).map_err(EngineError::from)?;
    Ok(Json(Value::Array(
        entries.iter().map(|e| e.public()).collect(),
    )))
}

/// `GET /api/picos/{id}/sessions`: the pico's stored call sessions
/// (docs/twilio.md, call sessions).
async fn list_sessions(
    State(tw): State<Twilio>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(call_sessions(
        &tw.dispatch,
        &PicoId::new(id),
    )?)))
}

/// The call sessions stored for pico `id`, as they are on disk (one
/// past its expiry but not yet swept is listed, marked `expired`):
/// `[{"call_sid", "expires_ms", "expired", "vars": {rid: {name: value}}}]`.
pub fn call_sessions(dispatch: &Dispatch, id: &PicoId) -> Result<Vec<Value>> {
    let store = dispatch.store();
    if store.pico(id)?.is_none() {
        return Err(EngineError::UnknownPico(id.clone()));
    }
    let now = now_ms() as u64;
    let mut out = Vec::new();
    for (key, rec) in store.scan::<SessionRecord>(&Key::sessions(id))? {
        let Some((_, parts)) = Key::decode(key.as_bytes()) else {
            continue;
        };
        let Some(call) = parts.get(1) else { continue };
        let mut vars = Map::new();
        for rid in &rec.rids {
            let mut of_rid = Map::new();
            for (k, v) in store.scan::<Value>(&Key::session_vars(id, rid, call))? {
                if let Some((_, p)) = Key::decode(k.as_bytes()) {
                    if let Some(name) = p.get(3) {
                        of_rid.insert(name.clone(), v);
                    }
                }
            }
            vars.insert(rid.clone(), Value::Object(of_rid));
        }
        out.push(json!({
            "call_sid": call,
            "expires_ms": rec.expires_ms,
            "expired": rec.expires_ms <= now,
            "vars": vars,
        }));
    }
    Ok(out)
}
