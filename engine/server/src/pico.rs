//! Picos at run time: one tokio task and one mailbox per pico. Uses:
//! `store`, `rulesets`, `ids`, tokio (and, once it lands, the evaluator
//! `krl_lang::engine` through [`PicoHost`]).
//!
//! The task ([`Actor`]) owns the pico's in-memory state (its installed
//! rulesets, later the evaluator's `PicoRuntime`) and handles one message
//! at a time, in arrival order: events and queries to one pico never
//! overlap, while different picos run in parallel on tokio's workers. The
//! mailbox is the only synchronisation: the actor takes no lock.
//!
//! Each event's writes go into a [`WriteBuf`] that is applied as one sled
//! batch. The actor then registers for the next group flush and hands the
//! reply to a small task that sends it once the flush is done, so the
//! actor goes on with the next message while the disk catches up (the
//! next event reads the previous one's writes from sled's memory). A reply
//! therefore never reaches a client before its writes are durable, and
//! replies to one pico still leave in order, since flushes complete in
//! order.

use crate::ids::{Eci, Eid, PicoId, Rid, TxnId};
use crate::rulesets::{Registered, Registry};
use crate::store::{InstallRecord, Key, Store, StoreError, WriteBuf};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How many messages may wait in one pico's mailbox before senders wait.
const MAILBOX: usize = 1024;

/// An event on its way to a pico.
#[derive(Clone, Debug)]
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

/// A directive in an event's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Directive {
    /// Its name, e.g. `say`.
    pub name: String,
    /// Its options (a JSON object).
    pub options: Map<String, Value>,
    /// Which rule produced it.
    pub meta: DirectiveMeta,
}

/// Where a directive came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectiveMeta {
    /// The ruleset.
    pub rid: Rid,
    /// The rule.
    pub rule_name: String,
    /// The transaction (one per event).
    #[serde(rename = "txnId")]
    pub txn_id: TxnId,
}

/// The answer to an event: `{"eid", "directives"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventAnswer {
    /// The event's id.
    pub eid: Eid,
    /// What the rules that fired asked for, in order.
    pub directives: Vec<Directive>,
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
    /// Install of a ruleset nobody registered.
    #[error("Ruleset not found: {0} (register it first)")]
    UnknownRuleset(Rid),
    /// A KRL runtime error.
    #[error("{message} ({rid}, rule {rule}, {line}:{col})")]
    Eval {
        /// The ruleset.
        rid: Rid,
        /// The rule (empty in a query).
        rule: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What went wrong.
        message: String,
    },
    /// Queries need the evaluator, which this build does not have yet.
    #[error("cannot evaluate {rid}/{name}: this build has no KRL evaluator yet")]
    NoEvaluator {
        /// The ruleset.
        rid: Rid,
        /// The function.
        name: String,
    },
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
        reply: Reply<EventAnswer>,
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

/// The sending side of a pico's mailbox. Cheap to clone.
#[derive(Clone)]
pub struct PicoHandle {
    id: PicoId,
    tx: mpsc::Sender<Msg>,
}

impl PicoHandle {
    /// Starts the task of pico `id`. It loads the pico's installs from the
    /// store first; a pico that is not in the store answers
    /// [`PicoError::Gone`] and ends.
    pub fn spawn(id: PicoId, store: Store, registry: Arc<Registry>) -> PicoHandle {
        let (tx, rx) = mpsc::channel(MAILBOX);
        let actor = Actor {
            id: id.clone(),
            store,
            registry,
            installed: Vec::new(),
            first_eci: Eci::new("none"),
        };
        tokio::spawn(actor.run(rx));
        PicoHandle { id, tx }
    }

