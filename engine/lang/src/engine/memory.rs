//! An in-memory [`Host`]: entity and app variables and rule states in
//! hash maps, a settable clock, a seeded random sequence and a captured
//! log. For tests, benchmarks and tools that run rulesets without storage.

use crate::host::{Host, HttpHost, HttpRequest, MqttHost, MqttPublish, TwilioHost, TwilioRequest};
use crate::runtime::select::RuleState;
use crate::runtime::{Map, RuntimeError, Value};
use crate::syntax::ast::Level;
use std::collections::HashMap;

/// Variables and states kept in memory.
#[derive(Default)]
pub struct MemoryHost {
    /// (rid, name) → value
    pub ent: HashMap<(String, String), Value>,
    /// (rid, name) → value
    pub app: HashMap<(String, String), Value>,
    /// (rid, CallSid, name) → value: call session variables
    pub sessions: HashMap<(String, String, String), Value>,
    /// (rid, rule) → state
    pub states: HashMap<(String, String), RuleState>,
    /// The clock, ms since the epoch.
    pub now_ms: f64,
    /// Log lines: (rid, level, message).
    pub log: Vec<(String, Level, String)>,
    /// Schedule entries: (rid, entry).
    pub schedules: Vec<(String, Value)>,
    /// Events sent with `event:send`: (eci, domain, name, attrs).
    pub sent: Vec<(String, String, String, Map)>,
    /// Twilio REST requests queued by rules.
    pub twilio: Vec<TwilioRequest>,
    /// `mqtt:publish` requests, in order.
    pub mqtt_published: Vec<MqttPublish>,
    /// Topic filters subscribed with `mqtt:subscribe` (filter, qos).
    pub mqtt_filters: Vec<(String, u8)>,
    /// Answers `http:` requests when set (tests); otherwise they fail.
    #[allow(clippy::type_complexity)]
    pub http: Option<Box<dyn FnMut(&HttpRequest) -> Value + Send>>,
    /// The public base URL (`meta:host`); `None`: the engine has none.
    pub base_url: Option<String>,
    /// What [`Host::long_work_hook`] answers (tests).
    pub long_work: Option<fn()>,
    seed: u64,
    ids: u64,
}

impl MemoryHost {
    /// An empty host whose clock reads `now_ms`.
    pub fn new(now_ms: f64) -> MemoryHost {
        MemoryHost {
            now_ms,
            seed: 0x9E37_79B9_7F4A_7C15,
            ..MemoryHost::default()
        }
    }

