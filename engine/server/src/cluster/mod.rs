//! krl as a cluster (docs/cluster.md): several `krl serve` nodes on one
//! PostgreSQL database (`--store postgres://...`), picos spread over
//! [`SHARDS`] shards, each shard owned by one node under a lease with an
//! epoch. Uses: `store` (its PostgreSQL backend and leases), `dispatch`,
//! `engine`, tokio, axum, reqwest.
//!
//! * this file: the settings, the lease loop ([`Cluster::run`]): every
//!   [`TICK`] a node writes its heartbeat, renews its shards in one
//!   statement, reads the live nodes and the shard table, claims the
//!   shards rendezvous hashing gives it (an `UPDATE` that increments the
//!   epoch, only when the shard is free or its lease has run out) and
//!   hands over the ones it should no longer have (stops their picos,
//!   commits, releases);
//! * `route`: the HTTP side: a request for a pico of another node's shard
//!   is forwarded to that node.
//!
//! Fencing is the store's (`store::pg`): every commit checks, in its own
//! transaction, that the shards it writes are still this node's at the
//! epoch it claimed them with.

pub mod remote;
pub mod route;

use crate::dispatch::Dispatch;
use crate::store::pg::{shard_of_pico, Conn, Leases, Pg, PgError, SHARDS};
use crate::store::Store;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often a node beats, renews and rebalances.
pub const TICK: Duration = Duration::from_secs(1);

/// How long a lease (and a node's heartbeat) lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(8);
/// A stored sent event (`pico::InboxRow`) this old is delivered by the
/// node of its receiver (younger ones are its sender's to deliver).
pub const INBOX_AGE: Duration = Duration::from_secs(2);

/// The channel nodes notify when shards change hands.
const CHANNEL: &str = "krl_shards";
const NOTIFY: &str = "NOTIFY krl_shards";

/// The command line of a cluster node (`krl serve --store ...`).
#[derive(Clone, Debug, clap::Args)]
pub struct ClusterArgs {
    /// Keep the data in PostgreSQL instead of a sled folder, as a node of
    /// a cluster: postgres://user[:password]@host[:port]/database (several
    /// hosts, comma-separated, with ?target_session_attrs=read-write, for
    /// a primary and its standbys). See docs/cluster.md.
    #[arg(long, env = "KRL_STORE", hide_env_values = true, value_name = "URL")]
    pub store: Option<String>,
    /// This node's name in the cluster [default: the host name and the
    /// listen port].
    #[arg(long, env = "KRL_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL other nodes forward requests to this node at [default:
    /// http://<listen address>].
    #[arg(long, env = "KRL_ADVERTISE", value_name = "URL")]
    pub advertise: Option<String>,
}

/// The cluster settings `serve` resolved.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The PostgreSQL URL.
    pub store: String,
    /// This node's id.
    pub node_id: String,
    /// Where other nodes reach this one.
    pub advertise: String,
}

/// Who owns what, as this node last read it (refreshed every tick).
#[derive(Default)]
struct Table {
    /// Each shard's owner (an index into `nodes`), if its lease is live.
    owners: Vec<Option<usize>>,
    /// Live nodes: id and advertised URL.
    nodes: Vec<(String, String)>,
}

/// A running cluster node.
pub struct Cluster {
    pg: Arc<Pg>,
    store: Store,
    leases: Arc<Leases>,
    advertise: String,
    table: RwLock<Table>,
    /// Forwards requests to other nodes.
    http: reqwest::Client,
}

impl Cluster {
    /// The cluster side of `store` (on PostgreSQL), for node `cfg`.
    pub fn new(store: &Store, cfg: &ClusterConfig) -> Option<Arc<Cluster>> {
        let pg = store.postgres()?.clone();
        Some(Arc::new(Cluster {
            leases: pg.leases().clone(),
            pg,
            store: store.clone(),
            advertise: cfg.advertise.trim_end_matches('/').to_string(),
            table: RwLock::new(Table::default()),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .connect_timeout(Duration::from_secs(2))
                .build()
                .expect("a client with default TLS settings builds"),
        }))
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        self.leases.node()
    }

    /// The shards this node holds.
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    /// The node serving pico `id` now, with its URL, if known and not this
    /// one (`None`: this node, or nobody yet).
    pub fn owner_of(&self, id: &str) -> Option<(String, String)> {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        let i = (*t.owners.get(shard_of_pico(id) as usize)?)?;
        let (node, url) = t.nodes.get(i)?;
        (node != self.node()).then(|| (node.clone(), url.clone()))
    }

