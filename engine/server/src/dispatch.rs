//! The dispatch layer: a cheap, clonable handle ([`Dispatch`]) on the
//! running picos, for everything above the pico layer that has to reach
//! one: the engine's operations, the integrations (the Twilio outbox's
//! sender raises its result events, the MQTT client hands messages to the
//! subscribed picos, their admin routes look picos up) and the delivery of
//! the events rules send. Uses: `pico`, `store`, `policy`, `error`, `ids`,
//! dashmap, tokio.
//!
//! It holds the registry of pico tasks (one [`PicoHandle`] per running
//! pico, started on first use) and the generic event path: an event or a
//! query through a channel is checked against the channel's policy, then
//! queued in the pico's mailbox. No global lock: the channel and its
//! parsed policy come from a sharded map (read again from sled after any
//! channel write), the pico's handle from another, and the pico's mailbox
//! orders the rest.
//!
//! Background tasks hold a [`WeakDispatch`], so they end with the engine
//! instead of keeping it alive.

use crate::error::{EngineError, Result};
use crate::ids::{Eci, PicoId, Rid};
use crate::pico::{EventAnswer, EventIn, PicoContext, PicoHandle};
use crate::policy::Policy;
use crate::store::{ChannelRecord, PicoRecord, Store};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use serde_json::{Map, Value};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// The running picos and the way to them. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Dispatch {
    inner: Arc<Inner>,
}

struct Inner {
    /// What pico tasks get: store, registry, the outbox of sent events.
    ctx: PicoContext,
    picos: DashMap<PicoId, PicoHandle>,
    /// Channels read lately with their parsed policies, each with the
    /// store's channel generation it was read at (valid while that has
    /// not changed: any channel write makes every entry read again).
    channels: DashMap<Eci, (u64, ChannelEntry)>,
}

/// A channel and its parsed policy, as [`Dispatch::channel_record`] gives it.
pub type ChannelEntry = Arc<(ChannelRecord, Option<Policy>)>;

/// The most channels [`Dispatch`] keeps parsed (emptied when full).
const CHANNEL_CACHE: usize = 65_536;

/// A [`Dispatch`] that does not keep the engine alive: background tasks
/// hold one and end once the engine is gone.
#[derive(Clone)]
pub struct WeakDispatch(Weak<Inner>);

impl WeakDispatch {
    /// The dispatch, unless the engine is gone.
    pub fn upgrade(&self) -> Option<Dispatch> {
        self.0.upgrade().map(|inner| Dispatch { inner })
    }

