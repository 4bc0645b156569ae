//! `mqtt:` — the actions, and the MQTT topic rules the engine and
//! the server share: which names each action takes, what a valid topic
//! and topic filter are (MQTT 3.1.1 section 4.7), and whether a filter
//! matches a topic. Pure: the server owns the connection (docs/mqtt.md).

use super::{Member, Module, NativeArgs, NativeCx};
use crate::host::MqttPublish;
use crate::native::CheckCall;
use crate::runtime::{RuntimeError, Value};
use crate::syntax::ast::Span;

/// `mqtt:`.
pub static MODULE: Module = Module {
    domain: "mqtt",
    doc: "MQTT: publish to topics, subscribe the pico to topic filters (docs/mqtt.md).",
    members: MEMBERS,
    unknown: super::Unknown::Refused,
    where_attrs: &[("message", MESSAGE_ATTRS)],
    ..Module::BLANK
};

/// The attributes of the engine's own `mqtt message` event. In the `where`
/// clause of a `select when mqtt message`, each of these names, when
/// nothing else defines it, reads that attribute (`where payload{"Type"} ==
/// "Outgoing"` is `where event:attrs{"payload"}{"Type"} == "Outgoing"`).
pub const MESSAGE_ATTRS: &[&str] = &["topic", "payload", "qos", "retain"];

static MEMBERS: &[Member] = &[
    Member {
        doc: "mqtt:publish(topic, payload, qos, retain): publishes after the event commits",
        check: Some(check_options),
        ..Member::action("publish", PUBLISH_PARAMS, |cx, a| action(cx, "publish", a))
    },
    Member {
        doc: "mqtt:subscribe(filter, qos): the pico gets each message on the filter as `mqtt message`",
        check: Some(check_options),
        ..Member::action("subscribe", SUBSCRIBE_PARAMS, |cx, a| action(cx, "subscribe", a))
    },
    Member {
        doc: "mqtt:unsubscribe(filter): drops a subscription",
        check: Some(check_options),
        ..Member::action("unsubscribe", UNSUBSCRIBE_PARAMS, |cx, a| {
            action(cx, "unsubscribe", a)
        })
    },
];

/// Every named argument or `with` modifier is one the action takes, so a
/// typo such as `with qso = 1` is refused at registration, not ignored.
fn check_options(call: &CheckCall) -> Vec<(Span, String)> {
    let m = call.member;
    call.named
        .iter()
        .filter(|(n, ..)| !m.params.contains(n))
        .map(|(n, span, ..)| (*span, no_option(m.name, n, m.params)))
        .collect()
}

fn no_option(action: &str, name: &str, params: &[&str]) -> String {
    format!(
        "`mqtt:{action}` has no option `{name}` (it takes {})",
        params.join(", ")
    )
}

/// `mqtt:publish`, `mqtt:subscribe`, `mqtt:unsubscribe`: arguments
/// checked here (topic, filter, qos, retain), the rest is the host's.
fn action(cx: &mut dyn NativeCx, action: &str, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let params = params(action).unwrap_or(&[]);
    if let Some(k) = a.named.keys().next() {
        return Err(RuntimeError::new(no_option(action, k, params)));
    }
    let text = |what: &str, v: Value| -> Result<String, RuntimeError> {
        match v {
            Value::Str(s) => Ok(s.to_string()),
            Value::Null => Err(RuntimeError::new(format!("mqtt:{action} needs a {what}"))),
            other => Err(RuntimeError::type_error(format!(
                "mqtt:{action}: the {what} must be a string, not {}",
                other.to_json()
            ))),
        }
    };
    let no_mqtt = |what: String| {
        RuntimeError::new(format!(
            "not supported here: mqtt:{action} {what} (this engine has no MQTT)"
        ))
    };
    match action {
        "publish" => {
            let topic = text("topic", a.arg(0))?;
            check_topic(&topic).map_err(|e| RuntimeError::new(format!("mqtt:publish: {e}")))?;
            let qos = qos(action, &a.arg(2), 0)?;
            let retain = match a.arg(3) {
                Value::Null => false,
                Value::Bool(b) => b,
                other => {
                    return Err(RuntimeError::new(format!(
                        "mqtt:publish: retain must be true or false, not {}",
                        other.to_json()
                    )))
                }
            };
            let req = MqttPublish {
                payload: payload_text(&a.arg(1)),
                qos,
                retain,
                rid: cx.rid().to_string(),
                rule: cx.rule_name().map(|r| r.to_string()),
                topic,
            };
            match cx.host().mqtt() {
                Some(host) => host.mqtt_publish(&req),
                None => Err(no_mqtt(format!("to {:?}", req.topic))),
            }
        }
        _ => {
            let filter = text("topic filter", a.arg(0))?;
            check_filter(&filter).map_err(|e| RuntimeError::new(format!("mqtt:{action}: {e}")))?;
            let qos = match action {
                "subscribe" => qos(action, &a.arg(1), 1)?,
                _ => 0,
            };
            match (cx.host().mqtt(), action) {
                (Some(host), "subscribe") => host.mqtt_subscribe(&filter, qos),
                (Some(host), _) => host.mqtt_unsubscribe(&filter),
                (None, "subscribe") => Err(no_mqtt(format!("to {filter:?}"))),
                (None, _) => Err(no_mqtt(format!("from {filter:?}"))),
            }
        }
    }
}

