//! MQTT through `krl serve` (docs/mqtt.md): rules publish to the embedded
//! broker (external subscribers see it), picos subscribe from KRL and the
//! admin API and get `mqtt message` events, JSON payloads are decoded,
//! `--no-mqtt` is a clear error, a full queue refuses publishes, and the
//! two restart cases: the engine killed while messages arrive processes
//! each once after its restart, and a broker restarted under QoS 1
//! publishes loses none of them.
//!
//! `KRL_TEST_MOSQUITTO=1` runs the same tests against mosquitto
//! (`krl_tests::mqtt`).

use krl_tests::api::{poll, server, server_at, wait_for, Api, TOKEN};
use krl_tests::mqtt::{engine_broker, mosquitto_mode, port_of, TestBroker, Watcher};
use krl_tests::ScratchDir;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// A pico that logs every `mqtt message` it gets, publishes on request
/// and (un)subscribes on request.
const DEVICE: &str = r#"ruleset io.example.mqtt {
  meta { shares log, outgoing, last_publish }
  global {
    log = function() { ent:log.defaultsTo([]) }
    outgoing = function() { ent:outgoing.defaultsTo(0) }
    last_publish = function() { ent:published }
  }
  rule got {
    select when mqtt message
    always {
      ent:log := log().append([{"topic": event:attrs{"topic"}, "payload": event:attrs{"payload"},
                                "qos": event:attrs{"qos"}, "retain": event:attrs{"retain"}}])
    }
  }
  rule outgoing {
    select when mqtt message where event:attrs{"payload"}{"Type"} == "Outgoing"
    always { ent:outgoing := outgoing() + 1 }
  }
  rule publish {
    select when t publish
    mqtt:publish(event:attrs{"topic"}, event:attrs{"payload"},
                 qos = event:attrs{"qos"}, retain = event:attrs{"retain"}) setting(r)
    always { ent:published := r }
  }
  rule subscribe {
    select when t subscribe
    mqtt:subscribe(event:attrs{"filter"})
  }
  rule unsubscribe {
    select when t unsubscribe
    mqtt:unsubscribe(event:attrs{"filter"})
  }
}"#;

const RID: &str = "io.example.mqtt";

/// An engine with MQTT on (embedded broker, or mosquitto in mosquitto
/// mode), the device ruleset on a new pico: (dir, server, broker, pico, eci, port).
struct Setup {
    _dir: ScratchDir,
    s: krl_tests::Server,
    _broker: Option<TestBroker>,
    pico: String,
    eci: String,
    port: u16,
}

fn setup(name: &str) -> Setup {
    let (broker, flags) = engine_broker(name);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (dir, s) = server(name, &flags);
    let url = s.mqtt.clone().expect("an `mqtt` start-up line");
    assert!(url.starts_with("mqtt://127.0.0.1:"), "{url}");
    let port = port_of(&url);
    if let Some(b) = &broker {
        assert_eq!(port, b.port, "the line names the external broker");
    }
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(DEVICE);
    Setup {
        _dir: dir,
        s,
        _broker: broker,
        pico,
        eci,
        port,
    }
}

fn log(api: &Api, eci: &str) -> Vec<Value> {
    let (status, v) = api.query(eci, RID, "log", json!({}));
    assert_eq!(status, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

/// Waits until the pico behind `eci` gets what `p` publishes on `topic`:
/// a subscription reaches the broker a moment after the answer that made
/// it. Numbered QoS 0 probes go out, each given half a second to show in
/// the pico's log, until one does; the earlier ones on the topic are then
/// in the log or lost (one publisher, one topic: in order), so no probe
/// is still on its way to count among the test's messages.
fn until_subscribed(api: &Api, eci: &str, p: &Watcher, topic: &str, what: &str) {
    let deadline = Instant::now() + LIMIT;
    for n in 1.. {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        let probe = json!(format!("probe {n}"));
        p.publish(topic, probe.as_str().unwrap(), 0);
        let arrived = poll(Duration::from_millis(500), || {
            log(api, eci)
                .iter()
                .any(|m| m["topic"] == topic && m["payload"] == probe)
                .then_some(())
        });
        if arrived.is_some() {
            return;
        }
    }
}

/// Waits until the pico's log has at least `n` entries; answers it.
fn log_of_len(api: &Api, eci: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} logged messages"), LIMIT, || {
        let l = log(api, eci);
        (l.len() >= n).then_some(l)
    })
}

