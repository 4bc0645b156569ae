//! HTTP: the axum routes of the contract (`/api/*` admin API with a
//! bearer token, Sky `/sky/event` and `/sky/cloud`, the Pico Engine's
//! `/c/` routes in `pico_engine`), request bodies to
//! attributes, and the one app: the contract's routes with the
//! integrations' routers merged in (`mqtt::admin` and `twilio::admin`
//! under `/api`, behind the same token; `statics::routes` at the root),
//! the console (`console::pages` at `/ui/` behind the login cookie,
//! `console::api` under `/api`) and `login` (`/login`, the cookie, `/`).
//! Every failure is answered by `error::ApiError`. Uses: `engine`,
//! `error`, `twilio` (the Sky routes' Twilio behaviour), `mqtt::admin`,
//! `console`, `statics::routes`, `pico`, `ids`, `clock`, axum,
//! serde_json, form_urlencoded, sha2 (and, in `login`, subtle).

use crate::clock::now_ms;
use crate::engine::{Engine, VERSION};
use crate::error::{ApiError, EngineError};
use crate::ids::{Eci, Eid, PicoId, Rid};
use crate::mqtt::admin::MqttAdmin;
use crate::pico::{EventIn, PicoError};
use crate::rulesets::Entry as RulesetEntry;
use crate::twilio::Twilio;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

mod login;
mod pe_ui;
mod pico_engine;

/// The state every handler of the contract's routes gets.
#[derive(Clone)]
struct AppState {
    engine: Arc<Engine>,
    /// The Sky routes' Twilio behaviour (guard, TwiML answers); shared,
    /// as the state is cloned for every request.
    twilio: Arc<Twilio>,
    /// sha256 of the admin token: requests' tokens are hashed and the
    /// digests compared in constant time, so neither the token's bytes
    /// nor its length leak through timing.
    token_hash: [u8; 32],
}

/// The app: the contract's routes, with the integrations' routers merged in.
pub fn router(engine: Arc<Engine>, admin_token: &str) -> Router {
    let twilio = Twilio::new(
        engine.dispatch().clone(),
        engine.settings().public_url.clone(),
        engine.settings().twilio.clone(),
    );
    let mqtt = MqttAdmin::new(engine.dispatch().clone(), engine.mqtt().cloned());
    let statics = engine.statics().cloned();
    let state = AppState {
        engine,
        twilio: Arc::new(twilio.clone()),
        token_hash: Sha256::digest(admin_token.as_bytes()).into(),
    };
    let routing = state
        .engine
        .cluster()
        .map(|c| crate::cluster::route::Routing {
            cluster: c.clone(),
            dispatch: state.engine.dispatch().clone(),
            root: state.engine.meta().root_pico.clone(),
        });
    let internal = match &routing {
        Some(r) => crate::cluster::remote::router(r.clone()),
        None => Router::new(),
    };
    let api = Router::new()
        .route("/engine", get(get_engine))
        .route("/rulesets", post(register_ruleset).get(list_rulesets))
        .route("/rulesets/{rid}", get(get_ruleset))
        .route("/picos", post(new_pico))
        .route("/picos/{id}", get(get_pico).delete(delete_pico))
        .route("/picos/{id}/rulesets", post(install))
        .route("/picos/{id}/rulesets/{rid}", delete(uninstall))
        .route("/picos/{id}/channels", post(new_channel))
        .route("/channels/{eci}", delete(delete_channel))
        .route("/ui-context", get(pe_ui::ui_context))
        .with_state(state.clone())
        .merge(crate::mqtt::admin::router(mqtt))
        .merge(crate::twilio::admin::router(twilio))
        .merge(crate::console::api::router(state.engine.clone()))
        .merge(internal)
        .fallback(no_route)
        // `layer`, not `route_layer`: unknown /api paths need the token
        // too, so they do not reveal which routes exist.
        .layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let pe_ui = if state.engine.settings().pico_engine.is_some() {
        Router::new()
            .route("/", get(pe_ui::index))
            .route("/{*path}", get(pe_ui::file))
            .with_state(state.clone())
    } else {
        Router::new()
    };
    let app = Router::new()
        .merge(pe_ui)
        .route(
            "/sky/event/{eci}/{eid}/{domain}/{type}",
            get(sky_event).post(sky_event),
        )
        .route(
            "/sky/cloud/{eci}/{rid}/{function}",
            get(sky_query).post(sky_query),
        )
        .with_state(state.clone())
        .merge(pico_engine::router(state.clone()))
        .merge(login::router(state.clone()))
        .merge(
            crate::console::pages()
                .layer(middleware::from_fn_with_state(state, login::require_page)),
        )
        .nest("/api", api)
        .merge(crate::statics::routes::router(statics))
        .fallback(no_route)
        .layer(middleware::from_fn(json_refusals));
    // A cluster node forwards requests for other nodes' picos first.
    match routing {
        Some(r) => app.layer(middleware::from_fn_with_state(
            r,
            crate::cluster::route::route,
        )),
        None => app,
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such route: {method} {}", uri.path()),
    )
}

