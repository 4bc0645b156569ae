//! The engine's side of `ctx:` on one pico ([`CtxHost`] for
//! [`PicoHost`]): the pico's channels, family and installed rulesets read
//! from the store (through the event's write buffer, with the changes
//! this event asked for), structural changes kept for the commit, and the
//! calls that need other picos or the registry handed to
//! [`PicoCalls`](crate::effects::PicoCalls) and waited for.
//!
//! Channel changes and deletes (`ctx:newChannel`, `putChannel`,
//! `delChannel`, `delPico`) are made when the event commits, in the same
//! batch as its writes: a failed event makes none of them. A new child
//! (`ctx:newPico`) exists at once, because the same event may call it
//! (`ctx:eventQuery`); if the event then fails, the pico drops it again.

use super::{json_map, storage, PicoHost};
use crate::channel;
use crate::effects::{CallFuture, Remote, Sent};
use crate::family::Change;
use crate::ids::{Eci, PicoId};
use crate::store::{ChannelRecord, InstallRecord, Key, PicoRecord};
use krl_lang::engine::CtxHost;
use krl_lang::runtime::{Map as KrlMap, RuntimeError, Value as KrlValue};
use serde_json::{json, Value};

/// The pico's recent log (`ctx:logs()`, the Pico Engine UI's Logging
/// tab): its last [`PicoLog::KEEP`] entries, in memory while the pico's
/// task runs, shown in the Pico Engine's shape (`{time, level, msg, txnId,
/// ...}`: `txnQueued` with the event or query, `rule selected` with `rid`
/// and `rule_name`, `klog` lines with `val`, `log` lines, `txnDone`,
/// errors). Entries are kept compact and shaped only when read: the event
/// path pays a lock and a push. Shared by the pico's task and the hosts of
/// its evaluations.
#[derive(Default)]
pub struct PicoLog(std::sync::Mutex<std::collections::VecDeque<LogEntry>>);

/// One entry of a [`PicoLog`].
pub struct LogEntry {
    time_ms: f64,
    txn: std::sync::Arc<str>,
    level: &'static str,
    msg: std::borrow::Cow<'static, str>,
    fields: LogFields,
}

/// What an entry says besides its message.
pub enum LogFields {
    /// Nothing more.
    None,
    /// `txnQueued` of an event.
    Event(std::sync::Arc<krl_lang::engine::Event>),
    /// `txnQueued` of a query: eci (none here), rid, name.
    Query(String, String),
    /// The ruleset and rule (`rule selected`, `fired`, `not fired`).
    Rule(std::sync::Arc<str>, std::sync::Arc<str>),
    /// The ruleset (a `klog` or `log` line: `val` is the message).
    Ruleset(String),
    /// An event raised (`event added to schedule`): domain and name.
    Raised(String, String),
}

impl PicoLog {
    /// Entries kept per pico.
    pub const KEEP: usize = 200;

    /// An entry of evaluation `txn` at `time_ms`, to add with
    /// [`PicoLog::append`].
    pub fn entry(
        time_ms: f64,
        txn: &std::sync::Arc<str>,
        level: &'static str,
        msg: impl Into<std::borrow::Cow<'static, str>>,
        fields: LogFields,
    ) -> LogEntry {
        LogEntry {
            time_ms,
            txn: txn.clone(),
            level,
            msg: msg.into(),
            fields,
        }
    }

    /// Adds the entries of one evaluation (one lock for all of them).
    pub fn append(&self, entries: &mut Vec<LogEntry>) {
        if entries.is_empty() {
            return;
        }
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries.drain(..) {
            if log.len() == Self::KEEP {
                log.pop_front();
            }
            log.push_back(e);
        }
    }

    /// The entries, oldest first, in the Pico Engine's shape.
    pub fn entries(&self) -> Vec<Value> {
        let log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().map(LogEntry::to_json).collect()
    }
}

