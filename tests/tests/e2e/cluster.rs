//! krl as a cluster on PostgreSQL (issue 14, docs/cluster.md): nodes share
//! the shards and answer for each other's picos; a node killed with -9
//! has its shards served again by the others, and every acknowledged
//! event applies once, also when it is resent through another node with
//! its Idempotency-Key; a paused node commits nothing after its lease and
//! rejoins; a schedule due while its node is down fires once; events and
//! queries between picos cross nodes; SMS are sent once.
//!
//! They need a PostgreSQL server: `KRL_TEST_PG` (`.ci/run` starts one).
//! Without it they say SKIPPED and pass.

use krl_tests::api::{poll, send, wait_for, Api};
use krl_tests::cluster::{pg_url, Nodes};
use krl_tests::mqtt::{TestBroker, Watcher};
use krl_tests::twilio::FakeApi;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const COUNTER: &str = r#"ruleset cluster.counter {
  meta {
    shares n, seen, fired
    key twilio {"account_sid": "ACtest", "auth_token": "secret"}
  }
  global {
    n = function() { ent:n.defaultsTo(0) }
    seen = function() { ent:seen.defaultsTo({}) }
    fired = function() { ent:fired.defaultsTo(0) }
  }
  rule count {
    select when test count
    pre { id = event:attr("id") }
    send_directive("counted", {"n": ent:n.defaultsTo(0) + 1})
    always {
      ent:n := ent:n.defaultsTo(0) + 1;
      ent:seen{id} := ent:seen{id}.defaultsTo(0) + 1
    }
  }
  rule later {
    select when test later
    always { schedule test event "ring" at time:add(time:now(), {"seconds": event:attr("seconds")}) }
  }
  rule ring {
    select when test ring
    always { ent:fired := ent:fired.defaultsTo(0) + 1 }
  }
  rule pass {
    select when test pass
    event:send({"eci": event:attr("to"), "domain": "test", "type": "count",
                "attrs": {"id": event:attr("id")}})
  }
  rule sms {
    select when test sms
    twilio:send_sms(event:attr("to"), "+15005550006", "hello " + event:attr("id"))
  }
  rule ask {
    select when test ask
    pre { there = ctx:query(event:attr("to"), "cluster.counter", "n") }
    send_directive("there", {"n": there})
  }
}
"#;

/// The PostgreSQL server, or `None` after saying the test is skipped.
fn pg(test: &str) -> Option<String> {
    let url = pg_url();
    if url.is_none() {
        eprintln!("SKIPPED {test}: no PostgreSQL (set KRL_TEST_PG=postgres://USER@HOST:PORT)");
    }
    url
}

/// Counts the queued MQTT publishes (`Q` keys) in a cluster's database.
const MQTT_QUEUE_ROWS: &str = "SELECT count(*) FROM krl_kv WHERE substr(k, 1, 1) = '\\x51'::bytea";

/// Counts the stored sent events (`N` keys) in a cluster's database.
const INBOX_ROWS: &str = "SELECT count(*) FROM krl_kv WHERE substr(k, 1, 1) = '\\x4e'::bytea";

/// `n` picos with the counter, made through node 1 while it is alone
/// (so that the nodes started after take some of them over): (id, eci).
fn picos(api: &Api, n: usize) -> Vec<(String, String)> {
    api.register_ok(COUNTER);
    (0..n)
        .map(|_| {
            let (pico, eci) = api.new_pico();
            api.install_ok(&pico, "cluster.counter");
            (pico, eci)
        })
        .collect()
}

