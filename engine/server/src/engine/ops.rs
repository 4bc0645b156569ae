//! The operations behind the routes: events and queries (through the
//! dispatch: channel, policy, mailbox), registering rulesets, the pico
//! tree, installs and channels.

use super::{Engine, PicoInfo};
use crate::clock::now_ms;
use crate::error::{EngineError, Result};
use crate::ids::{Eci, PicoId, Rid};
use crate::pico::{EventAnswer, EventIn, PicoError};
use crate::policy::Policy;
use crate::rulesets::{Entry as RulesetEntry, Registered};
use crate::store::{ChannelRecord, Key, WriteBuf};
use serde_json::{Map, Value};
use std::sync::Arc;

impl Engine {
    /// Raises an event on the pico behind `event.eci`, if its policy lets
    /// it through.
    pub async fn event(&self, event: EventIn) -> Result<EventAnswer> {
        self.dispatch.event(event).await
    }

    /// Raises an event with an idempotency key (`idempotency`; `None`: as
    /// [`Engine::event`]).
    pub async fn event_keyed(&self, event: EventIn, key: Option<String>) -> Result<EventAnswer> {
        self.dispatch.event_keyed(event, key).await
    }

    /// Calls a shared function of `rid` on the pico behind `eci`.
    pub async fn query(
        &self,
        eci: &Eci,
        rid: Rid,
        name: String,
        args: Map<String, Value>,
    ) -> Result<Value> {
        self.dispatch.query(eci, rid, name, args).await
    }

    /// Registers (or registers again) a ruleset from KRL source.
    pub async fn register(&self, source: &str) -> Result<Arc<Registered>> {
        self.register_prepared(Registered::prepare(source, now_ms() as u64)?)
            .await
    }

    /// Registers (or registers again) the ruleset at `url` (`file://`,
    /// `http://`, `https://`): fetched, compiled, stored with its URL. The
    /// picos that run it pick up the new version at their next message.
    pub async fn register_url(&self, url: &str) -> Result<Arc<Registered>> {
        let source = super::calls::fetch(url)
            .await
            .map_err(EngineError::BadRequest)?;
        let registered =
            Registered::prepare(&source, now_ms() as u64)?.from_url(Some(url.to_string()));
        self.register_prepared(registered).await
    }

    async fn register_prepared(&self, registered: Registered) -> Result<Arc<Registered>> {
        let registered = Arc::new(registered);
        let _admin = self.admin.lock().await;
        // In a cluster: the modules other nodes registered count too.
        if self.store().postgres().is_some() {
            self.registry.refresh(self.store())?;
        }
        // Under the lock: two registrations cannot form a cycle together.
        self.registry
            .check_uses(&registered)
            .map_err(EngineError::Module)?;
        let mut buf = WriteBuf::new();
        buf.put(Key::ruleset(&registered.rid), &registered.record());
        // Tells the other nodes of a cluster to read the rulesets again.
        buf.put(
            Key::meta(crate::rulesets::CHANGED),
            &crate::ids::Eid::random().to_string(),
        );
        self.store().commit(buf).await?;
        // In the registry only once durable: a pico never runs a ruleset
        // that a crash could take back.
        self.registry.insert(registered.clone());
        Ok(registered)
    }

    /// All registered rulesets, broken ones too, sorted by rid.
    pub fn rulesets(&self) -> Vec<RulesetEntry> {
        // In a cluster, with those another node registered a moment ago.
        if self.store().postgres().is_some() {
            if let Err(e) = self.registry.refresh(self.store()) {
                tracing::warn!("reading the rulesets again: {e}");
            }
        }
        self.registry.entries()
    }