impl LogEntry {
    fn to_json(&self) -> Value {
        let mut e = json!({
            "time": krl_lang::runtime::time::format_iso(self.time_ms),
            "level": self.level,
            "msg": self.msg,
            "txnId": &*self.txn,
        });
        let Value::Object(m) = &mut e else {
            return e;
        };
        match &self.fields {
            LogFields::None => {}
            LogFields::Event(ev) => {
                m.insert(
                    "txn".into(),
                    json!({"kind": "event", "event": {
                        "eci": ev.eci, "domain": ev.domain, "name": ev.name,
                        "data": {"attrs": krl_lang::runtime::Value::from(ev.attrs.clone()).to_json()},
                    }}),
                );
            }
            LogFields::Query(rid, name) => {
                m.insert(
                    "txn".into(),
                    json!({"kind": "query", "query": {"rid": rid, "name": name, "args": {}}}),
                );
            }
            LogFields::Rule(rid, rule) => {
                m.insert("rid".into(), json!(&**rid));
                m.insert("rule_name".into(), json!(&**rule));
            }
            LogFields::Raised(domain, name) => {
                m.insert("event".into(), json!({"domain": domain, "name": name}));
            }
            LogFields::Ruleset(rid) => {
                m.insert("rid".into(), json!(rid));
                m.insert("val".into(), json!(self.msg));
            }
        }
        e
    }
}

/// What `ctx:` did in one evaluation, for the pico to finish after it.
#[derive(Default)]
pub struct CtxEffects {
    /// Structural changes, made with the event's writes.
    pub changes: Vec<Change>,
    /// Children made (to drop again if the event fails).
    pub made: Vec<PicoId>,
    /// Events for other engines, sent after the commit.
    pub remote: Vec<Remote>,
}

/// Waits for a call to another pico. The pico's task blocks (its
/// evaluation is synchronous); tokio moves its other tasks to another
/// worker meanwhile.
fn wait<T>(fut: CallFuture<'_, T>) -> Result<T, RuntimeError> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(fut)).map_err(RuntimeError::new)
        }
        _ => Err(RuntimeError::new(
            "calls to other picos need the engine's multi-threaded runtime",
        )),
    }
}

fn err(message: impl Into<String>) -> RuntimeError {
    RuntimeError::new(message.into())
}

impl PicoHost {
    fn calls(
        &self,
        what: &str,
    ) -> Result<std::sync::Arc<dyn crate::effects::PicoCalls>, RuntimeError> {
        self.calls
            .clone()
            .ok_or_else(|| err(format!("not supported here: ctx:{what}")))
    }

    fn record(&self) -> Result<PicoRecord, RuntimeError> {
        self.buf
            .get::<PicoRecord>(&self.store, &Key::pico(&self.pico))
            .map_err(storage)?
            .ok_or_else(|| err(format!("Pico not found: {}", self.pico)))
    }

    /// The pico's channels as of now in this event: the stored ones with
    /// this event's changes.
    fn channel_records(&self) -> Result<Vec<(Eci, ChannelRecord)>, RuntimeError> {
        let mut out = Vec::new();
        // Its own channels, then its children's family channels on it
        // (kept with the children's `H` keys, not in its record).
        let mut ecis = self.record()?.channels;
        ecis.extend(
            self.buf
                .child_keys(&self.store, &self.pico)
                .map_err(storage)?
                .into_iter()
                .filter_map(|(_, pe)| pe),
        );
        for eci in ecis {
            if let Some(ch) = self
                .buf
                .get::<ChannelRecord>(&self.store, &Key::channel(&eci))
                .map_err(storage)?
            {
                out.push((eci, ch));
            }
        }
        for c in &self.ctx.changes {
            match c {
                Change::NewChannel { eci, record, .. } => out.push((eci.clone(), record.clone())),
                Change::PutChannel { eci, record } => {
                    if let Some(slot) = out.iter_mut().find(|(e, _)| e == eci) {
                        slot.1 = record.clone();
                    }
                }
                Change::DelChannel { eci, .. } => out.retain(|(e, _)| e != eci),
                Change::DelPico { .. } => {}
            }
        }
        Ok(out)
    }

