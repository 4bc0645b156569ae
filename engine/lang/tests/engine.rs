//! The evaluator end to end, in memory: rulesets compiled from source,
//! events and queries through `PicoRuntime` with a `MemoryHost`.

use krl_lang::engine::memory::MemoryHost;
use krl_lang::engine::{compile, Event, PicoRuntime, QueryError, Ruleset};
use krl_lang::runtime::{Map, Value};
use serde_json::json;
use std::sync::Arc;

fn ruleset(src: &str) -> Arc<Ruleset> {
    match compile(src) {
        Ok(r) => r,
        Err(ds) => panic!(
            "{}",
            ds.iter()
                .map(|d| d.render("test.krl", src))
                .collect::<String>()
        ),
    }
}

fn install(src: &str) -> (PicoRuntime, MemoryHost, String) {
    let rs = ruleset(src);
    let rid = rs.rid().to_string();
    let mut pico = PicoRuntime::new("p1");
    let mut host = MemoryHost::new(1_700_000_000_000.0);
    pico.install(rs, Value::Null, &|_| None, &mut host)
        .expect("installs");
    (pico, host, rid)
}

fn attrs(j: serde_json::Value) -> Map {
    match Value::from_json(&j) {
        Value::Map(m) => (*m).clone(),
        _ => Map::default(),
    }
}

fn event(
    pico: &mut PicoRuntime,
    host: &mut MemoryHost,
    domain: &str,
    name: &str,
    a: serde_json::Value,
) -> Vec<serde_json::Value> {
    let ev = Event {
        domain: domain.into(),
        name: name.into(),
        attrs: attrs(a),
        eci: "eci1".into(),
        eid: "eid1".into(),
        time_ms: host.now_ms,
    };
    let out = pico
        .event(ev, "txn1", host)
        .unwrap_or_else(|e| panic!("{e}"));
    out.directives
        .iter()
        .map(|d| json!({"name": &*d.name, "options": d.options.to_json()}))
        .collect()
}

fn query(
    pico: &mut PicoRuntime,
    host: &mut MemoryHost,
    rid: &str,
    name: &str,
    a: serde_json::Value,
) -> serde_json::Value {
    pico.query(rid, name, &attrs(a), host)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_json()
}

const HELLO: &str = r##"
ruleset io.example.hello {
  meta { shares hello, said }
  global {
    hello = function(name = "default") { "Hello " + name }
    said = function() { ent:said }
  }
  rule say_hello {
    select when say hello
    send_directive("say", {"something": hello(event:attrs{"name"})})
    always { ent:said := event:attrs{"name"} }
  }
}
"##;

#[test]
fn hello_world_event_and_queries() {
    let (mut pico, mut host, rid) = install(HELLO);
    assert_eq!(
        query(&mut pico, &mut host, &rid, "hello", json!({"name": "bob"})),
        json!("Hello bob")
    );
    assert_eq!(
        query(&mut pico, &mut host, &rid, "hello", json!({})),
        json!("Hello default")
    );
    assert_eq!(
        query(&mut pico, &mut host, &rid, "said", json!({})),
        json!(null)
    );
    let d = event(&mut pico, &mut host, "say", "hello", json!({"name": "ann"}));
    assert_eq!(
        d,
        vec![json!({"name": "say", "options": {"something": "Hello ann"}})]
    );
    assert_eq!(
        query(&mut pico, &mut host, &rid, "said", json!({})),
        json!("ann")
    );
    assert_eq!(host.ent(&rid, "said"), Value::from("ann"));
}

#[test]
fn send_directive_gives_its_value_to_setting_only_when_asked() {
    let src = r#"
ruleset io.example.kept {
  rule kept {
    select when d kept
    send_directive("x", {"a": 1}) setting(d)
    always { ent:kept := d }
  }
  rule dropped {
    select when d kept
    send_directive("y")
  }
}
"#;
    let (mut pico, mut host, rid) = install(src);
    let d = event(&mut pico, &mut host, "d", "kept", json!({}));
    assert_eq!(d.len(), 2);
    assert_eq!(
        host.ent(&rid, "kept").to_json(),
        json!({"type": "directive", "name": "x", "options": {"a": 1},
               "meta": {"rid": "io.example.kept", "rule_name": "kept", "txnId": "txn1"}})
    );
}

