//! The engine's unit tests: operations end to end on a temporary store.

use super::*;
use crate::error::EngineError;
use crate::ids::Eid;
use crate::ids::{Eci, PicoId, Rid};
use crate::pico::EventIn;
use crate::store::{Key, WriteBuf};
use serde_json::json;
use serde_json::{Map, Value};

const HELLO: &str = r#"ruleset io.example.hello {
  meta { shares hello, hits }
  global {
    hello = function(name) { "Hello " + name }
    hits = function() { ent:hits.defaultsTo(0) }
  }
  rule r {
    select when echo hello
    send_directive("say", {"something": "Hello"})
    always { ent:hits := ent:hits.defaultsTo(0) + 1 }
  }
}"#;

/// An engine on `dir` (`Store::reopen`: a test may open the folder again
/// right after dropping an engine on it).
fn engine(dir: &std::path::Path) -> Arc<Engine> {
    Engine::open(Store::reopen(dir), Settings::default()).unwrap()
}

fn event(eci: &Eci, domain: &str, name: &str) -> EventIn {
    EventIn {
        eci: eci.clone(),
        eid: Eid::new("e1"),
        domain: domain.into(),
        name: name.into(),
        attrs: Map::new(),
        time_ms: 0.0,
    }
}

#[tokio::test]
async fn root_is_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = engine(dir.path()).meta().clone();
    let again = engine(dir.path()).meta().clone();
    assert_eq!(first, again);
}

#[tokio::test]
async fn pico_tree_install_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (a, a_eci) = e.new_pico(None, Some("a".into())).await.unwrap();
    let (b, _) = e.new_pico(Some(a.clone()), None).await.unwrap();
    assert_eq!(
        e.pico(&e.meta().root_pico).unwrap().children,
        vec![a.clone()]
    );
    assert_eq!(e.pico(&a).unwrap().children, vec![b.clone()]);

    let rs = e.register(HELLO).await.unwrap();
    e.install(&b, rs.rid.clone(), None).await.unwrap();
    assert_eq!(e.pico(&b).unwrap().rulesets, vec![rs.rid.clone()]);

    let answer = e.event(event(&a_eci, "echo", "hello")).await.unwrap();
    assert_eq!(answer.eid, Eid::new("e1"));
    assert!(answer.directives.is_empty(), "nothing installed on a");

    e.delete_pico(&a).await.unwrap();
    assert!(matches!(e.pico(&a), Err(EngineError::UnknownPico(_))));
    assert!(matches!(e.pico(&b), Err(EngineError::UnknownPico(_))));
    assert!(e.pico(&e.meta().root_pico).unwrap().children.is_empty());
    assert!(matches!(
        e.event(event(&a_eci, "echo", "hello")).await,
        Err(EngineError::UnknownEci(_))
    ));
    assert!(e.store().keys(&Key::installs(&b)).unwrap().is_empty());
}

#[tokio::test]
async fn queries_check_install_and_shares() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    let rid = Rid::new("io.example.hello");
    let err = e
        .query(&eci, rid.clone(), "hello".into(), Map::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Pico doesn't have io.example.hello installed."
    );
    e.register(HELLO).await.unwrap();
    e.install(&p, rid.clone(), Some(json!({"a": 1})))
        .await
        .unwrap();
    let err = e
        .query(&eci, rid.clone(), "nope".into(), Map::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Not shared: io.example.hello/nope");
    let mut args = Map::new();
    args.insert("name".into(), json!("Ann"));
    let v = e
        .query(&eci, rid.clone(), "hello".into(), args)
        .await
        .unwrap();
    assert_eq!(v, json!("Hello Ann"));
    e.uninstall(&p, rid.clone()).await.unwrap();
    assert!(e.pico(&p).unwrap().rulesets.is_empty());
}

