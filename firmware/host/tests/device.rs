//! End to end: the `krl-device` binary against an embedded rumqttd broker
//! on a free port. Every wait is for an event (a line printed by the
//! device, a message seen by an observer) with a deadline, never a sleep.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
const DEVICE_NUMBER: &str = "+15550001111";
const SENDER: &str = "+15557654321";

/// Start rumqttd on a free loopback port; returns once it accepts
/// connections.
fn start_broker() -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = ServerSettings {
        name: "v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1 << 20,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        router: RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 << 20,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Config::default()
    };
    thread::spawn(move || {
        let mut broker = Broker::new(config);
        broker.start().expect("broker runs");
    });
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "broker did not start");
        thread::sleep(Duration::from_millis(10));
    }
    port
}

/// A test MQTT client that sees everything on some topics.
struct Observer {
    client: Client,
    rx: Receiver<(String, Value)>,
}

impl Observer {
    fn new(port: u16, name: &str, topics: &[&str]) -> Observer {
        let mut opts = MqttOptions::new(name, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(opts, 64);
        for t in topics {
            client.subscribe(*t, QoS::AtLeastOnce).unwrap();
        }
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let want = topics.len();
        thread::spawn(move || {
            let mut subacks = 0;
            for ev in connection.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks += 1;
                        if subacks == want {
                            let _ = ready_tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let v = serde_json::from_slice(&p.payload).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(&p.payload).into())
                        });
                        if tx.send((p.topic, v)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        ready_rx.recv_timeout(WAIT).expect("observer subscribed");
        Observer { client, rx }
    }

    fn publish(&self, topic: &str, payload: &Value) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .unwrap();
    }

    /// The next message on `topic` for which `pred` holds (others skipped).
    fn next(&self, topic: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((t, v)) if t == topic && pred(&v) => return v,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("nothing on {topic} in {WAIT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("observer stopped"),
            }
        }
    }

    /// The next Outgoing message on `twilio`.
    fn next_outgoing(&self) -> Value {
        self.next("twilio", |v| v["Type"] == "Outgoing")
    }
}

