//! `krl serve`: opens the data folder, makes sure of the root pico, binds
//! the listener, prints the start-up lines, serves until SIGINT/SIGTERM,
//! then drains and flushes; starts the integrations' background tasks
//! (the MQTT connection, the Twilio outbox's sender). Uses: `store`,
//! `engine`, `http`, `mqtt`, `twilio::sender`, `clock`, `ids`, tokio,
//! axum.
//!
//! Shutdown order (as in mini-redis): stop accepting, let in-flight
//! requests finish (an event's answer waits for its flush, so finished
//! means durable), give up on stragglers after [`DRAIN`], stop the pico
//! tasks after their queued messages, flush once more.

use crate::engine::{Engine, Settings};
use crate::ids::random_base62;
use crate::store::{Store, StoreError};
use anyhow::Context as _;
use krl_lang::engine::Limits;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// The settings of `krl serve` (flags and their env vars: see `main.rs`
/// and docs/server.md).
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// HTTP listen address; port 0 picks a free one.
    pub listen: String,
    /// sled database folder.
    pub data: PathBuf,
    /// Base URL the outside world uses; default `http://<bound address>`.
    pub public_url: Option<String>,
    /// Admin bearer token; generated (and printed) when `None`.
    pub admin_token: Option<String>,
    /// Twilio REST API base (`--twilio-api-url`; the outbox sends there).
    pub twilio_api_url: String,
    /// Embedded MQTT broker address (`mqtt::broker`); port 0 picks one.
    pub mqtt_listen: String,
    /// External MQTT broker instead of the embedded one.
    pub mqtt_url: Option<String>,
    /// `--mqtt-ca`: the CA certificates (PEM) trusted for an `mqtts://`
    /// broker instead of the built-in roots (`mqtt::tls`).
    pub mqtt_ca: Option<PathBuf>,
    /// No MQTT at all.
    pub no_mqtt: bool,
    /// Folder served under `/static/` (`statics`).
    pub static_dir: Option<PathBuf>,
    /// `--pico-engine DIR`: the Pico Engine's package folder
    /// (`engine::pico_engine`).
    pub pico_engine: Option<PathBuf>,
    /// Twilio webhooks: engine-wide auth token, apology.
    pub twilio: crate::twilio::TwilioSettings,
    /// Bounds on each evaluation.
    pub limits: Limits,
    /// Time limit of one `http:` request.
    pub http_timeout: Duration,
    /// `--clock`: the instant (ms since the Unix epoch) the engine's clock
    /// starts at; `None`: the system clock.
    pub clock_start_ms: Option<i64>,
    /// `--durability`: what an answer promises (`durable`).
    pub durability: crate::durable::Durability,
    /// `--pico-idle-timeout`: how long a pico task waits with nothing to
    /// do before it leaves memory (`pico`).
    pub pico_idle_timeout: Duration,
    /// `--max-live-picos`: how many pico tasks may be in memory before
    /// idle ones leave sooner (`pico`).
    pub max_live_picos: usize,
    /// `--cache-mb`: the database's cache, in bytes (`store`).
    pub cache_bytes: u64,
    /// `--store`, `--node-id`, `--advertise`: a cluster node on
    /// PostgreSQL instead of sled (`cluster`).
    pub cluster: crate::cluster::ClusterArgs,
}

/// The stack of the runtime's threads (see [`serve`]).
const THREAD_STACK: usize = 1 << 30;

