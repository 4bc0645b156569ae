//! What an evaluation sees of the world: the [`Host`] the engine passes in
//! (core state, clock, logs, schedules) with its integrations' traits
//! ([`TwilioHost`], [`MqttHost`], [`HttpHost`]), and the data that crosses
//! it: [`Event`]s in, [`Directive`]s and integration requests out.

use crate::runtime::select::RuleState;
use crate::runtime::{Map, RuntimeError, Value};
use crate::syntax::ast::Level;
use std::sync::Arc;
/// An event as the engine received it (docs/spec/krl-language.md 5).
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

/// A directive of the event's response (docs/spec/krl-language.md 9.5).
#[derive(Clone, Debug, PartialEq)]
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
    /// The native module whose action recorded it for its own reply
    /// (`Some("twilio")`: a TwiML verb, `name` the verb, `options` its
    /// attributes and, under [`DIRECTIVE_ARG`], the positional argument);
    /// `None` for `send_directive`.
    pub module: Option<&'static str>,
    /// 1-based line and column of the action that recorded it (module
    /// directives, for errors found when the reply is written); `None` for
    /// `send_directive`.
    pub line_col: Option<(usize, usize)>,
}

/// The options key of a module directive that holds the action's
/// positional argument (a TwiML verb's text, or its `action`/`length`).
pub const DIRECTIVE_ARG: &str = "_arg";

impl Directive {
    /// As the map `send_directive` returns.
    pub fn to_value(&self) -> Value {
        let k = keys();
        let mut meta = crate::runtime::map_with_capacity(3);
        meta.insert(k.rid.clone(), Value::Str(self.rid.clone()));
        meta.insert(k.rule_name.clone(), Value::Str(self.rule_name.clone()));
        meta.insert(k.txn_id.clone(), Value::Str(self.txn_id.clone()));
        let mut m = crate::runtime::map_with_capacity(4);
        m.insert(k.type_.clone(), Value::Str(k.directive.clone()));
        m.insert(k.name.clone(), Value::Str(self.name.clone()));
        m.insert(k.options.clone(), self.options.clone());
        m.insert(k.meta.clone(), Value::from(meta));
        Value::from(m)
    }

    /// As JSON in the event response (`{"name","options","meta"}`); the
    /// same text as serializing the directive itself.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": &*self.name,
            "options": self.options.to_json(),
            "meta": {"rid": &*self.rid, "rule_name": &*self.rule_name, "txnId": &*self.txn_id},
        })
    }
}

/// A directive serializes as its [`Directive::to_json`], written as it
/// goes (an event's answer) rather than built first.
impl serde::Serialize for Directive {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Meta<'a>(&'a Directive);
        impl serde::Serialize for Meta<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("rid", &*self.0.rid)?;
                m.serialize_entry("rule_name", &*self.0.rule_name)?;
                m.serialize_entry("txnId", &*self.0.txn_id)?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("name", &*self.name)?;
        m.serialize_entry("options", &self.options.as_json())?;
        m.serialize_entry("meta", &Meta(self))?;
        m.end()
    }
}

/// The keys of a directive's map, made once: `to_value` runs for every
/// `send_directive`.
struct DirectiveKeys {
    type_: Arc<str>,
    directive: Arc<str>,
    name: Arc<str>,
    options: Arc<str>,
    meta: Arc<str>,
    rid: Arc<str>,
    rule_name: Arc<str>,
    txn_id: Arc<str>,
}

fn keys() -> &'static DirectiveKeys {
    static KEYS: std::sync::OnceLock<DirectiveKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| DirectiveKeys {
        type_: Arc::from("type"),
        directive: Arc::from("directive"),
        name: Arc::from("name"),
        options: Arc::from("options"),
        meta: Arc::from("meta"),
        rid: Arc::from("rid"),
        rule_name: Arc::from("rule_name"),
        txn_id: Arc::from("txnId"),
    })
}

pub use crate::runtime::pattern::LONG_WORK_STEPS;