    /// Reads an entity variable (tests).
    pub fn ent(&self, rid: &str, name: &str) -> Value {
        self.ent
            .get(&(rid.to_string(), name.to_string()))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Reads a call session variable (tests).
    pub fn session(&self, rid: &str, call_sid: &str, name: &str) -> Value {
        self.sessions
            .get(&(rid.to_string(), call_sid.to_string(), name.to_string()))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn put(map: &mut HashMap<(String, String), Value>, rid: &str, name: &str, v: Option<&Value>) {
    let key = (rid.to_string(), name.to_string());
    match v {
        Some(v) => {
            map.insert(key, v.clone());
        }
        None => {
            map.remove(&key);
        }
    }
}

impl Host for MemoryHost {
    fn ent_get(&mut self, rid: &str, name: &str) -> Result<Value, RuntimeError> {
        Ok(self.ent(rid, name))
    }
    fn ent_put(
        &mut self,
        rid: &str,
        name: &str,
        value: Option<&Value>,
    ) -> Result<(), RuntimeError> {
        put(&mut self.ent, rid, name, value);
        Ok(())
    }
    fn app_get(&mut self, rid: &str, name: &str) -> Result<Value, RuntimeError> {
        Ok(self
            .app
            .get(&(rid.to_string(), name.to_string()))
            .cloned()
            .unwrap_or(Value::Null))
    }
    fn app_put(
        &mut self,
        rid: &str,
        name: &str,
        value: Option<&Value>,
    ) -> Result<(), RuntimeError> {
        put(&mut self.app, rid, name, value);
        Ok(())
    }
    fn rule_state(&mut self, rid: &str, rule: &str) -> Option<RuleState> {
        self.states
            .get(&(rid.to_string(), rule.to_string()))
            .cloned()
    }
    fn set_rule_state(&mut self, rid: &str, rule: &str, state: &RuleState) {
        self.states
            .insert((rid.to_string(), rule.to_string()), state.clone());
    }
    fn now_ms(&mut self) -> f64 {
        self.now_ms
    }
    fn random(&mut self) -> f64 {
        // xorshift: deterministic, good enough for `sample`
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log(&mut self, rid: &str, level: Level, message: &str) {
        self.log.push((rid.to_string(), level, message.to_string()));
    }
    fn new_id(&mut self) -> String {
        self.ids += 1;
        format!("id{}", self.ids)
    }
    fn schedule_add(&mut self, rid: &str, entry: &Value) -> Result<(), RuntimeError> {
        self.schedules.push((rid.to_string(), entry.clone()));
        Ok(())
    }
    fn schedule_list(&mut self, rid: &str) -> Result<Vec<Value>, RuntimeError> {
        Ok(self
            .schedules
            .iter()
            .filter(|(r, _)| r == rid)
            .map(|(_, e)| e.clone())
            .collect())
    }
    fn schedule_remove(&mut self, rid: &str, id: Option<&str>) -> Result<(), RuntimeError> {
        self.schedules.retain(|(r, e)| {
            r != rid || id.is_some_and(|id| crate::eval::key_get(e, "id").as_str() != Some(id))
        });
        Ok(())
    }
    fn send_event(
        &mut self,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: Map,
    ) -> Result<String, RuntimeError> {
        self.sent
            .push((eci.to_string(), domain.to_string(), name.to_string(), attrs));
        Ok(self.new_id())
    }
    fn long_work_hook(&mut self) -> Option<fn()> {
        self.long_work
    }

    fn base_url(&mut self) -> Option<String> {
        self.base_url.clone()
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
}

impl TwilioHost for MemoryHost {
    fn session_get(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
    ) -> Result<Value, RuntimeError> {
        Ok(self.session(rid, call_sid, name))
    }
    fn session_put(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
        value: Option<&Value>,
    ) -> Result<(), RuntimeError> {
        let key = (rid.to_string(), call_sid.to_string(), name.to_string());
        match value {
            Some(v) => self.sessions.insert(key, v.clone()),
            None => self.sessions.remove(&key),
        };
        Ok(())
    }
    fn session_end(&mut self, call_sid: &str) -> Result<(), RuntimeError> {
        self.sessions.retain(|(_, call, _), _| call != call_sid);
        Ok(())
    }
    fn twilio_rest(&mut self, request: &TwilioRequest) -> Result<Value, RuntimeError> {
        self.twilio.push(request.clone());
        let mut m = Map::default();
        m.insert("id".into(), Value::from(self.new_id()));
        m.insert("status".into(), Value::from("queued"));
        Ok(Value::from(m))
    }
    fn static_url(&mut self, path: &str) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "not supported here: twilio:url_for({path:?}) (no static files)"
        )))
    }
}

impl MqttHost for MemoryHost {
    fn mqtt_publish(&mut self, request: &MqttPublish) -> Result<Value, RuntimeError> {
        self.mqtt_published.push(request.clone());
        let mut m = Map::default();
        m.insert("id".into(), Value::from(self.new_id()));
        m.insert("status".into(), Value::from("queued"));
        Ok(Value::from(m))
    }
    fn mqtt_subscribe(&mut self, filter: &str, qos: u8) -> Result<Value, RuntimeError> {
        self.mqtt_filters.retain(|(f, _)| f != filter);
        self.mqtt_filters.push((filter.to_string(), qos));
        Ok(Value::Null)
    }
    fn mqtt_unsubscribe(&mut self, filter: &str) -> Result<Value, RuntimeError> {
        self.mqtt_filters.retain(|(f, _)| f != filter);
        Ok(Value::Null)
    }
}

impl HttpHost for MemoryHost {
    fn request(&mut self, request: &HttpRequest) -> Result<Value, RuntimeError> {
        match &mut self.http {
            Some(f) => Ok(f(request)),
            None => Err(RuntimeError::new("no network in the in-memory host")),
        }
    }
}
