//! Seed 003, Hello Monkey and SMS notifications (`rulesets/hello_monkey.krl`,
//! `rulesets/sms_notify.krl`, docs/seeds/003-hello-monkey.md), through
//! `krl call`, `krl sms` and events against `krl serve`: caller-ID
//! greetings, the favourite number, the greeting-only variant, text
//! replies, and `notification status` → `twilio:send_sms` reaching a fake
//! Twilio API.

use krl_tests::api::{server, str_of, wait_for, Api};
use krl_tests::phone::{call, calls, heard, line, register, serve_args, sms, strings, try_line};
use krl_tests::twilio::FakeApi;
use serde_json::json;
use std::time::Duration;

#[test]
fn callers_are_greeted_by_name_and_asked_their_favorite_number() {
    let (_dir, s) = server("monkey-calls", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "hello_monkey.krl");
    let (eci, pico) = krl_tests::phone::line_and_pico(&api, &rid, json!({}));

    let got = calls(
        &s,
        &[
            (&eci, vec!["--from", "+8015552311", "--digits", ""]),
            (&eci, vec!["--from", "+8015552311", "--digits", "7"]),
            (&eci, vec!["--from", "+911", "--digits", "3"]),
            (&eci, vec!["--from", "+15550001", "--digits", ""]),
        ],
    );
    let asked = |name: &str| {
        vec![
            format!("say: Hello {name}"),
            "gather".to_string(),
            "say: What is your favorite number?".to_string(),
        ]
    };
    let mut want = asked("Big Bird");
    want.extend(strings(&["no input", "hangup"]));
    assert_eq!(heard(&got[0]), want);
    let mut want = asked("Big Bird");
    want.extend(strings(&[
        "digits: 7",
        "say: Your favorite number is 7.",
        "hangup",
    ]));
    assert_eq!(heard(&got[1]), want);
    let mut want = asked("The Man");
    want.extend(strings(&[
        "digits: 3",
        "say: Your favorite number is 3.",
        "hangup",
    ]));
    assert_eq!(heard(&got[2]), want);
    let mut want = asked("Monkey");
    want.extend(strings(&["no input", "hangup"]));
    assert_eq!(heard(&got[3]), want);

    // The seed's Gather: one key, posted to monkey_handle; the woman's voice.
    let g = krl_tests::phone::attrs_of(&got[1], "gather");
    assert_eq!(g["numDigits"], "1");
    assert_eq!(
        krl_tests::phone::short(g["action"].as_str().unwrap()),
        "twilio/monkey_handle"
    );
    // The numbers given are kept per caller (asked on the pico's own
    // channel: the Twilio one takes only signed requests).
    let own = krl_tests::phone::system_eci(&api, &pico);
    let (status, fav) = api.query(&own, "io.krl.hello_monkey", "favorites", json!({}));
    assert_eq!(status, 200, "{fav}");
    assert_eq!(fav, json!({"+8015552311": "7", "+911": "3"}));
}

#[test]
fn the_install_config_sets_the_directory_and_the_greeting_only_variant() {
    let (_dir, s) = server("monkey-config", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "hello_monkey.krl");
    let greet_only = line(
        &api,
        &rid,
        json!({"directory": {"+15550001": "Ada"}, "stranger": "friend",
               "ask_favorite": false}),
    );
    let got = calls(
        &s,
        &[
            (&greet_only, vec!["--from", "+15550001"]),
            (&greet_only, vec!["--from", "+8015552311"]),
        ],
    );
    assert_eq!(heard(&got[0]), ["say: Hello Ada", "hangup"]);
    assert_eq!(heard(&got[1]), ["say: Hello friend", "hangup"]);

    let (status, body, _) = try_line(&api, &rid, json!({"directory": ["+15550001"]}));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "directory: must be a map from phone numbers to names"
    );
}