    /// The lease loop (see the module doc); ends with the engine.
    pub async fn run(
        self: Arc<Self>,
        dispatch: crate::dispatch::WeakDispatch,
        registry: Arc<crate::rulesets::Registry>,
    ) {
        let mut rulesets: Option<Vec<u8>> = None;
        let mut conn: Option<Conn> = None;
        // After PostgreSQL was out of reach, every node's heartbeat and
        // leases look expired at once: for a lease's time no node takes
        // another's shards (each renews its own first), so that the first
        // node back does not take them all.
        let mut grace_until: Option<tokio::time::Instant> = None;
        let mut failing = false;
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sweeping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Another node claimed, freed or joined (`NOTIFY krl_shards`): a
        // tick now rather than at the next second.
        let wake = Arc::new(tokio::sync::Notify::new());
        let alive = Arc::new(());
        self.pg
            .listen(CHANNEL, wake.clone(), Arc::downgrade(&alive));
        let mut first = true;
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = wake.notified() => {
                    // Let a burst of notifications settle into one tick.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let Some(d) = dispatch.upgrade() else {
                return;
            };
            // Rulesets another node registered (`rulesets::CHANGED`).
            match self
                .store
                .get_raw(&crate::store::Key::meta(crate::rulesets::CHANGED))
            {
                Ok(now) => {
                    let now = now.map(|v| v.to_vec()).unwrap_or_default();
                    if rulesets.as_ref().is_some_and(|seen| *seen != now) {
                        if let Err(e) = registry.refresh(&self.store) {
                            tracing::warn!("cluster: reading the rulesets again: {e}");
                        }
                    }
                    rulesets = Some(now);
                }
                Err(e) => tracing::warn!("cluster: {e}"),
            }
            if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
                match self.pg.connect().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!("cluster: cannot reach PostgreSQL: {e}");
                        failing = true;
                        continue;
                    }
                }
            }
            let c = conn.as_ref().expect("connected above");
            // Out of touch for a while (PostgreSQL away, a read retrying,
            // this process paused): the others were too, or their leases
            // only look expired; the grace begins now, before any claim.
            let now = tokio::time::Instant::now();
            if now.duration_since(last_ok) > TICK * 3 {
                grace_until = Some(now + LEASE + TICK);
            }
            let grace = grace_until.is_some_and(|g| now < g);
            match self.tick(c, &d, grace).await {
                Ok(()) => {
                    last_ok = tokio::time::Instant::now();
                    if std::mem::take(&mut first) {
                        // A node joined: the others hand over at once.
                        let _ = c.client.batch_execute(NOTIFY).await;
                    }
                    // Sent events their sender's node did not deliver (it
                    // died, or this node was away): one sweep at a time.
                    if !sweeping.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        let (d, sweeping) = (d.clone(), sweeping.clone());
                        tokio::spawn(async move {
                            d.deliver_inbox(INBOX_AGE.as_millis() as f64).await;
                            sweeping.store(false, std::sync::atomic::Ordering::SeqCst);
                        });
                    }
                    if failing {
                        failing = false;
                        grace_until = Some(tokio::time::Instant::now() + LEASE + TICK);
                    }
                }
                Err(e) => {
                    tracing::warn!("cluster: {}", PgError(&e));
                    failing = true;
                    conn = None;
                }
            }
        }
    }

    async fn tick(
        &self,
        c: &Conn,
        dispatch: &Dispatch,
        grace: bool,
    ) -> Result<(), tokio_postgres::Error> {
        let me = self.node().to_string();
        let lease_ms = LEASE.as_millis() as f64;
        c.client
            .execute(
                "INSERT INTO krl_nodes (node, advertise, seen) VALUES ($1, $2, now()) \
                 ON CONFLICT (node) DO UPDATE SET advertise = EXCLUDED.advertise, seen = now()",
                &[&me, &self.advertise],
            )
            .await?;
        // Renew everything this node holds, in one statement.
        let held: Vec<i32> = self
            .leases
            .all_held()
            .into_iter()
            .map(|(s, _)| s as i32)
            .collect();
        let renewed: HashMap<u32, u64> = c
            .client
            .query(
                "UPDATE krl_shards SET lease_until = now() + $2 * interval '1 millisecond' \
                 WHERE shard IN (SELECT shard FROM krl_shards \
                 WHERE owner = $1 AND shard = ANY($3) ORDER BY shard FOR NO KEY UPDATE) \
                 RETURNING shard, epoch",
                &[&me, &lease_ms, &held],
            )
            .await?
            .into_iter()
            .map(|r| (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64))
            .collect();
        // Held here but no longer ours in the table, or lost at a commit.
        let mut lost = self.leases.take_lost();
        for (s, e) in self.leases.all_held() {
            if renewed.get(&s) != Some(&e) {
                lost.insert(s);
            }
        }
        if !lost.is_empty() {
            tracing::warn!(node = %me, shards = lost.len(), "cluster: shards lost to another node");
            for &s in &lost {
                self.leases.set(s, None);
            }
            // Their pending writes are refused at the next flush (fenced),
            // with an error for the events that made them.
            dispatch.stop_shards(&lost).await;
        }
        let nodes: Vec<(String, String)> = c
            .client
            .query(
                "SELECT node, advertise FROM krl_nodes \
                 WHERE seen > now() - $1 * interval '1 millisecond' ORDER BY node",
                &[&lease_ms],
            )
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let rows = c
            .client
            .query(
                "SELECT shard, owner, lease_until > now() FROM krl_shards ORDER BY shard",
                &[],
            )
            .await?;
        let mut owners: Vec<Option<usize>> = vec![None; SHARDS as usize];
        let mut claimable = Vec::new();
        let mut release = Vec::new();
        // Owned under this node's id but not held: left by an earlier run
        // of this node (killed, started again).
        let mut left = Vec::new();
        for r in rows {
            let shard = r.get::<_, i32>(0) as u32;
            let owner: Option<String> = r.get(1);
            let live: bool = r.get(2);
            let desired = desired_owner(&nodes, shard);
            let mine = desired.is_some_and(|d| nodes[d].0 == me);
            if let (Some(o), true) = (&owner, live) {
                owners[shard as usize] = nodes.iter().position(|(n, _)| n == o);
            }
            let held = self.leases.held(shard).is_some();
            let others = owner.as_deref().is_some_and(|o| o != me.as_str());
            // Free, left by this node, or another's lease run out (not
            // while PostgreSQL has just come back: see `grace`).
            if mine && !held && (!others || (!live && !grace)) {
                claimable.push(shard as i32);
            }
            if !mine && held && desired.is_some() && !grace {
                release.push(shard);
            }
            if !mine && !held && owner.as_deref() == Some(me.as_str()) {
                left.push(shard as i32);
            }
        }
        if !left.is_empty() {
            // Nothing of them runs here: free them for their owner's claim.
            c.client
                .execute(
                    "UPDATE krl_shards SET owner = NULL, lease_until = 'epoch' \
                     WHERE shard = ANY($2) AND owner = $1",
                    &[&me, &left],
                )
                .await?;
            c.client.batch_execute(NOTIFY).await?;
        }
        if !claimable.is_empty() {
            let claimed: Vec<(u32, u64)> = c
                .client
                .query(
                    "UPDATE krl_shards SET owner = $1, epoch = epoch + 1, \
                     lease_until = now() + $3 * interval '1 millisecond' \
                     WHERE shard IN (SELECT shard FROM krl_shards WHERE shard = ANY($2) \
                     AND (owner IS NULL OR lease_until < now() OR owner = $1) \
                     ORDER BY shard FOR NO KEY UPDATE SKIP LOCKED) \
                     RETURNING shard, epoch",
                    &[&me, &claimable, &lease_ms],
                )
                .await?
                .into_iter()
                .map(|r| (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64))
                .collect();
            if !claimed.is_empty() {
                let set: BTreeSet<u32> = claimed.iter().map(|(s, _)| *s).collect();
                // Others wrote these shards' channels and state meanwhile.
                self.pg.claiming(&set);
                self.store.forget_channels();
                for &(s, e) in &claimed {
                    self.leases.set(s, Some(e));
                    if let Some(i) = nodes.iter().position(|(n, _)| *n == me) {
                        owners[s as usize] = Some(i);
                    }
                }
                tracing::info!(node = %me, shards = claimed.len(), "cluster: shards claimed");
                c.client.batch_execute(NOTIFY).await?;
                dispatch.start_shards(&set);
            }
        }
        {
            let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
            t.owners = owners;
            t.nodes = nodes;
        }
        if !release.is_empty() {
            self.hand_over(c, dispatch, release).await?;
        }
        Ok(())
    }

    /// Hands `shards` to their new owner: no new work here, the picos'
    /// queued work done and committed, then the shards freed for the next
    /// claim.
    async fn hand_over(
        &self,
        c: &Conn,
        dispatch: &Dispatch,
        shards: Vec<u32>,
    ) -> Result<(), tokio_postgres::Error> {
        let set: BTreeSet<u32> = shards.iter().copied().collect();
        for &s in &set {
            self.leases.set_leaving(s);
        }
        dispatch.stop_shards(&set).await;
        if let Err(e) = self.store.flush_ticket().wait().await {
            tracing::warn!("cluster: commit before a hand-over failed: {e}");
            return Ok(());
        }
        let epochs: Vec<(i32, i64)> = set
            .iter()
            .filter_map(|&s| self.leases.held(s).map(|e| (s as i32, e as i64)))
            .collect();
        let (list, eps): (Vec<i32>, Vec<i64>) = epochs.into_iter().unzip();
        c.client
            .execute(
                "UPDATE krl_shards SET owner = NULL, lease_until = 'epoch' \
                 FROM unnest($2::integer[], $3::bigint[]) AS h(shard, epoch) \
                 WHERE krl_shards.shard = h.shard AND krl_shards.epoch = h.epoch \
                 AND krl_shards.owner = $1",
                &[&self.node(), &list, &eps],
            )
            .await?;
        for &s in &set {
            self.leases.set(s, None);
        }
        tracing::info!(node = %self.node(), shards = set.len(), "cluster: shards handed over");
        c.client.batch_execute(NOTIFY).await?;
        Ok(())
    }
}

