//! The engine's side of a pico's `ctx:` calls ([`PicoCalls`]): queries
//! and events to other picos made as the calling pico, new children with
//! their rulesets, rulesets by URL, dropping deleted picos, events for
//! other engines.
//!
//! # No deadlock between picos
//!
//! A pico's rules are synchronous: while a rule waits for `ctx:query`, its
//! pico answers nothing else. A call back into a pico that is waiting
//! (A → B → A, directly or round a longer loop, or two picos calling each
//! other at the same moment) would wait for ever (the Pico Engine hangs
//! there). Every call records "A waits for B" in one small table; a call
//! whose target already waits, directly or through others, for the
//! caller is refused at once with an error naming the loop. A call that
//! gets no answer within [`CALL_LIMIT`] ends with an error too.

use super::Engine;
use crate::clock::now_ms;
use crate::effects::{CallFuture, PicoCalls, Remote, Sent};
use crate::error::EngineError;
use crate::family::NewChild;
use crate::ids::{Eci, Eid, PicoId, Rid};
use crate::pico::EventIn;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// How long a call to another pico may take.
pub const CALL_LIMIT: Duration = Duration::from_secs(30);

/// See the module doc.
#[derive(Default)]
pub struct Calls {
    engine: OnceLock<Weak<Engine>>,
    /// Who waits for whom.
    waits: Mutex<HashMap<PicoId, PicoId>>,
}

/// Removes a wait when the call ends, whatever its outcome.
struct Waiting<'a> {
    calls: &'a Calls,
    from: PicoId,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.calls.table().remove(&self.from);
    }
}

/// An engine error in the Pico Engine's words, as a rule sees it.
fn text(e: EngineError) -> String {
    match e {
        EngineError::UnknownEci(eci) => format!("ECI not found {eci}"),
        EngineError::Denied(_) => "Not allowed by channel policy".into(),
        EngineError::FamilyChannel(_) => {
            "This is a family channel and only the owner can use it.".into()
        }
        other => other.to_string(),
    }
}

impl Calls {
    /// Called once the engine exists.
    pub fn set_engine(&self, engine: &Arc<Engine>) {
        let _ = self.engine.set(Arc::downgrade(engine));
    }

    fn engine(&self) -> Result<Arc<Engine>, String> {
        self.engine
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| "the engine is shutting down".to_string())
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<PicoId, PicoId>> {
        self.waits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `from` waits for `to`, unless `to` waits (through
    /// others) for `from`.
    fn wait_for(&self, from: &PicoId, to: &PicoId) -> Result<Waiting<'_>, String> {
        let mut table = self.table();
        let mut path = vec![from.to_string(), to.to_string()];
        let mut at = to.clone();
        loop {
            if &at == from {
                return Err(format!(
                    "a call between picos would wait for ever: {} (a pico cannot answer while it waits)",
                    path.join(" → ")
                ));
            }
            match table.get(&at) {
                Some(next) => {
                    at = next.clone();
                    path.push(at.to_string());
                }
                None => break,
            }
        }
        table.insert(from.clone(), to.clone());
        Ok(Waiting {
            calls: self,
            from: from.clone(),
        })
    }

    async fn limited<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, EngineError>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(CALL_LIMIT, fut).await {
            Ok(r) => r.map_err(text),
            Err(_) => Err(format!(
                "{what}: no answer within {} s",
                CALL_LIMIT.as_secs()
            )),
        }
    }

    async fn load_rid(&self, engine: &Engine, url: &str, flush: bool) -> Result<String, String> {
        if let Some(rid) = url.strip_prefix("krl:") {
            // a ruleset registered from source (`ctx:rid_url` of one)
            return engine
                .ruleset(&Rid::new(rid))
                .map(|r| r.rid.to_string())
                .map_err(text);
        }
        if !flush {
            if let Some(r) = engine.registry.by_url(url) {
                return Ok(r.rid.to_string());
            }
        }
        engine
            .register_url(url)
            .await
            .map(|r| r.rid.to_string())
            .map_err(|e| match e {
                EngineError::Source(s) => format!("{url}:{}:{}: {}", s.line, s.col, s.message),
                other => text(other),
            })
    }
}

