//! Tests of the engine at scale: idle pico tasks leave memory and come
//! back from the store, and children are keys of their own (older
//! folders, whose records list their children, keep working).

use super::*;
use crate::error::EngineError;
use crate::ids::{Eci, Eid, PicoId, Rid};
use crate::pico::EventIn;
use crate::store::{ChannelRecord, Key, WriteBuf};
use serde_json::json;
use serde_json::{Map, Value};
use std::time::Duration;

const HELLO: &str = r#"ruleset io.example.hello {
  meta { shares hits }
  global {
    hits = function() { ent:hits.defaultsTo(0) }
  }
  rule r {
    select when echo hello
    send_directive("say", {"n": ent:hits.defaultsTo(0) + 1})
    always { ent:hits := ent:hits.defaultsTo(0) + 1 }
  }
}"#;

const LATER: &str = r#"ruleset io.example.later {
  meta { shares fired }
  global {
    fired = function() { ent:fired.defaultsTo(0) }
  }
  rule plan {
    select when t plan
    fired { schedule t event "tick" at time:add(time:now(), {"seconds": 1}) }
  }
  rule tick {
    select when t tick
    always { ent:fired := ent:fired.defaultsTo(0) + 1 }
  }
}"#;

/// An engine on `dir` with `settings` (`Store::reopen`: a test may open
/// the folder again right after dropping a store on it).
fn engine_with(dir: &std::path::Path, settings: Settings) -> Arc<Engine> {
    Engine::open(Store::reopen(dir), settings).unwrap()
}

/// An engine whose pico tasks leave after `idle` without a message.
fn engine_idle(dir: &std::path::Path, idle: Duration) -> Arc<Engine> {
    engine_with(
        dir,
        Settings {
            pico_idle_timeout: Some(idle),
            ..Settings::default()
        },
    )
}

/// `n` new picos with io.example.hello (registered first), each sent
/// `events` hello events: (id, eci) of each.
async fn hello_picos(e: &Engine, n: usize, events: usize) -> Vec<(PicoId, Eci)> {
    e.register(HELLO).await.unwrap();
    let rid = Rid::new("io.example.hello");
    let mut picos = Vec::new();
    for _ in 0..n {
        let (p, eci) = e.new_pico(None, None).await.unwrap();
        e.install(&p, rid.clone(), None).await.unwrap();
        for _ in 0..events {
            e.event(hello(&eci)).await.unwrap();
        }
        picos.push((p, eci));
    }
    picos
}

fn hello(eci: &Eci) -> EventIn {
    EventIn {
        eci: eci.clone(),
        eid: Eid::new("e1"),
        domain: "echo".into(),
        name: "hello".into(),
        attrs: Map::new(),
        time_ms: 0.0,
    }
}

async fn hits(e: &Engine, eci: &Eci) -> Value {
    e.query(eci, Rid::new("io.example.hello"), "hits".into(), Map::new())
        .await
        .unwrap()
}

