//! Between the nodes of a cluster: what a pico asks of a pico on another
//! node ([`crate::dispatch::Remote`]) goes to that node's internal routes,
//! under `/api/cluster/` (the admin token, which a cluster's nodes share):
//!
//! * `POST /api/cluster/deliver`: an event a rule sent (`event:send`),
//!   with an idempotency key made once by the sender, so that a retry
//!   after a lost answer (or a node that died) applies it once;
//! * `POST /api/cluster/call`: `ctx:query` and `ctx:eventQuery`.
//!
//! A node that does not serve the pico (its shard moved meanwhile)
//! answers 503 and the sender asks the owner it reads next, for at most
//! [`super::route::WAIT`].

use super::route::{Routing, WAIT};
use super::Cluster;
use crate::dispatch::{Remote, RemoteCall, RemoteFuture};
use crate::error::EngineError;
use crate::ids::{Eci, Eid, PicoId};
use crate::pico::EventIn;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A sent event on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct Delivery {
    from: PicoId,
    to: PicoId,
    key: String,
    eci: Eci,
    eid: Eid,
    domain: String,
    name: String,
    attrs: Map<String, Value>,
    time_ms: f64,
}

/// The node's side of [`Remote`]: a cluster and its admin token.
pub struct Nodes {
    /// The cluster (owners, HTTP client).
    pub cluster: Arc<Cluster>,
    /// The admin token the nodes share.
    pub token: String,
}

impl Nodes {
    /// POSTs `body` to `path` at the node serving `to`, until one answers
    /// other than 503 or [`WAIT`] has passed.
    async fn post(&self, to: &PicoId, path: &str, body: Value) -> crate::error::Result<Value> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::from("no node serves it now");
        loop {
            if let Some((node, url)) = self.cluster.owner_of(to.as_str()) {
                let sent = self
                    .cluster
                    .http
                    .post(format!("{url}{path}"))
                    .bearer_auth(&self.token)
                    .json(&body)
                    // A paused node takes the connection and says nothing:
                    // ask again (the delivery's key makes that safe).
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                        last = format!("node {node} does not serve it (moved)");
                    }
                    Ok(res) => {
                        let status = res.status();
                        let v: Value = res.json().await.unwrap_or(Value::Null);
                        if status.is_success() {
                            return Ok(v);
                        }
                        let msg = v["error"].as_str().unwrap_or("no reason given").to_string();
                        return Err(match status.as_u16() {
                            403 => EngineError::Denied(msg),
                            404 => EngineError::BadRequest(msg),
                            _ => EngineError::Module(format!("node {node}: {msg}")),
                        });
                    }
                    Err(e) => last = format!("node {node}: {e}"),
                }
            }
            if Instant::now() >= deadline {
                return Err(EngineError::Module(format!(
                    "pico {to} is on another node of the cluster, not reached: {last}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Remote for Nodes {
    fn deliver(&self, from: PicoId, to: PicoId, event: EventIn, key: String) -> RemoteFuture<()> {
        let d = Delivery {
            from,
            key,
            to: to.clone(),
            eci: event.eci,
            eid: event.eid,
            domain: event.domain,
            name: event.name,
            attrs: event.attrs,
            time_ms: event.time_ms,
        };
        let body = serde_json::to_value(&d).unwrap_or(Value::Null);
        let nodes = Nodes {
            cluster: self.cluster.clone(),
            token: self.token.clone(),
        };
        Box::pin(async move {
            nodes.post(&to, "/api/cluster/deliver", body).await?;
            Ok(())
        })
    }

    fn call(&self, call: RemoteCall) -> RemoteFuture<Value> {
        let nodes = Nodes {
            cluster: self.cluster.clone(),
            token: self.token.clone(),
        };
        Box::pin(async move {
            let to = call.to.clone();
            let body = serde_json::to_value(&call).unwrap_or(Value::Null);
            nodes.post(&to, "/api/cluster/call", body).await
        })
    }
}

/// The internal routes (merged under `/api`, behind the admin token).
pub fn router(r: Routing) -> Router {
    Router::new()
        .route("/cluster/deliver", post(deliver))
        .route("/cluster/call", post(call))
        .with_state(r)
}

fn answer(result: crate::error::Result<Value>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let status = match &e {
                EngineError::Denied(_) | EngineError::FamilyChannel(_) => StatusCode::FORBIDDEN,
                EngineError::UnknownEci(_) | EngineError::UnknownPico(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, Json(json!({ "error": e.to_string() }))).into_response()
        }
    }
}

fn not_here(pico: &PicoId) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": format!("pico {pico} is not served by this node") })),
    )
        .into_response()
}

async fn deliver(State(r): State<Routing>, Json(d): Json<Delivery>) -> Response {
    if !r.dispatch.serves(&d.to) {
        return not_here(&d.to);
    }
    let event = EventIn {
        eci: d.eci,
        eid: d.eid,
        domain: d.domain,
        name: d.name,
        attrs: d.attrs,
        time_ms: d.time_ms,
    };
    answer(
        r.dispatch
            .event_keyed_as(&d.from, event, d.key)
            .await
            .map(|a| json!({ "eid": a.eid })),
    )
}

async fn call(State(r): State<Routing>, Json(c): Json<RemoteCall>) -> Response {
    if !r.dispatch.serves(&c.to) {
        return not_here(&c.to);
    }
    let d = &r.dispatch;
    let result = async {
        if let Some((domain, name, attrs)) = c.event {
            let ev = EventIn {
                eci: c.eci.clone(),
                eid: Eid::random(),
                domain,
                name,
                attrs,
                time_ms: crate::clock::now_ms(),
            };
            d.event_as(Some(&c.from), ev).await?;
        }
        let target = d.query_pico(Some(&c.from), &c.eci, &c.rid, &c.name)?;
        Ok(d.handle(&target).query(c.rid, c.name, c.args).await?)
    }
    .await;
    answer(result)
}
