//! Start-up wiring and shutdown: [`Engine::open`] makes the root pico on
//! first start, the context every pico task gets (store, registry,
//! limits, outbound HTTP and the integrations' handles: the Twilio
//! outbox, MQTT, the static folder, plugged in as the `effects` traits
//! they implement), the dispatch, and starts the picos that have timers
//! or call sessions; [`Engine::shutdown`] stops them.

use super::calls::Calls;
use super::{Engine, Settings};
use crate::dispatch::Dispatch;
use crate::effects::{MqttQueue, StaticUrls};
use crate::error::{EngineError, Result};
use crate::ids::{Eci, PicoId};
use crate::outbound::HttpClient;
use crate::pico::PicoContext;
use crate::rulesets::Registry;
use crate::statics::StaticFiles;
use crate::store::{EngineMeta, Key, Store, WriteBuf};
use crate::twilio::outbox::OutboxConfig;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How long shutdown waits for the picos to finish their current event.
const PICO_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

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
                crate::family::root_records(&mut buf, &meta.root_pico, &meta.root_eci);
                buf.put(Key::meta("root"), &meta);
                store.apply(buf)?;
                store.flush_now()?;
                meta
            }
        };
        let (outbox, sent) = mpsc::unbounded_channel();
        let outbox_config = Arc::new(OutboxConfig {
            account_sid: settings.twilio.account_sid.clone(),
            auth_token: settings.twilio.auth_token.clone(),
            public_url: settings.public_url.clone(),
            wake: Arc::default(),
        });
        let statics = match &settings.static_dir {
            Some(dir) => Some(Arc::new(
                StaticFiles::new(dir, &settings.public_url).map_err(|e| {
                    EngineError::BadRequest(format!("--static folder {}: {e}", dir.display()))
                })?,
            )),
            None => None,
        };
        let calls = Arc::new(Calls::default());
        let dispatch = Dispatch::new(PicoContext {
            family: Arc::new(crate::family::Family::new(store.clone())),
            calls: Some(calls.clone()),
            store,
            registry: registry.clone(),
            outbox,
            limits: settings.limits,
            mqtt: settings.mqtt.clone().map(|m| -> Arc<dyn MqttQueue> { m }),
            http: HttpClient::new(
                settings
                    .http_timeout
                    .unwrap_or(crate::outbound::DEFAULT_TIMEOUT),
            ),
            twilio: outbox_config.clone(),
            statics: statics.clone().map(|s| -> Arc<dyn StaticUrls> { s }),
            session_ttl: settings.twilio.call_session_ttl,
            idle_timeout: Some(
                settings
                    .pico_idle_timeout
                    .unwrap_or(crate::pico::DEFAULT_IDLE_TIMEOUT),
            ),
            max_live: settings
                .max_live_picos
                .unwrap_or(crate::pico::DEFAULT_MAX_LIVE),
            // Set by the dispatch.
            lifecycle: None,
            retire_pause: settings.pico_retire_pause,
        });
        dispatch.deliver_sent(sent);
        let engine = Arc::new(Engine {
            dispatch,
            registry,
            admin: tokio::sync::Mutex::new(()),
            meta,
            settings,
            outbox: outbox_config,
            statics,
            ui_eci: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        });
        calls.set_engine(&engine);
        // In a cluster, a node starts the picos of a shard when it claims
        // it (`Dispatch::start_shards`).
        if engine.store().leases().is_none() {
            engine.start_scheduled()?;
            engine.start_with_sessions()?;
        }
        Ok(engine)
    }

    /// Starts the task of every pico that has scheduled events, so that
    /// they fire (overdue ones at once) without waiting for a message to
    /// the pico. Schedules left by a pico whose delete was cut short by a
    /// crash (no pico record) are dropped with the rest of its state.
    fn start_scheduled(&self) -> Result<()> {
        let mut orphans = WriteBuf::new();
        for id in self.store().scheduled_picos()? {
            if self.store().pico(&id)?.is_some() {
                self.dispatch.handle(&id);
            } else {
                tracing::info!(pico = %id, "dropping the state of a deleted pico");
                orphans.remove(Key::installs(&id));
                for prefix in Key::pico_state(&id) {
                    orphans.remove_prefix(self.store(), &prefix)?;
                }
            }
        }
        self.store().apply(orphans)?;
        Ok(())
    }

    /// Starts the task of every pico that has call sessions, so that
    /// expired ones are swept without waiting for a message to the pico
    /// (sessions of a pico whose delete a crash cut short are dropped).
    fn start_with_sessions(&self) -> Result<()> {
        let mut orphans = WriteBuf::new();
        for id in self.store().session_picos()? {
            if self.store().pico(&id)?.is_some() {
                self.dispatch.handle(&id);
            } else {
                for prefix in Key::pico_state(&id) {
                    orphans.remove_prefix(self.store(), &prefix)?;
                }
            }
        }
        self.store().apply(orphans)?;
        Ok(())
    }

    /// Stops every pico task after its queued messages, then flushes.
    /// Call after the HTTP server has drained.
    pub async fn shutdown(&self) -> Result<()> {
        // A pico stuck in one evaluation (a pathological regex, say) must
        // not keep the process alive: what it has not committed was never
        // acknowledged, so flushing without it loses nothing.
        if tokio::time::timeout(PICO_STOP_LIMIT, self.dispatch.stop_all())
            .await
            .is_err()
        {
            tracing::warn!(
                "a pico is still busy after {PICO_STOP_LIMIT:?}; stopping without it \
                 (its event in progress is not written)"
            );
        }
        self.store().flush_now()?;
        if let Some(pg) = self.store().postgres() {
            let s = pg.stats();
            tracing::info!(
                read_statements = s.read_trips,
                commit_statements = s.commit_trips,
                commits = s.commits,
                "PostgreSQL round trips of this node"
            );
        }
        Ok(())
    }
}
