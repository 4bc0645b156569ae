//! The durable Twilio outbox: `twilio:send_sms`, `twilio:call` and
//! `twilio:redirect_call` from rules, sent to Twilio's REST API after the
//! event that asked for them is on disk. Uses: `store`, `engine`, `ids`,
//! `pico` (events), reqwest, tokio. docs/twilio.md tells the story.
//!
//! 1. The host ([`crate::host::PicoHost`]) stores an [`Entry`] (state
//!    `queued`) in the event's write buffer ([`new_entry`]); the rule gets
//!    `{"id", "status": "queued"}`. The pico wakes the sender after the
//!    buffer is applied.
//! 2. The sender ([`run`], started by `krl serve`) waits for a group flush
//!    (so every entry it sees is durable), then POSTs each due `queued`
//!    entry. The attempt count is stored (durably) before each POST.
//! 3. 2xx: the returned `sid` and state `sent` are stored durably BEFORE
//!    the result event (`twilio sms_sent`, `call_started`,
//!    `call_redirected`) is raised. 5xx, 429 (honouring `Retry-After`),
//!    timeouts and connection errors: retried with exponential backoff
//!    ([`backoff`]) up to [`MAX_ATTEMPTS`], then `failed`. Other 4xx:
//!    `failed` at once with Twilio's `code`/`message`, and `twilio
//!    sms_failed` (`call_failed`, `call_redirect_failed`) is raised.
//!
//! Exactly once: an entry in state `sent` (it has its `sid`) is never sent
//! again. Queued entries are resumed at start-up; one whose POST was in
//! flight when the engine died is sent again, which duplicates the message
//! only if Twilio had accepted it and the crash came before its sid was
//! stored.

use crate::engine::Engine;
use crate::ids::{random_base62, Eci, Eid, PicoId};
use crate::pico::{now_ms, EventIn};
use crate::store::{Key, Store, WriteBuf};
use krl_lang::engine::TwilioRequest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// Attempts before an entry that keeps meeting 5xx/429/timeouts fails.
pub const MAX_ATTEMPTS: u32 = 8;
/// First retry delay; doubled each attempt.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay (also caps `Retry-After`).
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

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

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The REST URL of this request under `api` (`--twilio-api-url`).
    fn url(&self, api: &str) -> String {
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
    fn event_names(&self) -> (&'static str, &'static str) {
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

/// The retry delay after `attempts` failed attempts: 1 s, 2 s, 4 s, ...
/// capped at [`BACKOFF_CAP`], plus up to 10% jitter.
pub fn backoff(attempts: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    let d = exp.min(BACKOFF_CAP);
    d + d.mul_f64(rand::random::<f64>() * 0.1)
}

/// The sender: runs until the engine is dropped. Started by `krl serve`.
pub async fn run(engine: Weak<Engine>, api_url: String, timeout: Duration) {
    let Some(e) = engine.upgrade() else { return };
    let wake = e.outbox_config().wake.clone();
    drop(e);
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(err) => {
            tracing::error!("twilio outbox: cannot build the HTTP client: {err}");
            return;
        }
    };
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        let next_due = {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let store = engine.store().clone();
            // Everything applied so far is on disk after this flush: no
            // request goes out for an entry a crash could take back.
            if let Err(err) = store.flush_ticket().wait().await {
                tracing::error!("twilio outbox: {err}");
            }
            let entries = match list(&store, Some("queued")) {
                Ok(e) => e,
                Err(err) => {
                    tracing::error!("twilio outbox: {err}");
                    Vec::new()
                }
            };
            let now = now_ms();
            let mut next_due: Option<f64> = None;
            for entry in entries {
                if in_flight
                    .lock()
                    .expect("no panics under the lock")
                    .contains(&entry.id)
                {
                    continue;
                }
                if entry.next_attempt_ms <= now {
                    in_flight
                        .lock()
                        .expect("no panics under the lock")
                        .insert(entry.id.clone());
                    let (engine, client, api, flight, wake) = (
                        engine.clone(),
                        client.clone(),
                        api_url.clone(),
                        in_flight.clone(),
                        wake.clone(),
                    );
                    tokio::spawn(async move {
                        let id = entry.id.clone();
                        attempt(&engine, &client, &api, entry).await;
                        flight.lock().expect("no panics under the lock").remove(&id);
                        wake.notify_one();
                    });
                } else {
                    next_due = Some(
                        next_due.map_or(entry.next_attempt_ms, |d| d.min(entry.next_attempt_ms)),
                    );
                }
            }
            next_due
        };
        let sleep = next_due.map_or(Duration::from_secs(60), |d| {
            Duration::from_millis((d - now_ms()).max(0.0) as u64)
        });
        tokio::select! {
            () = wake.notified() => {},
            () = tokio::time::sleep(sleep) => {},
        }
    }
}