#[test]
fn start_up_line_and_a_rule_publishes_to_an_external_subscriber() {
    let t = setup("mqtt-publish");
    let api = Api::new(&t.s);
    let w = Watcher::new(t.port, "watcher-publish", &["out/#"]);
    // a map payload is sent as JSON, QoS 1
    let (status, body) = api.event(
        &t.eci,
        "t",
        "publish",
        json!({"topic": "out/a", "payload": {"Type": "Incoming", "Body": "hi"}, "qos": 1}),
    );
    assert_eq!(status, 200, "{body}");
    let m = w.next("the map payload", |m| m.topic == "out/a");
    assert_eq!(m.payload, json!({"Type": "Incoming", "Body": "hi"}));
    // the rule got the queue entry's id
    let (_, r) = api.query(&t.eci, RID, "last_publish", json!({}));
    assert_eq!(r["status"], "queued", "{r}");
    assert!(r["id"].as_str().is_some_and(|id| id.len() == 16), "{r}");
    // a string as is, QoS 0, in order after the first
    for i in 0..5 {
        api.event(
            &t.eci,
            "t",
            "publish",
            json!({"topic": "out/b", "payload": format!("text {i}")}),
        );
    }
    let got: Vec<Value> = (0..5)
        .map(|_| w.next("the text payloads", |m| m.topic == "out/b").payload)
        .collect();
    assert_eq!(
        got,
        (0..5)
            .map(|i| json!(format!("text {i}")))
            .collect::<Vec<_>>()
    );
    // retain: a subscriber that comes later still gets it
    api.event(
        &t.eci,
        "t",
        "publish",
        json!({"topic": "out/retained", "payload": 7, "qos": 1, "retain": true}),
    );
    w.next("the retained message", |m| m.topic == "out/retained");
    let late = Watcher::new(t.port, "watcher-late", &["out/retained"]);
    let m = late.next("the retained message, later", |_| true);
    assert_eq!((m.payload.clone(), m.retain), (json!(7), true));
    // bad arguments are runtime errors naming the rule, nothing is sent
    let (status, body) = api.event(
        &t.eci,
        "t",
        "publish",
        json!({"topic": "out/x", "payload": 1, "qos": 2}),
    );
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("qos 2 (exactly once) is not supported"),
        "{body}"
    );
    assert_eq!(
        (body["rid"].as_str(), body["rule"].as_str()),
        (Some(RID), Some("publish"))
    );
    let (status, body) = api.event(
        &t.eci,
        "t",
        "publish",
        json!({"topic": "out/+", "payload": 1}),
    );
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("wildcard"),
        "{body}"
    );
}

