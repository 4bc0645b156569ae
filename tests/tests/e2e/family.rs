//! The Pico Engine's world with the project's own KRL
//! (`rulesets/family/`): `ctx:newPico` by URL with a call to the new child
//! in the same event, family channels (only their owner may use them),
//! `ctx:query` and `ctx:eventQuery` as the calling pico, a loop of calls
//! refused at once, a failed event that leaves no child made and loses no
//! child deleted, `ctx:install`/`ctx:uninstall` inside an event, channels
//! with the Pico Engine's tags and policies, and a subscription-style
//! handshake between two children over channels they make.

use krl_tests::api::{server, str_of, wait_for, Api};
use krl_tests::workspace_root;
use serde_json::{json, Value};
use std::time::Duration;

const PARENT: &str = "io.krl.family.parent";
const CHILD: &str = "io.krl.family.child";
const LIMIT: Duration = Duration::from_secs(30);

fn child_url() -> String {
    format!(
        "file://{}",
        workspace_root().join("rulesets/family/child.krl").display()
    )
}

/// A pico with the parent ruleset: (pico id, its eci).
fn parent(api: &Api) -> (String, String) {
    let src = std::fs::read_to_string(workspace_root().join("rulesets/family/parent.krl")).unwrap();
    api.register_ok(&src);
    let (status, made) = api.post(
        "/api/picos",
        json!({"name": "parent", "rulesets": [{"rid": PARENT}]}),
    );
    assert_eq!(status, 200, "{made}");
    (str_of(&made["id"]), str_of(&made["eci"]))
}

fn children(api: &Api, eci: &str) -> Vec<String> {
    let (status, v) = api.query(eci, PARENT, "children", json!({}));
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().iter().map(str_of).collect()
}

fn ask(api: &Api, eci: &str, child: &str, name: &str) -> Value {
    let (status, v) = api.query(eci, PARENT, "ask", json!({"eci": child, "name": name}));
    assert_eq!(status, 200, "{v}");
    v
}

fn new_child(api: &Api, eci: &str, name: &str) -> String {
    let (status, v) = api.event(
        eci,
        "family",
        "new_child",
        json!({"url": child_url(), "name": name}),
    );
    assert_eq!(status, 200, "{v}");
    let d = &v["directives"][0]["options"];
    // the child was made, got its ruleset by URL and answered within the
    // same event, through its family channel
    assert_eq!(d["greeting"], json!(format!("hello {name}")), "{v}");
    str_of(&d["eci"])
}

#[test]
fn children_by_url_answer_through_family_channels_only() {
    let (_dir, s) = server("family-children", &[]);
    let api = Api::new(&s);
    let (pico, eci) = parent(&api);
    let ann = new_child(&api, &eci, "Ann");
    assert_eq!(children(&api, &eci), vec![ann.clone()]);
    // the pico's log (ctx:logs) has the event and the rule it selected
    let (_, logs) = api.query(&eci, PARENT, "logs", json!({}));
    let logs = logs.as_array().unwrap_or_else(|| panic!("{logs}"));
    let queued = logs
        .iter()
        .find(|e| e["msg"] == "txnQueued" && e["txn"]["event"]["name"] == "new_child")
        .unwrap_or_else(|| panic!("{logs:?}"));
    assert_eq!(queued["txn"]["event"]["data"]["attrs"]["name"], "Ann");
    for msg in ["rule selected", "fired", "txnDone"] {
        assert!(
            logs.iter().any(|e| e["msg"] == msg
                && (msg == "txnDone" || e["rule_name"] == "new_child")
                && e["txnId"] == queued["txnId"]),
            "{msg}: {logs:?}"
        );
    }
    // the engine's view: the same tree
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(info["children"].as_array().unwrap().len(), 1, "{info}");

    let who = ask(&api, &eci, &ann, "whoami");
    assert_eq!(who["url"], json!(child_url()));
    // ctx:parent is a channel of the parent, for this child only
    let (_, chans) = api.query(&eci, PARENT, "channels", json!({}));
    let parent_side = chans
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == who["parent"])
        .unwrap_or_else(|| panic!("{chans}"));
    assert_eq!(parent_side["tags"], json!(["system", "parent"]));
    assert_eq!(parent_side["familyChannelPicoID"], who["pico"]);
    // each pico's self channel has the pico's id
    let me = chans
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(pico))
        .unwrap();
    assert_eq!(me["tags"], json!(["system", "self"]));
    assert_eq!(
        me["eventPolicy"],
        json!({"allow": [{"domain": "*", "name": "*"}], "deny": []})
    );

    // nobody outside the family may use a family channel
    let (status, v) = api.event(&ann, "family", "named", json!({"name": "x"}));
    assert_eq!(status, 403, "{v}");
    assert_eq!(
        v["error"],
        json!(format!(
            "This is a family channel and only the owner can use it: {ann}"
        ))
    );
    let (status, v) = api.get_public(&format!("/c/{ann}/query/{CHILD}/greeting"));
    assert_eq!(status, 403, "{v}");
    assert_eq!(
        v["error"],
        "Error: This is a family channel and only the owner can use it."
    );

    // the child talks to its parent through ctx:parent
    let (status, _) = api.event(
        &eci,
        "family",
        "forward",
        json!({"eci": ann, "domain": "family", "type": "tell_parent", "attrs": {"text": "hi"}}),
    );
    assert_eq!(status, 200);
    wait_for("the parent to hear its child", LIMIT, || {
        let (_, v) = api.query(&eci, PARENT, "heard", json!({}));
        (v == json!(["hi"])).then_some(())
    });

    // delPico: the child and its channels are gone
    let (status, v) = api.event(&eci, "family", "del_child", json!({"eci": ann}));
    assert_eq!(status, 200, "{v}");
    assert!(children(&api, &eci).is_empty());
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(info["children"], json!([]), "{info}");
    let (status, _) = api.get(&format!("/api/picos/{}", str_of(&who["pico"])));
    assert_eq!(status, 404);
    // deleting what is not a child is refused
    let (status, v) = api.event(&eci, "family", "del_child", json!({"eci": eci}));
    assert_eq!(status, 500, "{v}");
    assert!(
        str_of(&v["error"]).contains("not found in children ECIs"),
        "{v}"
    );
}

