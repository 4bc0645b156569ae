//! MQTT: the broker `krl serve` embeds (rumqttd), the engine's one client
//! connection (rumqttc), the durable queue of `mqtt:publish`es and the
//! picos' topic subscriptions, whose messages become `mqtt message`
//! events. docs/mqtt.md tells the story.
//!
//! The whole folder sits above the `dispatch` layer: it reaches picos
//! through `Dispatch`, never through `engine` or `http`, and nothing
//! below `dispatch` names it. This file is the shared handle ([`Mqtt`])
//! that every pico's host writes publishes and subscriptions through: it
//! implements [`crate::effects::MqttQueue`], which is all the host and the
//! pico know of it (`engine::open` plugs it in). Uses: `effects`,
//! `store`, `ids`, `clock`.
//!
//! * [`url`]: the broker URL (`--mqtt-url`).
//! * [`tls`]: rustls for `mqtts://`, the built-in roots or `--mqtt-ca`.
//! * [`queue`]: publishes stored with the event's writes (`Q id`).
//! * [`subs`]: subscriptions per pico (`B pico filter`).
//! * [`broker`]: the embedded broker on `--mqtt-listen` (names nothing of
//!   this crate).
//! * [`client`]: the connection task: connect, back off, subscribe, send
//!   the queue in order, turn messages into events, acknowledge them once
//!   every pico's writes are durable (`D seq pico` marks), in order.
//! * [`admin`]: `GET`/`POST`/`DELETE /api/picos/{id}/mqtt`, its own
//!   router and state.

pub mod admin;
pub mod broker;
pub mod client;
pub mod queue;
pub mod subs;
pub mod tls;
pub mod url;

pub use url::BrokerUrl;

use crate::effects::{MqttChanges, MqttQueue, QueuedPublish};
use crate::ids::{random_base62, PicoId};
use crate::store::{Key, Store, StoreError, WriteBuf};
use krl_lang::engine::MqttPublish;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Most publishes kept while the broker is unreachable (or slow). Past it
/// `mqtt:publish` is a runtime error, the message is not queued.
pub const MAX_QUEUED: usize = 10_000;

/// What the connection task is told by the rest of the engine.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// A pico's event committed (applied) these publishes and
    /// subscription changes (`Some(qos)`: subscribed, `None`: dropped).
    Committed {
        pico: PicoId,
        publishes: Vec<QueuedPublish>,
        subs: Vec<(String, Option<u8>)>,
    },
    /// A message's events are all processed (see `client`).
    Done(u64),
    /// Stop: disconnect cleanly (shutdown).
    Stop(tokio::sync::oneshot::Sender<()>),
}

/// The engine's MQTT side, shared by every pico (through `PicoContext`)
/// and the admin API. Cheap to share (`Arc`).
pub struct Mqtt {
    store: Store,
    broker: BrokerUrl,
    /// `mqtts://`: the TLS configuration, made at start-up.
    tls: Option<tls::Tls>,
    client_id: String,
    /// Publishes stored and not yet acknowledged by the broker (deleted).
    queued: AtomicUsize,
    /// The last queue id handed out (µs clock, never going back).
    last_id: AtomicU64,
    cmd: mpsc::UnboundedSender<Cmd>,
    cmd_rx: Mutex<Option<mpsc::UnboundedReceiver<Cmd>>>,
}

impl std::fmt::Debug for Mqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mqtt")
            .field("broker", &self.broker.display())
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// The meta key of the engine's MQTT client id (a cluster node's is
/// `mqtt_client_id.NODE`: each node has its own broker session).
const CLIENT_ID_KEY: &str = "mqtt_client_id";

