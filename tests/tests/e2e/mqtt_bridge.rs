//! Seed 004 end to end, through the binaries: a signed inbound SMS to
//! `krl serve` running rulesets/sms_device_bridge.krl → published on the
//! MQTT topic `twilio` → a real `krl-device` (firmware/host) reverses it
//! → its Outgoing message → `twilio:send_sms` reaches a local fake of
//! Twilio's REST API with the reversed text. The webhook answers an empty
//! `<Response/>`; a 161-character body publishes nothing and answers a
//! polite message.

use krl_tests::api::{server, wait_for, Api};
use krl_tests::mqtt::{engine_broker, port_of, Watcher};
use krl_tests::twilio::{self, signature, FakeApi};
use krl_tests::{krl_device_bin, source};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const SID: &str = "ACbridge0000000000000000000000001";
const AUTH: &str = "bridge-auth-token";
const DEVICE_NUMBER: &str = "+15550001111";
const SENDER: &str = "+15557654321";
const LIMIT: Duration = Duration::from_secs(30);

/// A signed SMS webhook as Twilio sends it: (status, body).
fn sms(api: &Api, eci: &str, body: &str, message_sid: &str) -> (u16, String) {
    let url = format!("{}/sky/event/{eci}/none/twilio/sms", api.s.url);
    let params = [
        ("AccountSid", SID),
        ("MessageSid", message_sid),
        ("SmsSid", message_sid),
        ("From", SENDER),
        ("To", DEVICE_NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
    ];
    twilio::webhook(&url, &url, AUTH, &params)
}

/// A running `krl-device`, killed when dropped.
struct Device {
    child: Child,
    lines: Receiver<String>,
}

impl Device {
    fn start(port: u16) -> Device {
        let mut child = Command::new(krl_device_bin())
            .args(["--mqtt-url", &format!("mqtt://127.0.0.1:{port}")])
            .args(["--id", "bridge-device", "--number", DEVICE_NUMBER])
            .args(["--report-interval-ms", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("running krl-device");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let d = Device { child, lines };
        d.wait_line("ready");
        d
    }

    fn wait_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("krl-device printed no line with {needle:?}"),
            }
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sms_to_device_and_back_through_krl_serve_and_krl_device() {
    let fake = FakeApi::start();
    let (_broker, mut flags) = engine_broker("mqtt-bridge");
    flags.extend(
        [
            "--twilio-api-url",
            &fake.url(),
            "--twilio-account-sid",
            SID,
            "--twilio-auth-token",
            AUTH,
        ]
        .map(String::from),
    );
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (_dir, s) = server("mqtt-bridge", &flags);
    let port = port_of(s.mqtt.as_deref().expect("MQTT is on"));
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(&source("rulesets/sms_device_bridge.krl"));
    // installing subscribed the pico to `twilio`
    let (_, subs) = api.get(&format!("/api/picos/{pico}/mqtt"));
    assert_eq!(subs, json!([{"filter": "twilio", "qos": 1}]));

    let watcher = Watcher::new(port, "bridge-watcher", &["twilio"]);
    let device = Device::start(port);

    // The engine's subscription reaches the broker a moment after the
    // install: wait for it with Outgoing probes (each becomes an SMS to
    // the fake; the device ignores Outgoing messages).
    wait_for("the engine's subscription to `twilio`", LIMIT, || {
        watcher.publish(
            "twilio",
            json!({"Type": "Outgoing", "To": "+15550009999", "From": DEVICE_NUMBER, "Body": "probe"})
                .to_string(),
            0,
        );
        std::thread::sleep(Duration::from_millis(100));
        (!fake.messages().is_empty()).then_some(())
    });

    // 1. A short SMS: an empty answer, Incoming on `twilio`, the device's
    //    reversal, the reversed SMS at the fake.
    let text = "Oozy rat in a sanitary zoo. héllo 👋 世界";
    let reversed: String = text.chars().rev().collect();
    let (status, twiml) = sms(&api, &eci, text, "SM00000000000000000000000000000001");
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(
        twiml,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
    let incoming = watcher.next("the Incoming message", |m| m.payload["Type"] == "Incoming");
    assert_eq!(
        incoming.payload,
        json!({"Type": "Incoming", "To": DEVICE_NUMBER, "From": SENDER, "Body": text,
               "MessageSid": "SM00000000000000000000000000000001"})
    );
    let outgoing = watcher.next("the device's Outgoing reply", |m| {
        m.payload["Type"] == "Outgoing" && m.payload["Body"] != "probe"
    });
    assert_eq!(
        outgoing.payload,
        json!({"Type": "Outgoing", "To": SENDER, "From": DEVICE_NUMBER, "Body": reversed})
    );
    device.wait_line("reply to");
    let sent = wait_for("the reversed SMS at the fake Twilio API", LIMIT, || {
        fake.messages()
            .into_iter()
            .find(|m| m.field("To").as_deref() == Some(SENDER))
    });
    assert_eq!(sent.field("To").as_deref(), Some(SENDER));
    assert_eq!(sent.field("From").as_deref(), Some(DEVICE_NUMBER));
    assert_eq!(sent.field("Body"), Some(reversed.clone()));
    let paths: Vec<String> = fake.seen().into_iter().map(|r| r.target).collect();
    assert!(
        paths
            .iter()
            .all(|p| p == &format!("/2010-04-01/Accounts/{SID}/Messages.json")),
        "{paths:?}"
    );

    // 2. 161 characters: no publish, a polite message.
    let long = "x".repeat(161);
    let (status, twiml) = sms(&api, &eci, &long, "SM00000000000000000000000000000002");
    assert_eq!(status, 200, "{twiml}");
    assert!(
        twiml.contains("<Message>Sorry, that message is too long for the device: please send at most 160 characters.</Message>"),
        "{twiml}"
    );
    // A later short SMS is published after anything the long one could
    // have published (the queue goes out in order): nothing before it.
    let (status, _) = sms(&api, &eci, "marker", "SM00000000000000000000000000000003");
    assert_eq!(status, 200);
    let seen = watcher.until("the marker's Incoming message", |m| {
        m.payload["Type"] == "Incoming" && m.payload["Body"] == "marker"
    });
    assert!(
        !seen
            .iter()
            .any(|m| m.payload["Body"].as_str().is_some_and(|b| b.len() > 160)),
        "the 161-character body was published: {seen:?}"
    );
    // 160 characters still go through
    let max = "y".repeat(160);
    let (status, twiml) = sms(&api, &eci, &max, "SM00000000000000000000000000000004");
    assert_eq!(
        (status, twiml.contains("<Response/>")),
        (200, true),
        "{twiml}"
    );
    watcher.next("the 160-character Incoming", |m| {
        m.payload["Body"] == json!(max)
    });

    // (queries too must be signed: the engine-wide token guards every channel)
    let query = |f: &str| -> Value {
        let url = format!("{}/sky/cloud/{eci}/io.krl.sms_device_bridge/{f}", api.s.url);
        let res = reqwest::blocking::Client::new()
            .get(&url)
            .header("X-Twilio-Signature", signature(AUTH, &url, &[]))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        res.json().unwrap()
    };
    assert_eq!(query("refused"), json!(1));
    assert_eq!(query("forwarded"), json!(3));
    let last = query("last");
    assert_eq!(last["outbox"]["status"], Value::from("queued"), "{last}");
}

#[test]
fn the_bridge_refuses_a_wildcard_topic_and_subscribes_to_its_configured_one() {
    let (_broker, flags) = engine_broker("mqtt-bridge-config");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (_dir, s) = server("mqtt-bridge-config", &flags);
    let api = Api::new(&s);
    api.register_ok(&source("rulesets/sms_device_bridge.krl"));
    let (pico, _) = api.new_pico();
    let path = format!("/api/picos/{pico}/rulesets");
    let (status, body) = api.post(
        &path,
        json!({"rid": "io.krl.sms_device_bridge", "config": {"topic": "sms/#"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("topic: must be an MQTT topic name without wildcards"),
        "{body}"
    );
    let (status, body) = api.post(
        &path,
        json!({"rid": "io.krl.sms_device_bridge", "config": {"topic": "devices/sms"}}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, subs) = api.get(&format!("/api/picos/{pico}/mqtt"));
    assert_eq!(subs, json!([{"filter": "devices/sms", "qos": 1}]));
}