#[test]
fn krl_and_admin_subscriptions_become_events_with_decoded_payloads() {
    let t = setup("mqtt-subscribe");
    let api = Api::new(&t.s);
    // from KRL
    let (status, body) = api.event(&t.eci, "t", "subscribe", json!({"filter": "krl/in"}));
    assert_eq!(status, 200, "{body}");
    // from the admin API
    let path = format!("/api/picos/{}/mqtt", t.pico);
    let (status, body) = api.post(&path, json!({"filter": "admin/+/in", "qos": 0}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"filter": "admin/+/in", "qos": 0}));
    let (status, body) = api.get(&path);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"filter": "admin/+/in", "qos": 0}, {"filter": "krl/in", "qos": 1}])
    );
    let p = Watcher::new(t.port, "publisher-subscribe", &[]);
    // The subscriptions reach the broker a moment after the answers:
    // publish until the first arrives (QoS 0 markers, then real ones).
    let active = "the KRL subscription to be active";
    until_subscribed(&api, &t.eci, &p, "krl/in", active);
    let active = "the admin subscription to be active";
    until_subscribed(&api, &t.eci, &p, "admin/x/in", active);
    let before = log(&api, &t.eci).len();
    p.publish(
        "krl/in",
        r#"{"Type":"Outgoing","To":"+1","Body":"olleh"}"#,
        1,
    );
    p.publish("admin/y/in", "plain words", 1);
    p.publish("krl/in", "[1, 2, 3]", 1);
    p.publish("elsewhere", "nobody listens", 1);
    let l = log_of_len(&api, &t.eci, before + 3);
    // in order on each topic (the broker keeps no order across filters)
    let mut got = l[before..].to_vec();
    got.sort_by_key(|m| m["topic"].as_str().unwrap_or("").to_string());
    assert_eq!(
        got,
        [
            json!({"topic": "admin/y/in", "payload": "plain words", "qos": 0, "retain": false}),
            json!({"topic": "krl/in", "payload": {"Type": "Outgoing", "To": "+1", "Body": "olleh"},
                   "qos": 1, "retain": false}),
            json!({"topic": "krl/in", "payload": [1, 2, 3], "qos": 1, "retain": false}),
        ]
    );
    // `where event:attrs{"payload"}{"Type"} == "Outgoing"` fired once
    let (_, n) = api.query(&t.eci, RID, "outgoing", json!({}));
    assert_eq!(n, json!(1));

    // unsubscribe both ways; a later message on krl/in shows the admin
    // filter's message was not delivered
    let (status, _) = api.delete(&format!("{path}?filter=admin/%2B/in"));
    assert_eq!(status, 204);
    let (status, body) = api.delete(&format!("{path}?filter=admin/%2B/in"));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no subscription"),
        "{body}"
    );
    p.publish("admin/z/in", "dropped", 1);
    p.publish("krl/in", "marker", 1);
    let l = log_of_len(&api, &t.eci, before + 4);
    assert_eq!(l.len(), before + 4, "{l:?}");
    assert_eq!(l[before + 3]["payload"], "marker");
    let (status, _) = api.event(&t.eci, "t", "unsubscribe", json!({"filter": "krl/in"}));
    assert_eq!(status, 200);
    let (_, body) = api.get(&path);
    assert_eq!(body, json!([]));

    // the admin API's refusals
    for (body, want) in [
        (
            json!({"filter": "a/#/b"}),
            "# other than as its whole last level",
        ),
        (json!({"filter": "a", "qos": 2}), "qos 2"),
        (json!({"filter": "a", "qos": "1"}), "qos must be 0 or 1"),
        (json!({"filtre": "a"}), "unknown field"),
        (json!({}), "missing field `filter`"),
    ] {
        let (status, got) = api.post(&path, body.clone());
        assert_eq!(status, 400, "{body}: {got}");
        assert!(
            got["error"].as_str().unwrap().contains(want),
            "{body}: {got}"
        );
    }
    let (status, body) = api.post("/api/picos/nope/mqtt", json!({"filter": "a"}));
    assert_eq!(status, 404, "{body}");
    let (status, _) = api.get("/api/picos/nope/mqtt");
    assert_eq!(status, 404);
    let (status, _) = api.delete(&path);
    assert_eq!(status, 400);
    let unauthorized = reqwest::blocking::Client::new()
        .post(format!("{}{path}", t.s.url))
        .body(r#"{"filter": "a"}"#)
        .send()
        .unwrap()
        .status();
    assert_eq!(unauthorized, 401);
}

