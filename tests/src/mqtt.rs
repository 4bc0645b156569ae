//! What the MQTT end-to-end tests share (`tests/tests/e2e/mqtt*.rs`):
//! external MQTT clients that watch and publish, and brokers the tests
//! control.
//!
//! Brokers: `cargo test` runs the engine's embedded broker
//! (`--mqtt-listen 127.0.0.1:0`), and `krl-test-broker` (rumqttd in a
//! process of its own, `tests/src/bin`) where a test must stop a broker
//! under the engine. With `KRL_TEST_MOSQUITTO=1` (set by `.ci/run` once
//! mosquitto is installed) every one of them is a mosquitto instead
//! (`mosquitto -c CONF`: one loopback listener, anonymous, persistence in
//! a scratch folder) and the engine gets `--mqtt-url`.

use crate::{free_port, ScratchDir};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long a test waits for a message.
pub const WAIT: Duration = Duration::from_secs(30);

/// Run against mosquitto (`KRL_TEST_MOSQUITTO=1`)?
pub fn mosquitto_mode() -> bool {
    std::env::var("KRL_TEST_MOSQUITTO").is_ok_and(|v| v == "1")
}

/// `host:port` of an `mqtt://host:port` URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// A message seen by a [`Watcher`] or a test broker: topic and payload
/// (JSON when it parses, else the text).
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    pub topic: String,
    pub payload: Value,
    pub retain: bool,
}

fn payload_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// An external MQTT client: subscribes (QoS 1) to filters and sees what
/// arrives; can publish. Reconnects by itself when the broker goes away
/// (with `persistent`, on the same session).
pub struct Watcher {
    client: Client,
    rx: Receiver<Msg>,
}

impl Watcher {
    /// Connects to 127.0.0.1:`port` as `id` and subscribes to `filters`;
    /// returns once the broker has acknowledged the subscriptions.
    pub fn new(port: u16, id: &str, filters: &[&str]) -> Watcher {
        Watcher::connect(port, id, filters, false)
    }

    /// The same with a persistent session (clean_session = false): the
    /// broker keeps its subscriptions and QoS 1 messages while it is away.
    pub fn persistent(port: u16, id: &str, filters: &[&str]) -> Watcher {
        Watcher::connect(port, id, filters, true)
    }

    fn connect(port: u16, id: &str, filters: &[&str], persistent: bool) -> Watcher {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(!persistent);
        Watcher::with_options(opts, filters)
    }

    /// The same with options of the caller's (TLS, credentials:
    /// `tests/tests/e2e/mqtt_tls.rs`); keep-alive and packet size are set here.
    pub fn with_options(mut opts: MqttOptions, filters: &[&str]) -> Watcher {
        opts.set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(opts, 1024);
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).unwrap();
        }
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let want = filters.len();
        std::thread::spawn(move || {
            let mut subacks = 0;
            if want == 0 {
                let _ = ready_tx.send(());
            }
            for ev in connection.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks += 1;
                        if subacks == want {
                            let _ = ready_tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let m = Msg {
                            topic: p.topic.clone(),
                            payload: payload_value(&p.payload),
                            retain: p.retain,
                        };
                        if tx.send(m).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // the broker went away: rumqttc reconnects on the next
                    // poll; do not spin meanwhile
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        ready_rx.recv_timeout(WAIT).expect("the watcher subscribed");
        Watcher { client, rx }
    }

    /// Publishes (QoS 0 or 1).
    pub fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, qos: u8) {
        let q = if qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        self.client.publish(topic, q, false, payload).unwrap();
    }

    /// Publishes a retained message (QoS 1): the broker keeps it for
    /// later subscribers.
    pub fn publish_retained(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .unwrap();
    }

    /// The next message for which `pred` holds (others are skipped);
    /// panics after [`WAIT`].
    pub fn next(&self, what: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if pred(&m) => return m,
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Every message until one for which `last` holds (that one included).
    pub fn until(&self, what: &str, last: impl Fn(&Msg) -> bool) -> Vec<Msg> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) => {
                    let done = last(&m);
                    out.push(m);
                    if done {
                        return out;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; got {out:?}"),
            }
        }
    }

    /// Disconnects.
    pub fn close(self) {
        let _ = self.client.disconnect();
    }
}

