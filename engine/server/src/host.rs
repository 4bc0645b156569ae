//! What the evaluator sees of the world while a pico handles one event or
//! query: [`PicoHost`], the engine's implementation of
//! `krl_lang::engine::Host`. Uses: `store`, `ids`, `clock`, `outbound`,
//! `effects` (the integrations, as trait objects), krl_lang, rand,
//! tracing.
//!
//! Reads go through the write buffer to the store (so an event sees its
//! own writes); writes go to the buffer, which the pico applies as one
//! batch when the evaluation ends. Events the rules send to channels
//! (`event:send`) wait in an outbox that the pico hands to the engine.

mod ctx;
mod ent;

pub use ctx::{CtxEffects, LogEntry, LogFields, PicoLog};
pub use ent::{EntCache, SharedEntCache};

use crate::effects::{MqttChanges, MqttQueue, PicoCalls, StaticUrls, TwilioOutbox};
use crate::ids::{random_base62, Eci, Eid, PicoId};
use crate::outbound::HttpClient;
use crate::store::{Key, SessionRecord, Store, StoreError, WriteBuf};
use krl_lang::engine::{
    Host, HttpHost, HttpRequest, MqttHost, MqttPublish, TwilioHost, TwilioRequest,
};
use krl_lang::runtime::select::RuleState;
use krl_lang::runtime::{Map as KrlMap, RuntimeError, Value as KrlValue};
use krl_lang::syntax::ast::Level;
use serde_json::{Map, Value};
use std::sync::Arc;

/// An event a rule sent to a channel, to be delivered by the engine.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Where to.
    pub eci: Eci,
    /// Its id (returned to the rule).
    pub eid: Eid,
    /// Domain.
    pub domain: String,
    /// Name.
    pub name: String,
    /// Attributes.
    pub attrs: Map<String, Value>,
}

/// The host of one evaluation on one pico.
pub struct PicoHost {
    store: Store,
    pico: PicoId,
    buf: WriteBuf,
    outbox: Vec<Outgoing>,
    /// Set when a schedule entry was added or removed.
    schedules_changed: bool,
    /// Last id handed out by `new_id`, to keep ids increasing.
    last_id: u64,
    /// MQTT; `None`: `mqtt:` is off (`--no-mqtt`).
    mqtt: Option<Arc<dyn MqttQueue>>,
    /// What this evaluation published and (un)subscribed.
    mqtt_changes: MqttChanges,
    /// Outbound HTTP; `None`: `http:` is not supported here.
    http: Option<Arc<HttpClient>>,
    /// The Twilio outbox; `None`: `twilio:send_sms` ... not supported.
    twilio: Option<Arc<dyn TwilioOutbox>>,
    /// Set when a Twilio outbox entry was queued.
    twilio_queued: bool,
    /// The static folder (`twilio:url_for`); `None`: no `--static`.
    statics: Option<Arc<dyn StaticUrls>>,
    /// How long a call session lives after its last write, in ms.
    session_ttl_ms: u64,
    /// The earliest expiry this evaluation wrote to a call session (the
    /// pico's sweep timer must fire by then).
    session_due: Option<u64>,
    /// The engine's side of `ctx:` (other picos, rulesets by URL); `None`:
    /// `ctx:` family members are not supported here.
    calls: Option<Arc<dyn PicoCalls>>,
    /// What `ctx:` did in this evaluation.
    ctx: CtxEffects,
    /// The pico's log and this evaluation's txn id (`ctx:logs()`).
    log: Option<(Arc<PicoLog>, Arc<str>)>,
    /// This evaluation's log entries and their time (the evaluation's
    /// start), added to the pico's log in one go when the host is dropped.
    log_entries: Vec<LogEntry>,
    log_time_ms: f64,
    /// The pico's cache of committed entity values (`ent`); `None`: every
    /// read goes to the store.
    ents: Option<SharedEntCache>,
}

impl Drop for PicoHost {
    fn drop(&mut self) {
        if let Some((log, _)) = &self.log {
            log.append(&mut self.log_entries);
        }
    }
}

/// Default life of a call session after its last write: 4 hours, Twilio's
/// default limit on a call's length.
pub const DEFAULT_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(4 * 3600);

/// The deepest nesting of arrays and maps a stored value may have. The
/// store reads records with serde_json, which refuses more than 128
/// levels; a deeper value written once would make its variable
/// unreadable for every later event and query.
pub const MAX_STORED_DEPTH: usize = 100;

