//! Picos at run time: one tokio task and one mailbox per pico. Uses:
//! `host`, `effects` (the integrations the host writes through, as trait
//! objects, and what a commit hands them), `store`, `rulesets`,
//! `schedule`, `ids`, `clock`, `outbound`, krl_lang's evaluator
//! (`engine::PicoRuntime`), tokio. Nothing above it: the way to a pico
//! from above is `dispatch`.
//!
//! The task ([`Actor`]) owns the pico's in-memory state (its
//! `PicoRuntime`: installed rulesets with their globals evaluated, and its
//! timers) and handles one message at a time, in arrival order: events and
//! queries to one pico never overlap, while different picos run in
//! parallel on tokio's workers. The mailbox is the only synchronisation:
//! the actor takes no lock.
//!
//! Each event's writes go into a write buffer (through [`PicoHost`]) that
//! is applied as one sled batch. The actor then registers for the next
//! group flush and hands the reply to a small task that sends it once the
//! flush is done, so the actor goes on with the next message while the
//! disk catches up (the next event reads the previous one's writes from
//! sled's memory). A reply therefore never reaches a client before its
//! writes are durable; an answer that writes nothing but reads the pico's
//! state (a query, a read-only event) also waits while the pico's last
//! writes are not flushed (see `Actor::durable_at`). An event that fails
//! (a KRL runtime error) writes nothing: its buffer is dropped.

use crate::effects::{MqttQueue, PicoCalls, StaticUrls, TwilioOutbox};
use crate::family::Family;
use crate::host::{krl_map, LogFields, Outgoing, PicoHost, PicoLog, SharedEntCache};
use crate::ids::{Eci, Eid, PicoId, Rid, TxnId};
use crate::outbound::HttpClient;
use crate::rulesets::{Registered, Registry};
use crate::schedule::{self, Timer};
use crate::store::{FlushTicket, InstallRecord, Key, Store, StoreError, WriteBuf};
use krl_lang::engine::{EvalError, Event, Limits, PicoRuntime, QueryError};
use krl_lang::runtime::Value as KrlValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::clock::now_ms;

/// How many messages may wait in one pico's mailbox before senders wait.
const MAILBOX: usize = 1024;

/// How long a pico task waits with nothing to do before it ends
/// ([`PicoContext::idle_timeout`]; `krl serve --pico-idle-timeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many pico tasks may be in memory before idle ones leave sooner
/// ([`PicoContext::max_live`]; `krl serve --max-live-picos`).
pub const DEFAULT_MAX_LIVE: usize = 20_000;

/// How long a task waits with nothing to do before it ends while more
/// than [`PicoContext::max_live`] tasks are in memory.
pub const CROWDED_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many fresh tasks one message tries when each it reaches has just
/// left for being idle (one is enough unless the idle timeout is shorter
/// than a task's start).
const IDLE_RETRIES: usize = 8;

/// Task generations: which task of a pico a [`PicoHandle`] reaches.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// What the layer above does for pico tasks as they come and go
/// (`dispatch` implements it): a fresh task for a message that found its
/// task gone idle, forgetting ended tasks, and starting a task that left
/// with timers pending again when the first is due.
pub trait Lifecycle: Send + Sync {
    /// The running task of `id`, started (after `before`, if that one is
    /// still finishing) when it is not running.
    /// `None` once the engine is gone.
    fn handle(&self, id: &PicoId) -> Option<PicoHandle>;
    /// Task `generation` of `id` has ended.
    fn ended(&self, id: &PicoId, generation: u64);
    /// `id`'s task left while idle with a timer or a call-session sweep
    /// due at `due_ms` (ms since the Unix epoch): start it then.
    fn wake_at(&self, id: &PicoId, due_ms: u64);
    /// Are more than [`PicoContext::max_live`] tasks in memory?
    fn crowded(&self) -> bool;
}

/// An event on its way to a pico.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventIn {
    /// The channel it came through.
    pub eci: Eci,
    /// The event id (the caller's, or assigned).
    pub eid: Eid,
    /// Event domain.
    pub domain: String,
    /// Event name (the route's `type`).
    pub name: String,
    /// Attributes.
    pub attrs: Map<String, Value>,
    /// When it arrived, ms since the Unix epoch.
    pub time_ms: f64,
}

impl EventIn {
    fn to_krl(&self) -> Event {
        Event {
            domain: self.domain.clone(),
            name: self.name.clone(),
            attrs: krl_map(&self.attrs),
            eci: self.eci.to_string(),
            eid: self.eid.to_string(),
            time_ms: self.time_ms,
        }
    }
}

impl From<Outgoing> for EventIn {
    fn from(o: Outgoing) -> EventIn {
        EventIn {
            eci: o.eci,
            eid: o.eid,
            domain: o.domain,
            name: o.name,
            attrs: o.attrs,
            time_ms: now_ms(),
        }
    }
}

/// An event a rule sent to a pico another node of a cluster serves:
/// stored under `N key` in the sender's batch (so it exists exactly when
/// the sender's event committed), delivered with `key` as its idempotency
/// key (so it applies once however often it is tried), then deleted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboxRow {
    /// The idempotency key, also the row's key.
    pub key: String,
    /// The sending pico.
    pub from: PicoId,
    /// The pico behind the channel when it was sent.
    pub to: PicoId,
    /// The event (its fields stored beside the others); its time is
    /// when it was stored.
    #[serde(flatten)]
    pub event: EventIn,
}

/// What a pico hands the dispatch after an event (`PicoContext::outbox`).
pub enum Sent {
    /// An event a rule sent, delivered now, in order.
    Event(PicoId, EventIn),
    /// Sent events stored with the sender's event (a cluster), delivered
    /// once the ticket says that is durable.
    Stored(Vec<InboxRow>, FlushTicket),
}

/// The answer to an event: `{"eid", "directives"}`, each directive
/// `{"name", "options", "meta": {"rid", "rule_name", "txnId"}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventAnswer {
    /// The event's id.
    pub eid: Eid,
    /// What the rules that fired asked for, in order.
    pub directives: Vec<AnswerDirective>,
    /// The directives native modules recorded for their own replies
    /// (`Directive::module`: the `twilio:` verbs of a TwiML answer), for
    /// the integration that answers the request.
    #[serde(skip)]
    pub module_directives: Vec<krl_lang::engine::Directive>,
}

/// A directive of an answer: as its rule made it, or as stored with an
/// idempotency key (a replay). Either serializes as
/// `{"name", "options", "meta"}`, a made one without being built as JSON
/// first.
#[derive(Clone, Debug, PartialEq)]
pub enum AnswerDirective {
    /// Made by the rule that just ran.
    Made(krl_lang::engine::Directive),
    /// Stored with the first try's idempotency key.
    Stored(Value),
}

impl AnswerDirective {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        match self {
            AnswerDirective::Made(d) => d.to_json(),
            AnswerDirective::Stored(v) => v.clone(),
        }
    }
}

impl Serialize for AnswerDirective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnswerDirective::Made(d) => d.serialize(s),
            AnswerDirective::Stored(v) => v.serialize(s),
        }
    }
}

