//! MQTT round trips through a running `krl serve` (docs/performance.md,
//! "MQTT round trips"): a message on `rtt/in/J` becomes an `mqtt message`
//! event on pico J, whose rule publishes the payload back on
//! `rtt/out/K` (QoS 1, through the engine's durable queue); this client
//! measures the time from its publish to the echo, keeping N messages in
//! flight (N lanes, each sends its next message when its echo is back).
//!
//! ```sh
//! cargo run --release -p krl --example mqtt_rtt -- \
//!     --url http://127.0.0.1:3000 --token T --mqtt mqtt://127.0.0.1:1883 \
//!     --concurrency 16 --picos 16 --seconds 10
//! ```
//!
//! Set-up through the admin API (registers `bench.mqtt_echo`, makes the
//! picos, subscribes pico J to `rtt/in/J`), then one JSON line on stdout:
//! `{"concurrency", "picos", "seconds", "round_trips", "per_second",
//! "p50_ms", "p99_ms", "max_ms"}`.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ECHO: &str = r#"ruleset bench.mqtt_echo {
  rule echo {
    select when mqtt message
    mqtt:publish("rtt/out/" + event:attrs{"payload"}{"k"}, event:attrs{"payload"}, qos = 1)
  }
}"#;

struct Args {
    url: String,
    token: String,
    mqtt: String,
    concurrency: usize,
    picos: usize,
    seconds: f64,
}

fn args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:3000".into(),
        token: String::new(),
        mqtt: "mqtt://127.0.0.1:1883".into(),
        concurrency: 1,
        picos: 1,
        seconds: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = v,
            "--token" => a.token = v,
            "--mqtt" => a.mqtt = v,
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency N"),
            "--picos" => a.picos = v.parse().expect("--picos N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds S"),
            other => panic!("unknown flag {other}"),
        }
    }
    a.picos = a.picos.max(1);
    a.concurrency = a.concurrency.max(1);
    a
}

/// The admin API: register, make the picos, subscribe them.
fn set_up(a: &Args) {
    let http = reqwest::blocking::Client::new();
    let admin = |method: reqwest::Method, path: &str, body: String, ct: &str| -> Value {
        let res = http
            .request(method, format!("{}{path}", a.url))
            .bearer_auth(&a.token)
            .header("content-type", ct)
            .body(body)
            .send()
            .expect("the engine answers");
        let status = res.status();
        let v: Value = res.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    };
    admin(
        reqwest::Method::POST,
        "/api/rulesets",
        ECHO.into(),
        "text/plain",
    );
    for j in 0..a.picos {
        let p = admin(
            reqwest::Method::POST,
            "/api/picos",
            json!({"name": format!("rtt{j}"), "rulesets": [{"rid": "bench.mqtt_echo"}]})
                .to_string(),
            "application/json",
        );
        let id = p["id"].as_str().expect("a pico id");
        admin(
            reqwest::Method::POST,
            &format!("/api/picos/{id}/mqtt"),
            json!({"filter": format!("rtt/in/{j}"), "qos": 1}).to_string(),
            "application/json",
        );
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let a = args();
    let a = tokio::task::spawn_blocking(move || {
        set_up(&a);
        a
    })
    .await
    .expect("set-up");
    run(a).await;
}

async fn run(a: Args) {
    let hostport = a
        .mqtt
        .strip_prefix("mqtt://")
        .expect("--mqtt mqtt://host:port");
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    let id = format!("rtt-{}", std::process::id());
    let mut opts = MqttOptions::new(id, host, port.parse().expect("a port"));
    opts.set_keep_alive(Duration::from_secs(30))
        .set_inflight(1000)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);
    client
        .subscribe("rtt/out/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64)>();
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(s) = subscribed.take() {
                        let _ = s.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v: Value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    if let (Some(k), Some(i)) = (v["k"].as_u64(), v["i"].as_u64()) {
                        let _ = tx.send((k as usize, i));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("mqtt: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    subscribed_rx.await.expect("subscribed");
    let send = |k: usize, i: u64| {
        let client = client.clone();
        let picos = a.picos;
        async move {
            let topic = format!("rtt/in/{}", k % picos);
            let payload = json!({"k": k, "i": i}).to_string();
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    };
    // Warm-up: every lane once (retrying until the subscriptions are up).
    for k in 0..a.concurrency {
        loop {
            send(k, 0).await;
            match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
                Ok(Some((kk, 0))) if kk == k => break,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the client stopped"),
                Err(_) => eprintln!("no echo for lane {k} yet; again"),
            }
        }
    }
    // Drain late warm-up echoes.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {}
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.seconds);
    let mut sent_at = vec![Instant::now(); a.concurrency];
    let mut next = vec![1u64; a.concurrency];
    for (k, at) in sent_at.iter_mut().enumerate() {
        *at = Instant::now();
        send(k, 1).await;
    }
    let mut rtts: Vec<f64> = Vec::new();
    let mut open = a.concurrency;
    while open > 0 {
        let Ok(Some((k, i))) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await
        else {
            eprintln!("{open} echoes never came back");
            break;
        };
        if k >= a.concurrency || i != next[k] {
            continue; // a duplicate (QoS 1 is at least once) or a late one
        }
        rtts.push(sent_at[k].elapsed().as_secs_f64() * 1000.0);
        if Instant::now() < end {
            next[k] += 1;
            sent_at[k] = Instant::now();
            send(k, next[k]).await;
        } else {
            next[k] = u64::MAX;
            open -= 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    rtts.sort_by(|x, y| x.total_cmp(y));
    let line = json!({
        "concurrency": a.concurrency,
        "picos": a.picos,
        "seconds": (seconds * 100.0).round() / 100.0,
        "round_trips": rtts.len(),
        "per_second": (rtts.len() as f64 / seconds).round(),
        "p50_ms": (percentile(&rtts, 50.0) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&rtts, 99.0) * 100.0).round() / 100.0,
        "max_ms": (rtts.last().copied().unwrap_or(0.0) * 100.0).round() / 100.0,
    });
    println!("{line}");
}