/// A runtime error when `v`'s JSON, stored inside `above` levels of arrays
/// or maps, nests arrays and maps deeper than [`MAX_STORED_DEPTH`]. Counted
/// on the value, without building the JSON: arrays, maps and regexes
/// (`{}`) are the levels, as they are in the JSON.
fn check_value_depth(v: &KrlValue, above: usize) -> Result<(), RuntimeError> {
    fn deeper(v: &KrlValue, budget: usize) -> bool {
        match v {
            KrlValue::Array(a) => budget == 0 || a.iter().any(|c| deeper(c, budget - 1)),
            KrlValue::Map(m) => budget == 0 || m.values().any(|c| deeper(c, budget - 1)),
            KrlValue::Regex(_) => budget == 0,
            _ => false,
        }
    }
    if above > MAX_STORED_DEPTH || deeper(v, MAX_STORED_DEPTH - above) {
        return Err(RuntimeError::new(format!(
            "the value is nested deeper than {MAX_STORED_DEPTH} levels of arrays and maps: too deep to store"
        )));
    }
    Ok(())
}

/// Gives the worker's core (its queued tasks, the one in its LIFO slot
/// included, which no other worker may steal) to a new worker thread, so
/// that the rest of a long evaluation runs on this thread without holding
/// up anything: `tokio::task::block_in_place`, whose closure waits a
/// moment so that the new thread takes the core before `block_in_place`
/// could take it back. Costs about a millisecond, once, to an evaluation
/// that has already run [`krl_lang::engine::LONG_WORK_STEPS`] steps.
/// Nothing outside a multi-threaded runtime.
fn let_other_tasks_move() {
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(1)));
        }
    }
}

fn storage(e: StoreError) -> RuntimeError {
    RuntimeError::new(format!("storage error: {e}"))
}

/// A KRL map from a JSON object.
pub fn krl_map(m: &Map<String, Value>) -> KrlMap {
    m.iter()
        .map(|(k, v)| (Arc::from(k.as_str()), KrlValue::from_json(v)))
        .collect()
}

/// A JSON object from a KRL map.
pub fn json_map(m: &KrlMap) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect()
}

impl PicoHost {
    /// A host with an empty write buffer. `last_id` is the pico's last
    /// schedule id (see [`PicoHost::new_id`]).
    pub fn new(store: &Store, pico: &PicoId, last_id: u64) -> PicoHost {
        PicoHost {
            store: store.clone(),
            pico: pico.clone(),
            buf: WriteBuf::new(),
            outbox: Vec::new(),
            schedules_changed: false,
            last_id,
            mqtt: None,
            mqtt_changes: MqttChanges::default(),
            http: None,
            twilio: None,
            twilio_queued: false,
            statics: None,
            session_ttl_ms: DEFAULT_SESSION_TTL.as_millis() as u64,
            session_due: None,
            calls: None,
            ctx: CtxEffects::default(),
            log: None,
            log_entries: Vec::new(),
            log_time_ms: 0.0,
            ents: None,
        }
    }

    /// The same host, writing to the pico's log for evaluation `txn`.
    pub fn with_log(mut self, log: Arc<PicoLog>, txn: &str) -> PicoHost {
        self.log = Some((log, Arc::from(txn)));
        self.log_time_ms = crate::clock::now_ms();
        self
    }

    /// Adds an entry to the pico's log (when this host has it), at the
    /// end of the evaluation.
    pub fn note(
        &mut self,
        level: &'static str,
        msg: impl Into<std::borrow::Cow<'static, str>>,
        fields: LogFields,
    ) {
        if let Some((_, txn)) = &self.log {
            let e = PicoLog::entry(self.log_time_ms, txn, level, msg, fields);
            self.log_entries.push(e);
        }
    }

    /// The same host, with the engine's side of `ctx:`.
    pub fn with_calls(mut self, calls: Option<Arc<dyn PicoCalls>>) -> PicoHost {
        self.calls = calls;
        self
    }

    /// What `ctx:` did (structural changes to make with the writes,
    /// children made, events for other engines).
    pub fn take_ctx(&mut self) -> CtxEffects {
        std::mem::take(&mut self.ctx)
    }