#[test]
fn queries_check_install_and_shares() {
    let (mut pico, mut host, _) = install(HELLO);
    let e = pico
        .query("io.nope", "x", &Map::default(), &mut host)
        .unwrap_err();
    assert_eq!(e.to_string(), "Pico doesn't have io.nope installed.");
    let e = pico
        .query("io.example.hello", "nope", &Map::default(), &mut host)
        .unwrap_err();
    assert!(matches!(e, QueryError::NotShared(..)));
    assert_eq!(e.to_string(), "Not shared: io.example.hello/nope");
}

#[test]
fn counter_with_paths_guards_and_postlude_branches() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.counter {
  meta { shares total, log }
  global {
    total = function() { ent:count.defaultsTo(0) }
    log = function() { ent:log }
  }
  rule inc {
    select when counter inc by re#^(\d+)$# setting(by)
    if by.as("Number") > 0 then noop()
    fired {
      ent:count := total() + by.as("Number");
      ent:log{["last", "by"]} := by;
      ent:big := true if by.as("Number") > 10
    } else {
      ent:zero := true
    } finally {
      ent:seen := ent:seen.defaultsTo(0) + 1
    }
  }
  rule reset {
    select when counter reset
    always { clear ent:count; clear ent:log{"last"} }
  }
}
"##,
    );
    event(&mut pico, &mut host, "counter", "inc", json!({"by": "3"}));
    event(&mut pico, &mut host, "counter", "inc", json!({"by": "12"}));
    event(&mut pico, &mut host, "counter", "inc", json!({"by": "0"}));
    assert_eq!(
        query(&mut pico, &mut host, &rid, "total", json!({})),
        json!(15)
    );
    assert_eq!(
        host.ent(&rid, "log").to_json(),
        json!({"last": {"by": "12"}})
    );
    assert_eq!(host.ent(&rid, "big"), Value::Bool(true));
    assert_eq!(host.ent(&rid, "zero"), Value::Bool(true));
    assert_eq!(host.ent(&rid, "seen"), Value::Number(3.0));
    event(&mut pico, &mut host, "counter", "reset", json!({}));
    assert_eq!(host.ent(&rid, "count"), Value::Null);
    assert_eq!(host.ent(&rid, "log").to_json(), json!({}));
}

#[test]
fn raise_is_breadth_first_and_last_stops_the_ruleset() {
    let (mut pico, mut host, _) = install(
        r##"
ruleset io.example.flow {
  rule a1 {
    select when e f
    send_directive("a1")
    fired { raise x event "y" attributes {"n": 1} }
  }
  rule a2 {
    select when e f
    send_directive("a2")
    fired { last }
  }
  rule a3 {
    select when e f
    send_directive("a3")
  }
  rule on_y {
    select when x y n re#(\d)# setting(n)
    send_directive("y", {"n": n})
  }
}
"##,
    );
    let d = event(&mut pico, &mut host, "e", "f", json!({}));
    let names: Vec<&str> = d.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a1", "a2", "y"]);
    assert_eq!(d[2]["options"], json!({"n": "1"}));
}

