//! The `mqtt:` actions in memory: what reaches the host, the argument
//! checks (topic, filter, qos, retain) as runtime errors with positions,
//! the checker's refusal of unknown options, and the default of engines
//! without MQTT.

use krl_lang::engine::memory::MemoryHost;
use krl_lang::engine::{compile, EvalError, Event, Host, PicoRuntime};
use krl_lang::runtime::select::RuleState;
use krl_lang::runtime::{Map, RuntimeError, Value};
use krl_lang::syntax::ast::Level;
use serde_json::json;

const RS: &str = r#"
ruleset io.example.mqtt {
  rule pub {
    select when t pub
    mqtt:publish(event:attrs{"topic"}, event:attrs{"payload"}) with
      qos = event:attrs{"qos"} and retain = event:attrs{"retain"}
  }
  rule pub_named {
    select when t named
    mqtt:publish(topic = "a/b", payload = {"Type": "Incoming", "n": [1, 2]}, qos = 1)
  }
  rule sub {
    select when t sub
    mqtt:subscribe(event:attrs{"filter"}, qos = event:attrs{"qos"})
  }
  rule unsub {
    select when t unsub
    mqtt:unsubscribe(event:attrs{"filter"})
  }
}
"#;

fn run(host: &mut dyn Host, name: &str, attrs: serde_json::Value) -> Result<(), EvalError> {
    let rs = compile(RS).unwrap_or_else(|d| panic!("{d:?}"));
    let mut pico = PicoRuntime::new("p1");
    pico.install(rs, Value::Null, &|_| None, host)
        .expect("installs");
    let attrs = match Value::from_json(&attrs) {
        Value::Map(m) => (*m).clone(),
        _ => Map::default(),
    };
    let ev = Event {
        domain: "t".into(),
        name: name.into(),
        attrs,
        eci: "eci1".into(),
        eid: "e1".into(),
        time_ms: 0.0,
    };
    pico.event(ev, "txn", host).map(|_| ())
}

#[test]
fn publish_reaches_the_host_with_payload_text_qos_and_retain() {
    let mut host = MemoryHost::new(0.0);
    run(
        &mut host,
        "pub",
        json!({"topic": "twilio", "payload": {"Type": "Incoming", "Body": "hi"}, "qos": 1, "retain": true}),
    )
    .unwrap();
    run(
        &mut host,
        "pub",
        json!({"topic": "t/x", "payload": "plain text"}),
    )
    .unwrap();
    run(&mut host, "pub", json!({"topic": "t/n", "payload": 42})).unwrap();
    run(&mut host, "named", json!({})).unwrap();
    let got: Vec<(String, String, u8, bool)> = host
        .mqtt_published
        .iter()
        .map(|p| (p.topic.clone(), p.payload.clone(), p.qos, p.retain))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "twilio".into(),
                r#"{"Type":"Incoming","Body":"hi"}"#.into(),
                1,
                true
            ),
            ("t/x".into(), "plain text".into(), 0, false),
            ("t/n".into(), "42".into(), 0, false),
            (
                "a/b".into(),
                r#"{"Type":"Incoming","n":[1,2]}"#.into(),
                1,
                false
            ),
        ]
    );
    assert_eq!(host.mqtt_published[0].rid, "io.example.mqtt");
    assert_eq!(host.mqtt_published[0].rule.as_deref(), Some("pub"));
}

