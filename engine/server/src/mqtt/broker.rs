//! The embedded broker: rumqttd (MQTT 3.1.1) on `--mqtt-listen`, in
//! threads of its own, started before the start-up lines are printed. It
//! keeps sessions (clean_session=false) in memory: they last as long as
//! the engine runs, so the engine and devices get what was published
//! while they were disconnected, but not what was published while the
//! engine (and so the broker) was down. For that, use an external broker
//! with persistence (`--mqtt-url`, e.g. mosquitto).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest payload the embedded broker takes (bytes).
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Messages a client may have unacknowledged at once.
pub const MAX_INFLIGHT: usize = 100;

/// Starts the broker on `listen` (`host:port`; port 0 picks a free one)
/// and returns once it accepts connections, with the address in use.
pub fn start(listen: &str) -> Result<SocketAddr, String> {
    let addr = listen
        .to_socket_addrs()
        .map_err(|e| format!("--mqtt-listen {listen:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--mqtt-listen {listen:?}: no address"))?;
    // Bind first: a busy port is a clear error, and port 0 becomes a real
    // one (rumqttd binds itself and does not tell which port it got).
    let probe = TcpListener::bind(addr).map_err(|e| {
        format!(
            "cannot start the embedded MQTT broker on {addr}: {e}; choose another address \
             with --mqtt-listen ADDR (port 0 picks a free one), use a running broker with \
             --mqtt-url mqtt://HOST:PORT, or turn MQTT off with --no-mqtt"
        )
    })?;
    let addr = probe
        .local_addr()
        .map_err(|e| format!("embedded MQTT broker: {e}"))?;
    drop(probe);
    let server = rumqttd::ServerSettings {
        name: "krl".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PAYLOAD,
            max_inflight_count: MAX_INFLIGHT,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        router: rumqttd::RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 << 20,
            max_segment_count: 8,
            ..rumqttd::RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..rumqttd::Config::default()
    };
    let thread = std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!("embedded MQTT broker stopped: {e}");
            }
        })
        .map_err(|e| format!("embedded MQTT broker: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(addr);
        }
        if thread.is_finished() || Instant::now() > deadline {
            return Err(format!(
                "the embedded MQTT broker did not start on {addr} (another process took the \
                 port?); choose another with --mqtt-listen ADDR, or use --mqtt-url or --no-mqtt"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
