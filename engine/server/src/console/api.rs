//! The admin routes the console and the command line's listings use,
//! besides the contract's (`http` nests them under `/api`, behind the
//! admin guard: the bearer token or the `krl_admin` cookie):
//!
//! * `GET /api/picos`: the pico tree from the root, each node
//!   `{"id", "name", "parent", "channels": [eci], "rulesets": [rid],
//!   "children": [node]}` (`krl pico list`).
//! * `POST /api/check` with KRL source: `{"rid", "errors", "diagnostics":
//!   [{"severity", "message", "line", "col", "end_line", "end_col"}]}`,
//!   what `krl check` and registration say (lines and columns 1-based,
//!   columns in characters); nothing is registered.
//! * `GET /api/trace[?pico=ID]`: the live trace (`trace`) as server-sent
//!   events, each `data:` an entry `{"seq", "at_ms", "pico", "kind",
//!   "data", "dropped"}` (`dropped`: entries this watcher lost just
//!   before it, being too slow).
//! * `GET /api/console/info`: version, root pico and eci, public URL,
//!   whether MQTT is on.
//! * `GET /api/console/picos/{id}`: one pico in full: record, installs
//!   with their configs, channels with tags, policy and whether they have
//!   a Twilio token, entity variables by rid, call sessions, MQTT
//!   subscriptions.
//! * `POST /api/console/picos/{id}/name` `{"name"}`: renames it.
//! * `POST /api/console/sign` `{"eci", "url", "params": [[k, v]]}`: the
//!   `X-Twilio-Signature` Twilio would send for that request to that
//!   channel (`null` when the channel takes unsigned requests), so the
//!   console's phone calls a guarded channel as `krl call` does.
//! * `GET /api/console/mqtt`: the MQTT messages the trace kept, oldest
//!   first.
//!
//! Uses: `engine`, `error`, `ids`, `store`, `trace`, `twilio` (call
//! sessions, signatures), `mqtt::subs`, krl-lang (checks), axum,
//! futures-util, serde_json.

use crate::engine::Engine;
use crate::error::{ApiError, EngineError, Result};
use crate::ids::{Eci, PicoId};
use crate::store::Key;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use krl_lang::syntax::{parse_ruleset, Diagnostic, LineIndex, Severity};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::sync::Arc;

type ApiResult<T> = std::result::Result<T, ApiError>;

/// The console's admin routes; `http` nests them under `/api`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/picos", get(tree))
        .route("/check", post(check))
        .route("/trace", get(trace))
        .route("/console/info", get(info))
        .route("/console/picos/{id}", get(pico))
        .route("/console/picos/{id}/name", post(rename))
        .route("/console/sign", post(sign))
        .route("/console/mqtt", get(mqtt_recent))
        .with_state(engine)
}