#[test]
fn bad_publish_arguments_are_runtime_errors_naming_the_rule() {
    let cases = [
        (
            json!({"topic": "x", "payload": 1, "qos": 2}),
            "qos 2 (exactly once) is not supported",
        ),
        (
            json!({"topic": "x", "payload": 1, "qos": "high"}),
            "qos must be 0 or 1",
        ),
        (json!({"topic": "", "payload": 1}), "the topic is empty"),
        (json!({"topic": "a/+", "payload": 1}), "wildcard"),
        (json!({"topic": "a/#", "payload": 1}), "wildcard"),
        (json!({"payload": 1}), "mqtt:publish needs a topic"),
        (
            json!({"topic": 7, "payload": 1}),
            "the topic must be a string",
        ),
        (
            json!({"topic": "x", "payload": 1, "retain": "yes"}),
            "retain must be true or false",
        ),
    ];
    for (attrs, want) in cases {
        let mut host = MemoryHost::new(0.0);
        let e = run(&mut host, "pub", attrs.clone()).unwrap_err();
        assert!(e.message.contains(want), "{attrs}: {e}");
        assert_eq!(e.rid, "io.example.mqtt");
        assert_eq!(e.rule.as_deref(), Some("pub"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(host.mqtt_published.is_empty());
    }
}

#[test]
fn subscribe_and_unsubscribe_check_the_filter() {
    let mut host = MemoryHost::new(0.0);
    run(&mut host, "sub", json!({"filter": "twilio"})).unwrap();
    run(
        &mut host,
        "sub",
        json!({"filter": "things/+/shadow/#", "qos": 0}),
    )
    .unwrap();
    assert_eq!(
        host.mqtt_filters,
        vec![("twilio".into(), 1), ("things/+/shadow/#".into(), 0)]
    );
    run(&mut host, "unsub", json!({"filter": "twilio"})).unwrap();
    assert_eq!(host.mqtt_filters, vec![("things/+/shadow/#".into(), 0)]);
    for (attrs, want) in [
        (
            json!({"filter": "a/#/b"}),
            "# other than as its whole last level",
        ),
        (json!({"filter": "a+"}), "+ inside a level"),
        (json!({"filter": ""}), "empty"),
        (json!({"filter": "x", "qos": 2}), "qos 2"),
        (json!({}), "mqtt:subscribe needs a topic filter"),
    ] {
        let e = run(&mut host, "sub", attrs.clone()).unwrap_err();
        assert!(e.message.contains(want), "{attrs}: {e}");
    }
}

#[test]
fn unknown_options_and_actions_are_refused_at_check_time() {
    let bad = r#"ruleset a { rule r { select when a b
        mqtt:publish("t", "p") with qso = 1 } }"#;
    let errs = compile(bad).err().expect("refused");
    assert!(
        errs.iter()
            .any(|d| d.message.contains("`mqtt:publish` has no option `qso`")),
        "{errs:?}"
    );
    let bad = r#"ruleset a { rule r { select when a b
        mqtt:subscribe("t", retain = true) } }"#;
    let errs = compile(bad).err().expect("refused");
    assert!(
        errs.iter().any(|d| d
            .message
            .contains("`mqtt:subscribe` has no option `retain`")),
        "{errs:?}"
    );
    let bad = r#"ruleset a { rule r { select when a b mqtt:send("t", "p") } }"#;
    let errs = compile(bad).err().expect("refused");
    assert!(
        errs.iter()
            .any(|d| d.message.contains("unknown action `mqtt:send`")),
        "{errs:?}"
    );
    let bad = r#"ruleset a { rule r { select when a b pre { x = mqtt:publish("t", 1) } } }"#;
    let errs = compile(bad).err().expect("refused");
    assert!(
        errs.iter().any(|d| d.message.contains("is an action")),
        "{errs:?}"
    );
}

/// A host with nothing but the required methods: `mqtt:` keeps the
/// trait's defaults.
struct Bare;

