//! Idempotent events (docs/server.md, "Idempotent events"): an event
//! that carries an `Idempotency-Key` header (the IETF draft's name) or
//! Twilio's `I-Twilio-Idempotency-Token`, and that its pico has already
//! processed within [`WINDOW_MS`], is answered with the stored answer and
//! applies nothing again.
//!
//! The key is recorded with the event's own writes, in the same batch
//! (the pico's `mark`, as MQTT's delivery marks): `K pico key` →
//! [`Record`] (its expiry and the answer). So it holds across `kill -9`:
//! either the event and its key are both on disk, or neither is. The
//! pico reads the key before it evaluates the event, in its own task, so
//! two requests with one key never both apply. An event that fails
//! records nothing, and a resend runs it again. Keys are per pico; the
//! eid in the URL is never a key (people resend the same eid by hand, as
//! the Pico Engine allows). Expired records are ignored when read and
//! removed by [`spawn_sweeper`].
//!
//! Uses `store`, `ids`, `clock`.

use crate::clock::now_ms;
use crate::ids::{Eid, PicoId};
use crate::store::{Key, Store, WriteBuf};
use krl_lang::engine::Directive;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a key is remembered: 24 hours (the draft's example; Twilio
/// retries a webhook within minutes).
pub const WINDOW_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// The headers that carry a key, first found wins.
pub const HEADERS: [&str; 2] = ["idempotency-key", "i-twilio-idempotency-token"];

/// The longest key kept (longer ones are refused as no key: a client
/// cannot make the engine store arbitrary amounts under one event).
pub const MAX_KEY: usize = 256;

/// The key a request carries, if any (empty or too long: none).
pub fn key_of(headers: &axum::http::HeaderMap) -> Option<String> {
    // Names made once: a `&str` name is parsed again on every lookup.
    static NAMES: std::sync::LazyLock<[axum::http::HeaderName; 2]> =
        std::sync::LazyLock::new(|| HEADERS.map(axum::http::HeaderName::from_static));
    NAMES.iter().find_map(|h| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_KEY)
            .map(str::to_string)
    })
}

/// A module directive as stored (a TwiML verb, to answer the same TwiML).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredDirective {
    name: String,
    options: Value,
    rid: String,
    rule_name: String,
    txn_id: String,
    module: Option<String>,
    line_col: Option<(usize, usize)>,
}

/// The modules whose directives can be stored (their names are
/// `&'static str` in `Directive`).
const MODULES: [&str; 1] = ["twilio"];

impl StoredDirective {
    fn of(d: &Directive) -> StoredDirective {
        StoredDirective {
            name: d.name.to_string(),
            options: d.options.to_json(),
            rid: d.rid.to_string(),
            rule_name: d.rule_name.to_string(),
            txn_id: d.txn_id.to_string(),
            module: d.module.map(str::to_string),
            line_col: d.line_col,
        }
    }

    fn directive(self) -> Directive {
        Directive {
            name: Arc::from(self.name),
            options: krl_lang::runtime::Value::from_json(&self.options),
            rid: Arc::from(self.rid),
            rule_name: Arc::from(self.rule_name),
            txn_id: Arc::from(self.txn_id),
            module: self
                .module
                .and_then(|m| MODULES.iter().find(|k| **k == m).copied()),
            line_col: self.line_col,
        }
    }
}

/// What is kept under a key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// When it stops counting (ms since the Unix epoch, engine clock).
    pub expires_ms: f64,
    /// The event's answer; `None` only in the mark handed to the pico,
    /// before the event ran.
    #[serde(default)]
    answer: Option<Answer>,
}

/// A stored answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    eid: String,
    directives: Vec<Value>,
    #[serde(default)]
    module: Vec<StoredDirective>,
}

impl Answer {
    /// The event's id, its directives (JSON) and its module directives.
    pub fn into_parts(self) -> (Eid, Vec<Value>, Vec<Directive>) {
        (
            Eid::new(self.eid),
            self.directives,
            self.module
                .into_iter()
                .map(StoredDirective::directive)
                .collect(),
        )
    }
}

/// The mark that records `key` for `pico` with an event's writes.
pub fn mark(pico: &PicoId, key: &str) -> (Key, Value) {
    let record = Record {
        expires_ms: now_ms() + WINDOW_MS,
        answer: None,
    };
    (
        Key::idempotency(pico, key),
        serde_json::to_value(record).expect("a record serializes"),
    )
}

/// Is this mark an idempotency key's?
fn is_key(key: &Key) -> bool {
    key.as_bytes().first() == Key::idempotency_all().as_bytes().first()
}