#[test]
fn defactions_choose_and_setting() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.actions {
  global {
    greet = defaction(who, loud = false) {
      text = loud => ("Hi " + who).uc() | "Hi " + who
      send_directive("greeting", {"text": text})
      return "sent to " + who
    }
  }
  rule greet_someone {
    select when act greet who re#(.+)# setting(who)
    greet(who, loud = event:attrs{"loud"} == "true") setting(result)
    fired { ent:result := result }
  }
  rule route {
    select when act route
    choose (event:attrs{"dept"}) {
      sales => send_directive("to_sales");
      help => send_directive("to_help");
    }
  }
}
"##,
    );
    let d = event(
        &mut pico,
        &mut host,
        "act",
        "greet",
        json!({"who": "bo", "loud": "true"}),
    );
    assert_eq!(
        d,
        vec![json!({"name": "greeting", "options": {"text": "HI BO"}})]
    );
    assert_eq!(host.ent(&rid, "result"), Value::from("sent to bo"));
    let d = event(
        &mut pico,
        &mut host,
        "act",
        "route",
        json!({"dept": "help"}),
    );
    assert_eq!(d[0]["name"], json!("to_help"));
    assert!(event(&mut pico, &mut host, "act", "route", json!({"dept": "x"})).is_empty());
}

#[test]
fn foreach_nests_and_on_final_runs_once() {
    let (mut pico, mut host, _) = install(
        r##"
ruleset io.example.loops {
  rule lines {
    select when cart checkout
    foreach event:attrs{"items"}.split(",") setting(item)
      foreach [1, 2] setting(n)
    pre { label = item + "#" + n }
    send_directive("line", {"label": label})
    fired { raise cart event "done" attributes {"last": label} on final }
  }
  rule done {
    select when cart done
    send_directive("done", event:attrs)
  }
}
"##,
    );
    let d = event(
        &mut pico,
        &mut host,
        "cart",
        "checkout",
        json!({"items": "a,b"}),
    );
    let labels: Vec<String> = d.iter().map(|d| d["options"].to_string()).collect();
    assert_eq!(
        labels,
        [
            r##"{"label":"a#1"}"##,
            r##"{"label":"a#2"}"##,
            r##"{"label":"b#1"}"##,
            r##"{"label":"b#2"}"##,
            r##"{"last":"b#2"}"##
        ]
    );
}

#[test]
fn runtime_errors_name_ruleset_rule_and_position() {
    let src = "ruleset io.example.err {\n  rule boom {\n    select when e f\n    pre { x = \"a\" * 2 }\n  }\n}\n";
    let rs = ruleset(src);
    let mut pico = PicoRuntime::new("p1");
    let mut host = MemoryHost::new(0.0);
    pico.install(rs, Value::Null, &|_| None, &mut host).unwrap();
    let ev = Event {
        domain: "e".into(),
        name: "f".into(),
        attrs: Map::default(),
        eci: "c".into(),
        eid: "i".into(),
        time_ms: 0.0,
    };
    let e = pico.event(ev, "t", &mut host).unwrap_err();
    assert_eq!(e.rid, "io.example.err");
    assert_eq!(e.rule.as_deref(), Some("boom"));
    assert_eq!((e.line, e.col), (Some(4), Some(15)));
    assert!(e.message.contains("multiplied"), "{}", e.message);
}

#[test]
fn unbounded_recursion_is_an_error_not_a_crash() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.rec {
  meta { shares f }
  global { f = function(n) { f(n + 1) } }
}
"##,
    );
    let e = pico
        .query(&rid, "f", &attrs(json!({"n": 1})), &mut host)
        .unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
}

#[test]
fn modules_configure_provide_and_run_in_their_own_scope() {
    let lib = ruleset(
        r##"
ruleset io.example.greeter {
  meta {
    configure using greeting = "Hello" punct = "."
    provides greet, shout
  }
  global {
    greet = function(name) { greeting + ", " + name + punct + " (" + meta:rid + ")" }
    shout = defaction(name) { send_directive("shout", {"text": greet(name).uc()}) }
  }
}
"##,
    );
    let user = ruleset(
        r##"
ruleset io.example.user {
  meta {
    use module io.example.greeter alias formal with greeting = "Good day"
    use module io.example.greeter alias casual with greeting = "Hey" and punct = "!"
    shares both
  }
  global { both = function(n) { [formal:greet(n), casual:greet(n)] } }
  rule s { select when g s  formal:shout("ann") }
}
"##,
    );
    let mut pico = PicoRuntime::new("p1");
    let mut host = MemoryHost::new(0.0);
    let lib2 = lib.clone();
    let resolve = move |rid: &str| (rid == "io.example.greeter").then(|| lib2.clone());
    pico.install(lib, Value::Null, &resolve, &mut host).unwrap();
    pico.install(user, Value::Null, &resolve, &mut host)
        .unwrap();
    assert_eq!(
        query(
            &mut pico,
            &mut host,
            "io.example.user",
            "both",
            json!({"n": "Ann"})
        ),
        json!([
            "Good day, Ann. (io.example.greeter)",
            "Hey, Ann! (io.example.greeter)"
        ])
    );
    let d = event(&mut pico, &mut host, "g", "s", json!({}));
    assert_eq!(
        d,
        vec![json!({"name": "shout", "options": {"text": "GOOD DAY, ANN. (IO.EXAMPLE.GREETER)"}})]
    );
}

