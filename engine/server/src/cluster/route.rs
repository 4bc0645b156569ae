//! Routing in a cluster: any node accepts any request; one for a pico of
//! a shard another node owns is forwarded there (its method, path, query,
//! headers and body as they came, plus [`FORWARDED`]), and the owner's
//! answer goes back as it is. A request the owner of whose pico is not
//! known yet (a node died and its leases have not run out, or a shard is
//! being handed over) waits for one for at most [`WAIT`], then gets 503.
//! A forwarded request is never forwarded again: it waits for its shard
//! to come to this node.
//!
//! Which pico a request is for comes from its path: the eci of
//! `/sky/event/{eci}/...`, `/sky/cloud/{eci}/...`, `/c/{eci}/...` and
//! `/api/channels/{eci}`, the pico id of `/api/picos/{id}/...` and
//! `/api/console/picos/{id}/...`, and the pico of a trace
//! (`/api/trace?pico=ID`, streamed back as it comes). Other requests are
//! answered where they arrive (a trace of every pico shows this node's).

use super::Cluster;
use crate::dispatch::Dispatch;
use crate::ids::{Eci, PicoId};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The header a forwarded request carries: the forwarding node's id.
pub const FORWARDED: &str = "krl-forwarded-by";

/// How long a request waits for its pico's shard to have an owner.
pub const WAIT: Duration = Duration::from_secs(20);

/// How long a forwarded request waits for its shard at the node it was
/// forwarded to before answering [`MOVED`].
pub const MOVED_WAIT: Duration = Duration::from_secs(2);

/// The header of a 503 that says "not here (any more)": the forwarding
/// node asks the owner again.
pub const MOVED: &str = "krl-moved";

/// The largest body forwarded (the server's own limit is lower).
const BODY_LIMIT: usize = 16 << 20;

/// The routing middleware's state.
#[derive(Clone)]
pub struct Routing {
    /// The cluster node.
    pub cluster: Arc<Cluster>,
    /// The local picos.
    pub dispatch: Dispatch,
    /// The root pico (the parent of a new pico by default).
    pub root: PicoId,
}

enum Target {
    Eci(String),
    Pico(String),
    /// `POST /api/picos`: a child of the root is made by the node it
    /// reaches, another pico's child by its parent's node.
    NewPico,
}

fn target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "picos"] => Some(Target::NewPico),
        ["sky", "event" | "cloud", eci, ..] | ["c", eci, ..] | ["api", "channels", eci] => {
            Some(Target::Eci(decode(eci)))
        }
        ["api", "picos", id, ..] | ["api", "console", "picos", id, ..] if !id.is_empty() => {
            Some(Target::Pico(decode(id)))
        }
        _ => None,
    }
}

fn decode(segment: &str) -> String {
    // Ids and ecis are base62; a percent-encoded one is decoded like axum
    // decodes path parameters.
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The middleware (see the module doc).
pub async fn route(State(r): State<Routing>, req: Request, next: Next) -> Response {
    // A pico's trace (`/api/trace?pico=ID`) is where the pico runs.
    let traced = (req.uri().path() == "/api/trace")
        .then(|| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(req.uri().query().unwrap_or(""))
                .ok()?
                .into_iter()
                .find(|(k, v)| k == "pico" && !v.is_empty())
                .map(|(_, v)| Target::Pico(v))
        })
        .flatten();
    let pico = match traced.or_else(|| target(req.uri().path())) {
        None => return next.run(req).await,
        Some(Target::NewPico) if req.method() != axum::http::Method::POST => {
            return next.run(req).await
        }
        Some(Target::NewPico) => {
            let (parts, body) = req.into_parts();
            let body = match to_bytes(body, BODY_LIMIT).await {
                Ok(b) => b,
                Err(e) => {
                    return refusal(StatusCode::BAD_REQUEST, format!("reading the request: {e}"))
                }
            };
            let parent = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("parent").and_then(|p| p.as_str()).map(PicoId::new))
                .unwrap_or_else(|| r.root.clone());
            let req = Request::from_parts(parts, Body::from(body));
            // A child of the root is made here, in a shard of this node
            // (clients spread over the nodes spread the picos); a child of
            // another pico beside its parent, on its node, so that a
            // subtree stays on one node (it is deleted in one commit).
            if parent == r.root && r.cluster.leases().serves_any() {
                return next.run(req).await;
            }
            return route_to(&r, parent, req, next).await;
        }
        Some(Target::Pico(id)) => PicoId::new(id),
        Some(Target::Eci(eci)) => match r.dispatch.channel_record(&Eci::new(eci)) {
            Ok(ch) => ch.0.pico.clone(),
            // An unknown channel: the route's own answer says so.
            Err(_) => return next.run(req).await,
        },
    };
    route_to(&r, pico, req, next).await
}

