//! The durable queue of `mqtt:publish`es: an entry per message under
//! `Q id`, written in the batch of the event that published it (so it is
//! sent only if that event committed), sent in id order once on disk, and
//! deleted when the broker acknowledges it (QoS 1 `PUBACK`) or, for QoS
//! 0, once written to the socket. An entry is a
//! [`QueuedPublish`] (`effects`: the host makes them, through
//! [`crate::effects::MqttQueue`]).

use crate::effects::QueuedPublish;
use crate::store::{Key, Store, WriteBuf};

/// Every queued entry, oldest first.
pub fn load(store: &Store) -> crate::store::Result<Vec<QueuedPublish>> {
    Ok(store
        .scan::<QueuedPublish>(&Key::mqtt_queue_all())?
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
    // Into the next group flush, without waiting for it: on PostgreSQL
    // nothing else would flush the delete until another write came.
    drop(store.flush_ticket());
}