    /// Has the task ended?
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Sends a message and waits for the answer. A closed mailbox or a
    /// dropped reply means the pico is gone.
    ///
    /// Cancel safety: if the caller is dropped (client went away) after
    /// the send, the pico still processes the message; only the reply is
    /// lost.
    async fn call<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> Result<T, PicoError> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(msg(reply)).await.is_err() {
            return Err(PicoError::Gone(self.id.clone()));
        }
        rx.await
            .unwrap_or_else(|_| Err(PicoError::Gone(self.id.clone())))
    }

    /// Raises an event; answers once its writes are durable.
    pub async fn event(&self, event: EventIn) -> Result<EventAnswer, PicoError> {
        self.call(|reply| Msg::Event { event, reply }).await
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
        self.call(|reply| Msg::Install { rid, config, reply }).await
    }

    /// Uninstalls a ruleset and drops its entity variables, rule states
    /// and schedules on this pico.
    pub async fn uninstall(&self, rid: Rid) -> Result<(), PicoError> {
        self.call(|reply| Msg::Uninstall { rid, reply }).await
    }

    /// Lets the task finish the messages already queued, then end.
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Stop { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A ruleset installed on this pico.
struct Installed {
    ruleset: Arc<Registered>,
    config: Value,
}

/// The task of one pico.
struct Actor {
    id: PicoId,
    store: Store,
    registry: Arc<Registry>,
    /// In install order (rulesets see an event in this order).
    installed: Vec<Installed>,
    /// The pico's first channel: the eci of events the engine raises
    /// itself (`wrangler:ruleset_installed`).
    first_eci: Eci,
    // Once krl_lang::engine lands: `runtime: PicoRuntime`.
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let failure = match self.load() {
            Ok(true) => None,
            Ok(false) => Some(PicoError::Gone(self.id.clone())),
            Err(e) => {
                tracing::error!(pico = %self.id, "cannot load pico: {e}");
                Some(PicoError::Unavailable(e.to_string()))
            }
        };
        if let Some(err) = failure {
            // Answer the first message and end: the handle then sees a
            // closed mailbox and reports the pico gone.
            if let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Event { reply, .. } => drop(reply.send(Err(err))),
                    Msg::Query { reply, .. } => drop(reply.send(Err(err))),
                    Msg::Install { reply, .. } | Msg::Uninstall { reply, .. } => {
                        drop(reply.send(Err(err)))
                    }
                    Msg::Stop { reply } => drop(reply.send(())),
                }
            }
            return;
        }
        while let Some(msg) = rx.recv().await {
            self.refresh();
            match msg {
                Msg::Event { event, reply } => self.apply_event(event, reply),
                Msg::Query {
                    rid,
                    name,
                    args,
                    reply,
                } => {
                    let _ = reply.send(self.apply_query(&rid, &name, args));
                }
                Msg::Install { rid, config, reply } => self.apply_install(rid, config, reply),
                Msg::Uninstall { rid, reply } => self.apply_uninstall(rid, reply),
                Msg::Stop { reply } => {
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    /// Loads the installs; `false` when the pico does not exist.
    fn load(&mut self) -> Result<bool, StoreError> {
        let Some(record) = self.store.pico(&self.id)? else {
            return Ok(false);
        };
        if let Some(eci) = record.channels.first() {
            self.first_eci = eci.clone();
        }
        for rec in self.store.installs(&self.id)? {
            match self.registry.get(&rec.rid) {
                Some(ruleset) => self.installed.push(Installed {
                    ruleset,
                    config: rec.config,
                }),
                None => tracing::warn!(pico = %self.id, rid = %rec.rid,
                    "installed ruleset is not registered (it no longer compiles?); skipped"),
            }
        }
        // Wiring: install each into the runtime here (no
        // ruleset_installed event: they were installed before).
        Ok(true)
    }

    /// Picks up rulesets registered again since this pico installed them:
    /// the registry holds the newest `Arc`, so a pointer comparison per
    /// installed ruleset is all it costs.
    fn refresh(&mut self) {
        for inst in &mut self.installed {
            if let Some(newest) = self.registry.get(&inst.ruleset.rid) {
                if !Arc::ptr_eq(&newest, &inst.ruleset) {
                    inst.ruleset = newest;
                    // Wiring: runtime.install(compiled, config) again.
                }
            }
        }
    }

    fn install_records(&self) -> Vec<InstallRecord> {
        self.installed
            .iter()
            .map(|i| InstallRecord {
                rid: i.ruleset.rid.clone(),
                config: i.config.clone(),
            })
            .collect()
    }

    /// Applies `buf` and sends `reply` once it is durable. Runs in the
    /// actor, so batches are applied in message order; only the wait for
    /// the disk is handed to a task.
    fn reply_when_durable<T: Send + 'static>(
        &self,
        buf: WriteBuf,
        reply: Reply<T>,
        result: Result<T, PicoError>,
    ) {
        let result = match result {
            Ok(v) if !buf.is_empty() => v,
            other => {
                // Nothing to make durable (or nothing to report but an error).
                let _ = reply.send(other);
                return;
            }
        };
        if let Err(e) = self.store.apply(buf) {
            let _ = reply.send(Err(e.into()));
            return;
        }
        let ticket = self.store.flush_ticket();
        tokio::spawn(async move {
            let _ = reply.send(ticket.wait().await.map(|()| result).map_err(Into::into));
        });
    }

    fn apply_event(&mut self, event: EventIn, reply: Reply<EventAnswer>) {
        let mut host = PicoHost::new(&self.store, &self.id);
        let result = self.eval_event(&event, &mut host);
        self.reply_when_durable(host.into_buf(), reply, result);
    }

    /// Runs the event through the installed rulesets.
    fn eval_event(
        &mut self,
        event: &EventIn,
        _host: &mut PicoHost,
    ) -> Result<EventAnswer, PicoError> {
        // Wiring: `self.runtime.event(krl_lang::engine::Event {..}, host)`,
        // mapping its Outcome's directives and its EvalError to
        // PicoError::Eval. Until then no rule runs.
        Ok(EventAnswer {
            eid: event.eid.clone(),
            directives: Vec::new(),
        })
    }

    fn apply_query(
        &mut self,
        rid: &Rid,
        name: &str,
        _args: Map<String, Value>,
    ) -> Result<Value, PicoError> {
        let inst = self
            .installed
            .iter()
            .find(|i| &i.ruleset.rid == rid)
            .ok_or_else(|| PicoError::NotInstalled(rid.clone()))?;
        if !inst.ruleset.shares(name) {
            return Err(PicoError::NotShared {
                rid: rid.clone(),
                name: name.to_string(),
            });
        }
        // Wiring: `self.runtime.query(rid, name, args, &mut host)`, host
        // over the store (queries write nothing; discard the buffer).
        Err(PicoError::NoEvaluator {
            rid: rid.clone(),
            name: name.to_string(),
        })
    }

    fn apply_install(&mut self, rid: Rid, config: Value, reply: Reply<()>) {
        let Some(ruleset) = self.registry.get(&rid) else {
            let _ = reply.send(Err(PicoError::UnknownRuleset(rid)));
            return;
        };
        let installed = Installed { ruleset, config };
        match self.installed.iter_mut().find(|i| i.ruleset.rid == rid) {
            Some(slot) => *slot = installed,
            None => self.installed.push(installed),
        }
        let mut host = PicoHost::new(&self.store, &self.id);
        host.buf
            .put(Key::installs(&self.id), &self.install_records());
        // Wiring: runtime.install(compiled, config, &mut host) here.
        // Then the pico gets `wrangler:ruleset_installed` {"rids": [rid]},
        // with the same host, so its writes go in the same batch. Its
        // errors are logged: the install itself has succeeded.
        let event = ruleset_installed_event(&rid, self.first_eci.clone());
        if let Err(e) = self.eval_event(&event, &mut host) {
            tracing::warn!(pico = %self.id, %rid, "wrangler:ruleset_installed failed: {e}");
        }
        self.reply_when_durable(host.into_buf(), reply, Ok(()));
    }

    fn apply_uninstall(&mut self, rid: Rid, reply: Reply<()>) {
        let Some(at) = self.installed.iter().position(|i| i.ruleset.rid == rid) else {
            let _ = reply.send(Err(PicoError::NotInstalled(rid)));
            return;
        };
        self.installed.remove(at);
        // Wiring: runtime.uninstall(&rid).
        let mut buf = WriteBuf::new();
        buf.put(Key::installs(&self.id), &self.install_records());
        for prefix in Key::pico_ruleset_state(&self.id, &rid) {
            if let Err(e) = buf.remove_prefix(&self.store, &prefix) {
                let _ = reply.send(Err(e.into()));
                return;
            }
        }
        self.reply_when_durable(buf, reply, Ok(()));
    }
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

/// What the evaluator sees of the world while it handles one event or
/// query of one pico: reads go through the write buffer to the store,
/// writes go to the buffer (applied as one batch afterwards).
///
/// Once `krl_lang::engine::Host` exists, it is implemented for this type
/// by forwarding to these methods (converting `Value` to and from JSON).
pub struct PicoHost {
    store: Store,
    pico: PicoId,
    buf: WriteBuf,
}

impl PicoHost {
    /// A host with an empty write buffer. (It owns a clone of the store
    /// handle and of the id, so the actor can lend it to its runtime while
    /// the runtime is borrowed mutably.)
    pub fn new(store: &Store, pico: &PicoId) -> PicoHost {
        PicoHost {
            store: store.clone(),
            pico: pico.clone(),
            buf: WriteBuf::new(),
        }
    }

    /// The writes made so far.
    pub fn into_buf(self) -> WriteBuf {
        self.buf
    }

    /// The pico this host serves.
    pub fn pico(&self) -> &PicoId {
        &self.pico
    }

    /// An entity variable (`ent:name` of `rid` on this pico).
    pub fn ent_get(&self, rid: &Rid, name: &str) -> Result<Option<Value>, StoreError> {
        self.buf
            .get(&self.store, &Key::entity(&self.pico, rid, name))
    }

    /// Sets (`Some`) or clears (`None`) an entity variable.
    pub fn ent_put(&mut self, rid: &Rid, name: &str, value: Option<&Value>) {
        let key = Key::entity(&self.pico, rid, name);
        match value {
            Some(v) => self.buf.put(key, v),
            None => self.buf.remove(key),
        }
    }

    /// An app variable (`app:name` of `rid`, shared by all picos).
    pub fn app_get(&self, rid: &Rid, name: &str) -> Result<Option<Value>, StoreError> {
        self.buf.get(&self.store, &Key::app(rid, name))
    }

    /// Sets or clears an app variable.
    pub fn app_put(&mut self, rid: &Rid, name: &str, value: Option<&Value>) {
        let key = Key::app(rid, name);
        match value {
            Some(v) => self.buf.put(key, v),
            None => self.buf.remove(key),
        }
    }

    /// A rule's saved state (JSON the evaluator defines).
    pub fn rule_state_get(&self, rid: &Rid, rule: &str) -> Result<Option<Value>, StoreError> {
        self.buf
            .get(&self.store, &Key::rule_state(&self.pico, rid, rule))
    }

    /// Saves or clears a rule's state.
    pub fn rule_state_put(&mut self, rid: &Rid, rule: &str, value: Option<&Value>) {
        let key = Key::rule_state(&self.pico, rid, rule);
        match value {
            Some(v) => self.buf.put(key, v),
            None => self.buf.remove(key),
        }
    }

    /// A scheduled event of `rid`.
    pub fn schedule_put(&mut self, rid: &Rid, id: &str, value: Option<&Value>) {
        let key = Key::schedule(&self.pico, rid, id);
        match value {
            Some(v) => self.buf.put(key, v),
            None => self.buf.remove(key),
        }
    }

    /// All of this pico's scheduled events, as stored.
    pub fn schedules(&self) -> Result<Vec<Value>, StoreError> {
        Ok(self
            .store
            .scan::<Value>(&Key::schedules(&self.pico))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// The wall clock, ms since the Unix epoch.
    pub fn now_ms(&self) -> f64 {
        now_ms()
    }
}

/// The wall clock, ms since the Unix epoch.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
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

    #[test]
    fn host_reads_its_own_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pico = PicoId::new("p");
        let rid = Rid::new("r");
        let mut host = PicoHost::new(&store, &pico);
        assert_eq!(host.ent_get(&rid, "n").unwrap(), None);
        host.ent_put(&rid, "n", Some(&json!(3)));
        assert_eq!(host.ent_get(&rid, "n").unwrap(), Some(json!(3)));
        store.apply(host.into_buf()).unwrap();
        let host = PicoHost::new(&store, &pico);
        assert_eq!(host.ent_get(&rid, "n").unwrap(), Some(json!(3)));
        // Another pico's variable of the same name is another key.
        let other = PicoId::new("q");
        assert_eq!(
            PicoHost::new(&store, &other).ent_get(&rid, "n").unwrap(),
            None
        );
    }
}
