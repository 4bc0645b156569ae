//! Running rulesets: [`compile`] turns source into a shared [`Compiled`]
//! ruleset; a [`PicoRuntime`] holds one pico's installed instances and
//! processes its events and queries (krl-language.md 9). All I/O —
//! entity and app variables, rule states, the clock, randomness, logs —
//! goes through the [`Host`] the engine passes in, so this module has no
//! sled, no tokio and no network.

pub mod compile;
pub mod eval;
pub mod ir;
pub mod memory;
pub mod mqtt;

pub use compile::Compiled;

use crate::runtime::select::{EventView, RuleState};
use crate::runtime::{Map, RuntimeError, Value};
use crate::syntax::ast::{Level, Span};
use crate::syntax::{Diagnostic, LineIndex};
use eval::{Eval, Flow, Frame, Queued, Txn};
use ir::{Selector, When};
use std::collections::VecDeque;
use std::sync::Arc;

/// A ruleset ready to install: its compiled form and its source (kept for
/// positions in runtime errors).
pub struct Ruleset {
    /// The compiled form.
    pub compiled: Arc<Compiled>,
    /// The source text.
    pub source: Arc<str>,
    lines: LineIndex,
}

impl Ruleset {
    /// The ruleset id.
    pub fn rid(&self) -> &str {
        &self.compiled.rid
    }

    /// 1-based line and column of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        self.lines.line_col(&self.source, span.start as usize)
    }
}

/// Parses, checks and compiles `src`. Errors (never warnings) come back
/// in source order.
pub fn compile(src: &str) -> Result<Arc<Ruleset>, Vec<Diagnostic>> {
    let ast = crate::syntax::parse_ruleset(src).map_err(|d| vec![d])?;
    let errors: Vec<Diagnostic> = crate::check::check_ruleset(&ast)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let compiled = compile::compile_ruleset(&ast).map_err(|d| vec![d])?;
    Ok(Arc::new(Ruleset {
        compiled: Arc::new(compiled),
        source: Arc::from(src),
        lines: LineIndex::new(src),
    }))
}

/// An event as the engine received it (language 5).
#[derive(Clone, Debug)]
pub struct Event {
    /// The domain.
    pub domain: String,
    /// The type.
    pub name: String,
    /// The attributes.
    pub attrs: Map,
    /// The channel it came in on.
    pub eci: String,
    /// Its id.
    pub eid: String,
    /// When it was accepted, ms since the epoch.
    pub time_ms: f64,
}

/// A directive of the event's response (language 9.5).
#[derive(Clone, Debug)]
pub struct Directive {
    /// Its name.
    pub name: Arc<str>,
    /// Its options (normally a map).
    pub options: Value,
    /// The ruleset that sent it.
    pub rid: Arc<str>,
    /// The rule that sent it.
    pub rule_name: Arc<str>,
    /// The evaluation.
    pub txn_id: Arc<str>,
    /// A TwiML element recorded by a `twilio:` verb action (language
    /// 10.9.2), never a user's `send_directive`: `name` is the verb,
    /// `options` holds the attributes and, under [`TWIML_ARG`], the
    /// positional argument.
    pub twiml: bool,
    /// 1-based line and column of the action that recorded it (TwiML
    /// verbs, for errors found when the reply is written); `None` for
    /// `send_directive`.
    pub line_col: Option<(usize, usize)>,
}

/// The options key of a TwiML directive that holds the verb's positional
/// argument (its text, or the `action`/`length` attribute).
pub const TWIML_ARG: &str = "_arg";

/// The twilio verb actions (language 10.9.2), which produce TwiML.
pub const TWILIO_VERBS: &[&str] = crate::library::TWILIO_ACTIONS
    .split_at(crate::library::TWILIO_VERB_COUNT)
    .0;

impl Directive {
    /// As the map `send_directive` returns.
    pub fn to_value(&self) -> Value {
        let mut meta = Map::new();
        meta.insert(Arc::from("rid"), Value::from(&*self.rid));
        meta.insert(Arc::from("rule_name"), Value::from(&*self.rule_name));
        meta.insert(Arc::from("txnId"), Value::from(&*self.txn_id));
        let mut m = Map::new();
        m.insert(Arc::from("type"), Value::from("directive"));
        m.insert(Arc::from("name"), Value::from(&*self.name));
        m.insert(Arc::from("options"), self.options.clone());
        m.insert(Arc::from("meta"), Value::from(meta));
        Value::from(m)
    }

