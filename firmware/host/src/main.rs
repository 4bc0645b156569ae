//! `krl-device`: the krl-firmware core on a host, against a real MQTT
//! broker (rumqttc), so the whole SMS-to-device bridge runs on one
//! machine. It prints one line for everything it does.
//!
//! The core decides; this file only carries bytes: [`Outbox`] implements
//! the core's `Mqtt` trait by queueing requests, which the main loop then
//! hands to rumqttc, and [`HostClock`] is its `Clock`. The rumqttc event
//! loop runs in its own task and forwards what arrives over an unbounded
//! channel, so neither side can block the other.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use krl_firmware::device::{Clock, Config, Device, DeviceError, Mqtt, Outcome, QoS};
use krl_firmware::message::MAX_PAYLOAD_BYTES;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, Publish};
use tokio::sync::mpsc;

/// The krl-firmware device, run on a host against an MQTT broker.
#[derive(Parser, Debug)]
#[command(name = "krl-device", version)]
struct Args {
    /// The broker: mqtt://[user[:password]@]host[:port] (port 1883 by default).
    #[arg(long, env = "KRL_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    mqtt_url: String,
    /// The device id: the MQTT client id and the shadow topic's name.
    #[arg(long, default_value = "device-1")]
    id: String,
    /// The device's own Twilio number: it then answers only messages To it,
    /// and its power-on message comes From it.
    #[arg(long)]
    number: Option<String>,
    /// Send a power-on message to this number when starting (needs --number).
    #[arg(long)]
    notify: Option<String>,
    /// The power-on message's text.
    #[arg(long, default_value = "krl-device is on")]
    message: String,
    /// An image for the power-on message (it is then an MMS).
    #[arg(long)]
    media_url: Option<String>,
    /// The topic of the SMS bridge.
    #[arg(long, default_value = krl_firmware::device::TWILIO_TOPIC)]
    topic: String,
    /// The shadow topic (default things/ID/shadow/update).
    #[arg(long)]
    shadow_topic: Option<String>,
    /// Report the shadow this often, in ms (0: only at start and on change).
    #[arg(long, default_value_t = krl_firmware::device::DEFAULT_REPORT_INTERVAL_MS)]
    report_interval_ms: u64,
    /// Start a clean session instead of resuming the broker's persistent
    /// one (which keeps QoS 1 messages published while the device was away).
    #[arg(long)]
    clean_session: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Broker {
    host: String,
    port: u16,
    login: Option<(String, String)>,
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// `mqtt://[user[:password]@]host[:port][/]`.
fn parse_url(url: &str) -> Result<Broker, String> {
    let rest = if let Some(r) = url.strip_prefix("mqtt://") {
        r
    } else if url.starts_with("mqtts://") || url.starts_with("ssl://") {
        return Err(
            "TLS (mqtts://) is not supported by krl-device: use mqtt:// to a local broker"
                .to_string(),
        );
    } else {
        return Err(format!("{url:?}: expected mqtt://host:port"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (login, hostport) = match rest.rsplit_once('@') {
        None => (None, rest),
        Some((auth, hp)) => {
            let (u, p) = auth.split_once(':').unwrap_or((auth, ""));
            (Some((percent_decode(u)?, percent_decode(p)?)), hp)
        }
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed ["))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("{url:?}: expected :port after ]")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("{url:?}: expected mqtt://host:port"));
    }
    let port = match port {
        None => 1883,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
    };
    Ok(Broker {
        host: host.to_string(),
        port,
        login,
    })
}

/// The core's clock: milliseconds since the process started.
struct HostClock(Instant);

impl Clock for HostClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

enum Request {
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
    },
    Subscribe {
        filter: String,
        qos: QoS,
    },
}

/// The core's `Mqtt`: queues what the core asks for; [`flush`] sends it.
#[derive(Default)]
struct Outbox(Vec<Request>);

impl Mqtt for Outbox {
    type Error = std::convert::Infallible;

    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS) -> Result<(), Self::Error> {
        self.0.push(Request::Publish {
            topic: topic.to_string(),
            payload: payload.to_vec(),
            qos,
        });
        Ok(())
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), Self::Error> {
        self.0.push(Request::Subscribe {
            filter: filter.to_string(),
            qos,
        });
        Ok(())
    }
}

fn qos(q: QoS) -> rumqttc::QoS {
    match q {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

/// Hand the queued requests to rumqttc, in order.
async fn flush(client: &AsyncClient, outbox: &mut Outbox) -> Result<(), String> {
    for r in outbox.0.drain(..) {
        match r {
            Request::Publish {
                topic,
                payload,
                qos: q,
            } => {
                println!(
                    "publish {topic} (qos {}): {}",
                    q as u8,
                    String::from_utf8_lossy(&payload)
                );
                client
                    .publish(topic, qos(q), false, payload)
                    .await
                    .map_err(|e| format!("publish: {e}"))?;
            }
            Request::Subscribe { filter, qos: q } => {
                println!("subscribe {filter} (qos {})", q as u8);
                client
                    .subscribe(filter, qos(q))
                    .await
                    .map_err(|e| format!("subscribe: {e}"))?;
            }
        }
    }
    Ok(())
}

fn device_error(e: DeviceError<std::convert::Infallible>) -> String {
    match e {
        DeviceError::Mqtt(never) => match never {},
        DeviceError::Overflow => "a payload did not fit its buffer".to_string(),
    }
}

fn describe(topic: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Replied(r) => format!(
            "reply to {} from {}: {:?}",
            r.to.as_str(),
            r.from.as_str(),
            r.body.as_str()
        ),
        Outcome::Ignored(why) => format!("ignored on {topic}: {why}"),
        Outcome::Rejected(e) => format!("rejected on {topic}: {e}"),
        Outcome::ShadowApplied { report_interval_ms } => {
            format!("shadow: report interval now {report_interval_ms} ms")
        }
        Outcome::ShadowUnchanged => "shadow: nothing to change".to_string(),
    }
}

/// What the event-loop task forwards.
enum Incoming {
    Connected { session_present: bool },
    SubAck,
    Message(Publish),
    Error(String),
}

fn config(args: &Args) -> Result<Config, String> {
    let bad = |what: &str, e: krl_firmware::ConfigError| format!("{what}: {e}");
    let mut c = Config::new(&args.id).map_err(|e| bad("--id", e))?;
    c = c.with_topic(&args.topic).map_err(|e| bad("--topic", e))?;
    if let Some(t) = &args.shadow_topic {
        c = c
            .with_shadow_topic(t)
            .map_err(|e| bad("--shadow-topic", e))?;
    }
    c = c
        .with_report_interval_ms(args.report_interval_ms)
        .map_err(|e| bad("--report-interval-ms", e))?;
    if let Some(n) = &args.number {
        c = c.with_number(n).map_err(|e| bad("--number", e))?;
    }
    match &args.notify {
        Some(to) => {
            c = c
                .with_power_on(to, &args.message, args.media_url.as_deref())
                .map_err(|e| bad("--notify", e))?;
        }
        None if args.media_url.is_some() => {
            return Err("--media-url goes with --notify (the power-on message)".to_string())
        }
        None => {}
    }
    Ok(c)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let broker = parse_url(&args.mqtt_url)?;
    let mut device = Device::new(config(&args)?, HostClock(Instant::now()));
    let id = device.config().id().to_string();
    let shadow_topic = device.config().shadow_topic().to_string();

    let mut opts = MqttOptions::new(id.clone(), broker.host.clone(), broker.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_session(args.clean_session);
    // Ack each message only once the device has handled it (and queued
    // its reply), so a crash in between means a redelivery, not a loss.
    opts.set_manual_acks(true);
    // Read payloads far larger than the core accepts, so an oversized one
    // is refused by the core (and acked) instead of failing the connection
    // and coming back on every reconnect.
    opts.set_max_packet_size(64 * MAX_PAYLOAD_BYTES, 64 * MAX_PAYLOAD_BYTES);
    opts.set_last_will(LastWill::new(
        shadow_topic.clone(),
        device.offline_document().as_bytes().to_vec(),
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    if let Some((user, password)) = &broker.login {
        opts.set_credentials(user.clone(), password.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    println!(
        "krl-device {id}: broker mqtt://{}:{}, topic {}, shadow {shadow_topic}",
        broker.host,
        broker.port,
        device.config().topic()
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let forward = match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(c))) => {
                    backoff = Duration::from_millis(100);
                    Some(Incoming::Connected {
                        session_present: c.session_present,
                    })
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => Some(Incoming::SubAck),
                Ok(Event::Incoming(Packet::Publish(p))) => Some(Incoming::Message(p)),
                Ok(_) => None,
                Err(e) => {
                    if tx.send(Incoming::Error(e.to_string())).is_err() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    None
                }
            };
            if let Some(f) = forward {
                if tx.send(f).is_err() {
                    return;
                }
            }
        }
    });

    // Power on: subscriptions first (rumqttc sends requests in order), then
    // the shadow report and the power-on message.
    let mut outbox = Outbox::default();
    device.start(&mut outbox).map_err(device_error)?;
    flush(&client, &mut outbox).await?;

    let mut connected_once = false;
    let mut subacks = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Incoming::Connected { session_present }) => {
                    println!("connected (session present: {session_present})");
                    if connected_once && !session_present {
                        device.subscribe(&mut outbox).map_err(device_error)?;
                    }
                    connected_once = true;
                }
                Some(Incoming::SubAck) => {
                    subacks += 1;
                    if subacks == device.subscriptions().len() {
                        println!("ready");
                    }
                }
                Some(Incoming::Message(p)) => {
                    println!(
                        "received on {}: {}",
                        p.topic,
                        String::from_utf8_lossy(&p.payload)
                    );
                    let outcome = device
                        .on_message(&mut outbox, &p.topic, &p.payload)
                        .map_err(device_error)?;
                    println!("{}", describe(&p.topic, &outcome));
                    flush(&client, &mut outbox).await?;
                    client.ack(&p).await.map_err(|e| format!("ack: {e}"))?;
                }
                Some(Incoming::Error(e)) => println!("mqtt: {e} (reconnecting)"),
                None => return Err("the MQTT event loop stopped".to_string()),
            },
            _ = tick.tick() => {
                device.poll(&mut outbox).map_err(device_error)?;
            }
            _ = &mut shutdown => {
                println!("stopping");
                client
                    .publish(
                        shadow_topic.clone(),
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        device.offline_document().as_bytes().to_vec(),
                    )
                    .await
                    .map_err(|e| format!("publish: {e}"))?;
                let _ = client.disconnect().await;
                // Give the event loop a moment to send both.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Ok(());
            }
        }
        flush(&client, &mut outbox).await?;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("krl-device: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883"),
            Ok(Broker {
                host: "127.0.0.1".into(),
                port: 1883,
                login: None
            })
        );
        assert_eq!(parse_url("mqtt://broker/").unwrap().port, 1883);
        assert_eq!(
            parse_url("mqtt://dev%40home:p%3Ass@[::1]:1884"),
            Ok(Broker {
                host: "::1".into(),
                port: 1884,
                login: Some(("dev@home".into(), "p:ss".into()))
            })
        );
        assert_eq!(
            parse_url("mqtt://u@h").unwrap().login,
            Some(("u".into(), "".into()))
        );
        assert!(parse_url("mqtts://h:8883").unwrap_err().contains("TLS"));
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("mqtt://h:99999").is_err());
        assert!(parse_url("mqtt://:1883").is_err());
        assert!(parse_url("mqtt://h/x").is_err());
        assert!(parse_url("mqtt://[::1").is_err());
    }

    #[test]
    fn config_from_flags() {
        let args = Args::parse_from([
            "krl-device",
            "--id",
            "d1",
            "--number",
            "+1555",
            "--notify",
            "+1666",
            "--media-url",
            "https://x/y.jpg",
        ]);
        let c = config(&args).unwrap();
        assert_eq!(c.shadow_topic(), "things/d1/shadow/update");
        let p = c.power_on().unwrap();
        assert_eq!(p.to.as_str(), "+1666");
        assert_eq!(p.body.as_str(), "krl-device is on");
        assert_eq!(p.media_url.as_deref(), Some("https://x/y.jpg"));
        let args = Args::parse_from(["krl-device", "--notify", "+1666"]);
        assert!(config(&args).unwrap_err().contains("--notify"));
        let args = Args::parse_from(["krl-device", "--media-url", "https://x"]);
        assert!(config(&args).unwrap_err().contains("--media-url"));
        let args = Args::parse_from(["krl-device", "--id", "a b"]);
        assert!(config(&args).unwrap_err().contains("--id"));
    }
}