/// Nodes `n1`..`n{count}` with `flags`, and 12 counter picos made on `n1`
/// while it was alone (so the nodes started after took some over): the
/// cluster and the picos, (id, eci).
fn spread(nodes: &mut Nodes, count: usize, flags: &[&str]) -> Vec<(String, String)> {
    nodes.start(1, flags);
    nodes.wait_owned_by(&["n1"], Duration::from_secs(30));
    let made = picos(&Api::new(nodes.node(1)), 12);
    for i in 2..=count {
        nodes.start(i, flags);
    }
    let names: Vec<String> = (1..=count).map(|i| format!("n{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    nodes.wait_owned_by(&names, Duration::from_secs(60));
    made
}

/// The eci of a pico of `made` that node `node` serves.
fn eci_on(nodes: &Nodes, made: &[(String, String)], node: &str) -> String {
    made.iter()
        .find(|(p, _)| nodes.owner_of(p).as_deref() == Some(node))
        .unwrap_or_else(|| panic!("a pico on {node}"))
        .1
        .clone()
}

/// Sends `test count` with attribute id = `key` to `eci` at `url`, with
/// the same `Idempotency-Key`: the HTTP status (0: no answer).
fn count(c: &Client, url: &str, eci: &str, key: &str) -> u16 {
    c.post(format!("{url}/sky/event/{eci}/{key}/test/count"))
        .header("Idempotency-Key", key)
        .header("content-type", "application/json")
        .body(json!({ "id": key }).to_string())
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn query(c: &Client, url: &str, eci: &str, f: &str) -> (u16, Value) {
    send(c.get(format!("{url}/sky/cloud/{eci}/cluster.counter/{f}")))
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client")
}

#[test]
fn nodes_share_the_shards_and_answer_for_each_others_picos() {
    let Some(base) = pg("nodes_share_the_shards") else {
        return;
    };
    let mut nodes = Nodes::new(&base, "cluster-share");
    let made = spread(&mut nodes, 3, &[]);
    // About a third each (rendezvous hashing over 1,024 shards).
    for n in ["n1", "n2", "n3"] {
        let s = nodes.shards_of(n);
        assert!((200..500).contains(&s), "{n} owns {s} shards");
    }
    let owners: BTreeSet<String> = made
        .iter()
        .map(|(p, _)| nodes.owner_of(p).expect("an owner"))
        .collect();
    assert!(owners.len() >= 2, "12 picos all on {owners:?}");
    let c = client();
    let urls: Vec<String> = (1..=3).map(|i| nodes.node(i).url.clone()).collect();
    // Every pico through every node: forwarded to its owner.
    for (i, (_, eci)) in made.iter().enumerate() {
        for (j, url) in urls.iter().enumerate() {
            assert_eq!(count(&c, url, eci, &format!("k{i}-{j}")), 200);
        }
    }
    for (_, eci) in &made {
        for url in &urls {
            let (status, n) = query(&c, url, eci, "n");
            assert_eq!((status, n), (200, json!(3)));
        }
    }
    // The admin API too, and a pico made through another node.
    let api3 = Api::new(nodes.node(3));
    let (status, info) = api3.get(&format!("/api/picos/{}", made[0].0));
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["rulesets"], json!(["cluster.counter"]));
    let (child, child_eci) = api3.new_pico();
    api3.install_ok(&child, "cluster.counter");
    assert_eq!(count(&c, &urls[1], &child_eci, "child"), 200);
    let (_, n) = query(&c, &urls[0], &child_eci, "n");
    assert_eq!(n, json!(1));
    // A pico is made by the node the request reaches, in its own shards:
    // clients spread over the nodes spread the picos.
    let mut made_on = Vec::new();
    for i in 1..=3 {
        let api = Api::new(nodes.node(i));
        for _ in 0..2 {
            let (pico, eci) = api.new_pico();
            assert_eq!(
                nodes.owner_of(&pico).as_deref(),
                Some(format!("n{i}").as_str())
            );
            api.install_ok(&pico, "cluster.counter");
            made_on.push((i, pico, eci));
        }
    }
    let (status, root) = api3.get("/api/engine");
    assert_eq!(status, 200, "{root}");
    let root_id = root["root_pico"]
        .as_str()
        .expect("the root pico's id")
        .to_string();
    let (_, kids) = Api::new(nodes.node(1)).get(&format!("/api/picos/{root_id}"));
    for (_, pico, eci) in &made_on {
        assert!(
            kids["children"].to_string().contains(pico.as_str()),
            "{pico} not in {kids}"
        );
        assert_eq!(count(&c, &urls[2], eci, "spread"), 200);
    }
    // A child of another pico is made beside its parent, whichever node
    // the request reaches, and goes with it.
    let (i, pico, eci) = &made_on[0];
    let other = if *i == 1 { 2 } else { 1 };
    let (status, kid) =
        Api::new(nodes.node(other)).post("/api/picos", json!({"parent": pico, "name": "kid"}));
    assert_eq!(status, 200, "{kid}");
    let kid = kid["id"].as_str().expect("an id").to_string();
    assert_eq!(nodes.owner_of(&kid), nodes.owner_of(pico));
    // Deleted through a node that does not have it.
    let (status, body) = Api::new(nodes.node(other)).delete(&format!("/api/picos/{pico}"));
    assert!((200..300).contains(&status), "{status} {body}");
    let (_, kids) = Api::new(nodes.node(3)).get(&format!("/api/picos/{root_id}"));
    assert!(
        !kids["children"].to_string().contains(pico.as_str()),
        "{kids}"
    );
    let (status, _) = query(&c, &urls[2], eci, "n");
    assert_eq!(status, 404);
    let (status, _) = Api::new(nodes.node(3)).get(&format!("/api/picos/{kid}"));
    assert_eq!(status, 404);
}

#[test]
fn a_killed_node_s_picos_are_served_again_and_acknowledged_events_apply_once() {
    let Some(base) = pg("a_killed_node") else {
        return;
    };
    let mut nodes = Nodes::new(&base, "cluster-kill");
    let made = spread(&mut nodes, 3, &[]);
    let on_2: Vec<&(String, String)> = made
        .iter()
        .filter(|(p, _)| nodes.owner_of(p).as_deref() == Some("n2"))
        .collect();
    assert!(!on_2.is_empty(), "no pico on n2 among 12");
    let urls: Vec<String> = (1..=3).map(|i| nodes.node(i).url.clone()).collect();
    let c = client();
    // Some events through n2 before, then kill -9 n2 with requests to its
    // picos in flight through n1, n2 and n3.
    let mut acked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut k = 0;
    for (_, eci) in &made {
        for url in &urls {
            k += 1;
            let key = format!("before-{k}");
            assert_eq!(count(&c, url, eci, &key), 200);
            acked.entry(eci.clone()).or_default().push(key);
        }
    }
    let inflight: Vec<_> = on_2
        .iter()
        .enumerate()
        .map(|(i, (_, eci))| {
            let (eci, url, key) = (eci.clone(), urls[i % 3].clone(), format!("during-{i}"));
            std::thread::spawn(move || {
                let c = client();
                let first = count(&c, &url, &eci, &key);
                (eci, key, first)
            })
        })
        .collect();
    nodes.kill(2);
    let killed = Instant::now();
    // Each request whose answer was lost is resent with its key through
    // n1 or n3 until it is acknowledged; then every pico once more.
    let live = [urls[0].clone(), urls[2].clone()];
    for t in inflight {
        let (eci, key, first) = t.join().expect("the sender");
        if first != 200 {
            let ok = (0..200).any(|i| {
                let status = count(&c, &live[i % 2], &eci, &key);
                status == 200 || {
                    std::thread::sleep(Duration::from_millis(100));
                    false
                }
            });
            assert!(ok, "{key} never acknowledged");
        }
        acked.entry(eci).or_default().push(key);
    }
    for (_, eci) in &on_2 {
        assert_eq!(count(&c, &live[0], eci, &format!("after-{eci}")), 200);
        acked
            .entry(eci.clone())
            .or_default()
            .push(format!("after-{eci}"));
    }
    let served_again = killed.elapsed();
    eprintln!("n2's picos served again {served_again:?} after kill -9");
    assert!(
        served_again < Duration::from_secs(20),
        "{served_again:?} (the lease is 8 s)"
    );
    // Exactly once: each acknowledged key counted once, nothing else.
    for (eci, keys) in &acked {
        let (status, seen) = query(&c, &live[1], eci, "seen");
        assert_eq!(status, 200, "{seen}");
        let seen = seen.as_object().expect("a map");
        for key in keys {
            assert_eq!(seen.get(key), Some(&json!(1)), "{key} on {eci}: {seen:?}");
        }
        assert_eq!(seen.len(), keys.len(), "{eci}: {seen:?}");
        let (_, n) = query(&c, &live[0], eci, "n");
        assert_eq!(n, json!(keys.len()));
    }
}

#[test]
fn a_paused_node_commits_nothing_after_its_lease_and_rejoins() {
    let Some(base) = pg("a_paused_node") else {
        return;
    };
    let mut nodes = Nodes::new(&base, "cluster-pause");
    let made = spread(&mut nodes, 2, &[]);
    let eci = eci_on(&nodes, &made, "n2");
    let c = client();
    let (u1, u2) = (nodes.node(1).url.clone(), nodes.node(2).url.clone());
    assert_eq!(count(&c, &u2, &eci, "warm"), 200);
    nodes.signal(2, "STOP");
    // Requests n2 takes in while paused, all tries of one event (one
    // Idempotency-Key): they run when n2 wakes up, after n1 has taken
    // n2's shards over and counted more events there. The later tries
    // find the first one's key uncommitted.
    let paused: Vec<_> = (0..6)
        .map(|_| {
            let (u2, eci) = (u2.clone(), eci.clone());
            std::thread::spawn(move || count(&client(), &u2, &eci, "while-paused"))
        })
        .collect();
    nodes.wait_owned_by(&["n1"], Duration::from_secs(40));
    for i in 0..3 {
        assert_eq!(count(&c, &u1, &eci, &format!("n1-{i}")), 200);
    }
    nodes.signal(2, "CONT");
    let answered: Vec<u16> = paused
        .into_iter()
        .map(|t| t.join().expect("a paused request"))
        .collect();
    // n2 rejoins and gets shards again.
    nodes.wait_owned_by(&["n1", "n2"], Duration::from_secs(60));
    let (_, seen) = query(&c, &u1, &eci, "seen");
    let seen = seen.as_object().expect("a map").clone();
    // What n1 counted is there once, and n2's stale task did not write
    // over it: the paused request counted once if acknowledged, else not
    // at all (a fenced commit).
    for key in ["warm", "n1-0", "n1-1", "n1-2"] {
        assert_eq!(seen.get(key), Some(&json!(1)), "{key}: {seen:?}");
    }
    if answered.contains(&200) {
        assert_eq!(
            seen.get("while-paused"),
            Some(&json!(1)),
            "{answered:?}: {seen:?}"
        );
    } else {
        assert_eq!(seen.get("while-paused"), None, "{answered:?}: {seen:?}");
    }
    let (_, n) = query(&c, &u2, &eci, "n");
    assert_eq!(n, json!(seen.len()), "{seen:?}");
    // And it serves again: a pico on n2 now, through n2.
    assert_eq!(count(&c, &u2, &eci, "after"), 200);
}

#[test]
fn a_schedule_due_while_its_node_is_down_fires_once() {
    let Some(base) = pg("a_schedule_due") else {
        return;
    };
    let mut nodes = Nodes::new(&base, "cluster-schedule");
    let made = spread(&mut nodes, 2, &[]);
    let eci = eci_on(&nodes, &made, "n2");
    let c = client();
    let u1 = nodes.node(1).url.clone();
    let (status, _) = send(
        c.post(format!("{u1}/sky/event/{eci}/s/test/later"))
            .header("content-type", "application/json")
            .body(json!({"seconds": 2}).to_string()),
    );
    assert_eq!(status, 200);
    nodes.kill(2);
    // Due 2 s later, while n2 is down: n1 takes the shard and fires it.
    wait_for(
        "the schedule to fire on n1",
        Duration::from_secs(40),
        || (query(&c, &u1, &eci, "fired").1 == json!(1)).then_some(()),
    );
    // n2 comes back and takes its shards again: it does not fire it again.
    nodes.start(2, &[]);
    nodes.wait_owned_by(&["n1", "n2"], Duration::from_secs(60));
    let u2 = nodes.node(2).url.clone();
    assert_eq!(count(&c, &u2, &eci, "after"), 200);
    assert_eq!(query(&c, &u2, &eci, "fired").1, json!(1));
}

#[test]
fn events_and_queries_between_picos_cross_nodes_and_sms_go_once() {
    let Some(base) = pg("between_picos") else {
        return;
    };
    let fake = FakeApi::start();
    let flags = ["--twilio-api-url", &fake.url()];
    let mut nodes = Nodes::new(&base, "cluster-between");
    let made = spread(&mut nodes, 2, &flags);
    let (a, b) = (eci_on(&nodes, &made, "n1"), eci_on(&nodes, &made, "n2"));
    let c = client();
    let u1 = nodes.node(1).url.clone();
    // event:send from a (n1) to b (n2): delivered there, once.
    let (status, body) = send(
        c.post(format!("{u1}/sky/event/{a}/p/test/pass"))
            .header("content-type", "application/json")
            .body(json!({"to": b, "id": "passed"}).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the sent event on n2", Duration::from_secs(30), || {
        (query(&c, &u1, &b, "seen").1 == json!({"passed": 1})).then_some(())
    });
    // It was stored with the sender's event and deleted once delivered.
    wait_for(
        "the stored sent event deleted",
        Duration::from_secs(30),
        || (nodes.sql(INBOX_ROWS) == "0").then_some(()),
    );
    // A stored sent event whose sender's node died before delivering it
    // (written here as that node would have): the receiver's node
    // delivers it, once, even when it is found again after delivery.
    let b_pico = made.iter().find(|(_, e)| *e == b).expect("b").0.clone();
    let a_pico = made.iter().find(|(_, e)| *e == a).expect("a").0.clone();
    let row = json!({
        "key": "sent:orphan-1", "from": a_pico, "to": b_pico, "eci": b,
        "eid": "orphan", "domain": "test", "name": "count",
        "attrs": {"id": "orphan"}, "time_ms": 0.0,
    });
    let insert = format!(
        "INSERT INTO krl_kv VALUES ('\\x4e'::bytea || convert_to('sent:orphan-1', 'UTF8') ||          '\\x00'::bytea, convert_to('{}', 'UTF8'))",
        row.to_string().replace('\'', "''")
    );
    for round in 1..=2 {
        nodes.sql(&insert);
        wait_for("the orphan delivered", Duration::from_secs(30), || {
            (nodes.sql(INBOX_ROWS) == "0").then_some(())
        });
        let (_, seen) = query(&c, &u1, &b, "seen");
        assert_eq!(seen, json!({"passed": 1, "orphan": 1}), "round {round}");
    }
    // ctx:query from a (n1) to b (n2).
    let (status, body) = send(
        c.post(format!("{u1}/sky/event/{a}/q/test/ask"))
            .header("content-type", "application/json")
            .body(json!({"to": b}).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    // (the sent event and the orphan)
    assert_eq!(body["directives"][0]["options"]["n"], json!(2), "{body}");
    // One SMS from each of the 12 picos, through both nodes: each sent
    // once, by the node of its pico.
    for (i, (_, eci)) in made.iter().enumerate() {
        let url = &nodes.node(1 + i % 2).url;
        let (status, body) = send(
            c.post(format!("{url}/sky/event/{eci}/m/test/sms"))
                .header("content-type", "application/json")
                .body(json!({"to": "+15558675310", "id": i}).to_string()),
        );
        assert_eq!(status, 200, "{body}");
    }
    let bodies = wait_for("12 SMS at Twilio", Duration::from_secs(30), || {
        let seen: Vec<String> = fake
            .seen()
            .iter()
            .filter(|r| r.path().ends_with("Messages.json"))
            .filter_map(|r| r.field("Body"))
            .collect();
        (seen.len() >= 12).then_some(seen)
    });
    let distinct: BTreeSet<&String> = bodies.iter().collect();
    assert_eq!(distinct.len(), 12, "{bodies:?}");
    // None more comes (a duplicate would be a second POST of an entry).
    let sent = wait_for("every entry sent", Duration::from_secs(30), || {
        let (_, list) = Api::new(nodes.node(2)).get("/api/outbox?state=sent");
        (list.as_array().map_or(0, Vec::len) == 12).then_some(list)
    });
    assert_eq!(sent.as_array().map(Vec::len), Some(12));
    assert_eq!(
        fake.seen()
            .iter()
            .filter(|r| r.path().ends_with("Messages.json"))
            .count(),
        12
    );
}

#[test]
fn a_node_that_cannot_open_its_database_says_what_postgresql_said() {
    let Some(base) = pg("a_node_that_cannot_open_its_database_says_what_postgresql_said") else {
        return;
    };
    let dir = krl_tests::ScratchDir::new("cluster-nodb");
    let store = format!("{base}/krl_no_such_database");
    let failure = krl_tests::Server::try_start(
        dir.path(),
        &[
            "--admin-token",
            krl_tests::api::TOKEN,
            "--store",
            &store,
            "--node-id",
            "n1",
        ],
    )
    .err()
    .expect("a node on a missing database must not start");
    assert_eq!(failure.code, Some(2), "{}", failure.stderr);
    assert!(
        failure.stderr.contains("krl_no_such_database")
            && failure.stderr.contains("does not exist"),
        "stderr: {}",
        failure.stderr
    );
}

const MQTT: &str = r#"ruleset cluster.mqtt {
  meta { shares log }
  global { log = function() { ent:log.defaultsTo([]) } }
  rule got {
    select when mqtt message
    always { ent:log := log().append([event:attrs{"payload"}]) }
  }
  rule subscribe {
    select when t subscribe
    mqtt:subscribe(event:attrs{"filter"})
  }
  rule publish {
    select when t publish
    mqtt:publish(event:attrs{"topic"}, event:attrs{"payload"}, qos = 1)
  }
}"#;

fn mqtt_log(c: &Client, url: &str, eci: &str) -> Vec<Value> {
    let (status, v) = send(c.get(format!("{url}/sky/cloud/{eci}/cluster.mqtt/log")));
    assert_eq!(status, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

/// Waits until the pico behind `eci` gets what is published on `topic`
/// (its node has subscribed at the broker): numbered QoS 0 probes, each
/// given half a second to show in the log, until one does.
fn until_subscribed(c: &Client, url: &str, eci: &str, w: &Watcher, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in 1.. {
        assert!(Instant::now() < deadline, "{topic}: never subscribed");
        let probe = format!("probe {n}");
        w.publish(topic, probe.clone(), 0);
        let seen = poll(Duration::from_millis(500), || {
            mqtt_log(c, url, eci).contains(&json!(probe)).then_some(())
        });
        if seen.is_some() {
            return;
        }
    }
}

#[test]
fn a_shared_broker_follows_the_shards_messages_reach_picos_on_every_node() {
    let Some(base) = pg("a_shared_broker_follows_the_shards") else {
        return;
    };
    let broker = TestBroker::start("cluster-mqtt", &[]);
    let url = broker.url();
    let mqtt_args = ["--mqtt-url", url.as_str()];
    let mut nodes = Nodes::new(&base, "cluster-mqtt");
    nodes.start(1, &mqtt_args);
    nodes.wait_owned_by(&["n1"], Duration::from_secs(30));
    let api = Api::new(nodes.node(1));
    api.register_ok(MQTT);
    let c = client();
    let mut made = Vec::new();
    for k in 0..6 {
        let (pico, eci) = api.new_pico();
        api.install_ok(&pico, "cluster.mqtt");
        let (status, body) = send(
            c.post(format!(
                "{}/sky/event/{eci}/s{k}/t/subscribe",
                nodes.node(1).url
            ))
            .json(&json!({ "filter": format!("dev/{k}/up") })),
        );
        assert_eq!(status, 200, "{body}");
        made.push((pico, eci));
    }
    // The others join: the shards (and the subscriptions) spread.
    nodes.start(2, &mqtt_args);
    nodes.start(3, &mqtt_args);
    nodes.wait_owned_by(&["n1", "n2", "n3"], Duration::from_secs(60));
    let owners: BTreeSet<String> = made
        .iter()
        .map(|(p, _)| nodes.owner_of(p).expect("an owner"))
        .collect();
    assert!(owners.len() >= 2, "6 picos all on {owners:?}");
    let w = Watcher::new(broker.port, "cluster-watcher", &["dev/+/down"]);
    let urls: Vec<String> = (1..=3).map(|i| nodes.node(i).url.clone()).collect();
    let deliver_once = |k: usize, eci: &str, what: &str, via: &str| {
        until_subscribed(&c, via, eci, &w, &format!("dev/{k}/up"));
        w.publish(&format!("dev/{k}/up"), json!(what).to_string(), 1);
        wait_for(
            &format!("{what} in pico {k}'s log"),
            Duration::from_secs(30),
            || {
                let log = mqtt_log(&c, via, eci);
                let n = log.iter().filter(|m| **m == json!(what)).count();
                assert!(n <= 1, "{what} logged {n} times: {log:?}");
                (n == 1).then_some(())
            },
        );
    };
    let publish = |k: usize, eci: &str, via: &str, what: &str| {
        let (status, body) = send(
            c.post(format!("{via}/sky/event/{eci}/p{k}/t/publish"))
                .json(&json!({ "topic": format!("dev/{k}/down"), "payload": what })),
        );
        assert_eq!(status, 200, "{body}");
    };
    // In: every pico gets its device's messages, whichever node has it.
    for (k, (_, eci)) in made.iter().enumerate() {
        deliver_once(k, eci, &format!("hello {k}"), &urls[k % 3]);
    }
    // Out: every pico's publish reaches the device once.
    for (k, (_, eci)) in made.iter().enumerate() {
        publish(k, eci, &urls[(k + 1) % 3], &format!("down {k}"));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while seen.len() < made.len() {
        let m = w.next("the picos' publishes", |m| m.topic.ends_with("/down"));
        *seen.entry(m.payload.to_string()).or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    // Sent and deleted from the queue in the database: a node killed
    // before that would rightly send them again (QoS 1).
    wait_for(
        "the sent publishes gone from the queue",
        Duration::from_secs(30),
        || (nodes.sql(MQTT_QUEUE_ROWS) == "0").then_some(()),
    );
    // kill -9 the node of pico 0: the others take its shards and
    // subscribe for its picos.
    let victim: usize = nodes.owner_of(&made[0].0).expect("an owner")[1..]
        .parse()
        .unwrap();
    nodes.kill(victim);
    let live: Vec<String> = (1..=3)
        .filter(|&i| i != victim)
        .map(|i| format!("n{i}"))
        .collect();
    let live: Vec<&str> = live.iter().map(String::as_str).collect();
    nodes.wait_owned_by(&live, Duration::from_secs(60));
    let via = &urls[(1..=3).find(|&i| i != victim).unwrap() - 1];
    deliver_once(0, &made[0].1, "after the kill", via);
    publish(0, &made[0].1, via, "down again");
    let m = w.next("pico 0's publish after the kill", |m| {
        m.topic == "dev/0/down"
    });
    assert_eq!(m.payload, json!("down again"));
}

#[test]
fn a_single_node_s_data_moves_into_a_cluster_with_krl_migrate() {
    let Some(base) = pg("a_single_node_s_data_moves_into_a_cluster") else {
        return;
    };
    if krl_tests::sled_only("krl migrate", "it starts a single sled node first") {
        return;
    }
    // A single node on sled, with picos and their counts.
    let (dir, single) = krl_tests::api::server("cluster-migrate-single", &[]);
    let made = picos(&Api::new(&single), 5);
    let c = client();
    for (i, (_, eci)) in made.iter().enumerate() {
        for j in 0..=i {
            assert_eq!(count(&c, &single.url, eci, &format!("m{i}-{j}")), 200);
        }
    }
    assert_eq!(single.terminate(), Some(0));
    let data = dir.path().join("data");
    // Into a new cluster's empty database.
    let mut nodes = Nodes::new(&base, "cluster-migrate");
    let migrate = || {
        std::process::Command::new(krl_tests::krl_bin())
            .args(["migrate", "--from"])
            .arg(&data)
            .args(["--to", &nodes.store])
            .output()
            .expect("running krl migrate")
    };
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("migrated "), "{stdout}");
    // Never into a database that holds data.
    let again = migrate();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds"), "{stderr}");
    // Two nodes serve the picos with their counts, and go on counting.
    nodes.start(1, &[]);
    nodes.start(2, &[]);
    nodes.wait_owned_by(&["n1", "n2"], Duration::from_secs(60));
    let urls = [nodes.node(1).url.clone(), nodes.node(2).url.clone()];
    for (i, (_, eci)) in made.iter().enumerate() {
        for url in &urls {
            let (status, n) = query(&c, url, eci, "n");
            assert_eq!((status, n), (200, json!(i + 1)), "pico {i} through {url}");
        }
        assert_eq!(count(&c, &urls[i % 2], eci, &format!("after-{i}")), 200);
        assert_eq!(query(&c, &urls[(i + 1) % 2], eci, "n").1, json!(i + 2));
    }
}

/// A write this node has applied but not yet committed (in its overlay)
/// reads as written through `get_raw`, but not as committed: a replayed
/// try of an event (same idempotency key) is answered only once the
/// first try's mark is in the database, since a flush may still refuse
/// the first try's batch (this node lost the shard) and drop the mark.
#[test]
fn a_write_reads_as_committed_only_once_its_flush_is_done() {
    let Some(base) = pg("a_write_reads_as_committed") else {
        return;
    };
    let dir = krl_tests::ScratchDir::new("committed-reads");
    let url = krl_tests::cluster_store(&base, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = krl::store::Store::open_postgres(&url, "n1", dir.path()).unwrap();
        let key = krl::store::Key::meta("replay-mark");
        let mut buf = krl::store::WriteBuf::new();
        buf.put(key.clone(), &json!(1));
        store.apply(buf).unwrap();
        assert!(store.is_uncommitted(&key));
        assert!(store.get_raw(&key).unwrap().is_some(), "read as written");
        assert_eq!(
            store.get_committed_raw(&key).unwrap(),
            None,
            "not committed yet"
        );
        store.flush_ticket().wait().await.unwrap();
        assert!(!store.is_uncommitted(&key));
        assert!(
            store.get_committed_raw(&key).unwrap().is_some(),
            "committed"
        );
    });
}