/// The names `mqtt:publish` takes, in parameter order (positional or
/// named, `with` modifiers being named arguments).
pub const PUBLISH_PARAMS: &[&str] = &["topic", "payload", "qos", "retain"];
/// The names `mqtt:subscribe` takes.
pub const SUBSCRIBE_PARAMS: &[&str] = &["filter", "qos"];
/// The names `mqtt:unsubscribe` takes.
pub const UNSUBSCRIBE_PARAMS: &[&str] = &["filter"];

/// The parameter names of the `mqtt:` action `name`, if it is one.
pub fn params(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "publish" => Some(PUBLISH_PARAMS),
        "subscribe" => Some(SUBSCRIBE_PARAMS),
        "unsubscribe" => Some(UNSUBSCRIBE_PARAMS),
        _ => None,
    }
}

/// Longest topic or filter MQTT allows (a two-byte length prefix).
pub const MAX_TOPIC_BYTES: usize = 65_535;

/// A topic name to publish to: not empty, at most 65,535 bytes, no NUL,
/// no wildcard (`+`, `#`).
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("the topic is empty".into());
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(format!(
            "the topic is {} bytes long; MQTT allows at most {MAX_TOPIC_BYTES}",
            topic.len()
        ));
    }
    if topic.contains('\0') {
        return Err(format!("the topic {topic:?} contains a NUL character"));
    }
    if topic.contains(['+', '#']) {
        return Err(format!(
            "the topic {topic:?} contains a wildcard (+ or #): wildcards are for \
             subscriptions, a message goes to one topic"
        ));
    }
    Ok(())
}

/// A topic filter to subscribe to: not empty, at most 65,535 bytes, no
/// NUL; `+` only as a whole level, `#` only as the whole last level.
pub fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("the topic filter is empty".into());
    }
    if filter.len() > MAX_TOPIC_BYTES {
        return Err(format!(
            "the topic filter is {} bytes long; MQTT allows at most {MAX_TOPIC_BYTES}",
            filter.len()
        ));
    }
    if filter.contains('\0') {
        return Err(format!(
            "the topic filter {filter:?} contains a NUL character"
        ));
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "the topic filter {filter:?} has # other than as its whole last level \
                 (write a/b/#)"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "the topic filter {filter:?} has + inside a level (+ must be a whole \
                 level, as in a/+/c)"
            ));
        }
    }
    Ok(())
}

/// Does `filter` (valid, see [`check_filter`]) match `topic`? Topics that
/// start with `$` are matched only by filters that spell that first level
/// out (MQTT 4.7.2).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The payload bytes of a KRL value: a string as is, anything else as its
/// JSON text (a map or array as JSON, `3` as `3`, null as `null`).
pub fn payload_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_json().to_string(),
    }
}

/// `qos`: null is the default `dflt`; 0 and 1 are fine; 2 and anything
/// else is an error saying what is allowed.
pub fn qos(action: &str, v: &Value, dflt: u8) -> Result<u8, RuntimeError> {
    match v {
        Value::Null => Ok(dflt),
        Value::Number(n) if *n == 0.0 => Ok(0),
        Value::Number(n) if *n == 1.0 => Ok(1),
        Value::Number(n) if *n == 2.0 => Err(RuntimeError::new(format!(
            "mqtt:{action}: qos 2 (exactly once) is not supported: use qos = 0 or qos = 1"
        ))),
        other => Err(RuntimeError::new(format!(
            "mqtt:{action}: qos must be 0 or 1, not {}",
            other.to_json()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_refuse_wildcards_and_emptiness() {
        assert!(check_topic("twilio").is_ok());
        assert!(check_topic("a/b/c").is_ok());
        assert!(check_topic("").unwrap_err().contains("empty"));
        assert!(check_topic("a/+/c").unwrap_err().contains("wildcard"));
        assert!(check_topic("a/#").unwrap_err().contains("wildcard"));
        assert!(check_topic("a\0b").unwrap_err().contains("NUL"));
    }

    #[test]
    fn filters_follow_the_wildcard_rules() {
        for ok in ["#", "+", "a/#", "a/+/c", "+/+", "twilio", "/", "a//b"] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a/b#", "a+/b", "a/+b", "#/a"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        assert!(matches("twilio", "twilio"));
        assert!(!matches("twilio", "twilio/x"));
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "x/y"));
        assert!(matches("+/+", "/x"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
    }

    #[test]
    fn payloads_and_qos() {
        assert_eq!(payload_text(&Value::from("hi")), "hi");
        let m = Value::from_json(&serde_json::json!({"Type": "Incoming", "n": 1}));
        assert_eq!(payload_text(&m), r#"{"Type":"Incoming","n":1}"#);
        assert_eq!(payload_text(&Value::Number(3.0)), "3");
        assert_eq!(payload_text(&Value::Null), "null");
        assert_eq!(qos("publish", &Value::Null, 0).unwrap(), 0);
        assert_eq!(qos("publish", &Value::Number(1.0), 0).unwrap(), 1);
        let e = qos("publish", &Value::Number(2.0), 0).unwrap_err();
        assert!(e.message.contains("qos 2"), "{}", e.message);
        assert!(qos("publish", &Value::from("1"), 0).is_err());
    }
}