/// What the engine provides to an evaluation: the pico's state, the clock,
/// randomness, logs, schedules and events to other picos. Writes are
/// buffered by the engine and committed atomically when the evaluation
/// ends. Integrations (phone calls, MQTT, outbound HTTP) are reached
/// through their own traits, which a host offers by overriding
/// [`Host::twilio`], [`Host::mqtt`] and [`Host::http`]; the generic event
/// loop knows nothing of them.
pub trait Host {
    /// Reads an entity variable (null when unset).
    fn ent_get(&mut self, rid: &str, name: &str) -> Result<Value, RuntimeError>;
    /// Writes (or with `None` deletes) an entity variable.
    fn ent_put(&mut self, rid: &str, name: &str, value: Option<&Value>)
        -> Result<(), RuntimeError>;
    /// Reads `ent:name{path}`. The default reads the whole variable; a
    /// host that stores maps by entry answers from the entry alone.
    fn ent_get_path(&mut self, rid: &str, name: &str, path: &Value) -> Result<Value, RuntimeError> {
        Ok(crate::runtime::paths::path_get(
            &self.ent_get(rid, name)?,
            path,
        ))
    }
    /// Writes `ent:name{path} := value` (with `None`: `clear
    /// ent:name{path}`). The default rewrites the whole variable; a host
    /// that stores maps by entry writes the entry alone.
    fn ent_put_path(
        &mut self,
        rid: &str,
        name: &str,
        path: &Value,
        value: Option<&Value>,
    ) -> Result<(), RuntimeError> {
        let current = self.ent_get(rid, name)?;
        let updated = match value {
            Some(v) => crate::runtime::paths::path_set(&current, path, v.clone()),
            None => crate::runtime::paths::path_delete(&current, path),
        };
        self.ent_put(rid, name, Some(&updated))
    }
    /// What to call once when an evaluation has run long (about
    /// [`LONG_WORK_STEPS`] steps of expressions or of one regex search):
    /// a host that runs evaluations on an async runtime's worker lets the
    /// worker's other tasks move elsewhere. `None` (the default): nothing.
    fn long_work_hook(&mut self) -> Option<fn()> {
        None
    }
    /// Reads an app variable.
    fn app_get(&mut self, rid: &str, name: &str) -> Result<Value, RuntimeError>;
    /// Writes an app variable.
    fn app_put(&mut self, rid: &str, name: &str, value: Option<&Value>)
        -> Result<(), RuntimeError>;
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
    /// A rule was selected by the event being processed (for the pico's
    /// log, `ctx:logs()`); the default ignores it.
    fn rule_selected(&mut self, _rid: &Arc<str>, _rule: &Arc<str>) {}
    /// A selected rule's actions ran (`fired`) or its condition was false;
    /// the default ignores it.
    fn rule_fired(&mut self, _rid: &Arc<str>, _rule: &Arc<str>, _fired: bool) {}
    /// A rule raised an event (`raise`, `ctx:raiseEvent`; for one ruleset
    /// with `only`); the default ignores it.
    fn event_raised(&mut self, _domain: &str, _name: &str, _attrs: &Map, _only: Option<&str>) {}
    /// A new unique id (schedule entries).
    fn new_id(&mut self) -> String;
    /// Stores a schedule entry of `rid` (docs/spec/krl-language.md 9.7);
    /// the engine fires it.
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
    /// The engine's public base URL (`meta:host`), when it has one.
    fn base_url(&mut self) -> Option<String> {
        None
    }
    /// Phone calls and Twilio's REST API, when this host has them.
    fn twilio(&mut self) -> Option<&mut dyn TwilioHost> {
        None
    }
    /// MQTT, when this host has it.
    fn mqtt(&mut self) -> Option<&mut dyn MqttHost> {
        None
    }
    /// Outbound HTTP, when this host has it.
    fn http(&mut self) -> Option<&mut dyn HttpHost> {
        None
    }
    /// The pico's family, channels and rulesets (`ctx:`), when this host
    /// has them.
    fn ctx(&mut self) -> Option<&mut dyn CtxHost> {
        None
    }
}