#[test]
fn schedule_at_and_repeat_are_stored_listed_and_removed() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.sched {
  meta { shares list }
  global { list = function() { schedule:list() } }
  rule at {
    select when s at
    fired {
      schedule s event "ping" at 1700000300000 attributes {"n": 1} setting(entry);
      ent:entry := entry
    }
  }
  rule every { select when s every  fired { schedule event "s:tick" repeat "*/5 * * * *" } }
  rule rm { select when s rm  schedule:remove(event:attrs{"id"}) }
}
"##,
    );
    event(&mut pico, &mut host, "s", "at", json!({}));
    event(&mut pico, &mut host, "s", "every", json!({}));
    let list = query(&mut pico, &mut host, &rid, "list", json!({}));
    assert_eq!(list[0]["type"], json!("at"));
    assert_eq!(list[0]["time"], json!(1_700_000_300_000u64));
    assert_eq!(
        list[0]["event"],
        json!({"eci": "eci1", "domain": "s", "name": "ping", "data": {"attrs": {"n": 1}}})
    );
    assert_eq!(list[1]["timespec"], json!("*/5 * * * *"));
    assert_eq!(list[1]["event"]["name"], json!("tick"));
    assert_eq!(host.ent(&rid, "entry").to_json(), list[0]);
    let id = list[0]["id"].as_str().unwrap().to_string();
    event(&mut pico, &mut host, "s", "rm", json!({"id": id}));
    let list = query(&mut pico, &mut host, &rid, "list", json!({}));
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn error_statements_raise_system_error_for_the_ruleset() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.errs {
  rule warn { select when e w  fired { error warn "careful"; ent:after := true } }
  rule stop { select when e s  fired { error error "stop"; ent:after_stop := true } }
  rule later { select when e s  send_directive("later") }
  rule handler {
    select when system error
    always { ent:errors := ent:errors.defaultsTo([]).append(event:attrs{"level"}) }
  }
}
"##,
    );
    event(&mut pico, &mut host, "e", "w", json!({}));
    assert_eq!(host.ent(&rid, "after"), Value::Bool(true));
    let d = event(&mut pico, &mut host, "e", "s", json!({}));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(host.ent(&rid, "after_stop"), Value::Null);
    assert_eq!(host.ent(&rid, "errors").to_json(), json!(["warn", "error"]));
}

#[test]
fn testing_lists_queries_and_events() {
    let (mut pico, mut host, rid) = install(HELLO);
    let t = query(&mut pico, &mut host, &rid, "__testing", json!({}));
    assert_eq!(
        t,
        json!({
            "queries": [{"name": "hello", "args": ["name"]}, {"name": "said", "args": []}],
            // the attributes the rule reads by a literal name, as the
            // Pico Engine's compiler lists them
            "events": [{"domain": "say", "name": "hello", "attrs": ["name"]}]
        })
    );
}

