//! The Twilio outbox's sender: the task ([`run`], started by `krl serve`)
//! that POSTs queued outbox entries (`outbox`) to Twilio's REST API and
//! raises their result events through the dispatch. Uses: `dispatch`,
//! `twilio::outbox`, `store`, `pico` (events), `ids`, `clock`, reqwest,
//! tokio. docs/twilio.md tells the story.
//!
//! 1. The sender waits for a group flush (so every entry it sees is
//!    durable), then POSTs each due `queued` entry. The attempt count is
//!    stored (durably) before each POST.
//! 2. 2xx: the returned `sid` and state `sent` are stored durably BEFORE
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

use super::outbox::{list, Entry};
use crate::clock::now_ms;
use crate::dispatch::{Dispatch, WeakDispatch};
use crate::ids::Eid;
use crate::pico::EventIn;
use crate::store::{Key, Store, WriteBuf};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Attempts before an entry that keeps meeting 5xx/429/timeouts fails.
pub const MAX_ATTEMPTS: u32 = 8;
/// First retry delay; doubled each attempt.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay (also caps `Retry-After`).
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// The retry delay after `attempts` failed attempts: 1 s, 2 s, 4 s, ...
/// capped at [`BACKOFF_CAP`], plus up to 10% jitter.
pub fn backoff(attempts: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    let d = exp.min(BACKOFF_CAP);
    d + d.mul_f64(rand::random::<f64>() * 0.1)
}

/// The sender: runs until the engine is dropped. Started by `krl serve`
/// with the outbox's wake-up ([`super::outbox::OutboxConfig::wake`]).
pub async fn run(dispatch: WeakDispatch, wake: Arc<Notify>, api_url: String, timeout: Duration) {
    if dispatch.is_gone() {
        return;
    }
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
            let Some(dispatch) = dispatch.upgrade() else {
                return;
            };
            let store = dispatch.store().clone();
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
                // In a cluster, the node of the entry's pico sends it.
                if !dispatch.serves(&entry.pico) {
                    continue;
                }
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
                    let (dispatch, client, api, flight, wake) = (
                        dispatch.clone(),
                        client.clone(),
                        api_url.clone(),
                        in_flight.clone(),
                        wake.clone(),
                    );
                    tokio::spawn(async move {
                        let id = entry.id.clone();
                        attempt(&dispatch, &client, &api, entry).await;
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
    // In a cluster: a node that lost the pico's shard stores nothing, and
    // so sends nothing (the attempt is stored before each POST).
    buf.remove(Key::fence(&entry.pico));
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
async fn attempt(dispatch: &Dispatch, client: &reqwest::Client, api: &str, mut entry: Entry) {
    let store = dispatch.store().clone();
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
            crate::trace::publish(Some(&entry.pico), "outbox", || entry.public());
            raise(
                dispatch,
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
            crate::trace::publish(Some(&entry.pico), "outbox", || entry.public());
        }
        Outcome::Retry(why, _) => {
            let message = format!("gave up after {} attempts: {why}", entry.attempts);
            fail(dispatch, &store, entry, None, message, fail_name, to).await;
        }
        Outcome::Failed(code, message) => {
            fail(dispatch, &store, entry, code, message, fail_name, to).await;
        }
    }
}

async fn fail(
    dispatch: &Dispatch,
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
    crate::trace::publish(Some(&entry.pico), "outbox", || entry.public());
    raise(
        dispatch,
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
async fn raise(dispatch: &Dispatch, entry: &Entry, name: &str, attrs: Value) {
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
    if let Err(err) = dispatch.event(event).await {
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
}