impl Mqtt {
    /// The engine's MQTT side for `broker`: the client id is read from the
    /// data folder (made and stored on first use, so the broker keeps the
    /// engine's session across restarts), the queue counted. `tls` is
    /// used when `broker` is `mqtts://` ([`tls::Tls::for_broker`]).
    pub fn new(
        store: &Store,
        broker: BrokerUrl,
        tls: Option<tls::Tls>,
    ) -> Result<Arc<Mqtt>, StoreError> {
        let node = store.leases().map(|l| l.node().to_string());
        let id_key = match &node {
            None => Key::meta(CLIENT_ID_KEY),
            Some(node) => Key::meta(&format!("{CLIENT_ID_KEY}.{node}")),
        };
        let client_id = match store.get::<String>(&id_key)? {
            Some(id) => id,
            None => {
                let id = match &node {
                    None => format!("krl-{}", random_base62(16)),
                    Some(node) => format!("krl-{node}-{}", random_base62(8)),
                };
                let mut buf = WriteBuf::new();
                buf.put(id_key, &id);
                store.apply(buf)?;
                store.flush_now()?;
                id
            }
        };
        // A cluster node counts the entries of the shards it takes (the
        // connection task, as they come).
        let queued = match node {
            None => store.keys(&Key::mqtt_queue_all())?.len(),
            Some(_) => 0,
        };
        let (cmd, rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Mqtt {
            store: store.clone(),
            broker,
            tls,
            client_id,
            queued: AtomicUsize::new(queued),
            last_id: AtomicU64::new(0),
            cmd,
            cmd_rx: Mutex::new(Some(rx)),
        }))
    }

    /// The broker, without credentials.
    pub fn broker_display(&self) -> String {
        self.broker.display()
    }

    /// The client id (stored in the data folder).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Publishes waiting for the broker.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// A queue id: 16 hex digits of a µs clock that never goes back, so
    /// ids sort in the order rules published.
    fn next_id(&self) -> String {
        let now = (crate::clock::now_ms() * 1000.0) as u64;
        let id = self
            .last_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .map_or(now, |last| now.max(last + 1));
        format!("{id:016x}")
    }

    pub(crate) fn send(&self, cmd: Cmd) {
        let _ = self.cmd.send(cmd);
    }

    /// Entries of shards come to this node (a cluster's).
    fn enqueued(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::SeqCst);
    }

    /// Entries deleted from the queue (acknowledged, or written for QoS 0),
    /// or of shards gone to another node.
    fn dequeued(&self, n: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                Some(q.saturating_sub(n))
            });
    }

    /// Asks the connection task to disconnect cleanly, and waits (at most
    /// two seconds) for it.
    pub async fn stop(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.cmd.send(Cmd::Stop(tx)).is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), rx).await;
        }
    }
}

/// What the hosts and picos see of MQTT (`engine::open` plugs it in).
impl MqttQueue for Mqtt {
    /// The rule gets `{"id", "status": "queued"}`.
    fn new_publish(
        &self,
        pico: &PicoId,
        req: &MqttPublish,
        in_event: usize,
        buf: &mut WriteBuf,
    ) -> Result<(QueuedPublish, Value), String> {
        let waiting = self.queued() + in_event;
        if waiting >= MAX_QUEUED {
            return Err(format!(
                "mqtt:publish to {:?}: the outgoing queue is full ({waiting} messages wait for \
                 the broker {}, at most {MAX_QUEUED}); the message was not queued",
                req.topic,
                self.broker.display()
            ));
        }
        let entry = QueuedPublish {
            id: self.next_id(),
            pico: pico.clone(),
            rid: req.rid.clone(),
            topic: req.topic.clone(),
            payload: req.payload.clone(),
            qos: req.qos,
            retain: req.retain,
            created_ms: crate::clock::now_ms(),
        };
        buf.put(Key::mqtt_queue(&entry.id), &entry);
        let answer = serde_json::json!({"id": entry.id, "status": "queued"});
        Ok((entry, answer))
    }

    fn subscribe(&self, pico: &PicoId, filter: &str, qos: u8, buf: &mut WriteBuf) {
        buf.put(Key::mqtt_sub(pico, filter), &subs::SubRecord { qos });
    }

    fn unsubscribe(&self, pico: &PicoId, filter: &str, buf: &mut WriteBuf) {
        buf.remove(Key::mqtt_sub(pico, filter));
    }

    /// Hands the publishes and subscription changes to the connection
    /// task.
    fn committed(&self, pico: &PicoId, changes: MqttChanges) {
        if changes.is_empty() {
            return;
        }
        self.queued
            .fetch_add(changes.publishes.len(), Ordering::SeqCst);
        let _ = self.cmd.send(Cmd::Committed {
            pico: pico.clone(),
            publishes: changes.publishes,
            subs: changes.subs,
        });
    }
}