/// `GET /api/picos`.
async fn tree(State(engine): State<Arc<Engine>>) -> ApiResult<Json<Value>> {
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

/// `POST /api/check`.
async fn check(body: Bytes) -> ApiResult<Json<Value>> {
    let src = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the ruleset source is not valid UTF-8"))?;
    Ok(Json(diagnostics(src)))
}

/// What `krl check` says of `src`, with positions.
pub fn diagnostics(src: &str) -> Value {
    let (rid, diags): (Option<String>, Vec<Diagnostic>) = match parse_ruleset(src) {
        Ok(ast) => (Some(ast.rid.name.clone()), krl_lang::engine::check(&ast)),
        Err(d) => (None, vec![d]),
    };
    let index = LineIndex::new(src);
    let list: Vec<Value> = diags
        .iter()
        .map(|d| {
            let (line, col) = index.line_col(src, d.span.start as usize);
            let (end_line, end_col) = index.line_col(src, d.span.end as usize);
            json!({
                "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": d.message,
                "line": line, "col": col, "end_line": end_line, "end_col": end_col,
            })
        })
        .collect();
    json!({
        "rid": rid,
        "errors": diags.iter().filter(|d| d.is_error()).count(),
        "diagnostics": list,
    })
}

#[derive(Deserialize)]
struct TraceQuery {
    pico: Option<String>,
}

/// `GET /api/trace[?pico=ID]`.
async fn trace(Query(q): Query<TraceQuery>) -> impl IntoResponse {
    let pico = q.pico.filter(|p| !p.is_empty());
    let watcher = crate::trace::watch();
    let stream = futures_util::stream::unfold(
        (watcher, pico, 0u64),
        |(mut w, pico, mut dropped)| async move {
            loop {
                let (lost, entry) = w.next().await?;
                dropped += lost;
                let mine = match (&pico, &entry.pico) {
                    (None, _) => true,
                    (Some(p), Some(e)) => p == e.as_str(),
                    // MQTT messages in name no pico: shown to all.
                    (Some(_), None) => true,
                };
                if !mine {
                    continue;
                }
                let mut v = serde_json::to_value(&*entry).unwrap_or(Value::Null);
                v["dropped"] = json!(dropped);
                let event = Event::default().event("trace").data(v.to_string());
                return Some((Ok::<_, Infallible>(event), (w, pico, 0)));
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/console/info`.
async fn info(State(engine): State<Arc<Engine>>) -> Json<Value> {
    let meta = engine.meta();
    Json(json!({
        "version": crate::engine::VERSION,
        "root_pico": meta.root_pico,
        "root_eci": meta.root_eci,
        "public_url": engine.settings().public_url,
        "mqtt": engine.mqtt().is_some(),
        "twilio_auth_token": engine.settings().twilio.auth_token.as_deref().is_some_and(|t| !t.is_empty()),
    }))
}

/// `GET /api/console/picos/{id}`.
async fn pico(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = PicoId::new(id);
    let info = engine.pico(&id)?;
    let store = engine.store();
    let installs: Vec<Value> = store
        .installs(&id)
        .map_err(EngineError::from)?
        .into_iter()
        .map(|i| json!({"rid": i.rid, "config": i.config}))
        .collect();
    let mut channels = Vec::new();
    for eci in &info.channels {
        if let Some(ch) = store.channel(eci).map_err(EngineError::from)? {
            channels.push(json!({
                "eci": eci, "tags": ch.tags, "policy": ch.policy,
                "twilio_auth_token": ch.twilio_auth_token.as_deref().is_some_and(|t| !t.is_empty()),
            }));
        }
    }
    let mut vars: Map<String, Value> = Map::new();
    let [entities, ..] = Key::pico_state(&id);
    for (key, value) in store.scan::<Value>(&entities).map_err(EngineError::from)? {
        if let Some((_, parts)) = Key::decode(key.as_bytes()) {
            if let [_, rid, name] = parts.as_slice() {
                let of_rid = vars
                    .entry(rid.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                of_rid[name.as_str()] = value;
            }
        }
    }
    let mut children = Vec::new();
    for c in &info.children {
        if let Ok(ci) = engine.pico(c) {
            children.push(json!({"id": ci.id, "name": ci.name}));
        }
    }
    let sessions = crate::twilio::admin::call_sessions(engine.dispatch(), &id)?;
    let mqtt: Vec<Value> = crate::mqtt::subs::of_pico(store, &id)
        .map_err(EngineError::from)?
        .into_iter()
        .map(|(filter, qos)| json!({"filter": filter, "qos": qos}))
        .collect();
    Ok(Json(json!({
        "id": info.id,
        "name": info.name,
        "parent": info.parent,
        "children": children,
        "rulesets": installs,
        "channels": channels,
        "vars": vars,
        "sessions": sessions,
        "mqtt": mqtt,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// `POST /api/console/picos/{id}/name`.
async fn rename(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Json(req): Json<Rename>,
) -> ApiResult<Json<Value>> {
    let name = req.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("a pico's name cannot be empty"));
    }
    let id = PicoId::new(id);
    engine.rename_pico(&id, name.clone()).await?;
    Ok(Json(json!({"id": id, "name": name})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sign {
    eci: String,
    url: String,
    #[serde(default)]
    params: Vec<(String, String)>,
}

/// `POST /api/console/sign`.
async fn sign(State(engine): State<Arc<Engine>>, Json(req): Json<Sign>) -> ApiResult<Json<Value>> {
    let eci = Eci::new(req.eci);
    let ch = engine
        .store()
        .channel(&eci)
        .map_err(EngineError::from)?
        .ok_or_else(|| EngineError::UnknownEci(eci.clone()))?;
    let token = crate::twilio::token_for(
        ch.twilio_auth_token.as_deref(),
        engine.settings().twilio.auth_token.as_deref(),
    );
    let signature = token.map(|t| crate::twilio::signature::sign(t, &req.url, &req.params));
    Ok(Json(json!({ "signature": signature })))
}

/// `GET /api/console/mqtt`.
async fn mqtt_recent() -> Json<Value> {
    Json(Value::Array(
        crate::trace::recent_mqtt()
            .iter()
            .map(|e| serde_json::to_value(&**e).unwrap_or(Value::Null))
            .collect(),
    ))
}