#[test]
fn testing_lists_each_rules_events_with_the_attributes_it_reads() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.testing_attrs {
  rule two {
    select when a b x re#(.*)# or c d y re#(.*)# or a b
    pre { z = event:attr("z") w = event:attrs.get("w") v = event:attr(z) }
    always { ent:q := event:attrs{"q"} }
  }
  rule other { select when a b }
}
"##,
    );
    let t = query(&mut pico, &mut host, &rid, "__testing", json!({}));
    assert_eq!(
        t["events"],
        json!([
            {"domain": "a", "name": "b", "attrs": ["x", "y", "z", "w", "q"]},
            {"domain": "c", "name": "d", "attrs": ["y", "z", "w", "q"]},
            {"domain": "a", "name": "b", "attrs": []}
        ])
    );
}

#[test]
fn time_math_and_random_modules() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.mods {
  meta { shares t }
  global {
    t = function() {
      [time:add("2017-01-01", {"days": -10}), math:round(4066, -2), time:now(),
       random:integer(upper = 3, lower = 3), math:hashAlgorithms.length() > 0,
       time:strftime("2024-07-01T12:00:00Z", "%H:%M", {"tz": "Europe/Paris"})]
    }
  }
}
"##,
    );
    assert_eq!(
        query(&mut pico, &mut host, &rid, "t", json!({})),
        json!([
            "2016-12-22T00:00:00.000Z",
            4100,
            "2023-11-14T22:13:20.000Z",
            3,
            true,
            "14:00"
        ])
    );
}

