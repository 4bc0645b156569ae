//! The engine's MQTT connection: one task ([`run`]) that owns it.
//!
//! **Connecting.** A rumqttc event loop per connection, polled by a small
//! task that forwards its events; client id from the data folder,
//! `clean_session = false` (the broker keeps the engine's subscriptions
//! and its undelivered QoS 1 messages while it is away), manual acks. A
//! lost connection is made again after 100 ms, 200 ms, ... up to 5 s
//! (plus jitter).
//!
//! **Publishing.** Queue entries come from committed events (and from the
//! store at start), wait for a group flush (so nothing a crash could take
//! back is sent), then go out in id order, at most [`WINDOW`] unacknowledged
//! at a time. A QoS 1 entry is deleted when the broker's `PUBACK` comes,
//! a QoS 0 one once written to the socket. A lost connection puts the
//! unacknowledged entries back in front of the queue, so they are sent
//! again, in order, on the next one.
//!
//! **Messages.** Each message on a filter some pico subscribed to becomes
//! the event `mqtt message` on each such pico (its first channel, no
//! policy: the pico asked for it). For QoS 1 the event's batch also
//! writes a mark `D seq pico`; the `PUBACK` is sent when every pico's
//! event is on disk, in the order the messages came (brokers such as
//! rumqttd refuse acknowledgements out of order). Once the `PUBACK` is
//! written the marks go.
//!
//! **Redeliveries.** A message whose events committed but whose `PUBACK`
//! did not reach the broker (the engine was killed, the connection broke)
//! comes again when the session resumes. Marks left from before are then
//! matched, in order, against the first messages of the new session (by
//! topic and a hash of the payload): a matched message is not raised again
//! on the picos that have its mark, only acknowledged (and raised on a
//! subscriber that had not committed it yet). Matching stops when the
//! marks are used up or [`CATCH_UP`] after the connection; marks left
//! then were acknowledged after all and are dropped. A message that
//! matches no mark is new. The one case this cannot tell apart: a new
//! message identical (topic and payload) to one in doubt, arriving within
//! [`CATCH_UP`] of a reconnection that also redelivered nothing.

use super::queue;
use super::subs::{self, Index};
use super::{Cmd, Mqtt};
use crate::clock::now_ms;
use crate::dispatch::WeakDispatch;
use crate::effects::QueuedPublish;
use crate::ids::{Eid, PicoId};
use crate::pico::{EventAnswer, EventIn, PicoError};
use crate::store::{FlushTicket, Key, Store, WriteBuf};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Publishes handed to the connection and not yet acknowledged, at most.
pub const WINDOW: usize = 64;
/// How long after a reconnection marks are matched against redeliveries.
pub const CATCH_UP: Duration = Duration::from_secs(5);
/// First reconnection delay; doubled each failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest reconnection delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// Largest packet the client reads or writes.
pub const MAX_PACKET: usize = (1 << 20) + 65_536;

/// A mark: this pico committed the event of this (QoS 1) message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The message's topic.
    pub topic: String,
    /// The start of sha256(topic, 0, payload), hex.
    pub hash: String,
}