    /// One registered ruleset, ready or broken.
    pub fn ruleset_entry(&self, rid: &Rid) -> Result<RulesetEntry> {
        if let Some(e) = self.registry.entry(rid) {
            return Ok(e);
        }
        // In a cluster another node may have registered it a moment ago
        // (one registered again is read at the next tick, within 1 s).
        if self.store().postgres().is_some() {
            self.registry.refresh(self.store())?;
        }
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
    /// open channel (tagged `system`), its self channel and the family
    /// channels of the Pico Engine (docs/pico-engine.md). Answers its id
    /// and the open channel's eci.
    pub async fn new_pico(
        &self,
        parent: Option<PicoId>,
        name: Option<String>,
    ) -> Result<(PicoId, Eci)> {
        let (id, eci) = self.make_pico(parent, name)?;
        self.store().flush_ticket().wait().await?;
        Ok((id, eci))
    }

    /// [`Engine::new_pico`] without waiting for the flush: applied, not
    /// yet durable.
    fn make_pico(&self, parent: Option<PicoId>, name: Option<String>) -> Result<(PicoId, Eci)> {
        let parent = parent.unwrap_or_else(|| self.meta.root_pico.clone());
        let eci = Eci::random();
        let name = name.unwrap_or_else(|| "pico".into());
        let made = self
            .family()
            .new_child(&parent, &name, Some((eci.clone(), vec!["system".into()])))?
            .ok_or_else(|| EngineError::UnknownPico(parent.clone()))?;
        Ok((made.id, eci))
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
        if planned.is_empty() {
            return self.new_pico(parent, name).await;
        }
        // The installs' answers come once their writes are flushed, and
        // the pico's records were applied before them: that flush covers
        // both, so there is no need to wait for one here.
        let (id, eci) = self.make_pico(parent, name)?;
        for (rid, config) in planned {
            if let Err(e) = self.dispatch.handle(&id).install(rid.clone(), config).await {
                tracing::warn!(pico = %id, %rid, "new pico not made: install failed: {e}");
                if let Err(d) = self.delete_pico(&id).await {
                    tracing::error!(pico = %id, "cannot delete the half-made pico: {d}");
                }
                return Err(e.into());
            }
        }
        Ok((id, eci))
    }

    /// A pico's record, installs and channels (those usable from outside:
    /// family channels, which only the pico's parent or the pico itself may
    /// use, are not listed).
    pub fn pico(&self, id: &PicoId) -> Result<PicoInfo> {
        let rec = self.dispatch.pico_record(id)?;
        let children = self.store().children(id, &rec)?;
        let rulesets = self
            .store()
            .installs(id)?
            .into_iter()
            .map(|i| i.rid)
            .collect();
        Ok(PicoInfo {
            id: id.clone(),
            name: rec.name,
            parent: rec.parent,
            children,
            rulesets,
            channels: rec
                .channels
                .into_iter()
                .filter(
                    |eci| !matches!(self.store().channel(eci), Ok(Some(ch)) if ch.family.is_some()),
                )
                .collect(),
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
        self.dispatch.pico_record(id)?;
        // 1. Cut the subtree off: no pico record (new tasks refuse), no
        //    channel (events get 404), parent no longer lists it.
        let doomed = self.family().cut(id)?;
        // 2. Let the tasks finish what they have queued, end, and drop
        //    their state. (A crash between 1 and 2 leaves unreachable
        //    keys behind, nothing else.)
        self.reap(&doomed).await
    }

    /// Stops the tasks of picos cut off the tree and drops their state.
    pub(super) async fn reap(&self, doomed: &[PicoId]) -> Result<()> {
        for pico in doomed {
            self.dispatch.stop(pico).await;
        }
        // Nobody writes these picos' state any more: drop it.
        let mut buf = WriteBuf::new();
        for pico in doomed {
            buf.remove(Key::installs(pico));
            for prefix in Key::pico_state(pico) {
                buf.remove_prefix(self.store(), &prefix)?;
            }
        }
        self.store().commit(buf).await?;
        Ok(())
    }

    /// Installs a registered ruleset on a pico (again, if it is there:
    /// the config is replaced), then the pico gets
    /// `wrangler:ruleset_installed`.
    pub async fn install(&self, id: &PicoId, rid: Rid, config: Option<Value>) -> Result<()> {
        let config = install_config(config)?;
        self.dispatch.pico_record(id)?;
        self.ruleset(&rid)?;
        Ok(self.dispatch.handle(id).install(rid, config).await?)
    }

    /// Uninstalls a ruleset from a pico, dropping its variables there.
    pub async fn uninstall(&self, id: &PicoId, rid: Rid) -> Result<()> {
        self.dispatch.pico_record(id)?;
        Ok(self.dispatch.handle(id).uninstall(rid).await?)
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
        self.dispatch.pico_record(id)?;
        let eci = Eci::random();
        let record = ChannelRecord {
            pico: id.clone(),
            tags,
            policy,
            twilio_auth_token,
            family: None,
        };
        if !self.family().add_channel(id, &eci, &record)? {
            return Err(EngineError::UnknownPico(id.clone()));
        }
        self.store().flush_ticket().wait().await?;
        Ok(eci)
    }

    /// Renames a pico (the console).
    pub async fn rename_pico(&self, id: &PicoId, name: String) -> Result<()> {
        let _admin = self.admin.lock().await;
        let mut rec = self.dispatch.pico_record(id)?;
        rec.name = name;
        let mut buf = WriteBuf::new();
        buf.put(Key::pico(id), &rec);
        self.store().commit(buf).await?;
        Ok(())
    }

    /// Deletes a channel. The root's first channel stays.
    pub async fn delete_channel(&self, eci: &Eci) -> Result<()> {
        if eci == &self.meta.root_eci {
            return Err(EngineError::BadRequest(
                "the root pico's first channel cannot be deleted".into(),
            ));
        }
        let ch = self
            .store()
            .channel(eci)?
            .ok_or_else(|| EngineError::UnknownEci(eci.clone()))?;
        if ch.family.is_some() {
            return Err(EngineError::BadRequest(
                "a family channel cannot be deleted (delete the pico)".into(),
            ));
        }
        if !self.family().remove_channel(eci)? {
            return Err(EngineError::UnknownEci(eci.clone()));
        }
        self.store().flush_ticket().wait().await?;
        Ok(())
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
