//! The durable Twilio outbox's entries: `twilio:send_sms`, `twilio:call`
//! and `twilio:redirect_call` from rules are stored here with the event's
//! writes, and sent to Twilio's REST API by the sender (`sender`) once
//! the event that asked for them is on disk. Uses: `effects`, `store`,
//! `ids`, `clock`, `twilio::twiml` (callback URLs). docs/twilio.md tells
//! the story.
//!
//! [`OutboxConfig`] implements [`crate::effects::TwilioOutbox`], which is
//! all the host and the pico know of the outbox (`engine::open` plugs it
//! in): the host ([`crate::host::PicoHost`]) stores an [`Entry`] (state
//! `queued`) in the event's write buffer ([`new_entry`]); the rule gets
//! `{"id", "status": "queued"}`. The pico wakes the sender
//! ([`OutboxConfig::wake`]) after the buffer is applied. The admin API
//! lists the entries ([`list`], `GET /api/outbox`).

use crate::clock::now_ms;
use crate::effects::TwilioOutbox;
use crate::ids::{random_base62, Eci, PicoId};
use crate::store::{Key, Store, WriteBuf};
use krl_lang::engine::TwilioRequest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Notify;

/// One outbox entry, as stored under `O id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Time-ordered id (13 hex digits of µs, 6 random characters).
    pub id: String,
    /// The pico whose rule queued it.
    pub pico: PicoId,
    /// The channel of the event that queued it; results are raised there.
    pub eci: Eci,
    /// The ruleset that queued it.
    pub rid: String,
    /// `send_sms`, `call` or `redirect_call`.
    pub action: String,
    /// Form parameters (URLs resolved).
    pub params: Vec<(String, String)>,
    /// For `redirect_call`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sid: Option<String>,
    /// Account SID (in the path, and the basic-auth user).
    pub account_sid: String,
    /// Auth token. Never listed by the admin API, never logged.
    pub auth_token: String,
    /// `queued`, `sent` or `failed`.
    pub state: String,
    /// ms since the Unix epoch.
    pub created_ms: f64,
    /// POSTs started so far.
    pub attempts: u32,
    /// Not before this time (ms since the Unix epoch).
    pub next_attempt_ms: f64,
    /// Twilio's sid once sent.
    #[serde(default)]
    pub sid: Option<String>,
    /// Twilio's `status` once sent.
    #[serde(default)]
    pub status: Option<String>,
    /// Twilio's error code on failure.
    #[serde(default)]
    pub error_code: Option<Value>,
    /// Twilio's (or the transport's) error message.
    #[serde(default)]
    pub error_message: Option<String>,
    /// HTTP status of the last answer.
    #[serde(default)]
    pub http_status: Option<u16>,
}

impl Entry {
    /// The entry as the admin API shows it: everything but the token.
    pub fn public(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("auth_token");
        }
        v
    }

    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The REST URL of this request under `api` (`--twilio-api-url`).
    pub(super) fn url(&self, api: &str) -> String {
        let base = format!(
            "{}/2010-04-01/Accounts/{}",
            api.trim_end_matches('/'),
            self.account_sid
        );
        match self.action.as_str() {
            "send_sms" => format!("{base}/Messages.json"),
            "call" => format!("{base}/Calls.json"),
            _ => format!(
                "{base}/Calls/{}.json",
                self.call_sid.as_deref().unwrap_or("")
            ),
        }
    }

    /// The result event's names: (success, failure).
    pub(super) fn event_names(&self) -> (&'static str, &'static str) {
        match self.action.as_str() {
            "send_sms" => ("sms_sent", "sms_failed"),
            "call" => ("call_started", "call_failed"),
            _ => ("call_redirected", "call_redirect_failed"),
        }
    }
}

/// What hosts need to queue requests: the engine's default credentials,
/// the public URL (callback URLs) and the sender's wake-up.
pub struct OutboxConfig {
    /// `--twilio-account-sid`.
    pub account_sid: Option<String>,
    /// `--twilio-auth-token`.
    pub auth_token: Option<String>,
    /// `--public-url`.
    pub public_url: String,
    /// Notified after a batch holding new entries is applied.
    pub wake: Arc<Notify>,
}

impl std::fmt::Debug for OutboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<set>"))
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// What the hosts and picos see of the outbox.
impl TwilioOutbox for OutboxConfig {
    fn public_url(&self) -> &str {
        &self.public_url
    }

