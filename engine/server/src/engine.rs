//! The engine: the state every request shares (store, registered
//! rulesets, the pico tasks) and the operations of the admin API and the
//! Sky routes, independent of HTTP. Uses: `pico`, `store`, `rulesets`,
//! `policy`, `ids`, dashmap, tokio.
//!
//! # Locks
//!
//! The event and query path takes no global lock: the channel is read from
//! sled, the pico's handle from a sharded map, and the pico's mailbox
//! orders the rest. Operations that change the pico tree (new/delete pico,
//! new/delete channel, register) hold `admin`, an async mutex, so two of
//! them never interleave their read-modify-write of pico records. Installs
//! do not need it: a pico's installs are written only by its own task.

use crate::ids::{Eci, PicoId, Rid};
use crate::outbound::HttpClient;
use crate::pico::{now_ms, EventAnswer, EventIn, PicoContext, PicoError, PicoHandle};
use crate::policy::Policy;
use crate::rulesets::{Entry as RulesetEntry, Registered, Registry, SourceError};
use crate::store::{ChannelRecord, EngineMeta, Key, PicoRecord, Store, StoreError, WriteBuf};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use krl_lang::engine::Limits;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// The engine's version, reported by `GET /api/engine`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What can go wrong in an engine operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No channel has this eci.
    #[error("ECI not found: {0}")]
    UnknownEci(Eci),
    /// No pico has this id.
    #[error("Pico not found: {0}")]
    UnknownPico(PicoId),
    /// No ruleset has this rid.
    #[error("Ruleset not found: {0}")]
    UnknownRuleset(Rid),
    /// The ruleset is stored but no longer compiles.
    #[error("Ruleset {0} is broken: {1}; register it again to repair it")]
    BrokenRuleset(Rid, String),
    /// The channel's policy refuses this.
    #[error("{0}")]
    Denied(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// A ruleset's `use module` cannot be satisfied: a module that is not
    /// registered, or a dependency cycle (language 8.1).
    #[error("{0}")]
    Module(String),
    /// KRL that does not parse or check.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Something inside a pico.
    #[error(transparent)]
    Pico(#[from] PicoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Results of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Settings from the command line: the evaluator's limits, and what later
/// modules use (Twilio, MQTT, static files). Kept here so that they are in
/// one place.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Bounds on each evaluation (`--max-ops`, `--max-depth`,
    /// `--max-raised`), given to every pico's `PicoRuntime`.
    pub limits: Limits,
    /// Time limit of one `http:` request (`--http-timeout`); `None`:
    /// [`crate::outbound::DEFAULT_TIMEOUT`].
    pub http_timeout: Option<std::time::Duration>,
    /// Base URL the outside world uses (Twilio signatures, TwiML URLs).
    pub public_url: String,
    /// Base of Twilio's REST API.
    pub twilio_api_url: String,
    /// Twilio webhooks: engine-wide auth token, apology (docs/twilio.md).
    pub twilio: crate::twilio::TwilioSettings,
    /// Embedded MQTT broker address (`None` with `--no-mqtt`).
    pub mqtt_listen: Option<String>,
    /// External broker URL instead of the embedded one.
    pub mqtt_url: Option<String>,
    /// The MQTT side (`mqtt::Mqtt`, made by `serve`); `None`: `mqtt:`
    /// actions and the admin routes say MQTT is off.
    pub mqtt: Option<Arc<crate::mqtt::Mqtt>>,
    /// Folder served under `/static/`.
    pub static_dir: Option<PathBuf>,
}

/// `GET /api/picos/{id}`.
#[derive(Clone, Debug, Serialize)]
pub struct PicoInfo {
    /// Its id.
    pub id: PicoId,
    /// Its name.
    pub name: String,
    /// Its parent (`null` for the root).
    pub parent: Option<PicoId>,
    /// Its children, oldest first.
    pub children: Vec<PicoId>,
    /// The rids of its installed rulesets, in install order.
    pub rulesets: Vec<Rid>,
    /// Its channels' ecis, oldest first.
    pub channels: Vec<Eci>,
}

/// The shared state of a running engine.
pub struct Engine {
    store: Store,
    registry: Arc<Registry>,
    /// What pico tasks get: store, registry, the outbox of sent events.
    ctx: PicoContext,
    picos: DashMap<PicoId, PicoHandle>,
    admin: tokio::sync::Mutex<()>,
    meta: EngineMeta,
    settings: Settings,
}

impl Engine {
    /// Loads the engine from `store`, creating the root pico and its
    /// channel on first start, and starts the task that delivers the
    /// events rules send (`event:send`). Call inside a tokio runtime.
    pub fn open(store: Store, settings: Settings) -> Result<Arc<Engine>> {
        let registry = Arc::new(Registry::load(&store)?);
        let meta = match store.engine_meta()? {
            Some(meta) => meta,
            None => {
                let meta = EngineMeta {
                    root_pico: PicoId::random(),
                    root_eci: Eci::random(),
                };
                let mut buf = WriteBuf::new();
                new_pico_records(
                    &mut buf,
                    &meta.root_pico,
                    "root",
                    None,
                    &meta.root_eci,
                    vec!["system".into()],
                );
                buf.put(Key::meta("root"), &meta);
                store.apply(buf)?;
                store.flush_now()?;
                meta
            }
        };
        let (outbox, sent) = mpsc::unbounded_channel();
        let twilio = Arc::new(crate::twilio::outbox::OutboxConfig {
            account_sid: settings.twilio.account_sid.clone(),
            auth_token: settings.twilio.auth_token.clone(),
            public_url: settings.public_url.clone(),
            wake: Arc::default(),
        });
        let statics = match &settings.static_dir {
            Some(dir) => Some(Arc::new(
                crate::statics::StaticFiles::new(dir, &settings.public_url).map_err(|e| {
                    EngineError::BadRequest(format!("--static folder {}: {e}", dir.display()))
                })?,
            )),
            None => None,
        };
        let engine = Arc::new(Engine {
            ctx: PicoContext {
                store: store.clone(),
                registry: registry.clone(),
                outbox,
                limits: settings.limits,
                mqtt: settings.mqtt.clone(),
                http: HttpClient::new(
                    settings
                        .http_timeout
                        .unwrap_or(crate::outbound::DEFAULT_TIMEOUT),
                ),
                twilio,
                statics,
                session_ttl: settings.twilio.call_session_ttl,
            },
            store,
            registry,
            picos: DashMap::new(),
            admin: tokio::sync::Mutex::new(()),
            meta,
            settings,
        });
        tokio::spawn(deliver_sent(Arc::downgrade(&engine), sent));
        engine.start_scheduled()?;
        engine.start_with_sessions()?;
        Ok(engine)
    }

    /// Starts the task of every pico that has scheduled events, so that
    /// they fire (overdue ones at once) without waiting for a message to
    /// the pico. Schedules left by a pico whose delete was cut short by a
    /// crash (no pico record) are dropped with the rest of its state.
    fn start_scheduled(&self) -> Result<()> {
        let mut orphans = WriteBuf::new();
        for id in self.store.scheduled_picos()? {
            if self.store.pico(&id)?.is_some() {
                self.handle(&id);
            } else {
                tracing::info!(pico = %id, "dropping the state of a deleted pico");
                orphans.remove(Key::installs(&id));
                for prefix in Key::pico_state(&id) {
                    orphans.remove_prefix(&self.store, &prefix)?;
                }
            }
        }
        self.store.apply(orphans)?;
        Ok(())
    }

    /// Starts the task of every pico that has call sessions, so that
    /// expired ones are swept without waiting for a message to the pico
    /// (sessions of a pico whose delete a crash cut short are dropped).
    fn start_with_sessions(&self) -> Result<()> {
        let mut orphans = WriteBuf::new();
        for id in self.store.session_picos()? {
            if self.store.pico(&id)?.is_some() {
                self.handle(&id);
            } else {
                for prefix in Key::pico_state(&id) {
                    orphans.remove_prefix(&self.store, &prefix)?;
                }
            }
        }
        self.store.apply(orphans)?;
        Ok(())
    }

    /// The call sessions stored for pico `id`, as they are on disk (one
    /// past its expiry but not yet swept is listed, marked `expired`):
    /// `[{"call_sid", "expires_ms", "expired", "vars": {rid: {name: value}}}]`.
    pub fn call_sessions(&self, id: &PicoId) -> Result<Vec<serde_json::Value>> {
        if self.store.pico(id)?.is_none() {
            return Err(EngineError::UnknownPico(id.clone()));
        }
        let now = crate::pico::now_ms() as u64;
        let mut out = Vec::new();
        for (key, rec) in self
            .store
            .scan::<crate::store::SessionRecord>(&Key::sessions(id))?
        {
            let Some((_, parts)) = Key::decode(key.as_bytes()) else {
                continue;
            };
            let Some(call) = parts.get(1) else { continue };
            let mut vars = serde_json::Map::new();
            for rid in &rec.rids {
                let mut of_rid = serde_json::Map::new();
                for (k, v) in self
                    .store
                    .scan::<serde_json::Value>(&Key::session_vars(id, rid, call))?
                {
                    if let Some((_, p)) = Key::decode(k.as_bytes()) {
                        if let Some(name) = p.get(3) {
                            of_rid.insert(name.clone(), v);
                        }
                    }
                }
                vars.insert(rid.clone(), serde_json::Value::Object(of_rid));
            }
            out.push(serde_json::json!({
                "call_sid": call,
                "expires_ms": rec.expires_ms,
                "expired": rec.expires_ms <= now,
                "vars": vars,
            }));
        }
        Ok(out)
    }

    /// Root pico and eci.
    pub fn meta(&self) -> &EngineMeta {
        &self.meta
    }

    /// The command-line settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The static folder (`--static`), if any.
    pub fn statics(&self) -> Option<&Arc<crate::statics::StaticFiles>> {
        self.ctx.statics.as_ref()
    }

    /// The MQTT side, unless it is off (`--no-mqtt`).
    pub fn mqtt(&self) -> Option<&Arc<crate::mqtt::Mqtt>> {
        self.ctx.mqtt.as_ref()
    }

    /// The task of pico `id` (started if needed): for events the engine
    /// raises itself, such as MQTT messages (no channel policy).
    pub(crate) fn pico_handle(&self, id: &PicoId) -> PicoHandle {
        self.handle(id)
    }

    /// The Twilio outbox's settings and wake-up (`twilio::outbox`).
    pub fn outbox_config(&self) -> &Arc<crate::twilio::outbox::OutboxConfig> {
        &self.ctx.twilio
    }

    /// The store (for start-up and shutdown).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The task of pico `id`, started if it is not running. No global
    /// lock: a read of one shard of the map, a write only on first use.
    fn handle(&self, id: &PicoId) -> PicoHandle {
        if let Some(h) = self.picos.get(id) {
            if !h.is_closed() {
                return h.clone();
            }
        }
        let spawn = || PicoHandle::spawn(id.clone(), self.ctx.clone());
        match self.picos.entry(id.clone()) {
            Entry::Occupied(mut e) => {
                if e.get().is_closed() {
                    e.insert(spawn());
                }
                e.get().clone()
            }
            Entry::Vacant(e) => e.insert(spawn()).clone(),
        }
    }

    fn pico_record(&self, id: &PicoId) -> Result<PicoRecord> {
        self.store
            .pico(id)?
            .ok_or_else(|| EngineError::UnknownPico(id.clone()))
    }

    fn channel_record(&self, eci: &Eci) -> Result<(ChannelRecord, Option<Policy>)> {
        let ch = self
            .store
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
        Ok((ch, policy))
    }

    /// Raises an event on the pico behind `event.eci`, if its policy lets
    /// it through.
    pub async fn event(&self, event: EventIn) -> Result<EventAnswer> {
        let pico = self.event_pico(&event)?;
        Ok(self.handle(&pico).event(event).await?)
    }

    /// Delivers an event a rule sent: checked against the channel and its
    /// policy like any other, but nobody waits for its answer.
    async fn deliver(&self, event: EventIn) -> Result<()> {
        let pico = self.event_pico(&event)?;
        Ok(self.handle(&pico).event_nowait(event).await?)
    }

    /// The pico behind `event.eci`, once its channel's policy allows the event.
    fn event_pico(&self, event: &EventIn) -> Result<PicoId> {
        let (ch, policy) = self.channel_record(&event.eci)?;
        if let Some(p) = policy {
            if !p.allows_event(&event.domain, &event.name) {
                return Err(EngineError::Denied(format!(
                    "Denied by channel policy: event {}:{}",
                    event.domain, event.name
                )));
            }
        }
        Ok(ch.pico)
    }

    /// Calls a shared function of `rid` on the pico behind `eci`.
    pub async fn query(
        &self,
        eci: &Eci,
        rid: Rid,
        name: String,
        args: Map<String, Value>,
    ) -> Result<Value> {
        let (ch, policy) = self.channel_record(eci)?;
        if let Some(p) = policy {
            if !p.allows_query(rid.as_str(), &name) {
                return Err(EngineError::Denied(format!(
                    "Denied by channel policy: query {rid}/{name}"
                )));
            }
        }
        Ok(self.handle(&ch.pico).query(rid, name, args).await?)
    }

    /// Registers (or registers again) a ruleset from KRL source.
    pub async fn register(&self, source: &str) -> Result<Arc<Registered>> {
        let registered = Arc::new(Registered::prepare(source, now_ms() as u64)?);
        let _admin = self.admin.lock().await;
        // Under the lock: two registrations cannot form a cycle together.
        self.registry
            .check_uses(&registered)
            .map_err(EngineError::Module)?;
        let mut buf = WriteBuf::new();
        buf.put(Key::ruleset(&registered.rid), &registered.record());
        self.store.commit(buf).await?;
        // In the registry only once durable: a pico never runs a ruleset
        // that a crash could take back.
        self.registry.insert(registered.clone());
        Ok(registered)
    }

    /// All registered rulesets, broken ones too, sorted by rid.
    pub fn rulesets(&self) -> Vec<RulesetEntry> {
        self.registry.entries()
    }

    /// One registered ruleset, ready or broken.
    pub fn ruleset_entry(&self, rid: &Rid) -> Result<RulesetEntry> {
        self.registry
            .entry(rid)
            .ok_or_else(|| EngineError::UnknownRuleset(rid.clone()))
    }

    /// One registered ruleset that compiles.
    pub fn ruleset(&self, rid: &Rid) -> Result<Arc<Registered>> {
        match self.ruleset_entry(rid)? {
            RulesetEntry::Ready(r) => Ok(r),
            RulesetEntry::Broken(b) => {
                Err(EngineError::BrokenRuleset(b.rid.clone(), b.error.clone()))
            }
        }
    }

    /// Makes a pico, a child of `parent` (default: the root), with one
    /// channel. Answers its id and that channel's eci.
    pub async fn new_pico(
        &self,
        parent: Option<PicoId>,
        name: Option<String>,
    ) -> Result<(PicoId, Eci)> {
        let parent = parent.unwrap_or_else(|| self.meta.root_pico.clone());
        let _admin = self.admin.lock().await;
        let mut parent_rec = self.pico_record(&parent)?;
        let id = PicoId::random();
        let eci = Eci::random();
        let mut buf = WriteBuf::new();
        let name = name.unwrap_or_else(|| "pico".into());
        new_pico_records(
            &mut buf,
            &id,
            &name,
            Some(&parent),
            &eci,
            vec!["system".into()],
        );
        parent_rec.children.push(id.clone());
        buf.put(Key::pico(&parent), &parent_rec);
        self.store.commit(buf).await?;
        Ok((id, eci))
    }

    /// Makes a pico as [`Engine::new_pico`] does, with `rulesets` (rid,
    /// config) installed in that order; all or nothing. Everything that
    /// can be checked is checked before anything is made: each rid is
    /// registered and compiles (404, 409), each config is an object, no
    /// rid is listed twice, and each ruleset's modules are listed before
    /// it (they must be on the same pico). If an install still fails (its
    /// globals fail), the pico is deleted again and the error answered, so
    /// no pico and no channel is left behind.
    pub async fn new_pico_with_rulesets(
        &self,
        parent: Option<PicoId>,
        name: Option<String>,
        rulesets: Vec<(Rid, Option<Value>)>,
    ) -> Result<(PicoId, Eci)> {
        let mut planned: Vec<(Rid, Value)> = Vec::new();
        for (rid, config) in rulesets {
            let config = install_config(config)?;
            let ruleset = self.ruleset(&rid)?;
            if planned.iter().any(|(r, _)| r == &rid) {
                return Err(EngineError::BadRequest(format!(
                    "ruleset {rid} is listed twice"
                )));
            }
            if let Some(module) = ruleset
                .uses()
                .find(|u| !planned.iter().any(|(r, _)| r.as_str() == *u))
            {
                return Err(PicoError::ModuleNotInstalled {
                    rid,
                    module: Rid::new(module),
                }
                .into());
            }
            planned.push((rid, config));
        }
        let (id, eci) = self.new_pico(parent, name).await?;
        for (rid, config) in planned {
            if let Err(e) = self.handle(&id).install(rid.clone(), config).await {
                tracing::warn!(pico = %id, %rid, "new pico not made: install failed: {e}");
                if let Err(d) = self.delete_pico(&id).await {
                    tracing::error!(pico = %id, "cannot delete the half-made pico: {d}");
                }
                return Err(e.into());
            }
        }
        Ok((id, eci))
    }

    /// A pico's record, installs and channels.
    pub fn pico(&self, id: &PicoId) -> Result<PicoInfo> {
        let rec = self.pico_record(id)?;
        let rulesets = self
            .store
            .installs(id)?
            .into_iter()
            .map(|i| i.rid)
            .collect();
        Ok(PicoInfo {
            id: id.clone(),
            name: rec.name,
            parent: rec.parent,
            children: rec.children,
            rulesets,
            channels: rec.channels,
        })
    }

    /// Deletes a pico with its children, channels, installs, variables and
    /// schedules. The root cannot be deleted.
    pub async fn delete_pico(&self, id: &PicoId) -> Result<()> {
        if id == &self.meta.root_pico {
            return Err(EngineError::BadRequest(
                "the root pico cannot be deleted".into(),
            ));
        }
        let _admin = self.admin.lock().await;
        let rec = self.pico_record(id)?;
        // The subtree, parents before children.
        let mut doomed = vec![(id.clone(), rec.clone())];
        let mut at = 0;
        while at < doomed.len() {
            for child in doomed[at].1.children.clone() {
                if let Some(r) = self.store.pico(&child)? {
                    doomed.push((child, r));
                }
            }
            at += 1;
        }
        // 1. Cut the subtree off: no pico record (new tasks refuse), no
        //    channel (events get 404), parent no longer lists it.
        let mut buf = WriteBuf::new();
        for (pico, r) in &doomed {
            buf.remove(Key::pico(pico));
            for eci in &r.channels {
                buf.remove(Key::channel(eci));
            }
        }
        if let Some(parent) = &rec.parent {
            if let Some(mut p) = self.store.pico(parent)? {
                p.children.retain(|c| c != id);
                buf.put(Key::pico(parent), &p);
            }
        }
        self.store.apply(buf)?;
        // 2. Let the tasks finish what they have queued, and end.
        for (pico, _) in &doomed {
            if let Some((_, h)) = self.picos.remove(pico) {
                h.stop().await;
            }
        }
        // 3. Nobody writes these picos' state any more: drop it. (A crash
        //    between 1 and 3 leaves unreachable keys behind, nothing else.)
        let mut buf = WriteBuf::new();
        for (pico, _) in &doomed {
            buf.remove(Key::installs(pico));
            for prefix in Key::pico_state(pico) {
                buf.remove_prefix(&self.store, &prefix)?;
            }
        }
        self.store.commit(buf).await?;
        Ok(())
    }

    /// Installs a registered ruleset on a pico (again, if it is there:
    /// the config is replaced), then the pico gets
    /// `wrangler:ruleset_installed`.
    pub async fn install(&self, id: &PicoId, rid: Rid, config: Option<Value>) -> Result<()> {
        let config = install_config(config)?;
        self.pico_record(id)?;
        self.ruleset(&rid)?;
        Ok(self.handle(id).install(rid, config).await?)
    }

    /// Uninstalls a ruleset from a pico, dropping its variables there.
    pub async fn uninstall(&self, id: &PicoId, rid: Rid) -> Result<()> {
        self.pico_record(id)?;
        Ok(self.handle(id).uninstall(rid).await?)
    }

    /// Adds a channel to a pico.
    pub async fn new_channel(
        &self,
        id: &PicoId,
        tags: Vec<String>,
        policy: Option<Value>,
        twilio_auth_token: Option<String>,
    ) -> Result<Eci> {
        let policy = match policy {
            None | Some(Value::Null) => None,
            Some(p) => {
                Policy::from_json(&p).map_err(EngineError::BadRequest)?;
                Some(p)
            }
        };
        let _admin = self.admin.lock().await;
        let mut rec = self.pico_record(id)?;
        let eci = Eci::random();
        rec.channels.push(eci.clone());
        let mut buf = WriteBuf::new();
        buf.put(Key::pico(id), &rec);
        buf.put(
            Key::channel(&eci),
            &ChannelRecord {
                pico: id.clone(),
                tags,
                policy,
                twilio_auth_token,
            },
        );
        self.store.commit(buf).await?;
        Ok(eci)
    }

    /// Deletes a channel. The root's first channel stays.
    pub async fn delete_channel(&self, eci: &Eci) -> Result<()> {
        if eci == &self.meta.root_eci {
            return Err(EngineError::BadRequest(
                "the root pico's first channel cannot be deleted".into(),
            ));
        }
        let _admin = self.admin.lock().await;
        let ch = self
            .store
            .channel(eci)?
            .ok_or_else(|| EngineError::UnknownEci(eci.clone()))?;
        let mut buf = WriteBuf::new();
        buf.remove(Key::channel(eci));
        if let Some(mut rec) = self.store.pico(&ch.pico)? {
            rec.channels.retain(|c| c != eci);
            buf.put(Key::pico(&ch.pico), &rec);
        }
        self.store.commit(buf).await?;
        Ok(())
    }

    /// Stops every pico task after its queued messages, then flushes.
    /// Call after the HTTP server has drained.
    pub async fn shutdown(&self) -> Result<()> {
        let handles: Vec<PicoHandle> = self.picos.iter().map(|h| h.value().clone()).collect();
        let stops = async {
            for h in handles {
                h.stop().await;
            }
        };
        // A pico stuck in one evaluation (a pathological regex, say) must
        // not keep the process alive: what it has not committed was never
        // acknowledged, so flushing without it loses nothing.
        if tokio::time::timeout(PICO_STOP_LIMIT, stops).await.is_err() {
            tracing::warn!(
                "a pico is still busy after {PICO_STOP_LIMIT:?}; stopping without it \
                 (its event in progress is not written)"
            );
        }
        self.store.flush_now()?;
        Ok(())
    }
}

/// How long shutdown waits for the picos to finish their current event.
const PICO_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Delivers, in the order they were sent, the events rules send to
/// channels. Holds only a `Weak`: it ends with the engine.
async fn deliver_sent(engine: Weak<Engine>, mut sent: mpsc::UnboundedReceiver<EventIn>) {
    while let Some(event) = sent.recv().await {
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let what = format!("{}:{} to {}", event.domain, event.name, event.eci);
        if let Err(e) = engine.deliver(event).await {
            tracing::warn!("event {what} not delivered: {e}");
        }
    }
}

/// An install's config: a JSON object (none or `null`: `{}`).
fn install_config(config: Option<Value>) -> Result<Value> {
    match config {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(c @ Value::Object(_)) => Ok(c),
        Some(_) => Err(EngineError::BadRequest(
            "config must be a JSON object".into(),
        )),
    }
}

/// The records of a new pico: the pico, its installs (none) and its first
/// channel (no policy: allows everything).
fn new_pico_records(
    buf: &mut WriteBuf,
    id: &PicoId,
    name: &str,
    parent: Option<&PicoId>,
    eci: &Eci,
    tags: Vec<String>,
) {
    buf.put(
        Key::pico(id),
        &PicoRecord {
            name: name.to_string(),
            parent: parent.cloned(),
            children: Vec::new(),
            channels: vec![eci.clone()],
        },
    );
    buf.put(Key::installs(id), &Vec::<()>::new());
    buf.put(
        Key::channel(eci),
        &ChannelRecord {
            pico: id.clone(),
            tags,
            policy: None,
            twilio_auth_token: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Eid;
    use serde_json::json;

    const HELLO: &str = r#"ruleset io.example.hello {
  meta { shares hello, hits }
  global {
    hello = function(name) { "Hello " + name }
    hits = function() { ent:hits.defaultsTo(0) }
  }
  rule r {
    select when echo hello
    send_directive("say", {"something": "Hello"})
    always { ent:hits := ent:hits.defaultsTo(0) + 1 }
  }
}"#;

    fn engine(dir: &std::path::Path) -> Arc<Engine> {
        Engine::open(Store::open(dir).unwrap(), Settings::default()).unwrap()
    }

    fn event(eci: &Eci, domain: &str, name: &str) -> EventIn {
        EventIn {
            eci: eci.clone(),
            eid: Eid::new("e1"),
            domain: domain.into(),
            name: name.into(),
            attrs: Map::new(),
            time_ms: 0.0,
        }
    }

    #[tokio::test]
    async fn root_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = engine(dir.path()).meta().clone();
        // sled gives the folder's lock back when its background flusher
        // thread ends, a moment after the last handle is dropped; there is
        // no signal for that, so the reopen retries for a bounded time.
        let mut store = Store::open(dir.path());
        for _ in 0..250 {
            if store.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            store = Store::open(dir.path());
        }
        let again = Engine::open(store.expect("the lock is released"), Settings::default())
            .unwrap()
            .meta()
            .clone();
        assert_eq!(first, again);
    }

    #[tokio::test]
    async fn pico_tree_install_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let (a, a_eci) = e.new_pico(None, Some("a".into())).await.unwrap();
        let (b, _) = e.new_pico(Some(a.clone()), None).await.unwrap();
        assert_eq!(
            e.pico(&e.meta().root_pico).unwrap().children,
            vec![a.clone()]
        );
        assert_eq!(e.pico(&a).unwrap().children, vec![b.clone()]);

        let rs = e.register(HELLO).await.unwrap();
        e.install(&b, rs.rid.clone(), None).await.unwrap();
        assert_eq!(e.pico(&b).unwrap().rulesets, vec![rs.rid.clone()]);

        let answer = e.event(event(&a_eci, "echo", "hello")).await.unwrap();
        assert_eq!(answer.eid, Eid::new("e1"));
        assert!(answer.directives.is_empty(), "nothing installed on a");

        e.delete_pico(&a).await.unwrap();
        assert!(matches!(e.pico(&a), Err(EngineError::UnknownPico(_))));
        assert!(matches!(e.pico(&b), Err(EngineError::UnknownPico(_))));
        assert!(e.pico(&e.meta().root_pico).unwrap().children.is_empty());
        assert!(matches!(
            e.event(event(&a_eci, "echo", "hello")).await,
            Err(EngineError::UnknownEci(_))
        ));
        assert!(e.store().keys(&Key::installs(&b)).unwrap().is_empty());
    }

    #[tokio::test]
    async fn queries_check_install_and_shares() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let (p, eci) = e.new_pico(None, None).await.unwrap();
        let rid = Rid::new("io.example.hello");
        let err = e
            .query(&eci, rid.clone(), "hello".into(), Map::new())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Pico doesn't have io.example.hello installed."
        );
        e.register(HELLO).await.unwrap();
        e.install(&p, rid.clone(), Some(json!({"a": 1})))
            .await
            .unwrap();
        let err = e
            .query(&eci, rid.clone(), "nope".into(), Map::new())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Not shared: io.example.hello/nope");
        let mut args = Map::new();
        args.insert("name".into(), json!("Ann"));
        let v = e
            .query(&eci, rid.clone(), "hello".into(), args)
            .await
            .unwrap();
        assert_eq!(v, json!("Hello Ann"));
        e.uninstall(&p, rid.clone()).await.unwrap();
        assert!(e.pico(&p).unwrap().rulesets.is_empty());
    }

    async fn count(e: &Engine, eci: &Eci) -> Value {
        e.query(eci, Rid::new("io.example.hello"), "hits".into(), Map::new())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn events_run_rules_and_state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (p, eci) = {
            let e = engine(dir.path());
            e.register(HELLO).await.unwrap();
            let (p, eci) = e.new_pico(None, None).await.unwrap();
            e.install(&p, Rid::new("io.example.hello"), None)
                .await
                .unwrap();
            let answer = e.event(event(&eci, "echo", "hello")).await.unwrap();
            assert_eq!(answer.directives.len(), 1);
            assert_eq!(answer.directives[0]["name"], json!("say"));
            assert_eq!(
                answer.directives[0]["options"],
                json!({"something": "Hello"})
            );
            assert_eq!(
                answer.directives[0]["meta"]["rid"],
                json!("io.example.hello")
            );
            assert_eq!(answer.directives[0]["meta"]["rule_name"], json!("r"));
            e.event(event(&eci, "echo", "hello")).await.unwrap();
            // The answer came after the flush: a query needs no other.
            let flushes = e.store().flush_count();
            assert_eq!(count(&e, &eci).await, json!(2));
            assert_eq!(e.store().flush_count(), flushes);
            e.shutdown().await.unwrap();
            (p, eci)
        };
        let e = engine(dir.path());
        assert_eq!(count(&e, &eci).await, json!(2));
        // Uninstalling drops the ruleset's entity variables.
        e.uninstall(&p, Rid::new("io.example.hello")).await.unwrap();
        e.install(&p, Rid::new("io.example.hello"), None)
            .await
            .unwrap();
        assert_eq!(count(&e, &eci).await, json!(0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_events_to_one_pico_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.register(HELLO).await.unwrap();
        let (p, eci) = e.new_pico(None, None).await.unwrap();
        e.install(&p, Rid::new("io.example.hello"), None)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let e = e.clone();
            let eci = eci.clone();
            tasks.push(tokio::spawn(async move {
                e.event(event(&eci, "echo", "hello")).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(count(&e, &eci).await, json!(50));
    }

    #[tokio::test]
    async fn registering_again_updates_running_picos() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.register(HELLO).await.unwrap();
        let (p, eci) = e.new_pico(None, None).await.unwrap();
        e.install(&p, Rid::new("io.example.hello"), None)
            .await
            .unwrap();
        e.event(event(&eci, "echo", "hello")).await.unwrap();
        let v2 = HELLO.replace("send_directive(\"say\"", "send_directive(\"said\"");
        let r = e.register(&v2).await.unwrap();
        assert_eq!(e.ruleset(&r.rid).unwrap().hash, r.hash);
        let answer = e.event(event(&eci, "echo", "hello")).await.unwrap();
        assert_eq!(answer.directives[0]["name"], json!("said"));
        // Entity variables carry over to the new version.
        assert_eq!(count(&e, &eci).await, json!(2));
    }

    const FORWARD: &str = r#"ruleset io.example.forward {
  rule fwd {
    select when echo forward
    event:send({"eci": event:attr("to"), "domain": "echo", "type": "hello"})
  }
}"#;

    #[tokio::test]
    async fn events_sent_by_rules_reach_other_picos() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.register(HELLO).await.unwrap();
        e.register(FORWARD).await.unwrap();
        let (a, a_eci) = e.new_pico(None, None).await.unwrap();
        let (b, b_eci) = e.new_pico(None, None).await.unwrap();
        e.install(&a, Rid::new("io.example.forward"), None)
            .await
            .unwrap();
        e.install(&b, Rid::new("io.example.hello"), None)
            .await
            .unwrap();
        let mut ev = event(&a_eci, "echo", "forward");
        ev.attrs.insert("to".into(), json!(b_eci.to_string()));
        e.event(ev).await.unwrap();
        // Delivery is asynchronous: wait for it (bounded).
        for _ in 0..200 {
            if count(&e, &b_eci).await == json!(1) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the sent event never arrived");
    }

    const SCHEDULE: &str = r#"ruleset io.example.schedule {
  meta { shares fired, list }
  global {
    fired = function() { ent:fired.defaultsTo(0) }
    list = function() { schedule:list() }
  }
  rule plan {
    select when t plan
    fired { schedule t event "tick" at time:now() }
  }
  rule tick {
    select when t tick
    always { ent:fired := ent:fired.defaultsTo(0) + 1 }
  }
}"#;

    #[tokio::test]
    async fn scheduled_events_fire_and_at_entries_go() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.register(SCHEDULE).await.unwrap();
        let (p, eci) = e.new_pico(None, None).await.unwrap();
        let rid = Rid::new("io.example.schedule");
        e.install(&p, rid.clone(), None).await.unwrap();
        e.event(event(&eci, "t", "plan")).await.unwrap();
        for _ in 0..300 {
            let fired = e
                .query(&eci, rid.clone(), "fired".into(), Map::new())
                .await
                .unwrap();
            if fired == json!(1) {
                let list = e
                    .query(&eci, rid.clone(), "list".into(), Map::new())
                    .await
                    .unwrap();
                assert_eq!(list, json!([]));
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the scheduled event never fired");
    }

    #[tokio::test]
    async fn schedules_of_a_pico_without_record_are_dropped_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let ghost = PicoId::new("ghost");
        {
            let store = Store::open(dir.path()).unwrap();
            let mut buf = WriteBuf::new();
            buf.put(Key::schedule(&ghost, "r", "1"), &json!({"id": "1"}));
            buf.put(Key::entity(&ghost, "r", "x"), &json!(1));
            store.apply(buf).unwrap();
            store.flush_now().unwrap();
        }
        let e = engine(dir.path());
        assert!(e.store().scheduled_picos().unwrap().is_empty());
        for prefix in Key::pico_state(&ghost) {
            assert!(e.store().keys(&prefix).unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn channel_policy_denies() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let (p, _) = e.new_pico(None, None).await.unwrap();
        let policy = json!({"events": {"deny": [{"domain": "secret", "name": "*"}]}});
        let eci = e.new_channel(&p, vec![], Some(policy), None).await.unwrap();
        assert!(e.event(event(&eci, "echo", "hi")).await.is_ok());
        assert!(matches!(
            e.event(event(&eci, "secret", "x")).await,
            Err(EngineError::Denied(_))
        ));
        let bad = e
            .new_channel(&p, vec![], Some(json!({"evnts": {}})), None)
            .await;
        assert!(matches!(bad, Err(EngineError::BadRequest(_))));
        e.delete_channel(&eci).await.unwrap();
        assert!(matches!(
            e.event(event(&eci, "echo", "hi")).await,
            Err(EngineError::UnknownEci(_))
        ));
    }

    #[tokio::test]
    async fn install_of_unregistered_rid_is_unknown_ruleset() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let root = e.meta().root_pico.clone();
        let err = e
            .install(&root, Rid::new("no.such"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::UnknownRuleset(_)));
    }
}