/// `krl migrate`: copies every key of the sled folder `from` into the
/// PostgreSQL store `to`, whose table must be empty (a new cluster), in
/// transactions of [`MIGRATE_BATCH`] keys; checks the count after.
/// Answers how many keys it copied.
pub fn migrate(from: &std::path::Path, to: &str) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    if !from.join("conf").exists() && !from.join("db").exists() {
        anyhow::bail!(
            "{} is not a krl data folder (no sled database in it)",
            from.display()
        );
    }
    let source = Store::open(from).with_context(|| format!("opening {}", from.display()))?;
    let pg = Pg::open(to, "krl-migrate")
        .with_context(|| format!("opening {}", crate::store::pg::redact(to)))?;
    let existing = pg.count()?;
    if existing > 0 {
        anyhow::bail!(
            "{} already holds {existing} keys: krl migrate fills a new cluster's empty \
             database only",
            crate::store::pg::redact(to)
        );
    }
    // No node holds a shard: the copy writes them all, unfenced.
    pg.leases().set_open_writes(true);
    let mut batch = Vec::with_capacity(MIGRATE_BATCH);
    let mut copied = 0u64;
    let flush = |batch: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>| -> anyhow::Result<()> {
        pg.apply(std::mem::take(batch))?;
        let p = pg.clone();
        pg.block(async move { p.flush().await.map_err(crate::store::StoreError::Flush) })?;
        Ok(())
    };
    source.for_each_raw(|k, v| {
        batch.push((k.to_vec(), Some(v.to_vec())));
        copied += 1;
        if batch.len() >= MIGRATE_BATCH {
            flush(&mut batch).map_err(|e| crate::store::StoreError::Backend(e.to_string()))?;
        }
        Ok(())
    })?;
    flush(&mut batch)?;
    let now = pg.count()?;
    if now != copied {
        anyhow::bail!("copied {copied} keys but the database holds {now}");
    }
    Ok(copied)
}