/// What can go wrong inside a pico.
#[derive(Debug, thiserror::Error)]
pub enum PicoError {
    /// The pico is gone (deleted, or never existed).
    #[error("Pico not found: {0}")]
    Gone(PicoId),
    /// A query or uninstall named a ruleset the pico does not have.
    #[error("Pico doesn't have {0} installed.")]
    NotInstalled(Rid),
    /// A query named a function the ruleset does not share.
    #[error("Not shared: {rid}/{name}")]
    NotShared {
        /// The ruleset.
        rid: Rid,
        /// The function.
        name: String,
    },
    /// A query to a ruleset that is installed here but not running: its
    /// stored source no longer compiles, or it failed to start.
    #[error("{message}")]
    NotRunning {
        /// The ruleset.
        rid: Rid,
        /// What is wrong, for people.
        message: String,
    },
    /// Install of a ruleset nobody registered.
    #[error("Ruleset not found: {0} (register it first)")]
    UnknownRuleset(Rid),
    /// Install of a ruleset whose module is not installed on the pico.
    #[error(
        "Cannot install {rid}: it uses module {module}, which is not installed \
         on this pico (install {module} first)"
    )]
    ModuleNotInstalled {
        /// The ruleset to install.
        rid: Rid,
        /// The module it uses.
        module: Rid,
    },
    /// Uninstall of a ruleset another installed ruleset uses as a module.
    #[error("Cannot uninstall {rid} because {by} depends on it")]
    InUse {
        /// The ruleset to uninstall.
        rid: Rid,
        /// The one that uses it.
        by: Rid,
    },
    /// A KRL runtime error, with where it happened.
    #[error("{0}")]
    Eval(EvalError),
    /// An install refused by the ruleset itself (`install:refuse(message)`
    /// while its configuration and globals were evaluated).
    #[error("Cannot install {}: {}", .0.rid, .0.refusal().unwrap_or(&.0.message))]
    Refused(EvalError),
    /// The pico could not be loaded from the store.
    #[error("pico unavailable: {0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Reply<T> = oneshot::Sender<Result<T, PicoError>>;

/// What a pico's mailbox carries.
enum Msg {
    Event {
        event: EventIn,
        /// `None`: nobody waits for the answer (events sent by rules).
        reply: Option<Reply<EventAnswer>>,
        /// Written with the event's writes when it succeeds (an MQTT
        /// message's delivery mark, `mqtt::client`).
        mark: Option<(Key, Value)>,
    },
    Query {
        rid: Rid,
        name: String,
        args: Map<String, Value>,
        reply: Reply<Value>,
    },
    Install {
        rid: Rid,
        config: Value,
        /// Where it came from (`ctx:rid_url`).
        url: Option<String>,
        /// Raise `wrangler:ruleset_installed` after it (the admin API's
        /// installs do; `ctx:newPico`'s do not, as in the Pico Engine).
        announce: bool,
        reply: Reply<()>,
    },
    Uninstall {
        rid: Rid,
        reply: Reply<()>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// What every pico task shares.
#[derive(Clone)]
pub struct PicoContext {
    /// The database.
    pub store: Store,
    /// Registered rulesets.
    pub registry: Arc<Registry>,
    /// Events the rules send to channels (`event:send`), with the pico
    /// that sent them: the dispatch delivers them
    /// (`Dispatch::deliver_sent`), checking each channel and its policy.
    pub outbox: mpsc::UnboundedSender<Sent>,
    /// Bounds on each evaluation (steps, call depth, raised events).
    pub limits: Limits,
    /// Outbound HTTP (`http:`).
    pub http: Arc<HttpClient>,
    /// MQTT (`mqtt:publish`, `mqtt:subscribe`); `None` with `--no-mqtt`.
    pub mqtt: Option<Arc<dyn MqttQueue>>,
    /// The Twilio outbox (`twilio:send_sms`, ...).
    pub twilio: Arc<dyn TwilioOutbox>,
    /// The static folder (`--static`; `twilio:url_for`), if any.
    pub statics: Option<Arc<dyn StaticUrls>>,
    /// How long a call session lives after its last write.
    pub session_ttl: std::time::Duration,
    /// The pico tree's writer (`ctx:` channel and pico changes).
    pub family: Arc<Family>,
    /// The engine's side of `ctx:` (calls to other picos, rulesets by
    /// URL); `None` in tests that run picos alone.
    pub calls: Option<Arc<dyn PicoCalls>>,
    /// How long a task waits with nothing to do before it ends, dropping
    /// its mailbox, its runtime (installed rulesets and their globals) and
    /// its log (`ctx:logs()`); the next message starts it again from the
    /// store. A pico with a timer or a call-session sweep due later is
    /// started again then ([`Lifecycle::wake_at`]). `None`: tasks stay.
    pub idle_timeout: Option<Duration>,
    /// A soft bound on the tasks in memory: while more are, a task that
    /// has handled a message leaves after [`CROWDED_IDLE_TIMEOUT`] with
    /// nothing to do, instead of `idle_timeout` (whichever is shorter).
    /// Busy tasks stay, so the bound holds for picos that go idle: a
    /// million picos each sent an event now and then keep about this
    /// many tasks (of a few KiB each) in memory, not every pico sent one
    /// in the last `idle_timeout`.
    pub max_live: usize,
    /// The layer above's side of the tasks' lives (set by `dispatch`);
    /// `None` in tests that run picos alone (then a task never leaves
    /// for being idle: nobody would start it again).
    pub lifecycle: Option<Arc<dyn Lifecycle>>,
    /// A testing aid: how long a task that decided to leave waits before
    /// it closes its mailbox (messages still arrive meanwhile, and are
    /// handled before it ends). Tests widen the idle edge with it; `None`
    /// otherwise.
    pub retire_pause: Option<Duration>,
}

/// What one task of a pico shares with its handles.
struct Life {
    /// Which task of the pico this is.
    generation: u64,
    /// Set before the task closes its mailbox because it was idle: a
    /// message refused then goes to a fresh task, not back as "gone".
    retired: AtomicBool,
    /// Held by the running task while it runs: a task started after it
    /// (the old one closed its mailbox and still finishes what was queued)
    /// waits for it, so two tasks of one pico never overlap.
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The sending side of a pico's mailbox. Cheap to clone.
#[derive(Clone)]
pub struct PicoHandle {
    id: PicoId,
    /// Messages are boxed: a mailbox slot is one pointer.
    tx: mpsc::Sender<Box<Msg>>,
    life: Arc<Life>,
    lifecycle: Option<Arc<dyn Lifecycle>>,
}

impl PicoHandle {
    /// Starts the task of pico `id`. It loads the pico's installs and
    /// schedules from the store first; a pico that is not in the store
    /// answers [`PicoError::Gone`] and ends.
    pub fn spawn(id: PicoId, ctx: PicoContext) -> PicoHandle {
        PicoHandle::spawn_after(id, ctx, None)
    }

    /// [`PicoHandle::spawn`], the new task waiting for `before` (an
    /// earlier task of the same pico, whose mailbox is closed) to finish
    /// what it had queued.
    pub fn spawn_after(id: PicoId, ctx: PicoContext, before: Option<&PicoHandle>) -> PicoHandle {
        let (tx, rx) = mpsc::channel(MAILBOX);
        let life = Arc::new(Life {
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            retired: AtomicBool::new(false),
            turn: before.map(|b| b.life.turn.clone()).unwrap_or_default(),
        });
        let lifecycle = ctx.lifecycle.clone();
        let mut runtime = PicoRuntime::new(id.as_str());
        runtime.limits = ctx.limits;
        let registry = ctx.registry.clone();
        runtime.resolver = Some(Arc::new(move |rid: &str| {
            registry.get(&Rid::new(rid)).map(|r| r.ruleset.clone())
        }));
        let actor = Actor {
            runtime,
            id: id.clone(),
            ctx,
            installed: Vec::new(),
            first_eci: Eci::new("none"),
            timers: Vec::new(),
            last_id: 0,
            durable_at: 0,
            session_due: None,
            log: Arc::default(),
            ents: SharedEntCache::default(),
        };
        tokio::spawn(actor.run(rx, life.clone()));
        PicoHandle {
            id,
            tx,
            life,
            lifecycle,
        }
    }

    /// Has the task ended (or closed its mailbox to end)?
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Which task of the pico this handle reaches.
    pub fn generation(&self) -> u64 {
        self.life.generation
    }

    /// Queues `msg`. A mailbox closed because its task left for being
    /// idle takes nothing: the message goes to a fresh task (which waits
    /// for the old one to finish what it had queued). A mailbox closed
    /// for any other reason means the pico is gone.
    async fn send(&self, msg: Msg) -> Result<(), PicoError> {
        let mut msg = Box::new(msg);
        let mut fresh: Option<PicoHandle> = None;
        for _ in 0..IDLE_RETRIES {
            let to = fresh.as_ref().unwrap_or(self);
            match to.tx.send(msg).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => {
                    let Some(lifecycle) = &self.lifecycle else {
                        break;
                    };
                    if !to.life.retired.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(next) = lifecycle.handle(&self.id) else {
                        break;
                    };
                    msg = back;
                    fresh = Some(next);
                }
            }
        }
        Err(PicoError::Gone(self.id.clone()))
    }

    /// Sends a message and waits for the answer. A closed mailbox or a
    /// dropped reply means the pico is gone.
    ///
    /// Cancel safety: if the caller is dropped (client went away) after
    /// the send, the pico still processes the message; only the reply is
    /// lost.
    async fn call<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> Result<T, PicoError> {
        let (reply, rx) = oneshot::channel();
        self.send(msg(reply)).await?;
        rx.await
            .unwrap_or_else(|_| Err(PicoError::Gone(self.id.clone())))
    }

    /// Raises an event; answers once its writes are durable.
    pub async fn event(&self, event: EventIn) -> Result<EventAnswer, PicoError> {
        self.call(|reply| Msg::Event {
            event,
            reply: Some(reply),
            mark: None,
        })
        .await
    }

    /// Queues an event whose successful writes include `mark`, and
    /// answers the receiver of its answer (sent once the writes are
    /// durable) as soon as it is in the mailbox, so that a caller can
    /// queue events in order and wait for them elsewhere (MQTT messages).
    pub async fn event_marked(
        &self,
        event: EventIn,
        mark: Option<(Key, Value)>,
    ) -> Result<oneshot::Receiver<Result<EventAnswer, PicoError>>, PicoError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Event {
            event,
            reply: Some(reply),
            mark,
        })
        .await?;
        Ok(rx)
    }

