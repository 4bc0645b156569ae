//! The admin API's MQTT routes (admin token, like all of `/api`):
//!
//! * `GET /api/picos/{id}/mqtt`: the pico's subscriptions,
//!   `[{"filter", "qos"}]` sorted by filter.
//! * `POST /api/picos/{id}/mqtt` `{"filter": "...", "qos": 0|1}` (qos
//!   default 1): subscribes the pico (stored, then subscribed at the
//!   broker); answers `{"filter", "qos"}`.
//! * `DELETE /api/picos/{id}/mqtt` with `{"filter": "..."}` or
//!   `?filter=...`: drops it; 204, or 404 when the pico has no such
//!   subscription.
//!
//! A bad body or filter is 400, an unknown pico 404, and with `--no-mqtt`
//! a subscription is 409 (there is nothing to subscribe to). `http` nests
//! this router under `/api`, behind its guard. Uses: `mqtt` (the handle,
//! `subs`), `dispatch`, `error`, `store`, `ids`, axum.

use super::subs::{self, SubRecord};
use super::{Cmd, Mqtt};
use crate::dispatch::Dispatch;
use crate::error::{ApiError, EngineError};
use crate::ids::PicoId;
use crate::store::{Key, WriteBuf};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The state of the MQTT admin routes.
#[derive(Clone)]
pub struct MqttAdmin {
    dispatch: Dispatch,
    /// `None` with `--no-mqtt`.
    mqtt: Option<Arc<Mqtt>>,
}

impl MqttAdmin {
    /// The routes' state: picos are looked up through `dispatch`;
    /// subscriptions go to `mqtt` (`None`: MQTT is off).
    pub fn new(dispatch: Dispatch, mqtt: Option<Arc<Mqtt>>) -> MqttAdmin {
        MqttAdmin { dispatch, mqtt }
    }
}

/// The MQTT admin routes, with their state; `http` nests them under
/// `/api`.
pub fn router(state: MqttAdmin) -> Router {
    Router::new()
        .route(
            "/picos/{id}/mqtt",
            get(list).post(subscribe).delete(unsubscribe),
        )
        .with_state(state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeBody {
    filter: String,
    #[serde(default)]
    qos: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeBody {
    filter: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    EngineError::BadRequest(message.into()).into()
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("{what}: {e}")))
}

/// `GET /api/picos/{id}/mqtt`.
async fn list(
    State(st): State<MqttAdmin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = PicoId::new(id);
    st.dispatch.pico_record(&id)?;
    let subs = subs::of_pico(st.dispatch.store(), &id).map_err(EngineError::from)?;
    Ok(Json(Value::Array(
        subs.into_iter()
            .map(|(filter, qos)| json!({"filter": filter, "qos": qos}))
            .collect(),
    )))
}

/// `POST /api/picos/{id}/mqtt`.
async fn subscribe(
    State(st): State<MqttAdmin>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = PicoId::new(id);
    let req: SubscribeBody = parse(
        &body,
        "expected a JSON body {\"filter\": \"topic/filter\", \"qos\": 0 or 1}",
    )?;
    let qos = match req.qos {
        None | Some(Value::Null) => 1,
        Some(v) if v == json!(0) => 0,
        Some(v) if v == json!(1) => 1,
        Some(v) if v == json!(2) => {
            return Err(bad("qos 2 (exactly once) is not supported: use 0 or 1"))
        }
        Some(v) => return Err(bad(format!("qos must be 0 or 1, not {v}"))),
    };
    krl_lang::modules::mqtt::check_filter(&req.filter).map_err(bad)?;
    st.dispatch.pico_record(&id)?;
    let Some(mqtt) = &st.mqtt else {
        return Err(ApiError::new(StatusCode::CONFLICT, MQTT_OFF));
    };
    let mut buf = WriteBuf::new();
    buf.put(Key::mqtt_sub(&id, &req.filter), &SubRecord { qos });
    st.dispatch
        .store()
        .commit(buf)
        .await
        .map_err(EngineError::from)?;
    mqtt.send(Cmd::Committed {
        pico: id,
        publishes: Vec::new(),
        subs: vec![(req.filter.clone(), Some(qos))],
    });
    Ok(Json(json!({"filter": req.filter, "qos": qos})))
}

const MQTT_OFF: &str = "MQTT is off in this engine (krl serve --no-mqtt): nothing to subscribe to";

/// `DELETE /api/picos/{id}/mqtt`.
async fn unsubscribe(
    State(st): State<MqttAdmin>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = PicoId::new(id);
    let from_query = query.as_deref().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "filter")
            .map(|(_, v)| v)
    });
    let filter = match from_query {
        Some(f) => f,
        None if body.iter().all(u8::is_ascii_whitespace) => {
            return Err(bad(
                "which subscription? give {\"filter\": \"...\"} or ?filter=...",
            ))
        }
        None => {
            parse::<UnsubscribeBody>(&body, "expected a JSON body {\"filter\": \"topic/filter\"}")?
                .filter
        }
    };
    st.dispatch.pico_record(&id)?;
    let store = st.dispatch.store();
    let key = Key::mqtt_sub(&id, &filter);
    if store
        .get::<SubRecord>(&key)
        .map_err(EngineError::from)?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("pico {id} has no subscription to {filter:?}"),
        ));
    }
    let mut buf = WriteBuf::new();
    buf.remove(key);
    store.commit(buf).await.map_err(EngineError::from)?;
    if let Some(mqtt) = &st.mqtt {
        mqtt.send(Cmd::Committed {
            pico: id,
            publishes: Vec::new(),
            subs: vec![(filter, None)],
        });
    }
    Ok(StatusCode::NO_CONTENT)
}