    /// The same host, with call sessions living `ttl` after their last write.
    pub fn with_session_ttl(mut self, ttl: std::time::Duration) -> PicoHost {
        self.session_ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The earliest call session expiry this evaluation wrote, if any.
    pub fn session_due(&self) -> Option<u64> {
        self.session_due
    }

    /// The record of call `call_sid`'s session if it is live. An expired
    /// one is removed (in this buffer) and reads as none, so a read never
    /// sees a session the sweeper has not reached yet.
    fn live_session(&mut self, call_sid: &str) -> Result<Option<SessionRecord>, RuntimeError> {
        let key = Key::session(&self.pico, call_sid);
        let Some(rec) = self
            .buf
            .get::<SessionRecord>(&self.store, &key)
            .map_err(storage)?
        else {
            return Ok(None);
        };
        if rec.expires_ms <= crate::clock::now_ms() as u64 {
            self.drop_session(call_sid, &rec)?;
            return Ok(None);
        }
        Ok(Some(rec))
    }

    /// Removes a call session: its record and every ruleset's variables.
    fn drop_session(&mut self, call_sid: &str, rec: &SessionRecord) -> Result<(), RuntimeError> {
        for rid in &rec.rids {
            let prefix = Key::session_vars(&self.pico, rid, call_sid);
            self.buf
                .remove_prefix(&self.store, &prefix)
                .map_err(storage)?;
        }
        self.buf.remove(Key::session(&self.pico, call_sid));
        Ok(())
    }

    /// Removes the sessions of this pico that have expired by `now_ms`;
    /// returns the earliest expiry of those left.
    pub fn sweep_sessions(&mut self, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let records: Vec<(Key, SessionRecord)> =
            self.buf.scan(&self.store, &Key::sessions(&self.pico))?;
        let mut next: Option<u64> = None;
        for (key, rec) in records {
            if rec.expires_ms > now_ms {
                next = Some(next.map_or(rec.expires_ms, |n| n.min(rec.expires_ms)));
                continue;
            }
            let Some((_, parts)) = Key::decode(key.as_bytes()) else {
                continue;
            };
            if let [_, call_sid] = parts.as_slice() {
                tracing::info!(pico = %self.pico, call_sid, "call session expired");
                if let Err(e) = self.drop_session(call_sid, &rec) {
                    tracing::error!(pico = %self.pico, call_sid, "{e}");
                }
            }
        }
        Ok(next)
    }

    /// The same host, with MQTT (`None`: `mqtt:` actions say it is off).
    pub fn with_mqtt(mut self, mqtt: Option<Arc<dyn MqttQueue>>) -> PicoHost {
        self.mqtt = mqtt;
        self
    }

    /// Takes what the evaluation published and (un)subscribed, for the
    /// MQTT connection once the writes are applied.
    pub fn take_mqtt(&mut self) -> MqttChanges {
        std::mem::take(&mut self.mqtt_changes)
    }

    fn mqtt_on(&self, what: &str) -> Result<Arc<dyn MqttQueue>, RuntimeError> {
        self.mqtt.clone().ok_or_else(|| {
            RuntimeError::new(format!(
                "{what}: MQTT is off in this engine (krl serve --no-mqtt); start it without \
                 --no-mqtt (embedded broker) or with --mqtt-url"
            ))
        })
    }

    /// The same host, making `http:` requests with `client`.
    pub fn with_http(mut self, client: Arc<HttpClient>) -> PicoHost {
        self.http = Some(client);
        self
    }

    /// The same host, queueing Twilio REST requests in the outbox.
    pub fn with_twilio(mut self, cfg: Arc<dyn TwilioOutbox>) -> PicoHost {
        self.twilio = Some(cfg);
        self
    }

    /// The same host, with the static folder (`twilio:url_for`).
    pub fn with_statics(mut self, s: Option<Arc<dyn StaticUrls>>) -> PicoHost {
        self.statics = s;
        self
    }

    /// Did the evaluation queue a Twilio request (the sender must be woken
    /// once the writes are applied)?
    pub fn twilio_queued(&self) -> bool {
        self.twilio_queued
    }

    /// The writes made so far.
    pub fn buf(&mut self) -> &mut WriteBuf {
        &mut self.buf
    }

    /// Did the evaluation add or remove a schedule entry?
    pub fn schedules_changed(&self) -> bool {
        self.schedules_changed
    }

    /// The last id handed out.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Ends the evaluation: its writes and the events it sent.
    pub fn finish(mut self) -> (WriteBuf, Vec<Outgoing>) {
        (
            std::mem::replace(&mut self.buf, WriteBuf::new()),
            std::mem::take(&mut self.outbox),
        )
    }

    fn get(&self, key: &Key) -> Result<KrlValue, RuntimeError> {
        Ok(self
            .buf
            .get::<Value>(&self.store, key)
            .map_err(storage)?
            .map_or(KrlValue::Null, |j| KrlValue::from_json(&j)))
    }

    /// Writes a variable; a value nested deeper than
    /// [`MAX_STORED_DEPTH`] is a runtime error (it could not be read
    /// back: the store's JSON reader stops at 128 levels).
    fn put(&mut self, key: Key, value: Option<&KrlValue>) -> Result<(), RuntimeError> {
        match value {
            Some(v) => {
                check_value_depth(v, 0)?;
                self.buf.put(key, &v.as_json());
            }
            None => self.buf.remove(key),
        }
        Ok(())
    }
}

impl Host for PicoHost {
    fn ent_get(&mut self, rid: &str, name: &str) -> Result<KrlValue, RuntimeError> {
        self.ent_read(rid, name)
    }