#[test]
fn subscriptions_survive_a_restart() {
    let (broker, flags) = engine_broker("mqtt-subs-restart");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dir = ScratchDir::new("mqtt-subs-restart");
    let data = dir.path().join("data");
    let (pico, eci) = {
        let s = server_at(&data, &flags);
        let api = Api::new(&s);
        let (pico, eci) = api.pico_with(DEVICE);
        api.event(&eci, "t", "subscribe", json!({"filter": "kept/#"}));
        s.kill();
        (pico, eci)
    };
    let s = server_at(&data, &flags);
    let api = Api::new(&s);
    let (_, subs) = api.get(&format!("/api/picos/{pico}/mqtt"));
    assert_eq!(subs, json!([{"filter": "kept/#", "qos": 1}]));
    let port = port_of(s.mqtt.as_deref().unwrap());
    let p = Watcher::new(port, "publisher-restart", &[]);
    let active = "the stored subscription to be active again";
    until_subscribed(&api, &eci, &p, "kept/a", active);
    drop(broker);
}

#[test]
fn no_mqtt_makes_the_actions_a_clear_runtime_error() {
    let (_dir, s) = server("mqtt-off", &["--no-mqtt"]);
    assert_eq!(s.mqtt, None);
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(DEVICE);
    let (status, body) = api.event(
        &eci,
        "t",
        "publish",
        json!({"topic": "out/a", "payload": "x"}),
    );
    assert_eq!(status, 500, "{body}");
    let e = body["error"].as_str().unwrap();
    assert!(
        e.contains("mqtt:publish to \"out/a\": MQTT is off in this engine (krl serve --no-mqtt)"),
        "{e}"
    );
    assert_eq!(body["rule"], "publish");
    let (status, body) = api.event(&eci, "t", "subscribe", json!({"filter": "a"}));
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("MQTT is off"),
        "{body}"
    );
    let (status, body) = api.post(&format!("/api/picos/{pico}/mqtt"), json!({"filter": "a"}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--no-mqtt"),
        "{body}"
    );
}

#[test]
fn a_busy_default_port_is_a_clear_start_up_error() {
    // Occupy a port and ask for it: the message names the flags to use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = ScratchDir::new("mqtt-busy");
    let err = match krl_tests::Server::try_start(
        &dir.path().join("data"),
        &["--admin-token", TOKEN, "--mqtt-listen", &addr],
    ) {
        Ok(_) => panic!("started on a busy port"),
        Err(e) => e,
    };
    assert_eq!(err.code, Some(2), "{}", err.stderr);
    assert!(
        err.stderr
            .contains(&format!("cannot start the embedded MQTT broker on {addr}"))
            && err.stderr.contains("--mqtt-listen ADDR")
            && err.stderr.contains("--no-mqtt"),
        "{}",
        err.stderr
    );
}

/// A pico rule that publishes many messages in one event.
const FLOOD: &str = r#"ruleset io.example.flood {
  rule flood {
    select when t flood
    foreach 1.range(event:attrs{"n"}) setting(i)
    mqtt:publish("flood", {"i": i}) with qos = 1
  }
}"#;