fn hash(topic: &str, payload: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(topic.as_bytes());
    h.update([0]);
    h.update(payload);
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn seq_key(seq: u64) -> String {
    format!("{seq:016x}")
}

/// A received QoS 1 message, in arrival order, until acknowledged.
struct Received {
    seq: u64,
    /// The connection it came on: acknowledged only on that one.
    gen: u64,
    publish: Publish,
    mark: Mark,
    /// Picos whose event (with a mark) is running.
    marked: Vec<PicoId>,
    /// Events (and earlier deliveries of it) still running.
    pending: usize,
    /// Messages that are redeliveries of this one, to finish with it.
    followers: Vec<u64>,
    /// A stored delivery of the same message (its marks go with ours).
    old: Option<(u64, Vec<PicoId>)>,
}

/// A message in doubt at a reconnection.
struct Group {
    seq: u64,
    mark: Mark,
    /// `None`: still being processed from the previous connection (a
    /// [`Received`] of an older `gen`); `Some`: committed earlier, on
    /// these picos (marks in the store).
    stored: Option<Vec<PicoId>>,
}

struct CatchUp {
    until: Instant,
    groups: VecDeque<Group>,
}

/// An acknowledgement handed to the connection: the message's sequence,
/// the picos it marked, and an older delivery's marks.
type AckWritten = (u64, Vec<PicoId>, Option<(u64, Vec<PicoId>)>);

/// Events of the connection, tagged with its generation.
type ConnEvent = (u64, Result<Event, String>);

type Flush = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Task {
    dispatch: WeakDispatch,
    mqtt: Arc<Mqtt>,
    store: Store,
    /// A cluster node's id: its marks are its own (`D node seq pico`), and
    /// it handles the queue and subscriptions of the shards it serves.
    node: Option<String>,
    index: Index,
    /// Filters the broker session has (as far as this process knows).
    broker_filters: HashMap<String, u8>,
    /// Has this process connected before?
    connected_once: bool,
    // publishing
    ready: BTreeMap<String, QueuedPublish>,
    unflushed: Vec<QueuedPublish>,
    flushing: Option<(Vec<QueuedPublish>, Flush)>,
    handed: VecDeque<QueuedPublish>,
    collided: Option<QueuedPublish>,
    inflight: HashMap<u16, QueuedPublish>,
    // the connection
    gen: u64,
    client: Option<AsyncClient>,
    connected: bool,
    backoff: Duration,
    reconnect_at: Instant,
    failures: u32,
    /// Why the last connection attempt failed (logged once per reason).
    last_why: String,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    // messages
    last_seq: u64,
    received: VecDeque<Received>,
    /// Acknowledgements handed to the connection, not yet written:
    /// (seq, picos marked, the older delivery's marks).
    acks_written: VecDeque<AckWritten>,
    catch_up: Option<CatchUp>,
}

/// Runs the connection until the engine is dropped or stopped. Started by
/// `krl serve`.
pub async fn run(dispatch: WeakDispatch, mqtt: Arc<Mqtt>) {
    let Some(mut cmds) = mqtt.cmd_rx.lock().expect("no panics under the lock").take() else {
        return;
    };
    let store = mqtt.store.clone();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut shards = store.leases().map(|l| l.watch());
    let mut task = Task {
        dispatch,
        mqtt: mqtt.clone(),
        store: store.clone(),
        node: store.leases().map(|l| l.node().to_string()),
        index: Index::default(),
        broker_filters: HashMap::new(),
        connected_once: false,
        ready: BTreeMap::new(),
        unflushed: Vec::new(),
        flushing: None,
        handed: VecDeque::new(),
        collided: None,
        inflight: HashMap::new(),
        gen: 0,
        client: None,
        connected: false,
        backoff: BACKOFF_BASE,
        reconnect_at: Instant::now(),
        failures: 0,
        last_why: String::new(),
        events_tx,
        last_seq: 0,
        received: VecDeque::new(),
        acks_written: VecDeque::new(),
        catch_up: None,
    };
    if let Err(e) = task.load() {
        tracing::error!("mqtt: cannot read the queue and subscriptions: {e}");
    }
    task.connect();
    loop {
        let reconnect = task.client.is_none().then_some(task.reconnect_at);
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Stop(done)) => {
                    task.stop().await;
                    let _ = done.send(());
                    return;
                }
                Some(cmd) => task.command(cmd).await,
                None => return,
            },
            Some((gen, ev)) = events.recv() => {
                if gen == task.gen {
                    match ev {
                        Ok(ev) => task.event(ev).await,
                        Err(e) => task.down(&e),
                    }
                }
            }
            () = async { task.flushing.as_mut().expect("guarded").1.as_mut().await },
                if task.flushing.is_some() => {
                let (entries, _) = task.flushing.take().expect("guarded");
                for e in entries {
                    task.ready.insert(e.id.clone(), e);
                }
                task.start_flush();
                task.pump();
            }
            () = sleep_until_opt(reconnect) => task.connect(),
            Ok(()) = async { shards.as_mut().expect("guarded").changed().await },
                if shards.is_some() => {
                if let Err(e) = task.resync() {
                    tracing::error!("mqtt: cannot read the queue and subscriptions: {e}");
                }
            }
        }
        if task.dispatch.is_gone() {
            task.stop().await;
            return;
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Task {
    /// Is pico `id` this node's (always on one node; in a cluster, when
    /// its shard is served here)?
    fn serves(&self, id: &PicoId) -> bool {
        self.store
            .leases()
            .is_none_or(|l| l.serves_pico(id.as_str()))
    }

    fn mark_key(&self, seq: u64, pico: &PicoId) -> Key {
        Key::mqtt_mark(self.node.as_deref(), &seq_key(seq), pico)
    }

    fn marks_all(&self) -> Key {
        Key::mqtt_marks_all(self.node.as_deref())
    }

    /// The sequence and pico of a stored mark's key.
    fn mark_parts(&self, key: &[u8]) -> Option<(u64, PicoId)> {
        let (_, parts) = Key::decode(key)?;
        let skip = usize::from(self.node.is_some());
        let seq = u64::from_str_radix(parts.get(skip)?, 16).ok()?;
        Some((seq, PicoId::new(parts.get(skip + 1)?.clone())))
    }

    /// The queue and the subscriptions, from the store (a cluster node's:
    /// of the shards it serves); subscriptions of picos that no longer
    /// exist are dropped.
    fn load(&mut self) -> crate::store::Result<()> {
        for e in queue::load(&self.store)? {
            if self.serves(&e.pico) {
                self.ready.insert(e.id.clone(), e);
            }
        }
        let mut gone = WriteBuf::new();
        for (pico, filter, qos) in subs::load(&self.store)? {
            if !self.serves(&pico) {
                continue;
            }
            if self.store.pico(&pico)?.is_some() {
                self.index.add(&pico, &filter, qos);
            } else {
                gone.remove(Key::mqtt_sub(&pico, &filter));
            }
        }
        self.store.apply(gone)?;
        // Sequence numbers continue above any mark left from before.
        let now = (now_ms() * 1000.0) as u64;
        let highest = self
            .store
            .keys(&self.marks_all())?
            .last()
            .and_then(|k| self.mark_parts(k.as_bytes()))
            .map_or(0, |(seq, _)| seq);
        self.last_seq = now.max(highest);
        Ok(())
    }

    /// A cluster's shards moved: subscribe to the filters of the picos
    /// come to this node and drop those of the picos gone (the broker
    /// session follows), and take the queued publishes of the picos come
    /// here (the ones of picos gone stay stored for their new node).
    fn resync(&mut self) -> crate::store::Result<()> {
        let wanted: Vec<(PicoId, String, u8)> = subs::load(&self.store)?
            .into_iter()
            .filter(|(p, _, _)| self.serves(p))
            .collect();
        let keep: HashSet<(&PicoId, &str)> =
            wanted.iter().map(|(p, f, _)| (p, f.as_str())).collect();
        let (mut added, mut dropped) = (0, 0);
        for (pico, filter) in self.index.entries() {
            if !keep.contains(&(&pico, filter.as_str())) {
                dropped += 1;
                if self.index.remove(&pico, &filter) {
                    self.broker_unsubscribe(&filter);
                }
            }
        }
        for (pico, filter, qos) in &wanted {
            if self.index.add(pico, filter, *qos).is_some() {
                added += 1;
                self.broker_subscribe(filter);
            }
        }
        let before = self.ready.len();
        let leases = self.store.leases().cloned();
        let serves = |p: &PicoId| leases.as_ref().is_none_or(|l| l.serves_pico(p.as_str()));
        self.ready.retain(|_, e| serves(&e.pico));
        let gone = before - self.ready.len();
        let mut known: HashSet<String> = self
            .handed
            .iter()
            .chain(self.collided.iter())
            .chain(self.inflight.values())
            .chain(self.unflushed.iter())
            .chain(self.flushing.iter().flat_map(|(es, _)| es.iter()))
            .map(|e| e.id.clone())
            .collect();
        known.extend(self.ready.keys().cloned());
        let mut came = 0;
        for e in queue::load(&self.store)? {
            if serves(&e.pico) && !known.contains(&e.id) {
                came += 1;
                self.ready.insert(e.id.clone(), e);
            }
        }
        self.mqtt.enqueued(came);
        self.mqtt.dequeued(gone);
        if added + dropped + came + gone > 0 {
            tracing::info!(
                subscriptions_added = added,
                subscriptions_dropped = dropped,
                queued_taken = came,
                queued_left = gone,
                "mqtt: shards moved"
            );
        }
        self.pump();
        Ok(())
    }

    fn next_seq(&mut self) -> u64 {
        self.last_seq = ((now_ms() * 1000.0) as u64).max(self.last_seq + 1);
        self.last_seq
    }

    /// A new connection (a new event loop, polled by its own task).
    fn connect(&mut self) {
        self.gen += 1;
        let gen = self.gen;
        let b = &self.mqtt.broker;
        let mut opts = MqttOptions::new(self.mqtt.client_id.clone(), b.host.clone(), b.port);
        opts.set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(15))
            .set_inflight(100)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some((user, pass)) = &b.login {
            opts.set_credentials(user.clone(), pass.clone());
        }
        if let Some(tls) = &self.mqtt.tls {
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.config.clone()),
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        // Small packets both ways (a message, its PUBACK, the echo): no
        // Nagle delay waiting for the peer's delayed ACK.
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        self.client = Some(client);
        self.connected = false;
        tokio::spawn(poll(
            eventloop,
            gen,
            self.events_tx.clone(),
            self.mqtt.clone(),
        ));
    }

    /// The connection failed or broke: its unacknowledged publishes go
    /// back to the front of the queue; reconnect after the backoff.
    fn down(&mut self, why: &str) {
        // Warn on the first failure and whenever the reason changes (the
        // broker came back but refuses the login, say); the same reason
        // again is only debug.
        if self.connected || self.failures == 0 || self.last_why != why {
            tracing::warn!(
                broker = %self.mqtt.broker.display(),
                "mqtt: {} ({why}); reconnecting",
                if self.connected { "connection lost" } else { "cannot connect" }
            );
        } else {
            tracing::debug!("mqtt: cannot connect ({why})");
        }
        self.last_why = why.to_string();
        self.failures += 1;
        self.client = None;
        self.connected = false;
        self.catch_up = None;
        self.acks_written.clear();
        let back: Vec<QueuedPublish> = self
            .handed
            .drain(..)
            .chain(self.collided.take())
            .chain(self.inflight.drain().map(|(_, e)| e))
            .collect();
        for e in back {
            self.ready.insert(e.id.clone(), e);
        }
        let jitter = self.backoff.mul_f64(rand::random::<f64>() * 0.2);
        self.reconnect_at = Instant::now() + self.backoff + jitter;
        self.backoff = (self.backoff * 2).min(BACKOFF_CAP);
    }

    async fn stop(&mut self) {
        if let Some(c) = self.client.take() {
            if self.connected {
                let _ = c.try_disconnect();
            }
        }
        self.connected = false;
    }

    fn start_flush(&mut self) {
        if self.flushing.is_some() || self.unflushed.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.unflushed);
        // Registered now, so it covers every batch applied before the
        // commits that sent these entries.
        let ticket: FlushTicket = self.store.flush_ticket();
        let fut: Flush = Box::pin(async move {
            if let Err(e) = ticket.wait().await {
                tracing::error!("mqtt: {e}");
            }
        });
        self.flushing = Some((entries, fut));
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Committed {
                pico,
                publishes,
                subs,
            } => {
                self.unflushed.extend(publishes);
                self.start_flush();
                for (filter, qos) in subs {
                    match qos {
                        Some(q) => {
                            if self.index.add(&pico, &filter, q).is_some() {
                                self.broker_subscribe(&filter);
                            }
                        }
                        None => {
                            if self.index.remove(&pico, &filter) {
                                self.broker_unsubscribe(&filter);
                            }
                        }
                    }
                }
            }
            Cmd::Done(seq) => self.done(seq),
            Cmd::Stop(_) => {}
        }
    }

    fn broker_subscribe(&mut self, filter: &str) {
        let Some(qos) = self.index.broker_qos(filter) else {
            return;
        };
        if !self.connected || self.broker_filters.get(filter) == Some(&qos) {
            return;
        }
        if let Some(c) = &self.client {
            match c.try_subscribe(filter, to_qos(qos)) {
                Ok(()) => {
                    self.broker_filters.insert(filter.to_string(), qos);
                }
                Err(e) => tracing::warn!("mqtt: cannot subscribe to {filter:?}: {e}"),
            }
        }
    }

    fn broker_unsubscribe(&mut self, filter: &str) {
        if !self.connected || self.broker_filters.remove(filter).is_none() {
            return;
        }
        if let Some(c) = &self.client {
            if let Err(e) = c.try_unsubscribe(filter) {
                tracing::warn!("mqtt: cannot unsubscribe from {filter:?}: {e}");
            }
        }
    }

    /// Hands queued publishes to the connection, in id order, while the
    /// window has room.
    fn pump(&mut self) {
        if !self.connected {
            return;
        }
        let Some(client) = self.client.clone() else {
            return;
        };
        while self.handed.len() + self.inflight.len() + usize::from(self.collided.is_some())
            < WINDOW
        {
            let Some((_, e)) = self.ready.pop_first() else {
                break;
            };
            match client.try_publish(
                e.topic.clone(),
                to_qos(e.qos),
                e.retain,
                e.payload.clone().into_bytes(),
            ) {
                Ok(()) => {
                    crate::trace::publish(
                        Some(&e.pico),
                        "mqtt_out",
                        || serde_json::json!({"topic": e.topic, "payload": e.payload, "qos": e.qos, "retain": e.retain, "rid": e.rid}),
                    );
                    self.handed.push_back(e)
                }
                Err(err) => {
                    tracing::warn!("mqtt: cannot hand a publish to the connection: {err}");
                    self.ready.insert(e.id.clone(), e);
                    break;
                }
            }
        }
    }

    async fn event(&mut self, ev: Event) {
        match ev {
            Event::Incoming(Packet::ConnAck(ack)) => self.connected(ack.session_present),
            Event::Incoming(Packet::Publish(p)) => self.message(p).await,
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(e) = self.inflight.remove(&ack.pkid) {
                    queue::delete(&self.store, &[e.id]);
                    self.mqtt.dequeued(1);
                }
                self.pump();
            }
            Event::Incoming(Packet::SubAck(ack))
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) =>
            {
                tracing::warn!(
                    broker = %self.mqtt.broker.display(),
                    "mqtt: the broker refused a subscription (not allowed, or a filter it does not take)"
                );
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let entry = match self.collided.take() {
                    Some(e) if pkid != 0 => Some(e),
                    other => {
                        self.collided = other;
                        self.handed.pop_front()
                    }
                };
                if let Some(e) = entry {
                    if pkid == 0 {
                        queue::delete(&self.store, &[e.id]);
                        self.mqtt.dequeued(1);
                        self.pump();
                    } else {
                        self.inflight.insert(pkid, e);
                    }
                }
            }
            Event::Outgoing(Outgoing::AwaitAck(_)) => {
                // The front publish waits for its packet id to be free; it
                // is written (an Outgoing::Publish) once it is.
                self.collided = self.handed.pop_front();
            }
            Event::Outgoing(Outgoing::PubAck(_)) => {
                if let Some((seq, picos, old)) = self.acks_written.pop_front() {
                    let mut buf = WriteBuf::new();
                    for p in &picos {
                        buf.remove(self.mark_key(seq, p));
                    }
                    if let Some((old_seq, old_picos)) = old {
                        for p in &old_picos {
                            buf.remove(self.mark_key(old_seq, p));
                        }
                    }
                    if let Err(e) = self.store.apply(buf) {
                        tracing::error!("mqtt: cannot drop delivery marks: {e}");
                    }
                }
            }
            _ => {}
        }
    }

    fn connected(&mut self, session_present: bool) {
        self.connected = true;
        self.backoff = BACKOFF_BASE;
        if self.failures > 0 || !self.connected_once {
            tracing::info!(
                broker = %self.mqtt.broker.display(),
                session_present,
                "mqtt: connected"
            );
        }
        self.failures = 0;
        self.last_why.clear();
        // Subscriptions: all of them on a new session or on this
        // process's first connection (it cannot know what the broker
        // kept), else only what changed while away.
        if !session_present || !self.connected_once {
            self.broker_filters.clear();
        }
        self.connected_once = true;
        let wanted = self.index.filters();
        let stale: Vec<String> = self
            .broker_filters
            .keys()
            .filter(|f| self.index.broker_qos(f).is_none())
            .cloned()
            .collect();
        for f in stale {
            self.broker_unsubscribe(&f);
        }
        for (f, _) in wanted {
            self.broker_subscribe(&f);
        }
        self.catch_up = if session_present {
            self.groups().map(|groups| CatchUp {
                until: Instant::now() + CATCH_UP,
                groups,
            })
        } else {
            // A new session redelivers nothing: marks left are moot.
            self.drop_stored_marks();
            None
        };
        self.pump();
    }

    /// The messages in doubt: those of older connections still being
    /// processed, and marks in the store of the others, by sequence.
    fn groups(&self) -> Option<VecDeque<Group>> {
        let mut out: BTreeMap<u64, Group> = BTreeMap::new();
        for r in self.received.iter().filter(|r| r.gen != self.gen) {
            out.insert(
                r.seq,
                Group {
                    seq: r.seq,
                    mark: r.mark.clone(),
                    stored: None,
                },
            );
        }
        match self.store.scan::<Mark>(&self.marks_all()) {
            Ok(marks) => {
                for (k, mark) in marks {
                    let Some((seq, pico)) = self.mark_parts(k.as_bytes()) else {
                        continue;
                    };
                    let g = out.entry(seq).or_insert_with(|| Group {
                        seq,
                        mark,
                        stored: Some(Vec::new()),
                    });
                    if let Some(picos) = &mut g.stored {
                        picos.push(pico);
                    }
                }
            }
            Err(e) => tracing::error!("mqtt: cannot read delivery marks: {e}"),
        }
        (!out.is_empty()).then(|| out.into_values().collect())
    }

    /// Removes the marks of stored groups (acknowledged after all).
    fn drop_groups(&self, groups: impl IntoIterator<Item = Group>) {
        let mut buf = WriteBuf::new();
        for g in groups {
            for p in g.stored.iter().flatten() {
                buf.remove(self.mark_key(g.seq, p));
            }
        }
        if let Err(e) = self.store.apply(buf) {
            tracing::error!("mqtt: cannot drop delivery marks: {e}");
        }
    }

    /// Removes every stored mark not of a message still in `received`.
    fn drop_stored_marks(&self) {
        let live: HashSet<u64> = self.received.iter().map(|r| r.seq).collect();
        let mut buf = WriteBuf::new();
        match self.store.keys(&self.marks_all()) {
            Ok(keys) => {
                for k in keys {
                    let keep = self
                        .mark_parts(k.as_bytes())
                        .is_some_and(|(s, _)| live.contains(&s));
                    if !keep {
                        buf.remove(k);
                    }
                }
            }
            Err(e) => tracing::error!("mqtt: cannot read delivery marks: {e}"),
        }
        if let Err(e) = self.store.apply(buf) {
            tracing::error!("mqtt: cannot drop delivery marks: {e}");
        }
    }

    /// A message from the broker: an event on every subscribed pico.
    async fn message(&mut self, p: Publish) {
        crate::trace::publish(
            None,
            "mqtt_in",
            || serde_json::json!({"topic": p.topic, "payload": String::from_utf8_lossy(&p.payload), "qos": p.qos as u8, "retain": p.retain}),
        );
        let Some(dispatch) = self.dispatch.upgrade() else {
            return;
        };
        let mark = Mark {
            topic: p.topic.clone(),
            hash: hash(&p.topic, &p.payload),
        };
        let qos1 = p.qos != QoS::AtMostOnce;
        // A redelivery of a message in doubt?
        let mut matched: Option<Group> = None;
        if qos1 {
            if let Some(c) = &mut self.catch_up {
                if Instant::now() > c.until {
                    let left = std::mem::take(&mut c.groups);
                    self.catch_up = None;
                    self.drop_groups(left);
                } else if let Some(at) = c.groups.iter().position(|g| g.mark == mark) {
                    let stale: Vec<Group> = c.groups.drain(..at).collect();
                    matched = c.groups.pop_front();
                    let finished = c.groups.is_empty();
                    self.drop_groups(stale);
                    if finished {
                        self.catch_up = None;
                    }
                }
            }
        }
        let seq = self.next_seq();
        let mut picos = self.index.picos_for(&p.topic);
        let mut pending = 0;
        let mut old = None;
        match &matched {
            Some(Group {
                seq: first,
                stored: None,
                ..
            }) => {
                // Still being processed from the last connection: ours
                // finishes with it, nobody gets it twice.
                picos.clear();
                if let Some(r) = self.received.iter_mut().find(|r| r.seq == *first) {
                    r.followers.push(seq);
                    pending += 1;
                }
            }
            Some(Group {
                seq: first,
                stored: Some(done),
                ..
            }) => {
                picos.retain(|p| !done.contains(p));
                old = Some((*first, done.clone()));
            }
            None => {}
        }
        if matched.is_some() {
            tracing::info!(topic = %p.topic, "mqtt: redelivery of a message already handled");
        }
        let attrs = attrs(&p);
        let mut waits: Vec<oneshot::Receiver<Result<EventAnswer, PicoError>>> = Vec::new();
        let mut marked = Vec::new();
        for pico in picos {
            let eci = match self.store.pico(&pico) {
                Ok(Some(rec)) => match rec.channels.first() {
                    Some(eci) => eci.clone(),
                    None => continue,
                },
                Ok(None) => {
                    self.pico_gone(&pico);
                    continue;
                }
                Err(e) => {
                    tracing::error!(pico = %pico, "mqtt: {e}");
                    continue;
                }
            };
            let event = EventIn {
                eci,
                eid: Eid::random(),
                domain: "mqtt".into(),
                name: "message".into(),
                attrs: attrs.clone(),
                time_ms: now_ms(),
            };
            let m = qos1.then(|| {
                (
                    self.mark_key(seq, &pico),
                    serde_json::to_value(&mark).unwrap_or(Value::Null),
                )
            });
            match dispatch.handle(&pico).event_marked(event, m).await {
                Ok(rx) => {
                    waits.push(rx);
                    if qos1 {
                        marked.push(pico);
                    }
                }
                Err(e) => {
                    tracing::warn!(pico = %pico, "mqtt: message on {} not delivered: {e}", p.topic)
                }
            }
        }
        if !qos1 {
            // Nothing to acknowledge; the events run on their own.
            return;
        }
        pending += waits.len();
        self.received.push_back(Received {
            seq,
            gen: self.gen,
            publish: p,
            mark,
            marked,
            pending: pending.max(1),
            followers: Vec::new(),
            old,
        });
        if waits.is_empty() {
            if pending == 0 {
                self.done(seq);
            }
            return;
        }
        let mqtt = self.mqtt.clone();
        tokio::spawn(async move {
            for rx in waits {
                // Any answer (a failed event too) means the pico is done
                // with it; only a durable success wrote the mark.
                let _ = rx.await;
                mqtt.send(Cmd::Done(seq));
            }
        });
    }

    /// One of a message's events (or an earlier delivery) is done; when
    /// all are, acknowledge every finished message at the front, in order.
    fn done(&mut self, seq: u64) {
        let mut todo = vec![seq];
        while let Some(s) = todo.pop() {
            if let Some(r) = self.received.iter_mut().find(|r| r.seq == s) {
                r.pending = r.pending.saturating_sub(1);
                if r.pending == 0 {
                    todo.append(&mut r.followers);
                }
            }
        }
        while self.received.front().is_some_and(|r| r.pending == 0) {
            let r = self.received.pop_front().expect("checked");
            if r.gen != self.gen || !self.connected {
                // Its connection is gone: the broker sends it again and
                // the marks tell it was handled.
                continue;
            }
            let Some(client) = &self.client else { continue };
            match client.try_ack(&r.publish) {
                Ok(()) => self.acks_written.push_back((r.seq, r.marked, r.old)),
                Err(e) => tracing::warn!("mqtt: cannot acknowledge a message: {e}"),
            }
        }
    }

    /// A subscribed pico no longer exists: its subscriptions go.
    fn pico_gone(&mut self, pico: &PicoId) {
        let mut buf = WriteBuf::new();
        match subs::of_pico(&self.store, pico) {
            Ok(filters) => {
                for (f, _) in filters {
                    buf.remove(Key::mqtt_sub(pico, &f));
                }
            }
            Err(e) => tracing::error!("mqtt: {e}"),
        }
        if let Err(e) = self.store.apply(buf) {
            tracing::error!("mqtt: {e}");
        }
        for f in self.index.remove_pico(pico) {
            self.broker_unsubscribe(&f);
        }
    }
}