    fn ent_put(
        &mut self,
        rid: &str,
        name: &str,
        value: Option<&KrlValue>,
    ) -> Result<(), RuntimeError> {
        crate::trace::publish(
            Some(&self.pico),
            "ent_write",
            || serde_json::json!({"rid": rid, "name": name, "value": value.map(KrlValue::to_json)}),
        );
        self.ent_write(rid, name, value)
    }

    fn ent_get_path(
        &mut self,
        rid: &str,
        name: &str,
        path: &KrlValue,
    ) -> Result<KrlValue, RuntimeError> {
        self.ent_read_path(rid, name, path)
    }

    fn ent_put_path(
        &mut self,
        rid: &str,
        name: &str,
        path: &KrlValue,
        value: Option<&KrlValue>,
    ) -> Result<(), RuntimeError> {
        crate::trace::publish(Some(&self.pico), "ent_write", || {
            serde_json::json!({"rid": rid, "name": name, "path": path.to_json(),
                "value": value.map(KrlValue::to_json)})
        });
        self.ent_write_path(rid, name, path, value)
    }

    fn app_get(&mut self, rid: &str, name: &str) -> Result<KrlValue, RuntimeError> {
        self.get(&Key::app(rid, name))
    }

    fn app_put(
        &mut self,
        rid: &str,
        name: &str,
        value: Option<&KrlValue>,
    ) -> Result<(), RuntimeError> {
        self.put(Key::app(rid, name), value)
    }

    fn rule_state(&mut self, rid: &str, rule: &str) -> Option<RuleState> {
        let key = Key::rule_state(&self.pico, rid, rule);
        match self.buf.get::<RuleState>(&self.store, &key) {
            Ok(state) => state,
            Err(e) => {
                // A state that no longer reads (format change) restarts
                // the rule's match, which is what a reset would do.
                tracing::warn!(pico = %self.pico, rid, rule, "rule state dropped: {e}");
                None
            }
        }
    }

    fn set_rule_state(&mut self, rid: &str, rule: &str, state: &RuleState) {
        let key = Key::rule_state(&self.pico, rid, rule);
        // A fresh state is the same as none: keep the store small.
        if *state == RuleState::default() {
            self.buf.remove(key);
        } else {
            self.buf.put(key, state);
        }
    }

    /// Evaluations run on the tokio workers (in the pico's task): one that
    /// runs long empties its worker's slot of the task to run next (which
    /// no other worker may take), so that nothing waits behind it.
    fn long_work_hook(&mut self) -> Option<fn()> {
        Some(let_other_tasks_move)
    }

    fn now_ms(&mut self) -> f64 {
        crate::clock::now_ms()
    }

    fn random(&mut self) -> f64 {
        rand::random::<f64>()
    }

    fn log(&mut self, rid: &str, level: Level, message: &str) {
        if self.log.is_some() {
            let level = match level {
                // `klog` (and `defaultsTo`'s message)
                Level::Debug => "klog",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            };
            self.note(
                level,
                message.to_string(),
                LogFields::Ruleset(rid.to_string()),
            );
        }
        let pico = self.pico.as_str();
        match level {
            Level::Error => tracing::error!(target: "krl::klog", pico, rid, "{message}"),
            Level::Warn => tracing::warn!(target: "krl::klog", pico, rid, "{message}"),
            Level::Info => tracing::info!(target: "krl::klog", pico, rid, "{message}"),
            Level::Debug => tracing::debug!(target: "krl::klog", pico, rid, "{message}"),
        }
    }

