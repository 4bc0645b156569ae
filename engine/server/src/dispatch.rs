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

use crate::clock::now_ms;
use crate::error::{EngineError, Result};
use crate::ids::{Eci, PicoId, Rid};
use crate::pico::{EventAnswer, EventIn, InboxRow, Lifecycle, PicoContext, PicoHandle, Sent};
use crate::policy::Policy;
use crate::store::{ChannelRecord, PicoRecord, Store};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use tokio::sync::{mpsc, Notify};

/// The running picos and the way to them. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Dispatch {
    inner: Arc<Inner>,
}

struct Inner {
    /// What pico tasks get: store, registry, the outbox of sent events.
    ctx: PicoContext,
    /// The running tasks. An entry goes when its task ends (idle, stopped,
    /// or the pico is gone), so the map holds only live picos.
    picos: DashMap<PicoId, PicoHandle, foldhash::fast::RandomState>,
    /// Pico tasks started and not yet ended (shared with [`Lives`]).
    live: Arc<AtomicUsize>,
    /// Pico tasks started so far.
    started: AtomicUsize,
    /// Picos whose tasks left while idle with a timer or a call-session
    /// sweep pending: (due, ms since the epoch; pico). The waker task
    /// starts them again then.
    wakeups: Mutex<BTreeSet<(u64, PicoId)>>,
    wake: Arc<Notify>,
    waker: Once,
    /// In a cluster, the way to picos of other nodes (`cluster`).
    remote: std::sync::OnceLock<Arc<dyn Remote>>,
    /// Channels read lately with their parsed policies, each with the
    /// store's channel generation it was read at (valid while that has
    /// not changed: any channel write makes every entry read again).
    channels: DashMap<Eci, (u64, ChannelEntry), foldhash::fast::RandomState>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the waker task see that the engine is gone and end.
        self.wake.notify_one();
    }
}

/// The dispatch's side of the pico tasks' lives ([`Lifecycle`]).
struct Lives {
    inner: Weak<Inner>,
    /// [`Inner::live`], read by [`Lifecycle::crowded`] without upgrading.
    live: Arc<AtomicUsize>,
    /// [`PicoContext::max_live`].
    max_live: usize,
}

impl Lifecycle for Lives {
    fn handle(&self, id: &PicoId) -> Option<PicoHandle> {
        // None once the engine is gone.
        self.inner
            .upgrade()
            .map(|inner| Dispatch { inner }.handle(id))
    }

    fn ended(&self, id: &PicoId, generation: u64) {
        if let Some(inner) = self.inner.upgrade() {
            inner.live.fetch_sub(1, Ordering::SeqCst);
            // Only this task's entry: a newer task may have taken its place.
            inner
                .picos
                .remove_if(id, |_, h| h.generation() == generation);
        }
    }

    fn wake_at(&self, id: &PicoId, due_ms: u64) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        inner.waker.call_once(|| {
            tokio::spawn(run_waker(self.inner.clone(), inner.wake.clone()));
        });
        inner
            .wakeups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((due_ms, id.clone()));
        inner.wake.notify_one();
    }

    fn crowded(&self) -> bool {
        self.live.load(Ordering::Relaxed) > self.max_live
    }
}

/// A future of [`Remote`].
pub type RemoteFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>>;

/// The way to the picos of other nodes of a cluster (the `cluster`
/// module implements it over HTTP between the nodes).
pub trait Remote: Send + Sync {
    /// Delivers `event`, which a rule of `from` sent to pico `to`, at
    /// `to`'s node, under idempotency key `key`: applied once however
    /// often it is tried.
    fn deliver(&self, from: PicoId, to: PicoId, event: EventIn, key: String) -> RemoteFuture<()>;
    /// `ctx:query` (and `ctx:eventQuery`, with its event first) of `from`
    /// through channel `eci` to pico `to`, at `to`'s node.
    fn call(&self, call: RemoteCall) -> RemoteFuture<Value>;
}

