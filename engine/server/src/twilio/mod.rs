//! Twilio: the TwiML reply to an event ([`twiml`]), `X-Twilio-Signature`
//! checks ([`signature`]), the durable outbox of REST requests
//! ([`outbox`]: the entries rules queue; [`sender`]: the task that sends
//! them), the admin routes ([`admin`]: `GET /api/outbox`,
//! `GET /api/picos/{id}/sessions`), and here the settings and flags and
//! the webhook glue the Sky routes call ([`Twilio`]): which token guards a
//! channel and the TwiML answers for success and failure. Twilio's
//! webhooks are the contract's Sky routes
//! (`/sky/event/{eci}/none/twilio/{type}`), which stay in `http`; this
//! module gives them their Twilio behaviour. docs/twilio.md tells the
//! story.
//!
//! Layers: the whole folder sits above the `dispatch` layer, and nothing
//! below `dispatch` names it. `twiml` and `signature` name nothing else
//! of this crate; `outbox` names `effects` (its `OutboxConfig` is the
//! [`crate::effects::TwilioOutbox`] the host writes entries through),
//! `store`, `ids`, `clock` and `twiml`; `sender`, `admin` and this file
//! use the `dispatch` layer (and `error`, `pico`, `host`), never `engine`
//! or `http`.

pub mod admin;
pub mod outbox;
pub mod sender;
pub mod signature;
pub use krl_lang::modules::twilio::reply as twiml;

use crate::dispatch::Dispatch;
use crate::ids::Eci;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use krl_lang::engine::EvalError;

/// What a caller hears when the rules fail on a `twilio` event, unless
/// `--twilio-apology` says otherwise.
pub const DEFAULT_APOLOGY: &str = "Sorry, something went wrong.";

/// The engine's Twilio settings (in `engine::Settings`).
#[derive(Clone)]
pub struct TwilioSettings {
    /// Engine-wide auth token (`--twilio-auth-token`): every Sky request
    /// to a channel without a token of its own must be signed with it.
    pub auth_token: Option<String>,
    /// Engine-wide account SID (`--twilio-account-sid`): with the token,
    /// the credentials of REST requests whose ruleset gives none.
    pub account_sid: Option<String>,
    /// Said (in a `<Say>`) when an evaluation fails on a `twilio` event;
    /// empty: an empty `<Response/>`.
    pub apology: String,
    /// How long a call session (`session:` variables) lives after its
    /// last write, unless the call's `completed` status ends it first
    /// (`--call-session-ttl`).
    pub call_session_ttl: std::time::Duration,
}

impl Default for TwilioSettings {
    fn default() -> TwilioSettings {
        TwilioSettings {
            auth_token: None,
            account_sid: None,
            apology: DEFAULT_APOLOGY.to_string(),
            call_session_ttl: crate::host::DEFAULT_SESSION_TTL,
        }
    }
}

impl std::fmt::Debug for TwilioSettings {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<set>"))
            .field("account_sid", &self.account_sid)
            .field("apology", &self.apology)
            .field("call_session_ttl", &self.call_session_ttl)
            .finish()
    }
}

/// `krl serve`'s Twilio flags (docs/twilio.md).
#[derive(clap::Args, Clone)]
pub struct TwilioArgs {
    /// Auth token for X-Twilio-Signature checks on every Sky request to a
    /// channel that has no token of its own (docs/twilio.md).
    #[arg(long, env = "KRL_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Account SID of outgoing REST requests (`twilio:send_sms`, ...)
    /// whose ruleset gives no credentials; used with the auth token.
    #[arg(long, env = "KRL_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// What callers hear when the rules fail on a twilio event ("" for an
    /// empty <Response/>).
    #[arg(long, env = "KRL_TWILIO_APOLOGY", default_value = DEFAULT_APOLOGY)]
    pub twilio_apology: String,
    /// Seconds a call session (session: variables) lives after its last
    /// write when no "completed" status callback ends it (decimals allowed).
    #[arg(long, env = "KRL_CALL_SESSION_TTL", default_value = "14400",
          value_parser = parse_ttl)]
    pub call_session_ttl: std::time::Duration,
}

/// A positive number of seconds.
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(std::time::Duration::from_secs_f64(n)),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

impl From<TwilioArgs> for TwilioSettings {
    fn from(a: TwilioArgs) -> TwilioSettings {
        TwilioSettings {
            auth_token: a.twilio_auth_token.filter(|t| !t.is_empty()),
            account_sid: a.twilio_account_sid.filter(|t| !t.is_empty()),
            apology: a.twilio_apology,
            call_session_ttl: a.call_session_ttl,
        }
    }
}

/// The token that guards a channel: its own, else the engine's. An empty
/// token counts as none.
pub fn token_for<'a>(channel: Option<&'a str>, engine: Option<&'a str>) -> Option<&'a str> {
    channel
        .filter(|t| !t.is_empty())
        .or(engine.filter(|t| !t.is_empty()))
}

/// A refused request: its status and message.
#[derive(Debug)]
pub struct Refusal {
    /// 403, or 500 when the channel could not be read.
    pub status: StatusCode,
    /// For `{"error": ...}`.
    pub message: String,
}

/// Is the body `application/x-www-form-urlencoded` (parameters ignored)?
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The Twilio side of the HTTP edge: what the Sky routes ask of it
/// ([`Twilio::guard`], the TwiML answers) and the state of its admin
/// routes ([`admin::router`]). Cheap to clone.
#[derive(Clone)]
pub struct Twilio {
    dispatch: Dispatch,
    /// `--public-url`: signatures and TwiML URLs are made for it.
    public_url: String,
    settings: TwilioSettings,
}