    /// Schedule ids sort in creation order (`schedule:list()` answers in
    /// that order, and entries are stored under their id): 13 hex digits
    /// of a microsecond clock that never goes back on this pico, then 6
    /// random characters.
    fn new_id(&mut self) -> String {
        let now = (crate::clock::now_ms() * 1000.0) as u64;
        self.last_id = now.max(self.last_id + 1);
        format!("{:013x}{}", self.last_id, random_base62(6))
    }

    fn schedule_add(&mut self, rid: &str, entry: &KrlValue) -> Result<(), RuntimeError> {
        check_value_depth(entry, 0)?;
        let json = entry.to_json();
        let id = json
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| RuntimeError::new("a schedule entry needs an id"))?
            .to_string();
        crate::trace::publish(
            Some(&self.pico),
            "schedule_add",
            || serde_json::json!({"rid": rid, "entry": json}),
        );
        self.buf.put(Key::schedule(&self.pico, rid, &id), &json);
        self.schedules_changed = true;
        Ok(())
    }

    fn schedule_list(&mut self, rid: &str) -> Result<Vec<KrlValue>, RuntimeError> {
        let entries: Vec<(Key, Value)> = self
            .buf
            .scan(&self.store, &Key::ruleset_schedules(&self.pico, rid))
            .map_err(storage)?;
        Ok(entries
            .iter()
            .map(|(_, v)| KrlValue::from_json(v))
            .collect())
    }

    fn schedule_remove(&mut self, rid: &str, id: Option<&str>) -> Result<(), RuntimeError> {
        match id {
            Some(id) => self.buf.remove(Key::schedule(&self.pico, rid, id)),
            None => self
                .buf
                .remove_prefix(&self.store, &Key::ruleset_schedules(&self.pico, rid))
                .map_err(storage)?,
        }
        self.schedules_changed = true;
        Ok(())
    }

    fn send_event(
        &mut self,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: KrlMap,
    ) -> Result<String, RuntimeError> {
        let eid = Eid::random();
        self.outbox.push(Outgoing {
            eci: Eci::new(eci),
            eid: eid.clone(),
            domain: domain.to_string(),
            name: name.to_string(),
            attrs: json_map(&attrs),
        });
        Ok(eid.to_string())
    }
    fn base_url(&mut self) -> Option<String> {
        self.twilio.as_ref().map(|t| t.public_url().to_string())
    }
    fn twilio(&mut self) -> Option<&mut dyn TwilioHost> {
        Some(self)
    }
    fn mqtt(&mut self) -> Option<&mut dyn MqttHost> {
        Some(self)
    }
    fn http(&mut self) -> Option<&mut dyn HttpHost> {
        Some(self)
    }
    fn ctx(&mut self) -> Option<&mut dyn krl_lang::engine::CtxHost> {
        Some(self)
    }
    fn rule_selected(&mut self, rid: &Arc<str>, rule: &Arc<str>) {
        self.note(
            "debug",
            "rule selected",
            LogFields::Rule(rid.clone(), rule.clone()),
        );
        crate::trace::publish(
            Some(&self.pico),
            "rule_selected",
            || serde_json::json!({"rid": &**rid, "rule": &**rule}),
        );
    }
    fn event_raised(&mut self, domain: &str, name: &str, attrs: &KrlMap, only: Option<&str>) {
        if self.log.is_some() {
            self.note(
                "debug",
                "event added to schedule",
                LogFields::Raised(domain.to_string(), name.to_string()),
            );
        }
        crate::trace::publish(
            Some(&self.pico),
            "raised",
            || serde_json::json!({"domain": domain, "name": name, "attrs": json_map(attrs), "for_rid": only}),
        );
    }
    fn rule_fired(&mut self, rid: &Arc<str>, rule: &Arc<str>, fired: bool) {
        let msg = if fired { "fired" } else { "not fired" };
        self.note("debug", msg, LogFields::Rule(rid.clone(), rule.clone()));
        crate::trace::publish(
            Some(&self.pico),
            "rule_fired",
            || serde_json::json!({"rid": &**rid, "rule": &**rule, "fired": fired}),
        );
    }
}

