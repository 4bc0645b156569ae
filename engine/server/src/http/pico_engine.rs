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

use super::{attributes, function_type, twilio_guard, typed_answer, ApiResult, AppState};
use crate::clock::now_ms;
use crate::error::{ApiError, EngineError};
use crate::ids::{Eci, Eid, Rid};
use crate::pico::{EventIn, PicoError};
use crate::policy::Verdict;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, State};
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

/// What every `/c/` request brings besides its path (an extractor).
struct Request {
    uri: Uri,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Request {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let uri = parts.uri.clone();
        let headers = parts.headers.clone();
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Request {
            query: uri.query().map(str::to_string),
            uri,
            headers,
            body,
        })
    }
}

impl Request {
    /// The Twilio guard of the channel (a guarded channel is not opened
    /// by another route), then the attributes: query string and body, as
    /// the Sky routes read them.
    fn attributes(&self, st: &AppState, eci: &Eci) -> ApiResult<Map<String, Value>> {
        twilio_guard(st, eci, &self.uri, &self.headers, &self.body).map_err(pe_refusal)?;
        let mut attrs =
            attributes(self.query.as_deref(), &self.headers, &self.body).map_err(pe_refusal)?;
        attrs.insert(
            "_headers".into(),
            Value::Object(headers_attr(&self.headers)),
        );
        Ok(attrs)
    }
}

/// The request's headers as the Pico Engine passes them to rules
/// (`_headers`: lower-case names, values as strings; a repeated header's
/// values joined with `, `), without the credentials (`authorization`,
/// `cookie`): a rule that stores its attributes must never store the
/// admin token.
fn headers_attr(headers: &HeaderMap) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if name == "authorization" || name == "cookie" {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name) {
            Some(Value::String(v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            _ => {
                out.insert(name.to_string(), Value::String(value));
            }
        }
    }
    out
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
        EngineError::FamilyChannel(_) => {
            "This is a family channel and only the owner can use it.".to_string()
        }
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
    let found = st
        .engine
        .dispatch()
        .channel_record(eci)
        .map_err(|e| match e {
            EngineError::Denied(text) => refuse(StatusCode::FORBIDDEN, text),
            e => pe_error(e),
        })?;
    let (channel, policy) = &*found;
    crate::dispatch::family_check(eci, channel, None).map_err(pe_error)?;
    let Some(policy) = policy else {
        return Ok(());
    };
    let verdicts = event
        .map(|(domain, name)| policy.event_verdict(domain, name))
        .into_iter()
        .chain(query.map(|(rid, name)| policy.query_verdict(rid, name)));
    for verdict in verdicts {
        let text = match verdict {
            Verdict::Allowed => continue,
            Verdict::Denied => "Denied by channel policy",
            Verdict::NotAllowed => "Not allowed by channel policy",
        };
        return Err(refuse(StatusCode::FORBIDDEN, text));
    }
    Ok(())
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

/// A query's value as the Pico Engine answers it: as the Sky route does
/// ([`typed_answer`]), but a null value is an empty body.
fn query_answer(value: Value, as_type: Option<&'static str>) -> Response {
    match value {
        Value::Null => (
            [(header::CONTENT_TYPE, as_type.unwrap_or("application/json"))],
            "",
        )
            .into_response(),
        value => typed_answer(value, as_type),
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
    req: Request,
) -> ApiResult<Response> {
    let eci = Eci::new(eci);
    let attrs = req.attributes(&st, &eci)?;
    check_channel(&st, &eci, Some((&domain, &name)), None)?;
    let event = new_event(&eci, domain, name, attrs);
    let eid = event.eid.clone();
    let what = format!("{}:{} to {eci}", event.domain, event.name);
    let engine = st.engine.clone();
    let key = crate::idempotency::key_of(&req.headers);
    let mut run = Box::pin(async move { engine.event_keyed(event, key).await });
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
    req: Request,
) -> ApiResult<Response> {
    let eci = Eci::new(eci);
    let attrs = req.attributes(&st, &eci)?;
    check_channel(&st, &eci, Some((&domain, &name)), None)?;
    let answer = st
        .engine
        .event_keyed(
            new_event(&eci, domain, name, attrs),
            crate::idempotency::key_of(&req.headers),
        )
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
    req: Request,
) -> ApiResult<Response> {
    let eci = Eci::new(eci);
    let attrs = req.attributes(&st, &eci)?;
    check_channel(&st, &eci, Some((&domain, &name)), Some((&rid, &function)))?;
    let event = new_event(&eci, domain, name, attrs.clone());
    let engine = st.engine.clone();
    let key = crate::idempotency::key_of(&req.headers);
    let mut raised = Box::pin(async move { engine.event_keyed(event, key).await });
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
    req: Request,
) -> ApiResult<Response> {
    let eci = Eci::new(eci);
    let args = req.attributes(&st, &eci)?;
    let (name, as_type) = function_type(&function);
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
