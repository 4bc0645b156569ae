//! `krl-test-broker PORT [FILTER...]`: an MQTT broker (rumqttd) on
//! 127.0.0.1:PORT for the end-to-end tests that must stop and start a
//! broker under a running `krl serve` (tests/tests/e2e/mqtt.rs). Each FILTER
//! is subscribed by an in-process watcher *before* the broker accepts
//! connections, so no message published once it is up can be missed;
//! every message the watcher gets is printed on stdout as a JSON line
//! `{"topic": ..., "payload": ...}` (payload as text). `ready` is printed
//! once the broker accepts connections.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: krl-test-broker PORT [FILTER...]");
    let filters: Vec<String> = args.collect();
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = rumqttd::ServerSettings {
        name: "test".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1 << 20,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        router: rumqttd::RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 << 20,
            max_segment_count: 10,
            ..rumqttd::RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..rumqttd::Config::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    let (mut tx, mut rx) = broker.link("krl-test-watcher").expect("a local link");
    for f in &filters {
        tx.subscribe(f.clone()).expect("watcher subscribes");
    }
    std::thread::spawn(move || {
        broker.start().expect("broker runs");
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "broker did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    loop {
        match rx.recv() {
            Ok(Some(rumqttd::Notification::Forward(f))) => {
                let line = serde_json::json!({
                    "topic": String::from_utf8_lossy(&f.publish.topic),
                    "payload": String::from_utf8_lossy(&f.publish.payload),
                });
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