/// The event attributes of a message: `topic`, `payload` (its JSON when
/// it is JSON, else its text), `qos`, `retain`.
fn attrs(p: &Publish) -> Map<String, Value> {
    let payload = serde_json::from_slice::<Value>(&p.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&p.payload).into_owned()));
    let mut m = Map::new();
    m.insert("topic".into(), Value::String(p.topic.clone()));
    m.insert("payload".into(), payload);
    m.insert("qos".into(), Value::from(p.qos as u8));
    m.insert("retain".into(), Value::Bool(p.retain));
    m
}

fn to_qos(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// Polls one connection's event loop, forwarding what happens, until it
/// fails (the task then makes a new one).
async fn poll(
    mut eventloop: EventLoop,
    gen: u64,
    tx: mpsc::UnboundedSender<ConnEvent>,
    mqtt: Arc<Mqtt>,
) {
    loop {
        match eventloop.poll().await {
            Ok(ev) => {
                if tx.send((gen, Ok(ev))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let ca = mqtt.tls.as_ref().and_then(|t| t.ca.as_deref());
                let _ = tx.send((gen, Err(super::tls::describe(&e, &mqtt.broker, ca))));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_attributes_decode_json_payloads() {
        let p = Publish::new(
            "twilio",
            QoS::AtLeastOnce,
            br#"{"Type":"Outgoing"}"#.to_vec(),
        );
        let a = attrs(&p);
        assert_eq!(
            Value::Object(a),
            serde_json::json!({"topic": "twilio", "payload": {"Type": "Outgoing"}, "qos": 1, "retain": false})
        );
        let p = Publish::new("t", QoS::AtMostOnce, b"not json".to_vec());
        assert_eq!(attrs(&p)["payload"], Value::String("not json".into()));
        let p = Publish::new("t", QoS::AtMostOnce, b"42".to_vec());
        assert_eq!(attrs(&p)["payload"], serde_json::json!(42));
    }

    #[test]
    fn hashes_tell_topic_and_payload_apart() {
        assert_eq!(hash("a", b"b"), hash("a", b"b"));
        assert_ne!(hash("a", b"b"), hash("ab", b""));
        assert_eq!(hash("a", b"b").len(), 24);
    }
}