    /// The pico's installs as of now in this event.
    fn installs(&self) -> Result<Vec<InstallRecord>, RuntimeError> {
        Ok(self
            .buf
            .get(&self.store, &Key::installs(&self.pico))
            .map_err(storage)?
            .unwrap_or_default())
    }

    fn own_channel(&self, eci: &str) -> Result<ChannelRecord, RuntimeError> {
        self.channel_records()?
            .into_iter()
            .find(|(e, _)| e.as_str() == eci)
            .map(|(_, c)| c)
            .ok_or_else(|| err(format!("ECI not found {eci}")))
    }

    /// The children with their family channels, without those this event
    /// deletes.
    fn child_ecis(&self) -> Result<Vec<(PicoId, Eci)>, RuntimeError> {
        let mut out = Vec::new();
        let rec = self.record()?;
        let children = self
            .buf
            .children(&self.store, &self.pico, &rec)
            .map_err(storage)?;
        for child in children {
            if self
                .ctx
                .changes
                .iter()
                .any(|c| matches!(c, Change::DelPico { child: d } if d == &child))
            {
                continue;
            }
            if let Some(rec) = self
                .buf
                .get::<PicoRecord>(&self.store, &Key::pico(&child))
                .map_err(storage)?
            {
                if let Some(eci) = rec.child_eci {
                    out.push((child, eci));
                }
            }
        }
        Ok(out)
    }

    fn policy(
        event_policy: &KrlValue,
        query_policy: &KrlValue,
    ) -> Result<Option<Value>, RuntimeError> {
        let p = channel::policy_from_pico_engine(&event_policy.to_json(), &query_policy.to_json())
            .map_err(RuntimeError::type_error)?;
        Ok(channel::stored_policy(&p))
    }

    fn channel_value(eci: &Eci, ch: &ChannelRecord) -> KrlValue {
        KrlValue::from_json(&channel::to_json(eci, ch))
    }
}

impl CtxHost for PicoHost {
    fn channels(&mut self) -> Result<KrlValue, RuntimeError> {
        let mut list = self.channel_records()?;
        list.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Ok(KrlValue::from_json(&Value::Array(
            list.iter().map(|(e, c)| channel::to_json(e, c)).collect(),
        )))
    }

    fn parent(&mut self) -> Result<KrlValue, RuntimeError> {
        Ok(self
            .record()?
            .parent_eci
            .map_or(KrlValue::Null, |e| KrlValue::from(e.as_str())))
    }

    fn children(&mut self) -> Result<KrlValue, RuntimeError> {
        Ok(KrlValue::from_json(&json!(self
            .child_ecis()?
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>())))
    }

    fn rulesets(&mut self) -> Result<KrlValue, RuntimeError> {
        let installs = self.installs()?;
        let mut out = Vec::new();
        for i in installs {
            let rec = self.store.ruleset(&i.rid).map_err(storage)?;
            let url = i
                .url
                .clone()
                .or_else(|| rec.as_ref().and_then(|r| r.url.clone()))
                .unwrap_or_else(|| source_url(i.rid.as_str()));
            let meta = rec.map_or(Value::Null, |r| {
                json!({
                    "krl": r.source,
                    "hash": r.hash,
                    "flushed": krl_lang::runtime::time::iso(r.registered_ms as i64),
                    "url": url,
                    "krlMeta": {"version": r.version},
                    "compiler": {"version": concat!("krl ", env!("CARGO_PKG_VERSION")), "warnings": r.warnings},
                })
            });
            out.push(json!({"rid": i.rid, "url": url, "config": i.config, "meta": meta}));
        }
        Ok(KrlValue::from_json(&Value::Array(out)))
    }

