//! The console in a real browser: headless Chromium driven over
//! WebDriver (krl_tests::webdriver) against a `krl serve`. One walk
//! through what a developer does: a wrong token is refused, log in,
//! create a pico, register a ruleset with a syntax error and see the
//! error at its line, fix it, register it, install it (and see a refused
//! configuration's message), send a test event
//! and see the directive, see the trace show it, call Hello Monkey from
//! the phone, press 7 and hear "Your favorite number is 7.", send an SMS.
//! Every page is saved as a screenshot in target/console-screenshots/
//! (the test run's artifacts; docs/console.md shows some).
//!
//! Skipped, with a line on stderr, when Chromium or chromedriver is not
//! installed (`apt-get install chromium chromium-driver`; .ci/run
//! installs them, so CI runs it). `KRL_REQUIRE_CHROMIUM=1` makes their
//! absence a failure.

use krl_tests::api::{server, Api, TOKEN};
use krl_tests::webdriver::Browser;
use krl_tests::{source, workspace_root};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Line 9 has the mistake: `+` with nothing after it.
const BROKEN: &str = r#"ruleset io.example.console {
  meta {
    shares greeting
  }
  global {
    greeting = function(name) { "Hello " + name }
  }
  rule hi {
    select when echo hello pre { x = 1 + }
    send_directive("say", {"something": greeting(event:attrs{"name"})})
  }
}
"#;

const FIXED: &str = r#"ruleset io.example.console {
  meta {
    shares greeting
  }
  global {
    greeting = function(name) { "Hello " + name }
  }
  rule hi {
    select when echo hello
    send_directive("say", {"something": greeting(event:attrs{"name"})})
  }
}
"#;

fn shots() -> PathBuf {
    workspace_root().join("target/console-screenshots")
}

fn chromium_here(test: &str) -> bool {
    if Browser::available() {
        return true;
    }
    assert!(
        std::env::var_os("KRL_REQUIRE_CHROMIUM").is_none(),
        "{test}: KRL_REQUIRE_CHROMIUM is set but chromium or chromedriver is missing"
    );
    eprintln!("{test}: skipped (needs chromium and chromium-driver)");
    false
}

/// Sets the editor's text as typing would (the input event follows).
fn set_editor(b: &Browser, src: &str) {
    b.script(
        "const e = document.querySelector('#editor'); e.value = arguments[0]; \
         e.dispatchEvent(new Event('input'));",
        json!([src]),
    );
}

/// Picks `value` in the select `css` (a change event follows).
fn select(b: &Browser, css: &str, value: &str) {
    b.wait_until(
        &format!("{value} in {css}"),
        &format!(
            "return Array.from(document.querySelectorAll('{css} option')).some(o => o.value === {});",
            json!(value)
        ),
        WAIT,
    );
    b.script(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
         s.dispatchEvent(new Event('change'));",
        json!([css, value]),
    );
}

fn page(b: &Browser, url: &str, name: &str) {
    b.goto(&format!("{url}/ui/#{name}"));
    b.wait_until(
        &format!("page {name}"),
        &format!("return !document.querySelector('#page-{name}').hidden;"),
        WAIT,
    );
}