#[test]
fn a_text_gets_the_greeting_back() {
    let (_dir, s) = server("monkey-sms", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "hello_monkey.krl");
    let eci = line(&api, &rid, json!({}));
    assert_eq!(
        sms(&s, &eci, "where are you?", "+8029875634"),
        ["Hello Scam Artist! You said: where are you?"]
    );
    assert_eq!(
        sms(&s, &eci, "<hi> & bye", "+15550001"),
        ["Hello Monkey! You said: <hi> & bye"]
    );
    // Voice and SMS on the same channel: a call still works.
    assert_eq!(
        heard(&call(&s, &eci, &["--from", "+911", "--digits", "1"]))
            .last()
            .unwrap(),
        "hangup"
    );
}

#[test]
fn notification_status_sends_an_sms_through_twilio() {
    let twilio = FakeApi::start();
    let api_url = twilio.url();
    let (_dir, s) = server(
        "monkey-notify",
        &serve_args(&["--twilio-api-url", &api_url]),
    );
    let api = Api::new(&s);
    let rid = register(&api, "sms_notify.krl");
    let (pico, eci) = api.new_pico();
    let (status, body) = api.post(
        &format!("/api/picos/{pico}/rulesets"),
        json!({"rid": rid, "config": {"from_number": "+15005550006",
               "account_sid": "ACnotify01", "auth_token": "notify-token"}}),
    );
    assert_eq!(status, 200, "{body}");

    // The seed's attributes: phone_number, from_number, message.
    let (status, body) = api.event(
        &eci,
        "notification",
        "status",
        json!({"phone_number": "+15551112222", "from_number": "+15553334444",
               "message": "Disk almost full"}),
    );
    assert_eq!(status, 200, "{body}");
    // Without from_number: the install config's.
    let (status, body) = api.event(
        &eci,
        "notification",
        "status",
        json!({"phone_number": "+15551112222"}),
    );
    assert_eq!(status, 200, "{body}");
    let sent = wait_for("two SMS", Duration::from_secs(20), || {
        let sent = twilio.seen();
        (sent.len() == 2).then_some(sent)
    });
    let mut got: Vec<(String, String, String, String)> = sent
        .iter()
        .map(|m| {
            (
                m.target.clone(),
                m.field("To").unwrap_or_default(),
                m.field("From").unwrap_or_default(),
                m.field("Body").unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    let path = "/2010-04-01/Accounts/ACnotify01/Messages.json".to_string();
    assert_eq!(
        got,
        [
            (
                path.clone(),
                "+15551112222".into(),
                "+15005550006".into(),
                "Status changed".into()
            ),
            (
                path,
                "+15551112222".into(),
                "+15553334444".into(),
                "Disk almost full".into()
            ),
        ]
    );
    // Twilio's answers come back as twilio:sms_sent, one event each, after
    // the notification that queued them (`sent` counts those): wait for
    // both counted and for a report to be the last thing recorded, not
    // for the count alone (the second report may still be on its way).
    let last = wait_for("two queued and a report", Duration::from_secs(20), || {
        let (_, n) = api.query(&eci, "io.krl.sms_notify", "sent", json!({}));
        let (_, last) = api.query(&eci, "io.krl.sms_notify", "last", json!({}));
        (n == json!(2) && last["event"] == "sms_sent").then_some(last)
    });
    assert_eq!(last["event"], "sms_sent", "{last}");
    assert!(str_of(&last["sid"]).starts_with("SM"), "{last}");

    // Refused: a bad number, or no sender anywhere; nothing is sent.
    let (_, body) = api.event(
        &eci,
        "notification",
        "status",
        json!({"phone_number": "call me"}),
    );
    assert_eq!(
        body["directives"][0]["options"]["reason"],
        "phone_number must be a phone number (6 to 15 digits)"
    );
    let bare = {
        let (pico, eci) = api.new_pico();
        api.install_ok(&pico, &rid);
        eci
    };
    let (_, body) = api.event(
        &bare,
        "notification",
        "status",
        json!({"phone_number": "+15551112222"}),
    );
    assert_eq!(
        body["directives"][0]["options"]["reason"],
        "from_number must be given (the event or the install config) as a phone number"
    );
    let (status, body, _) = try_line(&api, &rid, json!({"from_number": "twilio"}));
    assert_eq!(
        (status, body["error"].as_str()),
        (
            400,
            Some("from_number: must be a phone number such as +15559999")
        )
    );
    assert_eq!(twilio.seen().len(), 2);
}