    fn new_entry(
        &self,
        pico: &PicoId,
        request: &TwilioRequest,
        buf: &mut WriteBuf,
    ) -> Result<Value, String> {
        new_entry(self, pico, request, buf)
    }

    /// Wakes the sender.
    fn committed(&self) {
        self.wake.notify_one();
    }
}

/// The entry for `req` queued by `pico`, put in `buf`; the value the rule
/// gets. Credentials: the request's, else the engine's; none is an error
/// naming what is missing.
pub fn new_entry(
    cfg: &OutboxConfig,
    pico: &PicoId,
    req: &TwilioRequest,
    buf: &mut WriteBuf,
) -> Result<Value, String> {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let (account_sid, auth_token) = match &req.credentials {
        Some((sid, token)) if !sid.is_empty() && !token.is_empty() => (sid.clone(), token.clone()),
        _ => match (nonempty(&cfg.account_sid), nonempty(&cfg.auth_token)) {
            (Some(s), Some(t)) => (s, t),
            (sid, token) => {
                let mut missing = Vec::new();
                if sid.is_none() {
                    missing.push("account SID (--twilio-account-sid or KRL_TWILIO_ACCOUNT_SID)");
                }
                if token.is_none() {
                    missing.push("auth token (--twilio-auth-token or KRL_TWILIO_AUTH_TOKEN)");
                }
                return Err(format!(
                    "twilio:{}: no Twilio credentials: the ruleset gives no account_sid/auth_token \
                     (twilio keys or install config) and the engine has no {}",
                    req.action,
                    missing.join(" and no ")
                ));
            }
        },
    };
    if req.action == "redirect_call" && req.call_sid.as_deref().unwrap_or("").is_empty() {
        return Err("twilio:redirect_call needs a call_sid".into());
    }
    let params = req
        .params
        .iter()
        .map(|(k, v)| {
            let v = if k == "Url" || k == "StatusCallback" {
                super::twiml::callback_url(v, &cfg.public_url, &req.eci)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let now = now_ms();
    let id = format!("{:013x}{}", (now * 1000.0) as u64, random_base62(6));
    let entry = Entry {
        id: id.clone(),
        pico: pico.clone(),
        eci: Eci::new(req.eci.clone()),
        rid: req.rid.clone(),
        action: req.action.clone(),
        params,
        call_sid: req.call_sid.clone(),
        account_sid,
        auth_token,
        state: "queued".into(),
        created_ms: now,
        attempts: 0,
        next_attempt_ms: now,
        sid: None,
        status: None,
        error_code: None,
        error_message: None,
        http_status: None,
    };
    buf.put(Key::outbox(&id), &entry);
    Ok(json!({"id": id, "status": "queued"}))
}

/// All entries, oldest first; only those in `state` when given.
pub fn list(store: &Store, state: Option<&str>) -> crate::store::Result<Vec<Entry>> {
    Ok(store
        .scan::<Entry>(&Key::outboxes())?
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| state.is_none_or(|s| e.state == s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(credentials: Option<(&str, &str)>) -> TwilioRequest {
        TwilioRequest {
            action: "send_sms".into(),
            params: vec![("To".into(), "+1".into()), ("Body".into(), "hi".into())],
            call_sid: None,
            credentials: credentials.map(|(a, b)| (a.into(), b.into())),
            eci: "e".into(),
            rid: "r".into(),
            rule: None,
        }
    }

    #[test]
    fn credentials_come_from_the_request_else_the_engine() {
        let mut cfg = OutboxConfig {
            account_sid: None,
            auth_token: Some("s3cr3t".into()),
            public_url: "http://x".into(),
            wake: Arc::default(),
        };
        let mut buf = WriteBuf::new();
        let err = new_entry(&cfg, &PicoId::new("p"), &req(None), &mut buf).unwrap_err();
        assert!(err.contains("account SID"), "{err}");
        assert!(!err.contains("s3cr3t"));
        assert!(new_entry(&cfg, &PicoId::new("p"), &req(Some(("AC1", "t"))), &mut buf).is_ok());
        cfg.account_sid = Some("AC2".into());
        let v = new_entry(&cfg, &PicoId::new("p"), &req(None), &mut buf).unwrap();
        assert_eq!(v["status"], "queued");
    }
}
