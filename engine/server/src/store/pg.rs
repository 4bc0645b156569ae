//! The store on PostgreSQL (`krl serve --store postgres://...`): the same
//! keys and values as on sled, in one table, for a cluster of nodes
//! (docs/cluster.md). Uses: tokio-postgres, tokio, `store`'s keys.
//!
//! # Tables
//!
//! | table | columns | what |
//! | --- | --- | --- |
//! | `krl_kv` | `k bytea` primary key, `v bytea` | every key and value of the store's layout |
//! | `krl_nodes` | `node`, `advertise`, `seen` | the cluster's nodes and their last heartbeat |
//! | `krl_shards` | `shard`, `owner`, `epoch`, `lease_until` | who owns each of the [`SHARDS`] shards, under which epoch, until when |
//!
//! # Writes: an overlay and one transaction per group
//!
//! [`Pg::apply`] puts a batch into the node's overlay (a map of pending
//! writes, each with the number of the batch that made it); reads look at
//! the overlay first, then at the table, so a node reads its own writes at
//! once, as on sled. The group flusher ([`Pg::flush`]) takes the overlay
//! as it stands (whole batches: `apply` holds the overlay's lock for the
//! whole batch), writes it in ONE transaction (an `unnest` upsert and a
//! delete by array), and only then lets the overlay's entries go: a read
//! that misses the overlay therefore finds the write in the table.
//!
//! # Fencing
//!
//! In the same transaction, before writing, the flusher locks the rows of
//! the shards the group touches and this node holds (`FOR SHARE`) and
//! checks that their owner and epoch are still this node's: a node that
//! was paused or cut off while another claimed its shard (an `UPDATE`
//! that increments the epoch, which waits for the share lock) commits
//! nothing more for it. The writes of a lost shard are dropped from the
//! overlay and its shards reported in [`Leases::take_lost`]. A write to a
//! shard this node does not hold at all is refused the same way (but for
//! [`Leases::set_open_writes`]: the root pico at first start, `krl
//! migrate`).
//!
//! # Failures
//!
//! A lost connection (the server restarted, the primary failed over) is
//! retried with a new connection for up to [`RETRY`]; the waiters of the
//! group wait meanwhile, so an event is answered only once it is
//! committed. A multi-host URL with `target_session_attrs=read-write`
//! finds the new primary.

use super::{Result, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls, Statement};

/// The number of shards picos are spread over (fixed for a database).
pub const SHARDS: u32 = 1024;

/// How long a lost connection is retried before an operation fails.
pub const RETRY: Duration = Duration::from_secs(30);

/// How many connections serve reads (each pipelines many at once).
const READERS: usize = 2;

/// The shard of a pico: FNV-1a (64 bits) of its id, modulo [`SHARDS`].
/// Fixed forever: the shards of stored picos depend on it.
pub fn shard_of_pico(id: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(SHARDS)) as u32
}

/// The shard of a key whose first part is a pico id; `None` for the
/// engine-wide keys (rulesets, channels, the outboxes, app variables).
/// A child link (`H parent seq child`) is the child's: the node that
/// makes a pico (in one of its own shards) or deletes it (its owner)
/// writes it with the pico's own keys, whichever node has the parent.
pub fn shard_of_key(key: &[u8]) -> Option<u32> {
    let (&tag, _) = key.split_first()?;
    if !b"PIEHSTVWKBF".contains(&tag) {
        return None;
    }
    let (_, parts) = super::Key::decode(key)?;
    let owner = if tag == b'H' {
        parts.get(2)
    } else {
        parts.first()
    };
    owner.map(|p| shard_of_pico(p))
}

/// The shards this node holds and under which epoch: written by the
/// cluster's lease loop, read by the flusher's fencing check and by the
/// routing of requests.
pub struct Leases {
    /// The epoch each shard is held at, or 0 when not held (a claim makes
    /// the epoch at least 1).
    epochs: Vec<AtomicU64>,
    /// Shards held but being handed to another node: still fenced by
    /// their epoch, no longer served (no new pico task starts on them).
    leaving: Vec<std::sync::atomic::AtomicBool>,
    /// Writes to shards not held are let through (start-up's root pico,
    /// `krl migrate`), instead of refused.
    open_writes: std::sync::atomic::AtomicBool,
    /// Shards whose writes the database refused (another node took them).
    lost: Mutex<BTreeSet<u32>>,
    /// This node's id (`--node-id`).
    node: String,
    /// Bumped whenever the shards served here change (MQTT moves its
    /// subscriptions and queue with them).
    changed: tokio::sync::watch::Sender<u64>,
}