/// Keys per transaction of `krl migrate`.
pub const MIGRATE_BATCH: usize = 2_000;

/// Rendezvous hashing: the live node with the highest score for `shard`.
fn desired_owner(nodes: &[(String, String)], shard: u32) -> Option<usize> {
    nodes
        .iter()
        .enumerate()
        .max_by_key(|(_, (n, _))| score(n, shard))
        .map(|(i, _)| i)
}

fn score(node: &str, shard: u32) -> u64 {
    // FNV-1a over the node id and the shard, then a final mix (splitmix64)
    // so that neighbouring shards spread independently.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in node.as_bytes().iter().chain(&shard.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_moves_only_the_shards_of_a_node_that_comes_or_goes() {
        let node = |n: &str| (n.to_string(), String::new());
        let two = vec![node("a"), node("b")];
        let three = vec![node("a"), node("b"), node("c")];
        let mut moved = 0;
        let mut to_c = 0;
        for s in 0..SHARDS {
            let before = &two[desired_owner(&two, s).unwrap()].0;
            let after = &three[desired_owner(&three, s).unwrap()].0;
            if before != after {
                moved += 1;
                assert_eq!(after, "c", "shard {s} moved between a and b");
            }
            if after == "c" {
                to_c += 1;
            }
        }
        assert_eq!(moved, to_c);
        // About a third each (1024 / 3 = 341), not all or none.
        assert!((250..450).contains(&to_c), "{to_c} shards for the new node");
        assert_eq!(desired_owner(&[], 0), None);
    }
}