#[test]
fn a_failed_event_leaves_no_child_made_and_loses_no_child_deleted() {
    let (_dir, s) = server("family-rollback", &[]);
    let api = Api::new(&s);
    let (pico, eci) = parent(&api);
    let bob = new_child(&api, &eci, "Bob");

    let (status, v) = api.event(
        &eci,
        "family",
        "new_child_then_fail",
        json!({"url": child_url()}),
    );
    assert_eq!(status, 500, "{v}");
    assert!(
        str_of(&v["error"]).contains("ECI not found no-such-eci"),
        "{v}"
    );
    // the child it made is gone already when the failure is answered
    assert_eq!(children(&api, &eci), vec![bob.clone()]);
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(info["children"].as_array().unwrap().len(), 1, "{info}");

    let (status, v) = api.event(&eci, "family", "del_child_then_fail", json!({"eci": bob}));
    assert_eq!(status, 500, "{v}");
    // the child it deleted is still there, and still answers
    assert_eq!(children(&api, &eci), vec![bob.clone()]);
    assert_eq!(ask(&api, &eci, &bob, "greeting"), json!("hello Bob"));
}

#[test]
fn a_loop_of_calls_between_picos_is_an_error_not_a_hang() {
    let (_dir, s) = server("family-loop", &[]);
    let api = Api::new(&s);
    let (_, eci) = parent(&api);
    let cy = new_child(&api, &eci, "Cy");
    // parent → child (ask_parent) → parent: refused at once
    let (status, v) = api.event(&eci, "family", "ask_back", json!({"eci": cy}));
    assert_eq!(status, 500, "{v}");
    assert!(str_of(&v["error"]).contains("would wait for ever"), "{v}");
    assert_eq!(v["rule"], "ask_back");
    // both picos still answer
    assert_eq!(ask(&api, &eci, &cy, "greeting"), json!("hello Cy"));
    assert_eq!(children(&api, &eci), vec![cy]);
}

const EXTRA: &str = r#"ruleset io.krl.family.extra {
  meta { shares seen, greeting }
  global {
    seen = function() { ent:seen }
    greeting = function() { ctx:rid_config{"greeting"} }
  }
  rule installed {
    select when family installed
    fired { ent:seen := event:attr("rid") }
  }
}
"#;

const LIB: &str = r#"ruleset io.krl.family.lib {
  meta { provides two }
  global { two = 2 }
}
"#;

const USER: &str = r#"ruleset io.krl.family.user {
  meta { use module io.krl.family.lib alias lib shares four }
  global { four = function() { lib:two * 2 } }
}
"#;