    /// Is the engine gone?
    pub fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl Dispatch {
    /// The dispatch of pico tasks made with `ctx`. No task is started
    /// until a pico is reached.
    pub fn new(ctx: PicoContext) -> Dispatch {
        Dispatch {
            inner: Arc::new(Inner {
                ctx,
                picos: DashMap::new(),
                channels: DashMap::new(),
            }),
        }
    }

    /// A handle that does not keep the engine alive.
    pub fn downgrade(&self) -> WeakDispatch {
        WeakDispatch(Arc::downgrade(&self.inner))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.ctx.store
    }

    /// The pico tree's writer.
    pub fn family(&self) -> &crate::family::Family {
        &self.inner.ctx.family
    }

    /// The task of pico `id`, started if it is not running: for what the
    /// engine sends a pico itself, without a channel (installs, MQTT
    /// messages). No global lock: a read of one shard of the map, a write
    /// only on first use.
    pub fn handle(&self, id: &PicoId) -> PicoHandle {
        if let Some(h) = self.inner.picos.get(id) {
            if !h.is_closed() {
                return h.clone();
            }
        }
        let spawn = || PicoHandle::spawn(id.clone(), self.inner.ctx.clone());
        match self.inner.picos.entry(id.clone()) {
            Entry::Occupied(mut e) => {
                if e.get().is_closed() {
                    e.insert(spawn());
                }
                e.get().clone()
            }
            Entry::Vacant(e) => e.insert(spawn()).clone(),
        }
    }

    /// Pico `id`'s record, or [`EngineError::UnknownPico`].
    pub fn pico_record(&self, id: &PicoId) -> Result<PicoRecord> {
        self.store()
            .pico(id)?
            .ok_or_else(|| EngineError::UnknownPico(id.clone()))
    }

    /// The channel `eci` with its policy, or [`EngineError::UnknownEci`].
    /// The event path's hot read: kept parsed in memory until a channel
    /// is written (see `Inner::channels`).
    pub fn channel_record(&self, eci: &Eci) -> Result<ChannelEntry> {
        let generation = self.store().channel_generation();
        if let Some(hit) = self.inner.channels.get(eci) {
            if hit.0 == generation {
                return Ok(hit.1.clone());
            }
        }
        let ch = self
            .store()
            .channel(eci)?
            .ok_or_else(|| EngineError::UnknownEci(eci.clone()))?;
        // Policies are validated when a channel is made, so a stored one
        // that no longer reads is corruption: refuse everything rather
        // than let everything through.
        let policy = match &ch.policy {
            None => None,
            Some(p) => Some(Policy::from_json(p).map_err(|e| {
                EngineError::Denied(format!("channel {eci} has an unreadable policy: {e}"))
            })?),
        };
        let entry: ChannelEntry = Arc::new((ch, policy));
        if self.inner.channels.len() >= CHANNEL_CACHE {
            self.inner.channels.clear();
        }
        // Read at `generation` or later: if a write came in between, the
        // entry is older than the store says and is read again next time.
        self.inner
            .channels
            .insert(eci.clone(), (generation, entry.clone()));
        Ok(entry)
    }

    /// Raises an event on the pico behind `event.eci`, if its policy lets
    /// it through, and waits for its answer (sent once its writes are
    /// durable).
    pub async fn event(&self, event: EventIn) -> Result<EventAnswer> {
        self.event_as(None, event).await
    }

    /// [`Dispatch::event`] sent by pico `from` (`ctx:eventQuery`): a
    /// family channel admits only the pico it belongs to.
    pub async fn event_as(&self, from: Option<&PicoId>, event: EventIn) -> Result<EventAnswer> {
        let pico = self.event_pico(from, &event)?;
        Ok(self.handle(&pico).event(event).await?)
    }

    /// Like [`Dispatch::event`], with an idempotency key (`idempotency`):
    /// an event the pico already processed under that key is answered
    /// with its stored answer and applies nothing again.
    pub async fn event_keyed(&self, event: EventIn, key: Option<String>) -> Result<EventAnswer> {
        let Some(key) = key else {
            return self.event(event).await;
        };
        let pico = self.event_pico(None, &event)?;
        let mark = crate::idempotency::mark(&pico, &key);
        let answer = self.handle(&pico).event_marked(event, Some(mark)).await?;
        match answer.await {
            Ok(a) => Ok(a?),
            Err(_) => Err(crate::pico::PicoError::Gone(pico).into()),
        }
    }

    /// Delivers an event a rule of `from` sent: checked against the
    /// channel and its policy like any other, but nobody waits for its
    /// answer.
    async fn deliver(&self, from: &PicoId, event: EventIn) -> Result<()> {
        let pico = self.event_pico(Some(from), &event)?;
        Ok(self.handle(&pico).event_nowait(event).await?)
    }

    /// The pico behind `event.eci`, once the channel admits the sender
    /// and its policy allows the event.
    fn event_pico(&self, from: Option<&PicoId>, event: &EventIn) -> Result<PicoId> {
        let found = self.channel_record(&event.eci)?;
        let (ch, policy) = &*found;
        family_check(&event.eci, ch, from)?;
        if let Some(p) = policy {
            if !p.allows_event(&event.domain, &event.name) {
                return Err(EngineError::Denied(format!(
                    "Denied by channel policy: event {}:{}",
                    event.domain, event.name
                )));
            }
        }
        Ok(ch.pico.clone())
    }

    /// Calls a shared function of `rid` on the pico behind `eci`, if the
    /// channel's policy lets it through.
    pub async fn query(
        &self,
        eci: &Eci,
        rid: Rid,
        name: String,
        args: Map<String, Value>,
    ) -> Result<Value> {
        let pico = self.query_pico(None, eci, &rid, &name)?;
        Ok(self.handle(&pico).query(rid, name, args).await?)
    }

    /// The pico behind `eci`, once the channel admits the caller and its
    /// policy allows the query.
    pub fn query_pico(
        &self,
        from: Option<&PicoId>,
        eci: &Eci,
        rid: &Rid,
        name: &str,
    ) -> Result<PicoId> {
        let found = self.channel_record(eci)?;
        let (ch, policy) = &*found;
        family_check(eci, ch, from)?;
        if let Some(p) = policy {
            if !p.allows_query(rid.as_str(), name) {
                return Err(EngineError::Denied(format!(
                    "Denied by channel policy: query {rid}/{name}"
                )));
            }
        }
        Ok(ch.pico.clone())
    }

    /// Forgets pico `id`'s task, letting it finish what it has queued
    /// and end (a deleted pico).
    pub async fn stop(&self, id: &PicoId) {
        if let Some((_, h)) = self.inner.picos.remove(id) {
            h.stop().await;
        }
    }

    /// Stops every pico task after its queued messages (shutdown).
    pub async fn stop_all(&self) {
        let handles: Vec<PicoHandle> = self.inner.picos.iter().map(|h| h.value().clone()).collect();
        for h in handles {
            h.stop().await;
        }
    }

    /// Starts the task that delivers, in the order they were sent, the
    /// events rules send to channels (`sent`: the receiving end of the
    /// `PicoContext::outbox` this dispatch was made with). It holds only a
    /// [`WeakDispatch`]: it ends with the engine.
    pub fn deliver_sent(&self, sent: mpsc::UnboundedReceiver<(PicoId, EventIn)>) {
        tokio::spawn(deliver_sent(self.downgrade(), sent));
    }
}

/// The task of [`Dispatch::deliver_sent`].
async fn deliver_sent(
    dispatch: WeakDispatch,
    mut sent: mpsc::UnboundedReceiver<(PicoId, EventIn)>,
) {
    while let Some((from, event)) = sent.recv().await {
        let Some(dispatch) = dispatch.upgrade() else {
            return;
        };
        let what = format!("{}:{} to {}", event.domain, event.name, event.eci);
        if let Err(e) = dispatch.deliver(&from, event).await {
            tracing::warn!("event {what} not delivered: {e}");
        }
    }
}

/// A family channel admits only the pico it belongs to (the Pico Engine's
/// `familyChannelPicoID`); requests from outside the engine never.
pub fn family_check(eci: &Eci, ch: &ChannelRecord, from: Option<&PicoId>) -> Result<()> {
    match &ch.family {
        Some(owner) if Some(owner) != from => Err(EngineError::FamilyChannel(eci.clone())),
        _ => Ok(()),
    }
}