    /// As JSON in the event response (`{"name","options","meta"}`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": &*self.name,
            "options": self.options.to_json(),
            "meta": {"rid": &*self.rid, "rule_name": &*self.rule_name, "txnId": &*self.txn_id},
        })
    }
}

/// What the engine provides to an evaluation. Writes are buffered by the
/// engine and committed atomically when the evaluation ends.
pub trait Host {
    /// Reads an entity variable (null when unset).
    fn ent_get(&mut self, rid: &str, name: &str) -> Result<Value, RuntimeError>;
    /// Writes (or with `None` deletes) an entity variable.
    fn ent_put(&mut self, rid: &str, name: &str, value: Option<&Value>)
        -> Result<(), RuntimeError>;
    /// Reads an app variable.
    fn app_get(&mut self, rid: &str, name: &str) -> Result<Value, RuntimeError>;
    /// Writes an app variable.
    fn app_put(&mut self, rid: &str, name: &str, value: Option<&Value>)
        -> Result<(), RuntimeError>;
    /// Reads a call session variable (`session:name`): one ruleset, one
    /// pico, one call (`call_sid`, the event's `CallSid`). Null when unset
    /// or when the session has expired. Engines without call sessions keep
    /// this default.
    fn session_get(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
    ) -> Result<Value, RuntimeError> {
        let _ = (rid, call_sid);
        Err(RuntimeError::new(format!(
            "not supported here: session:{name} (no call sessions)"
        )))
    }
    /// Writes (or with `None` deletes) a call session variable.
    fn session_put(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
        value: Option<&Value>,
    ) -> Result<(), RuntimeError> {
        let _ = (rid, call_sid, value);
        Err(RuntimeError::new(format!(
            "not supported here: session:{name} (no call sessions)"
        )))
    }
    /// The call has ended (a `twilio` event with `CallStatus`
    /// `completed` ran without error): drop its session, every ruleset's,
    /// with the event's other writes.
    fn session_end(&mut self, call_sid: &str) -> Result<(), RuntimeError> {
        let _ = call_sid;
        Ok(())
    }
    /// The stored state machine of a rule.
    fn rule_state(&mut self, rid: &str, rule: &str) -> Option<RuleState>;
    /// Stores a rule's state machine.
    fn set_rule_state(&mut self, rid: &str, rule: &str, state: &RuleState);
    /// Now, ms since the epoch.
    fn now_ms(&mut self) -> f64;
    /// A random number in [0, 1).
    fn random(&mut self) -> f64;
    /// A line of the pico's log.
    fn log(&mut self, rid: &str, level: Level, message: &str);
    /// A new unique id (schedule entries).
    fn new_id(&mut self) -> String;
    /// Stores a schedule entry of `rid` (language 9.7); the engine fires it.
    fn schedule_add(&mut self, rid: &str, entry: &Value) -> Result<(), RuntimeError>;
    /// The schedule entries of `rid` on this pico, in creation order.
    fn schedule_list(&mut self, rid: &str) -> Result<Vec<Value>, RuntimeError>;
    /// Removes one entry (`None`: all of `rid`'s entries).
    fn schedule_remove(&mut self, rid: &str, id: Option<&str>) -> Result<(), RuntimeError>;
    /// Sends an event to a channel (`event:send`, `ctx:event`): queued,
    /// not waited for. Returns the new event's id.
    fn send_event(
        &mut self,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: Map,
    ) -> Result<String, RuntimeError>;
    /// Queues a Twilio REST request (`twilio:send_sms`, `twilio:call`,
    /// `twilio:redirect_call`) in the engine's durable outbox: it is stored
    /// with the event's writes and sent after they commit; the outcome comes
    /// back as an event (`twilio sms_sent` / `twilio sms_failed`, ...).
    /// Returns what the rule gets (at least the outbox entry's `id`).
    fn twilio_rest(&mut self, request: &TwilioRequest) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "not supported here: twilio:{}",
            request.action
        )))
    }
    /// `twilio:url_for(path)`: the absolute URL under which the engine
    /// serves the static file `path` (relative to its static folder), with
    /// a fingerprint of the file's content (`?v=<hash>`) so that it changes
    /// when the file does. Engines without static files keep this default.
    fn static_url(&mut self, path: &str) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "not supported here: twilio:url_for({path:?}) (no static files)"
        )))
    }
    /// Makes an HTTP request (`http:get` ... `http:delete`) and returns the
    /// response map of krl-stdlib.md 8.6 (`status_code`, `status_line`,
    /// `content`, `content_type`, `content_length`, `headers`). Engines
    /// without network access keep this default.
    fn http(&mut self, request: &HttpRequest) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "not supported here: http:{} {}",
            request.method.to_ascii_lowercase(),
            request.url
        )))
    }
    /// `mqtt:publish(topic, payload) with qos, retain`: the request is
    /// validated ([`mqtt::MqttPublish`]); the engine stores it with the
    /// event's writes and sends it after they commit. Returns what the rule
    /// gets. Engines without MQTT keep this default.
    fn mqtt_publish(&mut self, request: &mqtt::MqttPublish) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "not supported here: mqtt:publish to {:?} (this engine has no MQTT)",
            request.topic
        )))
    }
    /// `mqtt:subscribe(filter) with qos`: the pico subscribes to a topic
    /// filter (valid, see [`mqtt::check_filter`]); each message on it
    /// becomes an `mqtt message` event on the pico.
    fn mqtt_subscribe(&mut self, filter: &str, qos: u8) -> Result<Value, RuntimeError> {
        let _ = qos;
        Err(RuntimeError::new(format!(
            "not supported here: mqtt:subscribe to {filter:?} (this engine has no MQTT)"
        )))
    }
    /// `mqtt:unsubscribe(filter)`: the pico drops a subscription.
    fn mqtt_unsubscribe(&mut self, filter: &str) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "not supported here: mqtt:unsubscribe from {filter:?} (this engine has no MQTT)"
        )))
    }
}

