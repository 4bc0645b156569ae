//! The durable queue of `mqtt:publish`es: an entry per message under
//! `Q id`, written in the batch of the event that published it (so it is
//! sent only if that event committed), sent in id order once on disk, and
//! deleted when the broker acknowledges it (QoS 1 `PUBACK`) or, for QoS
//! 0, once written to the socket.

use crate::ids::PicoId;
use crate::store::{Key, Store, WriteBuf};
use serde::{Deserialize, Serialize};

/// One queued publish, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 16 hex digits of a µs clock: ids sort in publishing order.
    pub id: String,
    /// The pico whose rule published it.
    pub pico: PicoId,
    /// The ruleset.
    pub rid: String,
    /// The topic.
    pub topic: String,
    /// The payload text.
    pub payload: String,
    /// 0 or 1.
    pub qos: u8,
    /// Retained at the broker.
    pub retain: bool,
    /// When it was queued (ms since the Unix epoch).
    pub created_ms: f64,
}

/// Every queued entry, oldest first.
pub fn load(store: &Store) -> crate::store::Result<Vec<Entry>> {
    Ok(store
        .scan::<Entry>(&Key::mqtt_queue_all())?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// Deletes sent entries (not waiting for the disk: a crash before the
/// next flush sends them again, which QoS 1 allows).
pub fn delete(store: &Store, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let mut buf = WriteBuf::new();
    for id in ids {
        buf.remove(Key::mqtt_queue(id));
    }
    if let Err(e) = store.apply(buf) {
        tracing::error!("mqtt: cannot delete sent messages from the queue: {e}");
    }
}
