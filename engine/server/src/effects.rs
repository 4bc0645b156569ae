//! What an evaluation needs from the integrations, and what it leaves
//! them once its writes are applied: narrow traits that [`crate::host`]
//! and [`crate::pico`] hold as trait objects, and the plain data that
//! crosses from the host to the integration after the commit. Uses:
//! `ids`, `store`, krl_lang, serde.
//!
//! The integrations implement these traits above `dispatch`
//! ([`TwilioOutbox`]: `twilio::outbox::OutboxConfig`; [`StaticUrls`]:
//! `statics::StaticFiles`; [`MqttQueue`]: `mqtt::Mqtt`), and
//! `engine::open` plugs them into the picos' context: nothing below
//! `dispatch` names an integration.

use crate::ids::PicoId;
use crate::store::WriteBuf;
use krl_lang::engine::{MqttPublish, TwilioRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Twilio outbox, as rules write to it (`twilio:send_sms`,
/// `twilio:call`, `twilio:redirect_call`).
pub trait TwilioOutbox: Send + Sync {
    /// The engine's public base URL (`--public-url`).
    fn public_url(&self) -> &str;

    /// Puts the outbox entry for `request`, queued by a rule of `pico`,
    /// in `buf` (the event's writes); answers the value the rule gets.
    /// The error is the runtime error's message.
    fn new_entry(
        &self,
        pico: &PicoId,
        request: &TwilioRequest,
        buf: &mut WriteBuf,
    ) -> Result<Value, String>;

    /// A batch holding new entries was applied (the sender may go).
    fn committed(&self);
}

/// The static folder, as `twilio:url_for` sees it.
pub trait StaticUrls: Send + Sync {
    /// The public URL of `path` under the folder, with its fingerprint;
    /// the error says why there is none.
    fn url_for(&self, path: &str) -> Result<String, String>;
}

/// The MQTT side, as rules write to it (`mqtt:publish`, `mqtt:subscribe`,
/// `mqtt:unsubscribe`).
pub trait MqttQueue: Send + Sync {
    /// `mqtt:publish` from a rule of `pico`: checks the queue's bound
    /// (counting `in_event` publishes of this event not yet committed)
    /// and puts the entry in `buf`. Answers the entry (for
    /// [`MqttChanges`]) and the value the rule gets.
    fn new_publish(
        &self,
        pico: &PicoId,
        request: &MqttPublish,
        in_event: usize,
        buf: &mut WriteBuf,
    ) -> Result<(QueuedPublish, Value), String>;

    /// `mqtt:subscribe`: puts `pico`'s subscription to `filter` in `buf`.
    fn subscribe(&self, pico: &PicoId, filter: &str, qos: u8, buf: &mut WriteBuf);

    /// `mqtt:unsubscribe`: removes `pico`'s subscription in `buf`.
    fn unsubscribe(&self, pico: &PicoId, filter: &str, buf: &mut WriteBuf);

    /// A batch of `pico` was applied with these changes: hands them to
    /// the connection, in commit order.
    fn committed(&self, pico: &PicoId, changes: MqttChanges);
}

/// One queued `mqtt:publish`, as stored under `Q id` (in the batch of the
/// event that published it) and sent by the MQTT connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedPublish {
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

/// What one evaluation changed on the MQTT side (collected by the host,
/// handed to [`MqttQueue::committed`] once its writes are applied).
#[derive(Debug, Default)]
pub struct MqttChanges {
    /// Publishes, in order.
    pub publishes: Vec<QueuedPublish>,
    /// Subscriptions: `Some(qos)` subscribed, `None` unsubscribed.
    pub subs: Vec<(String, Option<u8>)>,
}

impl MqttChanges {
    /// Did the evaluation publish or (un)subscribe nothing?
    pub fn is_empty(&self) -> bool {
        self.publishes.is_empty() && self.subs.is_empty()
    }
}

/// A boxed future of [`PicoCalls`]; the error is the runtime error's
/// message.
pub type CallFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

/// What a pico's `ctx:` actions ask of the engine beyond the pico itself:
/// calls to other picos made as this pico (so family channels admit
/// them), new children with their rulesets, rulesets by URL, dropping
/// deleted picos, events to other engines. Implemented above `dispatch`
/// (`engine::calls`); the host waits for the futures (a pico's rules are
/// synchronous).
pub trait PicoCalls: Send + Sync {
    /// `ctx:query`: `rid`'s `name` on the pico behind `eci`, as `from`.
    fn query(
        &self,
        from: PicoId,
        eci: String,
        rid: String,
        name: String,
        args: serde_json::Map<String, Value>,
    ) -> CallFuture<'_, Value>;

    /// `ctx:eventQuery`: an event on the pico behind `eci`, then a query
    /// there, as `from`.
    fn event_query(
        &self,
        from: PicoId,
        event: Sent,
        rid: String,
        name: String,
        args: serde_json::Map<String, Value>,
    ) -> CallFuture<'_, Value>;

    /// `ctx:newPico`: a child of `parent` (made at once), with the
    /// rulesets at these URLs installed (configs given); an install that
    /// fails is logged, as in the Pico Engine.
    fn new_pico(
        &self,
        parent: PicoId,
        rulesets: Vec<(String, Value)>,
    ) -> CallFuture<'_, crate::family::NewChild>;

    /// The rid registered from `url`, fetching and registering it first
    /// when it is not (`flush`: always).
    fn load(&self, url: String, flush: bool) -> CallFuture<'_, String>;

    /// Picos cut off the tree (a delete committed, or children of an
    /// event that then failed): stops their tasks and drops their state,
    /// in the background.
    fn reap(&self, picos: Vec<PicoId>);

    /// Events for other engines' `/c/` routes, after their event
    /// committed: sent in the background.
    fn send_remote(&self, events: Vec<Remote>);
}

/// An event a pico sends to a channel.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The channel.
    pub eci: String,
    /// Domain.
    pub domain: String,
    /// Name.
    pub name: String,
    /// Attributes.
    pub attrs: serde_json::Map<String, Value>,
}

/// An event for another engine (`host` of `event:send`/`ctx:event`).
#[derive(Clone, Debug)]
pub struct Remote {
    /// The other engine's base URL.
    pub host: String,
    /// The event.
    pub event: Sent,
}