impl Twilio {
    /// The webhook glue and admin routes over `dispatch`, for an engine
    /// reached at `public_url` with `settings`.
    pub fn new(dispatch: Dispatch, public_url: String, settings: TwilioSettings) -> Twilio {
        Twilio {
            dispatch,
            public_url,
            settings,
        }
    }

    /// Twilio request validation of a Sky request to `eci` (docs/spec/http-api.md):
    /// when the channel carries a Twilio auth token, or the engine has one,
    /// the request must carry a valid `X-Twilio-Signature` for the public URL
    /// plus `uri`'s path and query; otherwise 403 and nothing is raised. An
    /// unknown channel is left to the route (404), unless the engine's token
    /// applies, which is checked first.
    pub fn guard(
        &self,
        eci: &Eci,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Refusal> {
        // The dispatch's cache: no store read per request.
        let channel = match self.dispatch.channel_record(eci) {
            Ok(entry) => Some(entry.0.clone()),
            Err(crate::error::EngineError::UnknownEci(_)) => None,
            // (an unreadable policy: the record itself, from the store)
            Err(_) => self.dispatch.store().channel(eci).map_err(|e| Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: e.to_string(),
            })?,
        };
        let Some(token) = token_for(
            channel
                .as_ref()
                .and_then(|c| c.twilio_auth_token.as_deref()),
            self.settings.auth_token.as_deref(),
        ) else {
            return Ok(());
        };
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let url = signature::request_url(&self.public_url, target);
        let req = signature::SignedRequest {
            url: &url,
            signature: headers
                .get(signature::HEADER)
                .map(|v| v.to_str().unwrap_or("")),
            form: is_form(headers),
            body,
        };
        signature::check(token, &req).map_err(|why| {
            // The URL used, never the token (docs/spec/twilio.md 3.5).
            tracing::warn!(%eci, %url, "Twilio request refused: {why}");
            Refusal {
                status: StatusCode::FORBIDDEN,
                message: why.to_string(),
            }
        })
    }

    /// The answer to an event that produced `verbs` (or is a `twilio` event):
    /// the TwiML document, or, when a `raw_response` is not well-formed, the
    /// apology (the error is logged).
    pub fn reply(&self, eci: &Eci, call: bool, verbs: &[twiml::Verb]) -> Response {
        let cx = twiml::ReplyContext {
            public_url: &self.public_url,
            eci: eci.as_str(),
            call,
        };
        match twiml::render(verbs, &cx) {
            Ok(doc) => {
                if doc.len() > 64 * 1024 {
                    // Twilio refuses documents over 64 KB (error 11750).
                    tracing::warn!(%eci, bytes = doc.len(), "TwiML reply is over Twilio's 64 KB limit");
                }
                xml(StatusCode::OK, doc)
            }
            Err(e) => {
                tracing::error!(
                    %eci,
                    rid = %e.rid,
                    rule = %e.rule,
                    line = e.line.unwrap_or(0),
                    col = e.col.unwrap_or(0),
                    "TwiML reply failed: twilio:raw_response: {}",
                    e.message
                );
                xml(StatusCode::OK, twiml::apology(&self.settings.apology))
            }
        }
    }

    /// The answer to a `twilio` event whose evaluation failed: 200 with the
    /// apology, so that the caller hears it; the error is logged with where
    /// it happened.
    pub fn eval_failure(&self, domain: &str, name: &str, e: &EvalError) -> Response {
        tracing::error!(
            rid = %e.rid,
            rule = e.rule.as_deref().unwrap_or("-"),
            line = e.line.unwrap_or(0),
            col = e.col.unwrap_or(0),
            "event {domain}:{name} failed: {}",
            e.message
        );
        xml(StatusCode::OK, twiml::apology(&self.settings.apology))
    }

    /// The answer to a `twilio` event refused before evaluation (unknown
    /// channel, policy, bad body, ...): its status, with the apology as a
    /// valid TwiML body.
    /// The reason is also in the header `X-KRL-Error` (Twilio ignores
    /// it; `krl call` prints it instead of the apology).
    pub fn failure(&self, status: StatusCode, message: &str) -> Response {
        tracing::warn!("twilio event refused ({status}): {message}");
        let mut res = xml(status, twiml::apology(&self.settings.apology));
        let reason = serde_json::from_str::<serde_json::Value>(message)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| message.to_string());
        let visible: String = reason
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = axum::http::HeaderValue::from_str(&visible) {
            res.headers_mut().insert("x-krl-error", v);
        }
        res
    }
}

/// A TwiML answer.
pub fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_token_wins_and_empty_is_none() {
        assert_eq!(token_for(Some("c"), Some("e")), Some("c"));
        assert_eq!(token_for(None, Some("e")), Some("e"));
        assert_eq!(token_for(Some(""), Some("e")), Some("e"));
        assert_eq!(token_for(Some(""), Some("")), None);
        assert_eq!(token_for(None, None), None);
    }

    #[test]
    fn debug_hides_the_token() {
        let s = TwilioSettings {
            auth_token: Some("s3cret".into()),
            account_sid: None,
            apology: "x".into(),
            ..TwilioSettings::default()
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn form_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_form(&h));
        h.insert(
            header::CONTENT_TYPE,
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        assert!(is_form(&h));
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_form(&h));
    }
}