/// The pico among the others, as the Pico Engine's `ctx:` module sees it:
/// its channels, family, installed rulesets, and synchronous calls to
/// other picos. Values are KRL values in the Pico Engine's shapes (a
/// channel is `{id, tags, eventPolicy, queryPolicy, familyChannelPicoID}`).
/// Errors are the runtime errors the rule gets.
pub trait CtxHost {
    /// `ctx:channels`: the pico's channels, sorted by id.
    fn channels(&mut self) -> Result<Value, RuntimeError>;
    /// `ctx:parent`: the family channel to the parent, null for the root.
    fn parent(&mut self) -> Result<Value, RuntimeError>;
    /// `ctx:children`: the family channels to the children.
    fn children(&mut self) -> Result<Value, RuntimeError>;
    /// `ctx:rulesets`: `{rid, url, config, meta}` of each installed ruleset.
    fn rulesets(&mut self) -> Result<Value, RuntimeError>;
    /// The URL `rid` was installed from on this pico (`ctx:rid_url`).
    fn rid_url(&mut self, rid: &str) -> Result<Value, RuntimeError>;
    /// `ctx:newChannel`: answers the new channel.
    fn new_channel(
        &mut self,
        tags: &Value,
        event_policy: &Value,
        query_policy: &Value,
    ) -> Result<Value, RuntimeError>;
    /// `ctx:putChannel`: changes a channel of this pico.
    fn put_channel(
        &mut self,
        eci: &str,
        tags: &Value,
        event_policy: &Value,
        query_policy: &Value,
    ) -> Result<Value, RuntimeError>;
    /// `ctx:upsertChannel`: changes the channel with these tags, or makes it.
    fn upsert_channel(
        &mut self,
        tags: &Value,
        event_policy: &Value,
        query_policy: &Value,
    ) -> Result<Value, RuntimeError>;
    /// `ctx:delChannel`.
    fn del_channel(&mut self, eci: &str) -> Result<(), RuntimeError>;
    /// `ctx:newPico(rulesets)`: a child with these rulesets (`[{url,
    /// config}]`) installed; answers the child's family channel.
    fn new_pico(&mut self, rulesets: &Value) -> Result<Value, RuntimeError>;
    /// `ctx:delPico(eci)`: deletes a child (by its family channel) and its
    /// subtree.
    fn del_pico(&mut self, eci: &str) -> Result<(), RuntimeError>;
    /// `ctx:query`: a shared function of another pico, called as this pico
    /// and waited for.
    fn query(
        &mut self,
        eci: &str,
        rid: &str,
        name: &str,
        args: &Map,
    ) -> Result<Value, RuntimeError>;
    /// `ctx:eventQuery`: an event to another pico, then a query there.
    #[allow(clippy::too_many_arguments)]
    fn event_query(
        &mut self,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: &Map,
        rid: &str,
        query_name: &str,
        args: &Map,
    ) -> Result<Value, RuntimeError>;
    /// `ctx:event(..., host)`, `event:send(..., host)`: an event to a
    /// channel of another engine (`{host}/c/{eci}/event/{domain}/{name}`),
    /// sent after the event commits.
    fn send_remote(
        &mut self,
        host: &str,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: Map,
    ) -> Result<(), RuntimeError>;
    /// Registers (again) the ruleset at `url` (`ctx:flush`, and the first
    /// `ctx:install` of a URL); answers its rid.
    fn flush(&mut self, url: &str) -> Result<String, RuntimeError>;
    /// The rid registered from `url`, registering it first when it is not.
    fn load(&mut self, url: &str) -> Result<String, RuntimeError>;
    /// `ctx:logs()`: the pico's recent log entries.
    fn logs(&mut self) -> Result<Value, RuntimeError>;
}

/// Call sessions, the Twilio REST outbox and static files' URLs.
pub trait TwilioHost {
    /// Reads a call session variable (`session:name`): one ruleset, one
    /// pico, one call (`call_sid`, the event's `CallSid`). Null when unset
    /// or when the session has expired.
    fn session_get(&mut self, rid: &str, call_sid: &str, name: &str)
        -> Result<Value, RuntimeError>;
    /// Writes (or with `None` deletes) a call session variable.
    fn session_put(
        &mut self,
        rid: &str,
        call_sid: &str,
        name: &str,
        value: Option<&Value>,
    ) -> Result<(), RuntimeError>;
    /// The call has ended: drop its session, every ruleset's, with the
    /// event's other writes.
    fn session_end(&mut self, call_sid: &str) -> Result<(), RuntimeError>;
    /// Queues a Twilio REST request (`twilio:send_sms`, `twilio:call`,
    /// `twilio:redirect_call`) in the engine's durable outbox: it is stored
    /// with the event's writes and sent after they commit; the outcome comes
    /// back as an event (`twilio sms_sent` / `twilio sms_failed`, ...).
    /// Returns what the rule gets (at least the outbox entry's `id`).
    fn twilio_rest(&mut self, request: &TwilioRequest) -> Result<Value, RuntimeError>;
    /// `twilio:url_for(path)`: the absolute URL under which the engine
    /// serves the static file `path` (relative to its static folder), with
    /// a fingerprint of the file's content (`?v=<hash>`) so that it changes
    /// when the file does.
    fn static_url(&mut self, path: &str) -> Result<Value, RuntimeError>;
}