/// A broker the test controls, in a process of its own: mosquitto in
/// mosquitto mode, else `krl-test-broker` (rumqttd), whose in-process
/// watcher's lines (messages on the `watch` filters) are readable with
/// [`TestBroker::next`].
pub struct TestBroker {
    pub port: u16,
    watch: Vec<String>,
    child: Option<Child>,
    lines: Option<Receiver<Msg>>,
    dir: ScratchDir,
}

impl TestBroker {
    /// Starts one on a free port; `watch` filters are watched from inside
    /// (krl-test-broker only; with mosquitto use a persistent [`Watcher`]).
    pub fn start(name: &str, watch: &[&str]) -> TestBroker {
        let mut b = TestBroker {
            port: free_port(),
            watch: watch.iter().map(|s| s.to_string()).collect(),
            child: None,
            lines: None,
            dir: ScratchDir::new(&format!("broker-{name}")),
        };
        b.up();
        b
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker on the same port.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "the broker runs already");
        if mosquitto_mode() {
            let conf = format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nmax_queued_messages 100000\nset_tcp_nodelay true\n",
                self.port,
                self.dir.path().display()
            );
            self.child = Some(spawn_mosquitto(&self.dir, self.port, &conf, false));
        } else {
            let mut child = Command::new(crate::krl_test_broker_bin())
                .arg(self.port.to_string())
                .args(&self.watch)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("running krl-test-broker");
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            let (ready_tx, ready_rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if line == "ready" {
                        let _ = ready_tx.send(());
                        continue;
                    }
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    let m = Msg {
                        topic: v["topic"].as_str().unwrap_or("").to_string(),
                        payload: payload_value(v["payload"].as_str().unwrap_or("").as_bytes()),
                        retain: false,
                    };
                    if tx.send(m).is_err() {
                        return;
                    }
                }
            });
            ready_rx
                .recv_timeout(WAIT)
                .expect("krl-test-broker is ready");
            self.child = Some(child);
            self.lines = Some(rx);
        }
    }

    /// Stops the broker: SIGTERM for mosquitto (it saves its persistence
    /// file), SIGKILL for krl-test-broker (it keeps nothing anyway).
    pub fn down(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if mosquitto_mode() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        } else {
            let _ = child.kill();
        }
        let _ = child.wait();
        self.lines = None;
        // Gone for sure: the port refuses connections.
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the broker did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The next message the in-process watcher saw (krl-test-broker).
    pub fn next(&self, what: &str) -> Msg {
        self.lines
            .as_ref()
            .expect("a running krl-test-broker with watch filters")
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `mosquitto -c DIR/mosquitto.conf` with `conf` and returns once
/// `port` takes connections. `dir` is made writable for the user mosquitto
/// drops to when run as root (its persistence file, and it must read the
/// files named in `conf`). With `log`, mosquitto's log goes to
/// `DIR/mosquitto.log` (give `log_dest stderr` in `conf`), else nowhere.
pub fn spawn_mosquitto(dir: &ScratchDir, port: u16, conf: &str, log: bool) -> Child {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777));
    }
    let conf = dir.file("mosquitto.conf", conf);
    let stderr = if log {
        Stdio::from(std::fs::File::create(dir.path().join("mosquitto.log")).unwrap())
    } else {
        Stdio::null()
    };
    let mut child = Command::new("mosquitto")
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("running mosquitto (KRL_TEST_MOSQUITTO=1 needs it on PATH)");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("mosquitto.log")).unwrap_or_default();
            panic!("mosquitto exited ({status}) before listening on {port}:\n{log}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mosquitto did not start listening on {port}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// The flags that give `krl serve` a broker for a test: its embedded one
/// on a free port, or (mosquitto mode) `--mqtt-url` to a mosquitto the
/// returned [`TestBroker`] runs.
pub fn engine_broker(name: &str) -> (Option<TestBroker>, Vec<String>) {
    if mosquitto_mode() {
        let b = TestBroker::start(name, &[]);
        let url = b.url();
        (Some(b), vec!["--mqtt-url".into(), url])
    } else {
        (None, vec!["--mqtt-listen".into(), "127.0.0.1:0".into()])
    }
}