impl Host for Bare {
    fn ent_get(&mut self, _: &str, _: &str) -> Result<Value, RuntimeError> {
        Ok(Value::Null)
    }
    fn ent_put(&mut self, _: &str, _: &str, _: Option<&Value>) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn app_get(&mut self, _: &str, _: &str) -> Result<Value, RuntimeError> {
        Ok(Value::Null)
    }
    fn app_put(&mut self, _: &str, _: &str, _: Option<&Value>) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn rule_state(&mut self, _: &str, _: &str) -> Option<RuleState> {
        None
    }
    fn set_rule_state(&mut self, _: &str, _: &str, _: &RuleState) {}
    fn now_ms(&mut self) -> f64 {
        0.0
    }
    fn random(&mut self) -> f64 {
        0.5
    }
    fn log(&mut self, _: &str, _: Level, _: &str) {}
    fn new_id(&mut self) -> String {
        "1".into()
    }
    fn schedule_add(&mut self, _: &str, _: &Value) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn schedule_list(&mut self, _: &str) -> Result<Vec<Value>, RuntimeError> {
        Ok(Vec::new())
    }
    fn schedule_remove(&mut self, _: &str, _: Option<&str>) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn send_event(&mut self, _: &str, _: &str, _: &str, _: Map) -> Result<String, RuntimeError> {
        Ok("e".into())
    }
}

#[test]
fn hosts_without_mqtt_say_so() {
    let e = run(&mut Bare, "pub", json!({"topic": "twilio", "payload": "x"})).unwrap_err();
    assert!(
        e.message
            .contains("not supported here: mqtt:publish to \"twilio\" (this engine has no MQTT)"),
        "{e}"
    );
    let e = run(&mut Bare, "sub", json!({"filter": "twilio"})).unwrap_err();
    assert!(
        e.message.contains("not supported here: mqtt:subscribe"),
        "{e}"
    );
}

/// In a `where` of `select when mqtt message`, the event's own attributes
/// (topic, payload, qos, retain) may be named bare; a global or setting
/// variable of the same name wins.
#[test]
fn mqtt_message_where_clauses_name_the_attributes_bare() {
    let src = r#"
ruleset io.example.mqtt_where {
  global {
    qos = "the global"
  }
  rule outgoing {
    select when mqtt message where payload{"Type"} == "Outgoing" && topic == "twilio"
    send_directive("outgoing", {"body": event:attrs{"payload"}{"Body"}})
  }
  rule global_wins {
    select when mqtt message where qos == "the global" && retain == false
    send_directive("global")
  }
}
"#;
    let rs = compile(src).unwrap_or_else(|d| panic!("{d:?}"));
    let mut host = MemoryHost::new(0.0);
    let mut pico = PicoRuntime::new("p1");
    pico.install(rs, Value::Null, &|_| None, &mut host)
        .expect("installs");
    let mut fire = |attrs: serde_json::Value| -> Vec<String> {
        let attrs = match Value::from_json(&attrs) {
            Value::Map(m) => (*m).clone(),
            _ => Map::default(),
        };
        let ev = Event {
            domain: "mqtt".into(),
            name: "message".into(),
            attrs,
            eci: "eci1".into(),
            eid: "e1".into(),
            time_ms: 0.0,
        };
        let out = pico.event(ev, "txn", &mut host).expect("runs");
        out.directives.iter().map(|d| d.name.to_string()).collect()
    };
    let out = json!({"topic": "twilio", "payload": {"Type": "Outgoing", "Body": "olleh"}, "qos": 1, "retain": false});
    assert_eq!(fire(out), ["outgoing", "global"]);
    let incoming =
        json!({"topic": "twilio", "payload": {"Type": "Incoming"}, "qos": 1, "retain": false});
    assert_eq!(fire(incoming), ["global"]);
    let elsewhere =
        json!({"topic": "other", "payload": {"Type": "Outgoing"}, "qos": 0, "retain": true});
    assert_eq!(fire(elsewhere), Vec::<String>::new());
    // Other events do not get bare attributes: the checker refuses them.
    let err = compile(
        r#"ruleset a { rule r { select when sensor reading where payload send_directive("x") } }"#,
    )
    .err()
    .expect("refused");
    assert!(
        format!("{err:?}").contains("undefined name `payload`"),
        "{err:?}"
    );
}