/// axum's and hyper's own refusals as `{"error": ...}` like every other
/// one: a method the route does not take (405, which axum sends with no
/// body; its `Allow` header stays), a path segment that is not UTF-8
/// (400 text/plain), a body over the limit (413 text/plain). Answers
/// that already have another content type (JSON, TwiML) pass untouched.
async fn json_refusals(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status();
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|ct| ct.as_bytes().starts_with(b"text/plain"));
    if !status.is_client_error() || !plain {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        // axum adds the `Allow` header after this layer.
        format!("method {method} is not allowed on {path} (the Allow header lists those that are)")
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// `/api/*` guard: `Authorization: Bearer <admin token>`, or the
/// `krl_admin` cookie of a browser that logged in (`login`).
async fn require_admin(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let given = login::admin_token(req.headers());
    if !given.as_deref().is_some_and(|t| login::token_ok(&st, t)) {
        let why = if given.is_none() {
            "missing admin token (Authorization: Bearer <token>)"
        } else {
            "wrong admin token"
        };
        return ApiError::new(StatusCode::UNAUTHORIZED, why).into_response();
    }
    next.run(req).await
}

/// A JSON admin body; an empty body reads as `{}`.
fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

// ---------------------------------------------------------------- admin

async fn get_engine(State(st): State<AppState>) -> Json<Value> {
    let meta = st.engine.meta();
    Json(json!({
        "version": VERSION,
        "root_eci": meta.root_eci,
        "root_pico": meta.root_pico,
    }))
}

async fn register_ruleset(State(st): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let source = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the ruleset source is not valid UTF-8"))?;
    let r = st.engine.register(source).await?;
    Ok(Json(
        json!({"rid": r.rid, "version": r.version, "hash": r.hash}),
    ))
}

/// A ruleset as the admin API shows it: `{"rid", "version", "hash"}`,
/// with `"source"` when asked, and `"broken": "<line:col: message>"` for a
/// stored ruleset that no longer compiles (its version, hash and source
/// are the stored ones, `null` when the record itself is unreadable).
fn ruleset_json(entry: &RulesetEntry, with_source: bool) -> Value {
    let mut v = match entry {
        RulesetEntry::Ready(r) => {
            json!({"rid": r.rid, "version": r.version, "hash": r.hash, "source": r.source})
        }
        RulesetEntry::Broken(b) => {
            let rec = b.record.as_ref();
            json!({"rid": b.rid, "version": rec.map(|r| &r.version),
                   "hash": rec.map(|r| &r.hash), "source": rec.map(|r| &r.source),
                   "broken": b.error})
        }
    };
    if !with_source {
        if let Some(m) = v.as_object_mut() {
            m.remove("source");
        }
    }
    v
}

async fn list_rulesets(State(st): State<AppState>) -> Json<Value> {
    let all: Vec<Value> = st
        .engine
        .rulesets()
        .iter()
        .map(|e| ruleset_json(e, false))
        .collect();
    Json(Value::Array(all))
}

async fn get_ruleset(
    State(st): State<AppState>,
    Path(rid): Path<String>,
) -> ApiResult<Json<Value>> {
    let entry = st.engine.ruleset_entry(&Rid::new(rid))?;
    Ok(Json(ruleset_json(&entry, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPico {
    parent: Option<PicoId>,
    name: Option<String>,
    /// Installed in order; all or nothing.
    #[serde(default)]
    rulesets: Vec<Install>,
}

async fn new_pico(State(st): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: NewPico = json_body(&body)?;
    let mut rulesets = Vec::new();
    for i in req.rulesets {
        let rid = i
            .rid
            .ok_or_else(|| ApiError::bad_request("missing \"rid\" in \"rulesets\""))?;
        rulesets.push((rid, i.config));
    }
    let (id, eci) = st
        .engine
        .new_pico_with_rulesets(req.parent, req.name, rulesets)
        .await?;
    Ok(Json(json!({"id": id, "eci": eci})))
}

async fn get_pico(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let info = st.engine.pico(&PicoId::new(id))?;
    Ok(Json(
        serde_json::to_value(info).expect("PicoInfo serializes"),
    ))
}

async fn delete_pico(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    st.engine.delete_pico(&PicoId::new(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Install {
    rid: Option<Rid>,
    config: Option<Value>,
}

async fn install(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: Install = json_body(&body)?;
    let rid = req
        .rid
        .ok_or_else(|| ApiError::bad_request("missing \"rid\""))?;
    let id = PicoId::new(id);
    st.engine.install(&id, rid.clone(), req.config).await?;
    Ok(Json(json!({"id": id, "rid": rid})))
}

async fn uninstall(
    State(st): State<AppState>,
    Path((id, rid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    st.engine.uninstall(&PicoId::new(id), Rid::new(rid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    #[serde(default)]
    tags: Vec<String>,
    policy: Option<Value>,
    twilio_auth_token: Option<String>,
}

async fn new_channel(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: NewChannel = json_body(&body)?;
    let eci = st
        .engine
        .new_channel(
            &PicoId::new(id),
            req.tags,
            req.policy,
            req.twilio_auth_token,
        )
        .await?;
    Ok(Json(json!({ "eci": eci })))
}

async fn delete_channel(
    State(st): State<AppState>,
    Path(eci): Path<String>,
) -> ApiResult<StatusCode> {
    st.engine.delete_channel(&Eci::new(eci)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ sky

/// Form-encoded pairs into `attrs` as strings, a later key replacing an
/// earlier one (what `serde_urlencoded` into string pairs gives, without
/// its deserializer: this runs for every Twilio webhook). Never fails:
/// bytes that are not UTF-8 become U+FFFD.
fn insert_form(attrs: &mut Map<String, Value>, form: &[u8]) {
    for (k, v) in form_urlencoded::parse(form) {
        attrs.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}

/// Attributes of an event (or arguments of a query): the query string's
/// parameters, then the body's, the body winning. A body is form-encoded,
/// a JSON object, or empty; anything else is a 400.
fn attributes(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Map<String, Value>> {
    let mut attrs = Map::new();
    if let Some(q) = query {
        insert_form(&mut attrs, q.as_bytes());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(attrs);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => attrs.extend(map),
            Ok(_) => return Err(ApiError::bad_request("the JSON body must be an object")),
            Err(e) => return Err(ApiError::bad_request(format!("invalid JSON body: {e}"))),
        }
    } else if mime == "application/x-www-form-urlencoded" {
        insert_form(&mut attrs, body);
    } else {
        let shown = if content_type.is_empty() {
            "none"
        } else {
            content_type
        };
        return Err(ApiError::bad_request(format!(
            "unsupported content type {shown}: send application/json or \
             application/x-www-form-urlencoded"
        )));
    }
    Ok(attrs)
}

/// Twilio request validation (`twilio::guard`): 403 `{"error"}` and
/// nothing raised when a guarded channel gets an unsigned or forged
/// request. `uri` is the request's own (these routes are not nested), so
/// its path and query are exactly what was sent.
fn twilio_guard(
    st: &AppState,
    eci: &Eci,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<()> {
    st.twilio
        .guard(eci, uri, headers, body)
        .map_err(|r| ApiError::new(r.status, r.message))
}

/// An event. The answer is TwiML (docs/twilio.md) when the domain is
/// `twilio` or the rules produced TwiML verbs, else JSON; a `twilio`
/// event gets TwiML even when it fails.
async fn sky_event(
    State(st): State<AppState>,
    Path((eci, eid, domain, name)): Path<(String, String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_twilio = domain == "twilio";
    let eci = Eci::new(eci);
    if let Err(e) = twilio_guard(&st, &eci, &uri, &headers, &body) {
        return e.into_response();
    }
    let attrs = match attributes(query.as_deref(), &headers, &body) {
        Ok(a) => a,
        Err(e) if is_twilio => return st.twilio.failure(e.status, &e.body.to_string()),
        Err(e) => return e.into_response(),
    };
    // Twilio's voice webhooks carry CallSid: `sms` then writes <Sms>.
    let call = attrs.contains_key("CallSid");
    let eid = if eid == "none" {
        Eid::random()
    } else {
        Eid::new(eid)
    };
    let event = EventIn {
        eci: eci.clone(),
        eid,
        domain: domain.clone(),
        name: name.clone(),
        attrs,
        time_ms: now_ms(),
    };
    let key = crate::idempotency::key_of(&headers);
    match st.engine.event_keyed(event, key).await {
        Ok(answer) if is_twilio || !answer.module_directives.is_empty() => {
            let verbs = crate::twilio::twiml::verbs(&answer.module_directives);
            st.twilio.reply(&eci, call, &verbs)
        }
        Ok(answer) => json_answer(&answer),
        Err(EngineError::Pico(PicoError::Eval(ev))) if is_twilio => {
            st.twilio.eval_failure(&domain, &name, &ev)
        }
        Err(e) if is_twilio => {
            let e = ApiError::from(e);
            st.twilio.failure(e.status, &e.body.to_string())
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `value` as a JSON answer, written into one buffer (axum's `Json`
/// writes piece by piece into a `BytesMut`): every event's answer.
fn json_answer(value: &impl serde::Serialize) -> Response {
    let mut body = Vec::with_capacity(256);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn sky_query(
    State(st): State<AppState>,
    Path((eci, rid, function)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    twilio_guard(&st, &Eci::new(eci.clone()), &uri, &headers, &body)?;
    let args = attributes(query.as_deref(), &headers, &body)?;
    let (name, as_type) = function_type(&function);
    let value = st
        .engine
        .query(&Eci::new(eci), Rid::new(rid), name.to_string(), args)
        .await?;
    Ok(typed_answer(value, as_type))
}

/// A query's function name and the content type its suffix asks for:
/// `f.txt` text, `f.html` HTML, `f` JSON (`None`).
fn function_type(function: &str) -> (&str, Option<&'static str>) {
    if let Some(n) = function.strip_suffix(".txt") {
        (n, Some("text/plain; charset=utf-8"))
    } else if let Some(n) = function.strip_suffix(".html") {
        (n, Some("text/html; charset=utf-8"))
    } else {
        (function, None)
    }
}

/// A query's value as JSON, or with a content type a string as is and
/// anything else as its JSON text.
fn typed_answer(value: Value, as_type: Option<&'static str>) -> Response {
    match (value, as_type) {
        (value, None) => Json(value).into_response(),
        (Value::String(s), Some(ct)) => ([(header::CONTENT_TYPE, ct)], s).into_response(),
        (other, Some(ct)) => ([(header::CONTENT_TYPE, ct)], other.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn form_pairs_read_as_serde_urlencoded_reads_them() {
        for form in [
            "From=%2B15551234&Digits=1",
            "a=1&a=2&b=&c",
            "sp=a+b%20c&u=%C3%A9&bad=%FF%FE&amp=%26&eq=x%3Dy",
            "",
            "&&=&x=1",
        ] {
            let mut ours = Map::new();
            insert_form(&mut ours, form.as_bytes());
            let mut theirs = Map::new();
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(form).unwrap();
            for (k, v) in pairs {
                theirs.insert(k, Value::String(v));
            }
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&theirs).unwrap(),
                "{form}"
            );
        }
    }

    #[test]
    fn body_wins_over_query_string() {
        let a = attributes(
            Some("a=1&b=2"),
            &headers("application/json"),
            &Bytes::from(r#"{"b": 3, "c": [1]}"#),
        )
        .unwrap();
        assert_eq!(Value::Object(a), json!({"a": "1", "b": 3, "c": [1]}));
    }

    #[test]
    fn form_bodies_and_charset_parameters() {
        let a = attributes(
            None,
            &headers("application/x-www-form-urlencoded; charset=UTF-8"),
            &Bytes::from("From=%2B15551234&Body=hi+there"),
        )
        .unwrap();
        assert_eq!(
            Value::Object(a),
            json!({"From": "+15551234", "Body": "hi there"})
        );
    }

    #[test]
    fn empty_body_needs_no_content_type() {
        let a = attributes(Some("x=1"), &HeaderMap::new(), &Bytes::new()).unwrap();
        assert_eq!(Value::Object(a), json!({"x": "1"}));
    }

    #[test]
    fn bad_bodies_are_400() {
        let cases = [
            ("application/json", "{not json"),
            ("application/json", "[1, 2]"),
            ("text/plain", "hello"),
            ("", "a=1"),
        ];
        for (ct, body) in cases {
            let h = if ct.is_empty() {
                HeaderMap::new()
            } else {
                headers(ct)
            };
            let err = attributes(None, &h, &Bytes::from(body)).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{ct} {body}");
        }
    }
}
