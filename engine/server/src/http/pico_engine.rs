//! The Pico Engine 1.x's `/c/` routes, beside the Sky routes and with the
//! same machinery (the dispatch: channel, policy, pico mailbox), for
//! clients written against the Pico Engine (its developer UI, wrangler's
//! `host` calls): `/c/{eci}/event/{domain}/{type}` answers the new eid at
//! once, `/c/{eci}/event-wait/{domain}/{type}` waits for the rules,
//! `/c/{eci}/event/{domain}/{type}/query/{rid}/{name}` runs the event and
//! then the query on the pico, `/c/{eci}/query/{rid}/{name}` is a query.
//! Failures answer `{"error": "Error: ..."}` with the Pico Engine's texts
//! and krl's statuses. docs/pico-engine-routes.md tells the story. Uses:
//! `http` (its state, attributes and Twilio guard), `engine`, `error`,
//! `pico`, `policy`, `ids`, `clock`, axum, serde_json.

use super::{attributes, twilio_guard, ApiResult, AppState};
use crate::clock::now_ms;
use crate::error::{ApiError, EngineError};
use crate::ids::{Eci, Eid, Rid};
use crate::pico::{EventIn, PicoError};
use crate::policy::Policy;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// The `/c/` routes, GET and POST each.
pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/c/{eci}/event/{domain}/{type}",
            get(event_now).post(event_now),
        )
        .route(
            "/c/{eci}/event-wait/{domain}/{type}",
            get(event_wait).post(event_wait),
        )
        .route(
            "/c/{eci}/event/{domain}/{type}/query/{rid}/{name}",
            get(event_query).post(event_query),
        )
        .route("/c/{eci}/query/{rid}/{name}", get(query).post(query))
        .with_state(state)
}

/// What every `/c/` request brings besides its path.
struct Request {
    uri: Uri,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    /// The Twilio guard of the channel (a guarded channel is not opened
    /// by another route), then the attributes: query string and body, as
    /// the Sky routes read them.
    fn attributes(&self, st: &AppState, eci: &Eci) -> ApiResult<Map<String, Value>> {
        twilio_guard(st, eci, &self.uri, &self.headers, &self.body).map_err(pe_refusal)?;
        attributes(self.query.as_deref(), &self.headers, &self.body).map_err(pe_refusal)
    }
}

/// A refusal of the http layer (400 body, Twilio guard) in the Pico
/// Engine's form: its text after `Error: `.
fn pe_refusal(mut e: ApiError) -> ApiError {
    let text = e.body["error"].as_str().unwrap_or("refused").to_string();
    e.body["error"] = Value::String(format!("Error: {text}"));
    e
}

/// An engine failure with krl's status, its `error` in the Pico Engine's
/// words where a client may match them; other fields of krl's answer
/// (a runtime error's rid, rule, line, col) stay.
fn pe_error(e: EngineError) -> ApiError {
    let text = match &e {
        EngineError::UnknownEci(eci) => format!("ECI not found {eci}"),
        // Only when the channel changed after `check_channel` read it.
        EngineError::Denied(_) => "Not allowed by channel policy".to_string(),
        EngineError::Pico(PicoError::NotInstalled(rid)) => {
            format!("Pico doesn't have {rid} installed.")
        }
        EngineError::Pico(PicoError::NotShared { rid, name }) => {
            format!("Ruleset {rid} does not have query function \"{name}\"")
        }
        other => other.to_string(),
    };
    let mut api = ApiError::from(e);
    api.body["error"] = Value::String(format!("Error: {text}"));
    api
}

fn refuse(status: StatusCode, text: impl std::fmt::Display) -> ApiError {
    ApiError::new(status, format!("Error: {text}"))
}

/// The channel exists and its policy lets the event and the query (those
/// given) through, checked before anything runs: an event-then-query
/// whose query is refused raises no event. The dispatch checks again.
/// The texts tell an explicit `deny` ("Denied") from a missing `allow`
/// ("Not allowed"), as the Pico Engine does.
fn check_channel(
    st: &AppState,
    eci: &Eci,
    event: Option<(&str, &str)>,
    query: Option<(&str, &str)>,
) -> ApiResult<()> {
    let ch = match st.engine.store().channel(eci) {
        Ok(Some(ch)) => ch,
        Ok(None) => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("ECI not found {eci}"),
            ))
        }
        Err(e) => return Err(pe_error(e.into())),
    };
    let Some(policy) = &ch.policy else {
        return Ok(());
    };
    let policy = Policy::from_json(policy).map_err(|e| {
        refuse(
            StatusCode::FORBIDDEN,
            format!("channel {eci} has an unreadable policy: {e}"),
        )
    })?;
    let star = |p: &str, v: &str| p == "*" || p == v;
    if let Some((domain, name)) = event {
        if !policy.allows_event(domain, name) {
            let denied = policy.events.as_ref().is_some_and(|s| {
                s.deny
                    .iter()
                    .any(|p| star(&p.domain, domain) && star(&p.name, name))
            });
            return Err(policy_refusal(denied));
        }
    }
    if let Some((rid, name)) = query {
        if !policy.allows_query(rid, name) {
            let denied = policy.queries.as_ref().is_some_and(|s| {
                s.deny
                    .iter()
                    .any(|p| star(&p.rid, rid) && star(&p.name, name))
            });
            return Err(policy_refusal(denied));
        }
    }
    Ok(())
}