    /// Queues an event without waiting for it to be processed (events
    /// that rules send). Waits only while the mailbox is full.
    pub async fn event_nowait(&self, event: EventIn) -> Result<(), PicoError> {
        self.send(Msg::Event {
            event,
            reply: None,
            mark: None,
        })
        .await
    }

    /// Calls a shared function.
    pub async fn query(
        &self,
        rid: Rid,
        name: String,
        args: Map<String, Value>,
    ) -> Result<Value, PicoError> {
        self.call(|reply| Msg::Query {
            rid,
            name,
            args,
            reply,
        })
        .await
    }

    /// Installs (or re-installs, with a new config) a registered ruleset,
    /// then raises `wrangler:ruleset_installed`.
    pub async fn install(&self, rid: Rid, config: Value) -> Result<(), PicoError> {
        self.call(|reply| Msg::Install {
            rid,
            config,
            url: None,
            announce: true,
            reply,
        })
        .await
    }

    /// Installs a registered ruleset from `url` without raising an event
    /// (`ctx:newPico`).
    pub async fn install_quietly(
        &self,
        rid: Rid,
        config: Value,
        url: Option<String>,
    ) -> Result<(), PicoError> {
        self.call(|reply| Msg::Install {
            rid,
            config,
            url,
            announce: false,
            reply,
        })
        .await
    }

    /// Uninstalls a ruleset and drops its entity variables, rule states
    /// and schedules on this pico.
    pub async fn uninstall(&self, rid: Rid) -> Result<(), PicoError> {
        self.call(|reply| Msg::Uninstall { rid, reply }).await
    }

    /// Lets the task finish the messages already queued, then end.
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Box::new(Msg::Stop { reply })).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A ruleset installed on this pico.
struct Installed {
    rid: Rid,
    /// The registered version this pico runs; `None` while the ruleset
    /// is broken (its stored source no longer compiles).
    ruleset: Option<Arc<Registered>>,
    config: Value,
    /// The URL it was installed from, if any.
    url: Option<String>,
    /// Why it is not running here (broken, or it failed to start); the
    /// install stays, and queries to it answer this.
    down: Option<String>,
}

impl Installed {
    /// Does it use `rid` as a module?
    fn uses(&self, rid: &Rid) -> bool {
        self.ruleset
            .as_ref()
            .is_some_and(|r| r.uses().any(|u| u == rid.as_str()))
    }
}

/// The task of one pico.
struct Actor {
    id: PicoId,
    ctx: PicoContext,
    /// The evaluator's state: installed instances with their globals.
    runtime: PicoRuntime,
    /// In install order (rulesets see an event in this order), with the
    /// configs, as stored.
    installed: Vec<Installed>,
    /// The pico's first channel: the eci of events the engine raises
    /// itself (`wrangler:ruleset_installed`).
    first_eci: Eci,
    /// Scheduled events, earliest first.
    timers: Vec<Timer>,
    /// The last schedule id handed out (ids increase, see `host`).
    last_id: u64,
    /// This pico's last batch is on disk once the store has completed
    /// this many flushes. Answers that read the pico's state (events that
    /// write nothing, queries) wait until then, so no answer ever shows
    /// state that a crash could take back.
    durable_at: u64,
    /// When the sweep of expired call sessions is due (ms since the
    /// epoch): no later than the earliest expiry (it may be earlier, when
    /// that session was written again since; the sweep then finds nothing).
    session_due: Option<u64>,
    /// Its recent log (`ctx:logs()`).
    log: Arc<PicoLog>,
    /// Committed entity values its evaluations read or wrote (`host::ent`).
    ents: SharedEntCache,
}