/// Runs the server on a multi-threaded tokio runtime until a signal.
pub fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Rules may build deeply nested values (a `reduce` that wraps its
        // accumulator 100,000 times): dropping, comparing or encoding one
        // recurses natively, outside the evaluator's own grown stack. Big
        // stacks (address space; memory only as touched) keep that an
        // ordinary event, not a stack overflow that ends the process.
        .thread_stack_size(THREAD_STACK)
        .build()
        .context("starting the tokio runtime")?;
    let result = rt.block_on(run(cfg));
    // Threads still busy in a rule (see Engine::shutdown) do not hold the
    // process: give the rest a moment, then return (and exit).
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(cfg: ServeConfig) -> anyhow::Result<()> {
    if let Some(start) = cfg.clock_start_ms {
        crate::clock::set_clock(start);
    }
    let bind = || async {
        TcpListener::bind(&cfg.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}; choose another address with --listen ADDR \
                 (or KRL_LISTEN; port 0 picks a free one)",
                cfg.listen
            )
        })
    };
    let (store, listener, cluster) = match &cfg.cluster.store {
        // The store first: a second `krl serve` on the same folder must
        // fail on the lock, before it takes a port or prints anything.
        None => {
            let store = match Store::open_with_cache(&cfg.data, cfg.cache_bytes) {
                Ok(s) => s,
                Err(e @ StoreError::Locked { .. }) => return Err(e.into()),
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("opening the data folder {}", cfg.data.display()))
                }
            };
            (store, bind().await?, None)
        }
        // A cluster node: the address first, for the node's default id.
        Some(url) => {
            if cfg.admin_token.as_deref().is_none_or(str::is_empty) {
                anyhow::bail!(
                    "a cluster's nodes share one admin token (they call each other with \
                     it): give every node the same --admin-token (or KRL_ADMIN_TOKEN)"
                );
            }
            if !cfg.no_mqtt && cfg.mqtt_url.is_none() {
                anyhow::bail!(
                    "a cluster's nodes share one MQTT broker, not their embedded ones \
                     (docs/cluster.md): give every node the same --mqtt-url, or --no-mqtt"
                );
            }
            let listener = bind().await?;
            let addr = listener.local_addr().context("reading the bound address")?;
            let node_id = cfg
                .cluster
                .node_id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", host_name(), addr.port()));
            let advertise = cfg
                .cluster
                .advertise
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"));
            let store =
                tokio::task::block_in_place(|| Store::open_postgres(url, &node_id, &cfg.data))
                    .with_context(|| {
                        format!("opening the store {}", crate::store::pg::redact(url))
                    })?;
            let cluster = crate::cluster::ClusterConfig {
                store: url.clone(),
                node_id,
                advertise,
            };
            (store, listener, Some(cluster))
        }
    };
    store.set_durability(cfg.durability);
    crate::idempotency::spawn_sweeper(store.clone());
    let addr = listener.local_addr().context("reading the bound address")?;
    // MQTT before the start-up lines: a busy broker port is a clear
    // error, and the `mqtt` line gives the address in use.
    let mqtt = if cfg.no_mqtt {
        if let Some(ca) = &cfg.mqtt_ca {
            anyhow::bail!(crate::mqtt::tls::ca_without_tls(
                ca,
                "MQTT is off (--no-mqtt)"
            ));
        }
        None
    } else {
        let broker = match &cfg.mqtt_url {
            Some(url) => crate::mqtt::BrokerUrl::parse(url).map_err(anyhow::Error::msg)?,
            None => {
                if let Some(ca) = &cfg.mqtt_ca {
                    anyhow::bail!(crate::mqtt::tls::ca_without_tls(
                        ca,
                        "the embedded broker is plain MQTT"
                    ));
                }
                let listen = cfg.mqtt_listen.clone();
                let at = tokio::task::spawn_blocking(move || crate::mqtt::broker::start(&listen))
                    .await
                    .context("starting the embedded MQTT broker")?
                    .map_err(anyhow::Error::msg)?;
                crate::mqtt::BrokerUrl {
                    tls: false,
                    host: at.ip().to_string(),
                    port: at.port(),
                    login: None,
                }
            }
        };
        // A bad --mqtt-ca file is a start-up error, not a log line later.
        let tls = crate::mqtt::tls::Tls::for_broker(&broker, cfg.mqtt_ca.as_deref())
            .map_err(anyhow::Error::msg)?;
        Some(crate::mqtt::Mqtt::new(&store, broker, tls).context("opening the MQTT queue")?)
    };
    let settings = Settings {
        public_url: cfg
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        twilio_api_url: cfg.twilio_api_url.clone(),
        mqtt_listen: (!cfg.no_mqtt && cfg.mqtt_url.is_none()).then(|| cfg.mqtt_listen.clone()),
        mqtt_url: if cfg.no_mqtt {
            None
        } else {
            cfg.mqtt_url.clone()
        },
        mqtt: mqtt.clone(),
        static_dir: cfg.static_dir.clone(),
        pico_engine: cfg.pico_engine.clone(),
        twilio: cfg.twilio.clone(),
        limits: cfg.limits,
        http_timeout: Some(cfg.http_timeout),
        pico_idle_timeout: Some(cfg.pico_idle_timeout),
        max_live_picos: Some(cfg.max_live_picos),
        pico_retire_pause: None,
    };
    let (token, generated) = match &cfg.admin_token {
        Some(t) if !t.is_empty() => (t.clone(), false),
        _ => (random_base62(32), true),
    };
    let engine = match &cluster {
        None => Engine::open(store, settings)?,
        Some(c) => {
            // One node at a time makes the root pico on first start.
            let pg = store
                .postgres()
                .expect("a cluster's store is PostgreSQL")
                .clone();
            tokio::task::block_in_place(|| pg.check_node_id(crate::cluster::LEASE))?;
            let lock = tokio::task::block_in_place(|| pg.startup_lock())?;
            pg.leases().set_open_writes(true);
            let opened = tokio::task::block_in_place(|| Engine::open(store.clone(), settings));
            pg.leases().set_open_writes(false);
            drop(lock);
            let engine = opened?;
            let node = crate::cluster::Cluster::new(&store, c).expect("a PostgreSQL store");
            engine.join(node, &token);
            tracing::info!(node = %c.node_id, advertise = %c.advertise, "cluster node");
            engine
        }
    };
    // The MQTT connection: sends the queue, delivers messages as events.
    if let Some(m) = &mqtt {
        tokio::spawn(crate::mqtt::client::run(
            engine.dispatch().downgrade(),
            m.clone(),
        ));
    }
    // The Twilio outbox's sender: resumes queued entries at once.
    tokio::spawn(crate::twilio::sender::run(
        engine.dispatch().downgrade(),
        engine.outbox_config().wake.clone(),
        cfg.twilio_api_url.clone(),
        cfg.http_timeout,
    ));
    if let Some(dir) = &cfg.pico_engine {
        let ui = engine
            .boot_pico_engine(dir)
            .await
            .with_context(|| format!("--pico-engine {}", dir.display()))?;
        engine.set_ui_eci(ui);
    }
    let app = crate::http::router(engine.clone(), &token);

    // The machine-readable start-up lines (docs/server.md).
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening http://{addr}")?;
        writeln!(out, "root_eci {}", engine.meta().root_eci)?;
        if generated {
            writeln!(out, "admin_token {token}")?;
        }
        if let Some(m) = &mqtt {
            writeln!(out, "mqtt {}", m.broker_display())?;
        }
        out.flush()?;
    }
    tracing::info!(%addr, data = %cfg.data.display(), "krl serving");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut graceful = stop_rx.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|s| *s).await;
        // Open trace streams (the console) end instead of holding the drain.
        crate::trace::close();
    });
    let drain_limit = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        r = server => r.context("serving HTTP")?,
        () = drain_limit => tracing::warn!("requests still running after {DRAIN:?}; stopping anyway"),
    }
    if let Some(m) = &mqtt {
        m.stop().await;
    }
    engine.shutdown().await?;
    tracing::info!("krl stopped");
    Ok(())
}

/// This machine's name (for a cluster node's default id).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "krl".to_string())
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