#[test]
fn http_requests_go_through_the_host_and_autoraise() {
    let (mut pico, mut host, rid) = install(
        r##"
ruleset io.example.http {
  meta { shares fetch }
  global { fetch = function(u) { http:get(u, qs = {"q": "a b"}, parseJSON = true){"content"} } }
  rule post {
    select when h post
    http:post("http://example.test/hook", json = {"n": 1}, autoraise = "hooked")
  }
  rule answered {
    select when http post label re#(.+)# setting(label)
    send_directive("answered", {"label": label, "status": event:attrs{"status_code"}})
  }
}
"##,
    );
    host.http = Some(Box::new(|req: &krl_lang::engine::HttpRequest| {
        let body = req.body.as_ref().map(|b| b.0.clone()).unwrap_or_default();
        Value::from_json(&json!({
            "status_code": 200,
            "content": {"method": req.method, "qs": req.qs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(), "body": body}
        }))
    }));
    assert_eq!(
        query(
            &mut pico,
            &mut host,
            &rid,
            "fetch",
            json!({"u": "http://example.test/x"})
        ),
        json!({"method": "GET", "qs": ["q=a b"], "body": ""})
    );
    let d = event(&mut pico, &mut host, "h", "post", json!({}));
    assert_eq!(
        d,
        vec![json!({"name": "answered", "options": {"label": "hooked", "status": 200}})]
    );
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn seed_hello_monkey_runs_as_written() {
    let (mut pico, mut host, _) = install(&fixture("seed003_hello_monkey_gather.krl"));
    // Twilio posts `From`; the seed reads `event:attr("from")`
    let ev = Event {
        domain: "twilio".into(),
        name: "inbound_call".into(),
        attrs: attrs(json!({"From": "+8015552311", "CallSid": "CA1"})),
        eci: "eci1".into(),
        eid: "e1".into(),
        time_ms: 0.0,
    };
    let out = pico.event(ev, "t1", &mut host).unwrap();
    let verbs: Vec<(String, serde_json::Value)> = out
        .directives
        .iter()
        .map(|d| {
            assert!(d.module == Some("twilio"), "{} is TwiML", d.name);
            (d.name.to_string(), d.options.to_json())
        })
        .collect();
    assert_eq!(
        verbs,
        vec![
            ("say".into(), json!({"_arg": "Hello Big Bird"})),
            (
                "gather_start".into(),
                json!({"_arg": "monkey_handle", "numDigits": "1"})
            ),
            (
                "say".into(),
                json!({"_arg": "What is your favorite number?"})
            ),
            ("gather_stop".into(), json!({})),
        ]
    );
    let d = event(
        &mut pico,
        &mut host,
        "twilio",
        "monkey_handle",
        json!({"Digits": "7"}),
    );
    assert_eq!(
        d[0],
        json!({"name": "say", "options": {"_arg": "Your favorite number is 7."}})
    );
    assert_eq!(d[1]["name"], json!("hangup"));
}

#[test]
fn seed_hello_monkey_without_its_brace_fails_with_a_position() {
    let src = fixture("seed003_hello_monkey_as_scraped.krl");
    let e = compile(&src)
        .err()
        .expect("the scraped ruleset does not parse");
    let text = e[0].render("seed003.krl", &src);
    assert!(text.starts_with("seed003.krl:36:1: error: expected `rule` or `}`, found the end of the file (the `{` at 1:19 is never closed)"), "{text}");
}

#[test]
fn seed_twilio_sms_queues_a_message_with_the_rulesets_keys() {
    let (mut pico, mut host, _) = install(&fixture("seed003_twilio_sms.krl"));
    event(
        &mut pico,
        &mut host,
        "notification",
        "status",
        json!({"phone_number": "+15550001", "from_number": "+15559999", "message": "Disk full"}),
    );
    assert_eq!(host.twilio.len(), 1);
    let req = &host.twilio[0];
    assert_eq!(req.action, "send_sms");
    assert_eq!(
        req.params,
        vec![
            ("To".to_string(), "+15550001".to_string()),
            ("From".to_string(), "+15559999".to_string()),
            ("Body".to_string(), "Disk full".to_string())
        ]
    );
    assert_eq!(
        req.credentials,
        Some((
            "<account SID here>".to_string(),
            "<auth token here>".to_string()
        ))
    );
}

#[test]
fn use_module_with_may_read_the_users_keys() {
    let lib = ruleset(
        r##"
ruleset io.example.lib2 {
  meta { configure using greeting = "Hello" provides hi }
  global { hi = function() { greeting } }
}
"##,
    );
    let user = ruleset(
        r##"
ruleset io.example.user2 {
  meta {
    key greeting "Howdy"
    use module io.example.lib2 alias lib with greeting = keys:greeting
    shares hi
  }
  global { hi = function() { lib:hi() } }
}
"##,
    );
    let mut pico = PicoRuntime::new("p1");
    let mut host = MemoryHost::new(0.0);
    let lib2 = lib.clone();
    let resolve = move |rid: &str| (rid == "io.example.lib2").then(|| lib2.clone());
    pico.install(lib, Value::Null, &resolve, &mut host).unwrap();
    pico.install(user, Value::Null, &resolve, &mut host)
        .unwrap();
    assert_eq!(
        query(&mut pico, &mut host, "io.example.user2", "hi", json!({})),
        json!("Howdy")
    );
}

const SESSIONS: &str = r##"
ruleset io.example.sessions {
  meta { shares step }
  global {
    step = function() { session:step }
  }
  rule answer {
    select when twilio inbound_call
    send_directive("step", {"was": session:step, "menu": session:menu{"choice"}})
    always {
      session:step := session:step.defaultsTo(0) + 1;
      session:menu{["choice"]} := event:attrs{"Digits"};
      clear session:gone
    }
  }
  rule status {
    select when twilio status
    send_directive("status", {"step": session:step})
  }
  rule no_call {
    select when web hit
    send_directive("hit", {"step": session:step})
  }
}
"##;

fn step_of(d: &[serde_json::Value]) -> serde_json::Value {
    d[0]["options"]["was"].clone()
}

#[test]
fn call_sessions_are_per_call_and_end_with_the_call() {
    let (mut pico, mut host, rid) = install(SESSIONS);
    let a = json!({"CallSid": "CA1", "Digits": "4"});
    let b = json!({"CallSid": "CA2", "Digits": "9"});
    assert_eq!(
        step_of(&event(
            &mut pico,
            &mut host,
            "twilio",
            "inbound_call",
            a.clone()
        )),
        json!(null)
    );
    assert_eq!(
        step_of(&event(
            &mut pico,
            &mut host,
            "twilio",
            "inbound_call",
            a.clone()
        )),
        json!(1)
    );
    // another call has its own
    assert_eq!(
        step_of(&event(&mut pico, &mut host, "twilio", "inbound_call", b)),
        json!(null)
    );
    let d = event(&mut pico, &mut host, "twilio", "inbound_call", a);
    assert_eq!(d[0]["options"], json!({"was": 2, "menu": "4"}));
    assert_eq!(host.session(&rid, "CA1", "step"), Value::Number(3.0));
    assert_eq!(host.session(&rid, "CA2", "step"), Value::Number(1.0));
    // a query names the call with its CallSid argument
    assert_eq!(
        query(
            &mut pico,
            &mut host,
            &rid,
            "step",
            json!({"CallSid": "CA2"})
        ),
        json!(1)
    );
    // the completed status callback still sees the session, then it is gone
    let d = event(
        &mut pico,
        &mut host,
        "twilio",
        "status",
        json!({"CallSid": "CA1", "CallStatus": "completed"}),
    );
    assert_eq!(d[0]["options"], json!({"step": 3}));
    assert!(host.session(&rid, "CA1", "step").is_null());
    assert!(host.session(&rid, "CA1", "menu").is_null());
    assert_eq!(host.session(&rid, "CA2", "step"), Value::Number(1.0));
    // other statuses keep it
    event(
        &mut pico,
        &mut host,
        "twilio",
        "status",
        json!({"CallSid": "CA2", "CallStatus": "in-progress"}),
    );
    assert_eq!(host.session(&rid, "CA2", "step"), Value::Number(1.0));
}

#[test]
fn session_variables_without_a_call_are_a_positioned_error() {
    let (mut pico, mut host, rid) = install(SESSIONS);
    let ev = Event {
        domain: "web".into(),
        name: "hit".into(),
        attrs: Map::default(),
        eci: "c".into(),
        eid: "i".into(),
        time_ms: 0.0,
    };
    let e = pico.event(ev, "t", &mut host).unwrap_err();
    assert_eq!(e.rid, rid);
    assert_eq!(e.rule.as_deref(), Some("no_call"));
    assert_eq!(
        e.message,
        "session: variables need a call: this event has no CallSid"
    );
    // `send_directive("hit", {"step": session:step})` on line 22
    assert_eq!((e.line, e.col), (Some(22), Some(36)));
    let e = pico
        .query(&rid, "step", &Map::default(), &mut host)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("session: variables need a call: this query has no CallSid argument"),
        "{e}"
    );
}