/// `?` inside the actor: the error goes to the reply, the message ends.
macro_rules! or_reply {
    ($e:expr, $reply:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => {
                let _ = $reply.send(Err(e.into()));
                return;
            }
        }
    };
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Box<Msg>>, life: Arc<Life>) {
        // After the pico's previous task, if that one is still finishing
        // what it had queued: one task of a pico at a time.
        let _turn = life.turn.clone().lock_owned().await;
        let failure = match self.load() {
            Ok(true) => None,
            Ok(false) => Some(PicoError::Gone(self.id.clone())),
            Err(e) => {
                tracing::error!(pico = %self.id, "cannot load pico: {e}");
                Some(PicoError::Unavailable(e.to_string()))
            }
        };
        if let Some(err) = failure {
            // Answer what is queued and end: later senders see a closed
            // mailbox (not retired) and report the pico gone.
            rx.close();
            while let Some(msg) = rx.recv().await {
                let err = match &err {
                    PicoError::Gone(id) => PicoError::Gone(id.clone()),
                    e => PicoError::Unavailable(e.to_string()),
                };
                match *msg {
                    Msg::Event { reply, .. } => {
                        if let Some(r) = reply {
                            let _ = r.send(Err(err));
                        }
                    }
                    Msg::Query { reply, .. } => drop(reply.send(Err(err))),
                    Msg::Install { reply, .. } | Msg::Uninstall { reply, .. } => {
                        drop(reply.send(Err(err)))
                    }
                    Msg::Stop { reply } => drop(reply.send(())),
                }
            }
            self.ended(&life);
            return;
        }
        // A task leaves when idle only if someone can start it again.
        let idle = self
            .ctx
            .idle_timeout
            .filter(|_| self.ctx.lifecycle.is_some());
        let mut idle_at = idle.map(|t| Instant::now() + t);
        loop {
            let due = self.next_due().map(|at| {
                let wait = (at - now_ms()).max(0.0);
                Instant::now() + Duration::from_micros((wait * 1000.0) as u64)
            });
            // Cancel safety: `recv` loses nothing when another branch
            // wins, and the sleeps are simply made again next turn.
            // Biased: a queued message always goes before leaving.
            let msg = tokio::select! {
                biased;
                msg = rx.recv() => match msg {
                    Some(m) => m,
                    None => break,
                },
                () = sleep_until_opt(due) => {
                    self.fire_due_timers();
                    self.sweep_sessions();
                    idle_at = idle.map(|t| Instant::now() + t);
                    continue;
                }
                () = sleep_until_opt(idle_at) => {
                    self.retire(&mut rx, &life).await;
                    break;
                }
            };
            idle_at = idle.map(|t| Instant::now() + self.idle_after(t));
            if !self.handle(*msg) {
                break;
            }
        }
        self.ended(&life);
    }

    /// How long to wait with nothing to do before leaving: `normal`, or
    /// [`CROWDED_IDLE_TIMEOUT`] if shorter while too many tasks are in
    /// memory ([`PicoContext::max_live`]).
    fn idle_after(&self, normal: Duration) -> Duration {
        match &self.ctx.lifecycle {
            Some(l) if l.crowded() => normal.min(CROWDED_IDLE_TIMEOUT),
            _ => normal,
        }
    }

    /// When the next timer or call-session sweep is due (ms since the
    /// epoch), if any. `sleep_until` in the past fires at once, so
    /// overdue timers (after a restart) run first.
    fn next_due(&self) -> Option<f64> {
        match (self.timers.first(), self.session_due) {
            (Some(t), Some(s)) => Some(t.due_ms.min(s as f64)),
            (Some(t), None) => Some(t.due_ms),
            (None, s) => s.map(|s| s as f64),
        }
    }

    /// Handles one message; `false` after `Stop`.
    fn handle(&mut self, msg: Msg) -> bool {
        self.refresh();
        match msg {
            Msg::Event { event, reply, mark } => self.apply_event(event, reply, mark),
            Msg::Query {
                rid,
                name,
                args,
                reply,
            } => {
                let result = self.apply_query(&rid, &name, &args);
                send_when_durable(&self.ctx.store, reply, result, self.flush_pending());
            }
            Msg::Install {
                rid,
                config,
                url,
                announce,
                reply,
            } => self.apply_install(rid, config, url, announce, reply),
            Msg::Uninstall { rid, reply } => self.apply_uninstall(rid, reply),
            Msg::Stop { reply } => {
                let _ = reply.send(());
                return false;
            }
        }
        true
    }

    /// Leaves after the idle timeout: closes the mailbox (senders from
    /// now on go to a fresh task, see [`PicoHandle::send`]), handles what
    /// was queued before, waits until its writes are on disk (a fresh task
    /// knows nothing of them), and asks to be started again when its next
    /// timer or session sweep is due.
    async fn retire(&mut self, rx: &mut mpsc::Receiver<Box<Msg>>, life: &Life) {
        if let Some(pause) = self.ctx.retire_pause {
            tokio::time::sleep(pause).await;
        }
        life.retired.store(true, Ordering::SeqCst);
        rx.close();
        while let Some(msg) = rx.recv().await {
            if !self.handle(*msg) {
                return;
            }
        }
        if self.flush_pending() {
            if let Err(e) = self.ctx.store.flush_ticket().wait().await {
                tracing::error!(pico = %self.id, "{e}");
            }
        }
        if let (Some(due), Some(lifecycle)) = (self.next_due(), &self.ctx.lifecycle) {
            lifecycle.wake_at(&self.id, due.max(0.0).ceil() as u64);
        }
        tracing::trace!(pico = %self.id, "idle: the task ends");
    }

    /// Tells the layer above that this task has ended.
    fn ended(&self, life: &Life) {
        if let Some(lifecycle) = &self.ctx.lifecycle {
            lifecycle.ended(&self.id, life.generation);
        }
    }

    fn host(&self) -> PicoHost {
        PicoHost::new(&self.ctx.store, &self.id, self.last_id)
            .with_mqtt(self.ctx.mqtt.clone())
            .with_http(self.ctx.http.clone())
            .with_twilio(self.ctx.twilio.clone())
            .with_statics(self.ctx.statics.clone())
            .with_session_ttl(self.ctx.session_ttl)
            .with_calls(self.ctx.calls.clone())
            .with_ents(self.ents.clone())
    }

    /// Applies a batch written outside [`Actor::commit`], forgetting the
    /// cached entity values (the batch may hold some).
    fn apply_direct(&self, buf: WriteBuf) -> Result<(), StoreError> {
        let result = self.ctx.store.apply(buf);
        self.ents.lock().unwrap_or_else(|p| p.into_inner()).clear();
        result
    }

    /// Removes the call sessions that have expired, once their time has
    /// come (`session_due`), and sets the next sweep.
    fn sweep_sessions(&mut self) {
        let now = now_ms() as u64;
        if self.session_due.is_none_or(|d| d > now) {
            return;
        }
        let mut host = self.host();
        match host.sweep_sessions(now) {
            Ok(next) => {
                self.session_due = next;
                self.commit::<()>(host, None, ());
            }
            Err(e) => {
                tracing::error!(pico = %self.id, "cannot sweep call sessions: {e}");
                // try again in a minute rather than spin
                self.session_due = Some(now + 60_000);
            }
        }
    }

    /// Resolves `use module` rids: rulesets installed and running on this
    /// pico (docs/spec/krl-language.md 8.1: a module must be installed on the same pico),
    /// as of now.
    fn modules(&self) -> impl Fn(&str) -> Option<Arc<krl_lang::engine::Ruleset>> {
        let running: Vec<(Rid, Arc<krl_lang::engine::Ruleset>)> = self
            .installed
            .iter()
            .filter(|i| i.down.is_none())
            .filter_map(|i| Some((i.rid.clone(), i.ruleset.as_ref()?.ruleset.clone())))
            .collect();
        move |rid: &str| {
            running
                .iter()
                .find(|(r, _)| r.as_str() == rid)
                .map(|(_, rs)| rs.clone())
        }
    }

    /// Loads installs and schedules; `false` when the pico does not exist.
    fn load(&mut self) -> Result<bool, StoreError> {
        let Some(record) = self.ctx.store.pico(&self.id)? else {
            return Ok(false);
        };
        if let Some(eci) = record.channels.first() {
            self.first_eci = eci.clone();
        }
        let mut host = self.host();
        for rec in self.ctx.store.installs(&self.id)? {
            // A ruleset that is broken or gone keeps its install (so that
            // the next write of the installs does not drop it) but does
            // not run; the other rulesets do.
            let mut installed = Installed {
                rid: rec.rid.clone(),
                ruleset: None,
                config: rec.config,
                url: rec.url,
                down: None,
            };
            match self.ctx.registry.get(&rec.rid) {
                None => {
                    let why = self.not_registered(&rec.rid);
                    tracing::warn!(pico = %self.id, rid = %rec.rid, "not running: {why}");
                    installed.down = Some(why);
                }
                Some(ruleset) => {
                    // Modules come first in install order: they resolve to
                    // the ones loaded so far.
                    let modules = self.modules();
                    // No ruleset_installed event: they were installed before.
                    if let Err(e) = self.runtime.install(
                        ruleset.ruleset.clone(),
                        KrlValue::from_json(&installed.config),
                        &modules,
                        &mut host,
                    ) {
                        tracing::warn!(pico = %self.id, rid = %rec.rid, "cannot start: {e}");
                        installed.down = Some(cannot_start(&rec.rid, &e));
                    }
                    installed.ruleset = Some(ruleset);
                }
            }
            self.installed.push(installed);
        }
        // Globals write nothing, but if they did it belongs in the store.
        let (buf, _) = host.finish();
        self.apply_direct(buf)?;
        // Most picos have neither: the store knows which may.
        if self.ctx.store.may_have_schedules(&self.id) {
            self.timers = schedule::load(&self.ctx.store, &self.id, &[], now_ms())?;
        }
        if self.ctx.store.may_have_sessions(&self.id) {
            self.session_due = self
                .ctx
                .store
                .scan::<crate::store::SessionRecord>(&Key::sessions(&self.id))?
                .iter()
                .map(|(_, r)| r.expires_ms)
                .min();
        }
        Ok(true)
    }

    /// Why `rid` cannot run although it is installed: broken, or (after
    /// an edited store) not registered at all.
    fn not_registered(&self, rid: &Rid) -> String {
        match self.ctx.registry.broken(rid) {
            Some(b) => format!(
                "Ruleset {rid} is broken: its stored source no longer compiles ({}); \
                 register it again to repair it",
                b.error
            ),
            None => format!("Ruleset {rid} is installed but not registered; register it"),
        }
    }

    /// Picks up rulesets registered again since this pico installed them
    /// (a broken one included): the registry holds the newest `Arc`, so a
    /// pointer comparison per installed ruleset is all it costs when
    /// nothing changed. Rulesets that use a refreshed one as a module
    /// re-import it (docs/spec/krl-language.md 9.9); modules precede their users in
    /// install order, so one pass in that order does it.
    fn refresh(&mut self) {
        let mut changed: Vec<Rid> = Vec::new();
        for i in 0..self.installed.len() {
            let inst = &self.installed[i];
            let newer = self
                .ctx
                .registry
                .get(&inst.rid)
                .filter(|n| !inst.ruleset.as_ref().is_some_and(|r| Arc::ptr_eq(n, r)));
            let newest = match newer {
                Some(n) => n,
                None => match &inst.ruleset {
                    Some(r) if changed.iter().any(|c| r.uses().any(|u| u == c.as_str())) => {
                        r.clone()
                    }
                    _ => continue,
                },
            };
            changed.push(inst.rid.clone());
            let modules = self.modules();
            let mut host = self.host();
            let config = KrlValue::from_json(&inst.config);
            let was_running = inst.down.is_none();
            match self
                .runtime
                .install(newest.ruleset.clone(), config, &modules, &mut host)
            {
                Ok(()) => self.installed[i].down = None,
                Err(e) => {
                    tracing::warn!(pico = %self.id, rid = %newest.rid, "cannot start the new version: {e}");
                    // A running old version keeps running; one that was
                    // not running says why the new one does not either.
                    if !was_running {
                        self.installed[i].down = Some(cannot_start(&newest.rid, &e));
                    }
                }
            }
            let (buf, _) = host.finish();
            if let Err(e) = self.apply_direct(buf) {
                tracing::error!(pico = %self.id, "{e}");
            }
            self.installed[i].ruleset = Some(newest);
        }
    }

    fn install_records(&self) -> Vec<InstallRecord> {
        self.installed
            .iter()
            .map(|i| InstallRecord {
                rid: i.rid.clone(),
                config: i.config.clone(),
                url: i.url.clone(),
            })
            .collect()
    }

    /// Ends an evaluation that succeeded: applies its writes, hands the
    /// events it sent to the engine, reloads the timers if it touched
    /// schedules, and sends `reply` once the writes are durable. Runs in
    /// the actor, so batches are applied in message order; only the wait
    /// for the disk is handed to a task.
    fn commit<T: Send + 'static>(&mut self, host: PicoHost, reply: Option<Reply<T>>, value: T) {
        let mut host = host;
        let mqtt_changes = host.take_mqtt();
        self.last_id = host.last_id();
        let schedules_changed = host.schedules_changed();
        let twilio_queued = host.twilio_queued();
        if let Some(d) = host.session_due() {
            self.session_due = Some(self.session_due.map_or(d, |s| s.min(d)));
        }
        let ctx = host.take_ctx();
        let (mut buf, outbox) = host.finish();
        let (outbox, stored) = self.store_remote_sends(outbox, &mut buf);
        // The answer, until it is handed to the flusher.
        let mut answer = reply.map(|r| (r, value));
        if !(buf.is_empty() && ctx.changes.is_empty()) {
            let ent_ops = buf.entity_ops();
            // `ctx:` channel and pico changes go in the same batch.
            let cut = match self.ctx.family.apply(&ctx.changes, buf) {
                Ok(cut) => {
                    self.ents
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .committed(ent_ops);
                    cut
                }
                Err(e) => {
                    tracing::error!(pico = %self.id, "{e}");
                    self.drop_children(ctx.made);
                    if let Some((r, _)) = answer {
                        let _ = r.send(Err(e.into()));
                    }
                    return;
                }
            };
            if let Some(calls) = &self.ctx.calls {
                if !cut.is_empty() {
                    calls.reap(cut);
                }
            }
            // Read after the apply: the next flush to begin covers it.
            self.durable_at = self.ctx.store.durable_after();
            if twilio_queued {
                // The sender waits for a flush before it sends.
                self.ctx.twilio.committed();
            }
            if let Some(m) = &self.ctx.mqtt {
                // Its publishes wait for a flush too (the MQTT connection).
                m.committed(&self.id, mqtt_changes);
            }
            // Handed to the flusher right after the apply: in a cluster a
            // flush may refuse a batch (its shard moved), and only the
            // group of the flush that takes the batch hears of it; one
            // registered later would wait for the next flush and hear Ok.
            // Nobody waiting (an event a rule sent, a timer): a flush is
            // asked for all the same.
            match answer.take() {
                Some((r, v)) => send_when_durable(&self.ctx.store, r, Ok(v), true),
                None => self.ctx.store.after_flush(|_| {}),
            }
        }
        // Sent now, in order, rather than after the flush: their order
        // matters more than the (small) chance that a crash loses the
        // event that sent them.
        for ev in outbox {
            crate::trace::publish(
                Some(&self.id),
                "sent",
                || serde_json::json!({"eci": ev.eci, "domain": ev.domain, "name": ev.name, "attrs": ev.attrs}),
            );
            let _ = self
                .ctx
                .outbox
                .send(Sent::Event(self.id.clone(), ev.into()));
        }
        if !stored.is_empty() {
            // Applied with this event (the early return above otherwise).
            let ticket = self.ctx.store.flush_ticket();
            let _ = self.ctx.outbox.send(Sent::Stored(stored, ticket));
        }
        if !ctx.remote.is_empty() {
            if let Some(calls) = &self.ctx.calls {
                calls.send_remote(ctx.remote);
            }
        }
        if schedules_changed {
            self.reload_timers();
        }
        if let Some((r, v)) = answer {
            // Nothing written: at once, or after the flush that covers
            // this pico's earlier writes if they may not be on disk yet.
            send_when_durable(&self.ctx.store, r, Ok(v), self.flush_pending());
        }
    }

    /// In a cluster, the sent events whose channel is of a pico another
    /// node serves become rows of `buf` (fenced on this pico's shard), to
    /// be delivered from there ([`InboxRow`]); answers the others, and the
    /// rows.
    fn store_remote_sends(
        &self,
        outbox: Vec<Outgoing>,
        buf: &mut WriteBuf,
    ) -> (Vec<Outgoing>, Vec<InboxRow>) {
        let Some(leases) = self.ctx.store.leases() else {
            return (outbox, Vec::new());
        };
        let mut here = Vec::new();
        let mut rows = Vec::new();
        for ev in outbox {
            let to = match self.ctx.store.channel(&ev.eci) {
                Ok(Some(ch)) if !leases.serves_pico(ch.pico.as_str()) => ch.pico,
                // Here, or an unknown channel: the dispatch says so.
                _ => {
                    here.push(ev);
                    continue;
                }
            };
            crate::trace::publish(
                Some(&self.id),
                "sent",
                || serde_json::json!({"eci": ev.eci, "domain": ev.domain, "name": ev.name, "attrs": ev.attrs}),
            );
            let row = InboxRow {
                key: format!("sent:{}", crate::ids::random_base62(22)),
                from: self.id.clone(),
                to,
                event: ev.into(),
            };
            buf.put(Key::inbox(&row.key), &row);
            rows.push(row);
        }
        if !rows.is_empty() {
            buf.remove(Key::fence(&self.id));
        }
        (here, rows)
    }

    /// Whether this pico's last writes may not be on disk yet (fewer
    /// flushes completed than `durable_at` needs).
    fn flush_pending(&self) -> bool {
        !self.ctx.store.is_durable(self.durable_at)
    }

    fn reload_timers(&mut self) {
        match schedule::load(&self.ctx.store, &self.id, &self.timers, now_ms()) {
            Ok(t) => self.timers = t,
            Err(e) => tracing::error!(pico = %self.id, "cannot read schedules: {e}"),
        }
    }

    fn apply_event(
        &mut self,
        event: EventIn,
        reply: Option<Reply<EventAnswer>>,
        mark: Option<(Key, Value)>,
    ) {
        // An idempotency key already processed: its stored answer, nothing
        // applied again (`idempotency`). Whether its first try is still
        // uncommitted is asked before the mark is read: a flush that
        // refuses the first try's batch may drop the mark in between, and
        // a mark read while pending must not then pass for committed. Only
        // this task writes the pico's marks, so one that is not pending
        // now and is found next is in the database.
        let pending = mark
            .as_ref()
            .is_some_and(|(key, _)| self.ctx.store.is_uncommitted(key));
        if let Some(stored) = crate::idempotency::replay(&self.ctx.store, mark.as_ref(), now_ms()) {
            let (eid, directives, module_directives) = stored.into_parts();
            let answer = EventAnswer {
                eid,
                directives: directives
                    .into_iter()
                    .map(AnswerDirective::Stored)
                    .collect(),
                module_directives,
            };
            if let Some((key, _)) = &mark {
                if pending {
                    // The first try is not committed yet (a cluster): its
                    // commit may still be refused (the node lost the
                    // shard). Answered once it is in the database.
                    if let Some(reply) = reply {
                        replay_when_committed(self.ctx.store.clone(), key.clone(), answer, reply);
                    }
                    return;
                }
            }
            let host = self.host();
            return self.commit(host, reply, answer);
        }
        let txn = TxnId::random();
        let mut host = self.host().with_log(self.log.clone(), txn.as_str());
        let krl_event = std::sync::Arc::new(event.to_krl());
        host.note("debug", "txnQueued", LogFields::Event(krl_event.clone()));
        match self
            .runtime
            .event(krl_event.clone(), txn.as_str(), &mut host)
        {
            Ok(mut outcome) => {
                crate::trace::publish(
                    Some(&self.id),
                    "event",
                    || serde_json::json!({"eci": event.eci, "eid": event.eid, "domain": event.domain, "name": event.name, "attrs": event.attrs, "directives": outcome.directives.iter().map(|d| d.to_json()).collect::<Vec<_>>()}),
                );
                let module_directives = outcome
                    .directives
                    .iter()
                    .filter(|d| d.module.is_some())
                    .cloned()
                    .collect();
                let answer = EventAnswer {
                    eid: event.eid,
                    directives: std::mem::take(&mut outcome.directives)
                        .into_iter()
                        .map(AnswerDirective::Made)
                        .collect(),
                    module_directives,
                };
                if let Some((key, value)) = mark {
                    let directives: Vec<Value> = answer
                        .directives
                        .iter()
                        .map(AnswerDirective::to_json)
                        .collect();
                    let value = crate::idempotency::with_answer(
                        &key,
                        value,
                        &answer.eid,
                        &directives,
                        &answer.module_directives,
                    );
                    host.buf().put(key, &value);
                }
                host.note("debug", "txnDone", LogFields::None);
                if let Err(e) = self.record_changes(&outcome.changes, &mut host) {
                    self.drop_made(&mut host);
                    if let Some(r) = reply {
                        let _ = r.send(Err(e.into()));
                    }
                    return;
                }
                self.commit(host, reply, answer);
            }
            Err(e) => {
                // Children it made are dropped again; its other `ctx:`
                // changes were waiting for the commit and are not made.
                self.drop_made(&mut host);
                host.note("error", e.to_string(), LogFields::None);
                crate::trace::publish(
                    Some(&self.id),
                    "error",
                    || serde_json::json!({"eci": event.eci, "eid": event.eid, "domain": event.domain, "name": event.name, "attrs": event.attrs, "rid": e.rid, "rule": e.rule, "line": e.line, "col": e.col, "message": e.message}),
                );
                // Nothing of a failed event is written — except what the
                // modules' after-event hooks do (a call Twilio reports
                // completed still loses its session: nothing more will
                // come for it), in a batch of its own.
                let mut after = self.host();
                match krl_lang::engine::after_event(&krl_event, &mut after) {
                    Ok(true) => self.commit::<()>(after, None, ()),
                    Ok(false) => {}
                    Err(err) => tracing::error!(pico = %self.id, "{err}"),
                }
                tracing::debug!(pico = %self.id, "event {}:{} failed: {e}", event.domain, event.name);
                match reply {
                    Some(r) => drop(r.send(Err(PicoError::Eval(e)))),
                    None => {
                        tracing::warn!(pico = %self.id, "event {}:{} failed: {e}", event.domain, event.name)
                    }
                }
            }
        }
    }

    /// Fires every timer that is due: `at` entries are removed, `repeat`
    /// entries wait for their next time. Each fires as its own event.
    fn fire_due_timers(&mut self) {
        let now = now_ms();
        while self.timers.first().is_some_and(|t| t.due_ms <= now) {
            let timer = self.timers.remove(0);
            let mut host = self.host();
            match &timer.repeat {
                None => host
                    .buf()
                    .remove(Key::schedule(&self.id, &timer.rid, &timer.id)),
                Some(spec) => match schedule::next_cron(spec, now.max(timer.due_ms)) {
                    Ok(next) => {
                        let mut t = timer.clone();
                        t.due_ms = next;
                        let at = self.timers.partition_point(|x| x.due_ms <= next);
                        self.timers.insert(at, t);
                    }
                    Err(e) => tracing::warn!(pico = %self.id, "{e}"),
                },
            }
            let event = EventIn {
                eci: timer.eci.clone(),
                eid: Eid::random(),
                domain: timer.domain.clone(),
                name: timer.name.clone(),
                attrs: timer.attrs.clone(),
                time_ms: now,
            };
            crate::trace::publish(
                Some(&self.id),
                "scheduled",
                || serde_json::json!({"eci": event.eci, "domain": event.domain, "name": event.name, "attrs": event.attrs, "rid": timer.rid, "id": timer.id}),
            );
            let txn = TxnId::random();
            match self.runtime.event(event.to_krl(), txn.as_str(), &mut host) {
                Ok(outcome) => match self.record_changes(&outcome.changes, &mut host) {
                    Ok(()) => self.commit::<()>(host, None, ()),
                    Err(e) => {
                        self.drop_made(&mut host);
                        tracing::error!(pico = %self.id, "{e}");
                    }
                },
                Err(e) => {
                    self.drop_made(&mut host);
                    tracing::warn!(pico = %self.id, "scheduled event {}:{} failed: {e}", event.domain, event.name);
                    // The `at` entry is gone all the same: a failing
                    // event would otherwise fire again at every start.
                    if timer.repeat.is_none() {
                        let mut buf = WriteBuf::new();
                        buf.remove(Key::schedule(&self.id, &timer.rid, &timer.id));
                        if let Err(e) = self.ctx.store.apply(buf) {
                            tracing::error!(pico = %self.id, "{e}");
                        }
                    }
                }
            }
        }
    }

    fn apply_query(
        &mut self,
        rid: &Rid,
        name: &str,
        args: &Map<String, Value>,
    ) -> Result<Value, PicoError> {
        if let Some(why) = self
            .installed
            .iter()
            .find(|i| &i.rid == rid)
            .and_then(|i| i.down.clone())
        {
            return Err(PicoError::NotRunning {
                rid: rid.clone(),
                message: why,
            });
        }
        // Queries change nothing: the host's buffer is dropped. They go to
        // the pico's log like events.
        let txn = TxnId::random();
        let mut host = self.host().with_log(self.log.clone(), txn.as_str());
        host.note(
            "debug",
            "txnQueued",
            LogFields::Query(rid.to_string(), name.to_string()),
        );
        self.runtime
            .query(rid.as_str(), name, &krl_map(args), &mut host)
            .map(|v| v.to_json())
            .map_err(|e| match e {
                QueryError::NotInstalled(r) => PicoError::NotInstalled(Rid::new(r)),
                QueryError::NotShared(r, n) => PicoError::NotShared {
                    rid: Rid::new(r),
                    name: n,
                },
                QueryError::Runtime(e) => PicoError::Eval(e),
            })
    }

    fn apply_install(
        &mut self,
        rid: Rid,
        config: Value,
        url: Option<String>,
        announce: bool,
        reply: Reply<()>,
    ) {
        let Some(ruleset) = self.ctx.registry.get(&rid) else {
            let _ = reply.send(Err(PicoError::UnknownRuleset(rid)));
            return;
        };
        // Its modules must be installed (and running) here first.
        if let Some(module) = ruleset.uses().find(|u| {
            !self
                .installed
                .iter()
                .any(|i| i.rid.as_str() == *u && i.ruleset.is_some() && i.down.is_none())
        }) {
            let module = Rid::new(module);
            let _ = reply.send(Err(PicoError::ModuleNotInstalled { rid, module }));
            return;
        }
        // Instantiate first: a ruleset whose globals fail is not installed,
        // nor one that refuses its configuration (`install:refuse`).
        let mut host = self.host();
        let modules = self.modules();
        or_reply!(
            self.runtime
                .install(
                    ruleset.ruleset.clone(),
                    KrlValue::from_json(&config),
                    &modules,
                    &mut host,
                )
                .map_err(|e| match e.refusal() {
                    Some(_) => PicoError::Refused(e),
                    None => PicoError::Eval(e),
                }),
            reply
        );
        let installed = Installed {
            rid: rid.clone(),
            ruleset: Some(ruleset),
            config,
            url,
            down: None,
        };
        match self.installed.iter_mut().find(|i| i.rid == rid) {
            Some(slot) => *slot = installed,
            None => self.installed.push(installed),
        }
        let records = self.install_records();
        host.buf().put(Key::installs(&self.id), &records);
        if !announce {
            self.commit(host, Some(reply), ());
            return;
        }
        // Then the pico gets `wrangler:ruleset_installed`, as in the Pico
        // Engine, so a rule can initialise state; its writes go in the
        // same batch as the install. If it fails, it is logged and the
        // install is written alone: the install itself has succeeded.
        let event = ruleset_installed_event(&rid, self.first_eci.clone());
        let txn = TxnId::random();
        match self.runtime.event(event.to_krl(), txn.as_str(), &mut host) {
            Ok(_) => self.commit(host, Some(reply), ()),
            Err(e) => {
                tracing::warn!(pico = %self.id, %rid, "wrangler:ruleset_installed failed: {e}");
                let mut host = self.host();
                host.buf().put(Key::installs(&self.id), &records);
                self.commit(host, Some(reply), ());
            }
        }
    }

    /// Records the changes of installed rulesets an event made
    /// (`ctx:install`, `ctx:uninstall`; the runtime has made them) in the
    /// pico's list and in the event's writes.
    fn record_changes(
        &mut self,
        changes: &[krl_lang::engine::PicoChange],
        host: &mut PicoHost,
    ) -> Result<(), StoreError> {
        use krl_lang::engine::PicoChange;
        if changes.is_empty() {
            return Ok(());
        }
        for c in changes {
            match c {
                PicoChange::Install { rid, config, url } => {
                    let rid = Rid::new(rid.as_str());
                    let installed = Installed {
                        rid: rid.clone(),
                        ruleset: self.ctx.registry.get(&rid),
                        config: config.to_json(),
                        url: url.clone(),
                        down: None,
                    };
                    match self.installed.iter_mut().find(|i| i.rid == rid) {
                        Some(slot) => *slot = installed,
                        None => self.installed.push(installed),
                    }
                }
                PicoChange::Uninstall { rid } => {
                    let rid = Rid::new(rid.as_str());
                    self.installed.retain(|i| i.rid != rid);
                    for prefix in Key::pico_ruleset_state(&self.id, &rid) {
                        host.buf().remove_prefix(&self.ctx.store, &prefix)?;
                    }
                    self.timers.retain(|t| t.rid != rid);
                }
            }
        }
        let records = self.install_records();
        host.buf().put(Key::installs(&self.id), &records);
        Ok(())
    }

    /// Drops the children an evaluation made (`ctx:newPico`) when the
    /// evaluation fails: no half-made family is left behind.
    fn drop_made(&self, host: &mut PicoHost) {
        self.drop_children(host.take_ctx().made);
    }

    /// Cuts `made` (children of a failed evaluation) off the tree now,
    /// before the failure is answered; their tasks and state, and their
    /// subtrees', go in the background.
    fn drop_children(&self, made: Vec<PicoId>) {
        if made.is_empty() {
            return;
        }
        tracing::info!(pico = %self.id, "dropping {} child pico(s) made by a failed event", made.len());
        let mut doomed = Vec::new();
        for child in &made {
            match self.ctx.family.cut(child) {
                Ok(cut) => doomed.extend(cut),
                Err(e) => tracing::error!(pico = %child, "cannot drop a child: {e}"),
            }
        }
        if let Some(calls) = &self.ctx.calls {
            calls.reap(doomed);
        }
    }

    fn apply_uninstall(&mut self, rid: Rid, reply: Reply<()>) {
        let Some(at) = self.installed.iter().position(|i| i.rid == rid) else {
            let _ = reply.send(Err(PicoError::NotInstalled(rid)));
            return;
        };
        if let Some(by) = self.installed.iter().find(|i| i.rid != rid && i.uses(&rid)) {
            let by = by.rid.clone();
            let _ = reply.send(Err(PicoError::InUse { rid, by }));
            return;
        }
        self.installed.remove(at);
        self.runtime.uninstall(rid.as_str());
        let mut host = self.host();
        host.buf()
            .put(Key::installs(&self.id), &self.install_records());
        for prefix in Key::pico_ruleset_state(&self.id, &rid) {
            or_reply!(host.buf().remove_prefix(&self.ctx.store, &prefix), reply);
        }
        self.timers.retain(|t| t.rid != rid);
        self.commit(host, Some(reply), ());
    }
}