fn policy_refusal(denied: bool) -> ApiError {
    let text = if denied {
        "Denied by channel policy"
    } else {
        "Not allowed by channel policy"
    };
    refuse(StatusCode::FORBIDDEN, text)
}

/// Polls `fut` once. The dispatch's operations check the channel and
/// queue their message in the pico's mailbox before their first wait
/// (a full mailbox: they take their place in tokio's first-come line
/// for room), so after one poll a pending operation is queued, and what
/// is queued next runs after it.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// A query's value as the Pico Engine answers it: JSON, or with a `.txt`
/// or `.html` function name the string as is (anything else as its JSON
/// text); a null value is an empty body.
fn query_answer(value: Value, as_type: Option<&'static str>) -> Response {
    match (value, as_type) {
        (Value::Null, ct) => (
            [(header::CONTENT_TYPE, ct.unwrap_or("application/json"))],
            "",
        )
            .into_response(),
        (value, None) => Json(value).into_response(),
        (Value::String(s), Some(ct)) => ([(header::CONTENT_TYPE, ct)], s).into_response(),
        (other, Some(ct)) => ([(header::CONTENT_TYPE, ct)], other.to_string()).into_response(),
    }
}

fn new_event(eci: &Eci, domain: String, name: String, attrs: Map<String, Value>) -> EventIn {
    EventIn {
        eci: eci.clone(),
        eid: Eid::random(),
        domain,
        name,
        attrs,
        time_ms: now_ms(),
    }
}

/// `/c/{eci}/event/{domain}/{type}`: the eid as a JSON string once the
/// event is queued; the rules run after the answer. Their failures are
/// logged, as those of events rules send.
async fn event_now(
    State(st): State<AppState>,
    Path((eci, domain, name)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req = Request {
        uri,
        query,
        headers,
        body,
    };
    let eci = Eci::new(eci);
    let attrs = req.attributes(&st, &eci)?;
    check_channel(&st, &eci, Some((&domain, &name)), None)?;
    let event = new_event(&eci, domain, name, attrs);
    let eid = event.eid.clone();
    let what = format!("{}:{} to {eci}", event.domain, event.name);
    let engine = st.engine.clone();
    let mut run = Box::pin(async move { engine.event(event).await });
    match poll_once(&mut run).await {
        Some(Err(e)) => return Err(pe_error(e)),
        Some(Ok(_)) => {}
        None => {
            tokio::spawn(async move {
                if let Err(e) = run.await {
                    tracing::warn!("event {what}: {e}");
                }
            });
        }
    }
    Ok(Json(Value::String(eid.to_string())).into_response())
}

/// `/c/{eci}/event-wait/{domain}/{type}`: `{eid, directives}` once the
/// rules have run and their writes are durable.
async fn event_wait(
    State(st): State<AppState>,
    Path((eci, domain, name)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req = Request {
        uri,
        query,
        headers,
        body,
    };
    let eci = Eci::new(eci);
    let attrs = req.attributes(&st, &eci)?;
    check_channel(&st, &eci, Some((&domain, &name)), None)?;
    let answer = st
        .engine
        .event(new_event(&eci, domain, name, attrs))
        .await
        .map_err(pe_error)?;
    Ok(Json(answer).into_response())
}

/// `/c/{eci}/event/{domain}/{type}/query/{rid}/{name}`: the event, then
/// the query with the same attributes as its arguments, queued one right
/// after the other in the pico's mailbox; answers the query's value, or
/// the event's failure.
async fn event_query(
    State(st): State<AppState>,
    Path((eci, domain, name, rid, function)): Path<(String, String, String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req = Request {
        uri,
        query,
        headers,
        body,
    };
    let eci = Eci::new(eci);
    let attrs = req.attributes(&st, &eci)?;
    check_channel(&st, &eci, Some((&domain, &name)), Some((&rid, &function)))?;
    let event = new_event(&eci, domain, name, attrs.clone());
    let engine = st.engine.clone();
    let mut raised = Box::pin(async move { engine.event(event).await });
    let first = poll_once(&mut raised).await;
    if let Some(Err(e)) = first {
        return Err(pe_error(e));
    }
    let engine = st.engine.clone();
    let q_eci = eci.clone();
    let mut asked =
        Box::pin(async move { engine.query(&q_eci, Rid::new(rid), function, attrs).await });
    let early = poll_once(&mut asked).await;
    let raised = match first {
        Some(r) => r,
        None => raised.await,
    };
    raised.map_err(pe_error)?;
    let value = match early {
        Some(v) => v,
        None => asked.await,
    };
    Ok(query_answer(value.map_err(pe_error)?, None))
}

/// `/c/{eci}/query/{rid}/{name}`: the value; `name.txt` and `name.html`
/// answer a string as text or HTML.
async fn query(
    State(st): State<AppState>,
    Path((eci, rid, function)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req = Request {
        uri,
        query,
        headers,
        body,
    };
    let eci = Eci::new(eci);
    let args = req.attributes(&st, &eci)?;
    let (name, as_type) = if let Some(n) = function.strip_suffix(".txt") {
        (n, Some("text/plain; charset=utf-8"))
    } else if let Some(n) = function.strip_suffix(".html") {
        (n, Some("text/html; charset=utf-8"))
    } else {
        (function.as_str(), None)
    };
    check_channel(&st, &eci, None, Some((&rid, name)))?;
    match st
        .engine
        .query(&eci, Rid::new(rid), name.to_string(), args)
        .await
    {
        Ok(v) => Ok(query_answer(v, as_type)),
        Err(e) => Err(pe_error(e)),
    }
}