#[test]
fn computed_twilio_attribute_values_are_checked_when_the_action_runs() {
    let src = r#"ruleset io.example.attrs {
  rule answer {
    select when twilio inbound_call
    pre { times = event:attrs{"times"} }
    twilio:say("Hello") with loop = times
  }
}
"#;
    let (mut pico, mut host, rid) = install(src);
    // a good computed value passes
    let d = event(
        &mut pico,
        &mut host,
        "twilio",
        "inbound_call",
        json!({"times": "2"}),
    );
    assert_eq!(d[0]["options"]["loop"], json!("2"));
    let ev = Event {
        domain: "twilio".into(),
        name: "inbound_call".into(),
        attrs: attrs(json!({"times": "often"})),
        eci: "c".into(),
        eid: "i".into(),
        time_ms: 0.0,
    };
    let e = pico.event(ev, "t", &mut host).unwrap_err();
    assert_eq!(e.rid, rid);
    assert_eq!(e.rule.as_deref(), Some("answer"));
    assert_eq!((e.line, e.col), (Some(5), Some(5)));
    assert_eq!(
        e.message,
        "`twilio:say` attribute `loop` must be a whole number ≥ 0, not \"often\""
    );
}

#[test]
fn dial_nouns_are_twiml_verbs_through_the_module_and_a_classic_alias() {
    let src = r#"ruleset io.example.nouns {
  meta { use module a8x115 alias phone }
  rule answer {
    select when twilio inbound_call
    every {
      twilio:dial_start(action = "dialed")
      twilio:client("alice") with url = "/whisper"
      phone:sip("sip:desk@pbx.example.com", username = "desk")
      phone:dial_stop()
      twilio:queue("support", reservationSid = event:attrs{"sid"})
    }
  }
}
"#;
    let (mut pico, mut host, _) = install(src);
    let d = event(
        &mut pico,
        &mut host,
        "twilio",
        "inbound_call",
        json!({"sid": "WR1"}),
    );
    assert_eq!(
        d,
        vec![
            json!({"name": "dial_start", "options": {"action": "dialed"}}),
            json!({"name": "client", "options": {"_arg": "alice", "url": "/whisper"}}),
            json!({"name": "sip", "options": {"_arg": "sip:desk@pbx.example.com", "username": "desk"}}),
            json!({"name": "dial_stop", "options": {}}),
            json!({"name": "queue", "options": {"_arg": "support", "reservationSid": "WR1"}}),
        ]
    );
}