/// Stores `entry` and waits until it is on disk.
async fn save(store: &Store, entry: &Entry) -> bool {
    let mut buf = WriteBuf::new();
    buf.put(Key::outbox(&entry.id), entry);
    match store.commit(buf).await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(id = %entry.id, "twilio outbox: cannot store the entry: {err}");
            false
        }
    }
}

/// What one POST came to.
enum Outcome {
    Sent(Value),
    Retry(String, Option<Duration>),
    Failed(Option<Value>, String),
}

/// One POST of `entry`, and what follows from its answer.
async fn attempt(engine: &Arc<Engine>, client: &reqwest::Client, api: &str, mut entry: Entry) {
    let store = engine.store().clone();
    // Re-read: never send an entry that is no longer queued.
    match store.get::<Entry>(&Key::outbox(&entry.id)) {
        Ok(Some(e)) if e.state == "queued" && e.sid.is_none() => entry = e,
        _ => return,
    }
    entry.attempts += 1;
    if !save(&store, &entry).await {
        return;
    }
    let body = serde_urlencoded::to_string(&entry.params).unwrap_or_default();
    let res = client
        .post(entry.url(api))
        .basic_auth(&entry.account_sid, Some(&entry.auth_token))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await;
    let outcome = match res {
        Err(err) => Outcome::Retry(
            if err.is_timeout() {
                "timed out".to_string()
            } else {
                format!("request failed: {}", without_url(&err))
            },
            None,
        ),
        Ok(resp) => {
            let status = resp.status();
            entry.http_status = Some(status.as_u16());
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| retry_after(s, now_ms()));
            let body: Value = match resp.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Err(err) if status.is_success() => {
                    // Accepted, but the answer was cut: retrying could
                    // duplicate; record it as sent without a sid.
                    tracing::warn!(id = %entry.id, "twilio outbox: answer not read: {}", without_url(&err));
                    Value::Null
                }
                Err(_) => Value::Null,
            };
            if status.is_success() {
                Outcome::Sent(body)
            } else if status.as_u16() == 429 || status.is_server_error() {
                Outcome::Retry(
                    format!("HTTP {}: {}", status.as_u16(), error_text(&body)),
                    retry_after,
                )
            } else {
                Outcome::Failed(body.get("code").cloned(), error_text(&body))
            }
        }
    };
    let (ok_name, fail_name) = entry.event_names();
    let to = entry
        .param("To")
        .map(str::to_string)
        .or_else(|| entry.call_sid.clone());
    match outcome {
        Outcome::Sent(body) => {
            entry.state = "sent".into();
            entry.sid = body.get("sid").and_then(Value::as_str).map(str::to_string);
            entry.status = body
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string);
            entry.error_message = None;
            if !save(&store, &entry).await {
                return;
            }
            tracing::info!(id = %entry.id, sid = ?entry.sid, "twilio outbox: {} sent", entry.action);
            raise(
                engine,
                &entry,
                ok_name,
                json!({"id": entry.id, "sid": entry.sid, "status": entry.status, "to": to}),
            )
            .await;
        }
        Outcome::Retry(why, retry_after) if entry.attempts < MAX_ATTEMPTS => {
            let delay = retry_after.unwrap_or_else(|| backoff(entry.attempts));
            entry.next_attempt_ms = now_ms() + delay.as_millis() as f64;
            tracing::warn!(id = %entry.id, attempts = entry.attempts, "twilio outbox: {why}; retry in {delay:?}");
            entry.error_message = Some(why);
            save(&store, &entry).await;
        }
        Outcome::Retry(why, _) => {
            let message = format!("gave up after {} attempts: {why}", entry.attempts);
            fail(engine, &store, entry, None, message, fail_name, to).await;
        }
        Outcome::Failed(code, message) => {
            fail(engine, &store, entry, code, message, fail_name, to).await;
        }
    }
}

async fn fail(
    engine: &Arc<Engine>,
    store: &Store,
    mut entry: Entry,
    code: Option<Value>,
    message: String,
    name: &str,
    to: Option<String>,
) {
    entry.state = "failed".into();
    entry.error_code = code.clone();
    entry.error_message = Some(message.clone());
    if !save(store, &entry).await {
        return;
    }
    tracing::warn!(id = %entry.id, "twilio outbox: {} failed: {message}", entry.action);
    raise(
        engine,
        &entry,
        name,
        json!({"id": entry.id, "code": code, "message": message,
               "status": entry.http_status, "to": to}),
    )
    .await;
}