impl TwilioHost for PicoHost {
    fn session_get(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
    ) -> Result<KrlValue, RuntimeError> {
        // Variables are written with their record: none, no variables.
        if self.live_session(call_sid)?.is_none() {
            return Ok(KrlValue::Null);
        }
        self.get(&Key::session_var(&self.pico, rid, call_sid, name))
    }

    fn session_put(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
        value: Option<&KrlValue>,
    ) -> Result<(), RuntimeError> {
        let mut rec = match self.live_session(call_sid)? {
            Some(rec) => rec,
            // clearing a variable of no session: nothing to do
            None if value.is_none() => return Ok(()),
            None => SessionRecord {
                expires_ms: 0,
                rids: Vec::new(),
            },
        };
        self.put(Key::session_var(&self.pico, rid, call_sid, name), value)?;
        if !rec.rids.iter().any(|r| r == rid) {
            rec.rids.push(rid.to_string());
        }
        rec.expires_ms = (crate::clock::now_ms() as u64).saturating_add(self.session_ttl_ms);
        self.session_due = Some(
            self.session_due
                .map_or(rec.expires_ms, |d| d.min(rec.expires_ms)),
        );
        self.buf.put(Key::session(&self.pico, call_sid), &rec);
        Ok(())
    }

    fn session_end(&mut self, call_sid: &str) -> Result<(), RuntimeError> {
        let key = Key::session(&self.pico, call_sid);
        if let Some(rec) = self
            .buf
            .get::<SessionRecord>(&self.store, &key)
            .map_err(storage)?
        {
            self.drop_session(call_sid, &rec)?;
        }
        Ok(())
    }

    /// `twilio:url_for`: a file's URL under the static folder.
    fn static_url(&mut self, path: &str) -> Result<KrlValue, RuntimeError> {
        let s = self.statics.as_ref().ok_or_else(|| {
            RuntimeError::new(format!(
                "twilio:url_for({path:?}): no static folder (start krl serve with --static DIR)"
            ))
        })?;
        s.url_for(path)
            .map(KrlValue::from)
            .map_err(|e| RuntimeError::new(format!("twilio:url_for: {e}")))
    }

    /// `twilio:send_sms`, `twilio:call`, `twilio:redirect_call`: an entry
    /// of the durable outbox, in this event's writes (the Twilio outbox).
    fn twilio_rest(&mut self, request: &TwilioRequest) -> Result<KrlValue, RuntimeError> {
        let Some(cfg) = &self.twilio else {
            return Err(RuntimeError::new(format!(
                "not supported here: twilio:{}",
                request.action
            )));
        };
        let v = cfg
            .new_entry(&self.pico, request, &mut self.buf)
            .map_err(RuntimeError::new)?;
        self.twilio_queued = true;
        Ok(KrlValue::from_json(&v))
    }
}

impl MqttHost for PicoHost {
    /// `mqtt:publish`: an entry of the durable MQTT queue in this event's
    /// writes, sent after they commit (by the MQTT connection).
    fn mqtt_publish(&mut self, request: &MqttPublish) -> Result<KrlValue, RuntimeError> {
        let mqtt = self.mqtt_on(&format!("mqtt:publish to {:?}", request.topic))?;
        let in_event = self.mqtt_changes.publishes.len();
        let (entry, answer) = mqtt
            .new_publish(&self.pico, request, in_event, &mut self.buf)
            .map_err(RuntimeError::new)?;
        self.mqtt_changes.publishes.push(entry);
        Ok(KrlValue::from_json(&answer))
    }

    /// `mqtt:subscribe`: the pico's subscription, stored with this event.
    fn mqtt_subscribe(&mut self, filter: &str, qos: u8) -> Result<KrlValue, RuntimeError> {
        let mqtt = self.mqtt_on(&format!("mqtt:subscribe to {filter:?}"))?;
        mqtt.subscribe(&self.pico, filter, qos, &mut self.buf);
        self.mqtt_changes.subs.push((filter.to_string(), Some(qos)));
        Ok(KrlValue::Null)
    }

    /// `mqtt:unsubscribe`: drops the pico's subscription with this event.
    fn mqtt_unsubscribe(&mut self, filter: &str) -> Result<KrlValue, RuntimeError> {
        let mqtt = self.mqtt_on(&format!("mqtt:unsubscribe from {filter:?}"))?;
        mqtt.unsubscribe(&self.pico, filter, &mut self.buf);
        self.mqtt_changes.subs.push((filter.to_string(), None));
        Ok(KrlValue::Null)
    }
}

