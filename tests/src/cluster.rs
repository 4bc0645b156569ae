//! A cluster of `krl serve` nodes on one PostgreSQL database, for the
//! cluster's own tests (tests/tests/e2e/cluster.rs): start, kill -9,
//! SIGSTOP and SIGCONT nodes one by one, see who owns what.
//!
//! The PostgreSQL server comes from `KRL_TEST_PG` (or the suite's cluster
//! mode, `KRL_TEST_CLUSTER`), e.g. `postgres://postgres@127.0.0.1:5432`;
//! `.ci/run` starts one (tests/cluster/pg.sh) and sets it.

use crate::api::{wait_for, TOKEN};
use crate::{psql, ScratchDir, Server};
use std::process::Command;
use std::time::Duration;

/// The PostgreSQL server for cluster tests, if one is configured.
pub fn pg_url() -> Option<String> {
    std::env::var("KRL_TEST_PG")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| crate::server_url(&u))
        .or_else(crate::cluster_url)
}

/// Nodes `n1`, `n2`, ... on a database of their own.
pub struct Nodes {
    /// The PostgreSQL server (no database).
    pub base: String,
    /// The database's name.
    pub db: String,
    /// The store URL the nodes get.
    pub store: String,
    /// Node `i` is `nodes[i - 1]` (`None`: not running).
    nodes: Vec<Option<Server>>,
    dir: ScratchDir,
}

/// The shard of a pico (the engine's: FNV-1a of its id, modulo 1,024).
pub fn shard_of(pico: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pico.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 1024) as u32
}

impl Nodes {
    /// A fresh database on `base`, no node running yet.
    pub fn new(base: &str, name: &str) -> Nodes {
        let dir = ScratchDir::new(name);
        let store = crate::cluster_store(base, &dir.path().join("cluster"));
        let db = store.rsplit('/').next().expect("a database").to_string();
        Nodes {
            base: base.to_string(),
            db,
            store,
            nodes: Vec::new(),
            dir,
        }
    }

    /// Starts node `i` (`n{i}`), with `args` added.
    pub fn start(&mut self, i: usize, args: &[&str]) -> &Server {
        let node = format!("n{i}");
        let data = self.dir.path().join(&node);
        let mut all = vec![
            "--admin-token",
            TOKEN,
            "--store",
            &self.store,
            "--node-id",
            &node,
        ];
        all.extend_from_slice(args);
        let s = Server::start(&data, &all);
        while self.nodes.len() < i {
            self.nodes.push(None);
        }
        self.nodes[i - 1] = Some(s);
        self.node(i)
    }

    /// Node `i` (panics if it is not running).
    pub fn node(&self, i: usize) -> &Server {
        self.nodes
            .get(i - 1)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("node n{i} is not running"))
    }

    /// kill -9 node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(s) = self.nodes.get_mut(i - 1).and_then(Option::take) {
            s.kill();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to node `i`.
    pub fn signal(&self, i: usize, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.node(i).pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal}: {status}");
    }

    /// Runs `sql` on the cluster's database.
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.base, &self.db, sql)
            .unwrap_or_else(|| panic!("psql failed: {sql}"))
            .trim()
            .to_string()
    }

    /// The node owning pico `pico`'s shard with a live lease (`None`: none).
    pub fn owner_of(&self, pico: &str) -> Option<String> {
        let out = self.sql(&format!(
            "SELECT owner FROM krl_shards WHERE shard = {} AND lease_until > now()",
            shard_of(pico)
        ));
        (!out.is_empty()).then_some(out)
    }

    /// How many shards node `node` owns.
    pub fn shards_of(&self, node: &str) -> usize {
        self.sql(&format!(
            "SELECT count(*) FROM krl_shards WHERE owner = '{node}' AND lease_until > now()"
        ))
        .parse()
        .expect("a count")
    }

    /// Waits (at most `limit`) until exactly the nodes `live` own every
    /// shard between them, each some.
    pub fn wait_owned_by(&self, live: &[&str], limit: Duration) {
        wait_for(&format!("nodes {live:?} owning every shard"), limit, || {
            let owners = self.sql(
                "SELECT string_agg(DISTINCT owner, ',' ORDER BY owner) || ' ' || \
                 count(*) FILTER (WHERE owner IS NULL OR lease_until < now()) FROM krl_shards",
            );
            let mut want: Vec<&str> = live.to_vec();
            want.sort();
            (owners == format!("{} 0", want.join(","))).then_some(())
        })
    }
}