#[test]
fn a_developer_walks_through_the_console() {
    if !chromium_here("a_developer_walks_through_the_console") {
        return;
    }
    let (_dir, s) = server("console-browser", &[]);
    let api = Api::new(&s);
    // The phone line: Hello Monkey, registered and installed beforehand.
    let (_, monkey_eci) = api.pico_with(&source("rulesets/hello_monkey.krl"));

    let b = Browser::start(1280, 800);
    let url = &s.url;

    // Not logged in: the login page, which refuses a wrong token.
    b.goto(&format!("{url}/ui/"));
    b.find("#token");
    assert!(b.url().contains("/login?next=/ui/"), "{}", b.url());
    b.screenshot(&shots().join("login.png"));
    b.find("#token").send_keys("not-the-token");
    b.click("#login");
    b.wait_text("body", "Wrong admin token", WAIT);
    b.screenshot(&shots().join("login-refused.png"));
    assert_eq!(
        b.script("return document.cookie", json!([])),
        json!(""),
        "no cookie for a wrong token"
    );

    // The right one: the console.
    b.find("#token").send_keys(TOKEN);
    b.click("#login");
    b.wait_until(
        "the console",
        "return location.pathname === '/ui/' && !!document.querySelector('#pico-tree li');",
        WAIT,
    );

    // Create a pico.
    b.find("#new-pico-name").send_keys("browser-pico");
    b.click("#new-pico");
    b.wait_text("#pico-tree", "browser-pico", WAIT);
    b.wait_text("#pico-detail h2", "browser-pico", WAIT);
    let tree = api.get("/api/picos").1;
    let pico = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "browser-pico")
        .expect("the new pico in the tree")
        .clone();
    let pico_eci = pico["channels"][0].as_str().unwrap().to_string();
    b.screenshot(&shots().join("picos.png"));

    // A ruleset with a syntax error: the error at its line, as one types.
    page(&b, url, "rulesets");
    b.click("#new-ruleset");
    set_editor(&b, BROKEN);
    let diags = b.wait_text("#diagnostics", "9:", WAIT);
    assert!(diags.contains("error"), "{diags}");
    b.wait_until(
        "the error underlined",
        "return !!document.querySelector('#editor-hl .k-err');",
        WAIT,
    );
    b.screenshot(&shots().join("rulesets-error.png"));
    // Registering it anyway is refused with the position.
    b.click("#register");
    b.wait_text("#register-result", "400: 9:", WAIT);
    // Fixed: no diagnostics; registered.
    set_editor(&b, FIXED);
    b.wait_text("#check-status", "OK", WAIT);
    assert_eq!(b.text_of("#diagnostics"), "");
    b.click("#register");
    b.wait_text("#register-result", "registered io.example.console", WAIT);
    b.wait_text("#ruleset-list", "io.example.console", WAIT);
    b.screenshot(&shots().join("rulesets.png"));

    // Install it on the pico, with a config.
    page(&b, url, "picos");
    b.click(&format!(
        ".pico-node[data-id='{}'] > button",
        pico["id"].as_str().unwrap()
    ));
    b.wait_text("#pico-detail h2", "browser-pico", WAIT);
    select(&b, "#install-rid", "io.example.console");
    b.find("#install-config").clear();
    b.find("#install-config")
        .send_keys(r#"{"note": "from the browser"}"#);
    b.click("#install");
    b.wait_text("#install-result", "installed io.example.console", WAIT);
    b.wait_text("#pico-rulesets", "from the browser", WAIT);
    // A configuration the ruleset refuses: its own message.
    select(&b, "#install-rid", "io.krl.hello_monkey");
    b.find("#install-config").clear();
    b.find("#install-config").send_keys(r#"{"directory": 5}"#);
    b.click("#install");
    let refused = b.wait_text("#install-result", "must be a map", WAIT);
    assert!(refused.starts_with("400"), "{refused}");
    b.screenshot(&shots().join("pico.png"));

    // A test event: the directive.
    page(&b, url, "testing");
    select(&b, "#test-eci", &pico_eci);
    b.find("#event-domain").send_keys("echo");
    b.find("#event-type").send_keys("hello");
    b.find("#event-attrs").clear();
    b.find("#event-attrs").send_keys(r#"{"name": "Ann"}"#);
    b.click("#send-event");
    let out = b.wait_text("#event-result", "Hello Ann", WAIT);
    assert!(out.starts_with("200"), "{out}");
    assert!(out.contains("\"say\""), "{out}");
    // And a query.
    select(&b, "#query-rid", "io.example.console");
    b.find("#query-name").send_keys("greeting");
    b.find("#query-args").clear();
    b.find("#query-args").send_keys(r#"{"name": "Bo"}"#);
    b.click("#run-query");
    b.wait_text("#query-result", "Hello Bo", WAIT);
    b.screenshot(&shots().join("testing.png"));

    // The trace saw the event and its directive.
    page(&b, url, "trace");
    let trace = b.wait_text("#trace-list", "event echo:hello", WAIT);
    assert!(trace.contains("directives: say"), "{trace}");
    assert!(trace.contains("browser-pico"), "{trace}");
    b.screenshot(&shots().join("trace.png"));

    // Call Hello Monkey from the phone; press 7.
    page(&b, url, "phone");
    select(&b, "#phone-eci", &monkey_eci);
    b.script(
        "document.querySelector('#phone-speak').checked = false;",
        json!([]),
    );
    b.click("#call");
    b.wait_text("#transcript", "say: What is your favorite number?", WAIT);
    b.wait_until(
        "the keypad listening",
        "return document.querySelector('#keypad').classList.contains('listening');",
        WAIT,
    );
    b.click(".key[data-key='7']");
    let t = b.wait_text("#transcript", "say: Your favorite number is 7.", WAIT);
    assert!(t.contains("say: Hello Monkey"), "{t}");
    assert!(t.contains("digits: 7"), "{t}");
    b.wait_text("#transcript", "hangup", WAIT);
    assert!(
        b.text_of("#twiml").contains("<Hangup"),
        "{}",
        b.text_of("#twiml")
    );
    // A text message.
    b.find("#sms-body").send_keys("hi");
    b.click("#send-sms");
    b.wait_text("#sms-replies", "reply: Hello Monkey", WAIT);
    b.script("window.scrollTo(0, 0);", json!([]));
    b.screenshot(&shots().join("phone.png"));
    // The favourite number is stored, as a call from `krl call` would.
    let (status, fav) = api.get_public(&format!(
        "/sky/cloud/{monkey_eci}/io.krl.hello_monkey/favorites"
    ));
    assert_eq!(status, 200, "{fav}");
    assert_eq!(fav["+15550001"], Value::String("7".into()), "{fav}");

    // The other pages render.
    page(&b, url, "outbox");
    b.wait_text("#outbox-table", "no messages", WAIT);
    b.screenshot(&shots().join("outbox.png"));
    page(&b, url, "mqtt");
    b.wait_text("#mqtt-state", "MQTT is off", WAIT);
    b.screenshot(&shots().join("mqtt.png"));

    // A phone-sized window.
    b.resize(390, 844);
    page(&b, url, "phone");
    b.screenshot(&shots().join("phone-narrow.png"));
}