#[test]
fn a_full_queue_refuses_publishes_with_a_clear_error() {
    // A broker that is not there: everything stays queued.
    let nobody = format!("mqtt://127.0.0.1:{}", krl_tests::free_port());
    let (_dir, s) = server("mqtt-full", &["--mqtt-url", &nobody]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(FLOOD);
    let (status, body) = api.event(&eci, "t", "flood", json!({"n": 9_999}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.event(&eci, "t", "flood", json!({"n": 2}));
    assert_eq!(status, 500, "{body}");
    let e = body["error"].as_str().unwrap();
    assert!(
        e.contains("the outgoing queue is full (10000 messages wait for the broker")
            && e.contains("at most 10000); the message was not queued"),
        "{e}"
    );
    // the failed event wrote nothing: one more still fits
    let (status, body) = api.event(&eci, "t", "flood", json!({"n": 1}));
    assert_eq!(status, 200, "{body}");
}

/// Restart test (a): messages keep coming (QoS 1, from an external
/// client) while the engine is killed with SIGKILL; after its restart
/// every message has been processed exactly once, in order.
#[test]
fn engine_killed_while_messages_arrive_processes_each_exactly_once() {
    let broker = TestBroker::start("kill", &[]);
    let url = broker.url();
    let dir = ScratchDir::new("mqtt-kill");
    let data = dir.path().join("data");
    let flags = ["--mqtt-url", url.as_str()];
    let s = server_at(&data, &flags);
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(DEVICE);
    let (status, body) = api.post(
        &format!("/api/picos/{pico}/mqtt"),
        json!({"filter": "in/#", "qos": 1}),
    );
    assert_eq!(status, 200, "{body}");
    let publisher = Watcher::persistent(broker.port, "kill-publisher", &[]);
    let active = "the subscription to be active";
    until_subscribed(&api, &eci, &publisher, "in/probe", active);
    let probes = log(&api, &eci).len();
    const N: u64 = 400;
    let sender = {
        let publisher_port = broker.port;
        std::thread::spawn(move || {
            let p = Watcher::persistent(publisher_port, "kill-sender", &[]);
            for n in 1..=N {
                p.publish("in/n", json!({"n": n}).to_string(), 1);
                if n % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            p
        })
    };
    // kill it in the middle of the stream
    wait_for("some messages processed", LIMIT, || {
        (log(&api, &eci).len() >= probes + N as usize / 4).then_some(())
    });
    s.kill();
    let p = sender.join().expect("the sender thread");
    let s = server_at(&data, &flags);
    let api = Api::new(&s);
    let l = wait_for(
        "every message after the restart",
        Duration::from_secs(60),
        || {
            let l = log(&api, &eci);
            let ns: Vec<u64> = l
                .iter()
                .filter_map(|m| m["payload"]["n"].as_u64())
                .collect();
            (ns.len() >= N as usize && ns.last() == Some(&N)).then_some(ns)
        },
    );
    assert_eq!(l, (1..=N).collect::<Vec<_>>(), "each once, in order");
    // and nothing more comes afterwards: a marker is the next entry
    p.publish("in/marker", "marker", 1);
    let all = wait_for("the marker", LIMIT, || {
        let l = log(&api, &eci);
        l.iter().any(|m| m["payload"] == "marker").then_some(l)
    });
    let after: Vec<&Value> = all
        .iter()
        .filter(|m| m["payload"].get("n").is_some())
        .collect();
    assert_eq!(after.len(), N as usize, "no duplicate came late");
    drop(broker);
}

/// A rule that publishes `{"n": n}` (QoS 1) to `out/seq`.
const COUNTER: &str = r#"ruleset io.example.counter {
  rule p {
    select when t publish
    mqtt:publish("out/seq", {"n": event:attrs{"n"}}) with qos = 1
  }
}"#;

/// Restart test (b): the broker goes down under the engine, the rules
/// publish N QoS 1 messages meanwhile, the broker comes back: a
/// subscriber gets all N, in order.
#[test]
fn broker_restarted_under_qos1_publishes_loses_none() {
    let mut broker = TestBroker::start("restart", &["out/#"]);
    let url = broker.url();
    let (_dir, s) = server("mqtt-broker-restart", &["--mqtt-url", &url]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(COUNTER);
    // mosquitto: a persistent subscriber, whose session the broker keeps
    // (with its queued messages) across the restart
    let watcher =
        mosquitto_mode().then(|| Watcher::persistent(broker.port, "restart-watcher", &["out/#"]));
    let next = |broker: &TestBroker, what: &str| match &watcher {
        Some(w) => w.next(what, |_| true),
        None => broker.next(what),
    };
    let (status, body) = api.event(&eci, "t", "publish", json!({"n": 0}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(next(&broker, "the first message").payload, json!({"n": 0}));
    broker.down();
    const N: u64 = 50;
    for n in 1..=N {
        let (status, body) = api.event(&eci, "t", "publish", json!({"n": n}));
        assert_eq!(status, 200, "{body}");
    }
    broker.up();
    let mut got = Vec::new();
    while got.len() < N as usize {
        let m = next(&broker, "the messages published while the broker was down");
        // n = 0 may come again: its PUBACK may not have reached the engine
        if m.payload["n"] != json!(0) {
            got.push(m.payload["n"].as_u64().unwrap());
        }
    }
    assert_eq!(got, (1..=N).collect::<Vec<_>>(), "all of them, in order");
}