/// The stored answer of an event already processed under this mark's key
/// (not expired), if the mark is an idempotency key's.
pub fn replay(store: &Store, mark: Option<&(Key, Value)>, now: f64) -> Option<Answer> {
    let (key, _) = mark?;
    if !is_key(key) {
        return None;
    }
    match store.get::<Record>(key) {
        Ok(Some(r)) if r.expires_ms > now => r.answer,
        Ok(_) => None,
        Err(e) => {
            tracing::error!("reading idempotency key {key:?}: {e}");
            None
        }
    }
}

/// The mark's value with the event's answer in it (other marks as they
/// are).
pub fn with_answer(
    key: &Key,
    value: Value,
    eid: &Eid,
    directives: &[Value],
    module: &[Directive],
) -> Value {
    if !is_key(key) {
        return value;
    }
    let mut record: Record = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        Err(_) => return value,
    };
    record.answer = Some(Answer {
        eid: eid.to_string(),
        directives: directives.to_vec(),
        module: module.iter().map(StoredDirective::of).collect(),
    });
    serde_json::to_value(record).unwrap_or(value)
}

/// Removes the records expired at `now`: how many.
pub fn sweep(store: &Store, now: f64) -> usize {
    let records: Vec<(Key, Record)> = match store.scan(&Key::idempotency_all()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("idempotency sweep: {e}");
            return 0;
        }
    };
    let mut buf = WriteBuf::new();
    let mut n = 0;
    for (key, r) in records {
        // A cluster node sweeps the records of its own shards.
        if r.expires_ms <= now && store.writes_here(&key) {
            buf.remove(key);
            n += 1;
        }
    }
    if n > 0 {
        if let Err(e) = store.apply(buf) {
            tracing::warn!("idempotency sweep: {e}");
            return 0;
        }
    }
    n
}

/// How often the sweeper runs.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Sweeps expired records every ten minutes while the store is open
/// (from `krl serve`).
pub fn spawn_sweeper(store: Store) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || sweep(&s, now_ms())).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_key_is_replayed_until_it_expires_and_swept_after() {
        let dir = std::env::temp_dir().join(format!("krl-idem-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let pico = PicoId::new("p");
        let m = mark(&pico, "k1");
        // Nothing yet.
        assert!(replay(&store, Some(&m), now_ms()).is_none());
        // The event's batch: the mark with its answer.
        let d = Directive {
            name: Arc::from("say"),
            options: krl_lang::runtime::Value::from_json(&json!({"_arg": "Hi"})),
            rid: Arc::from("r"),
            rule_name: Arc::from("x"),
            txn_id: Arc::from("t"),
            module: Some("twilio"),
            line_col: Some((3, 5)),
        };
        let value = with_answer(
            &m.0,
            m.1.clone(),
            &Eid::new("e1"),
            &[json!({"name": "n"})],
            std::slice::from_ref(&d),
        );
        let mut buf = WriteBuf::new();
        buf.put(m.0.clone(), &value);
        store.apply(buf).unwrap();
        let (eid, directives, module) = replay(&store, Some(&m), now_ms()).unwrap().into_parts();
        assert_eq!(eid, Eid::new("e1"));
        assert_eq!(directives, vec![json!({"name": "n"})]);
        assert_eq!(module, vec![d]);
        // Other marks are not keys; other picos have their own.
        let other = (Key::mqtt_mark(None, "1", &pico), json!(true));
        assert!(replay(&store, Some(&other), now_ms()).is_none());
        assert_eq!(
            with_answer(&other.0, json!(true), &Eid::new("e"), &[], &[]),
            json!(true)
        );
        assert!(replay(&store, Some(&mark(&PicoId::new("q"), "k1")), now_ms()).is_none());
        // Expired: not replayed, then swept.
        let later = now_ms() + WINDOW_MS + 1.0;
        assert!(replay(&store, Some(&m), later).is_none());
        assert_eq!(sweep(&store, now_ms()), 0);
        assert_eq!(sweep(&store, later), 1);
        assert!(store.keys(&Key::idempotency_all()).unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keys_come_from_either_header() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(key_of(&h), None);
        h.insert("I-Twilio-Idempotency-Token", "tw-1".parse().unwrap());
        assert_eq!(key_of(&h).as_deref(), Some("tw-1"));
        h.insert("Idempotency-Key", " k-1 ".parse().unwrap());
        assert_eq!(key_of(&h).as_deref(), Some("k-1"));
        h.insert("Idempotency-Key", "x".repeat(MAX_KEY + 1).parse().unwrap());
        assert_eq!(key_of(&h).as_deref(), Some("tw-1"));
    }
}