#[test]
fn meta_host_is_the_engines_public_base_url() {
    let src = r#"ruleset a { meta { shares host } global { host = function() { meta:host } } }"#;
    let (mut pico, mut host, rid) = install(src);
    let q = |pico: &mut PicoRuntime, host: &mut MemoryHost| {
        pico.query(&rid, "host", &Map::default(), host)
            .map(|v| v.to_json())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(q(&mut pico, &mut host), json!(null));
    host.base_url = Some("https://krl.example.com/".into());
    assert_eq!(q(&mut pico, &mut host), json!("https://krl.example.com"));
}

#[test]
fn every_registered_member_resolves_and_the_checker_knows_it() {
    // one table: what the registry has, the compiler resolves and the
    // checks accept, in the position its kind allows
    let registry = krl_lang::engine::registry();
    for module in registry.modules().iter().filter(|m| !m.domain.is_empty()) {
        for m in module.members {
            let src = if m.is_function() {
                format!(
                    "ruleset a {{ global {{ f = function() {{ {}:{}() }} }} }}",
                    module.domain, m.name
                )
            } else {
                format!(
                    "ruleset a {{ rule r {{ select when a b {}:{}() }} }}",
                    module.domain, m.name
                )
            };
            let ast = krl_lang::syntax::parse_ruleset(&src).expect("parses");
            let errors: Vec<String> = krl_lang::engine::check(&ast)
                .into_iter()
                .filter(|d| d.is_error())
                .map(|d| d.message)
                .collect();
            assert!(
                errors.is_empty(),
                "{}:{}: {errors:?}",
                module.domain,
                m.name
            );
        }
    }
}

#[test]
fn send_directive_modifiers_never_rename_it_and_noop_actions_do_not_evaluate() {
    let src = r#"ruleset a {
  rule r {
    select when a b
    every {
      send_directive("hello") with name = "other" and options = {"x": 1} and n = 2;
      notify("x", keys:missing);
      noop(keys:missing);
    }
  }
}"#;
    let (mut pico, mut host, _) = install(src);
    let out = event(&mut pico, &mut host, "a", "b", json!({}));
    assert_eq!(out, vec![json!({"name": "hello", "options": {"n": 2}})]);
}

#[test]
fn ctx_knows_the_ruleset_and_the_pico() {
    let src = r#"ruleset io.example.ctx {
  meta { name "Ctx" version "1.2" shares info }
  global {
    info = function() {
      {"rid": ctx:rid, "pico": ctx:picoId, "config": ctx:rid_config,
       "version": ctx:rid_version, "name": ctx:rid_name, "author": ctx:rid_author}
    }
  }
}"#;
    let rs = ruleset(src);
    let mut pico = PicoRuntime::new("p1");
    let mut host = MemoryHost::new(0.0);
    pico.install(rs, Value::from_json(&json!({"a": 1})), &|_| None, &mut host)
        .expect("installs");
    let v = pico
        .query("io.example.ctx", "info", &Map::default(), &mut host)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        v.to_json(),
        json!({"rid": "io.example.ctx", "pico": "p1", "config": {"a": 1},
               "version": "1.2", "name": "Ctx", "author": null})
    );
}