#[test]
fn rules_install_and_uninstall_rulesets_by_url() {
    let (dir, s) = server("family-install", &[]);
    let api = Api::new(&s);
    let (pico, eci) = parent(&api);
    let file = dir.path().join("extra.krl");
    std::fs::write(&file, EXTRA).unwrap();
    let url = format!("file://{}", file.display());

    let (status, v) = api.event(&eci, "family", "install", json!({"url": url}));
    assert_eq!(status, 200, "{v}");
    // the event raised after ctx:install reached the new ruleset
    let (status, seen) = api.query(&eci, "io.krl.family.extra", "seen", json!({}));
    assert_eq!((status, seen), (200, json!("io.krl.family.extra")));
    let (_, greeting) = api.query(&eci, "io.krl.family.extra", "greeting", json!({}));
    assert_eq!(greeting, json!("hey"));
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(
        info["rulesets"],
        json!([PARENT, "io.krl.family.extra"]),
        "{info}"
    );
    // registered from its URL
    let (_, rs) = api.get("/api/rulesets/io.krl.family.extra");
    assert_eq!(rs["rid"], "io.krl.family.extra", "{rs}");

    // flushing a URL registers the file's new version
    std::fs::write(
        &file,
        EXTRA.replace("ctx:rid_config{\"greeting\"}", "\"new\""),
    )
    .unwrap();
    let (status, v) = api.event(&eci, "family", "install", json!({"url": url}));
    assert_eq!(status, 200, "{v}");
    let (_, greeting) = api.query(&eci, "io.krl.family.extra", "greeting", json!({}));
    assert_eq!(greeting, json!("new"));

    let (status, v) = api.event(
        &eci,
        "family",
        "uninstall",
        json!({"rid": "io.krl.family.extra"}),
    );
    assert_eq!(status, 200, "{v}");
    let (status, _) = api.query(&eci, "io.krl.family.extra", "seen", json!({}));
    assert_eq!(status, 404);

    // a module another installed ruleset uses stays, with the Pico
    // Engine's words
    api.register_ok(LIB);
    api.register_ok(USER);
    api.install_ok(&pico, "io.krl.family.lib");
    api.install_ok(&pico, "io.krl.family.user");
    let (status, v) = api.event(
        &eci,
        "family",
        "uninstall",
        json!({"rid": "io.krl.family.lib"}),
    );
    assert_eq!(status, 500, "{v}");
    assert!(
        str_of(&v["error"]).contains(
            "Cannot uninstall io.krl.family.lib because io.krl.family.user depends on it"
        ),
        "{v}"
    );
    let (status, four) = api.query(&eci, "io.krl.family.user", "four", json!({}));
    assert_eq!((status, four), (200, json!(4)));
}

#[test]
fn channels_take_pico_engine_tags_and_policies() {
    let (_dir, s) = server("family-channels", &[]);
    let api = Api::new(&s);
    let (_, eci) = parent(&api);
    let ev = json!({"allow": [{"domain": "echo", "name": "*"}], "deny": [{"domain": "echo", "name": "bad"}]});
    let q = json!({"allow": [], "deny": []});
    let (status, v) = api.event(
        &eci,
        "family",
        "new_channel",
        json!({"tags": ["Bar Two", "X.y"], "eventPolicy": ev, "queryPolicy": q}),
    );
    assert_eq!(status, 200, "{v}");
    let (_, chans) = api.query(&eci, PARENT, "channels", json!({}));
    let made = chans
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tags"] == json!(["bar-two", "x-y"]))
        .unwrap_or_else(|| panic!("{chans}"))
        .clone();
    // what was given comes back
    assert_eq!(
        (made["eventPolicy"].clone(), made["queryPolicy"].clone()),
        (ev, q)
    );
    assert_eq!(made["familyChannelPicoID"], Value::Null);
    let new = str_of(&made["id"]);
    // and is enforced: allowed, denied, not in the allow list
    let (status, _) = api.event(&new, "echo", "hi", json!({}));
    assert_eq!(status, 200);
    let (status, _) = api.event(&new, "echo", "bad", json!({}));
    assert_eq!(status, 403);
    let (status, _) = api.event(&new, "other", "hi", json!({}));
    assert_eq!(status, 403);
    let (status, _) = api.query(&new, PARENT, "children", json!({}));
    assert_eq!(status, 403);

    // "system" is reserved; a malformed policy is refused
    let (status, v) = api.event(&eci, "family", "new_channel", json!({"tags": ["system"]}));
    assert_eq!(status, 500, "{v}");
    assert!(
        str_of(&v["error"]).contains("Cannot tag channel as \"system\"."),
        "{v}"
    );
    let (status, v) = api.event(
        &eci,
        "family",
        "new_channel",
        json!({"tags": ["a"], "eventPolicy": {"allow": []}}),
    );
    assert_eq!(status, 500, "{v}");
    assert!(str_of(&v["error"]).contains("EventPolicy expects"), "{v}");

    // delChannel; a family channel cannot be deleted
    let (status, v) = api.event(&eci, "family", "del_channel", json!({"eci": new}));
    assert_eq!(status, 200, "{v}");
    let (status, _) = api.event(&new, "echo", "hi", json!({}));
    assert_eq!(status, 404);
    let pico_self = chans
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tags"] == json!(["system", "self"]))
        .unwrap();
    let (status, v) = api.event(
        &eci,
        "family",
        "del_channel",
        json!({"eci": pico_self["id"]}),
    );
    assert_eq!(status, 500, "{v}");
    assert!(
        str_of(&v["error"]).contains("Cannot delete family channels."),
        "{v}"
    );
}