/// A `ctx:query` or `ctx:eventQuery` for another node ([`Remote::call`]).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RemoteCall {
    /// The calling pico.
    pub from: PicoId,
    /// The pico called (its node answers).
    pub to: PicoId,
    /// The channel called through.
    pub eci: Eci,
    /// `ctx:eventQuery`'s event: domain, name, attributes.
    pub event: Option<(String, String, Map<String, Value>)>,
    /// The ruleset and function queried.
    pub rid: Rid,
    /// The function's name.
    pub name: String,
    /// Its arguments.
    pub args: Map<String, Value>,
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
    pub fn new(mut ctx: PicoContext) -> Dispatch {
        Dispatch {
            inner: Arc::new_cyclic(|weak| {
                let live = Arc::new(AtomicUsize::new(0));
                ctx.lifecycle = Some(Arc::new(Lives {
                    inner: weak.clone(),
                    live: live.clone(),
                    max_live: ctx.max_live,
                }));
                Inner {
                    ctx,
                    picos: DashMap::default(),
                    channels: DashMap::default(),
                    live,
                    started: AtomicUsize::new(0),
                    wakeups: Mutex::new(BTreeSet::new()),
                    wake: Arc::new(Notify::new()),
                    waker: Once::new(),
                    remote: std::sync::OnceLock::new(),
                }
            }),
        }
    }

    /// How many pico tasks are running (started and not yet ended): idle
    /// picos leave memory, see [`PicoContext::idle_timeout`].
    pub fn live_picos(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// How many pico tasks were started so far (a pico whose task left
    /// while idle counts again when it starts again).
    pub fn started_picos(&self) -> usize {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// How many picos the map of running tasks holds (ended tasks are
    /// removed: at most [`Dispatch::live_picos`] and the ones finishing).
    pub fn tracked_picos(&self) -> usize {
        self.inner.picos.len()
    }

    /// How many picos wait to be started again for a timer or a session
    /// sweep ([`Lifecycle::wake_at`]).
    pub fn pending_wakeups(&self) -> usize {
        self.inner
            .wakeups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
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
        let spawn = |before: Option<&PicoHandle>| {
            self.inner.live.fetch_add(1, Ordering::SeqCst);
            self.inner.started.fetch_add(1, Ordering::SeqCst);
            PicoHandle::spawn_after(id.clone(), self.inner.ctx.clone(), before)
        };
        match self.inner.picos.entry(id.clone()) {
            Entry::Occupied(mut e) => {
                if e.get().is_closed() {
                    // The old task may still be finishing its queue: the
                    // new one waits for it.
                    let fresh = spawn(Some(e.get()));
                    e.insert(fresh);
                }
                e.get().clone()
            }
            Entry::Vacant(e) => e.insert(spawn(None)).clone(),
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
        if let Some(remote) = self.remote_for(&pico) {
            let key = format!("sent:{}", crate::ids::random_base62(22));
            return remote.deliver(from.clone(), pico, event, key).await;
        }
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

    /// Plugs in the way to other nodes' picos (a cluster node, once).
    pub fn set_remote(&self, remote: Arc<dyn Remote>) {
        let _ = self.inner.remote.set(remote);
    }

    /// The way to other nodes' picos when pico `id` is not served here
    /// (`None`: it is, or this is no cluster).
    pub fn remote_for(&self, id: &PicoId) -> Option<Arc<dyn Remote>> {
        if self.serves(id) {
            return None;
        }
        self.inner.remote.get().cloned()
    }

    /// [`Dispatch::event_keyed`] sent by pico `from` (a rule's
    /// `event:send` delivered from another node of a cluster).
    pub async fn event_keyed_as(
        &self,
        from: &PicoId,
        event: EventIn,
        key: String,
    ) -> Result<EventAnswer> {
        let pico = self.event_pico(Some(from), &event)?;
        let mark = crate::idempotency::mark(&pico, &key);
        let answer = self.handle(&pico).event_marked(event, Some(mark)).await?;
        match answer.await {
            Ok(a) => Ok(a?),
            Err(_) => Err(crate::pico::PicoError::Gone(pico).into()),
        }
    }

    /// Does this node serve pico `id`? Always on one node; in a cluster,
    /// when the pico's shard is this node's (`cluster`).
    pub fn serves(&self, id: &PicoId) -> bool {
        self.store()
            .leases()
            .is_none_or(|l| l.serves_pico(id.as_str()))
    }

    /// Stops the tasks of the picos in `shards` after their queued
    /// messages (a cluster's shards leaving this node).
    pub async fn stop_shards(&self, shards: &BTreeSet<u32>) {
        let handles: Vec<PicoHandle> = self
            .inner
            .picos
            .iter()
            .filter(|h| shards.contains(&crate::store::pg::shard_of_pico(h.key().as_str())))
            .map(|h| h.value().clone())
            .collect();
        for h in handles {
            h.stop().await;
        }
        self.inner
            .picos
            .retain(|id, _| !shards.contains(&crate::store::pg::shard_of_pico(id.as_str())));
    }

    /// Starts the picos of `shards` (come to this node) that have timers
    /// or call sessions, so that they fire and sweep without waiting for
    /// a message (overdue ones at once: what came due while no node had
    /// the shard fires once now).
    pub fn start_shards(&self, shards: &BTreeSet<u32>) {
        // Their queued Twilio requests are this node's to send now.
        self.inner.ctx.twilio.committed();
        let mut ids = match self.store().scheduled_picos() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!("cannot read the scheduled picos: {e}");
                Vec::new()
            }
        };
        match self.store().session_picos() {
            Ok(more) => ids.extend(more),
            Err(e) => tracing::error!("cannot read the picos with call sessions: {e}"),
        }
        for id in ids {
            if shards.contains(&crate::store::pg::shard_of_pico(id.as_str())) && self.serves(&id) {
                match self.store().pico(&id) {
                    Ok(Some(_)) => {
                        self.handle(&id);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(pico = %id, "cannot start: {e}"),
                }
            }
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
    pub fn deliver_sent(&self, sent: mpsc::UnboundedReceiver<Sent>) {
        let (stored_tx, stored) = mpsc::unbounded_channel();
        tokio::spawn(deliver_sent(self.downgrade(), sent, stored_tx));
        tokio::spawn(deliver_stored(self.downgrade(), stored));
    }

    /// Delivers a stored sent event ([`InboxRow`]) here or at its node and
    /// deletes it once it applied, or can never apply (its channel is
    /// gone or refuses it). Answers whether it is done; one that is not
    /// stays for [`Dispatch::deliver_inbox`].
    pub async fn deliver_row(&self, row: &InboxRow) -> bool {
        let done = if self.serves(&row.to) {
            self.event_keyed_as(&row.from, row.event.clone(), row.key.clone())
                .await
                .map(|_| ())
        } else if let Some(remote) = self.inner.remote.get() {
            remote
                .deliver(
                    row.from.clone(),
                    row.to.clone(),
                    row.event.clone(),
                    row.key.clone(),
                )
                .await
        } else {
            Err(EngineError::Module("no node serves it".into()))
        };
        let ev = &row.event;
        let what = format!("{}:{} to {}", ev.domain, ev.name, ev.eci);
        match done {
            Ok(()) => {}
            Err(
                e @ (EngineError::UnknownEci(_)
                | EngineError::UnknownPico(_)
                | EngineError::Denied(_)
                | EngineError::FamilyChannel(_)
                | EngineError::BadRequest(_)),
            ) => tracing::warn!("event {what} not delivered: {e}"),
            Err(e) => {
                tracing::warn!("event {what} not delivered yet (tried again later): {e}");
                return false;
            }
        }
        let mut buf = crate::store::WriteBuf::new();
        buf.remove(crate::store::Key::inbox(&row.key));
        if let Err(e) = self.store().commit(buf).await {
            // Found again later: its key makes it apply nothing more.
            tracing::warn!("event {what}: cannot drop its stored row: {e}");
        }
        true
    }

    /// Delivers the stored sent events ([`InboxRow`]) to the picos this
    /// node serves that were stored at least `older_ms` ago (the sender's
    /// node delivers them at once; these are the ones it could not: it
    /// died, or the pico's node was away). A cluster's lease loop calls it
    /// each tick.
    pub async fn deliver_inbox(&self, older_ms: f64) {
        let rows: Vec<InboxRow> = match self.store().scan::<InboxRow>(&crate::store::Key::inboxes())
        {
            Ok(rows) => rows.into_iter().map(|(_, r)| r).collect(),
            Err(e) => {
                tracing::warn!("cannot read the stored sent events: {e}");
                return;
            }
        };
        let before = now_ms() - older_ms;
        for row in rows {
            if row.event.time_ms <= before && self.serves(&row.to) {
                self.deliver_row(&row).await;
            }
        }
    }
}

/// The task that starts picos again when a timer or a call-session sweep
/// of theirs is due after their task left while idle (`Inner::wakeups`).
/// Holds only a `Weak`: it ends with the engine.
async fn run_waker(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(inner) = inner.upgrade() else { return };
            let first = inner
                .wakeups
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .first()
                .map(|(due, _)| *due);
            first
        };
        if let Some(due) = next {
            let wait = due as f64 - now_ms();
            if wait > 0.0 {
                let wait = std::time::Duration::from_micros((wait * 1000.0) as u64);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {}
                }
                continue;
            }
        } else {
            wake.notified().await;
            continue;
        }
        let Some(inner) = inner.upgrade() else { return };
        let now = now_ms() as u64;
        let due: Vec<PicoId> = {
            let mut set = inner.wakeups.lock().unwrap_or_else(|p| p.into_inner());
            let mut due = Vec::new();
            while let Some((at, id)) = set.first().cloned() {
                if at > now {
                    break;
                }
                set.remove(&(at, id.clone()));
                due.push(id);
            }
            due
        };
        let dispatch = Dispatch { inner };
        for id in due {
            // Another node's now (a cluster): it starts it.
            if !dispatch.serves(&id) {
                continue;
            }
            // A pico deleted meanwhile stays gone.
            match dispatch.store().pico(&id) {
                Ok(Some(_)) => {
                    dispatch.handle(&id);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(pico = %id, "cannot wake: {e}"),
            }
        }
    }
}

/// The task of [`Dispatch::deliver_sent`].
async fn deliver_sent(
    dispatch: WeakDispatch,
    mut sent: mpsc::UnboundedReceiver<Sent>,
    stored: mpsc::UnboundedSender<(Vec<InboxRow>, crate::store::FlushTicket)>,
) {
    while let Some(sent) = sent.recv().await {
        let (from, event) = match sent {
            Sent::Event(from, event) => (from, event),
            // Their own task: they wait for the disk first.
            Sent::Stored(rows, ticket) => {
                let _ = stored.send((rows, ticket));
                continue;
            }
        };
        let Some(dispatch) = dispatch.upgrade() else {
            return;
        };
        let what = format!("{}:{} to {}", event.domain, event.name, event.eci);
        if let Err(e) = dispatch.deliver(&from, event).await {
            tracing::warn!("event {what} not delivered: {e}");
        }
    }
}

/// Delivers stored sent events once their sender's event is durable, in
/// the order they were sent (see [`Dispatch::deliver_row`]).
async fn deliver_stored(
    dispatch: WeakDispatch,
    mut stored: mpsc::UnboundedReceiver<(Vec<InboxRow>, crate::store::FlushTicket)>,
) {
    while let Some((rows, ticket)) = stored.recv().await {
        // A failed flush: the rows are not written (or are, later, and
        // the lease loop's sweep delivers them).
        if ticket.wait().await.is_err() {
            continue;
        }
        let Some(dispatch) = dispatch.upgrade() else {
            return;
        };
        for row in &rows {
            dispatch.deliver_row(row).await;
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