/// A Twilio REST request from a rule (issue: durable outbox).
#[derive(Clone, Debug)]
pub struct TwilioRequest {
    /// `send_sms`, `call` or `redirect_call`.
    pub action: String,
    /// The form parameters Twilio's API takes (`To`, `From`, `Body`,
    /// `MediaUrl`, `Url`, ...), URLs still as the rule wrote them (an event
    /// type such as `"menu"` is resolved by the engine, language 10.9.4).
    pub params: Vec<(String, String)>,
    /// For `redirect_call`: the call's SID.
    pub call_sid: Option<String>,
    /// Credentials found in the ruleset (`twiliokeys`, the `twilio` key, or
    /// the install config's `account_sid`/`auth_token`); `None`: the engine's.
    pub credentials: Option<(String, String)>,
    /// The channel of the event being processed (callback URLs).
    pub eci: String,
    /// The ruleset and rule asking.
    pub rid: String,
    /// The rule asking, when in one.
    pub rule: Option<String>,
}

/// An `http:` request with its options decoded (krl-stdlib.md 8.6).
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The URL, query string not yet added.
    pub url: String,
    /// `qs`: appended as a query string.
    pub qs: Vec<(String, String)>,
    /// `headers`.
    pub headers: Vec<(String, String)>,
    /// The body with its content type (from `body`, `json` or `form`).
    pub body: Option<(String, Option<&'static str>)>,
    /// `auth`: basic authorisation.
    pub auth: Option<(String, String)>,
    /// `parseJSON`.
    pub parse_json: bool,
    /// `dontFollowRedirect`.
    pub dont_follow_redirect: bool,
}

/// Bounds on one evaluation (language 9.4, issue "Limits").
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Expression steps per event.
    pub max_ops: u64,
    /// Nested calls.
    pub max_depth: u32,
    /// Events raised per event.
    pub max_raised: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_ops: 10_000_000,
            max_depth: 500,
            max_raised: 1000,
        }
    }
}

/// A ruleset installed on a pico: its globals evaluated.
pub struct Instance {
    /// The compiled ruleset.
    pub compiled: Arc<Compiled>,
    /// The ruleset (source, positions).
    pub ruleset: Arc<Ruleset>,
    /// The global frame.
    pub globals: Arc<Frame>,
    /// `meta:rulesetConfig`.
    pub config: Value,
    /// Classic keys.
    pub keys: Map,
    /// Used modules, in `uses` order.
    pub modules: Vec<Arc<Instance>>,
    /// Classic `use module a8x115 ... with name = value`: evaluated options
    /// of the built-in twilio module (`twiliokeys`).
    pub twilio: Map,
}

