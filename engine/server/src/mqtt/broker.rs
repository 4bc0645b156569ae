//! The embedded broker: rumqttd (MQTT 3.1.1) on `--mqtt-listen`, in
//! threads of its own, started before the start-up lines are printed. It
//! keeps sessions (clean_session=false) in memory: they last as long as
//! the engine runs, so the engine and devices get what was published
//! while they were disconnected, but not what was published while the
//! engine (and so the broker) was down. For that, use an external broker
//! with persistence (`--mqtt-url`, e.g. mosquitto).
//!
//! rumqttd binds its own listener and leaves Nagle's algorithm on for
//! the connections it accepts: a broker that sends two small packets in a
//! row (a PUBACK, then a message) holds the second until the client's
//! delayed ACK of the first, about 40 ms later on Linux. So rumqttd
//! listens on a loopback port of its own and the address users connect to
//! is a relay in front of it ([`relay`]): TCP_NODELAY on every socket, and
//! on Linux TCP_QUICKACK after each read from rumqttd, so rumqttd's held
//! packets go at once. A message round trip through the embedded broker
//! then costs well under a millisecond instead of 40 ms
//! (docs/performance.md, "MQTT round trips").

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
    // rumqttd's own port: loopback, free (taken, then let go for it).
    let inner = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("embedded MQTT broker: {e}"))?;
    let server = rumqttd::ServerSettings {
        name: "krl".into(),
        listen: inner,
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
    while !mqtt_ready(inner) {
        if thread.is_finished() || Instant::now() > deadline {
            return Err(format!(
                "the embedded MQTT broker did not start on {inner} (another process took the \
                 port?); choose another address with --mqtt-listen ADDR, or use --mqtt-url or \
                 --no-mqtt"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    probe
        .set_nonblocking(true)
        .map_err(|e| format!("embedded MQTT broker: {e}"))?;
    std::thread::Builder::new()
        .name("mqtt-relay".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("embedded MQTT broker: no relay runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(probe) {
                    Ok(listener) => accept(listener, inner).await,
                    Err(e) => tracing::error!("embedded MQTT broker: {e}"),
                }
            });
        })
        .map_err(|e| format!("embedded MQTT broker: {e}"))?;
    Ok(addr)
}

/// Whether rumqttd answers on `inner`: a whole MQTT 3.1.1 session
/// (CONNECT, its CONNACK, DISCONNECT), so the broker logs no error about a
/// connection that closed before its CONNECT.
fn mqtt_ready(inner: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&inner, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let id = b"krl-start-probe";
    let mut connect = vec![0x10, (12 + id.len()) as u8];
    connect.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10]);
    connect.extend_from_slice(&[0, id.len() as u8]);
    connect.extend_from_slice(id);
    let mut connack = [0u8; 4];
    let ok = s.write_all(&connect).is_ok()
        && s.read_exact(&mut connack).is_ok()
        && connack[0] == 0x20
        && connack[3] == 0;
    let _ = s.write_all(&[0xE0, 0]);
    ok
}

/// Accepts the users' connections and relays each to rumqttd.
async fn accept(listener: tokio::net::TcpListener, inner: SocketAddr) {
    loop {
        let (client, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("embedded MQTT broker: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            match tokio::net::TcpStream::connect(inner).await {
                Ok(broker) => relay(client, broker).await,
                Err(e) => tracing::error!("embedded MQTT broker: cannot reach rumqttd: {e}"),
            }
        });
    }
}

/// Copies bytes both ways until either side closes, without Nagle delays
/// (see the module doc).
pub async fn relay(client: tokio::net::TcpStream, broker: tokio::net::TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (mut c_read, mut c_write) = client.into_split();
    let (mut b_read, mut b_write) = broker.into_split();
    let up = async {
        let _ = copy(&mut c_read, &mut b_write).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut b_write).await;
    };
    let down = async {
        let _ = copy(&mut b_read, &mut c_write).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut c_write).await;
    };
    tokio::join!(up, down);
}

async fn copy(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        quickack(from.as_ref());
        to.write_all(&buf[..n]).await?;
    }
}

/// Acknowledge what was read at once (Linux turns quick ACKs off again
/// by itself, so this is done after every read).
fn quickack(s: &tokio::net::TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket descriptor, a c_int option of its size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = s;
}