impl Calls {
    /// `ctx:query`, and `ctx:eventQuery` with its `event` first: the
    /// channel checked as `from`, the wait recorded, each step limited.
    async fn call(
        &self,
        from: PicoId,
        eci: String,
        event: Option<Sent>,
        rid: String,
        name: String,
        args: Map<String, Value>,
    ) -> Result<Value, String> {
        let engine = self.engine()?;
        let eci = Eci::new(eci);
        let rid = Rid::new(rid);
        let target = engine
            .dispatch()
            .query_pico(Some(&from), &eci, &rid, &name)
            .map_err(text)?;
        let _waiting = self.wait_for(&from, &target)?;
        // Another node's pico (a cluster): the call goes there whole.
        if let Some(remote) = engine.dispatch().remote_for(&target) {
            let call = crate::dispatch::RemoteCall {
                from: from.clone(),
                to: target.clone(),
                eci: eci.clone(),
                event: event.map(|e| (e.domain, e.name, e.attrs)),
                rid,
                name: name.clone(),
                args,
            };
            return self
                .limited(&format!("ctx:query {}", call.rid), remote.call(call))
                .await;
        }
        let kind = if event.is_some() {
            "ctx:eventQuery"
        } else {
            "ctx:query"
        };
        if let Some(event) = event {
            let ev = EventIn {
                eci: eci.clone(),
                eid: Eid::random(),
                domain: event.domain,
                name: event.name,
                attrs: event.attrs,
                time_ms: now_ms(),
            };
            let what = format!("{kind} {}:{}", ev.domain, ev.name);
            self.limited(&what, engine.dispatch().event_as(Some(&from), ev))
                .await?;
        }
        // The channel admitted the query above: straight to the pico.
        let what = format!("{kind} {rid}/{name}");
        let pico = engine.dispatch().handle(&target);
        self.limited(&what, async {
            pico.query(rid, name, args).await.map_err(EngineError::from)
        })
        .await
    }
}

impl PicoCalls for Calls {
    fn query(
        &self,
        from: PicoId,
        eci: String,
        rid: String,
        name: String,
        args: Map<String, Value>,
    ) -> CallFuture<'_, Value> {
        Box::pin(self.call(from, eci, None, rid, name, args))
    }

    fn event_query(
        &self,
        from: PicoId,
        event: Sent,
        rid: String,
        name: String,
        args: Map<String, Value>,
    ) -> CallFuture<'_, Value> {
        let eci = event.eci.clone();
        Box::pin(self.call(from, eci, Some(event), rid, name, args))
    }

    fn new_pico(&self, parent: PicoId, rulesets: Vec<(String, Value)>) -> CallFuture<'_, NewChild> {
        Box::pin(async move {
            let engine = self.engine()?;
            // The rulesets first: a URL that does not load makes no pico.
            let mut planned = Vec::new();
            for (url, config) in rulesets {
                let rid = self.load_rid(&engine, &url, false).await?;
                planned.push((Rid::new(rid), url, config));
            }
            let made = engine
                .family()
                .new_child(&parent, "pico", None)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("Pico not found: {parent}"))?;
            engine
                .store()
                .flush_ticket()
                .wait()
                .await
                .map_err(|e| e.to_string())?;
            let child = engine.dispatch().handle(&made.id);
            for (rid, url, config) in planned {
                // As in the Pico Engine, a failed install is logged and the
                // child stays.
                if let Err(e) = child.install_quietly(rid.clone(), config, Some(url)).await {
                    tracing::warn!(pico = %made.id, %rid, "ctx:newPico: install failed: {e}");
                }
            }
            Ok(made)
        })
    }

    fn load(&self, url: String, flush: bool) -> CallFuture<'_, String> {
        Box::pin(async move {
            let engine = self.engine()?;
            self.load_rid(&engine, &url, flush).await
        })
    }

    fn reap(&self, picos: Vec<PicoId>) {
        let Ok(engine) = self.engine() else { return };
        tokio::spawn(async move {
            if let Err(e) = engine.reap(&picos).await {
                tracing::error!("cannot drop the state of deleted picos: {e}");
            }
        });
    }

    fn send_remote(&self, events: Vec<Remote>) {
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for r in events {
                let url = format!(
                    "{}/c/{}/event/{}/{}",
                    r.host,
                    urlencode(&r.event.eci),
                    urlencode(&r.event.domain),
                    urlencode(&r.event.name)
                );
                let sent = client
                    .post(&url)
                    .timeout(CALL_LIMIT)
                    .json(&Value::Object(r.event.attrs))
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => tracing::warn!("event to {url}: HTTP {}", resp.status()),
                    Err(e) => tracing::warn!("event to {url}: {e}"),
                }
            }
        });
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The KRL source at `url`: a `file://` path, or an `http(s)://` URL
/// (fetched with a time limit; a status other than 2xx is an error).
pub async fn fetch(url: &str) -> Result<String, String> {
    if let Some(path) = url.strip_prefix("file://") {
        let path = path.to_string();
        return tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot read {url}: {e}"));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let resp = reqwest::Client::new()
            .get(url)
            .timeout(CALL_LIMIT)
            .send()
            .await
            .map_err(|e| format!("cannot fetch {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("cannot fetch {url}: HTTP {}", resp.status()));
        }
        return resp
            .text()
            .await
            .map_err(|e| format!("cannot fetch {url}: {e}"));
    }
    Err(format!(
        "cannot load a ruleset from {url:?}: a URL is file://, http:// or https://"
    ))
}
