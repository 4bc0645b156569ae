//! The live trace: what the engine does (events received and their
//! directives or errors, events rules send, Twilio outbox sends and their
//! results, MQTT messages in and out), as entries broadcast to whoever
//! watches (`GET /api/trace`, the console's Live trace).
//!
//! One hub per process. A publisher pays one relaxed atomic load when
//! nobody watches: the entry is built (a closure) only when someone does. The
//! buffer is bounded (a `tokio::sync::broadcast` of [`CAPACITY`]): a
//! publisher never waits, and a watcher that falls behind loses the
//! oldest entries, which it counts ([`Watcher::next`] answers how many
//! were dropped). The last [`RECENT`] MQTT messages are kept apart, for
//! the console's MQTT view. Uses: `ids`, `clock`, tokio, serde_json.

use crate::clock::now_ms;
use crate::ids::PicoId;
use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::{broadcast, watch};

/// Entries a watcher may fall behind by before it loses the oldest.
pub const CAPACITY: usize = 1024;

/// MQTT messages kept for the console's MQTT view.
pub const RECENT: usize = 200;

/// One thing the engine did.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Its number (per process, from 1).
    pub seq: u64,
    /// When (ms since the Unix epoch, the engine's clock).
    pub at_ms: f64,
    /// The pico it happened on, when there is one.
    pub pico: Option<PicoId>,
    /// What: `event`, `directives`, `error`, `rule_selected`, `rule_fired`,
    /// `raised`, `ent_write`, `schedule_add`, `sent`, `outbox`,
    /// `mqtt_in`, `mqtt_out`.
    pub kind: &'static str,
    /// The details, by kind.
    pub data: Value,
}

struct Hub {
    tx: broadcast::Sender<Arc<Entry>>,
    /// Set by [`close`]: every watcher ends (so that a server shutting
    /// down does not wait for open trace streams).
    closed: watch::Sender<bool>,
    seq: AtomicU64,
    mqtt: Mutex<VecDeque<Arc<Entry>>>,
}

static HUB: LazyLock<Hub> = LazyLock::new(|| Hub {
    tx: broadcast::channel(CAPACITY).0,
    closed: watch::channel(false).0,
    seq: AtomicU64::new(0),
    mqtt: Mutex::new(VecDeque::with_capacity(RECENT)),
});

/// How many [`Watcher`]s there are: kept apart from the broadcast
/// (whose own count takes its lock), so that the event path pays one
/// relaxed atomic load when nobody watches.
static WATCHERS: AtomicUsize = AtomicUsize::new(0);

/// Whether anyone watches (publishers may skip their work when not).
pub fn watching() -> bool {
    WATCHERS.load(Ordering::Relaxed) > 0
}

/// Publishes an entry of `kind` on `pico`, its details made by `data`
/// only when someone watches (or for MQTT messages, which are kept).
pub fn publish(pico: Option<&PicoId>, kind: &'static str, data: impl FnOnce() -> Value) {
    let keep = kind.starts_with("mqtt");
    if !keep && !watching() {
        return;
    }
    let entry = Arc::new(Entry {
        seq: HUB.seq.fetch_add(1, Ordering::Relaxed) + 1,
        at_ms: now_ms(),
        pico: pico.cloned(),
        kind,
        data: data(),
    });
    if keep {
        if let Ok(mut recent) = HUB.mqtt.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(entry.clone());
        }
    }
    // No receiver: the entry is dropped, as it should be.
    let _ = HUB.tx.send(entry);
}

/// The MQTT messages kept, oldest first.
pub fn recent_mqtt() -> Vec<Arc<Entry>> {
    HUB.mqtt
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

/// A watcher of the trace, from now on.
pub struct Watcher {
    rx: broadcast::Receiver<Arc<Entry>>,
    closed: watch::Receiver<bool>,
}

/// Ends every watcher, now and later (the server is shutting down).
pub fn close() {
    HUB.closed.send_replace(true);
}

/// Starts watching.
pub fn watch() -> Watcher {
    WATCHERS.fetch_add(1, Ordering::Relaxed);
    Watcher {
        rx: HUB.tx.subscribe(),
        closed: HUB.closed.subscribe(),
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        WATCHERS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Watcher {
    /// The next entry, with how many were dropped just before it because
    /// this watcher fell behind; `None` once the trace is closed.
    pub async fn next(&mut self) -> Option<(u64, Arc<Entry>)> {
        let mut dropped = 0;
        loop {
            let got = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.closed.wait_for(|c| *c) => return None,
            };
            match got {
                Ok(e) => return Some((dropped, e)),
                Err(broadcast::error::RecvError::Lagged(n)) => dropped += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_slow_watcher_loses_the_oldest_and_counts_them() {
        let mut w = watch();
        let pico = PicoId::new("trace-test-pico");
        for i in 0..(CAPACITY + 10) {
            publish(Some(&pico), "event", || json!({ "i": i }));
        }
        // Other tests may publish too: look for ours.
        let (dropped, first) = w.next().await.unwrap();
        assert!(dropped >= 10, "{dropped}");
        assert!(first.data["i"].as_u64().unwrap() >= 10);
    }

    #[test]
    fn nothing_is_built_when_nobody_watches_but_mqtt_is_kept() {
        // (Watchers of other tests may exist; only the MQTT ring is
        // certain.)
        publish(None, "mqtt_in", || json!({"topic": "t/x"}));
        assert!(recent_mqtt().iter().any(|e| e.data["topic"] == "t/x"));
    }
}