/// Runs `req` here if this node serves `pico`, else forwards it to the
/// node that does, waiting for one for at most [`WAIT`].
async fn route_to(r: &Routing, pico: PicoId, req: Request, next: Next) -> Response {
    let leases = r.cluster.leases().clone();
    if leases.serves_pico(pico.as_str()) {
        return next.run(req).await;
    }
    let forwarded = req.headers().contains_key(FORWARDED);
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            return refusal(StatusCode::BAD_REQUEST, format!("reading the request: {e}"));
        }
    };
    // A forwarded request waits here only while a claim may be under way;
    // then it says the pico moved, and the node that forwarded it asks the
    // owner it reads next (a forwarded request is never forwarded again).
    let deadline = Instant::now() + if forwarded { MOVED_WAIT } else { WAIT };
    let mut last_error = String::new();
    loop {
        if leases.serves_pico(pico.as_str()) {
            return next.run(Request::from_parts(parts, Body::from(body))).await;
        }
        if forwarded && Instant::now() >= deadline {
            let mut res = refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("pico {pico} is not served by node {}", r.cluster.node()),
            );
            res.headers_mut()
                .insert(MOVED, axum::http::HeaderValue::from_static("1"));
            return res;
        }
        if let Some((node, url)) = r.cluster.owner_of(pico.as_str()).filter(|_| !forwarded) {
            // The owner may change while the request is there (it died,
            // or was paused and lost its lease): then ask the next one.
            let changed = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if r.cluster.owner_of(pico.as_str()).map(|(n, _)| n).as_ref() != Some(&node) {
                        return;
                    }
                }
            };
            tokio::select! {
                res = forward(&r.cluster, &url, &parts, body.clone()) => match res {
                    Ok(res) if res.headers().contains_key(MOVED) => {
                        last_error = format!(" (node {node} no longer serves it)");
                    }
                    Ok(res) => return res,
                    Err(e) => {
                        tracing::debug!(%node, "cluster: forwarding failed: {e}");
                        last_error = format!(" (node {node} at {url}: {e})");
                    }
                },
                () = changed => {
                    last_error = format!(" (node {node} lost it while asked)");
                }
            }
        }
        if Instant::now() >= deadline {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "pico {pico} is on a shard with no reachable owner now{last_error}; \
                     retry later"
                ),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends the request to `url` (another node) and answers its response.
async fn forward(
    cluster: &Cluster,
    url: &str,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Result<Response, reqwest::Error> {
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let mut req = cluster
        .http
        .request(parts.method.clone(), format!("{url}{path}"))
        .body(body)
        .header(FORWARDED, cluster.node());
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) && name.as_str() != FORWARDED
        {
            req = req.header(name, value);
        }
    }
    let res = req.send().await?;
    let status = res.status();
    let headers = res.headers().clone();
    // Streamed as it comes (a pico's trace is an endless event stream).
    let mut out = Response::new(Body::from_stream(res.bytes_stream()));
    *out.status_mut() = status;
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            out.headers_mut()
                .append(HeaderName::from(name), value.clone());
        }
    }
    Ok(out)
}

fn refusal(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pico_of_a_request_comes_from_its_path() {
        let eci = |p: &str| match target(p) {
            Some(Target::Eci(e)) => Some(e),
            _ => None,
        };
        let pico = |p: &str| match target(p) {
            Some(Target::Pico(e)) => Some(e),
            _ => None,
        };
        assert_eq!(eci("/sky/event/E1/x/a/b").as_deref(), Some("E1"));
        assert_eq!(eci("/sky/cloud/E2/r/f").as_deref(), Some("E2"));
        assert_eq!(eci("/c/E3/query/r/f").as_deref(), Some("E3"));
        assert_eq!(eci("/api/channels/E%34").as_deref(), Some("E4"));
        assert_eq!(pico("/api/picos/P1/rulesets").as_deref(), Some("P1"));
        assert_eq!(pico("/api/console/picos/P2").as_deref(), Some("P2"));
        assert!(matches!(target("/api/picos"), Some(Target::NewPico)));
        assert!(target("/api/rulesets").is_none());
        assert!(target("/api/engine").is_none());
    }
}