impl HttpHost for PicoHost {
    /// `http:get` ... `http:delete`: the request, waited for (this pico
    /// waits; see `outbound`).
    fn request(&mut self, request: &HttpRequest) -> Result<KrlValue, RuntimeError> {
        match &self.http {
            Some(client) => client.send(request),
            None => Err(RuntimeError::new(format!(
                "not supported here: http:{} {}",
                request.method.to_ascii_lowercase(),
                request.url
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The depth check as it reads on the JSON itself: the reference
    /// `check_value_depth` must agree with.
    fn check_depth(v: &Value) -> Result<(), RuntimeError> {
        fn deeper(v: &Value, budget: usize) -> bool {
            let mut children: Box<dyn Iterator<Item = &Value>> = match v {
                Value::Array(a) => Box::new(a.iter()),
                Value::Object(o) => Box::new(o.values()),
                _ => return false,
            };
            budget == 0 || children.any(|c| deeper(c, budget - 1))
        }
        if deeper(v, MAX_STORED_DEPTH) {
            return Err(RuntimeError::new(format!(
                "the value is nested deeper than {MAX_STORED_DEPTH} levels of arrays and maps: too deep to store"
            )));
        }
        Ok(())
    }

    #[test]
    fn a_values_depth_is_checked_as_its_json_would_be() {
        let nest = |depth: usize, leaf: KrlValue, in_map: bool| {
            (0..depth).fold(leaf, |v, _| {
                if in_map {
                    KrlValue::from(
                        std::iter::once((std::sync::Arc::from("k"), v)).collect::<KrlMap>(),
                    )
                } else {
                    KrlValue::from(vec![v])
                }
            })
        };
        let regex = KrlValue::Regex(krl_lang::runtime::Regex::new("a", "").unwrap().into());
        for depth in [0, 1, 98, 99, 100, 101, 102] {
            for leaf in [KrlValue::from(1.0), KrlValue::from(vec![]), regex.clone()] {
                for in_map in [false, true] {
                    let v = nest(depth, leaf.clone(), in_map);
                    for above in [0, 1] {
                        // `above` levels around it, as the JSON is stored.
                        let json = (0..above).fold(v.to_json(), |j, _| json!([0, j]));
                        assert_eq!(
                            check_value_depth(&v, above).is_ok(),
                            check_depth(&json).is_ok(),
                            "depth {depth} above {above} leaf {leaf:?} map {in_map}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn host_reads_its_own_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pico = PicoId::new("p");
        let mut host = PicoHost::new(&store, &pico, 0);
        assert!(host.ent_get("r", "n").unwrap().is_null());
        host.ent_put("r", "n", Some(&KrlValue::from(3.0))).unwrap();
        assert_eq!(host.ent_get("r", "n").unwrap().to_json(), json!(3));
        store.apply(host.finish().0).unwrap();
        let mut host = PicoHost::new(&store, &pico, 0);
        assert_eq!(host.ent_get("r", "n").unwrap().to_json(), json!(3));
        // Another pico's variable of the same name is another key.
        let mut other = PicoHost::new(&store, &PicoId::new("q"), 0);
        assert!(other.ent_get("r", "n").unwrap().is_null());
    }

    #[test]
    fn schedule_ids_increase_and_list_in_creation_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut host = PicoHost::new(&store, &PicoId::new("p"), 0);
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = host.new_id();
            let entry = KrlValue::from_json(&json!({"id": id, "type": "at", "time": i}));
            host.schedule_add("r", &entry).unwrap();
            ids.push(id);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let listed: Vec<Value> = host
            .schedule_list("r")
            .unwrap()
            .iter()
            .map(KrlValue::to_json)
            .collect();
        let times: Vec<Value> = listed.iter().map(|e| e["time"].clone()).collect();
        assert_eq!(
            times,
            vec![json!(0), json!(1), json!(2), json!(3), json!(4)]
        );
        host.schedule_remove("r", Some(&ids[1])).unwrap();
        assert_eq!(host.schedule_list("r").unwrap().len(), 4);
        host.schedule_remove("r", None).unwrap();
        assert!(host.schedule_list("r").unwrap().is_empty());
        assert!(host.schedules_changed());
    }

    fn n(v: f64) -> KrlValue {
        KrlValue::from(v)
    }

    #[test]
    fn call_sessions_are_per_call_and_end_for_every_ruleset() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pico = PicoId::new("p");
        let mut host = PicoHost::new(&store, &pico, 0);
        host.session_put("r1", "CA1", "x", Some(&n(1.0))).unwrap();
        host.session_put("r2", "CA1", "x", Some(&n(2.0))).unwrap();
        host.session_put("r1", "CA2", "x", Some(&n(3.0))).unwrap();
        // clearing a variable of a call with no session writes nothing
        host.session_put("r1", "CA3", "x", None).unwrap();
        assert!(host.session_due().is_some());
        store.apply(host.finish().0).unwrap();
        assert!(store
            .get::<Value>(&Key::session(&pico, "CA3"))
            .unwrap()
            .is_none());
        let rec: SessionRecord = store.get(&Key::session(&pico, "CA1")).unwrap().unwrap();
        assert_eq!(rec.rids, vec!["r1".to_string(), "r2".to_string()]);

        let mut host = PicoHost::new(&store, &pico, 0);
        assert_eq!(
            host.session_get("r1", "CA1", "x").unwrap().to_json(),
            json!(1)
        );
        assert_eq!(
            host.session_get("r2", "CA1", "x").unwrap().to_json(),
            json!(2)
        );
        assert_eq!(
            host.session_get("r1", "CA2", "x").unwrap().to_json(),
            json!(3)
        );
        host.session_end("CA1").unwrap();
        // gone at once for this evaluation, and from the store after it
        assert!(host.session_get("r1", "CA1", "x").unwrap().is_null());
        store.apply(host.finish().0).unwrap();
        for rid in ["r1", "r2"] {
            assert!(store
                .keys(&Key::session_vars(&pico, rid, "CA1"))
                .unwrap()
                .is_empty());
        }
        assert!(store
            .get::<Value>(&Key::session(&pico, "CA1"))
            .unwrap()
            .is_none());
        let mut host = PicoHost::new(&store, &pico, 0);
        assert_eq!(
            host.session_get("r1", "CA2", "x").unwrap().to_json(),
            json!(3)
        );
        assert_eq!(store.session_picos().unwrap(), vec![pico.clone()]);
    }

    #[test]
    fn expired_sessions_read_as_null_and_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pico = PicoId::new("p");
        let ttl = std::time::Duration::from_millis(1);
        let mut host = PicoHost::new(&store, &pico, 0).with_session_ttl(ttl);
        host.session_put("r", "CA1", "x", Some(&n(1.0))).unwrap();
        host.session_put("r", "CA1", "y", Some(&n(2.0))).unwrap();
        let due = host.session_due().unwrap();
        store.apply(host.finish().0).unwrap();
        // let the engine's clock pass the expiry
        while (crate::clock::now_ms() as u64) <= due {
            std::thread::yield_now();
        }
        // a read checks the expiry itself: null, and the whole session goes
        let mut host = PicoHost::new(&store, &pico, 0).with_session_ttl(ttl);
        assert!(host.session_get("r", "CA1", "x").unwrap().is_null());
        let (buf, _) = host.finish();
        assert!(!buf.is_empty());
        // a write after the expiry starts a fresh session: `y` is not back
        let mut host = PicoHost::new(&store, &pico, 0);
        host.session_put("r", "CA1", "x", Some(&n(5.0))).unwrap();
        assert!(host.session_get("r", "CA1", "y").unwrap().is_null());
        assert_eq!(
            host.session_get("r", "CA1", "x").unwrap().to_json(),
            json!(5)
        );
        // the sweep removes what expired and says when the next one is due
        let mut host = PicoHost::new(&store, &pico, 0);
        let now = crate::clock::now_ms() as u64;
        assert_eq!(host.sweep_sessions(now).unwrap(), None);
        store.apply(host.finish().0).unwrap();
        assert!(store.keys(&Key::sessions(&pico)).unwrap().is_empty());
        assert!(store
            .keys(&Key::session_vars(&pico, "r", "CA1"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn sent_events_wait_in_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut host = PicoHost::new(&store, &PicoId::new("p"), 0);
        let mut attrs = KrlMap::default();
        attrs.insert(Arc::from("a"), KrlValue::from("b"));
        let eid = host.send_event("eci1", "d", "n", attrs).unwrap();
        let (_, outbox) = host.finish();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].eid.as_str(), eid);
        assert_eq!(Value::Object(outbox[0].attrs.clone()), json!({"a": "b"}));
    }
}