/// The delay a `Retry-After` value asks for, `now_ms` being the current
/// time (ms since the Unix epoch): seconds (`120`, fractions accepted), or
/// an HTTP-date (RFC 7231 7.1.1.1: the IMF-fixdate `Wed, 21 Oct 2026
/// 07:28:00 GMT`, and the obsolete RFC 850 and asctime forms recipients
/// must accept), a date in the past meaning now. Capped at
/// [`BACKOFF_CAP`]; `None` for anything else (the backoff applies).
pub fn retry_after(value: &str, now_ms: f64) -> Option<Duration> {
    let value = value.trim();
    let secs = if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        value.parse::<f64>().ok()?
    } else {
        let at_ms = http_date_ms(value)?;
        ((at_ms - now_ms) / 1000.0).max(0.0)
    };
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(BACKOFF_CAP.as_secs_f64())))
}

/// An HTTP-date as ms since the Unix epoch (always GMT).
fn http_date_ms(s: &str) -> Option<f64> {
    use chrono::NaiveDateTime;
    // IMF-fixdate: RFC 5322's date-time with GMT as the zone.
    let at = chrono::DateTime::parse_from_rfc2822(s)
        .ok()
        .filter(|_| s.ends_with(" GMT"))
        .map(|d| d.naive_utc())
        // RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`), then asctime
        // (`Sun Nov  6 08:49:37 1994`).
        .or_else(|| NaiveDateTime::parse_from_str(s, "%A, %d-%b-%y %H:%M:%S GMT").ok())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%a %b %e %H:%M:%S %Y").ok())?;
    Some(at.and_utc().timestamp_millis() as f64)
}

/// Twilio's error message from an error body.
fn error_text(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| "no error message".into())
}

/// A reqwest error without its URL (which holds the account SID only, but
/// keep logs short).
fn without_url(err: &reqwest::Error) -> String {
    let mut s = err.to_string();
    if let Some(u) = err.url() {
        s = s.replace(u.as_str(), "<twilio api>");
    }
    s
}

/// Raises the result event on the entry's channel.
async fn raise(engine: &Arc<Engine>, entry: &Entry, name: &str, attrs: Value) {
    let mut attrs: Map<String, Value> = match attrs {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // The call the result is about, under Twilio's own name, so rules can
    // use the call's session variables: the redirected call, or the new
    // outbound call once Twilio gave it a SID.
    let call = match entry.action.as_str() {
        "redirect_call" => entry.call_sid.clone(),
        "call" => entry.sid.clone(),
        _ => None,
    };
    if let Some(sid) = call.filter(|s| !s.is_empty()) {
        attrs.insert("CallSid".into(), Value::String(sid));
    }
    let event = EventIn {
        eci: entry.eci.clone(),
        eid: Eid::random(),
        domain: "twilio".into(),
        name: name.to_string(),
        attrs,
        time_ms: now_ms(),
    };
    if let Err(err) = engine.event(event).await {
        tracing::warn!(id = %entry.id, "twilio outbox: event twilio:{name} not handled: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs = |n| backoff(n).as_secs_f64();
        assert!((1.0..1.11).contains(&secs(1)));
        assert!((2.0..2.21).contains(&secs(2)));
        assert!((4.0..4.41).contains(&secs(3)));
        assert!((60.0..66.1).contains(&secs(30)));
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = 1_792_567_680_000.0; // Wed, 21 Oct 2026 07:28:00 GMT
        let secs = |v: &str| retry_after(v, now).map(|d| d.as_secs_f64());
        assert_eq!(secs("3"), Some(3.0));
        assert_eq!(secs(" 2.5 "), Some(2.5));
        assert_eq!(secs("0"), Some(0.0));
        assert_eq!(secs("3600"), Some(60.0), "capped");
        // IMF-fixdate, RFC 850, asctime: all 30 s after `now`.
        assert_eq!(secs("Wed, 21 Oct 2026 07:28:30 GMT"), Some(30.0));
        assert_eq!(secs("Wednesday, 21-Oct-26 07:28:30 GMT"), Some(30.0));
        assert_eq!(secs("Wed Oct 21 07:28:30 2026"), Some(30.0));
        assert_eq!(secs("Thu Oct  1 07:28:30 2026"), Some(0.0), "past: now");
        assert_eq!(secs("Wed, 21 Oct 2026 07:28:00 GMT"), Some(0.0));
        assert_eq!(secs("Wed, 21 Oct 2026 09:28:00 GMT"), Some(60.0), "capped");
        for bad in [
            "",
            "-1",
            "soon",
            "1e3",
            "Wed, 21 Oct 2026 07:28:30 +0200",
            ".",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

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