    fn rid_url(&mut self, rid: &str) -> Result<KrlValue, RuntimeError> {
        let installs = self.installs()?;
        let url = match installs
            .into_iter()
            .find(|i| i.rid.as_str() == rid)
            .and_then(|i| i.url)
        {
            Some(u) => u,
            None => self
                .store
                .ruleset(&crate::ids::Rid::new(rid))
                .map_err(storage)?
                .and_then(|r| r.url)
                .unwrap_or_else(|| source_url(rid)),
        };
        Ok(KrlValue::from(url.as_str()))
    }

    fn new_channel(
        &mut self,
        tags: &KrlValue,
        event_policy: &KrlValue,
        query_policy: &KrlValue,
    ) -> Result<KrlValue, RuntimeError> {
        let tags = match tags {
            KrlValue::Null => Vec::new(),
            t => channel::clean_tags(&t.to_json()).map_err(RuntimeError::type_error)?,
        };
        let record = ChannelRecord {
            pico: self.pico.clone(),
            tags,
            policy: Self::policy(event_policy, query_policy)?,
            twilio_auth_token: None,
            family: None,
        };
        let eci = Eci::random();
        let value = Self::channel_value(&eci, &record);
        self.ctx.changes.push(Change::NewChannel {
            pico: self.pico.clone(),
            eci,
            record,
        });
        Ok(value)
    }

    fn put_channel(
        &mut self,
        eci: &str,
        tags: &KrlValue,
        event_policy: &KrlValue,
        query_policy: &KrlValue,
    ) -> Result<KrlValue, RuntimeError> {
        let mut record = self.own_channel(eci)?;
        let eci = Eci::new(eci);
        if record.family.as_ref() == Some(&self.pico) && eci.as_str() == self.pico.as_str() {
            return Err(err("Cannot edit the self channel."));
        }
        if record.family.is_some() {
            // family channels do not change (the Pico Engine ignores it)
            return Ok(Self::channel_value(&eci, &record));
        }
        if !tags.is_null() {
            record.tags = channel::clean_tags(&tags.to_json()).map_err(RuntimeError::type_error)?;
        }
        if !event_policy.is_null() || !query_policy.is_null() {
            let old = record
                .policy
                .as_ref()
                .and_then(|p| crate::policy::Policy::from_json(p).ok());
            let (old_ev, old_q) = channel::policy_to_pico_engine(old.as_ref());
            let ev = if event_policy.is_null() {
                KrlValue::from_json(&old_ev)
            } else {
                event_policy.clone()
            };
            let q = if query_policy.is_null() {
                KrlValue::from_json(&old_q)
            } else {
                query_policy.clone()
            };
            record.policy = Self::policy(&ev, &q)?;
        }
        let value = Self::channel_value(&eci, &record);
        self.ctx.changes.push(Change::PutChannel { eci, record });
        Ok(value)
    }

    fn upsert_channel(
        &mut self,
        tags: &KrlValue,
        event_policy: &KrlValue,
        query_policy: &KrlValue,
    ) -> Result<KrlValue, RuntimeError> {
        let mut wanted = channel::clean_tags(&tags.to_json()).map_err(RuntimeError::type_error)?;
        wanted.sort();
        let found = self.channel_records()?.into_iter().find(|(_, c)| {
            let mut t = c.tags.clone();
            t.sort();
            t == wanted
        });
        let tags = KrlValue::from_json(&json!(wanted));
        match found {
            Some((eci, _)) => self.put_channel(eci.as_str(), &tags, event_policy, query_policy),
            None => self.new_channel(&tags, event_policy, query_policy),
        }
    }

    fn del_channel(&mut self, eci: &str) -> Result<(), RuntimeError> {
        let record = self.own_channel(eci)?;
        if record.family.is_some() {
            return Err(err("Cannot delete family channels."));
        }
        self.ctx.changes.push(Change::DelChannel {
            pico: self.pico.clone(),
            eci: Eci::new(eci),
        });
        Ok(())
    }