/// The engine's MQTT connection.
pub trait MqttHost {
    /// `mqtt:publish(topic, payload) with qos, retain`: the request is
    /// validated; the engine stores it with the event's writes and sends it
    /// after they commit. Returns what the rule gets.
    fn mqtt_publish(&mut self, request: &MqttPublish) -> Result<Value, RuntimeError>;
    /// `mqtt:subscribe(filter) with qos`: the pico subscribes to a (valid)
    /// topic filter; each message on it becomes an `mqtt message` event.
    fn mqtt_subscribe(&mut self, filter: &str, qos: u8) -> Result<Value, RuntimeError>;
    /// `mqtt:unsubscribe(filter)`: the pico drops a subscription.
    fn mqtt_unsubscribe(&mut self, filter: &str) -> Result<Value, RuntimeError>;
}

/// Outbound HTTP.
pub trait HttpHost {
    /// Makes an HTTP request (`http:get` ... `http:delete`) and returns the
    /// response map of docs/spec/krl-stdlib.md 8.6 (`status_code`,
    /// `status_line`, `content`, `content_type`, `content_length`,
    /// `headers`).
    fn request(&mut self, request: &HttpRequest) -> Result<Value, RuntimeError>;
}

/// A Twilio REST request from a rule (issue: durable outbox).
#[derive(Clone, Debug)]
pub struct TwilioRequest {
    /// `send_sms`, `call` or `redirect_call`.
    pub action: String,
    /// The form parameters Twilio's API takes (`To`, `From`, `Body`,
    /// `MediaUrl`, `Url`, ...), URLs still as the rule wrote them (an event
    /// type such as `"menu"` is resolved by the engine, docs/spec/krl-language.md 10.9.4).
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

/// An `http:` request with its options decoded (docs/spec/krl-stdlib.md 8.6).
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

/// An `mqtt:publish` from a rule, validated: the engine stores it with the
/// event's writes and sends it after they commit.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttPublish {
    /// The topic (no wildcards).
    pub topic: String,
    /// The payload: a string as is, a map or array as its JSON text, any
    /// other value as its JSON.
    pub payload: String,
    /// 0 (at most once) or 1 (at least once).
    pub qos: u8,
    /// Ask the broker to retain it.
    pub retain: bool,
    /// The ruleset asking.
    pub rid: String,
    /// The rule asking, when in one.
    pub rule: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directive_serializes_as_its_to_json_and_its_value_has_the_same_fields() {
        let options: Map = [
            (Arc::from("b"), Value::from(1.0)),
            (Arc::from("a"), Value::from(vec![Value::from("x\"y")])),
        ]
        .into_iter()
        .collect();
        let d = Directive {
            name: Arc::from("say"),
            options: Value::from(options),
            rid: Arc::from("my.rid"),
            rule_name: Arc::from("r"),
            txn_id: Arc::from("t1"),
            module: None,
            line_col: None,
        };
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(text, serde_json::to_string(&d.to_json()).unwrap());
        assert_eq!(
            text,
            r#"{"name":"say","options":{"b":1,"a":["x\"y"]},"meta":{"rid":"my.rid","rule_name":"r","txnId":"t1"}}"#
        );
        assert_eq!(
            serde_json::to_string(&d.to_value().to_json()).unwrap(),
            r#"{"type":"directive","name":"say","options":{"b":1,"a":["x\"y"]},"meta":{"rid":"my.rid","rule_name":"r","txnId":"t1"}}"#
        );
    }
}