#[test]
fn two_children_subscribe_and_talk_over_their_own_channels() {
    let (_dir, s) = server("family-subscription", &[]);
    let api = Api::new(&s);
    let (_, eci) = parent(&api);
    let a = new_child(&api, &eci, "A");
    let b = new_child(&api, &eci, "B");
    // b made its well-known channel (tags cleaned: "well known")
    let well_known = ask(&api, &eci, &b, "well_known");
    assert!(well_known.is_string(), "{well_known}");

    let (status, v) = api.event(&eci, "family", "introduce", json!({"a": a, "b": b}));
    assert_eq!(status, 200, "{v}");
    let peer_of = |who: &str| ask(&api, &eci, who, "peer");
    let (pa, pb) = wait_for("both sides of the subscription", LIMIT, || {
        let (pa, pb) = (peer_of(&a), peer_of(&b));
        (pa.is_string() && pb.is_string()).then_some((pa, pb))
    });
    assert_ne!(pa, pb);
    let (status, _) = api.event(
        &eci,
        "family",
        "forward",
        json!({"eci": a, "domain": "family", "type": "send_to_peer", "attrs": {"text": "hello b"}}),
    );
    assert_eq!(status, 200);
    wait_for("the message across the subscription", LIMIT, || {
        (ask(&api, &eci, &b, "inbox") == json!(["hello b"])).then_some(())
    });
    // the subscription channel admits only the handshake's events
    let (status, _) = api.event(&str_of(&pb), "family", "named", json!({}));
    assert_eq!(status, 403);
}

const SENDER: &str = r#"ruleset io.krl.family.sender {
  rule send {
    select when remote send
      host re#(.+)# eci re#(.+)# setting(host, eci)
    every {
      event:send({"eci": eci, "domain": "remote", "name": "hello", "attrs": {"by": "event:send"}}, host)
      ctx:event(eci = eci, domain = "remote", name = "hello", attrs = {"by": "ctx:event"}, host = host)
    }
  }
}
"#;

const RECEIVER: &str = r#"ruleset io.krl.family.receiver {
  meta { shares got }
  global { got = function() { ent:got.defaultsTo([]).sort() } }
  rule hello {
    select when remote hello
    fired { ent:got := ent:got.defaultsTo([]).append(event:attr("by")) }
  }
}
"#;

#[test]
fn events_go_to_another_engine_with_host() {
    let (_da, a) = server("family-remote-a", &[]);
    let (_db, b) = server("family-remote-b", &[]);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    let (_, from) = api_a.pico_with(SENDER);
    let (_, to) = api_b.pico_with(RECEIVER);
    let (status, v) = api_a.event(&from, "remote", "send", json!({"host": b.url, "eci": to}));
    assert_eq!(status, 200, "{v}");
    wait_for("both events on the other engine", LIMIT, || {
        let (_, got) = api_b.query(&to, "io.krl.family.receiver", "got", json!({}));
        (got == json!(["ctx:event", "event:send"])).then_some(())
    });
}

#[test]
fn rulesets_install_from_http_urls_and_a_missing_one_is_a_clear_error() {
    use krl_tests::fake_http::{Fake, Reply};
    let web = Fake::start(|req, _| match req.path() {
        "/extra.krl" => Reply::text(200, "text/plain", EXTRA),
        _ => Reply::text(404, "text/plain", "not here"),
    });
    let (_dir, s) = server("family-http-url", &[]);
    let api = Api::new(&s);
    let (_, eci) = parent(&api);
    let url = format!("{}/extra.krl", web.url());
    let (status, v) = api.event(&eci, "family", "install", json!({"url": url}));
    assert_eq!(status, 200, "{v}");
    let (status, seen) = api.query(&eci, "io.krl.family.extra", "seen", json!({}));
    assert_eq!((status, seen), (200, json!("io.krl.family.extra")));
    assert!(web
        .seen()
        .iter()
        .any(|r| r.method == "GET" && r.path() == "/extra.krl"));

    let missing = format!("{}/missing.krl", web.url());
    let (status, v) = api.event(&eci, "family", "install", json!({"url": missing}));
    assert_eq!(status, 500, "{v}");
    assert!(
        str_of(&v["error"]).contains(&format!("cannot fetch {missing}: HTTP 404")),
        "{v}"
    );
}