/// Polls `done` every 5 ms until it holds, for at most `limit`.
async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "still waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Above `max_live_picos` tasks in memory, idle ones leave after
/// `CROWDED_IDLE_TIMEOUT` instead of the (here ten-minute) idle timeout:
/// the picos past the bound leave within seconds, and answer from the
/// store afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bound_idle_picos_leave_sooner() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        pico_idle_timeout: Some(Duration::from_secs(600)),
        max_live_picos: Some(5),
        ..Settings::default()
    };
    let e = engine_with(dir.path(), settings);
    let picos = hello_picos(&e, 20, 1).await;
    assert!(e.live_picos() > 5, "{} live", e.live_picos());
    wait_until(
        "the tasks past the bound to leave",
        Duration::from_secs(30),
        || e.live_picos() <= 5,
    )
    .await;
    for (_, eci) in &picos {
        assert_eq!(hits(&e, eci).await, json!(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_picos_leave_memory_and_come_back_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine_idle(dir.path(), Duration::from_millis(50));
    let rid = Rid::new("io.example.hello");
    let picos = hello_picos(&e, 20, 3).await;
    assert!(e.live_picos() > 0);
    // A handle kept from before: its task will have left.
    let stale = e.dispatch().handle(&picos[0].0);
    wait_until("the idle tasks to leave", Duration::from_secs(20), || {
        e.live_picos() == 0
    })
    .await;
    assert_eq!(e.dispatch().tracked_picos(), 0, "ended tasks are forgotten");
    assert!(stale.is_closed());
    let started = e.dispatch().started_picos();
    for (i, (p, eci)) in picos.iter().enumerate() {
        // Their state comes back from the store, installs included; what
        // is sent through the stale handle goes to a fresh task.
        let answer = if i == 0 {
            stale.event(hello(eci)).await.unwrap()
        } else {
            e.event(hello(eci)).await.unwrap()
        };
        assert_eq!(answer.directives[0].to_json()["options"], json!({"n": 4}));
        assert_eq!(hits(&e, eci).await, json!(4));
        let stored: Option<Value> = e.store().get(&Key::entity(p, &rid, "hits")).unwrap();
        assert_eq!(stored, Some(json!(4)));
        assert_eq!(e.pico(p).unwrap().rulesets, vec![rid.clone()]);
    }
    assert!(
        e.dispatch().started_picos() >= started + picos.len(),
        "every pico was started again"
    );
    wait_until("the tasks to leave again", Duration::from_secs(20), || {
        e.live_picos() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_at_the_idle_edge_are_applied_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // So short that the task leaves between most events.
    let e = engine_idle(dir.path(), Duration::from_micros(200));
    e.register(HELLO).await.unwrap();
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    e.install(&p, Rid::new("io.example.hello"), None)
        .await
        .unwrap();
    let senders = 4;
    let each = 150;
    let mut tasks = Vec::new();
    for s in 0..senders {
        let e = e.clone();
        let eci = eci.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                // Gaps of 0 to 3 ms between taking the pico's handle and
                // sending: the task often leaves in between (the send then
                // finds its mailbox closed), or while events are queued.
                let gap = (s * 7 + i * 13) % 4;
                let answer = if i % 2 == 0 {
                    let handle = e.dispatch().handle(&p);
                    if gap > 0 {
                        tokio::time::sleep(Duration::from_millis(gap as u64)).await;
                    }
                    handle.event(hello(&eci)).await
                } else {
                    if gap > 0 {
                        tokio::time::sleep(Duration::from_millis(gap as u64)).await;
                    }
                    e.event(hello(&eci))
                        .await
                        .map_err(|e| crate::pico::PicoError::Unavailable(e.to_string()))
                };
                answer.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(hits(&e, &eci).await, json!(senders * each));
    assert!(
        e.dispatch().started_picos() > 10,
        "the task left and came back during the run ({} starts)",
        e.dispatch().started_picos()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_task_waits_for_the_one_that_is_leaving() {
    let dir = tempfile::tempdir().unwrap();
    // The task decides to leave after 1 ms without a message, then takes
    // 3 ms to close its mailbox: events keep arriving in it meanwhile and
    // are handled after the close, while later ones go to a fresh task.
    // The fresh task must wait for the old one, or the two would run the
    // same pico's events at once (and lose increments).
    let settings = Settings {
        pico_idle_timeout: Some(Duration::from_millis(1)),
        pico_retire_pause: Some(Duration::from_millis(3)),
        ..Settings::default()
    };
    let e = engine_with(dir.path(), settings);
    e.register(HELLO).await.unwrap();
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    e.install(&p, Rid::new("io.example.hello"), None)
        .await
        .unwrap();
    let senders = 8;
    let each = 250;
    // Rounds until the task has left and come back several times (how
    // often it does depends on the machine's load, not on a clock the
    // test could trust), at most 20.
    let mut rounds = 0;
    while rounds == 0 || (e.dispatch().started_picos() <= 5 && rounds < 20) {
        rounds += 1;
        let mut tasks = Vec::new();
        for s in 0..senders {
            let e = e.clone();
            let eci = eci.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..each {
                    e.event(hello(&eci)).await.unwrap();
                    // Bursts and pauses around the idle edge.
                    if (s + i) % 5 == 0 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(hits(&e, &eci).await, json!(rounds * senders * each));
    }
    assert!(
        e.dispatch().started_picos() > 5,
        "the task left and came back during the runs ({} starts in {rounds} rounds)",
        e.dispatch().started_picos()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_due_after_the_pico_left_still_fires() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine_idle(dir.path(), Duration::from_millis(20));
    e.register(LATER).await.unwrap();
    let rid = Rid::new("io.example.later");
    let (p, eci) = e.new_pico(None, None).await.unwrap();
    e.install(&p, rid.clone(), None).await.unwrap();
    let mut plan = hello(&eci);
    plan.domain = "t".into();
    plan.name = "plan".into();
    e.event(plan).await.unwrap();
    assert_eq!(e.store().keys(&Key::schedules(&p)).unwrap().len(), 1);
    // The task leaves before the schedule is due (1 s), asking to be
    // woken then.
    wait_until("the task to leave", Duration::from_secs(10), || {
        e.live_picos() == 0
    })
    .await;
    assert_eq!(e.dispatch().pending_wakeups(), 1);
    let fired = || -> Option<Value> { e.store().get(&Key::entity(&p, &rid, "fired")).unwrap() };
    assert_eq!(fired(), None, "not yet due");
    // Nothing is sent to the pico: only its wake-up can fire it.
    wait_until("the scheduled event", Duration::from_secs(20), || {
        fired() == Some(json!(1))
    })
    .await;
    assert!(e.store().keys(&Key::schedules(&p)).unwrap().is_empty());
    wait_until("the task to leave again", Duration::from_secs(10), || {
        e.live_picos() == 0
    })
    .await;
    assert_eq!(e.dispatch().pending_wakeups(), 0);
}

#[tokio::test]
async fn children_are_listed_in_creation_order_one_key_each() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine_with(dir.path(), Settings::default());
    let root = e.meta().root_pico.clone();
    let mut made = Vec::new();
    // More than 10: the seq's digits must sort as numbers.
    for i in 0..12 {
        made.push(e.new_pico(None, Some(format!("p{i}"))).await.unwrap().0);
    }
    assert_eq!(e.pico(&root).unwrap().children, made);
    // The parent's record is not touched: no list of children, and the
    // children's family channels on it are in their `H` keys.
    let root_rec = e.store().pico(&root).unwrap().unwrap();
    assert!(root_rec.children.is_empty());
    assert_eq!(root_rec.channels.len(), 2, "its first and self channels");
    assert_eq!(e.store().keys(&Key::children(&root)).unwrap().len(), 12);
    let family: Vec<_> = WriteBuf::new()
        .child_keys(e.store(), &root)
        .unwrap()
        .into_iter()
        .map(|(child, pe)| {
            let ch = e.store().channel(&pe.unwrap()).unwrap().unwrap();
            (child, ch.pico, ch.family)
        })
        .collect();
    let expect: Vec<_> = made
        .iter()
        .map(|c| (c.clone(), root.clone(), Some(c.clone())))
        .collect();
    assert_eq!(family, expect, "each child's family channel on the root");
    // Deleting one keeps the others' order; a new one goes last.
    e.delete_pico(&made[3]).await.unwrap();
    let (last, _) = e.new_pico(None, None).await.unwrap();
    made.remove(3);
    made.push(last);
    assert_eq!(e.pico(&root).unwrap().children, made);
    // A subtree goes with its children's keys.
    let (grand, _) = e.new_pico(Some(made[0].clone()), None).await.unwrap();
    assert_eq!(e.pico(&made[0]).unwrap().children, vec![grand.clone()]);
    e.delete_pico(&made[0]).await.unwrap();
    assert!(matches!(e.pico(&grand), Err(EngineError::UnknownPico(_))));
    assert!(e.store().keys(&Key::children(&made[0])).unwrap().is_empty());
    assert_eq!(e.store().keys(&Key::children(&root)).unwrap().len(), 11);
}

#[tokio::test]
async fn a_folder_whose_records_list_their_children_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = PicoId::new("root0");
    let root_eci = Eci::new("root-eci");
    let (a, b) = (PicoId::new("old-a"), PicoId::new("old-b"));
    let grand = PicoId::new("old-a-a");
    {
        // The layout before the `H` keys, written as that engine did:
        // each record lists its children.
        let store = Store::open(dir.path()).unwrap();
        let mut buf = WriteBuf::new();
        buf.put(
            Key::meta("root"),
            &json!({"root_pico": root, "root_eci": root_eci}),
        );
        let record = |name: &str, parent: Option<&PicoId>, children: &[&PicoId], eci: &str| json!({"name": name, "parent": parent, "children": children, "channels": [eci]});
        let channel = |pico: &PicoId| ChannelRecord {
            pico: pico.clone(),
            tags: vec!["system".into()],
            policy: None,
            twilio_auth_token: None,
            family: None,
        };
        let mut root_rec = record("root", None, &[&a, &b], "root-eci");
        // a's family channel on the root, in the root's list as then
        root_rec["channels"] = json!(["root-eci", "pe-a"]);
        buf.put(Key::pico(&root), &root_rec);
        let mut a_rec = record("a", Some(&root), &[&grand], "a-eci");
        a_rec["parent_eci"] = json!("pe-a");
        buf.put(Key::pico(&a), &a_rec);
        buf.put(
            Key::channel(&Eci::new("pe-a")),
            &ChannelRecord {
                family: Some(a.clone()),
                ..channel(&root)
            },
        );
        buf.put(Key::pico(&b), &record("b", Some(&root), &[], "b-eci"));
        buf.put(Key::pico(&grand), &record("aa", Some(&a), &[], "aa-eci"));
        for (pico, eci) in [
            (&root, "root-eci"),
            (&a, "a-eci"),
            (&b, "b-eci"),
            (&grand, "aa-eci"),
        ] {
            buf.put(Key::channel(&Eci::new(eci)), &channel(pico));
            buf.put(Key::installs(pico), &json!([]));
        }
        store.apply(buf).unwrap();
        store.flush_now().unwrap();
    }
    let e = engine_with(dir.path(), Settings::default());
    assert_eq!(e.meta().root_pico, root);
    assert_eq!(e.pico(&root).unwrap().children, vec![a.clone(), b.clone()]);
    assert_eq!(e.pico(&a).unwrap().children, vec![grand.clone()]);
    // New children come after the listed ones.
    let (c, _) = e.new_pico(None, None).await.unwrap();
    let (d, _) = e.new_pico(Some(a.clone()), None).await.unwrap();
    assert_eq!(
        e.pico(&root).unwrap().children,
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(e.pico(&a).unwrap().children, vec![grand.clone(), d.clone()]);
    // Deleting a listed child takes its subtree, old and new children.
    e.delete_pico(&a).await.unwrap();
    for gone in [&a, &grand, &d] {
        assert!(matches!(e.pico(gone), Err(EngineError::UnknownPico(_))));
    }
    assert_eq!(e.pico(&root).unwrap().children, vec![b.clone(), c.clone()]);
    let root_rec = e.store().pico(&root).unwrap().unwrap();
    assert_eq!(
        (root_rec.children, root_rec.channels),
        (vec![b.clone()], vec![Eci::new("root-eci")]),
        "the record's own lists lose the deleted child and its family channel"
    );
    assert!(e.store().channel(&Eci::new("pe-a")).unwrap().is_none());
    e.delete_pico(&c).await.unwrap();
    assert_eq!(e.pico(&root).unwrap().children, vec![b]);
}