    fn new_pico(&mut self, rulesets: &KrlValue) -> Result<KrlValue, RuntimeError> {
        let shape = || RuntimeError::type_error("ctx:newPico expects an array of {url, config}");
        let mut list = Vec::new();
        if let KrlValue::Array(items) = rulesets {
            for rs in items.iter() {
                let KrlValue::Map(m) = rs else {
                    return Err(shape());
                };
                let Some(KrlValue::Str(url)) = m.get("url") else {
                    return Err(shape());
                };
                let config = match m.get("config") {
                    None | Some(KrlValue::Null) => json!({}),
                    Some(c) => c.to_json(),
                };
                list.push((url.to_string(), config));
            }
        }
        let calls = self.calls("newPico")?;
        let child = wait(calls.new_pico(self.pico.clone(), list))?;
        self.ctx.made.push(child.id.clone());
        Ok(KrlValue::from(child.child_eci.as_str()))
    }

    fn del_pico(&mut self, eci: &str) -> Result<(), RuntimeError> {
        let Some((child, _)) = self
            .child_ecis()?
            .into_iter()
            .find(|(_, e)| e.as_str() == eci)
        else {
            return Err(err(format!("delPico({eci}) - not found in children ECIs")));
        };
        self.ctx.changes.push(Change::DelPico { child });
        Ok(())
    }

    fn query(
        &mut self,
        eci: &str,
        rid: &str,
        name: &str,
        args: &KrlMap,
    ) -> Result<KrlValue, RuntimeError> {
        let calls = self.calls("query")?;
        let v = wait(calls.query(
            self.pico.clone(),
            eci.to_string(),
            rid.to_string(),
            name.to_string(),
            json_map(args),
        ))?;
        Ok(KrlValue::from_json(&v))
    }

    fn event_query(
        &mut self,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: &KrlMap,
        rid: &str,
        query_name: &str,
        args: &KrlMap,
    ) -> Result<KrlValue, RuntimeError> {
        let calls = self.calls("eventQuery")?;
        let event = Sent {
            eci: eci.to_string(),
            domain: domain.to_string(),
            name: name.to_string(),
            attrs: json_map(attrs),
        };
        let v = wait(calls.event_query(
            self.pico.clone(),
            event,
            rid.to_string(),
            query_name.to_string(),
            json_map(args),
        ))?;
        Ok(KrlValue::from_json(&v))
    }

    fn send_remote(
        &mut self,
        host: &str,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: KrlMap,
    ) -> Result<(), RuntimeError> {
        if !(host.starts_with("http://") || host.starts_with("https://")) {
            return Err(RuntimeError::type_error(format!(
                "host must be an http:// or https:// URL, not {host:?}"
            )));
        }
        self.ctx.remote.push(Remote {
            host: host.trim_end_matches('/').to_string(),
            event: Sent {
                eci: eci.to_string(),
                domain: domain.to_string(),
                name: name.to_string(),
                attrs: json_map(&attrs),
            },
        });
        Ok(())
    }

    fn flush(&mut self, url: &str) -> Result<String, RuntimeError> {
        let calls = self.calls("flush")?;
        wait(calls.load(url.to_string(), true))
    }

    fn load(&mut self, url: &str) -> Result<String, RuntimeError> {
        let calls = self.calls("install")?;
        wait(calls.load(url.to_string(), false))
    }

    fn logs(&mut self) -> Result<KrlValue, RuntimeError> {
        Ok(match &self.log {
            Some((log, _)) => KrlValue::from_json(&Value::Array(log.entries())),
            None => KrlValue::from_json(&json!([])),
        })
    }
}

/// The URL of a ruleset registered from source (not from a URL): `krl:`
/// and its rid, which `ctx:install` and `ctx:newPico` also accept.
pub fn source_url(rid: &str) -> String {
    format!("krl:{rid}")
}