/// A runtime error with where it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    /// The ruleset.
    pub rid: String,
    /// The rule, when in one.
    pub rule: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.message, self.rid)?;
        if let Some(r) = &self.rule {
            write!(f, ", rule {r}")?;
        }
        if let (Some(l), Some(c)) = (self.line, self.col) {
            write!(f, ", {l}:{c}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for EvalError {}

/// What an event produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Directives in production order.
    pub directives: Vec<Directive>,
}

/// One pico's installed rulesets, in installation order.
#[derive(Default)]
pub struct PicoRuntime {
    /// The pico's id (`meta:picoId`).
    pub pico_id: Arc<str>,
    instances: Vec<Arc<Instance>>,
    /// Bounds for each evaluation.
    pub limits: Limits,
}

impl PicoRuntime {
    /// An empty pico.
    pub fn new(pico_id: &str) -> PicoRuntime {
        PicoRuntime {
            pico_id: Arc::from(pico_id),
            instances: Vec::new(),
            limits: Limits::default(),
        }
    }

    /// Installed rids in order.
    pub fn installed(&self) -> Vec<&str> {
        self.instances.iter().map(|i| &*i.compiled.rid).collect()
    }

    /// Installs (or re-instantiates) `ruleset` with `config`: evaluates its
    /// keys and globals. `modules` resolves `use module` rids.
    pub fn install(
        &mut self,
        ruleset: Arc<Ruleset>,
        config: Value,
        modules: &dyn Fn(&str) -> Option<Arc<Ruleset>>,
        host: &mut dyn Host,
    ) -> Result<(), EvalError> {
        let inst = self.instantiate(&ruleset, config, &Map::new(), modules, host, 0)?;
        match self
            .instances
            .iter()
            .position(|i| i.compiled.rid == inst.compiled.rid)
        {
            Some(i) => self.instances[i] = inst,
            None => self.instances.push(inst),
        }
        Ok(())
    }

    /// Removes a ruleset (its variables are the engine's to drop).
    pub fn uninstall(&mut self, rid: &str) {
        self.instances.retain(|i| &*i.compiled.rid != rid);
    }

    fn instantiate(
        &self,
        ruleset: &Arc<Ruleset>,
        config: Value,
        overrides: &Map,
        modules: &dyn Fn(&str) -> Option<Arc<Ruleset>>,
        host: &mut dyn Host,
        depth: usize,
    ) -> Result<Arc<Instance>, EvalError> {
        let rid = ruleset.rid().to_string();
        let fail = |message: String, span: Option<Span>| {
            let (line, col) = match span {
                Some(s) => {
                    let (l, c) = ruleset.line_col(s);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            EvalError {
                rid: rid.clone(),
                rule: None,
                line,
                col,
                message,
            }
        };
        if depth > 16 {
            return Err(fail("modules nested too deeply (a cycle?)".into(), None));
        }
        let compiled = ruleset.compiled.clone();
        let globals = Frame::new(compiled.global_frame_size, None);
        let inst_config = config.clone();
        let mut inst = Instance {
            compiled: compiled.clone(),
            ruleset: ruleset.clone(),
            globals: globals.clone(),
            config,
            keys: Map::new(),
            modules: Vec::new(),
            twilio: Map::new(),
        };
        let mut txn = Txn {
            host,
            directives: Vec::new(),
            queue: VecDeque::new(),
            pico_id: self.pico_id.clone(),
            txn_id: Arc::from("install"),
            limits: self.limits,
            ops: 0,
            raised: 0,
            in_query: false,
            query_call_sid: None,
        };
        // Until the instance is complete, expressions run in a shell that
        // has what is known so far (keys first: configuration, `use module
        // ... with` and `twiliokeys` may read them).
        let shell = |keys: &Map| {
            Arc::new(Instance {
                compiled: compiled.clone(),
                ruleset: ruleset.clone(),
                globals: globals.clone(),
                config: inst_config.clone(),
                keys: keys.clone(),
                modules: Vec::new(),
                twilio: Map::new(),
            })
        };
        {
            let mut ev = Eval {
                txn: &mut txn,
                inst: shell(&Map::new()),
                event: None,
                rule_name: None,
                depth: 0,
            };
            for (name, e) in &compiled.keys {
                let v = ev
                    .expr(e, &globals)
                    .map_err(|e| fail(e.message.clone(), e.span))?;
                inst.keys.insert(name.clone(), v);
            }
        }
        let mut ev = Eval {
            txn: &mut txn,
            inst: shell(&inst.keys),
            event: None,
            rule_name: None,
            depth: 0,
        };
        // configuration: `with` overrides, else the defaults
        for (name, slot, default) in &compiled.configure {
            let v = match overrides.get(&**name) {
                Some(v) => v.clone(),
                None => ev
                    .expr(default, &globals)
                    .map_err(|e| fail(e.message.clone(), e.span))?,
            };
            globals.set(*slot, v);
        }
        // modules, configured with `with` (evaluated here)
        for u in &compiled.uses {
            let module = modules(&u.rid)
                .ok_or_else(|| fail(format!("Dependant module not loaded: {}", u.rid), None))?;
            let mut with = Map::new();
            for (k, e) in &u.with {
                let v = ev
                    .expr(e, &globals)
                    .map_err(|e| fail(e.message.clone(), e.span))?;
                with.insert(k.clone(), v);
            }
            let host2: &mut dyn Host = &mut *ev.txn.host;
            let m = self.instantiate(&module, Value::Null, &with, modules, host2, depth + 1)?;
            inst.modules.push(m);
        }
        // classic `use module a8x115 ... with twiliokeys = keys:twilio()`
        for (name, e) in &compiled.twilio_with {
            let v = ev
                .expr(e, &globals)
                .map_err(|e| fail(e.message.clone(), e.span))?;
            inst.twilio.insert(name.clone(), v);
        }
        drop(ev);
        let inst = Arc::new(inst);
        let mut ev = Eval {
            txn: &mut txn,
            inst: inst.clone(),
            event: None,
            rule_name: None,
            depth: 0,
        };
        for (slot, e) in &compiled.globals {
            let v = ev
                .expr(e, &globals)
                .map_err(|e| fail(e.message.clone(), e.span))?;
            globals.set(*slot, v);
        }
        Ok(inst)
    }

    /// Processes one event: every installed ruleset, then raised events,
    /// breadth first (language 9.2).
    pub fn event(
        &mut self,
        event: Event,
        txn_id: &str,
        host: &mut dyn Host,
    ) -> Result<Outcome, EvalError> {
        let event = Arc::new(event);
        let mut txn = Txn {
            host,
            directives: Vec::new(),
            queue: VecDeque::new(),
            pico_id: self.pico_id.clone(),
            txn_id: Arc::from(txn_id),
            limits: self.limits,
            ops: 0,
            raised: 0,
            in_query: false,
            query_call_sid: None,
        };
        let mut schedule: VecDeque<(usize, Arc<Event>)> = (0..self.instances.len())
            .map(|i| (i, event.clone()))
            .collect();
        while let Some((i, ev)) = schedule.pop_front() {
            let inst = self.instances[i].clone();
            self.run_ruleset(&inst, ev, &mut txn)?;
            // raised events go to the end, for every (or one) ruleset
            while let Some(q) = txn.queue.pop_front() {
                let Queued { event, only, .. } = q;
                for (j, other) in self.instances.iter().enumerate() {
                    if only.as_deref().is_none_or(|r| r == &*other.compiled.rid) {
                        schedule.push_back((j, event.clone()));
                    }
                }
            }
        }
        // A call that Twilio reports completed loses its session, after
        // the rules of this (its last) event saw it.
        if let Some(call) = ended_call(&event) {
            txn.host.session_end(call).map_err(|e| EvalError {
                rid: self
                    .instances
                    .first()
                    .map_or_else(String::new, |i| i.compiled.rid.to_string()),
                rule: None,
                line: None,
                col: None,
                message: format!("cannot end the call session of {call}: {e}"),
            })?;
        }
        Ok(Outcome {
            directives: txn.directives,
        })
    }

    fn run_ruleset(
        &self,
        inst: &Arc<Instance>,
        ev: Arc<Event>,
        txn: &mut Txn,
    ) -> Result<(), EvalError> {
        let compiled = inst.compiled.clone();
        for rule in &compiled.rules {
            let err = |e: RuntimeError| {
                let (line, col) = match e.span {
                    Some(s) => {
                        let (l, c) = inst.ruleset.line_col(s);
                        (Some(l), Some(c))
                    }
                    None => {
                        let (l, c) = inst.ruleset.line_col(rule.span);
                        (Some(l), Some(c))
                    }
                };
                EvalError {
                    rid: compiled.rid.to_string(),
                    rule: Some(rule.name.to_string()),
                    line,
                    col,
                    message: e.message,
                }
            };
            let frame = Frame::new(rule.frame_size, Some(inst.globals.clone()));
            let mut eval = Eval {
                txn,
                inst: inst.clone(),
                event: Some(ev.clone()),
                rule_name: Some(rule.name.clone()),
                depth: 0,
            };
            let fired = match &rule.select {
                Selector::Never => false,
                Selector::Where(e) => eval.expr(e, &frame).map_err(err)?.truthy(),
                Selector::When { matcher, wheres } => {
                    if !matcher.salient(&ev.domain, &ev.name) {
                        continue;
                    }
                    let before = eval.txn.host.rule_state(&compiled.rid, &rule.name);
                    let mut state = before.clone().unwrap_or_default();
                    let view = EventView {
                        domain: &ev.domain,
                        name: &ev.name,
                        attrs: &ev.attrs,
                        time_ms: ev.time_ms,
                    };
                    let slots = &rule.setting_slots;
                    let globals = inst.globals.clone();
                    let stepped = {
                        let eval_ref = &mut eval;
                        matcher.step(&mut state, &view, &mut |i, bindings| {
                            let f = Frame::new(rule.frame_size, Some(globals.clone()));
                            for (name, v) in bindings {
                                if let Some((_, s)) = slots.iter().find(|(n, _)| n == name) {
                                    f.set(*s, v.clone());
                                }
                            }
                            Ok(eval_ref.expr(&wheres[i], &f)?.truthy())
                        })
                    };
                    let bindings = stepped.map_err(err)?;
                    // write only a changed state: most events leave it as it was
                    if before.unwrap_or_default() != state {
                        eval.txn
                            .host
                            .set_rule_state(&compiled.rid, &rule.name, &state);
                    }
                    match bindings {
                        None => false,
                        Some(b) => {
                            for (name, v) in b {
                                if let Some((_, s)) = slots.iter().find(|(n, _)| *n == name) {
                                    frame.set(*s, v);
                                }
                            }
                            true
                        }
                    }
                }
            };
            if !fired {
                continue;
            }
            match run_body(&mut eval, rule, &frame).map_err(err)? {
                Flow::Next => {}
                Flow::Last | Flow::Stop => break,
            }
        }
        Ok(())
    }

    /// Runs a shared function (or reads a shared value) of `rid`.
    pub fn query(
        &mut self,
        rid: &str,
        name: &str,
        args: &Map,
        host: &mut dyn Host,
    ) -> Result<Value, QueryError> {
        let inst = self
            .instances
            .iter()
            .find(|i| &*i.compiled.rid == rid)
            .cloned()
            .ok_or_else(|| QueryError::NotInstalled(rid.to_string()))?;
        if !inst.compiled.shares.iter().any(|s| &**s == name) && name != "__testing" {
            return Err(QueryError::NotShared(rid.to_string(), name.to_string()));
        }
        let Some(slot) = inst.compiled.global(name) else {
            if name == "__testing" {
                return Ok(inst.compiled.testing.clone());
            }
            return Err(QueryError::NotShared(rid.to_string(), name.to_string()));
        };
        let value = inst.globals.get(ir::Slot { up: 0, index: slot });
        let mut txn = Txn {
            host,
            directives: Vec::new(),
            queue: VecDeque::new(),
            pico_id: self.pico_id.clone(),
            txn_id: Arc::from("query"),
            limits: self.limits,
            ops: 0,
            raised: 0,
            in_query: true,
            query_call_sid: match args.get("CallSid") {
                Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            },
        };
        let mut eval = Eval {
            txn: &mut txn,
            inst: inst.clone(),
            event: None,
            rule_name: None,
            depth: 0,
        };
        match &value {
            Value::Function(c) => {
                let params = c.params().to_vec();
                let a: Vec<Value> = params
                    .iter()
                    .map(|p| args.get(&**p).cloned().unwrap_or(Value::Null))
                    .collect();
                eval.call_value(&value, a, Span::default()).map_err(|e| {
                    let (line, col) = e.span.map_or((None, None), |s| {
                        let (l, c) = inst.ruleset.line_col(s);
                        (Some(l), Some(c))
                    });
                    QueryError::Runtime(EvalError {
                        rid: rid.to_string(),
                        rule: None,
                        line,
                        col,
                        message: e.message,
                    })
                })
            }
            other => Ok(other.clone()),
        }
    }
}

/// The call whose session ends with this event: a `twilio` event whose
/// `CallStatus` is `completed` (Twilio's last status callback of a call).
pub fn ended_call(event: &Event) -> Option<&str> {
    if event.domain != "twilio" {
        return None;
    }
    match (event.attrs.get("CallStatus"), event.attrs.get("CallSid")) {
        (Some(Value::Str(status)), Some(Value::Str(sid)))
            if &**status == "completed" && !sid.is_empty() =>
        {
            Some(sid)
        }
        _ => None,
    }
}

/// Why a query failed.
#[derive(Debug)]
pub enum QueryError {
    /// `Pico doesn't have <rid> installed.`
    NotInstalled(String),
    /// `Not shared: <rid>/<name>`
    NotShared(String, String),
    /// a runtime error in the function
    Runtime(EvalError),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::NotInstalled(rid) => write!(f, "Pico doesn't have {rid} installed."),
            QueryError::NotShared(rid, name) => write!(f, "Not shared: {rid}/{name}"),
            QueryError::Runtime(e) => write!(f, "{e}"),
        }
    }
}

/// The body of a fired rule: foreach loops around pre, actions, postlude.
fn run_body(eval: &mut Eval, rule: &ir::Rule, frame: &Arc<Frame>) -> Result<Flow, RuntimeError> {
    if rule.foreach.is_empty() {
        return run_iteration(eval, rule, frame, true);
    }
    let mut flow = Flow::Next;
    foreach_level(eval, rule, 0, frame.clone(), true, &mut flow)?;
    Ok(flow)
}

fn foreach_level(
    eval: &mut Eval,
    rule: &ir::Rule,
    level: usize,
    base: Arc<Frame>,
    last_so_far: bool,
    flow: &mut Flow,
) -> Result<(), RuntimeError> {
    let (collection, slots) = &rule.foreach[level];
    let items: Vec<(Value, Value)> = match eval.expr(collection, &base)? {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), Value::Number(i as f64)))
            .collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (v.clone(), Value::from(&**k)))
            .collect(),
        _ => Vec::new(),
    };
    let n = items.len();
    for (i, (v, k)) in items.into_iter().enumerate() {
        // each iteration gets its own frame, with what was bound so far
        let frame = base.fork(rule.frame_size);
        for (j, s) in slots.iter().enumerate() {
            frame.set(
                *s,
                match j {
                    0 => v.clone(),
                    1 => k.clone(),
                    _ => Value::Null,
                },
            );
        }
        let last = last_so_far && i + 1 == n;
        if level + 1 < rule.foreach.len() {
            foreach_level(eval, rule, level + 1, frame, last, flow)?;
        } else {
            *flow = run_iteration(eval, rule, &frame, last)?;
        }
        if *flow != Flow::Next {
            return Ok(());
        }
    }
    Ok(())
}

fn run_iteration(
    eval: &mut Eval,
    rule: &ir::Rule,
    frame: &Arc<Frame>,
    last: bool,
) -> Result<Flow, RuntimeError> {
    for (slot, e) in &rule.pre {
        let v = eval.expr(e, frame)?;
        frame.set(*slot, v);
    }
    let fired = match &rule.actions {
        Some(b) => eval.action_block(b, frame)?,
        None => true,
    };
    for (when, stmts) in &rule.postlude {
        let run = match when {
            When::Fired => fired,
            When::NotFired => !fired,
            When::Always => true,
        };
        if run {
            let flow = eval.stmts(stmts, frame, last)?;
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
    }
    Ok(Flow::Next)
}