/// A running `krl-device`; killed when dropped.
struct DeviceProc {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl DeviceProc {
    fn spawn(port: u16, args: &[&str]) -> DeviceProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_krl-device"))
            .arg("--mqtt-url")
            .arg(format!("mqtt://127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("krl-device starts");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                println!("device| {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        DeviceProc {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Wait for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no line with {needle:?} ({e:?}); so far: {:#?}", self.log),
            }
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.log.iter().filter(|l| l.contains(needle)).count()
    }

    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "krl-device did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DeviceProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn incoming(sid: &str, to: &str, body: &str) -> Value {
    json!({"Type": "Incoming", "To": to, "From": SENDER, "Body": body, "MessageSid": sid})
}

#[test]
fn sms_round_trip_through_a_real_broker() {
    let port = start_broker();
    let shadow = "things/dev-e2e/shadow/update";
    let obs = Observer::new(port, "observer-1", &["twilio", shadow]);
    let mut dev = DeviceProc::spawn(
        port,
        &[
            "--id",
            "dev-e2e",
            "--number",
            DEVICE_NUMBER,
            "--notify",
            SENDER,
            "--message",
            "'RacecaR is a palindrome!",
            "--media-url",
            "https://example.com/racecar.jpg",
            "--report-interval-ms",
            "0",
        ],
    );
    dev.wait_for("ready");

    // Power on: a shadow report, then the power-on MMS.
    let report = obs.next(shadow, |_| true);
    assert_eq!(report["state"]["reported"]["id"], "dev-e2e");
    assert_eq!(report["state"]["reported"]["online"], true);
    assert_eq!(report["state"]["reported"]["number"], DEVICE_NUMBER);
    let power_on = obs.next_outgoing();
    assert_eq!(
        power_on,
        json!({"Type": "Outgoing", "To": SENDER, "From": DEVICE_NUMBER,
               "Body": "'RacecaR is a palindrome!",
               "MediaUrl": "https://example.com/racecar.jpg"})
    );
    // The device hears its own power-on message and lets it be.
    dev.wait_for("ignored on twilio: an Outgoing message");

    // An SMS: the reply goes back to the sender, reversed by characters.
    obs.publish(
        "twilio",
        &incoming("SM0001", DEVICE_NUMBER, "héllo 👋 世界, Oozy rat"),
    );
    let reply = obs.next_outgoing();
    assert_eq!(
        reply,
        json!({"Type": "Outgoing", "To": SENDER, "From": DEVICE_NUMBER,
               "Body": "tar yzoO ,界世 👋 olléh"})
    );

    // No reply for: a redelivery, a 161-character body, another number.
    // Then one that is answered: the next Outgoing seen is its reply, so
    // the three before it produced none.
    obs.publish(
        "twilio",
        &incoming("SM0001", DEVICE_NUMBER, "héllo 👋 世界, Oozy rat"),
    );
    obs.publish(
        "twilio",
        &incoming("SM0002", DEVICE_NUMBER, &"x".repeat(161)),
    );
    obs.publish("twilio", &incoming("SM0003", "+15559999999", "not for me"));
    obs.publish("twilio", &incoming("SM0004", DEVICE_NUMBER, "abc"));
    assert_eq!(obs.next_outgoing()["Body"], "cba");
    dev.wait_for("ignored on twilio: a MessageSid already answered");
    dev.wait_for("rejected on twilio: body of 161 characters is over 160");
    dev.wait_for("ignored on twilio: addressed to another number");

    // A shadow desired state: applied and reported, once.
    obs.publish(
        shadow,
        &json!({"state": {"desired": {"report_interval_ms": 3_600_000}}}),
    );
    let report = obs.next(shadow, |v| {
        v["state"]["reported"]["report_interval_ms"] == 3_600_000
    });
    assert_eq!(report["state"]["reported"]["replied"], 2);
    assert_eq!(report["state"]["reported"]["rejected"], 1);
    dev.wait_for("shadow: report interval now 3600000 ms");

    // The last message: once the device has heard its own reply to it,
    // everything before has been handled (one connection, in order).
    obs.publish("twilio", &incoming("SM0005", DEVICE_NUMBER, "end"));
    assert_eq!(obs.next_outgoing()["Body"], "dne");
    dev.wait_for(r#"reply to +15557654321 from +15550001111: "dne""#);
    dev.wait_for("ignored on twilio: an Outgoing message");
    // No loops: exactly the power-on message and three replies went out on
    // `twilio`, and every Outgoing that came back was ignored.
    assert_eq!(dev.count("publish twilio"), 4, "{:#?}", dev.log);
    assert_eq!(
        dev.count("ignored on twilio: an Outgoing message"),
        4,
        "{:#?}",
        dev.log
    );
}

#[test]
fn last_will_says_offline_when_the_device_dies() {
    let port = start_broker();
    let shadow = "things/dev-lwt/shadow/update";
    let obs = Observer::new(port, "observer-2", &[shadow]);
    let mut dev = DeviceProc::spawn(port, &["--id", "dev-lwt", "--report-interval-ms", "0"]);
    dev.wait_for("ready");
    obs.next(shadow, |v| v["state"]["reported"]["online"] == true);
    dev.child.kill().unwrap(); // SIGKILL: no goodbye, the broker's will
    dev.child.wait().unwrap();
    let will = obs.next(shadow, |v| v["state"]["reported"]["online"] == false);
    assert_eq!(
        will,
        json!({"state": {"reported": {"id": "dev-lwt", "online": false}}})
    );
}

#[test]
fn sigterm_reports_offline_and_exits_cleanly() {
    let port = start_broker();
    let shadow = "things/dev-term/shadow/update";
    let obs = Observer::new(port, "observer-3", &[shadow]);
    let mut dev = DeviceProc::spawn(port, &["--id", "dev-term", "--report-interval-ms", "0"]);
    dev.wait_for("ready");
    obs.next(shadow, |v| v["state"]["reported"]["online"] == true);
    dev.terminate();
    obs.next(shadow, |v| v["state"]["reported"]["online"] == false);
    assert!(dev.wait_exit().success());
}

#[test]
fn bad_flags_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_krl-device"))
        .args(["--mqtt-url", "mqtts://127.0.0.1:8883"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));
    let out = Command::new(env!("CARGO_BIN_EXE_krl-device"))
        .args(["--notify", "+1555"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("own number"));
}

#[test]
fn messages_sent_while_the_device_was_away_are_answered_on_return() {
    let port = start_broker();
    let obs = Observer::new(port, "observer-4", &["twilio"]);
    let args = [
        "--id",
        "dev-away",
        "--number",
        DEVICE_NUMBER,
        "--report-interval-ms",
        "0",
    ];
    let mut dev = DeviceProc::spawn(port, &args);
    dev.wait_for("ready");
    dev.terminate();
    assert!(dev.wait_exit().success());
    // Published while no device is connected: the broker keeps it in the
    // device's persistent session (QoS 1, clean session off).
    obs.publish("twilio", &incoming("SM0100", DEVICE_NUMBER, "while away"));
    obs.next("twilio", |v| v["Type"] == "Incoming");
    let mut dev = DeviceProc::spawn(port, &args);
    dev.wait_for("connected (session present: true)");
    assert_eq!(obs.next_outgoing()["Body"], "yawa elihw");
}
