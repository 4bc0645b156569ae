//! Scheduled events of one pico (`schedule ... at` and `... repeat`): the
//! entries the rules stored, turned into timers the pico's task waits on.
//! Uses: `store`, `ids`, croner, chrono.
//!
//! An entry is what the evaluator gives the host:
//! `{"id", "type": "at", "time": ms, "event": {"eci", "domain", "name",
//! "data": {"attrs"}}}`, or `"type": "repeat"` with a cron `"timespec"`
//! (five fields, or six with seconds first; evaluated in UTC). An `at`
//! entry is removed when it fires; a `repeat` entry stays until
//! `schedule:remove`/`clear`. Entries survive restarts (they are in the
//! store); an `at` entry whose time passed while the engine was down
//! fires at start-up.

use crate::ids::{Eci, PicoId, Rid};
use crate::store::{Key, Store, StoreError};
use serde_json::{Map, Value};

/// One pending scheduled event.
#[derive(Clone, Debug)]
pub struct Timer {
    /// The ruleset that scheduled it.
    pub rid: Rid,
    /// The entry's id.
    pub id: String,
    /// When it is due, ms since the Unix epoch.
    pub due_ms: f64,
    /// The cron spec of a repeating entry; `None` for `at`.
    pub repeat: Option<String>,
    /// The channel the event names.
    pub eci: Eci,
    /// Event domain.
    pub domain: String,
    /// Event name.
    pub name: String,
    /// Event attributes.
    pub attrs: Map<String, Value>,
}

/// The next time `spec` matches strictly after `after_ms`, in ms.
pub fn next_cron(spec: &str, after_ms: f64) -> Result<f64, String> {
    let cron = croner::parser::CronParser::new()
        .parse(spec)
        .map_err(|e| format!("invalid timespec {spec:?}: {e}"))?;
    let after = chrono::DateTime::from_timestamp_millis(after_ms as i64)
        .ok_or_else(|| format!("time out of range: {after_ms}"))?;
    let next = cron
        .find_next_occurrence(&after, false)
        .map_err(|e| format!("timespec {spec:?} never fires: {e}"))?;
    Ok(next.timestamp_millis() as f64)
}

/// A timer from a stored entry; `None` (with a warning) for an entry that
/// cannot fire.
fn timer(rid: &str, entry: &Value, now_ms: f64) -> Option<Timer> {
    let id = entry.get("id")?.as_str()?.to_string();
    let event = entry.get("event")?;
    let text = |k: &str| {
        event
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let attrs = event
        .get("data")
        .and_then(|d| d.get("attrs"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (due_ms, repeat) = match entry.get("type").and_then(Value::as_str) {
        Some("at") => (entry.get("time")?.as_f64()?, None),
        Some("repeat") => {
            let spec = entry.get("timespec")?.as_str()?;
            match next_cron(spec, now_ms) {
                Ok(due) => (due, Some(spec.to_string())),
                Err(e) => {
                    tracing::warn!(rid, id, "schedule entry ignored: {e}");
                    return None;
                }
            }
        }
        _ => return None,
    };
    Some(Timer {
        rid: Rid::new(rid),
        id,
        due_ms,
        repeat,
        eci: Eci::new(text("eci")),
        domain: text("domain"),
        name: text("name"),
        attrs,
    })
}

/// The timers of `pico` as stored, earliest first. A repeating entry
/// that was already waited for keeps its due time (found in `previous`),
/// so that reloading never skips a firing.
pub fn load(
    store: &Store,
    pico: &PicoId,
    previous: &[Timer],
    now_ms: f64,
) -> Result<Vec<Timer>, StoreError> {
    let mut timers = Vec::new();
    for (key, entry) in store.scan::<Value>(&Key::schedules(pico))? {
        // Key parts: pico, rid, id.
        let Some((_, parts)) = Key::decode(key.as_bytes()) else {
            continue;
        };
        let Some(rid) = parts.get(1) else { continue };
        if let Some(mut t) = timer(rid, &entry, now_ms) {
            if t.repeat.is_some() {
                if let Some(p) = previous
                    .iter()
                    .find(|p| p.id == t.id && p.repeat == t.repeat)
                {
                    t.due_ms = p.due_ms;
                }
            }
            timers.push(t);
        } else {
            tracing::warn!(%pico, rid, "unreadable schedule entry ignored: {entry}");
        }
    }
    timers.sort_by(|a, b| a.due_ms.total_cmp(&b.due_ms));
    Ok(timers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cron_with_seconds_fires_every_second() {
        let t0 = 1_700_000_000_000.0; // a whole second
        assert_eq!(next_cron("* * * * * *", t0).unwrap(), t0 + 1000.0);
        assert_eq!(next_cron("* */1 * * * *", t0 + 500.0).unwrap(), t0 + 1000.0);
    }

    #[test]
    fn cron_with_five_fields_is_minutes() {
        let t0 = 1_700_000_000_000.0; // 20 s past a minute
        assert_eq!(next_cron("* * * * *", t0).unwrap(), t0 + 40_000.0);
    }

    #[test]
    fn bad_timespec_is_an_error() {
        assert!(next_cron("every tuesday", 0.0).is_err());
    }

    #[test]
    fn timers_from_entries() {
        let entry = json!({"id": "a1", "type": "at", "time": 5.0,
            "event": {"eci": "e", "domain": "d", "name": "n", "data": {"attrs": {"x": 1}}}});
        let t = timer("io.r", &entry, 0.0).unwrap();
        assert_eq!((t.due_ms, t.repeat.clone()), (5.0, None));
        assert_eq!(
            (t.eci.as_str(), t.domain.as_str(), t.name.as_str()),
            ("e", "d", "n")
        );
        assert_eq!(Value::Object(t.attrs), json!({"x": 1}));
        let repeat = json!({"id": "b", "type": "repeat", "timespec": "* * * * * *",
            "event": {"eci": "e", "domain": "d", "name": "n"}});
        let t = timer("io.r", &repeat, 1000.0).unwrap();
        assert_eq!(t.due_ms, 2000.0);
        assert!(timer("io.r", &json!({"id": "c", "type": "what"}), 0.0).is_none());
    }
}
