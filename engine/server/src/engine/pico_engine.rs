//! `krl serve --pico-engine DIR`: the Pico Engine's start-up on krl. DIR
//! is the Pico Engine's package folder (`packages/pico-engine` of its
//! repository, or an installed `pico-engine` 1.x package). At every
//! start, as the Pico Engine does: its system rulesets (`DIR/krl/*.krl`)
//! are registered from their file URLs and installed on the root pico
//! without events; the root gets its `engine,ui` channel (admitting only
//! `engine_ui:setup` until that rule opens it further); `engine_ui:setup`
//! runs and is waited for; `engine:started` is sent, not waited for. The
//! HTTP side (its UI at `/`, `GET /api/ui-context`) is in `http`.

use super::Engine;
use crate::clock::now_ms;
use crate::error::{EngineError, Result};
use crate::ids::{Eci, Eid};
use crate::pico::EventIn;
use serde_json::{json, Map};
use std::path::Path;
use std::sync::Arc;

/// The Pico Engine installs these first, in this order.
const SYSTEM: [&str; 5] = [
    "io.picolabs.pico-engine-ui.krl",
    "io.picolabs.wrangler.krl",
    "io.picolabs.subscription.krl",
    "io.picolabs.did-o.krl",
    "io.picolabs.pds.krl",
];

impl Engine {
    /// Boots the Pico Engine's system rulesets from `dir` (see the module
    /// doc); answers the root's `engine,ui` channel.
    pub async fn boot_pico_engine(self: &Arc<Self>, dir: &Path) -> Result<Eci> {
        let krl = dir.join("krl");
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        for name in SYSTEM {
            files.push(krl.join(name));
        }
        let mut others: Vec<std::path::PathBuf> = std::fs::read_dir(&krl)
            .map_err(|e| EngineError::BadRequest(format!("--pico-engine {}: {e}", krl.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "krl"))
            .filter(|p| {
                !SYSTEM
                    .iter()
                    .any(|s| p.file_name().is_some_and(|f| f == *s))
            })
            .collect();
        others.sort();
        files.extend(others);
        let root = self.meta().root_pico.clone();
        for file in files {
            let path = std::fs::canonicalize(&file).map_err(|e| {
                EngineError::BadRequest(format!("--pico-engine: {}: {e}", file.display()))
            })?;
            let url = format!("file://{}", path.display());
            let registered = self.register_url(&url).await?;
            self.dispatch()
                .handle(&root)
                .install_quietly(registered.rid.clone(), json!({}), Some(url))
                .await?;
        }
        let ui = self.ui_channel()?;
        let setup = EventIn {
            eci: ui.clone(),
            eid: Eid::random(),
            domain: "engine_ui".into(),
            name: "setup".into(),
            attrs: Map::new(),
            time_ms: now_ms(),
        };
        self.event(setup).await?;
        let engine = self.clone();
        let started = EventIn {
            eci: ui.clone(),
            eid: Eid::random(),
            domain: "engine".into(),
            name: "started".into(),
            attrs: Map::new(),
            time_ms: now_ms(),
        };
        tokio::spawn(async move {
            if let Err(e) = engine.event(started).await {
                // The Pico Engine's own rulesets fail here on a fresh root
                // (a query of the root's parent, which it has none of).
                tracing::warn!("engine:started failed: {e}");
            }
        });
        Ok(ui)
    }

    /// The root's channel tagged `engine,ui`, made when missing.
    fn ui_channel(&self) -> Result<Eci> {
        let root = self.meta().root_pico.clone();
        let rec = self.dispatch().pico_record(&root)?;
        for eci in &rec.channels {
            if let Some(ch) = self.store().channel(eci)? {
                let mut tags = ch.tags.clone();
                tags.sort();
                if tags == ["engine", "ui"] {
                    return Ok(eci.clone());
                }
            }
        }
        let eci = Eci::random();
        let policy = json!({"events": {"allow": [{"domain": "engine_ui", "name": "setup"}]}});
        let record = crate::store::ChannelRecord {
            pico: root.clone(),
            tags: vec!["engine".into(), "ui".into()],
            policy: Some(policy),
            twilio_auth_token: None,
            family: None,
        };
        if !self.family().add_channel(&root, &eci, &record)? {
            return Err(EngineError::UnknownPico(root));
        }
        Ok(eci)
    }
}