async fn count(e: &Engine, eci: &Eci) -> Value {
    e.query(eci, Rid::new("io.example.hello"), "hits".into(), Map::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn events_run_rules_and_state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (p, eci) = {
        let e = engine(dir.path());
        e.register(HELLO).await.unwrap();
        let (p, eci) = e.new_pico(None, None).await.unwrap();
        e.install(&p, Rid::new("io.example.hello"), None)
            .await
            .unwrap();
        let answer = e.event(event(&eci, "echo", "hello")).await.unwrap();
        assert_eq!(answer.directives.len(), 1);
        assert_eq!(answer.directives[0].to_json()["name"], json!("say"));
        assert_eq!(
            answer.directives[0].to_json()["options"],
            json!({"something": "Hello"})
        );
        assert_eq!(
            answer.directives[0].to_json()["meta"]["rid"],
            json!("io.example.hello")
        );
        assert_eq!(
            answer.directives[0].to_json()["meta"]["rule_name"],
            json!("r")
        );
        e.event(event(&eci, "echo", "hello")).await.unwrap();
        // The answer came after the flush: a query needs no other.
        let flushes = e.store().flush_count();
        assert_eq!(count(&e, &eci).await, json!(2));
        assert_eq!(e.store().flush_count(), flushes);
        e.shutdown().await.unwrap();
        (p, eci)
    };
    let e = engine(dir.path());
    assert_eq!(count(&e, &eci).await, json!(2));
    // Uninstalling drops the ruleset's entity variables.
    e.uninstall(&p, Rid::new("io.example.hello")).await.unwrap();
    e.install(&p, Rid::new("io.example.hello"), None)
        .await
        .unwrap();
    assert_eq!(count(&e, &eci).await, json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_to_one_pico_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.register(HELLO).await.unwrap();
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    e.install(&p, Rid::new("io.example.hello"), None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let e = e.clone();
        let eci = eci.clone();
        tasks.push(tokio::spawn(async move {
            e.event(event(&eci, "echo", "hello")).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(count(&e, &eci).await, json!(50));
}

#[tokio::test]
async fn registering_again_updates_running_picos() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.register(HELLO).await.unwrap();
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    e.install(&p, Rid::new("io.example.hello"), None)
        .await
        .unwrap();
    e.event(event(&eci, "echo", "hello")).await.unwrap();
    let v2 = HELLO.replace("send_directive(\"say\"", "send_directive(\"said\"");
    let r = e.register(&v2).await.unwrap();
    assert_eq!(e.ruleset(&r.rid).unwrap().hash, r.hash);
    let answer = e.event(event(&eci, "echo", "hello")).await.unwrap();
    assert_eq!(answer.directives[0].to_json()["name"], json!("said"));
    // Entity variables carry over to the new version.
    assert_eq!(count(&e, &eci).await, json!(2));
}

const FORWARD: &str = r#"ruleset io.example.forward {
  rule fwd {
    select when echo forward
    event:send({"eci": event:attr("to"), "domain": "echo", "type": "hello"})
  }
}"#;

#[tokio::test]
async fn events_sent_by_rules_reach_other_picos() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.register(HELLO).await.unwrap();
    e.register(FORWARD).await.unwrap();
    let (a, a_eci) = e.new_pico(None, None).await.unwrap();
    let (b, b_eci) = e.new_pico(None, None).await.unwrap();
    e.install(&a, Rid::new("io.example.forward"), None)
        .await
        .unwrap();
    e.install(&b, Rid::new("io.example.hello"), None)
        .await
        .unwrap();
    let mut ev = event(&a_eci, "echo", "forward");
    ev.attrs.insert("to".into(), json!(b_eci.to_string()));
    e.event(ev).await.unwrap();
    // Delivery is asynchronous: wait for it (bounded).
    for _ in 0..200 {
        if count(&e, &b_eci).await == json!(1) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the sent event never arrived");
}

const SCHEDULE: &str = r#"ruleset io.example.schedule {
  meta { shares fired, list }
  global {
    fired = function() { ent:fired.defaultsTo(0) }
    list = function() { schedule:list() }
  }
  rule plan {
    select when t plan
    fired { schedule t event "tick" at time:now() }
  }
  rule tick {
    select when t tick
    always { ent:fired := ent:fired.defaultsTo(0) + 1 }
  }
}"#;

#[tokio::test]
async fn scheduled_events_fire_and_at_entries_go() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.register(SCHEDULE).await.unwrap();
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    let rid = Rid::new("io.example.schedule");
    e.install(&p, rid.clone(), None).await.unwrap();
    e.event(event(&eci, "t", "plan")).await.unwrap();
    for _ in 0..300 {
        let fired = e
            .query(&eci, rid.clone(), "fired".into(), Map::new())
            .await
            .unwrap();
        if fired == json!(1) {
            let list = e
                .query(&eci, rid.clone(), "list".into(), Map::new())
                .await
                .unwrap();
            assert_eq!(list, json!([]));
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the scheduled event never fired");
}

#[tokio::test]
async fn schedules_of_a_pico_without_record_are_dropped_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ghost = PicoId::new("ghost");
    {
        let store = Store::open(dir.path()).unwrap();
        let mut buf = WriteBuf::new();
        buf.put(Key::schedule(&ghost, "r", "1"), &json!({"id": "1"}));
        buf.put(Key::entity(&ghost, "r", "x"), &json!(1));
        store.apply(buf).unwrap();
        store.flush_now().unwrap();
    }
    let e = engine(dir.path());
    assert!(e.store().scheduled_picos().unwrap().is_empty());
    for prefix in Key::pico_state(&ghost) {
        assert!(e.store().keys(&prefix).unwrap().is_empty());
    }
}

#[tokio::test]
async fn channel_policy_denies() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (p, _) = e.new_pico(None, None).await.unwrap();
    let policy = json!({"events": {"deny": [{"domain": "secret", "name": "*"}]}});
    let eci = e.new_channel(&p, vec![], Some(policy), None).await.unwrap();
    assert!(e.event(event(&eci, "echo", "hi")).await.is_ok());
    assert!(matches!(
        e.event(event(&eci, "secret", "x")).await,
        Err(EngineError::Denied(_))
    ));
    let bad = e
        .new_channel(&p, vec![], Some(json!({"evnts": {}})), None)
        .await;
    assert!(matches!(bad, Err(EngineError::BadRequest(_))));
    e.delete_channel(&eci).await.unwrap();
    assert!(matches!(
        e.event(event(&eci, "echo", "hi")).await,
        Err(EngineError::UnknownEci(_))
    ));
}

#[tokio::test]
async fn install_of_unregistered_rid_is_unknown_ruleset() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let root = e.meta().root_pico.clone();
    let err = e
        .install(&root, Rid::new("no.such"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownRuleset(_)));
}

#[tokio::test]
async fn an_event_nobody_waits_for_is_still_flushed() {
    // Events rules send and timers have no one waiting for their answer;
    // their writes must still reach the disk (the database, in a cluster)
    // with a flush of their own, not whenever something else flushes.
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (a, a_eci) = e.new_pico(None, None).await.unwrap();
    let rs = e.register(HELLO).await.unwrap();
    e.install(&a, rs.rid.clone(), None).await.unwrap();
    let store = e.store().clone();
    let before = store.flush_count();
    e.dispatch()
        .handle(&a)
        .event_nowait(event(&a_eci, "echo", "hello"))
        .await
        .unwrap();
    let hits = Key::entity(&a, &rs.rid, "hits");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // Wait for the write, then for a flush after it (reading the store
    // directly asks for no flush).
    while store.get_raw(&hits).unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the event was not applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    while store.flush_count() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no flush after the event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