/// Sends `result` now, or once `ticket`'s flush is done. Waiting is
/// handed to a task, so the pico goes on with its next message.
/// Answers `answer` (a replay of an idempotency key's first try) once the
/// first try's mark `key` is committed, or an error if its commit was
/// refused (the mark is gone with the rest of its writes).
fn replay_when_committed(store: Store, key: Key, answer: EventAnswer, reply: Reply<EventAnswer>) {
    tokio::spawn(async move {
        // Each flush either commits the overlay or drops what it may not
        // write; one that failed to reach the database leaves it for the
        // next (bounded: a flush retries for 30 s itself).
        for _ in 0..10 {
            let _ = store.flush_ticket().wait().await;
            if !store.is_uncommitted(&key) {
                break;
            }
        }
        // In the database, not merely in this node's overlay: a later try
        // may have put the mark there again, and its commit may be refused.
        let committed = matches!(store.get_committed_raw(&key), Ok(Some(_)));
        let _ = reply.send(if committed {
            Ok(answer)
        } else {
            Err(PicoError::Unavailable(
                "an earlier try of this event (same idempotency key) was not committed: \
                 this node lost the pico's shard; retry it"
                    .into(),
            ))
        });
    });
}

fn send_when_durable<T: Send + 'static>(
    store: &Store,
    reply: Reply<T>,
    result: Result<T, PicoError>,
    flush: bool,
) {
    match result {
        // Sent by the flusher: the receiver wakes once, when it is on disk.
        Ok(value) if flush => store.after_flush(move |flushed| {
            let _ = reply.send(flushed.map(|()| value).map_err(Into::into));
        }),
        result => {
            let _ = reply.send(result);
        }
    }
}

/// Sleeps until `at`, or forever when there is no timer.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a query to a ruleset that failed to start on this pico answers.
fn cannot_start(rid: &Rid, e: &EvalError) -> String {
    format!("Ruleset {rid} could not start on this pico: {e}")
}

/// The event a pico gets after a ruleset is installed on it.
fn ruleset_installed_event(rid: &Rid, eci: Eci) -> EventIn {
    let mut attrs = Map::new();
    attrs.insert(
        "rids".into(),
        Value::Array(vec![Value::String(rid.to_string())]),
    );
    EventIn {
        eci,
        eid: Eid::random(),
        domain: "wrangler".into(),
        name: "ruleset_installed".into(),
        attrs,
        time_ms: now_ms(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ruleset_installed_event_names_the_rid() {
        let ev = ruleset_installed_event(&Rid::new("io.x"), Eci::new("e"));
        assert_eq!(
            (ev.domain.as_str(), ev.name.as_str()),
            ("wrangler", "ruleset_installed")
        );
        assert_eq!(Value::Object(ev.attrs), json!({"rids": ["io.x"]}));
    }
}