impl Leases {
    fn new(node: &str) -> Leases {
        Leases {
            changed: tokio::sync::watch::Sender::new(0),
            epochs: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            leaving: (0..SHARDS)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
            open_writes: std::sync::atomic::AtomicBool::new(false),
            lost: Mutex::new(BTreeSet::new()),
            node: node.to_string(),
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The epoch `shard` is held at, if this node holds it.
    pub fn held(&self, shard: u32) -> Option<u64> {
        match self.epochs.get(shard as usize)?.load(Ordering::SeqCst) {
            0 => None,
            e => Some(e),
        }
    }

    /// Does this node serve `shard` (hold it, and not hand it over)?
    pub fn serves(&self, shard: u32) -> bool {
        self.held(shard).is_some()
            && !self
                .leaving
                .get(shard as usize)
                .is_some_and(|l| l.load(Ordering::SeqCst))
    }

    /// Does this node serve the shard of pico `id`?
    pub fn serves_pico(&self, id: &str) -> bool {
        self.serves(shard_of_pico(id))
    }

    /// Does this node serve any shard?
    pub fn serves_any(&self) -> bool {
        (0..SHARDS).any(|s| self.serves(s))
    }

    /// Records that this node holds `shard` at `epoch` (`None`: no longer).
    pub fn set(&self, shard: u32, epoch: Option<u64>) {
        let before = self.serves(shard);
        if let Some(e) = self.epochs.get(shard as usize) {
            e.store(epoch.unwrap_or(0), Ordering::SeqCst);
        }
        if let Some(l) = self.leaving.get(shard as usize) {
            l.store(false, Ordering::SeqCst);
        }
        if before != self.serves(shard) {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Marks `shard` as being handed over (see `leaving`).
    pub fn set_leaving(&self, shard: u32) {
        let before = self.serves(shard);
        if let Some(l) = self.leaving.get(shard as usize) {
            l.store(true, Ordering::SeqCst);
        }
        if before {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Changes whenever the shards served here change.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Lets writes to shards not held through (`true`), or refuses them
    /// (`false`, the default): see `open_writes`.
    pub fn set_open_writes(&self, open: bool) {
        self.open_writes.store(open, Ordering::SeqCst);
    }

    /// The shards held now.
    pub fn all_held(&self) -> Vec<(u32, u64)> {
        (0..SHARDS)
            .filter_map(|s| self.held(s).map(|e| (s, e)))
            .collect()
    }

    fn lose(&self, shards: &BTreeSet<u32>) {
        for &s in shards {
            self.set(s, None);
        }
        self.lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(shards);
    }

    /// The shards lost at a commit since the last call.
    pub fn take_lost(&self) -> BTreeSet<u32> {
        std::mem::take(&mut *self.lost.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS krl_kv (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE IF NOT EXISTS krl_nodes (
    node text PRIMARY KEY,
    advertise text NOT NULL,
    seen timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS krl_shards (
    shard integer PRIMARY KEY,
    owner text,
    epoch bigint NOT NULL DEFAULT 0,
    lease_until timestamptz NOT NULL DEFAULT 'epoch'
);
";

/// A connection and its prepared statements.
pub struct Conn {
    /// The client (statements below are prepared on it).
    pub client: Client,
    get: Statement,
    scan: Statement,
    scan_all: Statement,
    upsert: Statement,
    delete: Statement,
    fence: Statement,
}

impl Conn {
    async fn open(url: &str) -> std::result::Result<Conn, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a PostgreSQL connection ended: {e}");
            }
        });
        // A transaction left open (this process paused in the middle of
        // a commit) ends after 3 s, its locks with it: the shard rows it
        // locked must not hold the other nodes' claims up.
        client
            .batch_execute("SET idle_in_transaction_session_timeout = '3s'")
            .await?;
        Ok(Conn {
            get: client.prepare("SELECT v FROM krl_kv WHERE k = $1").await?,
            scan: client
                .prepare("SELECT k, v FROM krl_kv WHERE k >= $1 AND k < $2 ORDER BY k")
                .await?,
            scan_all: client
                .prepare("SELECT k, v FROM krl_kv WHERE k >= $1 ORDER BY k")
                .await?,
            upsert: client
                .prepare(
                    "INSERT INTO krl_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                )
                .await?,
            delete: client
                .prepare("DELETE FROM krl_kv WHERE k = ANY($1)")
                .await?,
            fence: client
                .prepare(
                    "SELECT shard, epoch FROM krl_shards \
                     WHERE shard = ANY($1) AND owner = $2 ORDER BY shard FOR SHARE",
                )
                .await?,
            client,
        })
    }
}

/// Is this a lost or failed connection (worth a new one), rather than an
/// error of the statement?
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    e.is_closed() || e.code().is_none()
}

/// Is it worth trying the same transaction again: a lost connection, a
/// deadlock or serialization failure, a standby that is being promoted
/// (read-only), the server shutting down?
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    is_connection_error(e)
        || e.code().is_some_and(|c| {
            [
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::READ_ONLY_SQL_TRANSACTION,
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            ]
            .contains(c)
        })
}

/// Pending writes: key -> (the batch that wrote it last, the write).
#[derive(Default)]
struct Pending {
    batch: u64,
    map: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)>,
    /// Shard -> the first batch made after this node claimed it: pending
    /// writes to it from earlier batches are from an earlier tenure (the
    /// shard was another node's in between) and are never written.
    claimed_at: BTreeMap<u32, u64>,
}

/// When node `node` last beat (seconds since the epoch) and how long ago.
async fn node_seen(
    c: &Conn,
    node: &str,
) -> std::result::Result<Option<(f64, f64)>, tokio_postgres::Error> {
    let row = c
        .client
        .query_opt(
            "SELECT extract(epoch FROM seen)::float8, \
             extract(epoch FROM now() - seen)::float8 FROM krl_nodes WHERE node = $1",
            &[&node],
        )
        .await?;
    Ok(row.map(|r| (r.get::<_, f64>(0), r.get::<_, f64>(1))))
}

/// See [`Pg::startup_lock`]: the lock goes with the connection.
pub struct StartupLock {
    _conn: Conn,
}

/// A raw key and value.
pub type Kv = (Vec<u8>, Vec<u8>);

/// The PostgreSQL backend (see the module doc).
pub struct Pg {
    /// Its own runtime, so that the store's synchronous reads can wait
    /// for it from any thread, in or out of the engine's runtime.
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    url: String,
    readers: Vec<tokio::sync::Mutex<Option<Arc<Conn>>>>,
    next: AtomicUsize,
    writer: tokio::sync::Mutex<Option<Conn>>,
    pending: Mutex<Pending>,
    leases: Arc<Leases>,
    /// Statements sent for reads, and for commits (a commit's BEGIN,
    /// fencing check, writes and COMMIT each count), and transactions
    /// committed: `krl serve` logs them at shutdown (bench/cluster.sh).
    read_trips: AtomicU64,
    commit_trips: AtomicU64,
    commits: AtomicU64,
}

/// What a node asked of PostgreSQL so far ([`Pg::stats`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Statements for reads.
    pub read_trips: u64,
    /// Statements for commits.
    pub commit_trips: u64,
    /// Transactions committed (group flushes that wrote something).
    pub commits: u64,
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.lock().unwrap_or_else(|p| p.into_inner()).take() {
            rt.shutdown_background();
        }
    }
}

fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(PgError(&e).to_string())
}

/// A tokio-postgres error with PostgreSQL's own words: its `Display` says
/// only "db error" for an error the server sent.
pub(crate) struct PgError<'a>(pub &'a tokio_postgres::Error);

impl std::fmt::Display for PgError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            write!(f, "{}: {}", db.severity(), db.message())?;
            if let Some(detail) = db.detail() {
                write!(f, " ({detail})")?;
            }
            return Ok(());
        }
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl Pg {
    /// Connects to `url`, creates the tables when missing, and answers
    /// the backend of node `node`.
    pub fn open(url: &str, node: &str) -> Result<Arc<Pg>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("krl-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting its runtime: {e}")))?;
        let pg = Arc::new(Pg {
            handle: rt.handle().clone(),
            rt: Mutex::new(Some(rt)),
            url: url.to_string(),
            readers: (0..READERS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            writer: tokio::sync::Mutex::new(None),
            pending: Mutex::new(Pending::default()),
            leases: Arc::new(Leases::new(node)),
            read_trips: AtomicU64::new(0),
            commit_trips: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        });
        let p = pg.clone();
        pg.block(async move {
            let mut guard = p.writer.lock().await;
            let (client, connection) =
                tokio_postgres::connect(&p.url, NoTls).await.map_err(|e| {
                    StoreError::Backend(format!(
                        "connecting to {}: {}",
                        redact(&p.url),
                        PgError(&e)
                    ))
                })?;
            tokio::spawn(connection);
            // One node at a time creates the tables and the shard rows.
            client
                .batch_execute("SELECT pg_advisory_lock(7403001)")
                .await
                .map_err(backend)?;
            let made = async {
                client.batch_execute(SCHEMA).await?;
                client
                    .execute(
                        "INSERT INTO krl_shards (shard) SELECT generate_series(0, $1::integer - 1) \
                         ON CONFLICT DO NOTHING",
                        &[&(SHARDS as i32)],
                    )
                    .await
            }
            .await;
            let _ = client
                .batch_execute("SELECT pg_advisory_unlock(7403001)")
                .await;
            made.map_err(backend)?;
            drop(client);
            *guard = Some(Conn::open(&p.url).await.map_err(backend)?);
            Ok(())
        })?;
        Ok(pg)
    }

    /// Holds PostgreSQL's advisory lock of the engine's start-up until
    /// dropped (one node at a time makes the root pico).
    pub fn startup_lock(&self) -> Result<StartupLock> {
        let url = self.url.clone();
        let client = self.block(async move {
            let c = Conn::open(&url).await.map_err(backend)?;
            c.client
                .batch_execute("SELECT pg_advisory_lock(7403002)")
                .await
                .map_err(backend)?;
            Ok(c)
        })?;
        Ok(StartupLock { _conn: client })
    }

    /// Refuses to start a second live node with this node's id: when the
    /// id's heartbeat is fresh (a node killed a moment ago, or one still
    /// running), waits for it to run out, and fails if it is renewed
    /// meanwhile. `lease`: how long a heartbeat lasts.
    pub fn check_node_id(&self, lease: Duration) -> Result<()> {
        let url = self.url.clone();
        let node = self.leases.node.clone();
        self.block(async move {
            let c = Conn::open(&url).await.map_err(backend)?;
            let Some((first, age)) = node_seen(&c, &node).await.map_err(backend)? else {
                return Ok(());
            };
            let lease = lease.as_secs_f64();
            if age >= lease {
                return Ok(());
            }
            let deadline = Instant::now() + Duration::from_secs_f64(lease - age + 1.0);
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
                match node_seen(&c, &node).await.map_err(backend)? {
                    Some((at, _)) if at > first => {
                        return Err(StoreError::Backend(format!(
                            "the node id {node} is in use by another `krl serve` (a live node \
                             of this cluster has it); give this one another --node-id"
                        )))
                    }
                    Some((_, age)) if age >= lease => return Ok(()),
                    _ => {}
                }
            }
            Ok(())
        })
    }

    /// The shards this node holds.
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    /// The URL connected to, its password hidden.
    pub fn url(&self) -> String {
        redact(&self.url)
    }

    /// The backend's runtime (the cluster's loops run on it).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `f` on the backend's runtime and waits for it, from any thread.
    pub fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Backend("the database's runtime stopped".into()))?
    }

    /// Opens a new connection (for the cluster's own statements).
    pub async fn connect(&self) -> Result<Conn> {
        Conn::open(&self.url).await.map_err(backend)
    }

    /// Listens on `channel` (`LISTEN`), waking `wake` at each
    /// notification, until `stop` says so; a lost connection is made
    /// again after a second. Runs on the backend's runtime.
    pub fn listen(
        self: &Arc<Self>,
        channel: &'static str,
        wake: Arc<tokio::sync::Notify>,
        stop: std::sync::Weak<()>,
    ) {
        let url = self.url.clone();
        self.handle.spawn(async move {
            while stop.strong_count() > 0 {
                match tokio_postgres::connect(&url, NoTls).await {
                    Ok((client, mut connection)) => {
                        let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
                        let w = wake.clone();
                        tokio::spawn(async move {
                            while let Some(m) =
                                std::future::poll_fn(|cx| connection.poll_message(cx)).await
                            {
                                match m {
                                    Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                        w.notify_one()
                                    }
                                    Ok(_) => {}
                                    Err(_) => break,
                                }
                            }
                            drop(done_tx);
                        });
                        if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")).await {
                            tracing::debug!("LISTEN {channel}: {}", PgError(&e));
                        } else {
                            // Until the connection ends (or the node stops).
                            while !client.is_closed() {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                if stop.strong_count() == 0 {
                                    return;
                                }
                            }
                        }
                        drop(client);
                        let _ = done.await;
                    }
                    Err(e) => tracing::debug!("LISTEN {channel}: {}", PgError(&e)),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// A reading connection, made again when it was lost.
    async fn reader(&self) -> Result<Arc<Conn>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % READERS;
        let mut slot = self.readers[i].lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.client.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(Conn::open(&self.url).await.map_err(backend)?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs a read, on a new connection when one was lost, for up to
    /// [`RETRY`].
    async fn read<T, F, Fut>(self: Arc<Self>, f: F) -> Result<T>
    where
        F: Fn(Arc<Conn>) -> Fut,
        Fut: Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    {
        let deadline = Instant::now() + RETRY;
        loop {
            self.read_trips.fetch_add(1, Ordering::Relaxed);
            let err = match self.reader().await {
                Ok(c) => match f(c).await {
                    Ok(v) => return Ok(v),
                    Err(e) if is_retryable(&e) => backend(e),
                    Err(e) => return Err(backend(e)),
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One value: the overlay's, else the table's.
    pub fn get(self: &Arc<Self>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some((_, v)) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(key)
        {
            return Ok(v.clone());
        }
        self.get_committed(key)
    }

    /// One value as the table has it: committed, whatever the overlay
    /// holds for it.
    pub fn get_committed(self: &Arc<Self>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        let me = self.clone();
        self.block(async move {
            me.read(|c| {
                let key = key.clone();
                async move {
                    let row = c.client.query_opt(&c.get, &[&key]).await?;
                    Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
                }
            })
            .await
        })
    }

    /// Every key and value under `prefix`, in key order, the overlay's
    /// writes and removals laid over the table's.
    pub fn scan(self: &Arc<Self>, prefix: &[u8]) -> Result<Vec<Kv>> {
        let end = prefix_end(prefix);
        // The overlay first (see the module doc: an entry leaves it only
        // once the table has it).
        let overlay: Vec<(Vec<u8>, Option<Vec<u8>>)> = {
            let p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.map
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, (_, v))| (k.clone(), v.clone()))
                .collect()
        };
        let from = prefix.to_vec();
        let me = self.clone();
        let rows = self.block(async move {
            me.read(|c| {
                let from = from.clone();
                let end = end.clone();
                async move {
                    let rows = match &end {
                        Some(end) => c.client.query(&c.scan, &[&from, end]).await?,
                        None => c.client.query(&c.scan_all, &[&from]).await?,
                    };
                    Ok(rows
                        .into_iter()
                        .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
                        .collect::<Vec<Kv>>())
                }
            })
            .await
        })?;
        if overlay.is_empty() {
            return Ok(rows);
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
        for (k, v) in overlay {
            match v {
                Some(v) => merged.insert(k, v),
                None => merged.remove(&k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Puts a batch into the overlay (see the module doc). A batch that
    /// writes to a shard this node does not hold is refused whole, at
    /// once: only its event fails (a flush would refuse it with its
    /// group).
    pub fn apply(&self, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        if !self.leases.open_writes.load(Ordering::SeqCst) {
            let unheld: BTreeSet<u32> = ops
                .iter()
                .filter_map(|(k, _)| shard_of_key(k))
                .filter(|&s| self.leases.held(s).is_none())
                .collect();
            if !unheld.is_empty() {
                return Err(StoreError::Backend(format!(
                    "the write touches shard(s) {unheld:?}, which another node serves \
                     (a pico there, e.g. a descendant of a pico being deleted): nothing \
                     was written"
                )));
            }
        }
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.batch += 1;
        let batch = p.batch;
        for (k, v) in ops {
            p.map.insert(k, (batch, v));
        }
        Ok(())
    }

    /// Writes the overlay as it stands in one transaction and lets its
    /// entries go (see the module doc). Runs on the backend's runtime.
    pub async fn flush(self: Arc<Self>) -> std::result::Result<(), String> {
        let me = self.clone();
        match self
            .handle
            .spawn(async move { me.flush_here().await })
            .await
        {
            Ok(r) => r,
            Err(e) => Err(format!("the commit task failed: {e}")),
        }
    }

    async fn flush_here(&self) -> std::result::Result<(), String> {
        let (upto, ops, stale) = {
            let p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let mut stale = BTreeSet::new();
            let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = p
                .map
                .iter()
                .map(|(k, (b, v))| {
                    if let Some(s) = shard_of_key(k) {
                        if p.claimed_at.get(&s).is_some_and(|at| b < at) {
                            stale.insert(s);
                        }
                    }
                    (k.clone(), v.clone())
                })
                .collect();
            (p.batch, ops, stale)
        };
        if ops.is_empty() {
            return Ok(());
        }
        if !stale.is_empty() {
            // Writes from before this node claimed the shard (again):
            // never written, and the group hears it (module doc).
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let claimed_at = p.claimed_at.clone();
            p.map.retain(|k, (b, _)| {
                shard_of_key(k).is_none_or(|s| claimed_at.get(&s).is_none_or(|at| *b >= *at))
            });
            return Err(format!(
                "writes to shard(s) {stale:?} were made before this node held them; \
                 they were not applied: retry"
            ));
        }
        let open = self.leases.open_writes.load(Ordering::SeqCst);
        let shards: BTreeSet<u32> = ops
            .iter()
            .filter_map(|(k, _)| shard_of_key(k))
            .filter(|&s| !open || self.leases.held(s).is_some())
            .collect();
        let deadline = Instant::now() + RETRY;
        let mut writer = self.writer.lock().await;
        loop {
            if writer.as_ref().is_none_or(|c| c.client.is_closed()) {
                match Conn::open(&self.url).await {
                    Ok(c) => *writer = Some(c),
                    Err(e) if Instant::now() < deadline => {
                        tracing::warn!("reconnecting to PostgreSQL: {}", PgError(&e));
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                    Err(e) => return Err(format!("connecting to PostgreSQL: {}", PgError(&e))),
                }
            }
            let conn = writer.as_mut().expect("connected above");
            match self.commit_once(conn, &ops, &shards).await {
                Ok(Ok(())) => break,
                Ok(Err(lost)) => {
                    // Another node holds these shards now: their writes
                    // are not ours to make. The rest stay for the next try.
                    self.leases.lose(&lost);
                    let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    p.map.retain(|k, (b, _)| {
                        *b > upto || shard_of_key(k).is_none_or(|s| !lost.contains(&s))
                    });
                    return Err(format!(
                        "this node no longer holds shard(s) {lost:?} (another node claimed them); \
                         the event was not applied here: retry it"
                    ));
                }
                Err(e) if is_retryable(&e) && Instant::now() < deadline => {
                    tracing::warn!("committing to PostgreSQL: {}; trying again", PgError(&e));
                    *writer = None;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(format!("committing to PostgreSQL: {}", PgError(&e))),
            }
        }
        drop(writer);
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (k, _) in &ops {
            if p.map.get(k).is_some_and(|(b, _)| *b <= upto) {
                p.map.remove(k);
            }
        }
        Ok(())
    }

    /// One transaction: the fencing check, then the writes. `Ok(Err(lost))`
    /// when shards this node held have moved (nothing written).
    async fn commit_once(
        &self,
        conn: &mut Conn,
        ops: &[(Vec<u8>, Option<Vec<u8>>)],
        shards: &BTreeSet<u32>,
    ) -> std::result::Result<std::result::Result<(), BTreeSet<u32>>, tokio_postgres::Error> {
        let (fence, upsert, delete) =
            (conn.fence.clone(), conn.upsert.clone(), conn.delete.clone());
        // Shards not held at all: nothing to check, they are refused.
        let unheld: BTreeSet<u32> = shards
            .iter()
            .copied()
            .filter(|&s| self.leases.held(s).is_none())
            .collect();
        if !unheld.is_empty() {
            return Ok(Err(unheld));
        }
        let tx = conn.client.transaction().await?;
        if !shards.is_empty() {
            let list: Vec<i32> = shards.iter().map(|&s| s as i32).collect();
            let rows = tx.query(&fence, &[&list, &self.leases.node]).await?;
            let mut lost = shards.clone();
            for r in rows {
                let (s, e) = (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64);
                if self.leases.held(s) == Some(e) {
                    lost.remove(&s);
                }
            }
            if !lost.is_empty() {
                tx.rollback().await?;
                return Ok(Err(lost));
            }
        }
        let (mut keys, mut vals, mut dels) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in ops {
            match v {
                Some(v) => {
                    keys.push(k.as_slice());
                    vals.push(v.as_slice());
                }
                None => dels.push(k.as_slice()),
            }
        }
        if !keys.is_empty() {
            tx.execute(&upsert, &[&keys, &vals]).await?;
        }
        if !dels.is_empty() {
            tx.execute(&delete, &[&dels]).await?;
        }
        tx.commit().await?;
        // BEGIN, the check, the writes, COMMIT.
        let trips = 2
            + u64::from(!shards.is_empty())
            + u64::from(!keys.is_empty())
            + u64::from(!dels.is_empty());
        self.commit_trips.fetch_add(trips, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(Ok(()))
    }

    /// Records that this node claims `shards` now: pending writes to them
    /// from before are from an earlier tenure, and the flusher refuses
    /// them (with an error for their group) instead of writing them.
    pub fn claiming(&self, shards: &BTreeSet<u32>) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let next = p.batch + 1;
        for &s in shards {
            p.claimed_at.insert(s, next);
        }
    }

    /// What this node asked of PostgreSQL so far.
    pub fn stats(&self) -> Stats {
        Stats {
            read_trips: self.read_trips.load(Ordering::Relaxed),
            commit_trips: self.commit_trips.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }

    /// How many keys the table holds.
    pub fn count(self: &Arc<Self>) -> Result<u64> {
        let me = self.clone();
        self.block(async move {
            me.read(|c| async move {
                let row = c
                    .client
                    .query_one("SELECT count(*) FROM krl_kv", &[])
                    .await?;
                Ok(row.get::<_, i64>(0) as u64)
            })
            .await
        })
    }

    /// Is a write of `key` waiting for its commit?
    pub fn is_pending(&self, key: &[u8]) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .contains_key(key)
    }

    /// Writes that are not committed yet (for a drain: 0 once flushed).
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }
}

/// The first key after every key that starts with `prefix` (`None`: no
/// such key, the prefix is all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `url` with its password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_fixed_by_the_pico_id() {
        // FNV-1a is fixed: these must never change (stored picos depend on it).
        assert_eq!(shard_of_pico(""), (0xcbf2_9ce4_8422_2325u64 % 1024) as u32);
        let a = shard_of_pico("ck1abc");
        assert_eq!(a, shard_of_pico("ck1abc"));
        assert!(a < SHARDS);
        let key = super::super::Key::entity(
            &crate::ids::PicoId::new("ck1abc"),
            &crate::ids::Rid::new("r"),
            "x",
        );
        assert_eq!(shard_of_key(key.as_bytes()), Some(a));
        assert_eq!(
            shard_of_key(super::super::Key::meta("root").as_bytes()),
            None
        );
    }

    #[test]
    fn prefix_ends_and_redaction() {
        assert_eq!(prefix_end(b"E"), Some(b"F".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
