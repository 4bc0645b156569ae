//! The engine facade: the state every route shares (the dispatch of
//! pico tasks, the registered rulesets, the root pico, the settings and
//! the integrations' handles) and, behind it, the operations of the admin
//! API and the Sky routes, independent of HTTP. Uses: `dispatch`, `pico`,
//! `store`, `rulesets`, `policy`, `error`, `ids`, `clock`; and, to wire
//! them at start-up, `outbound`, `twilio::outbox`, `statics`, `mqtt`
//! (plugged into the picos' context as the `effects` traits they
//! implement).
//!
//! * this file: the shared state ([`Engine`], [`Settings`]) and accessors;
//! * `open`: start-up wiring ([`Engine::open`]) and [`Engine::shutdown`];
//! * `ops`: the operations behind the routes (events, queries, rulesets,
//!   picos, installs, channels).
//!
//! The pico registry and the generic event path (channel, policy,
//! mailbox) are the `dispatch` layer's; the integrations' routes and
//! tasks are in their own folders (`twilio`, `mqtt`, `statics`).
//!
//! # Locks
//!
//! The event and query path takes no global lock (see `dispatch`).
//! Operations that change the pico tree (new/delete pico, new/delete
//! channel), from the admin routes or from rules (`ctx:`), write through
//! `family::Family`, which holds one short lock across each
//! read-modify-write of pico records. Registering holds `admin`, an
//! async mutex, so that two registrations cannot form a module cycle
//! together. Installs need neither: a pico's installs are written only
//! by its own task.

pub mod calls;
mod open;
mod ops;
mod pico_engine;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_scale;

use crate::dispatch::Dispatch;
use crate::ids::{Eci, PicoId, Rid};
use crate::mqtt::Mqtt;
use crate::rulesets::Registry;
use crate::statics::StaticFiles;
use crate::store::{EngineMeta, Store};
use crate::twilio::outbox::OutboxConfig;
use krl_lang::engine::Limits;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// The engine's version, reported by `GET /api/engine`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

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
    pub mqtt: Option<Arc<Mqtt>>,
    /// Folder served under `/static/`.
    pub static_dir: Option<PathBuf>,
    /// `--pico-engine DIR`: the Pico Engine's package folder (its system
    /// rulesets, its UI at `/`).
    pub pico_engine: Option<PathBuf>,
    /// How long a pico task waits with nothing to do before it leaves
    /// memory (`--pico-idle-timeout`; `crate::pico::PicoContext::idle_timeout`);
    /// `None`: [`crate::pico::DEFAULT_IDLE_TIMEOUT`].
    pub pico_idle_timeout: Option<std::time::Duration>,
    /// How many pico tasks may stay in memory before idle ones leave
    /// sooner (`--max-live-picos`; `crate::pico::PicoContext::max_live`);
    /// `None`: [`crate::pico::DEFAULT_MAX_LIVE`].
    pub max_live_picos: Option<usize>,
    /// A testing aid (no flag): see `crate::pico::PicoContext::retire_pause`.
    pub pico_retire_pause: Option<std::time::Duration>,
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
    /// The pico tasks and the way to them.
    dispatch: Dispatch,
    registry: Arc<Registry>,
    admin: tokio::sync::Mutex<()>,
    meta: EngineMeta,
    settings: Settings,
    /// The Twilio outbox's settings and wake-up (also in every pico's
    /// context).
    outbox: Arc<OutboxConfig>,
    /// The static folder (`--static`), if any.
    statics: Option<Arc<StaticFiles>>,
    /// `--pico-engine`: the root's `engine,ui` channel, once booted.
    ui_eci: std::sync::OnceLock<Eci>,
    /// The cluster node, when the store is PostgreSQL (`cluster`).
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

impl Engine {
    /// Root pico and eci.
    pub fn meta(&self) -> &EngineMeta {
        &self.meta
    }

    /// The command-line settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The dispatch of pico tasks, for the integrations.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// The static folder (`--static`), if any.
    pub fn statics(&self) -> Option<&Arc<StaticFiles>> {
        self.statics.as_ref()
    }

    /// The MQTT side, unless it is off (`--no-mqtt`).
    pub fn mqtt(&self) -> Option<&Arc<Mqtt>> {
        self.settings.mqtt.as_ref()
    }

    /// The Twilio outbox's settings and wake-up (`twilio::outbox`).
    pub fn outbox_config(&self) -> &Arc<OutboxConfig> {
        &self.outbox
    }

    /// `--pico-engine`: the root's `engine,ui` channel (`/api/ui-context`).
    pub fn ui_eci(&self) -> Option<&Eci> {
        self.ui_eci.get()
    }

    /// Records the `engine,ui` channel booted by `--pico-engine`.
    pub fn set_ui_eci(&self, eci: Eci) {
        let _ = self.ui_eci.set(eci);
    }

    /// The cluster node, if this engine is one (`--store postgres://`).
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// Makes this engine a node of `cluster` and starts its lease loop;
    /// `admin_token`, which the nodes share, for their calls to each other.
    pub fn join(self: &Arc<Self>, cluster: Arc<crate::cluster::Cluster>, admin_token: &str) {
        if self.cluster.set(cluster.clone()).is_ok() {
            self.dispatch
                .set_remote(Arc::new(crate::cluster::remote::Nodes {
                    cluster: cluster.clone(),
                    token: admin_token.to_string(),
                }));
            tokio::spawn(cluster.run(self.dispatch.downgrade(), self.registry.clone()));
        }
    }

    /// The registered rulesets.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The pico tree's writer.
    pub fn family(&self) -> &crate::family::Family {
        self.dispatch.family()
    }

    /// The store (for start-up and shutdown).
    pub fn store(&self) -> &Store {
        self.dispatch.store()
    }

    /// How many pico tasks are in memory now (idle picos leave, see
    /// [`Settings::pico_idle_timeout`]).
    pub fn live_picos(&self) -> usize {
        self.dispatch.live_picos()
    }
}
